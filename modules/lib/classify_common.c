/*
 * classify_common — shared by the image classifiers; see classify_common.h.
 */
#include "classify_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpeg.h"

#define MOUNT_DIR_FD 3

__wasi_errno_t classify_read_file(const char *name, uint8_t **data, size_t *len) {
    *data = NULL;
    *len = 0;
    __wasi_fd_t fd;
    __wasi_errno_t err = __wasi_path_open(MOUNT_DIR_FD, 0, name, 0, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_FILESTAT_GET, 0, 0, &fd);
    if (err != __WASI_ERRNO_SUCCESS) return err;
    __wasi_filestat_t stat;
    err = __wasi_fd_filestat_get(fd, &stat);
    uint8_t *buffer = NULL;
    size_t size = 0;
    if (err == __WASI_ERRNO_SUCCESS) {
        buffer = malloc(stat.size ? stat.size : 1);
        if (!buffer) err = __WASI_ERRNO_NOMEM;
    }
    while (err == __WASI_ERRNO_SUCCESS && size < stat.size) {
        __wasi_iovec_t iov = { .buf = buffer + size, .buf_len = stat.size - size };
        __wasi_size_t got = 0;
        err = __wasi_fd_read(fd, &iov, 1, &got);
        if (got == 0) break;
        size += got;
    }
    (void)!__wasi_fd_close(fd);
    if (err != __WASI_ERRNO_SUCCESS) {
        free(buffer);
        return err;
    }
    *data = buffer;
    *len = size;
    return __WASI_ERRNO_SUCCESS;
}

__wasi_errno_t classify_write_file(const char *name, const uint8_t *data, size_t len) {
    __wasi_fd_t fd;
    __wasi_errno_t err = __wasi_path_open(MOUNT_DIR_FD, 0, name, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC,
                                          __WASI_RIGHTS_FD_WRITE, 0, 0, &fd);
    if (err != __WASI_ERRNO_SUCCESS) return err;
    while (len > 0 && err == __WASI_ERRNO_SUCCESS) {
        __wasi_ciovec_t iov = { .buf = data, .buf_len = len };
        __wasi_size_t written = 0;
        err = __wasi_fd_write(fd, &iov, 1, &written);
        if (err == __WASI_ERRNO_SUCCESS && (written == 0 || written > len)) err = __WASI_ERRNO_IO;
        data += written;
        len -= written;
    }
    __wasi_errno_t close_err = __wasi_fd_close(fd);
    return err != __WASI_ERRNO_SUCCESS ? err : close_err;
}

int32_t classify_read_mount(const char *name, uint8_t **data, size_t *len) {
    __wasi_errno_t err = classify_read_file(name, data, len);
    if (err == __WASI_ERRNO_SUCCESS) return 0;
    fprintf(stderr, "classify: reading %s failed (%d)\n", name, (int)err);
    return -(1000 + (int32_t)err);
}

const classify_options CLASSIFY_DEFAULTS = { CLASSIFY_SIZE, { 0.0f, 0.0f, 0.0f }, { 1.0f, 1.0f, 1.0f } };

