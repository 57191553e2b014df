/*
 * jpeg — a small baseline JPEG decoder (ITU-T T.81); see jpeg.h for what it
 * accepts.  Stages, in the order a file is decoded:
 *
 *   1. Marker parsing (B.1.1): SOI, then segments until EOI.  Tables (DQT,
 *      DHT), the restart interval (DRI) and the frame header (SOF) are kept in
 *      a decoder context; APPn, COM and unknown segments are skipped, except
 *      Adobe APP14, whose transform flag tells RGB from YCbCr.
 *   2. Each scan (SOS) is Huffman-decoded (F.2.2) block by block, in MCU order
 *      (A.2); each block is dequantized, inverse-transformed (A.3.3) and its
 *      64 samples stored in its component's plane.  Component planes are sized
 *      in whole MCUs, so edge blocks never need clipping.
 *   3. When the file ends, the planes are upsampled to full resolution
 *      (centred bilinear interpolation, so a 4:2:0 chroma sample sits midway
 *      between its luma samples as JFIF places it) and converted to RGB.
 *
 * Entropy-coded data is read through a bit reader that removes stuffed zero
 * bytes and stops at the first marker or at the end of the buffer; past that
 * point it supplies zero bits and counts them, so that consuming any of them
 * is detected after each MCU and reported as truncated (buffer ended) or
 * corrupt (a marker came too early) data.
 */
#include "jpeg.h"

#include <stdlib.h>
#include <string.h>

#define MAX_COMPONENTS 3
#define MAX_BLOCKS_PER_MCU 10 /* B.2.3 */
#define FAST_BITS 9           /* Huffman codes up to this length decode with one lookup */

/* ------------------------------------------------------------ tables */

/* ZIGZAG[k] is the row-major index of the k-th coefficient in zig-zag order
   (T.81 Figure 5), IDCT_M[x][u] = C(u)/2 * cos((2x+1)u*pi/16) with
   C(0) = 1/sqrt(2), C(u) = 1 otherwise.  Both are filled by tables_init. */
static uint8_t ZIGZAG[64];
static float IDCT_M[8][8];
static int tables_ready;

/* cos(k*pi/16) for k = 0..8; every cosine the IDCT needs is one of these up to sign. */
static const float COS16[9] = {
    1.0f, 0.98078528040323044913f, 0.92387953251128675613f, 0.83146961230254523708f,
    0.70710678118654752440f, 0.55557023301960222474f, 0.38268343236508977173f,
    0.19509032201612826785f, 0.0f,
};

/* cos(m*pi/16) for any m >= 0, folded into [0, pi/2] by symmetry. */
static float cos16(unsigned m) {
    m %= 32;
    if (m <= 8) return COS16[m];
    if (m <= 16) return -COS16[16 - m];
    if (m <= 24) return -COS16[m - 16];
    return COS16[32 - m];
}

static void tables_init(void) {
    if (tables_ready) return;
    /* Walk the 15 anti-diagonals; even ones run upwards (bottom-left to top-right). */
    unsigned k = 0;
    for (int sum = 0; sum < 15; sum++) {
        int lo = sum < 8 ? 0 : sum - 7;
        int hi = sum < 8 ? sum : 7;
        for (int i = 0; i <= hi - lo; i++) {
            int row = (sum % 2 == 0) ? hi - i : lo + i;
            ZIGZAG[k++] = (uint8_t)(row * 8 + (sum - row));
        }
    }
    for (unsigned x = 0; x < 8; x++) {
        for (unsigned u = 0; u < 8; u++) {
            float c = u == 0 ? COS16[4] : 1.0f; /* 1/sqrt(2) = cos(pi/4) */
            IDCT_M[x][u] = 0.5f * c * cos16((2 * x + 1) * u);
        }
    }
    tables_ready = 1;
}

/* ------------------------------------------------------------ decoder state */

typedef struct huffman {
    /* (length << 8) | symbol for every FAST_BITS-bit prefix that starts with a
       code of at most FAST_BITS bits; 0 otherwise. */
    uint16_t fast[1 << FAST_BITS];
    int32_t maxcode[17]; /* largest code of each length, -1 when there is none */
    int32_t delta[17];   /* symbols[code + delta[length]] is the code's symbol */
    uint8_t symbols[256];
    uint8_t defined;
} huffman;

