/*
 * png — PNG writer with stored deflate blocks; see png.h.
 *
 * Layout of the file:
 *   signature (8) | IHDR chunk (12 + 13) | IDAT chunk (12 + zlib) | IEND chunk (12)
 * and of the zlib stream inside IDAT:
 *   CMF FLG (2) | stored blocks, each: BFINAL/BTYPE (1), LEN (2, LE), NLEN (2, LE),
 *   LEN bytes | Adler-32 of the uncompressed data (4, BE)
 * The uncompressed data is height scanlines of one filter byte (0, None) and
 * width * channels samples.
 */
#include "png.h"

#include <stdlib.h>
#include <string.h>

#define STORED_MAX 65535u /* largest stored block */
#define CHUNK_MAX 0x7FFFFFFFu

static const uint8_t SIGNATURE[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };

static uint32_t crc_table[256];
static int crc_ready;

uint32_t png_crc32(uint32_t crc, const uint8_t *data, size_t len) {
    if (!crc_ready) {
        for (uint32_t n = 0; n < 256; n++) {
            uint32_t c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[n] = c;
        }
        crc_ready = 1;
    }
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint32_t png_adler32(uint32_t adler, const uint8_t *data, size_t len) {
    uint32_t a = adler & 0xFFFF, b = adler >> 16;
    while (len > 0) {
        /* 5552 is the most bytes that cannot overflow b before the modulo (zlib's NMAX). */
        size_t n = len < 5552 ? len : 5552;
        len -= n;
        while (n--) {
            a += *data++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return (b << 16) | a;
}

/* Uncompressed size (scanlines with filter bytes) and zlib stream size, 0 when invalid. */
static uint64_t raw_size(uint32_t width, uint32_t height, unsigned channels) {
    if (width == 0 || height == 0 || width > CHUNK_MAX || height > CHUNK_MAX) return 0;
    if (channels != 1 && channels != 3) return 0;
    return ((uint64_t)width * channels + 1) * height;
}

static uint64_t zlib_size(uint64_t raw) {
    uint64_t blocks = (raw + STORED_MAX - 1) / STORED_MAX;
    return 2 + raw + 5 * blocks + 4;
}

size_t png_encoded_size(uint32_t width, uint32_t height, unsigned channels) {
    uint64_t raw = raw_size(width, height, channels);
    if (raw == 0) return 0;
    uint64_t zlib = zlib_size(raw);
    if (zlib > CHUNK_MAX) return 0;
    uint64_t total = 8 + (12 + 13) + (12 + zlib) + 12;
    return total > SIZE_MAX ? 0 : (size_t)total;
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* Write length and type of a chunk whose data follows; returns where the data goes. */
static uint8_t *chunk_start(uint8_t *p, uint32_t length, const char type[4]) {
    p = put32(p, length);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)type[i];
    return p + 4;
}

/* Append the CRC of type and data to a chunk that starts at chunk, data ending at p. */
static uint8_t *chunk_end(uint8_t *chunk, uint8_t *p) {
    return put32(p, png_crc32(0, chunk + 4, (size_t)(p - chunk - 4)));
}

int png_encode_into(const uint8_t *pixels, uint32_t width, uint32_t height, unsigned channels,
                    uint8_t *out, size_t capacity) {
    if (!pixels || !out) return PNG_ERR_ARGUMENT;
    uint64_t raw = raw_size(width, height, channels);
    if (raw == 0) return PNG_ERR_ARGUMENT;
    size_t total = png_encoded_size(width, height, channels);
    if (total == 0) return PNG_ERR_TOO_LARGE;
    if (capacity < total) return PNG_ERR_ARGUMENT;

    uint8_t *p = out;
    for (int i = 0; i < 8; i++) *p++ = SIGNATURE[i];

    uint8_t *chunk = p;
    p = chunk_start(p, 13, "IHDR");
    p = put32(p, width);
    p = put32(p, height);
    *p++ = 8;                       /* bit depth */
    *p++ = channels == 1 ? 0 : 2;   /* colour type: gray or truecolour */
    *p++ = 0;                       /* compression: deflate */
    *p++ = 0;                       /* filter method 0 */
    *p++ = 0;                       /* no interlace */
    p = chunk_end(chunk, p);

    chunk = p;
    p = chunk_start(p, (uint32_t)zlib_size(raw), "IDAT");
    *p++ = 0x78; /* CMF: deflate, 32 KiB window */
    *p++ = 0x01; /* FLG: no dictionary, fastest; (0x78 * 256 + 0x01) % 31 == 0 */
    size_t row_bytes = (size_t)width * channels;
    uint32_t adler = 1;
    uint64_t left = raw;        /* uncompressed bytes still to write */
    uint32_t block_left = 0;    /* bytes left in the current stored block */
    uint32_t y = 0;
    size_t x = 0;               /* position in the current scanline; 0 means the filter byte is next */
    int filter_pending = 1;
    while (left > 0) {
        if (block_left == 0) {
            block_left = left < STORED_MAX ? (uint32_t)left : STORED_MAX;
            *p++ = left == block_left ? 1 : 0; /* BFINAL on the last block, BTYPE 00 */
            *p++ = (uint8_t)block_left;
            *p++ = (uint8_t)(block_left >> 8);
            *p++ = (uint8_t)~block_left;
            *p++ = (uint8_t)(~block_left >> 8);
        }
        if (filter_pending) {
            *p = 0;
            adler = png_adler32(adler, p, 1);
            p++;
            block_left--;
            left--;
            filter_pending = 0;
            continue;
        }
        size_t n = row_bytes - x;
        if (n > block_left) n = block_left;
        const uint8_t *src = pixels + (size_t)y * row_bytes + x;
        memcpy(p, src, n);
        adler = png_adler32(adler, src, n);
        p += n;
        x += n;
        block_left -= (uint32_t)n;
        left -= n;
        if (x == row_bytes) {
            x = 0;
            y++;
            filter_pending = 1;
        }
    }
    p = put32(p, adler);
    p = chunk_end(chunk, p);

    chunk = p;
    p = chunk_start(p, 0, "IEND");
    p = chunk_end(chunk, p);
    return PNG_OK;
}

int png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, unsigned channels,
               uint8_t **out, size_t *out_len) {
    if (!out || !out_len) return PNG_ERR_ARGUMENT;
    *out = NULL;
    *out_len = 0;
    if (!pixels || raw_size(width, height, channels) == 0) return PNG_ERR_ARGUMENT;
    size_t total = png_encoded_size(width, height, channels);
    if (total == 0) return PNG_ERR_TOO_LARGE;
    uint8_t *buffer = malloc(total);
    if (!buffer) return PNG_ERR_NO_MEMORY;
    int err = png_encode_into(pixels, width, height, channels, buffer, total);
    if (err) {
        free(buffer);
        return err;
    }
    *out = buffer;
    *out_len = total;
    return PNG_OK;
}
