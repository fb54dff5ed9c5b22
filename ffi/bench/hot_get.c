/*
 * The C side of scripts/bench-c.sh: a hot get of a 1 KiB value through the C
 * ABI, in the same set-up as the Rust side (ffi/bench/hot_get.rs):
 * N 16-byte keys "h%015u", all in the hot tier, visited in the same shuffled
 * order. Prints one line per variant: "<name> <median ns/op> <fastest ns/op>"
 * over the rounds (the fastest round is the figure least disturbed by other
 * work on a shared machine).
 *
 * usage: hot_get DIR KEYS ITERS_PER_ROUND ROUNDS
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sturdycache.h>

static void die(const char *what, sturdy_status s) {
    fprintf(stderr, "%s failed: %s: %s\n", what, sturdy_status_name((int)s), sturdy_last_error_message());
    exit(1);
}

static unsigned long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* xorshift64*, the same generator as the Rust side, for the same order. */
static unsigned long long rng_state = 2;
static unsigned long long next_rand(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s DIR KEYS ITERS_PER_ROUND ROUNDS\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    size_t n = (size_t)strtoull(argv[2], NULL, 10);
    unsigned long long iters = strtoull(argv[3], NULL, 10);
    int rounds = atoi(argv[4]);
    if (n == 0 || iters == 0 || rounds <= 0) return 2;

    sturdy_options *opts = NULL;
    sturdy_status s = sturdy_options_new(dir, &opts);
    if (s != STURDY_STATUS_OK) die("sturdy_options_new", s);
    sturdy_options_set_memory_limit(opts, 1ull << 30);
    sturdy_options_set_sweep_interval_ms(opts, 0);
    sturdy_options_set_health_interval_ms(opts, 0);
    sturdy_cache *cache = NULL;
    s = sturdy_cache_open(opts, &cache);
    if (s != STURDY_STATUS_OK) die("sturdy_cache_open", s);
    sturdy_options_free(opts);
    sturdy_cache_wait_ready(cache);

    char (*keys)[24] = (char (*)[24])malloc(n * sizeof *keys);
    size_t *order = (size_t *)malloc(n * sizeof *order);
    unsigned char value[1024];
    for (size_t i = 0; i < sizeof value; i++) value[i] = (unsigned char)next_rand();
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "h%015zu", i);
        s = sturdy_cache_set(cache, (const uint8_t *)keys[i], 16, value, sizeof value, NULL, NULL);
        if (s != STURDY_STATUS_OK) die("sturdy_cache_set", s);
        order[i] = i;
    }
    rng_state = 2;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(next_rand() % (i + 1));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* A set can leave an earlier key's hot copy stale (keys share coherence
       buckets); one get of every key promotes them all, as in core's bench. */
    for (size_t i = 0; i < n; i++) {
        sturdy_value v;
        s = sturdy_cache_get(cache, (const uint8_t *)keys[i], 16, &v);
        if (s != STURDY_STATUS_OK) die("sturdy_cache_get", s);
        sturdy_value_free(&v);
    }
    sturdy_stats before;
    sturdy_cache_stats(cache, &before, sizeof before);
    if (before.hot_entries != n) {
        fprintf(stderr, "only %llu of %zu keys are hot\n", (unsigned long long)before.hot_entries, n);
        return 1;
    }

    double *get_ns = (double *)malloc((size_t)rounds * sizeof(double));
    double *into_ns = (double *)malloc((size_t)rounds * sizeof(double));
    volatile unsigned sink = 0;
    unsigned char buf[1024];
    size_t k = 0;
    for (int r = 0; r < rounds; r++) {
        unsigned long long t0 = now_ns();
        for (unsigned long long i = 0; i < iters; i++) {
            k = (k + 1 == n) ? 0 : k + 1;
            sturdy_value v;
            if (sturdy_cache_get(cache, (const uint8_t *)keys[order[k]], 16, &v) != STURDY_STATUS_OK) return 1;
            sink += v.len;
            sturdy_value_free(&v);
        }
        get_ns[r] = (double)(now_ns() - t0) / (double)iters;
        t0 = now_ns();
        for (unsigned long long i = 0; i < iters; i++) {
            k = (k + 1 == n) ? 0 : k + 1;
            size_t len = 0;
            if (sturdy_cache_get_into(cache, (const uint8_t *)keys[order[k]], 16, buf, sizeof buf, &len, NULL) !=
                STURDY_STATUS_OK)
                return 1;
            sink += buf[0];
        }
        into_ns[r] = (double)(now_ns() - t0) / (double)iters;
    }
    sturdy_stats after;
    sturdy_cache_stats(cache, &after, sizeof after);
    if (after.hot_misses != before.hot_misses) {
        fprintf(stderr, "some measured gets missed the hot tier\n");
        return 1;
    }
    qsort(get_ns, (size_t)rounds, sizeof(double), cmp_double);
    qsort(into_ns, (size_t)rounds, sizeof(double), cmp_double);
    printf("c_get %.1f %.1f\n", get_ns[rounds / 2], get_ns[0]);
    printf("c_get_into %.1f %.1f\n", into_ns[rounds / 2], into_ns[0]);
    (void)sink;
    free(get_ns);
    free(into_ns);
    free(keys);
    free(order);
    sturdy_cache_free(cache);
    return 0;
}