typedef struct component {
    uint8_t id;
    uint8_t h, v;     /* sampling factors */
    uint8_t tq;       /* quantization table */
    uint8_t td, ta;   /* DC and AC Huffman tables of the current scan */
    uint8_t scanned;
    int32_t pred;     /* DC predictor */
    uint32_t comp_w, comp_h;     /* samples that belong to the image (A.1.1) */
    uint32_t blocks_w, blocks_h; /* blocks a non-interleaved scan covers */
    uint32_t plane_w, plane_h;   /* plane size: whole MCUs */
    uint8_t *plane;
} component;

typedef struct decoder {
    const uint8_t *data;
    size_t len;

    uint16_t qt[4][64]; /* zig-zag order, as DQT sends them */
    uint8_t qt_defined[4];
    huffman dc[4], ac[4];
    uint32_t restart_interval;
    int adobe_transform; /* -1: no Adobe APP14 segment seen */

    int frame;
    uint32_t width, height;
    unsigned ncomp, hmax, vmax;
    uint32_t mcus_x, mcus_y;
    component comp[MAX_COMPONENTS];

    /* bit reader over entropy-coded data */
    const uint8_t *p, *end;
    uint32_t bits;   /* next bits, most significant first */
    int nbits;       /* valid bits in `bits` (including fake ones) */
    int fake;        /* how many of the low valid bits were invented */
    int marker;      /* marker code that stopped the reader, 0 if none */
    int hit_end;     /* the reader ran off the end of the data */
} decoder;

static uint32_t be16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }

/* ------------------------------------------------------------ bit reader */

static void reader_start(decoder *d, size_t pos) {
    d->p = d->data + pos;
    d->end = d->data + d->len;
    d->bits = 0;
    d->nbits = 0;
    d->fake = 0;
    d->marker = 0;
    d->hit_end = 0;
}

/* Top the buffer up to more than 24 bits. */
static void reader_fill(decoder *d) {
    while (d->nbits <= 24) {
        uint32_t byte = 0;
        int real = 0;
        while (!d->marker && d->p < d->end) {
            if (d->p[0] != 0xFF) {
                byte = *d->p++;
                real = 1;
                break;
            }
            if (d->p + 1 >= d->end) { /* a lone 0xFF as the last byte */
                d->p = d->end;
                break;
            }
            uint8_t next = d->p[1];
            if (next == 0x00) { /* stuffed: the 0xFF is data */
                byte = 0xFF;
                d->p += 2;
                real = 1;
                break;
            }
            if (next == 0xFF) { /* fill byte before a marker */
                d->p++;
                continue;
            }
            d->marker = next; /* stay on the 0xFF */
        }
        if (!real) {
            if (!d->marker) d->hit_end = 1;
            d->fake += 8;
        }
        d->bits |= byte << (24 - d->nbits);
        d->nbits += 8;
    }
}

/* Bits consumed past the end of the real data. */
static int reader_overrun(const decoder *d) { return d->fake > d->nbits; }

static int huff_decode(decoder *d, const huffman *t) {
    if (d->nbits < 16) reader_fill(d);
    uint16_t f = t->fast[d->bits >> (32 - FAST_BITS)];
    if (f) {
        int length = f >> 8;
        d->bits <<= length;
        d->nbits -= length;
        return f & 0xFF;
    }
    for (int length = FAST_BITS + 1; length <= 16; length++) {
        int32_t code = (int32_t)(d->bits >> (32 - length));
        if (code <= t->maxcode[length]) {
            d->bits <<= length;
            d->nbits -= length;
            return t->symbols[code + t->delta[length]];
        }
    }
    return -1;
}

/* RECEIVE(s) followed by EXTEND (F.2.2.1), 1 <= s <= 16. */
static int32_t receive_extend(decoder *d, int s) {
    if (d->nbits < s) reader_fill(d);
    uint32_t v = d->bits >> (32 - s);
    d->bits <<= s;
    d->nbits -= s;
    if (v < (1u << (s - 1))) return (int32_t)v - (int32_t)(1u << s) + 1;
    return (int32_t)v;
}

