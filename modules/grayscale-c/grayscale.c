/*
 * grayscale (2.0.0) — grayscale conversion in C: JPEG file in, PNG file out,
 * plus the in-place buffer ABI of the AssemblyScript grayscale module (1.0.0).
 *
 * Gray is ITU-R BT.601 luma, computed exactly in integers as
 *
 *   gray = (299 * R + 587 * G + 114 * B + 500) / 1000   (integer division)
 *
 * i.e. round(0.299 R + 0.587 G + 0.114 B) with halves rounded up — the same
 * formula as modules/grayscale, so both versions agree byte for byte.
 *
 * Exports:
 *   grayscale_jpeg() -> i32
 *     Reads "image.jpeg" (an execution-stage mount) from the directory the
 *     host preopens as fd 3, decodes it (baseline JPEG, see ../lib/jpeg.h),
 *     converts it to gray and writes it as an 8-bit grayscale PNG to
 *     "gray.png" (an output-stage mount) in the same directory (created or
 *     truncated).  Returns width * height on success.  On failure it writes a
 *     line to stderr and returns a negative code:
 *       -1 .. -15        the JPEG_ERR_* code of jpeg_decode (-3 truncated,
 *                        -4 corrupt, -5 progressive, ...; see jpeg.h);
 *                        -12 and -13 also when the PNG would be too large or
 *                        memory runs out after decoding
 *       -(1000 + errno)  reading image.jpeg failed with that WASI errno
 *                        (-1044: no such file)
 *       -(2000 + errno)  writing gray.png failed with that WASI errno
 *   get_img_ptr() -> i32
 *     Address of a static 640 x 480 x 3 = 921600-byte buffer of packed RGB
 *     pixels, row by row; the same address on every call.
 *   convert2Grayscale()
 *     Replaces each pixel's R, G and B in that buffer with its gray value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <wasi/api.h>

#include "jpeg.h"
#include "png.h"

#define MOUNT_DIR_FD 3
#define STDERR_FD 2
#define INPUT_NAME "image.jpeg"
#define OUTPUT_NAME "gray.png"

#define ERR_READ_BASE 1000
#define ERR_WRITE_BASE 2000

#define WIDTH 640
#define HEIGHT 480
#define CHANNELS 3

static uint8_t image[WIDTH * HEIGHT * CHANNELS];

static uint8_t luma(uint32_t r, uint32_t g, uint32_t b) {
    return (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
}

/* ------------------------------------------------------------ stderr */

