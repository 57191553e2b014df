/*
 * classify_common — what the two image classifiers (classify: wasi-nn; classify-simd:
 * the network computed in the module) share: reading and writing files of the mount
 * directory (fd 3), MobileNetV2's preprocessing as nsfwjs does it, and the result file.
 */
#ifndef CLASSIFY_COMMON_H
#define CLASSIFY_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <wasi/api.h>

#define CLASSIFY_SIZE 224
/* The largest input side the preprocessing settings may ask for. */
#define CLASSIFY_MAX_SIZE 512
#define CLASSIFY_MAX_CLASSES 1001
#define CLASSIFY_ERR_NO_MEMORY -20

/* Read a whole file of the mount directory (malloc'd; free it). */
__wasi_errno_t classify_read_file(const char *name, uint8_t **data, size_t *len);

/* Write (create or truncate) a file of the mount directory. */
__wasi_errno_t classify_write_file(const char *name, const uint8_t *data, size_t len);

/* classify_read_file with a line on stderr on failure; returns 0 or -(1000 + errno). */
int32_t classify_read_mount(const char *name, uint8_t **data, size_t *len);

/* How an image becomes the model's input: side length, then (x / 255 - mean) / std per channel. */
typedef struct {
    uint32_t size;
    float mean[3];
    float std[3];
} classify_options;

/* nsfwjs' MobileNetV2: 224 x 224, samples / 255 (mean 0, std 1). */
extern const classify_options CLASSIFY_DEFAULTS;

/*
 * Read the optional "preprocess" mount (a text file of lines "size N", "mean R G B",
 * "std R G B"; e.g. an ImageNet model of the ONNX zoo wants mean 0.485 0.456 0.406 and
 * std 0.229 0.224 0.225) over the defaults. Returns 0, or CLASSIFY_ERR_BAD_OPTIONS for
 * a line it cannot read or a size outside 1..CLASSIFY_MAX_SIZE.
 */
int32_t classify_read_options(classify_options *options);
#define CLASSIFY_ERR_BAD_OPTIONS -21

/*
 * Decode the baseline JPEG, resize to size x size bilinearly with aligned corners, scale
 * each sample to (x / 255 - mean) / std, write planar NCHW float32 into `nchw`
 * (3 * size * size floats). Returns 0 or a JPEG_ERR_* code (negative).
 */
int32_t classify_prepare(const uint8_t *jpeg, size_t len, float *nchw, const classify_options *options);

/* classify_prepare on the "image.jpeg" mount. Returns 0 or a negative code. */
int32_t classify_prepare_mount(float *nchw, const classify_options *options);

/* Write the prepared input to "input.bin"; returns its byte length or -(2000 + errno). */
int32_t classify_write_input(const float *nchw, const classify_options *options);

/* Index of the largest score. */
int32_t classify_argmax(const float *scores, int32_t n);

/*
 * Write "classification.json": {"class", "label", "top" (up to 5, best first), "scores"};
 * labels from the optional "labels" mount. Returns 0 or a negative code.
 */
int32_t classify_write_result(const float *scores, int32_t classes, int32_t best);

#endif
