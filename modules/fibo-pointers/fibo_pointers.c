/*
 * fibo-pointers — Fibonacci behind the "bytes" pointer ABI.
 *
 * Freestanding C (no libc, no imports).  Exports:
 *
 *   alloc(len) -> ptr
 *       Reserve len bytes of linear memory and return their address.  A bump
 *       allocator: memory is never freed, the heap grows the memory as needed,
 *       and 0 is returned when memory cannot grow any further.
 *
 *   fibo_from_pointers(in_ptr, in_len, out_len_ptr) -> out_ptr
 *       Read n as a little-endian unsigned integer of in_len bytes at in_ptr
 *       (bytes past the eighth are ignored), compute fibo(n) exactly as the
 *       fibo module does (a = 0, b = 1, n steps, result b, wrapping mod 2^64),
 *       allocate 8 bytes, store the result there as a little-endian u64, store
 *       the length 8 as a little-endian u32 at out_len_ptr and return the
 *       address of the result.  Returns 0 (and writes length 0) if the result
 *       cannot be allocated.
 */
#include <stddef.h>
#include <stdint.h>

#include "bump_alloc.h"

static void store_le(unsigned char *dst, uint64_t value, unsigned width) {
    for (unsigned i = 0; i < width; i++) {
        dst[i] = (unsigned char)(value >> (8u * i));
    }
}

__attribute__((export_name("fibo_from_pointers")))
unsigned char *fibo_from_pointers(const unsigned char *in_ptr, uint32_t in_len,
                                  unsigned char *out_len_ptr) {
    uint64_t n = 0;
    uint32_t used = in_len < 8u ? in_len : 8u;
    for (uint32_t i = 0; i < used; i++) {
        n |= (uint64_t)in_ptr[i] << (8u * i);
    }

    uint64_t a = 0, b = 1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }

    unsigned char *out = alloc(8);
    if (out == NULL) {
        store_le(out_len_ptr, 0, 4);
        return NULL;
    }
    store_le(out, b, 8);
    store_le(out_len_ptr, 8, 4);
    return out;
}
