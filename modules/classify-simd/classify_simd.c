/*
 * classify-simd — the same image classification as modules/classify, computed inside the
 * module with WebAssembly SIMD (clang -msimd128) instead of through wasi-nn: no host
 * import beyond WASI, so it runs on any peer, engine or no engine.
 *
 * The network comes from the "model" deployment-stage mount in the flat weights format
 * that modules/classify/build-model.mjs writes beside the ONNX file (model.weights): a
 * program of operations over NHWC float32 maps — conv (any kernel; 1×1 stride 1 is a
 * tiled matrix product), depthwise conv, add, global average pool, dense — with batch
 * norm folded in and ReLU6 / ReLU / softmax fused. It is parsed once per instance.
 * Preprocessing and the result file are modules/lib/classify_common.c, shared with
 * classify, so both modules see the same input tensor.
 *
 * Exports:
 *   classify() -> i32     reads "model", optional "labels", "image.jpeg"; writes
 *                         "classification.json" as classify does; returns the top class.
 *   preprocess() -> i32   writes the input tensor (NCHW float32) to "input.bin".
 * Errors are negative (and a line on stderr): -1 .. -15 JPEG_ERR_*, -20 out of memory,
 * -30 the model is not a flat weights file this module understands, -(1000 + errno)
 * reading a mount failed, -(2000 + errno) writing the result failed.
 * Slightly over 400 lines: the model reader, the five kernels and the interpreter that
 * sequences them are one unit (the kernels read the parsed operations directly).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasm_simd128.h>

#include "classify_common.h"

#define SIZE CLASSIFY_SIZE
#define ERR_BAD_MODEL -30
#define NONE 0xffffffffu

enum { OP_CONV = 1, OP_DEPTHWISE = 2, OP_ADD = 3, OP_GAP = 4, OP_DENSE = 5 };
enum { ACT_NONE = 0, ACT_RELU6 = 1, ACT_RELU = 2, ACT_SOFTMAX = 3 };

typedef struct {
    uint32_t code, a, b, act, kh, kw, sh, sw, pt, pl, pb, pr, cin, cout, nw, nb;
    const float *w, *bias;
} op_t;

typedef struct {
    float *data;
    uint32_t h, w, c;
} map_t;

static float input[3 * SIZE * SIZE];
static uint8_t *model;      /* the weights file, kept while the instance lives */
static op_t *ops;
static uint32_t op_count;
static uint32_t *last_use;  /* per value: the last operation reading it */

static int32_t bad_model(const char *why) {
    fprintf(stderr, "classify-simd: bad model: %s\n", why);
    return ERR_BAD_MODEL;
}

/* ------------------------------------------------------------ loading */

static int32_t parse_model(const uint8_t *bytes, size_t len) {
    if (len < 8 || memcmp(bytes, "LMW1", 4) != 0) return bad_model("not a flat weights file (LMW1)");
    uint32_t n;
    memcpy(&n, bytes + 4, 4);
    if (n == 0 || n > 10000) return bad_model("operation count");
    ops = calloc(n, sizeof *ops);
    last_use = calloc(n + 1, sizeof *last_use);
    if (!ops || !last_use) return CLASSIFY_ERR_NO_MEMORY;
    size_t at = 8;
    for (uint32_t i = 0; i < n; i++) {
        op_t *op = &ops[i];
        if (len - at < 64) return bad_model("truncated");
        memcpy(op, bytes + at, 64);
        at += 64;
        if ((len - at) / 4 < (size_t)op->nw + op->nb) return bad_model("truncated weights");
        op->w = (const float *)(bytes + at);
        op->bias = (const float *)(bytes + at + 4 * (size_t)op->nw);
        at += 4 * ((size_t)op->nw + op->nb);
        if (op->a > i || (op->b != NONE && op->b > i)) return bad_model("an input computed later");
        if (op->act > ACT_SOFTMAX) return bad_model("activation");
        switch (op->code) {
        case OP_CONV:
            if (op->cout % 4 || op->nw != op->kh * op->kw * op->cin * op->cout || op->nb != op->cout || !op->sh || !op->sw) return bad_model("conv shape");
            break;
        case OP_DEPTHWISE:
            if (op->kh * op->kw > 64) return bad_model("depthwise kernel larger than 64 taps");
            if (op->cout % 4 || op->cin != op->cout || op->nw != op->kh * op->kw * op->cout || op->nb != op->cout || !op->sh || !op->sw) return bad_model("depthwise shape");
            break;
        case OP_DENSE:
            if (op->nw != op->cin * op->cout || op->nb != op->cout) return bad_model("dense shape");
            break;
        case OP_ADD:
            if (op->b == NONE) return bad_model("add needs two inputs");
            break;
        case OP_GAP:
            break;
        default:
            return bad_model("unknown operation");
        }
        last_use[op->a] = i;
        if (op->b != NONE) last_use[op->b] = i;
    }
    op_count = n;
    return 0;
}

