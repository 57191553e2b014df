// fibo built with Emscripten as a standalone WASI module (no JavaScript glue):
// `emcc -sSTANDALONE_WASM --no-entry`. Emscripten adds `_initialize` and its own
// helpers (stack and allocator exports); fibo(n) wraps modulo 2^64 like the other fibos.
#include <emscripten/emscripten.h>
#include <stdint.h>
#include <stdio.h>

EMSCRIPTEN_KEEPALIVE int64_t fibo(int64_t n) {
  uint64_t a = 0, b = 1;
  for (int64_t i = 0; i < n; i++) {
    uint64_t next = a + b;
    a = b;
    b = next;
  }
  return (int64_t)b;
}

// Prints through WASI stdout (fd_write) and returns the number of characters.
EMSCRIPTEN_KEEPALIVE int hello(void) {
  int n = printf("hello from emscripten\n");
  fflush(stdout);
  return n;
}
