/*
 * poly-client — asks for the roots of a quadratic over pub/sub.
 *
 * Freestanding C (no libc).  Host imports (module "pubsub", each returns 0 on
 * success; a topic the deployment does not grant fails the call instead):
 *   publish(topic_ptr, topic_len, data_ptr, data_len) -> i32
 *   subscribe(topic_ptr, topic_len) -> i32
 *
 * Exports:
 *   solve(a: f64, b: f64, c: f64) -> i32
 *       Subscribes to "poly/roots" (first, so that the answer cannot be
 *       missed), forgets any earlier roots, and publishes a, b, c as three
 *       little-endian f64 (24 bytes) to "poly/request".  Returns 0, or the
 *       first non-zero code an import returned.
 *   on_message(topic_ptr, topic_len, data_ptr, data_len)
 *       A message on "poly/roots" is the 24 request bytes followed by 0, 1 or
 *       2 roots (little-endian f64, largest first).  When the coefficients are
 *       those of the last solve, the roots are kept; anything else is ignored.
 *   root_count() -> i32
 *       How many real roots the answer had (0, 1 or 2), or -1 while no answer
 *       to the last solve has arrived.
 *   root1() -> f64, root2() -> f64
 *       The first (largest) and second root, NaN when there is none.
 *   alloc(len) -> ptr
 *       Where the host places a message's topic and data.  A bump allocator
 *       whose space on_message gives back when it returns.
 */
#include <stddef.h>
#include <stdint.h>

#include "bump_alloc.h"
#include "pubsub.h"

static const char REQUEST[] = "poly/request";
static const char ROOTS[] = "poly/roots";

static double load_f64(const unsigned char *src) {
    union { uint64_t bits; double value; } u = { 0 };
    for (unsigned i = 0; i < 8; i++) {
        u.bits |= (uint64_t)src[i] << (8u * i);
    }
    return u.value;
}

static void store_f64(unsigned char *dst, double value) {
    union { uint64_t bits; double value; } u;
    u.value = value;
    for (unsigned i = 0; i < 8; i++) {
        dst[i] = (unsigned char)(u.bits >> (8u * i));
    }
}

static int same(const unsigned char *a, uint32_t a_len, const char *b, uint32_t b_len) {
    if (a_len != b_len) {
        return 0;
    }
    for (uint32_t i = 0; i < a_len; i++) {
        if (a[i] != (unsigned char)b[i]) {
            return 0;
        }
    }
    return 1;
}

static unsigned char request[24];
static int32_t count = -1;
static double roots[2];

__attribute__((export_name("solve")))
int32_t solve(double a, double b, double c) {
    int32_t rc = pubsub_subscribe(ROOTS, sizeof ROOTS - 1);
    if (rc != 0) {
        return rc;
    }
    store_f64(request, a);
    store_f64(request + 8, b);
    store_f64(request + 16, c);
    count = -1;
    return pubsub_publish(REQUEST, sizeof REQUEST - 1, request, sizeof request);
}

__attribute__((export_name("on_message")))
void on_message(const unsigned char *topic, uint32_t topic_len, const unsigned char *data, uint32_t data_len) {
    if (same(topic, topic_len, ROOTS, sizeof ROOTS - 1) && data_len >= 24 && data_len <= 40 && data_len % 8 == 0) {
        int ours = 1;
        for (unsigned i = 0; i < 24; i++) {
            ours &= data[i] == request[i];
        }
        if (ours) {
            count = (int32_t)((data_len - 24) / 8);
            for (int32_t i = 0; i < count; i++) {
                roots[i] = load_f64(data + 24 + 8 * i);
            }
        }
    }
    /* The topic and data were the only allocations: give their space back. */
    bump_reset();
}

__attribute__((export_name("root_count")))
int32_t root_count(void) {
    return count;
}

__attribute__((export_name("root1")))
double root1(void) {
    return count >= 1 ? roots[0] : __builtin_nan("");
}

__attribute__((export_name("root2")))
double root2(void) {
    return count >= 2 ? roots[1] : __builtin_nan("");
}
