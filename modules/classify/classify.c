/*
 * classify — image classification through wasi-nn (MobileNetV2, 224 x 224, the ONNX
 * graph modules/classify/build-model.mjs makes from nsfwjs' weights; any ONNX graph
 * with one NCHW float input [1, 3, 224, 224] of samples / 255 and one float output of
 * class scores works).
 *
 * Preprocessing (what nsfwjs does before its model): decode the baseline JPEG
 * (../lib/jpeg.c; gray is replicated to RGB), divide each sample by 255, resize to
 * 224 x 224 bilinearly with aligned corners (TF's resizeBilinear, alignCorners=true),
 * lay out as planar NCHW float32.
 *
 * Exports:
 *   classify() -> i32
 *     Reads "model" (deployment-stage mount) and "image.jpeg" (execution-stage mount)
 *     from the directory preopened as fd 3, runs the graph and returns the index of the
 *     top class (0-based, into the model's outputs).  Also writes "classification.json"
 *     (output mount): {"class": i, "label": "…", "top": [{"index", "label", "score"} x
 *     up to 5, best first], "scores": [every class]}; labels come from the optional
 *     "labels" mount (one per line), else are null.  The graph is loaded once per
 *     instance and reloaded if the host no longer knows it (after a move to another peer).
 *   preprocess() -> i32
 *     Only the preprocessing: writes the input tensor as raw little-endian float32 to
 *     "input.bin" (output mount) and returns its byte length.
 *   alloc(len) -> ptr
 *   infer_from_ptrs(model_ptr, model_len, img_ptr, img_len) -> i32
 *     The WasmIoT reference ABI: model and JPEG bytes placed in memory by the caller
 *     (through alloc); returns the top class index.
 * Errors are negative (and a line on stderr):
 *   -1 .. -15        JPEG_ERR_* of jpeg_decode
 *   -(100 + errno)   a wasi-nn call failed with that nn_errno
 *   -(1000 + errno)  reading a file failed with that WASI errno (-1044: no such file)
 *   -(2000 + errno)  writing classification.json / input.bin failed
 *   -20              out of memory
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#include "jpeg.h"
#include "wasi_nn.h"

#define MOUNT_DIR_FD 3
#define SIZE 224
#define MAX_CLASSES 1001
#define TOP_K 5
#define ERR_NO_MEMORY -20

static float input[3 * SIZE * SIZE];
static float scores[MAX_CLASSES];
static uint32_t graph;
static int graph_loaded;

static void report(const char *what, long code) {
    fprintf(stderr, "classify: %s (%ld)\n", what, code);
}

/* ------------------------------------------------------------ files */

