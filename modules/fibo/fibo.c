/*
 * fibo — iterative Fibonacci for LiquidMesh.
 *
 *   fibo(n): start with a = 0, b = 1 and step (a, b) -> (b, a + b) n times,
 *   then return b.  So fibo(0) = 1, fibo(5) = 8, fibo(12) = 233.
 *   The arithmetic wraps modulo 2^64 for large n.
 *
 * Built against wasi-libc.  The normal path is pure computation and never
 * calls into WASI; only a negative argument (a caller error) reaches WASI:
 * the module prints a message on stderr (fd_write) unless the environment
 * variable FIBO_QUIET is set (environ_sizes_get / environ_get), then exits
 * with status 1 (proc_exit).
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static const char negative_msg[] = "fibo: the argument must not be negative\n";

__attribute__((export_name("fibo")))
int64_t fibo(int64_t n) {
    if (n < 0) {
        if (getenv("FIBO_QUIET") == NULL) {
            (void)write(STDERR_FILENO, negative_msg, sizeof negative_msg - 1);
        }
        exit(1);
    }
    uint64_t a = 0, b = 1;
    for (int64_t i = 0; i < n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    return (int64_t)b;
}
