/* The bump allocator of bump_alloc.h. */
#include <stddef.h>
#include <stdint.h>

#include "bump_alloc.h"

#define WASM_PAGE 65536u

/* Provided by wasm-ld: first byte after the static data and the stack. */
extern unsigned char __heap_base;

/* 0 until the first allocation (and after a reset): __heap_base is not a constant expression. */
static uintptr_t heap_next;

__attribute__((export_name("alloc")))
void *alloc(uint32_t len) {
    if (heap_next == 0) {
        heap_next = (uintptr_t)&__heap_base;
    }
    uintptr_t start = (heap_next + 7u) & ~(uintptr_t)7u;
    uintptr_t end = start + len;
    if (end < start) {
        return NULL;
    }
    uintptr_t have = (uintptr_t)__builtin_wasm_memory_size(0) * WASM_PAGE;
    if (end > have) {
        uintptr_t pages = (end - have + WASM_PAGE - 1u) / WASM_PAGE;
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) {
            return NULL;
        }
    }
    heap_next = end;
    return (void *)start;
}

void bump_reset(void) {
    heap_next = 0;
}