/* ------------------------------------------------------------ segments */

static int build_huffman(huffman *t, const uint8_t counts[16], const uint8_t *symbols, unsigned total) {
    memset(t, 0, sizeof *t);
    memcpy(t->symbols, symbols, total);
    uint32_t code = 0;
    unsigned k = 0;
    for (int length = 1; length <= 16; length++) {
        unsigned n = counts[length - 1];
        t->delta[length] = (int32_t)k - (int32_t)code;
        for (unsigned i = 0; i < n; i++, code++, k++) {
            if (code >= (1u << length)) return JPEG_ERR_CORRUPT; /* more codes than fit */
            if (length <= FAST_BITS) {
                unsigned shift = FAST_BITS - length;
                uint16_t entry = (uint16_t)((length << 8) | symbols[k]);
                for (uint32_t j = 0; j < (1u << shift); j++) t->fast[(code << shift) | j] = entry;
            }
        }
        t->maxcode[length] = n ? (int32_t)code - 1 : -1;
        code <<= 1;
    }
    t->defined = 1;
    return JPEG_OK;
}

static int parse_dht(decoder *d, const uint8_t *s, size_t n) {
    while (n > 0) {
        if (n < 17) return JPEG_ERR_CORRUPT;
        unsigned tc = s[0] >> 4, th = s[0] & 15;
        if (tc > 1 || th > 3) return JPEG_ERR_CORRUPT;
        unsigned total = 0;
        for (int i = 0; i < 16; i++) total += s[1 + i];
        if (total > 256 || n < 17 + (size_t)total) return JPEG_ERR_CORRUPT;
        int err = build_huffman(tc ? &d->ac[th] : &d->dc[th], s + 1, s + 17, total);
        if (err) return err;
        s += 17 + total;
        n -= 17 + total;
    }
    return JPEG_OK;
}

static int parse_dqt(decoder *d, const uint8_t *s, size_t n) {
    while (n > 0) {
        unsigned pq = s[0] >> 4, tq = s[0] & 15;
        if (pq > 1 || tq > 3) return JPEG_ERR_CORRUPT;
        size_t size = 1 + 64 * (pq + 1);
        if (n < size) return JPEG_ERR_CORRUPT;
        for (int k = 0; k < 64; k++) d->qt[tq][k] = (uint16_t)(pq ? be16(s + 1 + 2 * k) : s[1 + k]);
        d->qt_defined[tq] = 1;
        s += size;
        n -= size;
    }
    return JPEG_OK;
}

static int parse_sof(decoder *d, const uint8_t *s, size_t n) {
    if (d->frame) return JPEG_ERR_CORRUPT; /* one frame per file */
    if (n < 6) return JPEG_ERR_CORRUPT;
    if (s[0] != 8) return JPEG_ERR_PRECISION;
    uint32_t height = be16(s + 1), width = be16(s + 3);
    unsigned nc = s[5];
    if (n != 6 + 3 * (size_t)nc) return JPEG_ERR_CORRUPT;
    if (nc != 1 && nc != 3) return JPEG_ERR_COMPONENTS;
    if (width == 0) return JPEG_ERR_CORRUPT;
    if (height == 0) return JPEG_ERR_DNL;
    if ((uint64_t)width * height * nc > SIZE_MAX / 2) return JPEG_ERR_TOO_LARGE;

    d->hmax = d->vmax = 1;
    for (unsigned i = 0; i < nc; i++) {
        component *c = &d->comp[i];
        c->id = s[6 + 3 * i];
        c->h = s[7 + 3 * i] >> 4;
        c->v = s[7 + 3 * i] & 15;
        c->tq = s[8 + 3 * i];
        if (c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4) return JPEG_ERR_SAMPLING;
        if (c->tq > 3) return JPEG_ERR_CORRUPT;
        for (unsigned j = 0; j < i; j++) {
            if (d->comp[j].id == c->id) return JPEG_ERR_CORRUPT;
        }
        if (c->h > d->hmax) d->hmax = c->h;
        if (c->v > d->vmax) d->vmax = c->v;
    }
    d->width = width;
    d->height = height;
    d->ncomp = nc;
    d->mcus_x = (width + 8 * d->hmax - 1) / (8 * d->hmax);
    d->mcus_y = (height + 8 * d->vmax - 1) / (8 * d->vmax);
    for (unsigned i = 0; i < nc; i++) {
        component *c = &d->comp[i];
        c->comp_w = (width * c->h + d->hmax - 1) / d->hmax;
        c->comp_h = (height * c->v + d->vmax - 1) / d->vmax;
        c->blocks_w = (c->comp_w + 7) / 8;
        c->blocks_h = (c->comp_h + 7) / 8;
        c->plane_w = d->mcus_x * c->h * 8;
        c->plane_h = d->mcus_y * c->v * 8;
        uint64_t size = (uint64_t)c->plane_w * c->plane_h;
        if (size > SIZE_MAX / 2) return JPEG_ERR_TOO_LARGE;
        c->plane = malloc((size_t)size);
        if (!c->plane) return JPEG_ERR_NO_MEMORY;
        memset(c->plane, 128, (size_t)size); /* mid-gray where no scan writes */
    }
    d->frame = 1;
    return JPEG_OK;
}