static int32_t load_model(void) {
    if (ops) return 0;
    uint8_t *bytes;
    size_t len;
    int32_t code = classify_read_mount("model", &bytes, &len);
    if (code < 0) return code;
    code = parse_model(bytes, len);
    if (code < 0) {
        free(bytes);
        free(ops);
        free(last_use);
        ops = NULL;
        last_use = NULL;
        return code;
    }
    model = bytes;
    return 0;
}

/* ------------------------------------------------------------ kernels */

static inline v128_t activate(v128_t v, uint32_t act) {
    if (act == ACT_RELU6) return wasm_f32x4_pmin(wasm_f32x4_splat(6.0f), wasm_f32x4_pmax(wasm_f32x4_splat(0.0f), v));
    if (act == ACT_RELU) return wasm_f32x4_pmax(wasm_f32x4_splat(0.0f), v);
    return v;
}

/* 1×1, stride 1: out[P][cout] = in[P][cin] · w[cin][cout] + bias, 4 pixels × 8 channels at a time. */
static void pointwise(const op_t *op, const float *in, uint32_t pixels, float *out) {
    const uint32_t cin = op->cin, cout = op->cout;
    const float *w = op->w, *bias = op->bias;
    uint32_t p = 0;
    for (; p + 4 <= pixels; p += 4) {
        const float *x0 = in + (size_t)p * cin, *x1 = x0 + cin, *x2 = x1 + cin, *x3 = x2 + cin;
        uint32_t co = 0;
        for (; co + 8 <= cout; co += 8) {
            v128_t b0 = wasm_v128_load(bias + co), b1 = wasm_v128_load(bias + co + 4);
            v128_t a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
            const float *wp = w + co;
            for (uint32_t ci = 0; ci < cin; ci++, wp += cout) {
                const v128_t w0 = wasm_v128_load(wp), w1 = wasm_v128_load(wp + 4);
                v128_t s = wasm_f32x4_splat(x0[ci]);
                a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(s, w0));
                a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(s, w1));
                s = wasm_f32x4_splat(x1[ci]);
                a10 = wasm_f32x4_add(a10, wasm_f32x4_mul(s, w0));
                a11 = wasm_f32x4_add(a11, wasm_f32x4_mul(s, w1));
                s = wasm_f32x4_splat(x2[ci]);
                a20 = wasm_f32x4_add(a20, wasm_f32x4_mul(s, w0));
                a21 = wasm_f32x4_add(a21, wasm_f32x4_mul(s, w1));
                s = wasm_f32x4_splat(x3[ci]);
                a30 = wasm_f32x4_add(a30, wasm_f32x4_mul(s, w0));
                a31 = wasm_f32x4_add(a31, wasm_f32x4_mul(s, w1));
            }
            float *o = out + (size_t)p * cout + co;
            wasm_v128_store(o, activate(a00, op->act));
            wasm_v128_store(o + 4, activate(a01, op->act));
            wasm_v128_store(o + cout, activate(a10, op->act));
            wasm_v128_store(o + cout + 4, activate(a11, op->act));
            wasm_v128_store(o + 2 * cout, activate(a20, op->act));
            wasm_v128_store(o + 2 * cout + 4, activate(a21, op->act));
            wasm_v128_store(o + 3 * cout, activate(a30, op->act));
            wasm_v128_store(o + 3 * cout + 4, activate(a31, op->act));
        }
        for (; co < cout; co += 4) {
            v128_t a[4];
            for (int k = 0; k < 4; k++) a[k] = wasm_v128_load(bias + co);
            for (uint32_t ci = 0; ci < cin; ci++) {
                const v128_t wv = wasm_v128_load(w + (size_t)ci * cout + co);
                for (int k = 0; k < 4; k++) a[k] = wasm_f32x4_add(a[k], wasm_f32x4_mul(wasm_f32x4_splat(x0[(size_t)k * cin + ci]), wv));
            }
            for (int k = 0; k < 4; k++) wasm_v128_store(out + (size_t)(p + k) * cout + co, activate(a[k], op->act));
        }
    }
    for (; p < pixels; p++) {
        const float *x = in + (size_t)p * cin;
        for (uint32_t co = 0; co < cout; co += 4) {
            v128_t a = wasm_v128_load(bias + co);
            for (uint32_t ci = 0; ci < cin; ci++) a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_f32x4_splat(x[ci]), wasm_v128_load(w + (size_t)ci * cout + co)));
            wasm_v128_store(out + (size_t)p * cout + co, activate(a, op->act));
        }
    }
}

