//! WasmIoT-style Rust module: a `wasm32-wasi` *command* (a bin crate with a `main`) whose
//! service functions are exported. The linker wraps each export in a
//! `<name>.command_export` function that runs the constructors before the call and the
//! destructors after it; the binary exports neither `_start` nor `_initialize`, so a host
//! calls the functions directly and must bind WASI to the instance itself.

use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};

fn main() {}

/// fibo(n): b after n steps of (a, b) -> (b, a + b) from (0, 1), wrapping modulo 2^64.
/// A negative n writes to stderr (unless FIBO_QUIET is set) and exits with status 1.
#[no_mangle]
pub extern "C" fn fibo(n: i64) -> i64 {
    if n < 0 {
        if std::env::var_os("FIBO_QUIET").is_none() {
            let _ = writeln!(std::io::stderr(), "fibo: negative n {}", n);
        }
        std::process::exit(1);
    }
    let (mut a, mut b) = (0i64, 1i64);
    for _ in 0..n {
        let next = a.wrapping_add(b);
        a = b;
        b = next;
    }
    b
}

static PREV: AtomicI64 = AtomicI64::new(0);
static CURR: AtomicI64 = AtomicI64::new(1);

/// Successive calls on one instance: 1, 2, 3, 5, 8, … (the pair lives in linear memory).
#[no_mangle]
pub extern "C" fn stateful_fibo() -> i64 {
    let a = PREV.load(Ordering::Relaxed);
    let b = CURR.load(Ordering::Relaxed);
    let next = a.wrapping_add(b);
    PREV.store(b, Ordering::Relaxed);
    CURR.store(next, Ordering::Relaxed);
    next
}
