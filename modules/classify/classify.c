/*
 * classify — image classification through wasi-nn (MobileNetV2, 224 x 224, the ONNX
 * graph modules/classify/build-model.mjs makes from nsfwjs' weights; any ONNX graph
 * with one NCHW float input [1, 3, N, N] and one float output of up to 1001 class
 * scores works: an optional "preprocess" deployment-stage mount says N and the
 * normalisation, e.g. for the ONNX zoo's ImageNet mobilenetv2
 *     size 224
 *     mean 0.485 0.456 0.406
 *     std 0.229 0.224 0.225
 * — see classify_read_options in ../lib/classify_common.h).
 *
 * Preprocessing (by default what nsfwjs does before its model; ../lib/classify_common.c):
 * decode the baseline JPEG (../lib/jpeg.c; gray is replicated to RGB), resize to N x N
 * bilinearly with aligned corners (TF's resizeBilinear, alignCorners=true), scale each
 * sample to (x / 255 - mean) / std (default mean 0, std 1), lay out as planar NCHW float32.
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
 *   -21              a line of the "preprocess" mount it cannot read
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "classify_common.h"
#include "wasi_nn.h"


/* The input tensor, as large as the options' size needs (grown, never shrunk): a static
   buffer for the largest size would lie between the module's other writes, and the host
   copies the span a call writes after each call. */
static float *input;
static size_t input_floats;
static classify_options options;
static float scores[CLASSIFY_MAX_CLASSES];
static uint32_t graph;
static int graph_loaded;

/* ------------------------------------------------------------ inference */

static int32_t nn_fail(const char *what, uint32_t err) {
    fprintf(stderr, "classify: %s (%ld)\n", what, (long)err);
    return -(100 + (int32_t)err);
}

/* Make `input` hold an image of the options' size: 0, or -20 when out of memory. */
static int32_t size_input(void) {
    const size_t floats = 3 * (size_t)options.size * options.size;
    if (floats <= input_floats) return 0;
    float *grown = realloc(input, floats * sizeof *grown);
    if (!grown) {
        fprintf(stderr, "classify: out of memory for the input tensor\n");
        return -20;
    }
    input = grown;
    input_floats = floats;
    return 0;
}

/* Run the prepared input through the graph; returns the number of scores or < 0. */
static int32_t infer(uint32_t g, int32_t *classes) {
    uint32_t ctx;
    uint32_t err = nn_init_execution_context(g, &ctx);
    if (err != NN_SUCCESS) return nn_fail("init_execution_context failed", err);
    const uint32_t dims[4] = { 1, 3, options.size, options.size };
    nn_tensor tensor = { dims, 4, NN_TYPE_F32, (const uint8_t *)input, 3 * options.size * options.size * (uint32_t)sizeof(float) };
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

/* ------------------------------------------------------------ exports */

__attribute__((export_name("classify")))
int32_t classify(void) {
    int32_t code = classify_read_options(&options);
    if (code == 0) code = size_input();
    if (code == 0) code = classify_prepare_mount(input, &options);
    if (code < 0) return code;
    int32_t classes = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!graph_loaded) {
            uint8_t *model;
            size_t model_len;
            code = classify_read_mount("model", &model, &model_len);
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
    int32_t best = classify_argmax(scores, classes);
    code = classify_write_result(scores, classes, best);
    return code < 0 ? code : best;
}

__attribute__((export_name("preprocess")))
int32_t preprocess(void) {
    int32_t code = classify_read_options(&options);
    if (code == 0) code = size_input();
    if (code == 0) code = classify_prepare_mount(input, &options);
    return code < 0 ? code : classify_write_input(input, &options);
}

__attribute__((export_name("alloc")))
void *alloc(uint32_t len) {
    return malloc(len ? len : 1);
}

__attribute__((export_name("infer_from_ptrs")))
int32_t infer_from_ptrs(const uint8_t *model, uint32_t model_len, const uint8_t *img, uint32_t img_len) {
    int32_t code = classify_read_options(&options);
    if (code == 0) code = size_input();
    if (code < 0) return code;
    code = classify_prepare(img, img_len, input, &options);
    if (code < 0) return code;
    uint32_t g;
    code = load_graph(model, model_len, &g);
    if (code < 0) return code;
    int32_t classes = 0;
    code = infer(g, &classes);
    return code < 0 ? code : classify_argmax(scores, classes);
}