/* Any kernel and stride, zero padding: per output pixel, every tap's input channel is
 * broadcast against a contiguous row of weights, the output pixel being the accumulator. */
static void conv(const op_t *op, const map_t *in, map_t *out) {
    const uint32_t cin = op->cin, cout = op->cout;
    for (uint32_t oy = 0; oy < out->h; oy++) {
        for (uint32_t ox = 0; ox < out->w; ox++) {
            float *o = out->data + ((size_t)oy * out->w + ox) * cout;
            memcpy(o, op->bias, cout * sizeof(float));
            for (uint32_t ky = 0; ky < op->kh; ky++) {
                const int32_t iy = (int32_t)(oy * op->sh + ky) - (int32_t)op->pt;
                if (iy < 0 || iy >= (int32_t)in->h) continue;
                for (uint32_t kx = 0; kx < op->kw; kx++) {
                    const int32_t ix = (int32_t)(ox * op->sw + kx) - (int32_t)op->pl;
                    if (ix < 0 || ix >= (int32_t)in->w) continue;
                    const float *x = in->data + ((size_t)iy * in->w + ix) * cin;
                    const float *wp = op->w + ((size_t)(ky * op->kw + kx) * cin) * cout;
                    for (uint32_t ci = 0; ci < cin; ci++, wp += cout) {
                        const v128_t s = wasm_f32x4_splat(x[ci]);
                        for (uint32_t co = 0; co < cout; co += 4)
                            wasm_v128_store(o + co, wasm_f32x4_add(wasm_v128_load(o + co), wasm_f32x4_mul(s, wasm_v128_load(wp + co))));
                    }
                }
            }
            if (op->act != ACT_NONE)
                for (uint32_t co = 0; co < cout; co += 4) wasm_v128_store(o + co, activate(wasm_v128_load(o + co), op->act));
        }
    }
}

/* Depthwise: every channel its own kernel; per output pixel the taps inside the map are
 * gathered first, then each group of 4 channels sums them in a register. */