int32_t classify_read_options(classify_options *options) {
    *options = CLASSIFY_DEFAULTS;
    uint8_t *text;
    size_t len;
    __wasi_errno_t err = classify_read_file("preprocess", &text, &len);
    if (err == __WASI_ERRNO_NOENT) return 0;
    if (err != __WASI_ERRNO_SUCCESS) return -(1000 + (int32_t)err);
    char *copy = malloc(len + 1);
    if (!copy) {
        free(text);
        return CLASSIFY_ERR_NO_MEMORY;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    free(text);
    int32_t code = 0;
    for (char *line = strtok(copy, "\n"); line && code == 0; line = strtok(NULL, "\n")) {
        unsigned size;
        float a, b, c;
        while (*line == ' ' || *line == '\t' || *line == '\r') line++;
        if (*line == 0 || *line == '#') continue;
        if (sscanf(line, "size %u", &size) == 1 && size >= 1 && size <= CLASSIFY_MAX_SIZE) options->size = size;
        else if (sscanf(line, "mean %f %f %f", &a, &b, &c) == 3) {
            options->mean[0] = a, options->mean[1] = b, options->mean[2] = c;
        } else if (sscanf(line, "std %f %f %f", &a, &b, &c) == 3 && a != 0 && b != 0 && c != 0) {
            options->std[0] = a, options->std[1] = b, options->std[2] = c;
        } else {
            fprintf(stderr, "classify: cannot read the preprocess line \"%s\"\n", line);
            code = CLASSIFY_ERR_BAD_OPTIONS;
        }
    }
    free(copy);
    return code;
}

/* Decode, resize (bilinear, aligned corners) and normalise into `input` (NCHW). */
int32_t classify_prepare(const uint8_t *jpeg, size_t len, float *input, const classify_options *options) {
    const uint32_t size = options->size;
    jpeg_image image;
    int code = jpeg_decode(jpeg, len, &image);
    if (code != JPEG_OK) {
        fprintf(stderr, "classify: %s (%d)\n", jpeg_error_string(code), code);
        return code;
    }
    const uint32_t w = image.width, h = image.height, ch = image.channels;
    const float sy = h > 1 && size > 1 ? (float)(h - 1) / (float)(size - 1) : 0.0f;
    const float sx = w > 1 && size > 1 ? (float)(w - 1) / (float)(size - 1) : 0.0f;
    /* Per column, once: the two source samples' offsets in a row and the weight between. */
    static uint32_t col0[CLASSIFY_MAX_SIZE], col1[CLASSIFY_MAX_SIZE];
    static float coldx[CLASSIFY_MAX_SIZE];
    for (uint32_t x = 0; x < size; x++) {
        const float fx = (float)x * sx;
        uint32_t x0 = (uint32_t)fx;
        if (x0 > w - 1) x0 = w - 1;
        const uint32_t x1 = x0 + 1 < w ? x0 + 1 : w - 1;
        col0[x] = x0 * ch;
        col1[x] = x1 * ch;
        coldx[x] = fx - (float)x0;
    }
    /* (x / 255 - mean) / std as one multiply and add on the interpolated 0..255 value. */
    float scale[3], bias[3];
    for (uint32_t c = 0; c < 3; c++) {
        scale[c] = 1.0f / (255.0f * options->std[c]);
        bias[c] = -options->mean[c] / options->std[c];
    }
    const uint32_t plane = size * size;
    for (uint32_t y = 0; y < size; y++) {
        const float fy = (float)y * sy;
        uint32_t y0 = (uint32_t)fy;
        if (y0 > h - 1) y0 = h - 1;
        const uint32_t y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        const float dy = fy - (float)y0;
        const uint8_t *r0 = image.pixels + (size_t)y0 * w * ch;
        const uint8_t *r1 = image.pixels + (size_t)y1 * w * ch;
        float *out = input + (size_t)y * size;
        for (uint32_t c = 0; c < 3; c++) {
            const uint32_t k = ch == 3 ? c : 0;
            const float sc = scale[c], bi = bias[c];
            float *o = out + (size_t)c * plane;
            for (uint32_t x = 0; x < size; x++) {
                const float dx = coldx[x];
                const float tl = r0[col0[x] + k], tr = r0[col1[x] + k];
                const float bl = r1[col0[x] + k], br = r1[col1[x] + k];
                const float top = tl + (tr - tl) * dx;
                const float bottom = bl + (br - bl) * dx;
                o[x] = (top + (bottom - top) * dy) * sc + bi;
            }
        }
    }
    jpeg_free(&image);
    return 0;
}

int32_t classify_prepare_mount(float *input, const classify_options *options) {
    uint8_t *jpeg;
    size_t len;
    int32_t code = classify_read_mount("image.jpeg", &jpeg, &len);
    if (code < 0) return code;
    code = classify_prepare(jpeg, len, input, options);
    free(jpeg);
    return code;
}

int32_t classify_write_input(const float *input, const classify_options *options) {
    const size_t bytes = 3 * (size_t)options->size * options->size * sizeof(float);
    __wasi_errno_t err = classify_write_file("input.bin", (const uint8_t *)input, bytes);
    return err == __WASI_ERRNO_SUCCESS ? (int32_t)bytes : -(2000 + (int32_t)err);
}

int32_t classify_argmax(const float *scores, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) if (scores[i] > scores[best]) best = i;
    return best;
}

/* The line-th label of a newline-separated list, copied into out (JSON-escaped), or 0. */
static int label_of(const uint8_t *labels, size_t len, int32_t line, char *out, size_t cap) {
    if (!labels) return 0;
    size_t at = 0;
    for (int32_t l = 0; l < line; l++) {
        while (at < len && labels[at] != '\n') at++;
        if (at >= len) return 0;
        at++;
    }
    size_t n = 0;
    while (at < len && labels[at] != '\n' && labels[at] != '\r' && n + 3 < cap) {
        char c = (char)labels[at++];
        if (c == '"' || c == '\\') out[n++] = '\\';
        if ((unsigned char)c >= 0x20) out[n++] = c;
    }
    out[n] = 0;
    return 1;
}

int32_t classify_write_result(const float *scores, int32_t classes, int32_t best) {
    uint8_t *labels = NULL;
    size_t labels_len = 0;
    classify_read_file("labels", &labels, &labels_len); /* optional */
    size_t cap = 512 + (size_t)classes * 32 + labels_len * 2;
    char *json = malloc(cap);
    if (!json) {
        free(labels);
        return CLASSIFY_ERR_NO_MEMORY;
    }
    char label[128];
    size_t n = 0;
    n += snprintf(json + n, cap - n, "{\"class\":%d,\"label\":", (int)best);
    n += label_of(labels, labels_len, best, label, sizeof label) ? snprintf(json + n, cap - n, "\"%s\"", label) : snprintf(json + n, cap - n, "null");
    n += snprintf(json + n, cap - n, ",\"top\":[");
    int used[5];
    int k = classes < 5 ? classes : 5;
    for (int i = 0; i < k; i++) {
        int32_t pick = -1;
        for (int32_t c = 0; c < classes; c++) {
            int taken = 0;
            for (int j = 0; j < i; j++) taken |= used[j] == c;
            if (!taken && (pick < 0 || scores[c] > scores[pick])) pick = c;
        }
        used[i] = pick;
        n += snprintf(json + n, cap - n, "%s{\"index\":%d,\"label\":", i ? "," : "", (int)pick);
        n += label_of(labels, labels_len, pick, label, sizeof label) ? snprintf(json + n, cap - n, "\"%s\"", label) : snprintf(json + n, cap - n, "null");
        n += snprintf(json + n, cap - n, ",\"score\":%.9g}", (double)scores[pick]);
    }
    n += snprintf(json + n, cap - n, "],\"scores\":[");
    for (int32_t c = 0; c < classes; c++) n += snprintf(json + n, cap - n, "%s%.9g", c ? "," : "", (double)scores[c]);
    n += snprintf(json + n, cap - n, "]}\n");
    __wasi_errno_t err = classify_write_file("classification.json", (const uint8_t *)json, n);
    free(json);
    free(labels);
    if (err != __WASI_ERRNO_SUCCESS) {
        fprintf(stderr, "classify: writing classification.json failed (%d)\n", (int)err);
        return -(2000 + (int32_t)err);
    }
    return 0;
}