static size_t length_of(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

/* Write the pieces, then a newline, to stderr (best effort; no stdio). */
static void report(const char *a, const char *b, const char *c) {
    const char *parts[4] = { a, b, c, "\n" };
    __wasi_ciovec_t iov[4];
    for (int i = 0; i < 4; i++) {
        iov[i].buf = (const uint8_t *)parts[i];
        iov[i].buf_len = length_of(parts[i]);
    }
    __wasi_size_t written;
    (void)__wasi_fd_write(STDERR_FD, iov, 4, &written);
}

static const char *decimal(uint32_t value, char buffer[12]) {
    char *p = buffer + 11;
    *p = 0;
    do {
        *--p = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    return p;
}

static int32_t fail_wasi(int32_t base, const char *what, __wasi_errno_t err) {
    char digits[12];
    report("grayscale_jpeg: ", what, decimal(err, digits));
    return -(base + (int32_t)err);
}

/* ------------------------------------------------------------ files */

/* Read the whole file name in the mount directory into a malloc'd buffer. */
static __wasi_errno_t read_file(const char *name, uint8_t **data, size_t *len) {
    *data = NULL;
    *len = 0;
    __wasi_fd_t fd;
    __wasi_errno_t err = __wasi_path_open(MOUNT_DIR_FD, 0, name, 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
    if (err != __WASI_ERRNO_SUCCESS) return err;
    size_t capacity = 64 * 1024, size = 0;
    uint8_t *buffer = malloc(capacity);
    if (!buffer) err = __WASI_ERRNO_NOMEM;
    while (err == __WASI_ERRNO_SUCCESS) {
        if (size == capacity) {
            uint8_t *grown = capacity <= SIZE_MAX / 2 ? realloc(buffer, capacity * 2) : NULL;
            if (!grown) {
                err = __WASI_ERRNO_NOMEM;
                break;
            }
            buffer = grown;
            capacity *= 2;
        }
        __wasi_iovec_t iov = { .buf = buffer + size, .buf_len = capacity - size };
        __wasi_size_t got = 0;
        err = __wasi_fd_read(fd, &iov, 1, &got);
        if (err != __WASI_ERRNO_SUCCESS || got == 0) break;
        size += got;
    }
    __wasi_errno_t close_err = __wasi_fd_close(fd);
    if (err == __WASI_ERRNO_SUCCESS) err = close_err;
    if (err != __WASI_ERRNO_SUCCESS) {
        free(buffer);
        return err;
    }
    *data = buffer;
    *len = size;
    return __WASI_ERRNO_SUCCESS;
}

/* Create or truncate name in the mount directory and write len bytes to it. */
static __wasi_errno_t write_file(const char *name, const uint8_t *data, size_t len) {
    __wasi_fd_t fd;
    __wasi_errno_t err = __wasi_path_open(MOUNT_DIR_FD, 0, name, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC,
                                          __WASI_RIGHTS_FD_WRITE, 0, 0, &fd);
    if (err != __WASI_ERRNO_SUCCESS) return err;
    while (len > 0) {
        __wasi_ciovec_t iov = { .buf = data, .buf_len = len };
        __wasi_size_t written = 0;
        err = __wasi_fd_write(fd, &iov, 1, &written);
        if (err != __WASI_ERRNO_SUCCESS) break;
        if (written == 0 || written > len) {
            err = __WASI_ERRNO_IO;
            break;
        }
        data += written;
        len -= written;
    }
    __wasi_errno_t close_err = __wasi_fd_close(fd);
    return err != __WASI_ERRNO_SUCCESS ? err : close_err;
}

/* ------------------------------------------------------------ exports */

__attribute__((export_name("grayscale_jpeg")))
int32_t grayscale_jpeg(void) {
    uint8_t *jpeg;
    size_t jpeg_len;
    __wasi_errno_t err = read_file(INPUT_NAME, &jpeg, &jpeg_len);
    if (err != __WASI_ERRNO_SUCCESS) return fail_wasi(ERR_READ_BASE, "cannot read " INPUT_NAME ": WASI errno ", err);

    jpeg_image decoded;
    int code = jpeg_decode(jpeg, jpeg_len, &decoded);
    free(jpeg);
    if (code != JPEG_OK) {
        report("grayscale_jpeg: cannot decode " INPUT_NAME ": ", jpeg_error_string(code), "");
        return code;
    }

    /* Convert in place: gray pixel i lands at byte i, never ahead of pixel i's RGB. */
    size_t pixels = (size_t)decoded.width * decoded.height;
    uint8_t *p = decoded.pixels;
    if (decoded.channels == 3) {
        for (size_t i = 0; i < pixels; i++) p[i] = luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
    }

    uint8_t *png;
    size_t png_len;
    code = png_encode(p, decoded.width, decoded.height, 1, &png, &png_len);
    int32_t result = pixels > INT32_MAX ? JPEG_ERR_TOO_LARGE : (int32_t)pixels;
    jpeg_free(&decoded);
    if (code != PNG_OK) {
        code = code == PNG_ERR_NO_MEMORY ? JPEG_ERR_NO_MEMORY : JPEG_ERR_TOO_LARGE;
        report("grayscale_jpeg: cannot encode " OUTPUT_NAME ": ", jpeg_error_string(code), "");
        return code;
    }

    err = write_file(OUTPUT_NAME, png, png_len);
    free(png);
    if (err != __WASI_ERRNO_SUCCESS) return fail_wasi(ERR_WRITE_BASE, "cannot write " OUTPUT_NAME ": WASI errno ", err);
    if (result < 0) report("grayscale_jpeg: ", jpeg_error_string(result), "");
    return result;
}

__attribute__((export_name("get_img_ptr")))
int32_t get_img_ptr(void) {
    return (int32_t)(uintptr_t)image;
}

__attribute__((export_name("convert2Grayscale")))
void convert2Grayscale(void) {
    for (uint32_t i = 0; i < sizeof image; i += CHANNELS) {
        uint8_t gray = luma(image[i], image[i + 1], image[i + 2]);
        image[i] = gray;
        image[i + 1] = gray;
        image[i + 2] = gray;
    }
}