static void depthwise(const op_t *op, const map_t *in, map_t *out) {
    const uint32_t c = op->cout;
    const float *xs[64];
    const float *ws[64];
    for (uint32_t oy = 0; oy < out->h; oy++) {
        for (uint32_t ox = 0; ox < out->w; ox++) {
            uint32_t taps = 0;
            for (uint32_t ky = 0; ky < op->kh; ky++) {
                const int32_t iy = (int32_t)(oy * op->sh + ky) - (int32_t)op->pt;
                if (iy < 0 || iy >= (int32_t)in->h) continue;
                for (uint32_t kx = 0; kx < op->kw; kx++) {
                    const int32_t ix = (int32_t)(ox * op->sw + kx) - (int32_t)op->pl;
                    if (ix < 0 || ix >= (int32_t)in->w) continue;
                    xs[taps] = in->data + ((size_t)iy * in->w + ix) * c;
                    ws[taps] = op->w + (size_t)(ky * op->kw + kx) * c;
                    taps++;
                }
            }
            float *o = out->data + ((size_t)oy * out->w + ox) * c;
            if (taps == 9) {
                for (uint32_t k = 0; k < c; k += 4) {
                    v128_t a = wasm_v128_load(op->bias + k);
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[0] + k), wasm_v128_load(ws[0] + k)));
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[1] + k), wasm_v128_load(ws[1] + k)));
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[2] + k), wasm_v128_load(ws[2] + k)));
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[3] + k), wasm_v128_load(ws[3] + k)));
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[4] + k), wasm_v128_load(ws[4] + k)));
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[5] + k), wasm_v128_load(ws[5] + k)));
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[6] + k), wasm_v128_load(ws[6] + k)));
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[7] + k), wasm_v128_load(ws[7] + k)));
                    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[8] + k), wasm_v128_load(ws[8] + k)));
                    wasm_v128_store(o + k, activate(a, op->act));
                }
            } else {
                for (uint32_t k = 0; k < c; k += 4) {
                    v128_t a = wasm_v128_load(op->bias + k);
                    for (uint32_t t = 0; t < taps; t++) a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xs[t] + k), wasm_v128_load(ws[t] + k)));
                    wasm_v128_store(o + k, activate(a, op->act));
                }
            }
        }
    }
}

static void dense(const op_t *op, const float *x, float *out) {
    for (uint32_t o = 0; o < op->cout; o++) out[o] = op->bias[o];
    for (uint32_t i = 0; i < op->cin; i++) {
        const float xi = x[i];
        const float *wp = op->w + (size_t)i * op->cout;
        for (uint32_t o = 0; o < op->cout; o++) out[o] += xi * wp[o];
    }
    if (op->act == ACT_RELU || op->act == ACT_RELU6)
        for (uint32_t o = 0; o < op->cout; o++) out[o] = out[o] < 0 ? 0 : (op->act == ACT_RELU6 && out[o] > 6 ? 6 : out[o]);
    if (op->act == ACT_SOFTMAX) {
        float max = out[0];
        for (uint32_t o = 1; o < op->cout; o++) if (out[o] > max) max = out[o];
        double sum = 0;
        for (uint32_t o = 0; o < op->cout; o++) sum += (out[o] = expf(out[o] - max));
        for (uint32_t o = 0; o < op->cout; o++) out[o] = (float)(out[o] / sum);
    }
}

/* ------------------------------------------------------------ the network */

