//! A WasmIoT-style Rust camera module (a `wasm32-wasi` command with exported functions)
//! using both camera conventions of the reference supervisors, and saving the frame to the
//! output mount `image.jpeg` through WASI.

use std::fs;

#[link(wasm_import_module = "camera")]
extern "C" {
    fn takeImageStaticSize(out_ptr: *mut u8, size_ptr: *mut u32);
    fn takeImageDynamicSize(out_ptr_ptr: *mut u32, out_len_ptr: *mut u32);
}

const CAPACITY: usize = 512 * 1024;

fn main() {}

fn save(bytes: &[u8]) -> i32 {
    if bytes.is_empty() {
        return 43; // nodev: the camera gave nothing
    }
    match fs::write("image.jpeg", bytes) {
        Ok(()) => 0,
        Err(e) => e.raw_os_error().unwrap_or(29),
    }
}

/// The host fills a buffer of ours (at most its capacity); 0 on success, else a WASI errno.
#[no_mangle]
pub extern "C" fn take_image_predefined_path() -> i32 {
    let mut buffer = vec![0u8; CAPACITY];
    let mut size = CAPACITY as u32;
    unsafe { takeImageStaticSize(buffer.as_mut_ptr(), &mut size) };
    if size as usize > CAPACITY {
        return 61; // overflow
    }
    save(&buffer[..size as usize])
}

/// The host reserves the frame's memory through our `alloc` and tells where; 0 on success.
#[no_mangle]
pub extern "C" fn take_image_dynamic() -> i32 {
    let (mut ptr, mut len) = (0u32, 0u32);
    unsafe { takeImageDynamicSize(&mut ptr, &mut len) };
    if ptr == 0 {
        return 43;
    }
    let frame = unsafe { Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize) };
    save(&frame)
}

/// Memory for `takeImageDynamicSize`: a block of `len` bytes the module owns afterwards.
#[no_mangle]
pub extern "C" fn alloc(len: u32) -> *mut u8 {
    let mut block = Vec::<u8>::with_capacity(len as usize);
    let ptr = block.as_mut_ptr();
    std::mem::forget(block);
    ptr
}
