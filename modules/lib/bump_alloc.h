/*
 * A bump allocator for freestanding modules (no libc), exported as WasmIoT's
 * `alloc(len) -> ptr`: where the host places the inputs of the pointer calling
 * conventions (bytes, message, buffers).  Allocations are 8-byte aligned and
 * start at wasm-ld's __heap_base; memory grows as needed; NULL (0) when it
 * cannot grow any further or len would overflow.  Nothing is freed one at a
 * time: bump_reset() gives back everything at once, e.g. when a pub/sub
 * handler returns and its topic and data were the only allocations.
 */
#ifndef LIQUIDMESH_BUMP_ALLOC_H
#define LIQUIDMESH_BUMP_ALLOC_H

#include <stdint.h>

void *alloc(uint32_t len);
void bump_reset(void);

#endif