static __wasi_errno_t read_file(const char *name, uint8_t **data, size_t *len) {
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

static __wasi_errno_t write_file(const char *name, const uint8_t *data, size_t len) {
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

/* ------------------------------------------------------------ preprocessing */

/* Decode, scale to [0, 1], resize (bilinear, aligned corners) into `input` (NCHW). */
static int32_t prepare(const uint8_t *jpeg, size_t len) {
    jpeg_image image;
    int code = jpeg_decode(jpeg, len, &image);
    if (code != JPEG_OK) {
        report(jpeg_error_string(code), code);
        return code;
    }
    const uint32_t w = image.width, h = image.height, ch = image.channels;
    const float sy = h > 1 ? (float)(h - 1) / (SIZE - 1) : 0.0f;
    const float sx = w > 1 ? (float)(w - 1) / (SIZE - 1) : 0.0f;
    for (uint32_t y = 0; y < SIZE; y++) {
        const float fy = (float)y * sy;
        uint32_t y0 = (uint32_t)fy;
        if (y0 > h - 1) y0 = h - 1;
        const uint32_t y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        const float dy = fy - (float)y0;
        for (uint32_t x = 0; x < SIZE; x++) {
            const float fx = (float)x * sx;
            uint32_t x0 = (uint32_t)fx;
            if (x0 > w - 1) x0 = w - 1;
            const uint32_t x1 = x0 + 1 < w ? x0 + 1 : w - 1;
            const float dx = fx - (float)x0;
            for (uint32_t c = 0; c < 3; c++) {
                const uint32_t k = ch == 3 ? c : 0;
                const float tl = image.pixels[(y0 * w + x0) * ch + k] / 255.0f;
                const float tr = image.pixels[(y0 * w + x1) * ch + k] / 255.0f;
                const float bl = image.pixels[(y1 * w + x0) * ch + k] / 255.0f;
                const float br = image.pixels[(y1 * w + x1) * ch + k] / 255.0f;
                const float top = tl + (tr - tl) * dx;
                const float bottom = bl + (br - bl) * dx;
                input[(c * SIZE + y) * SIZE + x] = top + (bottom - top) * dy;
            }
        }
    }
    jpeg_free(&image);
    return 0;
}

/* ------------------------------------------------------------ inference */

static int32_t nn_fail(const char *what, uint32_t err) {
    report(what, (long)err);
    return -(100 + (int32_t)err);
}

/* Run the prepared input through the graph; returns the number of scores or < 0. */
static int32_t infer(uint32_t g, int32_t *classes) {
    uint32_t ctx;
    uint32_t err = nn_init_execution_context(g, &ctx);
    if (err != NN_SUCCESS) return nn_fail("init_execution_context failed", err);
    static const uint32_t dims[4] = { 1, 3, SIZE, SIZE };
    nn_tensor tensor = { dims, 4, NN_TYPE_F32, (const uint8_t *)input, sizeof input };
    err = nn_set_input(ctx, 0, &tensor);
    if (err != NN_SUCCESS) return nn_fail("set_input failed", err);
    err = nn_compute(ctx);
    if (err != NN_SUCCESS) return nn_fail("compute failed", err);
    uint32_t written = 0;
    err = nn_get_output(ctx, 0, (uint8_t *)scores, sizeof scores, &written);
    if (err != NN_SUCCESS) return nn_fail("get_output failed", err);
    *classes = (int32_t)(written / sizeof(float));
    return 0;
}

static int32_t load_graph(const uint8_t *model, size_t len, uint32_t *g) {
    nn_buffer builder = { model, (uint32_t)len };
    uint32_t err = nn_load(&builder, 1, NN_ENCODING_ONNX, NN_TARGET_CPU, g);
    return err == NN_SUCCESS ? 0 : nn_fail("load failed", err);
}

static int32_t argmax(int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) if (scores[i] > scores[best]) best = i;
    return best;
}

/* ------------------------------------------------------------ result file */

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

static int32_t write_result(int32_t classes, int32_t best) {
    uint8_t *labels = NULL;
    size_t labels_len = 0;
    read_file("labels", &labels, &labels_len); /* optional */
    size_t cap = 512 + (size_t)classes * 32 + labels_len * 2;
    char *json = malloc(cap);
    if (!json) {
        free(labels);
        return ERR_NO_MEMORY;
    }
    char label[128];
    size_t n = 0;
    n += snprintf(json + n, cap - n, "{\"class\":%d,\"label\":", (int)best);
    n += label_of(labels, labels_len, best, label, sizeof label) ? snprintf(json + n, cap - n, "\"%s\"", label) : snprintf(json + n, cap - n, "null");
    n += snprintf(json + n, cap - n, ",\"top\":[");
    int used[TOP_K];
    int k = classes < TOP_K ? classes : TOP_K;
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
    __wasi_errno_t err = write_file("classification.json", (const uint8_t *)json, n);
    free(json);
    free(labels);
    if (err != __WASI_ERRNO_SUCCESS) {
        report("writing classification.json failed", err);
        return -(2000 + (int32_t)err);
    }
    return 0;
}

/* ------------------------------------------------------------ exports */

static int32_t read_mount(const char *name, uint8_t **data, size_t *len) {
    __wasi_errno_t err = read_file(name, data, len);
    if (err == __WASI_ERRNO_SUCCESS) return 0;
    fprintf(stderr, "classify: reading %s failed (%d)\n", name, (int)err);
    return -(1000 + (int32_t)err);
}

__attribute__((export_name("classify")))
int32_t classify(void) {
    uint8_t *jpeg;
    size_t jpeg_len;
    int32_t code = read_mount("image.jpeg", &jpeg, &jpeg_len);
    if (code < 0) return code;
    code = prepare(jpeg, jpeg_len);
    free(jpeg);
    if (code < 0) return code;
    int32_t classes = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!graph_loaded) {
            uint8_t *model;
            size_t model_len;
            code = read_mount("model", &model, &model_len);
            if (code < 0) return code;
            code = load_graph(model, model_len, &graph);
            free(model);
            if (code < 0) return code;
            graph_loaded = 1;
        }
        code = infer(graph, &classes);
        /* A graph handle from another peer (after a move) is unknown here: load again once. */
        if (code == -(100 + NN_INVALID_ARGUMENT) && attempt == 0) {
            graph_loaded = 0;
            continue;
        }
        break;
    }
    if (code < 0) return code;
    int32_t best = argmax(classes);
    code = write_result(classes, best);
    return code < 0 ? code : best;
}

__attribute__((export_name("preprocess")))
int32_t preprocess(void) {
    uint8_t *jpeg;
    size_t jpeg_len;
    int32_t code = read_mount("image.jpeg", &jpeg, &jpeg_len);
    if (code < 0) return code;
    code = prepare(jpeg, jpeg_len);
    free(jpeg);
    if (code < 0) return code;
    __wasi_errno_t err = write_file("input.bin", (const uint8_t *)input, sizeof input);
    return err == __WASI_ERRNO_SUCCESS ? (int32_t)sizeof input : -(2000 + (int32_t)err);
}

__attribute__((export_name("alloc")))
void *alloc(uint32_t len) {
    return malloc(len ? len : 1);
}

__attribute__((export_name("infer_from_ptrs")))
int32_t infer_from_ptrs(const uint8_t *model, uint32_t model_len, const uint8_t *img, uint32_t img_len) {
    int32_t code = prepare(img, img_len);
    if (code < 0) return code;
    uint32_t g;
    code = load_graph(model, model_len, &g);
    if (code < 0) return code;
    int32_t classes = 0;
    code = infer(g, &classes);
    return code < 0 ? code : argmax(classes);
}
