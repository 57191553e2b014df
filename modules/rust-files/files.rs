//! A WasmIoT-style Rust command module that works on files through WASI: the host
//! preopens the module's mount directory as `.`, and Rust's `std::fs` resolves relative
//! paths against it. `data.bin` is a deployment-stage mount, `input.txt` an
//! execution-stage mount, `output.txt` an output-stage mount.

use std::fs;

fn main() {}

fn errno_of(error: &std::io::Error) -> i32 {
    -error.raw_os_error().unwrap_or(29)
}

/// Length of `data.bin` in bytes, or −errno.
#[no_mangle]
pub extern "C" fn count_bytes() -> i32 {
    match fs::read("data.bin") {
        Ok(bytes) => bytes.len() as i32,
        Err(e) => errno_of(&e),
    }
}

/// Sum of the bytes of `data.bin` modulo 2^32 (read the i32 as unsigned), or −errno.
#[no_mangle]
pub extern "C" fn sum_bytes() -> i32 {
    match fs::read("data.bin") {
        Ok(bytes) => bytes.iter().fold(0u32, |s, b| s.wrapping_add(*b as u32)) as i32,
        Err(e) => errno_of(&e),
    }
}

/// Writes `input.txt` upper-cased (ASCII) to `output.txt`; returns the bytes written, or −errno.
#[no_mangle]
pub extern "C" fn shout() -> i32 {
    let text = match fs::read("input.txt") {
        Ok(bytes) => bytes,
        Err(e) => return errno_of(&e),
    };
    let loud: Vec<u8> = text.iter().map(|b| b.to_ascii_uppercase()).collect();
    match fs::write("output.txt", &loud) {
        Ok(()) => loud.len() as i32,
        Err(e) => errno_of(&e),
    }
}
