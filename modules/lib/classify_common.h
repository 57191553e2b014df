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
#define CLASSIFY_MAX_CLASSES 1001
#define CLASSIFY_ERR_NO_MEMORY -20

/* Read a whole file of the mount directory (malloc'd; free it). */
__wasi_errno_t classify_read_file(const char *name, uint8_t **data, size_t *len);

/* Write (create or truncate) a file of the mount directory. */
__wasi_errno_t classify_write_file(const char *name, const uint8_t *data, size_t len);

/* classify_read_file with a line on stderr on failure; returns 0 or -(1000 + errno). */
int32_t classify_read_mount(const char *name, uint8_t **data, size_t *len);

/*
 * Decode the baseline JPEG, divide each sample by 255, resize to 224 x 224 bilinearly
 * with aligned corners, write planar NCHW float32 into `nchw` (3 * 224 * 224 floats).
 * Returns 0 or a JPEG_ERR_* code (negative).
 */
int32_t classify_prepare(const uint8_t *jpeg, size_t len, float *nchw);

/* Index of the largest score. */
int32_t classify_argmax(const float *scores, int32_t n);

/*
 * Write "classification.json": {"class", "label", "top" (up to 5, best first), "scores"};
 * labels from the optional "labels" mount. Returns 0 or a negative code.
 */
int32_t classify_write_result(const float *scores, int32_t classes, int32_t best);

#endif