/* Adobe APP14: "Adobe", version (2), flags0 (2), flags1 (2), transform (1). */
static void parse_app14(decoder *d, const uint8_t *s, size_t n) {
    if (n >= 12 && memcmp(s, "Adobe", 5) == 0) d->adobe_transform = s[11];
}

/* ------------------------------------------------------------ scans */

static int16_t clamp16(int64_t v) {
    return (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
}

static uint8_t clamp8f(float v) {
    float r = __builtin_floorf(v + 128.5f);
    return (uint8_t)(r <= 0.0f ? 0 : r >= 255.0f ? 255 : (int)r);
}

/* Inverse DCT of a block of dequantized coefficients (row-major) into 8x8
   samples at out, level-shifted by +128 and clamped. */
static void idct_block(const int16_t *coef, int dc_only, uint8_t *out, uint32_t stride) {
    if (dc_only) {
        uint8_t value = clamp8f((float)coef[0] * 0.125f);
        for (int y = 0; y < 8; y++) memset(out + (size_t)y * stride, value, 8);
        return;
    }
    float tmp[64];
    /* Rows: tmp[v][x] = sum over u of M[x][u] * F[v][u]. */
    for (int v = 0; v < 8; v++) {
        const int16_t *row = coef + 8 * v;
        float *t = tmp + 8 * v;
        int ac = row[1] | row[2] | row[3] | row[4] | row[5] | row[6] | row[7];
        if (!ac) {
            float value = IDCT_M[0][0] * (float)row[0];
            for (int x = 0; x < 8; x++) t[x] = value;
            continue;
        }
        for (int x = 0; x < 8; x++) {
            const float *m = IDCT_M[x];
            t[x] = m[0] * row[0] + m[1] * row[1] + m[2] * row[2] + m[3] * row[3]
                 + m[4] * row[4] + m[5] * row[5] + m[6] * row[6] + m[7] * row[7];
        }
    }
    /* Columns: out[y][x] = sum over v of M[y][v] * tmp[v][x]. */
    for (int y = 0; y < 8; y++) {
        const float *m = IDCT_M[y];
        uint8_t *o = out + (size_t)y * stride;
        for (int x = 0; x < 8; x++) {
            float s = m[0] * tmp[x] + m[1] * tmp[8 + x] + m[2] * tmp[16 + x] + m[3] * tmp[24 + x]
                    + m[4] * tmp[32 + x] + m[5] * tmp[40 + x] + m[6] * tmp[48 + x] + m[7] * tmp[56 + x];
            o[x] = clamp8f(s);
        }
    }
}

/* Decode one block of component c (F.2.2.1, F.2.2.2) and store its samples at out. */
static int decode_block(decoder *d, component *c, uint8_t *out) {
    int16_t coef[64];
    memset(coef, 0, sizeof coef);
    const uint16_t *q = d->qt[c->tq];

    int t = huff_decode(d, &d->dc[c->td]);
    if (t < 0 || t > 16) return JPEG_ERR_CORRUPT;
    int32_t diff = t ? receive_extend(d, t) : 0;
    c->pred = (int32_t)((uint32_t)c->pred + (uint32_t)diff); /* wraps instead of overflowing */
    coef[0] = clamp16((int64_t)c->pred * q[0]);

    int dc_only = 1;
    const huffman *ac = &d->ac[c->ta];
    for (int k = 1; k < 64;) {
        int rs = huff_decode(d, ac);
        if (rs < 0) return JPEG_ERR_CORRUPT;
        int r = rs >> 4, s = rs & 15;
        if (s == 0) {
            if (r != 15) break; /* EOB */
            k += 16;            /* ZRL */
            continue;
        }
        k += r;
        if (k > 63) return JPEG_ERR_CORRUPT;
        coef[ZIGZAG[k]] = clamp16((int64_t)receive_extend(d, s) * q[k]);
        dc_only = 0;
        k++;
    }
    idct_block(coef, dc_only, out, c->plane_w);
    return JPEG_OK;
}

/* At a restart interval boundary: skip to the RSTn marker, check its number,
   and reset the predictors and the bit reader (F.2.2.5 / E.2.4). */
static int handle_restart(decoder *d, unsigned expected, const unsigned *scan, unsigned ns) {
    if (!d->marker) {
        /* The buffered bits are padding; anything before the marker is junk. */
        while (d->p < d->end && !(d->p[0] == 0xFF && d->p + 1 < d->end && d->p[1] != 0x00 && d->p[1] != 0xFF)) d->p++;
        if (d->p >= d->end) return JPEG_ERR_TRUNCATED;
        d->marker = d->p[1];
    }
    if (d->marker != 0xD0 + (int)(expected & 7)) return JPEG_ERR_CORRUPT;
    size_t pos = (size_t)(d->p - d->data) + 2;
    reader_start(d, pos);
    for (unsigned i = 0; i < ns; i++) d->comp[scan[i]].pred = 0;
    return JPEG_OK;
}

/* Decode the scan whose header is s[0 .. n); its entropy-coded data starts at
   *pos, which is left at the marker (or end of data) that ends it. */
static int decode_scan(decoder *d, const uint8_t *s, size_t n, size_t *pos) {
    if (n < 1) return JPEG_ERR_CORRUPT;
    unsigned ns = s[0];
    if (ns < 1 || ns > d->ncomp || n != 4 + 2 * (size_t)ns) return JPEG_ERR_CORRUPT;
    unsigned scan[MAX_COMPONENTS];
    for (unsigned i = 0; i < ns; i++) {
        uint8_t id = s[1 + 2 * i], tables = s[2 + 2 * i];
        unsigned found = d->ncomp;
        for (unsigned j = 0; j < d->ncomp; j++) {
            if (d->comp[j].id == id) found = j;
        }
        if (found == d->ncomp) return JPEG_ERR_CORRUPT;
        for (unsigned j = 0; j < i; j++) {
            if (scan[j] == found) return JPEG_ERR_CORRUPT;
        }
        component *c = &d->comp[found];
        c->td = tables >> 4;
        c->ta = tables & 15;
        if (c->td > 3 || c->ta > 3) return JPEG_ERR_CORRUPT;
        if (!d->dc[c->td].defined || !d->ac[c->ta].defined || !d->qt_defined[c->tq]) return JPEG_ERR_MISSING_TABLE;
        scan[i] = found;
    }
    const uint8_t *spectral = s + 1 + 2 * ns;
    if (spectral[0] != 0 || spectral[1] != 63 || spectral[2] != 0) return JPEG_ERR_CORRUPT;

    uint32_t mcus_x, mcus_y;
    if (ns == 1) {
        mcus_x = d->comp[scan[0]].blocks_w;
        mcus_y = d->comp[scan[0]].blocks_h;
    } else {
        unsigned blocks = 0;
        for (unsigned i = 0; i < ns; i++) blocks += d->comp[scan[i]].h * d->comp[scan[i]].v;
        if (blocks > MAX_BLOCKS_PER_MCU) return JPEG_ERR_SAMPLING;
        mcus_x = d->mcus_x;
        mcus_y = d->mcus_y;
    }

    for (unsigned i = 0; i < ns; i++) d->comp[scan[i]].pred = 0;
    reader_start(d, *pos);
    uint32_t done = 0;
    unsigned next_rst = 0;
    for (uint32_t my = 0; my < mcus_y; my++) {
        for (uint32_t mx = 0; mx < mcus_x; mx++, done++) {
            if (d->restart_interval && done > 0 && done % d->restart_interval == 0) {
                int err = handle_restart(d, next_rst++, scan, ns);
                if (err) return err;
            }
            for (unsigned i = 0; i < ns; i++) {
                component *c = &d->comp[scan[i]];
                unsigned bh = ns == 1 ? 1 : c->h, bv = ns == 1 ? 1 : c->v;
                for (unsigned by = 0; by < bv; by++) {
                    for (unsigned bx = 0; bx < bh; bx++) {
                        size_t row = ((size_t)my * bv + by) * 8;
                        size_t col = ((size_t)mx * bh + bx) * 8;
                        int err = decode_block(d, c, c->plane + row * c->plane_w + col);
                        if (err) return d->hit_end ? JPEG_ERR_TRUNCATED : err;
                    }
                }
            }
            if (reader_overrun(d)) return d->hit_end ? JPEG_ERR_TRUNCATED : JPEG_ERR_CORRUPT;
        }
    }
    for (unsigned i = 0; i < ns; i++) d->comp[scan[i]].scanned = 1;
    *pos = (size_t)(d->p - d->data);
    return JPEG_OK;
}

/* ------------------------------------------------------------ output */

static uint8_t clamp8(int32_t v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Where output column x samples a component with factor f of fmax, whose
   real width is size: position (x + 1/2) * f / fmax - 1/2, as a whole part
   and a fraction in 256ths, clamped to the component's edges. */
static void sample_position(uint32_t x, unsigned f, unsigned fmax, uint32_t size, uint32_t *whole, uint32_t *frac) {
    int64_t num = (int64_t)(2 * (int64_t)x + 1) * f - fmax;
    uint32_t den = 2 * fmax;
    if (num <= 0) {
        *whole = 0;
        *frac = 0;
        return;
    }
    *whole = (uint32_t)(num / den);
    *frac = (uint32_t)((num % den) * 256 / den);
    if (*whole >= size - 1) {
        *whole = size - 1;
        *frac = 0;
    }
}

/* Fill row y of the full-resolution version of component c into out[width].
   Bilinear and separable: each of the component's columns is blended between its two
   rows once (into blend[], which holds comp_w values), then each output sample between
   two blended columns; the same integers as blending the four samples per output. */
static void upsample_row(const decoder *d, const component *c, uint32_t y, const uint32_t *xw, const uint8_t *xf, uint32_t *blend, uint8_t *out) {
    if (c->h == d->hmax && c->v == d->vmax) {
        memcpy(out, c->plane + (size_t)y * c->plane_w, d->width);
        return;
    }
    uint32_t yw, yf;
    sample_position(y, c->v, d->vmax, c->comp_h, &yw, &yf);
    const uint8_t *top = c->plane + (size_t)yw * c->plane_w;
    const uint8_t *bottom = yf ? top + c->plane_w : top;
    for (uint32_t i = 0; i < c->comp_w; i++) blend[i] = top[i] * (256 - yf) + bottom[i] * yf;
    for (uint32_t x = 0; x < d->width; x++) {
        uint32_t a = xw[x], f = xf[x], b = f ? a + 1 : a;
        out[x] = (uint8_t)((blend[a] * (256 - f) + blend[b] * f + 32768) >> 16);
    }
}

static int produce_output(decoder *d, jpeg_image *out) {
    uint32_t w = d->width, h = d->height;
    unsigned channels = d->ncomp == 1 ? 1 : 3;
    size_t stride = (size_t)w * channels;
    uint8_t *pixels = malloc(stride * h);
    if (!pixels) return JPEG_ERR_NO_MEMORY;

    if (channels == 1) {
        for (uint32_t y = 0; y < h; y++) upsample_row(d, &d->comp[0], y, NULL, NULL, NULL, pixels + y * stride);
    } else {
        /* Per component: a row buffer and the horizontal sample positions; one blend row. */
        uint32_t *whole = malloc((size_t)w * 3 * (4 + 1 + 1));
        uint32_t *blend = malloc((size_t)w * sizeof *blend);
        if (!whole || !blend) {
            free(whole);
            free(blend);
            free(pixels);
            return JPEG_ERR_NO_MEMORY;
        }
        uint8_t *frac = (uint8_t *)(whole + (size_t)w * 3);
        uint8_t *rows = frac + (size_t)w * 3;
        for (unsigned i = 0; i < 3; i++) {
            const component *c = &d->comp[i];
            for (uint32_t x = 0; x < w; x++) {
                uint32_t xw, xf;
                sample_position(x, c->h, d->hmax, c->comp_w, &xw, &xf);
                whole[i * w + x] = xw;
                frac[i * w + x] = (uint8_t)xf;
            }
        }
        /* RGB if Adobe says "no transform", or without Adobe if the ids spell R, G, B. */
        int rgb = d->adobe_transform == 0 ||
                  (d->adobe_transform < 0 && d->comp[0].id == 'R' && d->comp[1].id == 'G' && d->comp[2].id == 'B');
        for (uint32_t y = 0; y < h; y++) {
            for (unsigned i = 0; i < 3; i++) upsample_row(d, &d->comp[i], y, whole + i * w, frac + i * w, blend, rows + i * w);
            const uint8_t *c0 = rows, *c1 = rows + w, *c2 = rows + 2 * w;
            uint8_t *o = pixels + y * stride;
            if (rgb) {
                for (uint32_t x = 0; x < w; x++, o += 3) {
                    o[0] = c0[x];
                    o[1] = c1[x];
                    o[2] = c2[x];
                }
                continue;
            }
            /* JFIF YCbCr -> RGB, 16-bit fixed point:
               R = Y + 1.402 Cr', G = Y - 0.344136 Cb' - 0.714136 Cr', B = Y + 1.772 Cb'. */
            for (uint32_t x = 0; x < w; x++, o += 3) {
                int32_t yy = ((int32_t)c0[x] << 16) + 32768;
                int32_t cb = (int32_t)c1[x] - 128, cr = (int32_t)c2[x] - 128;
                o[0] = clamp8((yy + 91881 * cr) >> 16);
                o[1] = clamp8((yy - 22554 * cb - 46802 * cr) >> 16);
                o[2] = clamp8((yy + 116130 * cb) >> 16);
            }
        }
        free(whole);
        free(blend);
    }
    out->width = w;
    out->height = h;
    out->channels = channels;
    out->pixels = pixels;
    return JPEG_OK;
}

/* ------------------------------------------------------------ entry points */

static int decode(decoder *d, jpeg_image *out) {
    const uint8_t *data = d->data;
    size_t len = d->len, pos = 2;
    int eoi = 0;
    for (;;) {
        /* Next marker: skip anything that is not 0xFF, then fill bytes. */
        while (pos < len && data[pos] != 0xFF) pos++;
        while (pos < len && data[pos] == 0xFF) pos++;
        if (pos >= len) break;
        unsigned m = data[pos++];
        if (m == 0x00) continue;                   /* a stuffed 0xFF in junk */
        if (m == 0xD9) { eoi = 1; break; }         /* EOI */
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue; /* RSTn, TEM: no length */
        if (len - pos < 2) return JPEG_ERR_TRUNCATED;
        size_t size = be16(data + pos);
        if (size < 2) return JPEG_ERR_CORRUPT;
        if (len - pos < size) return JPEG_ERR_TRUNCATED;
        const uint8_t *s = data + pos + 2;
        size_t n = size - 2;
        pos += size;
        int err = JPEG_OK;
        switch (m) {
        case 0xC0: case 0xC1: err = parse_sof(d, s, n); break;
        case 0xC2: case 0xC6: case 0xCA: case 0xCE: err = JPEG_ERR_PROGRESSIVE; break;
        case 0xC3: case 0xC5: case 0xC7: case 0xDE: case 0xDF: err = JPEG_ERR_LOSSLESS; break;
        case 0xC9: case 0xCB: case 0xCD: case 0xCF: case 0xCC: err = JPEG_ERR_ARITHMETIC; break;
        case 0xC4: err = parse_dht(d, s, n); break;
        case 0xDB: err = parse_dqt(d, s, n); break;
        case 0xDD:
            if (n != 2) return JPEG_ERR_CORRUPT;
            d->restart_interval = be16(s);
            break;
        case 0xDA:
            if (!d->frame) return JPEG_ERR_NO_FRAME;
            err = decode_scan(d, s, n, &pos);
            break;
        case 0xEE: parse_app14(d, s, n); break;
        default: break; /* APPn, COM, DNL, JPGn, ... */
        }
        if (err) return err;
    }
    if (!d->frame) return eoi ? JPEG_ERR_NO_FRAME : JPEG_ERR_TRUNCATED;
    for (unsigned i = 0; i < d->ncomp; i++) {
        if (!d->comp[i].scanned) return eoi ? JPEG_ERR_CORRUPT : JPEG_ERR_TRUNCATED;
    }
    return produce_output(d, out);
}

int jpeg_decode(const uint8_t *data, size_t len, jpeg_image *out) {
    if (!out) return JPEG_ERR_ARGUMENT;
    memset(out, 0, sizeof *out);
    if (!data) return JPEG_ERR_ARGUMENT;
    if ((len >= 1 && data[0] != 0xFF) || (len >= 2 && data[1] != 0xD8)) return JPEG_ERR_NOT_JPEG;
    if (len < 2) return len == 0 ? JPEG_ERR_NOT_JPEG : JPEG_ERR_TRUNCATED;
    tables_init();
    decoder *d = calloc(1, sizeof *d);
    if (!d) return JPEG_ERR_NO_MEMORY;
    d->data = data;
    d->len = len;
    d->adobe_transform = -1;
    int err = decode(d, out);
    for (unsigned i = 0; i < MAX_COMPONENTS; i++) free(d->comp[i].plane);
    free(d);
    if (err) memset(out, 0, sizeof *out);
    return err;
}

void jpeg_free(jpeg_image *image) {
    if (!image) return;
    free(image->pixels);
    memset(image, 0, sizeof *image);
}

const char *jpeg_error_string(int code) {
    switch (code) {
    case JPEG_OK: return "ok";
    case JPEG_ERR_ARGUMENT: return "invalid argument";
    case JPEG_ERR_NOT_JPEG: return "not a JPEG file (no SOI marker)";
    case JPEG_ERR_TRUNCATED: return "truncated JPEG data";
    case JPEG_ERR_CORRUPT: return "corrupt JPEG data";
    case JPEG_ERR_PROGRESSIVE: return "progressive JPEG is not supported";
    case JPEG_ERR_ARITHMETIC: return "arithmetic-coded JPEG is not supported";
    case JPEG_ERR_PRECISION: return "only 8-bit sample precision is supported";
    case JPEG_ERR_LOSSLESS: return "lossless and hierarchical JPEG are not supported";
    case JPEG_ERR_COMPONENTS: return "only 1- and 3-component JPEG is supported";
    case JPEG_ERR_SAMPLING: return "unsupported sampling factors";
    case JPEG_ERR_DNL: return "height defined by DNL is not supported";
    case JPEG_ERR_TOO_LARGE: return "image too large";
    case JPEG_ERR_NO_MEMORY: return "out of memory";
    case JPEG_ERR_NO_FRAME: return "no frame header (SOF) before scan or end";
    case JPEG_ERR_MISSING_TABLE: return "scan uses an undefined quantization or Huffman table";
    default: return "unknown error";
    }
}
