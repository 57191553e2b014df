//! The "bytes" pointer ABI in Rust (a `cdylib` with the standard allocator): the host
//! reserves memory with `alloc`, copies the input in and reads the output block whose
//! address the function returns; `dealloc` gives a block back.

use std::alloc::{alloc as raw_alloc, dealloc as raw_dealloc, Layout};

fn layout(len: usize) -> Layout {
    Layout::from_size_align(len.max(1), 8).expect("layout")
}

/// Reserve `len` bytes (8-byte aligned); 0 when memory cannot grow.
#[no_mangle]
pub extern "C" fn alloc(len: u32) -> *mut u8 {
    unsafe { raw_alloc(layout(len as usize)) }
}

/// Give back a block from `alloc` of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: u32) {
    if !ptr.is_null() {
        raw_dealloc(ptr, layout(len as usize));
    }
}

fn fibo(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.wrapping_add(b);
        a = b;
        b = next;
    }
    b
}

/// n is the little-endian integer of `in_len` bytes at `in_ptr` (bytes past the eighth are
/// ignored); the answer is fibo(n) as 8 LE bytes in a fresh block, its length (8) written as
/// a u32 LE at `out_len_ptr`.
#[no_mangle]
pub unsafe extern "C" fn fibo_from_pointers(in_ptr: *const u8, in_len: u32, out_len_ptr: *mut u32) -> *mut u8 {
    let input = std::slice::from_raw_parts(in_ptr, in_len as usize);
    let mut n = 0u64;
    for (i, byte) in input.iter().take(8).enumerate() {
        n |= (*byte as u64) << (8 * i);
    }
    let bytes = fibo(n).to_le_bytes();
    let out = alloc(bytes.len() as u32);
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len());
    out_len_ptr.write_unaligned(bytes.len() as u32);
    out
}

/// Reverse `len` bytes in place at `ptr` (a host-owned buffer); returns `len`.
#[no_mangle]
pub unsafe extern "C" fn reverse_in_place(ptr: *mut u8, len: u32) -> u32 {
    std::slice::from_raw_parts_mut(ptr, len as usize).reverse();
    len
}
