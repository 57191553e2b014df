/*
 * jpeg — a small baseline JPEG decoder (ITU-T T.81), written for LiquidMesh.
 *
 * Supported: sequential DCT with Huffman coding and 8-bit samples (SOF0, and
 * SOF1 when its precision is 8), one (grayscale) or three (YCbCr, or RGB when
 * an Adobe APP14 segment says so) components, sampling factors 1 to 4 in both
 * directions (4:4:4, 4:2:2, 4:4:0, 4:2:0, 4:1:1, ...), interleaved and
 * non-interleaved scans, restart intervals (DRI) and RSTn markers, 8- and
 * 16-bit quantization tables (DQT), Huffman tables (DHT); APPn, COM and other
 * segments are skipped.
 *
 * Output: interleaved 8-bit samples, row by row, top to bottom: RGB for three
 * components (chroma upsampled with centred bilinear interpolation, JFIF
 * YCbCr -> RGB), gray for one.
 *
 * Not supported (each has its own error code): progressive (SOF2/SOF6/SOF10/
 * SOF14), lossless (SOF3), hierarchical (SOF5-7, DHP/EXP), arithmetic coding
 * (SOF9-15, DAC), precisions other than 8 bits, 2 or 4 (CMYK) components, and
 * frames whose height is only given by a DNL marker.
 *
 * A stream that ends early is JPEG_ERR_TRUNCATED; missing EOI is tolerated
 * once every component has been decoded.  The decoder never reads outside
 * [data, data + len) and never traps on bad input: every failure is a
 * negative return code.
 */
#ifndef LIQUIDMESH_JPEG_H
#define LIQUIDMESH_JPEG_H

#include <stddef.h>
#include <stdint.h>

/* Return codes of jpeg_decode: 0 on success, otherwise one of these. */
#define JPEG_OK                      0
#define JPEG_ERR_ARGUMENT           -1  /* data or out is NULL */
#define JPEG_ERR_NOT_JPEG           -2  /* does not start with SOI (FF D8) */
#define JPEG_ERR_TRUNCATED          -3  /* the data ends before the image does */
#define JPEG_ERR_CORRUPT            -4  /* malformed segment or entropy-coded data */
#define JPEG_ERR_PROGRESSIVE        -5  /* progressive DCT (SOF2, SOF6, SOF10, SOF14) */
#define JPEG_ERR_ARITHMETIC         -6  /* arithmetic coding (SOF9-SOF15, DAC) */
#define JPEG_ERR_PRECISION          -7  /* sample precision other than 8 bits (e.g. 12-bit) */
#define JPEG_ERR_LOSSLESS           -8  /* lossless (SOF3) or hierarchical (SOF5-7, DHP, EXP) */
#define JPEG_ERR_COMPONENTS         -9  /* neither 1 nor 3 components (e.g. CMYK) */
#define JPEG_ERR_SAMPLING          -10  /* sampling factors outside 1..4 or more than 10 blocks per MCU */
#define JPEG_ERR_DNL               -11  /* height 0 in the frame header (defined later by DNL) */
#define JPEG_ERR_TOO_LARGE         -12  /* pixel buffer size would not fit in size_t */
#define JPEG_ERR_NO_MEMORY         -13  /* malloc failed */
#define JPEG_ERR_NO_FRAME          -14  /* no frame header (SOF) before the first scan or EOI */
#define JPEG_ERR_MISSING_TABLE     -15  /* a scan uses a quantization or Huffman table never defined */

/* A decoded image.  pixels holds height rows of width * channels bytes. */
typedef struct jpeg_image {
    uint32_t width;
    uint32_t height;
    uint32_t channels; /* 3 (R, G, B) or 1 (gray) */
    uint8_t *pixels;   /* allocated with malloc; release with jpeg_free */
} jpeg_image;

/*
 * Decode the JPEG file in data[0 .. len).  On success returns JPEG_OK and
 * fills *out; on failure returns a negative JPEG_ERR_* code and leaves *out
 * zeroed (nothing to free).
 */
int jpeg_decode(const uint8_t *data, size_t len, jpeg_image *out);

/* Free the pixels of an image filled by jpeg_decode and zero it.  NULL is fine. */
void jpeg_free(jpeg_image *image);

/* A short English description of a return code of jpeg_decode (never NULL). */
const char *jpeg_error_string(int code);

#endif
