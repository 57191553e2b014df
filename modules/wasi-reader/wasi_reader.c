/*
 * wasi-reader — read the deployment-stage data file "data.bin".
 *
 * The host preopens the module's mount directory as fd 3; data.bin is opened
 * relative to it with raw WASI calls (path_open, fd_read, fd_close).
 *
 * Exports (each opens, reads and closes the file on every call):
 *   count_bytes() -> i32   length of data.bin in bytes
 *   sum_bytes()   -> i32   sum of all byte values of data.bin, mod 2^32
 *                          (read it as unsigned)
 *   count_lines() -> i32   number of '\n' bytes in data.bin
 * On failure each returns -errno (the negated WASI errno of the failing call).
 */
#include <stdint.h>
#include <wasi/api.h>

#define MOUNT_DIR_FD 3
#define CHUNK 4096

enum measure { BYTES, SUM, LINES };

static uint8_t chunk[CHUNK];

static int32_t measure_file(enum measure what) {
    __wasi_fd_t fd;
    __wasi_errno_t err = __wasi_path_open(
        MOUNT_DIR_FD, 0, "data.bin", 0,
        __WASI_RIGHTS_FD_READ, 0, 0, &fd);
    if (err != __WASI_ERRNO_SUCCESS) {
        return -(int32_t)err;
    }

    uint32_t total = 0;
    for (;;) {
        __wasi_iovec_t iov = { .buf = chunk, .buf_len = CHUNK };
        __wasi_size_t got = 0;
        err = __wasi_fd_read(fd, &iov, 1, &got);
        if (err != __WASI_ERRNO_SUCCESS || got == 0) {
            break;
        }
        for (__wasi_size_t i = 0; i < got; i++) {
            switch (what) {
            case BYTES: total += 1; break;
            case SUM:   total += chunk[i]; break;
            case LINES: total += chunk[i] == '\n'; break;
            }
        }
    }

    __wasi_errno_t close_err = __wasi_fd_close(fd);
    if (err == __WASI_ERRNO_SUCCESS) {
        err = close_err;
    }
    if (err != __WASI_ERRNO_SUCCESS) {
        return -(int32_t)err;
    }
    return (int32_t)total;
}

__attribute__((export_name("count_bytes")))
int32_t count_bytes(void) { return measure_file(BYTES); }

__attribute__((export_name("sum_bytes")))
int32_t sum_bytes(void) { return measure_file(SUM); }

__attribute__((export_name("count_lines")))
int32_t count_lines(void) { return measure_file(LINES); }
