//! A Rust `cdylib` built as a WASI *reactor*: wasi-libc's reactor entry is linked in, so the
//! module exports `_initialize`, which a host calls once before any other export.
//! `greet()` prints through WASI stdout; `add` counts its calls in a static.

use std::sync::atomic::{AtomicI64, Ordering};

static CALLS: AtomicI64 = AtomicI64::new(0);

/// a + b, wrapping modulo 2^64; counts the call.
#[no_mangle]
pub extern "C" fn add(a: i64, b: i64) -> i64 {
    CALLS.fetch_add(1, Ordering::Relaxed);
    a.wrapping_add(b)
}

/// How many times `add` ran on this instance.
#[no_mangle]
pub extern "C" fn calls() -> i64 {
    CALLS.load(Ordering::Relaxed)
}

/// Prints a greeting line to stdout (WASI fd_write) and returns its length in bytes.
#[no_mangle]
pub extern "C" fn greet() -> i32 {
    let line = format!("hello from a Rust reactor, {} adds so far", calls());
    println!("{}", line);
    line.len() as i32 + 1
}
