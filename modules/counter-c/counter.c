/*
 * counter-c — a stateful counter in freestanding C whose state lives in linear memory
 * (statics and a heap region) and in the shadow stack pointer, the mutable global
 * `__stack_pointer` that clang keeps private. Live migration must carry both: restoring
 * memory alone, or globals alone, gives wrong answers.
 *
 * Exports:
 *   next() -> i64
 *       Advances a Fibonacci pair kept in statics and returns the new value, so calls
 *       give 1, 2, 3, 5, 8, ... on one instance.  It also appends the value to a ring of
 *       the last 16 values, summed through a buffer on the shadow stack.
 *   recent_sum() -> i64
 *       The sum of the ring (the values returned so far, at most the last 16).
 *   fill(kib) -> i32
 *       Makes the heap region `kib` KiB long (growing memory as needed) and fills it
 *       with non-zero bytes derived from the counter, so a snapshot carries that much
 *       state.  Returns the memory size in 64 KiB pages, or -1 if memory cannot grow.
 *   checksum() -> i32
 *       FNV-1a over the heap region and the counter: equal on two instances only when
 *       their states are.
 */
#include <stddef.h>
#include <stdint.h>

#define WASM_PAGE 65536u
#define RING 16

extern unsigned char __heap_base;

static int64_t previous = 0;
static int64_t current = 1;
static int64_t ring[RING];
static uint32_t ring_count = 0;
static uint32_t fill_bytes = 0;

/* Copies the ring into a stack buffer and sums it there: the buffer lives below the
 * shadow stack pointer, which this function moves and restores. */
__attribute__((noinline)) static int64_t sum_on_stack(void) {
    volatile int64_t copy[RING];
    uint32_t n = ring_count < RING ? ring_count : RING;
    for (uint32_t i = 0; i < n; i++) copy[i] = ring[i];
    int64_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += copy[i];
    return total;
}

__attribute__((export_name("next")))
int64_t next(void) {
    int64_t value = previous + current;
    previous = current;
    current = value;
    ring[ring_count % RING] = value;
    ring_count++;
    return value;
}

__attribute__((export_name("recent_sum")))
int64_t recent_sum(void) {
    return sum_on_stack();
}

__attribute__((export_name("fill")))
int32_t fill(int32_t kib) {
    if (kib < 0) return -1;
    uintptr_t start = (uintptr_t)&__heap_base;
    uintptr_t end = start + (uintptr_t)kib * 1024u;
    uintptr_t have = (uintptr_t)__builtin_wasm_memory_size(0) * WASM_PAGE;
    if (end > have) {
        uintptr_t pages = (end - have + WASM_PAGE - 1u) / WASM_PAGE;
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return -1;
    }
    unsigned char *heap = (unsigned char *)start;
    uint32_t seed = (uint32_t)current;
    for (uint32_t i = 0; i < (uint32_t)kib * 1024u; i++) {
        heap[i] = (unsigned char)(((i * 2654435761u) ^ seed) | 1u);
    }
    fill_bytes = (uint32_t)kib * 1024u;
    return (int32_t)__builtin_wasm_memory_size(0);
}

__attribute__((export_name("checksum")))
int32_t checksum(void) {
    uint32_t h = 0x811c9dc5u;
    const unsigned char *heap = (const unsigned char *)&__heap_base;
    for (uint32_t i = 0; i < fill_bytes; i++) {
        h ^= heap[i];
        h *= 0x01000193u;
    }
    h ^= (uint32_t)current;
    h *= 0x01000193u;
    return (int32_t)h;
}