/* Run the prepared input through the network into `scores`; returns the class count or < 0. */
static int32_t run_network(float *scores, uint32_t max_scores) {
    map_t *maps = calloc(op_count + 1, sizeof *maps);
    if (!maps) return CLASSIFY_ERR_NO_MEMORY;
    int32_t result = 0;
    float *nhwc = malloc(sizeof input);
    if (!nhwc) {
        free(maps);
        return CLASSIFY_ERR_NO_MEMORY;
    }
    for (uint32_t p = 0; p < SIZE * SIZE; p++)
        for (uint32_t c = 0; c < 3; c++) nhwc[p * 3 + c] = input[c * SIZE * SIZE + p];
    maps[0] = (map_t){ nhwc, SIZE, SIZE, 3 };
    for (uint32_t i = 0; i < op_count && result == 0; i++) {
        const op_t *op = &ops[i];
        const map_t *a = &maps[op->a];
        map_t *out = &maps[i + 1];
        switch (op->code) {
        case OP_CONV:
        case OP_DEPTHWISE:
            if (a->c != op->cin || a->h + op->pt + op->pb < op->kh || a->w + op->pl + op->pr < op->kw) result = bad_model("conv input shape");
            out->h = (a->h + op->pt + op->pb - op->kh) / op->sh + 1;
            out->w = (a->w + op->pl + op->pr - op->kw) / op->sw + 1;
            out->c = op->cout;
            break;
        case OP_ADD:
            if (a->h != maps[op->b].h || a->w != maps[op->b].w || a->c != maps[op->b].c) result = bad_model("add shapes differ");
            *out = (map_t){ NULL, a->h, a->w, a->c };
            break;
        case OP_GAP:
            *out = (map_t){ NULL, 1, 1, a->c };
            break;
        case OP_DENSE:
            if ((size_t)a->h * a->w * a->c != op->cin) result = bad_model("dense input size");
            *out = (map_t){ NULL, 1, 1, op->cout };
            break;
        }
        if (result < 0) break;
        out->data = malloc((size_t)out->h * out->w * out->c * sizeof(float) + 16);
        if (!out->data) {
            result = CLASSIFY_ERR_NO_MEMORY;
            break;
        }
        const uint32_t pixels = a->h * a->w;
        switch (op->code) {
        case OP_CONV:
            if (op->kh == 1 && op->kw == 1 && op->sh == 1 && op->sw == 1 && !op->pt && !op->pl && !op->pb && !op->pr) pointwise(op, a->data, pixels, out->data);
            else conv(op, a, out);
            break;
        case OP_DEPTHWISE:
            depthwise(op, a, out);
            break;
        case OP_ADD: {
            const float *b = maps[op->b].data;
            const size_t n = (size_t)pixels * a->c;
            size_t k = 0;
            for (; k + 4 <= n; k += 4) wasm_v128_store(out->data + k, wasm_f32x4_add(wasm_v128_load(a->data + k), wasm_v128_load(b + k)));
            for (; k < n; k++) out->data[k] = a->data[k] + b[k];
            break;
        }
        case OP_GAP:
            for (uint32_t c = 0; c < a->c; c++) {
                float sum = 0;
                for (uint32_t p = 0; p < pixels; p++) sum += a->data[(size_t)p * a->c + c];
                out->data[c] = sum / (float)pixels;
            }
            break;
        case OP_DENSE:
            dense(op, a->data, out->data);
            break;
        }
        /* Maps no later operation reads are freed as soon as possible. */
        if (last_use[op->a] == i) {
            free(maps[op->a].data);
            maps[op->a].data = NULL;
        }
        if (op->b != NONE && last_use[op->b] == i) {
            free(maps[op->b].data);
            maps[op->b].data = NULL;
        }
    }
    if (result == 0) {
        const map_t *last = &maps[op_count];
        const uint32_t n = last->h * last->w * last->c;
        if (n > max_scores) result = bad_model("more classes than supported");
        else {
            memcpy(scores, last->data, n * sizeof(float));
            result = (int32_t)n;
        }
    }
    for (uint32_t v = 0; v <= op_count; v++) free(maps[v].data);
    free(maps);
    return result;
}

/* ------------------------------------------------------------ exports */

__attribute__((export_name("classify")))
int32_t classify(void) {
    static float scores[CLASSIFY_MAX_CLASSES];
    int32_t code = classify_prepare_mount(input, &CLASSIFY_DEFAULTS);
    if (code < 0) return code;
    code = load_model();
    if (code < 0) return code;
    const int32_t classes = run_network(scores, CLASSIFY_MAX_CLASSES);
    if (classes < 0) return classes;
    const int32_t best = classify_argmax(scores, classes);
    code = classify_write_result(scores, classes, best);
    return code < 0 ? code : best;
}

__attribute__((export_name("preprocess")))
int32_t preprocess(void) {
    const int32_t code = classify_prepare_mount(input, &CLASSIFY_DEFAULTS);
    return code < 0 ? code : classify_write_input(input, &CLASSIFY_DEFAULTS);
}
