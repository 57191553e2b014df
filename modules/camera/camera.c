/*
 * camera — take a picture through the host and store it as image.jpeg.
 *
 * Host import (module "camera"):
 *   takeImageStaticSize(out_ptr: i32, size_ptr: i32)
 *     On entry *size_ptr (u32, little-endian) is the capacity of the buffer at
 *     out_ptr.  The host writes at most that many JPEG bytes at out_ptr and
 *     stores the number of bytes written back at size_ptr.
 *
 * Export:
 *   take_image_predefined_path() -> i32
 *     Fetches one image into a 512 KiB static buffer, then creates (or
 *     truncates) "image.jpeg" in the directory preopened as fd 3 and writes
 *     the bytes there with raw WASI calls (path_open, fd_write, fd_close).
 *     Returns 0 on success or a WASI errno: OVERFLOW if the host reports more
 *     bytes than the buffer holds, NODEV if it reports none, otherwise the
 *     errno of the failing WASI call (IO if fd_write makes no progress).
 */
#include <stdint.h>
#include <wasi/api.h>

#define CAPACITY (512u * 1024u)
#define OUTPUT_DIR_FD 3

__attribute__((import_module("camera"), import_name("takeImageStaticSize")))
void take_image_static_size(uint8_t *out_ptr, uint32_t *size_ptr);

static uint8_t image[CAPACITY];
static uint32_t image_size;

static __wasi_errno_t write_all(__wasi_fd_t fd, const uint8_t *data, uint32_t len) {
    while (len > 0) {
        __wasi_ciovec_t iov = { .buf = data, .buf_len = len };
        __wasi_size_t written = 0;
        __wasi_errno_t err = __wasi_fd_write(fd, &iov, 1, &written);
        if (err != __WASI_ERRNO_SUCCESS) {
            return err;
        }
        if (written == 0 || written > len) {
            return __WASI_ERRNO_IO;
        }
        data += written;
        len -= written;
    }
    return __WASI_ERRNO_SUCCESS;
}

__attribute__((export_name("take_image_predefined_path")))
int32_t take_image_predefined_path(void) {
    image_size = CAPACITY;
    take_image_static_size(image, &image_size);
    if (image_size > CAPACITY) {
        return __WASI_ERRNO_OVERFLOW;
    }
    if (image_size == 0) {
        return __WASI_ERRNO_NODEV;
    }

    __wasi_fd_t fd;
    __wasi_errno_t err = __wasi_path_open(
        OUTPUT_DIR_FD, 0, "image.jpeg",
        __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC,
        __WASI_RIGHTS_FD_WRITE, 0, 0, &fd);
    if (err != __WASI_ERRNO_SUCCESS) {
        return err;
    }
    err = write_all(fd, image, image_size);
    __wasi_errno_t close_err = __wasi_fd_close(fd);
    if (err == __WASI_ERRNO_SUCCESS) {
        err = close_err;
    }
    return err;
}
