/*
 * png — write 8-bit grayscale or RGB images as PNG files, written for
 * LiquidMesh.
 *
 * The image data is a zlib stream of stored (uncompressed) deflate blocks
 * (RFC 1950/1951), every scanline with filter type 0, in a single IDAT chunk;
 * chunk CRCs are CRC-32 (ISO 3309) and the zlib trailer is Adler-32.  No
 * compression, so the file is a little larger than the raw pixels, but the
 * encoder is tiny and fast.
 */
#ifndef LIQUIDMESH_PNG_H
#define LIQUIDMESH_PNG_H

#include <stddef.h>
#include <stdint.h>

#define PNG_OK              0
#define PNG_ERR_ARGUMENT   -1 /* NULL pointer, zero or > 2^31-1 dimension, channels not 1 or 3 */
#define PNG_ERR_TOO_LARGE  -2 /* the file would not fit in size_t or in one chunk */
#define PNG_ERR_NO_MEMORY  -3 /* malloc failed */

/*
 * Exact size in bytes of the PNG png_encode writes for such an image, or 0 if
 * the arguments are invalid or the size would not fit.
 */
size_t png_encoded_size(uint32_t width, uint32_t height, unsigned channels);

/*
 * Encode height rows of width * channels bytes (channels 1: gray, colour type
 * 0; channels 3: R, G, B, colour type 2; 8 bits per sample) as a PNG.  On
 * success returns PNG_OK, *out points to png_encoded_size(...) bytes
 * allocated with malloc (release with free) and *out_len holds that size.
 */
int png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, unsigned channels,
               uint8_t **out, size_t *out_len);

/* Like png_encode, but into a caller's buffer of at least png_encoded_size(...) bytes. */
int png_encode_into(const uint8_t *pixels, uint32_t width, uint32_t height, unsigned channels,
                    uint8_t *out, size_t capacity);

/* CRC-32 (polynomial 0xEDB88320, reflected) of data, continuing from crc (0 to start). */
uint32_t png_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* Adler-32 of data, continuing from adler (1 to start). */
uint32_t png_adler32(uint32_t adler, const uint8_t *data, size_t len);

#endif
