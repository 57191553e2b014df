/*
 * poly-server — solves quadratic equations sent over pub/sub.
 *
 * Freestanding C (no libc).  Host imports (module "pubsub", each returns 0 on
 * success; a topic the deployment does not grant fails the call instead):
 *   publish(topic_ptr, topic_len, data_ptr, data_len) -> i32
 *   subscribe(topic_ptr, topic_len) -> i32
 *
 * Exports:
 *   start() -> i32
 *       Subscribes to "poly/request" and returns what subscribe returned.
 *   on_message(topic_ptr, topic_len, data_ptr, data_len)
 *       Called by the host for each message on a subscribed topic.  A message
 *       on "poly/request" of exactly 24 bytes holds the coefficients a, b, c of
 *       a·x² + b·x + c as three little-endian f64.  The module computes the real
 *       roots and publishes to "poly/roots" the same 24 bytes followed by the
 *       roots as little-endian f64, largest first: 2 roots when the
 *       discriminant is positive, 1 when it is zero (or a = 0 and b ≠ 0: the
 *       linear equation), none otherwise.  Other messages are ignored.
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

/* Real roots of a·x² + b·x + c, largest first; returns how many (0, 1 or 2). */
static unsigned solve(double a, double b, double c, double roots[2]) {
    if (a == 0.0) {
        if (b == 0.0) {
            return 0;
        }
        roots[0] = -c / b;
        return 1;
    }
    double d = b * b - 4.0 * a * c;
    if (d < 0.0 || d != d) {
        return 0;
    }
    if (d == 0.0) {
        roots[0] = -b / (2.0 * a);
        return 1;
    }
    /* The stable form: q has the sign of b, so no cancellation in b + sqrt(d). */
    double s = __builtin_sqrt(d);
    double q = -0.5 * (b < 0.0 ? b - s : b + s);
    double x1 = q / a;
    double x2 = c / q;
    roots[0] = x1 > x2 ? x1 : x2;
    roots[1] = x1 > x2 ? x2 : x1;
    return 2;
}

static unsigned char answer[24 + 16];

__attribute__((export_name("start")))
int32_t start(void) {
    return pubsub_subscribe(REQUEST, sizeof REQUEST - 1);
}

__attribute__((export_name("on_message")))
void on_message(const unsigned char *topic, uint32_t topic_len, const unsigned char *data, uint32_t data_len) {
    if (same(topic, topic_len, REQUEST, sizeof REQUEST - 1) && data_len == 24) {
        double roots[2];
        unsigned n = solve(load_f64(data), load_f64(data + 8), load_f64(data + 16), roots);
        for (unsigned i = 0; i < 24; i++) {
            answer[i] = data[i];
        }
        for (unsigned i = 0; i < n; i++) {
            store_f64(answer + 24 + 8 * i, roots[i]);
        }
        pubsub_publish(ROOTS, sizeof ROOTS - 1, answer, 24 + 8 * n);
    }
    /* The topic and data were the only allocations: give their space back. */
    bump_reset();
}
