/*
 * The C API suite: every function of sturdycache.h and every status it can
 * return from C. Plain C11 (-Wall -Wextra -Werror -pedantic), also compiled
 * as C++ to prove the header works there; linked once against the shared and
 * once against the static library, and run under valgrind and AddressSanitizer.
 *
 * Statuses no C input can produce are covered by the crate's Rust tests:
 * STURDY_STATUS_PANIC (boundary::tests), STURDY_STATUS_DISK_TIMED_OUT
 * (status::tests; the chaos API has no timeout errno) and STURDY_STATUS_OTHER
 * (no core error maps to it today).
 */
#include "check.h"

#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/* Opens a cache in `dir` with no background sweep or probes, a manual clock
   (if given) and the given memory limit. */
static sturdy_cache *open_cache(const char *dir, const sturdy_clock *clock, uint64_t memory_limit) {
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(dir, &o));
    REQUIRE_OK(sturdy_options_set_sweep_interval_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_health_interval_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_io_timeout_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_memory_limit(o, memory_limit));
    if (clock) REQUIRE_OK(sturdy_options_set_clock(o, clock));
    sturdy_cache *c = NULL;
    REQUIRE_OK(sturdy_cache_open(o, &c));
    sturdy_options_free(o);
    REQUIRE_OK(sturdy_cache_wait_ready(c));
    return c;
}

/* Whether `key` reads back as the literal bytes `want`. */
static int reads_as(const sturdy_cache *c, const char *key, const char *want) {
    sturdy_value v;
    sturdy_status s = sturdy_cache_get(c, (const uint8_t *)key, strlen(key), &v);
    int same = s == STURDY_STATUS_OK && v.len == strlen(want) && memcmp(v.data, want, v.len) == 0;
    sturdy_value_free(&v);
    return same;
}

static sturdy_status set_str(const sturdy_cache *c, const char *key, const char *value) {
    return sturdy_cache_set(c, (const uint8_t *)key, strlen(key), (const uint8_t *)value, strlen(value), NULL, NULL);
}

static sturdy_write_options write_options(uint64_t ttl_ms, const char *tag, uint8_t value_type) {
    sturdy_write_options o;
    memset(&o, 0, sizeof o);
    o.ttl_ms = ttl_ms;
    o.tag = tag;
    o.value_type = value_type;
    return o;
}

/* ------------------------------------------------------------------------ */

static void test_version_names_and_sizes(void) {
    const char *v = sturdy_version();
    CHECK(v != NULL && strlen(v) >= 5 && strchr(v, '.') != NULL);
    CHECK(strcmp(sturdy_status_name(STURDY_STATUS_OK), "STURDY_STATUS_OK") == 0);
    CHECK(strcmp(sturdy_status_name(STURDY_STATUS_KEY_TOO_LARGE), "STURDY_STATUS_KEY_TOO_LARGE") == 0);
    CHECK(strcmp(sturdy_status_name(STURDY_STATUS_OTHER), "STURDY_STATUS_OTHER") == 0);
    CHECK(strcmp(sturdy_status_name(STURDY_STATUS_PANIC), "STURDY_STATUS_PANIC") == 0);
    CHECK(strcmp(sturdy_status_name(STURDY_STATUS_DISK_TIMED_OUT), "STURDY_STATUS_DISK_TIMED_OUT") == 0);
    CHECK(strcmp(sturdy_status_name(999), "STURDY_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(sturdy_status_name(-1), "STURDY_STATUS_UNKNOWN") == 0);
    CHECK(sturdy_last_error_message() != NULL);

    uint64_t bytes = 0;
    CHECK_OK(sturdy_parse_size("512MiB", &bytes));
    CHECK(bytes == 512ull << 20);
    CHECK_OK(sturdy_parse_size("1GB", &bytes));
    CHECK(bytes == 1000000000ull);
    CHECK_OK(sturdy_parse_size("4096", &bytes));
    CHECK(bytes == 4096);
    CHECK_STATUS(sturdy_parse_size("lots", &bytes), STURDY_STATUS_INVALID_CONFIG);
    CHECK_MESSAGE("not a size");
    CHECK_STATUS(sturdy_parse_size("\xff", &bytes), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sturdy_parse_size(NULL, &bytes), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_parse_size("1", NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_MESSAGE("sturdy_parse_size: out_bytes must not be NULL");
}

static void test_clock(void) {
    sturdy_clock *clock = NULL;
    uint64_t now = 0;
    CHECK_OK(sturdy_clock_new_manual(1000, &clock));
    CHECK_OK(sturdy_clock_now_ms(clock, &now));
    CHECK(now == 1000);
    CHECK_OK(sturdy_clock_advance_ms(clock, 5));
    CHECK_OK(sturdy_clock_now_ms(clock, &now));
    CHECK(now == 1005);
    CHECK_OK(sturdy_clock_set_ms(clock, 42));
    CHECK_OK(sturdy_clock_now_ms(clock, &now));
    CHECK(now == 42);
    CHECK_STATUS(sturdy_clock_now_ms(clock, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_clock_now_ms(NULL, &now), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_clock_advance_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_clock_set_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_clock_new_manual(1, NULL), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_clock_free(clock);
    CHECK_OK(sturdy_clock_new_manual(0, &clock));
    CHECK_OK(sturdy_clock_now_ms(clock, &now));
    CHECK(now > 1600000000000ull); /* 0 means "now": after September 2020 */
    sturdy_clock_free(clock);
    sturdy_clock_free(NULL);
}

/* ------------------------------------------------------------------------ */
/* Options: every setter, and the setting each bad value is refused for.    */

typedef sturdy_status (*bad_setting_fn)(sturdy_options *);

static sturdy_status bad_max_key(sturdy_options *o) { return sturdy_options_set_max_key_size(o, 0); }
static sturdy_status bad_max_value(sturdy_options *o) { return sturdy_options_set_max_value_size(o, 0); }
static sturdy_status bad_disk_limit(sturdy_options *o) { return sturdy_options_set_disk_limit(o, 0); }
static sturdy_status bad_level(sturdy_options *o) { return sturdy_options_set_compression_level(o, 99); }
static sturdy_status bad_shards(sturdy_options *o) { return sturdy_options_set_hot_shards(o, 3); }
static sturdy_status bad_factor(sturdy_options *o) { return sturdy_options_set_degraded_memory_factor(o, 0.5); }
static sturdy_status bad_replay(sturdy_options *o) { return sturdy_options_set_max_replay_entries(o, 0); }
static sturdy_status bad_batch(sturdy_options *o) { return sturdy_options_set_drain_batch_size(o, 0); }
static sturdy_status bad_rate(sturdy_options *o) { return sturdy_options_set_breaker_failure_rate_threshold(o, 2.0); }
static sturdy_status bad_window(sturdy_options *o) { return sturdy_options_set_breaker_rolling_window_ms(o, 0); }
static sturdy_status bad_buckets(sturdy_options *o) { return sturdy_options_set_breaker_window_buckets(o, 0); }
static sturdy_status bad_max_open(sturdy_options *o) { return sturdy_options_set_breaker_max_open_timeout_ms(o, 1); }
static sturdy_status bad_recovery(sturdy_options *o) { return sturdy_options_set_breaker_recovery_factor(o, 0.0); }
static sturdy_status bad_half_open(sturdy_options *o) { return sturdy_options_set_breaker_half_open_max_calls(o, 0); }
static sturdy_status bad_success(sturdy_options *o) { return sturdy_options_set_breaker_success_threshold(o, 0); }
static sturdy_status bad_secret(sturdy_options *o) { return sturdy_options_set_secret_key(o, (const uint8_t *)"", 0); }

static void test_options(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/options", root);
    sturdy_options *o = NULL;
    CHECK_STATUS(sturdy_options_new(NULL, &o), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_MESSAGE("directory must not be NULL");
    CHECK_STATUS(sturdy_options_new("", &o), STURDY_STATUS_INVALID_CONFIG);
    CHECK(o == NULL);
    CHECK_STATUS(sturdy_options_new(dir, NULL), STURDY_STATUS_NULL_ARGUMENT);

    /* Each bad value is refused at open, naming the setting. */
    struct {
        bad_setting_fn apply;
        const char *names;
    } bad[] = {
        {bad_max_key, "max_key_size"},
        {bad_max_value, "max_value_size"},
        {bad_disk_limit, "disk_limit"},
        {bad_level, "compression_level must be 1..=22, got 99"},
        {bad_shards, "hot_shards"},
        {bad_factor, "degraded_memory_factor"},
        {bad_replay, "max_replay_entries"},
        {bad_batch, "drain_batch_size"},
        {bad_rate, "failure_rate_threshold"},
        {bad_window, "rolling_window"},
        {bad_buckets, "window_buckets"},
        {bad_max_open, "max_open_timeout"},
        {bad_recovery, "recovery_factor"},
        {bad_half_open, "half_open_max_calls"},
        {bad_success, "success_threshold"},
        {bad_secret, "secret_key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE_OK(sturdy_options_new(dir, &o));
        CHECK_OK(bad[i].apply(o));
        sturdy_cache *c = (sturdy_cache *)&o; /* must be overwritten with NULL */
        CHECK_STATUS(sturdy_cache_open(o, &c), STURDY_STATUS_INVALID_CONFIG);
        CHECK_MESSAGE(bad[i].names);
        CHECK(c == NULL);
        sturdy_options_free(o);
    }

    /* Enum-valued and flag settings are checked when set. */
    REQUIRE_OK(sturdy_options_new(dir, &o));
    CHECK_STATUS(sturdy_options_set_durability(o, 7), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("durability must be 0..=1, got 7");
    CHECK_STATUS(sturdy_options_set_write_mode(o, 9), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_failure_kinds(o, 64), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_clock(o, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_secret_key(o, NULL, 3), STURDY_STATUS_NULL_ARGUMENT);

    /* Every setter with a valid, non-default value: the cache opens with them. */
    sturdy_clock *clock = NULL;
    REQUIRE_OK(sturdy_clock_new_manual(1700000000000ull, &clock));
    CHECK_OK(sturdy_options_set_memory_limit(o, 1u << 20));
    CHECK_OK(sturdy_options_set_disk_limit(o, 8u << 20));
    CHECK_OK(sturdy_options_set_default_ttl_ms(o, 60000));
    CHECK_OK(sturdy_options_set_durability(o, STURDY_DURABILITY_FSYNC));
    CHECK_OK(sturdy_options_set_write_mode(o, STURDY_WRITE_MODE_WRITE_BEHIND));
    CHECK_OK(sturdy_options_set_max_key_size(o, 1024));
    CHECK_OK(sturdy_options_set_max_value_size(o, 1u << 20));
    CHECK_OK(sturdy_options_set_compression_threshold(o, 512));
    CHECK_OK(sturdy_options_set_compression_level(o, 5));
    CHECK_OK(sturdy_options_set_quarantine_retention_ms(o, 3600000));
    CHECK_OK(sturdy_options_set_quarantine_max_bytes(o, 1u << 20));
    CHECK_OK(sturdy_options_set_sweep_interval_ms(o, 0));
    CHECK_OK(sturdy_options_set_hot_shards(o, 4));
    CHECK_OK(sturdy_options_set_degraded_memory_factor(o, 3.0));
    CHECK_OK(sturdy_options_set_max_replay_entries(o, 100));
    CHECK_OK(sturdy_options_set_max_replay_bytes(o, 1u << 20));
    CHECK_OK(sturdy_options_set_drain_batch_size(o, 10));
    CHECK_OK(sturdy_options_set_health_interval_ms(o, 0));
    CHECK_OK(sturdy_options_set_io_timeout_ms(o, 0));
    CHECK_OK(sturdy_options_set_fail_on_disk_error(o, false));
    CHECK_OK(sturdy_options_set_breaker_failure_threshold(o, 3));
    CHECK_OK(sturdy_options_set_breaker_failure_rate_threshold(o, 0.25));
    CHECK_OK(sturdy_options_set_breaker_minimum_calls(o, 20));
    CHECK_OK(sturdy_options_set_breaker_rolling_window_ms(o, 60000));
    CHECK_OK(sturdy_options_set_breaker_window_buckets(o, 6));
    CHECK_OK(sturdy_options_set_breaker_slow_call_threshold_ms(o, 0));
    CHECK_OK(sturdy_options_set_breaker_open_timeout_ms(o, 1000));
    CHECK_OK(sturdy_options_set_breaker_max_open_timeout_ms(o, 8000));
    CHECK_OK(sturdy_options_set_breaker_recovery_factor(o, 1.0));
    CHECK_OK(sturdy_options_set_breaker_half_open_max_calls(o, 2));
    CHECK_OK(sturdy_options_set_breaker_success_threshold(o, 1));
    CHECK_OK(sturdy_options_set_breaker_failure_kinds(o, STURDY_DISK_ERROR_IO | STURDY_DISK_ERROR_NO_SPACE));
    CHECK_OK(sturdy_options_set_secret_key(o, (const uint8_t *)"k3y", 3));
    CHECK_OK(sturdy_options_set_clock(o, clock));
    sturdy_cache *c = NULL;
    CHECK_OK(sturdy_cache_open(o, &c));
    sturdy_options_free(o); /* the cache copied the settings */
    sturdy_clock_free(clock); /* and holds its own reference to the clock */

    sturdy_stats st;
    CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
    CHECK(st.hot_limit == 1u << 20 && st.disk_limit == 8u << 20);
    /* max_key_size 1024 took effect */
    static uint8_t long_key[1025];
    memset(long_key, 'k', sizeof long_key);
    CHECK_STATUS(sturdy_cache_set(c, long_key, sizeof long_key, K("v"), NULL, NULL), STURDY_STATUS_KEY_TOO_LARGE);
    CHECK_MESSAGE("limit (max_key_size) is 1024 bytes");
    /* write-behind: the set lands in memory first, flush writes it */
    sturdy_stored stored = STURDY_STORED_DISK;
    CHECK_OK(sturdy_cache_set(c, K("wb"), K("behind"), NULL, &stored));
    CHECK(stored == STURDY_STORED_MEMORY);
    bool all = false;
    CHECK_OK(sturdy_cache_flush(c, &all));
    CHECK(all);
    sturdy_cache_free(c);

    /* Every setter refuses a NULL options pointer. */
    CHECK_STATUS(sturdy_options_set_memory_limit(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_MESSAGE("sturdy_options_set_memory_limit: options must not be NULL");
    CHECK_STATUS(sturdy_options_set_disk_limit(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_default_ttl_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_durability(NULL, 0), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_write_mode(NULL, 0), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_max_key_size(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_max_value_size(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_compression_threshold(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_compression_level(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_quarantine_retention_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_quarantine_max_bytes(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_sweep_interval_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_hot_shards(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_degraded_memory_factor(NULL, 1.0), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_max_replay_entries(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_max_replay_bytes(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_drain_batch_size(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_health_interval_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_io_timeout_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_fail_on_disk_error(NULL, true), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_failure_threshold(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_failure_rate_threshold(NULL, 0.5), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_minimum_calls(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_rolling_window_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_window_buckets(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_slow_call_threshold_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_open_timeout_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_max_open_timeout_ms(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_recovery_factor(NULL, 0.5), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_half_open_max_calls(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_success_threshold(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_breaker_failure_kinds(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_secret_key(NULL, NULL, 0), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_options_set_clock(NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_options_free(NULL);
}

/* ------------------------------------------------------------------------ */

static void test_open_errors(const char *root) {
    char path[512], sub[600], dir[512], version[600];
    sturdy_cache *c = NULL;
    CHECK_STATUS(sturdy_cache_open(NULL, &c), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_open_default(NULL, &c), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_open_default(root, NULL), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(root, &o));
    CHECK_STATUS(sturdy_cache_open(o, NULL), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_options_free(o);

    /* The cache path is a file: not a directory. */
    snprintf(path, sizeof path, "%s/a-file", root);
    CHECK(write_file(path, "x", 1) == 0);
    CHECK_STATUS(sturdy_cache_open_default(path, &c), STURDY_STATUS_NOT_A_DIRECTORY);
    CHECK_MESSAGE("a-file");
    CHECK(c == NULL);
    /* A path through a file: ENOTDIR, a disk error of kind "other" (reported
       with fail_on_disk_error; otherwise the core opens the cache degraded). */
    snprintf(sub, sizeof sub, "%s/below", path);
    REQUIRE_OK(sturdy_options_new(sub, &o));
    REQUIRE_OK(sturdy_options_set_fail_on_disk_error(o, true));
    CHECK_STATUS(sturdy_cache_open(o, &c), STURDY_STATUS_DISK_OTHER);
    CHECK(c == NULL);
    sturdy_options_free(o);
    /* A directory from a newer format. */
    snprintf(dir, sizeof dir, "%s/newer", root);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(version, sizeof version, "%s/VERSION", dir);
    CHECK(write_file(version, "sturdycache 99\n", 15) == 0);
    CHECK_STATUS(sturdy_cache_open_default(dir, &c), STURDY_STATUS_NEWER_FORMAT);
    CHECK_MESSAGE("format version 99");
    /* The default open works on a fresh directory. */
    snprintf(dir, sizeof dir, "%s/default", root);
    CHECK_OK(sturdy_cache_open_default(dir, &c));
    CHECK_OK(set_str(c, "k", "v"));
    CHECK(reads_as(c, "k", "v"));
    sturdy_cache_free(c);
}

/* ------------------------------------------------------------------------ */

static void test_data_operations(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/data", root);
    sturdy_clock *clock = NULL;
    REQUIRE_OK(sturdy_clock_new_manual(1700000000000ull, &clock));
    sturdy_cache *c = open_cache(dir, clock, 64u << 20);

    /* set / get, with the value type and where it was stored */
    sturdy_stored stored = STURDY_STORED_MEMORY;
    sturdy_write_options text = write_options(STURDY_TTL_DEFAULT, NULL, STURDY_VALUE_TYPE_STRING);
    CHECK_OK(sturdy_cache_set(c, K("greeting"), K("hello"), &text, &stored));
    CHECK(stored == STURDY_STORED_DISK);
    sturdy_value v;
    CHECK_OK(sturdy_cache_get(c, K("greeting"), &v));
    CHECK(VALUE_IS(v, "hello"));
    CHECK(v.value_type == STURDY_VALUE_TYPE_STRING);
    sturdy_value_free(&v);
    CHECK(v.data == NULL && v.len == 0);
    sturdy_value_free(&v); /* a freed (zeroed) value frees as a no-op */
    sturdy_value_free(NULL);

    /* a miss leaves a zeroed value */
    memset(&v, 0x5a, sizeof v);
    CHECK_STATUS(sturdy_cache_get(c, K("nope"), &v), STURDY_STATUS_NOT_FOUND);
    CHECK(v.data == NULL && v.len == 0);
    sturdy_value_free(&v);

    /* binary keys and an empty value */
    const uint8_t bin_key[] = {0, 1, 0, 255};
    CHECK_OK(sturdy_cache_set(c, bin_key, sizeof bin_key, NULL, 0, NULL, NULL));
    CHECK_OK(sturdy_cache_get(c, bin_key, sizeof bin_key, &v));
    CHECK(v.len == 0 && v.data != NULL && v.value_type == STURDY_VALUE_TYPE_BYTES);
    sturdy_value_free(&v);

    /* get_into: exact fit, too small (needed size reported), size query, miss */
    uint8_t buf[16];
    size_t len = 99;
    uint8_t type = 99;
    CHECK_OK(sturdy_cache_get_into(c, K("greeting"), buf, 5, &len, &type));
    CHECK(len == 5 && memcmp(buf, "hello", 5) == 0 && type == STURDY_VALUE_TYPE_STRING);
    CHECK_STATUS(sturdy_cache_get_into(c, K("greeting"), buf, 4, &len, NULL), STURDY_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == 5);
    CHECK_MESSAGE("the value is 5 bytes; the buffer holds 4");
    CHECK_STATUS(sturdy_cache_get_into(c, K("greeting"), NULL, 0, &len, NULL), STURDY_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == 5);
    CHECK_STATUS(sturdy_cache_get_into(c, K("nope"), buf, sizeof buf, &len, NULL), STURDY_STATUS_NOT_FOUND);
    CHECK(len == 0);
    CHECK_OK(sturdy_cache_get_into(c, bin_key, sizeof bin_key, NULL, 0, &len, NULL));
    CHECK(len == 0);
    CHECK_STATUS(sturdy_cache_get_into(c, K("greeting"), NULL, 8, &len, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_get_into(c, K("greeting"), buf, sizeof buf, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);

    /* contains, add, delete, pop */
    bool yes = false;
    CHECK_OK(sturdy_cache_contains(c, K("greeting"), &yes));
    CHECK(yes);
    CHECK_OK(sturdy_cache_contains(c, K("nope"), &yes));
    CHECK(!yes);
    CHECK_STATUS(sturdy_cache_contains(c, K("greeting"), NULL), STURDY_STATUS_NULL_ARGUMENT);
    bool added = true;
    CHECK_OK(sturdy_cache_add(c, K("greeting"), K("other"), NULL, &added));
    CHECK(!added);
    CHECK(reads_as(c, "greeting", "hello"));
    CHECK_OK(sturdy_cache_add(c, K("fresh"), K("new"), NULL, &added));
    CHECK(added);
    CHECK_OK(sturdy_cache_add(c, K("fresh2"), K("new"), NULL, NULL));
    bool deleted = false;
    CHECK_OK(sturdy_cache_delete(c, K("fresh"), &deleted));
    CHECK(deleted);
    CHECK_OK(sturdy_cache_delete(c, K("fresh"), &deleted));
    CHECK(!deleted);
    CHECK_OK(sturdy_cache_delete(c, K("fresh2"), NULL));
    CHECK_OK(set_str(c, "popme", "once"));
    CHECK_OK(sturdy_cache_pop(c, K("popme"), &v));
    CHECK(VALUE_IS(v, "once"));
    sturdy_value_free(&v);
    CHECK_STATUS(sturdy_cache_pop(c, K("popme"), &v), STURDY_STATUS_NOT_FOUND);
    CHECK(v.data == NULL);

    /* TTL in milliseconds, on the manual clock */
    sturdy_write_options ttl = write_options(1000, NULL, 0);
    CHECK_OK(sturdy_cache_set(c, K("short"), K("lived"), &ttl, NULL));
    CHECK_OK(sturdy_clock_advance_ms(clock, 999));
    CHECK(reads_as(c, "short", "lived"));
    CHECK_OK(sturdy_clock_advance_ms(clock, 1));
    CHECK_STATUS(sturdy_cache_get(c, K("short"), &v), STURDY_STATUS_NOT_FOUND);
    /* touch moves the expiry; STURDY_TTL_NEVER removes it */
    bool touched = false;
    CHECK_OK(sturdy_cache_set(c, K("t"), K("v"), &ttl, NULL));
    CHECK_OK(sturdy_cache_touch(c, K("t"), 5000, &touched));
    CHECK(touched);
    CHECK_OK(sturdy_clock_advance_ms(clock, 4999));
    CHECK(reads_as(c, "t", "v"));
    CHECK_OK(sturdy_cache_touch(c, K("t"), STURDY_TTL_NEVER, NULL));
    CHECK_OK(sturdy_clock_advance_ms(clock, 1000000000ull));
    CHECK(reads_as(c, "t", "v"));
    CHECK_OK(sturdy_cache_touch(c, K("missing"), 10, &touched));
    CHECK(!touched);

    /* tags */
    sturdy_write_options pages = write_options(STURDY_TTL_DEFAULT, "pages", 0);
    sturdy_write_options users = write_options(STURDY_TTL_DEFAULT, "users", 0);
    CHECK_OK(sturdy_cache_set(c, K("p1"), K("a"), &pages, NULL));
    CHECK_OK(sturdy_cache_set(c, K("p2"), K("b"), &pages, NULL));
    CHECK_OK(sturdy_cache_set(c, K("u1"), K("c"), &users, NULL));
    uint64_t removed = 0;
    CHECK_OK(sturdy_cache_evict_tag(c, "pages", &removed));
    CHECK(removed == 2);
    CHECK_STATUS(sturdy_cache_get(c, K("p1"), &v), STURDY_STATUS_NOT_FOUND);
    CHECK(reads_as(c, "u1", "c"));
    CHECK_OK(sturdy_cache_evict_tag(c, "", &removed));
    CHECK(removed == 0);
    CHECK_OK(sturdy_cache_evict_tag(c, "nobody", NULL));
    CHECK_STATUS(sturdy_cache_evict_tag(c, NULL, &removed), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_evict_tag(c, "\xff\xfe", &removed), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("tag is not valid UTF-8");
    sturdy_write_options bad_tag = write_options(0, "\xc3\x28", 0);
    CHECK_STATUS(sturdy_cache_set(c, K("k"), K("v"), &bad_tag, NULL), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("options->tag is not valid UTF-8");
    char *huge_tag = (char *)malloc(65537);
    memset(huge_tag, 't', 65536);
    huge_tag[65536] = '\0';
    sturdy_write_options too_long = write_options(0, huge_tag, 0);
    CHECK_STATUS(sturdy_cache_set(c, K("u1"), K("x"), &too_long, NULL), STURDY_STATUS_TAG_TOO_LARGE);
    CHECK_MESSAGE("65535");
    CHECK(reads_as(c, "u1", "c")); /* nothing stored was lost */
    free(huge_tag);

    /* keys: exactly the live entries */
    uint64_t cleared = 0;
    CHECK_OK(sturdy_cache_clear(c, &cleared));
    CHECK(cleared >= 3);
    CHECK_STATUS(sturdy_cache_get(c, K("u1"), &v), STURDY_STATUS_NOT_FOUND);
    CHECK_OK(set_str(c, "k1", "1"));
    CHECK_OK(set_str(c, "k2", "2"));
    CHECK_OK(set_str(c, "k3", "3"));
    sturdy_keys *it = NULL;
    CHECK_OK(sturdy_cache_keys(c, &it));
    int seen[3] = {0, 0, 0};
    int others = 0;
    const uint8_t *key = NULL;
    size_t key_len = 0;
    sturdy_status s;
    while ((s = sturdy_keys_next(it, &key, &key_len)) == STURDY_STATUS_OK) {
        if (key_len == 2 && key[0] == 'k' && key[1] >= '1' && key[1] <= '3') {
            seen[key[1] - '1']++;
        } else {
            others++;
        }
    }
    CHECK(s == STURDY_STATUS_NOT_FOUND);
    CHECK(key == NULL && key_len == 0);
    CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1 && others == 0);
    CHECK_STATUS(sturdy_keys_next(it, &key, &key_len), STURDY_STATUS_NOT_FOUND);
    CHECK_STATUS(sturdy_keys_next(it, NULL, &key_len), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_keys_next(it, &key, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_keys_next(NULL, &key, &key_len), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_keys_free(it);
    sturdy_keys_free(NULL);
    CHECK_OK(sturdy_cache_clear(c, NULL));

    /* sweep removes expired entries; check audits every file */
    sturdy_write_options brief = write_options(10, NULL, 0);
    CHECK_OK(sturdy_cache_set(c, K("e1"), K("x"), &brief, NULL));
    CHECK_OK(sturdy_cache_set(c, K("e2"), K("x"), &brief, NULL));
    CHECK_OK(set_str(c, "live", "x"));
    sturdy_check_report check;
    memset(&check, 0, sizeof check);
    CHECK_OK(sturdy_cache_check(c, &check));
    CHECK(check.scanned == 3 && check.valid == 3 && check.expired == 0 && check.quarantined == 0);
    CHECK_OK(sturdy_clock_advance_ms(clock, 10));
    CHECK_OK(sturdy_cache_check(c, &check));
    CHECK(check.valid == 1 && check.expired == 2);
    sturdy_sweep_report sweep;
    memset(&sweep, 0, sizeof sweep);
    CHECK_OK(sturdy_cache_sweep(c, &sweep));
    CHECK(sweep.scanned == 3 && sweep.expired == 2);
    CHECK_OK(sturdy_cache_sweep(c, NULL));
    CHECK_OK(sturdy_cache_check(c, NULL));

    /* mode, health, coherence */
    sturdy_mode mode = STURDY_MODE_MEMORY_ONLY;
    CHECK_OK(sturdy_cache_mode(c, &mode));
    CHECK(mode == STURDY_MODE_NORMAL);
    sturdy_disk_health health = STURDY_DISK_HEALTH_UNHEALTHY;
    CHECK_OK(sturdy_cache_disk_health(c, &health));
    CHECK(health == STURDY_DISK_HEALTH_HEALTHY);
    bool coherent = false;
    CHECK_OK(sturdy_cache_is_coherent_across_processes(c, &coherent));
    CHECK(coherent);
    CHECK_STATUS(sturdy_cache_mode(c, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_disk_health(c, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_is_coherent_across_processes(c, NULL), STURDY_STATUS_NULL_ARGUMENT);

    sturdy_cache_free(c);
    sturdy_clock_free(clock);
}

/* ------------------------------------------------------------------------ */

static void test_limits(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/limits", root);
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(dir, &o));
    REQUIRE_OK(sturdy_options_set_max_value_size(o, 1024));
    sturdy_cache *c = NULL;
    REQUIRE_OK(sturdy_cache_open(o, &c));
    sturdy_options_free(o);

    CHECK_OK(set_str(c, "kept", "original"));
    static uint8_t big[70000];
    memset(big, 'x', sizeof big);
    sturdy_value v;
    /* empty keys, with or without a pointer */
    CHECK_STATUS(sturdy_cache_set(c, NULL, 0, K("v"), NULL, NULL), STURDY_STATUS_EMPTY_KEY);
    CHECK_MESSAGE("key is empty");
    CHECK_STATUS(sturdy_cache_get(c, big, 0, &v), STURDY_STATUS_EMPTY_KEY);
    /* a key over max_key_size (64 KiB), named in the message */
    CHECK_STATUS(sturdy_cache_get(c, big, 65537, &v), STURDY_STATUS_KEY_TOO_LARGE);
    CHECK_MESSAGE("key is 65537 bytes; the limit (max_key_size) is 65536 bytes");
    CHECK_STATUS(sturdy_cache_set(c, big, 65537, K("v"), NULL, NULL), STURDY_STATUS_KEY_TOO_LARGE);
    /* a value over max_value_size leaves the stored value alone */
    CHECK_STATUS(sturdy_cache_set(c, K("kept"), big, 1025, NULL, NULL), STURDY_STATUS_VALUE_TOO_LARGE);
    CHECK_MESSAGE("value is 1025 bytes; the limit (max_value_size) is 1024 bytes");
    CHECK(reads_as(c, "kept", "original"));
    CHECK_STATUS(sturdy_cache_add(c, K("other"), big, 1025, NULL, NULL), STURDY_STATUS_VALUE_TOO_LARGE);
    CHECK_OK(sturdy_cache_set(c, K("kept"), big, 1024, NULL, NULL)); /* at the limit: fine */
    /* lengths above PTRDIFF_MAX are refused before anything is read */
    CHECK_STATUS(sturdy_cache_get(c, big, SIZE_MAX, &v), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("PTRDIFF_MAX");
    CHECK_STATUS(sturdy_cache_set(c, K("k"), big, SIZE_MAX, NULL, NULL), STURDY_STATUS_INVALID_ARGUMENT);
    /* NULL with a non-zero length */
    CHECK_STATUS(sturdy_cache_get(c, NULL, 5, &v), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_MESSAGE("key must not be NULL");
    CHECK_STATUS(sturdy_cache_set(c, K("k"), NULL, 5, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_get(c, K("kept"), NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_pop(c, K("kept"), NULL), STURDY_STATUS_NULL_ARGUMENT);
    /* a status leaves the last message until the next failure, like errno */
    CHECK_OK(set_str(c, "fine", "ok"));
    CHECK_MESSAGE("sturdy_cache_pop: out_value must not be NULL");
    sturdy_cache_free(c);
}

/* ------------------------------------------------------------------------ */

static int loads = 0;

static int32_t load_ok(void *user_data, const uint8_t *key, size_t key_len, sturdy_loaded *sink) {
    loads++;
    CHECK(strcmp((const char *)user_data, "ctx") == 0);
    CHECK(key_len == 8 && memcmp(key, "computed", 8) == 0);
    CHECK_OK(sturdy_loaded_set(sink, (const uint8_t *)"expensive", 9));
    CHECK_STATUS(sturdy_loaded_set(NULL, (const uint8_t *)"x", 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_loaded_set(sink, NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    return 0;
}

static int32_t load_fails(void *user_data, const uint8_t *key, size_t key_len, sturdy_loaded *sink) {
    (void)user_data, (void)key, (void)key_len, (void)sink;
    loads++;
    return 7;
}

static int32_t load_nothing(void *user_data, const uint8_t *key, size_t key_len, sturdy_loaded *sink) {
    (void)user_data, (void)key, (void)key_len, (void)sink;
    return 0;
}

static void test_get_or_load(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/load", root);
    sturdy_cache *c = open_cache(dir, NULL, 64u << 20);
    char ctx[] = "ctx";
    sturdy_value v;
    sturdy_write_options typed = write_options(STURDY_TTL_DEFAULT, "loaded", STURDY_VALUE_TYPE_STRING);
    CHECK_OK(sturdy_cache_get_or_load(c, K("computed"), &typed, load_ok, ctx, &v));
    CHECK(VALUE_IS(v, "expensive") && v.value_type == STURDY_VALUE_TYPE_STRING);
    sturdy_value_free(&v);
    CHECK_OK(sturdy_cache_get_or_load(c, K("computed"), &typed, load_ok, ctx, &v));
    CHECK(VALUE_IS(v, "expensive"));
    sturdy_value_free(&v);
    CHECK(loads == 1); /* the second call was a hit */
    CHECK(reads_as(c, "computed", "expensive"));
    uint64_t removed = 0;
    CHECK_OK(sturdy_cache_evict_tag(c, "loaded", &removed));
    CHECK(removed == 1); /* stored with its tag */

    CHECK_STATUS(sturdy_cache_get_or_load(c, K("failing"), NULL, load_fails, NULL, &v), STURDY_STATUS_CALLBACK_FAILED);
    CHECK_MESSAGE("the loader returned 7");
    CHECK(v.data == NULL && loads == 2);
    CHECK_STATUS(sturdy_cache_get(c, K("failing"), &v), STURDY_STATUS_NOT_FOUND);
    CHECK_OK(sturdy_cache_get_or_load(c, K("empty"), NULL, load_nothing, NULL, &v));
    CHECK(v.len == 0 && v.data != NULL);
    sturdy_value_free(&v);
    CHECK_STATUS(sturdy_cache_get_or_load(c, K("x"), NULL, NULL, NULL, &v), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_MESSAGE("loader must not be NULL");
    CHECK_STATUS(sturdy_cache_get_or_load(c, NULL, 3, NULL, load_ok, NULL, &v), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_get_or_load(c, NULL, 0, NULL, load_nothing, NULL, &v), STURDY_STATUS_EMPTY_KEY);
    CHECK_STATUS(sturdy_cache_get_or_load(c, K("x"), NULL, load_nothing, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_cache_free(c);
}

/* ------------------------------------------------------------------------ */

static void test_stats_json_prometheus(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/stats", root);
    sturdy_cache *c = open_cache(dir, NULL, 64u << 20);
    CHECK_OK(set_str(c, "a", "1"));
    CHECK(reads_as(c, "a", "1"));
    sturdy_value v;
    CHECK_STATUS(sturdy_cache_get(c, K("zz"), &v), STURDY_STATUS_NOT_FOUND);

    sturdy_stats st;
    memset(&st, 0, sizeof st);
    CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
    CHECK(st.version == STURDY_STATS_VERSION && st.size == sizeof st);
    CHECK(st.sets == 1 && st.hot_hits == 1 && st.disk_misses == 1);
    CHECK(st.hot_entries == 1 && st.disk_entries == 1 && st.disk_bytes > 0);
    CHECK(st.mode == STURDY_MODE_NORMAL && st.disk_health == STURDY_DISK_HEALTH_HEALTHY);
    CHECK(st.read_breaker.state == STURDY_BREAKER_STATE_CLOSED && st.write_breaker.state == STURDY_BREAKER_STATE_CLOSED);
    CHECK(st.hit_ratio > 0.49 && st.hit_ratio < 0.51);
    /* An older, smaller struct gets only its own bytes. */
    memset(&st, 0xab, sizeof st);
    CHECK_OK(sturdy_cache_stats(c, &st, 16));
    CHECK(st.version == 1 && st.size == 16);
    CHECK(st.hot_misses == 0xababababababababull); /* beyond 16 bytes: untouched */
    CHECK_STATUS(sturdy_cache_stats(c, &st, 4), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("stats_size must be at least 8");
    CHECK_STATUS(sturdy_cache_stats(c, NULL, sizeof st), STURDY_STATUS_NULL_ARGUMENT);

    char *json = NULL;
    size_t len = 0;
    CHECK_OK(sturdy_cache_stats_json(c, &json, &len));
    CHECK(json != NULL && strlen(json) == len);
    CHECK(strstr(json, "\"version\":1") != NULL);
    CHECK(strstr(json, "\"mode\":\"normal\"") != NULL);
    CHECK(strstr(json, "\"sets\":1") != NULL);
    CHECK(strstr(json, "\"last_error\":null") != NULL);
    sturdy_string_free(json);
    CHECK_OK(sturdy_cache_stats_json(c, &json, NULL));
    sturdy_string_free(json);
    CHECK_STATUS(sturdy_cache_stats_json(c, NULL, &len), STURDY_STATUS_NULL_ARGUMENT);

    char *prom = NULL;
    CHECK_OK(sturdy_cache_prometheus(c, &prom, &len));
    CHECK(prom != NULL && strlen(prom) == len && strstr(prom, "# TYPE sturdycache_") != NULL);
    sturdy_string_free(prom);
    CHECK_STATUS(sturdy_cache_prometheus(c, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_string_free(NULL);
    sturdy_cache_free(c);
}

/* ------------------------------------------------------------------------ */
/* Disk errors reach the caller as typed statuses with fail_on_disk_error.  */

static void inject(const sturdy_cache *c, uint32_t op, uint32_t error, uint32_t trigger, uint64_t *id) {
    sturdy_fault f;
    memset(&f, 0, sizeof f);
    f.op = op;
    f.error = error;
    f.trigger = trigger;
    f.times = 2;
    f.probability = 1.0;
    f.delay_ms = 1;
    CHECK_OK(sturdy_cache_inject_fault(c, &f, id));
}

static void test_disk_errors_and_chaos_api(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/disk-errors", root);
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(dir, &o));
    REQUIRE_OK(sturdy_options_set_fail_on_disk_error(o, true));
    REQUIRE_OK(sturdy_options_set_memory_limit(o, 0)); /* every get reads the disk */
    REQUIRE_OK(sturdy_options_set_sweep_interval_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_health_interval_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_io_timeout_ms(o, 0));
    sturdy_cache *c = NULL;
    REQUIRE_OK(sturdy_cache_open(o, &c));
    sturdy_options_free(o);
    REQUIRE_OK(sturdy_cache_wait_ready(c)); /* no background disk calls from here on */
    CHECK_OK(set_str(c, "k", "on disk"));

    uint64_t id = 0;
    sturdy_value v;
    inject(c, STURDY_CHAOS_OP_READ, STURDY_CHAOS_ERROR_EIO, STURDY_FAULT_TRIGGER_ALWAYS, &id);
    CHECK_STATUS(sturdy_cache_get(c, K("k"), &v), STURDY_STATUS_DISK_IO);
    CHECK(v.data == NULL);
    CHECK_OK(sturdy_cache_remove_fault(c, id));
    CHECK_STATUS(sturdy_cache_remove_fault(c, id), STURDY_STATUS_NOT_FOUND);
    CHECK(reads_as(c, "k", "on disk"));

    inject(c, STURDY_CHAOS_OP_WRITE, STURDY_CHAOS_ERROR_ENOSPC, STURDY_FAULT_TRIGGER_ALWAYS, NULL);
    CHECK_STATUS(set_str(c, "k", "lost"), STURDY_STATUS_DISK_NO_SPACE);
    CHECK_MESSAGE("no_space");
    CHECK_OK(sturdy_cache_clear_faults(c));
    CHECK(reads_as(c, "k", "on disk")); /* a failed write loses nothing stored */

    inject(c, STURDY_CHAOS_OP_WRITE, STURDY_CHAOS_ERROR_EROFS, STURDY_FAULT_TRIGGER_ONCE, NULL);
    CHECK_STATUS(set_str(c, "k", "x"), STURDY_STATUS_DISK_READ_ONLY);
    CHECK_OK(set_str(c, "k", "second")); /* ONCE disarmed itself */
    inject(c, STURDY_CHAOS_OP_WRITE, STURDY_CHAOS_ERROR_EACCES, STURDY_FAULT_TRIGGER_TIMES, NULL);
    CHECK_STATUS(set_str(c, "k", "x"), STURDY_STATUS_DISK_PERMISSION_DENIED);
    CHECK_STATUS(set_str(c, "k", "x"), STURDY_STATUS_DISK_PERMISSION_DENIED);
    CHECK_OK(set_str(c, "k", "third")); /* TIMES (2) disarmed itself */
    inject(c, STURDY_CHAOS_OP_ALL, STURDY_CHAOS_ERROR_EIO, STURDY_FAULT_TRIGGER_PROBABILITY, &id);
    CHECK_STATUS(sturdy_cache_get(c, K("k"), &v), STURDY_STATUS_DISK_IO);
    size_t active = 0;
    uint64_t injected = 0;
    CHECK_OK(sturdy_cache_fault_counts(c, &active, &injected));
    CHECK(active == 1 && injected == 6);
    CHECK_OK(sturdy_cache_fault_counts(c, NULL, NULL));
    CHECK_OK(sturdy_cache_clear_faults(c));
    CHECK_OK(sturdy_cache_fault_counts(c, &active, NULL));
    CHECK(active == 0);
    inject(c, STURDY_CHAOS_OP_FSYNC, STURDY_CHAOS_ERROR_EIO, STURDY_FAULT_TRIGGER_ALWAYS, NULL);
    inject(c, STURDY_CHAOS_OP_RENAME, STURDY_CHAOS_ERROR_DELAY, STURDY_FAULT_TRIGGER_ONCE, NULL);
    CHECK_OK(set_str(c, "k", "slow")); /* the delay stalls, then the write proceeds; no fsync by default */
    CHECK(reads_as(c, "k", "slow"));
    CHECK_OK(sturdy_cache_clear_faults(c));
    inject(c, STURDY_CHAOS_OP_DELETE, STURDY_CHAOS_ERROR_EIO, STURDY_FAULT_TRIGGER_ALWAYS, NULL);
    CHECK_STATUS(sturdy_cache_delete(c, K("k"), NULL), STURDY_STATUS_DISK_IO);
    CHECK_OK(sturdy_cache_clear_faults(c));

    /* bad faults */
    sturdy_fault f;
    memset(&f, 0, sizeof f);
    f.op = 9;
    CHECK_STATUS(sturdy_cache_inject_fault(c, &f, NULL), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("fault->op must be 0..=5, got 9");
    f.op = STURDY_CHAOS_OP_READ;
    f.error = 6;
    CHECK_STATUS(sturdy_cache_inject_fault(c, &f, NULL), STURDY_STATUS_INVALID_ARGUMENT);
    f.error = STURDY_CHAOS_ERROR_EIO;
    f.trigger = 4;
    CHECK_STATUS(sturdy_cache_inject_fault(c, &f, NULL), STURDY_STATUS_INVALID_ARGUMENT);
    f.trigger = STURDY_FAULT_TRIGGER_PROBABILITY;
    f.probability = 2.0;
    CHECK_STATUS(sturdy_cache_inject_fault(c, &f, NULL), STURDY_STATUS_INVALID_CONFIG);
    CHECK_MESSAGE("probability");
    f.trigger = STURDY_FAULT_TRIGGER_ONCE;
    f.op = STURDY_CHAOS_OP_WRITE;
    f.error = STURDY_CHAOS_ERROR_CORRUPTION;
    CHECK_STATUS(sturdy_cache_inject_fault(c, &f, NULL), STURDY_STATUS_INVALID_CONFIG);
    CHECK_STATUS(sturdy_cache_inject_fault(c, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_cache_free(c);
}

/* ------------------------------------------------------------------------ */

static void test_breaker_override_and_recovery(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/override", root);
    sturdy_cache *c = open_cache(dir, NULL, 64u << 20);
    sturdy_mode mode = STURDY_MODE_NORMAL;
    CHECK_OK(sturdy_cache_override_breaker(c, STURDY_DISK_PATH_WRITE, STURDY_BREAKER_STATE_FORCED_OPEN));
    CHECK_OK(sturdy_cache_mode(c, &mode));
    CHECK(mode == STURDY_MODE_READ_ONLY);
    sturdy_stored stored = STURDY_STORED_DISK;
    CHECK_OK(sturdy_cache_set(c, K("k"), K("v"), NULL, &stored));
    CHECK(stored == STURDY_STORED_MEMORY);
    CHECK_OK(sturdy_cache_override_breaker(c, STURDY_DISK_PATH_READ, STURDY_BREAKER_STATE_FORCED_OPEN));
    CHECK_OK(sturdy_cache_mode(c, &mode));
    CHECK(mode == STURDY_MODE_MEMORY_ONLY);
    CHECK(reads_as(c, "k", "v"));
    CHECK_OK(sturdy_cache_override_breaker(c, STURDY_DISK_PATH_READ, STURDY_BREAKER_STATE_CLOSED));
    CHECK_OK(sturdy_cache_override_breaker(c, STURDY_DISK_PATH_WRITE, STURDY_BREAKER_STATE_DISABLED));
    CHECK_OK(sturdy_cache_mode(c, &mode));
    CHECK(mode == STURDY_MODE_NORMAL);
    bool all = false;
    CHECK_OK(sturdy_cache_flush(c, &all)); /* waits for a drain under way, too */
    CHECK(all);
    sturdy_stats st;
    CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
    CHECK(st.replay_drained == 1 && st.replay_depth == 0); /* the write kept in memory reached the disk */
    sturdy_recovery_report r;
    memset(&r, 0xff, sizeof r);
    CHECK_OK(sturdy_cache_run_recovery(c, &r));
    CHECK(r.probes == 0 && r.drained == 0); /* nothing left to do */
    CHECK_OK(sturdy_cache_run_recovery(c, NULL));
    CHECK_STATUS(sturdy_cache_override_breaker(c, 2, STURDY_BREAKER_STATE_CLOSED), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sturdy_cache_override_breaker(c, STURDY_DISK_PATH_READ, 5), STURDY_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("state must be 0..=4, got 5");
    sturdy_cache_free(c);

    /* a fresh handle reads the replayed value from disk */
    c = open_cache(dir, NULL, 0);
    CHECK(reads_as(c, "k", "v"));
    sturdy_cache_free(c);
}

/* ------------------------------------------------------------------------ */
/* Close: every call afterwards is STURDY_STATUS_CLOSED; nothing crashes.    */

static void count_event(const sturdy_event *event, void *user_data) {
    (void)event;
    ++*(int *)user_data;
}

static void test_close_and_null_handles(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/close", root);
    sturdy_cache *c = open_cache(dir, NULL, 64u << 20);
    CHECK_OK(set_str(c, "k", "survives"));
    int events = 0;
    uint64_t listener = 0;
    CHECK_OK(sturdy_cache_subscribe(c, count_event, &events, &listener));
    sturdy_value before;
    CHECK_OK(sturdy_cache_get(c, K("k"), &before));
    sturdy_keys *it = NULL;
    CHECK_OK(sturdy_cache_keys(c, &it));

    CHECK_OK(sturdy_cache_close(c));
    CHECK_STATUS(sturdy_cache_close(c), STURDY_STATUS_CLOSED);
    CHECK_MESSAGE("already closed");

    sturdy_value v;
    uint8_t buf[8];
    size_t len = 0;
    bool flag = false;
    uint64_t n = 0;
    sturdy_mode mode;
    sturdy_disk_health health;
    sturdy_stats st;
    char *text = NULL;
    sturdy_keys *it2 = NULL;
    sturdy_fault fault;
    memset(&fault, 0, sizeof fault);
    CHECK_STATUS(sturdy_cache_get(c, K("k"), &v), STURDY_STATUS_CLOSED);
    CHECK_MESSAGE("sturdy_cache_get: the cache is closed");
    CHECK_STATUS(sturdy_cache_get_into(c, K("k"), buf, sizeof buf, &len, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_set(c, K("k"), K("v"), NULL, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_add(c, K("k"), K("v"), NULL, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_delete(c, K("k"), NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_touch(c, K("k"), 1, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_contains(c, K("k"), &flag), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_pop(c, K("k"), &v), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_clear(c, &n), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_evict_tag(c, "t", &n), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_flush(c, &flag), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_wait_ready(c), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_mode(c, &mode), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_disk_health(c, &health), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_is_coherent_across_processes(c, &flag), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_get_or_load(c, K("k"), NULL, load_nothing, NULL, &v), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_stats(c, &st, sizeof st), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_stats_json(c, &text, NULL), STURDY_STATUS_CLOSED);
    CHECK(text == NULL);
    CHECK_STATUS(sturdy_cache_prometheus(c, &text, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_keys(c, &it2), STURDY_STATUS_CLOSED);
    CHECK(it2 == NULL);
    CHECK_STATUS(sturdy_cache_subscribe(c, count_event, &events, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_unsubscribe(c, listener), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_flush_events(c), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_inject_fault(c, &fault, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_remove_fault(c, 1), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_clear_faults(c), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_fault_counts(c, NULL, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_sweep(c, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_check(c, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_run_recovery(c, NULL), STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_override_breaker(c, 0, 0), STURDY_STATUS_CLOSED);

    /* what was handed out before the close stays valid, even after free */
    const uint8_t *key = NULL;
    size_t key_len = 0;
    CHECK_OK(sturdy_keys_next(it, &key, &key_len));
    CHECK(key_len == 1 && key[0] == 'k');
    sturdy_cache_free(c);
    CHECK(VALUE_IS(before, "survives"));
    sturdy_value_free(&before);
    CHECK_STATUS(sturdy_keys_next(it, &key, &key_len), STURDY_STATUS_NOT_FOUND);
    sturdy_keys_free(it);
    CHECK(events == 0);

    /* close on a handle with work queued writes it first */
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(dir, &o));
    REQUIRE_OK(sturdy_options_set_write_mode(o, STURDY_WRITE_MODE_WRITE_BEHIND));
    REQUIRE_OK(sturdy_cache_open(o, &c));
    sturdy_options_free(o);
    CHECK_OK(set_str(c, "queued", "written at close"));
    CHECK_OK(sturdy_cache_close(c));
    sturdy_cache_free(c);
    c = open_cache(dir, NULL, 0);
    CHECK(reads_as(c, "queued", "written at close"));
    /* free without close closes (and writes) too */
    sturdy_cache_free(c);
    sturdy_cache_free(NULL);

    /* a NULL handle is a status for every function taking one */
    CHECK_STATUS(sturdy_cache_close(NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_MESSAGE("cache must not be NULL");
    CHECK_STATUS(sturdy_cache_get(NULL, K("k"), &v), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_get_into(NULL, K("k"), buf, sizeof buf, &len, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_set(NULL, K("k"), K("v"), NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_add(NULL, K("k"), K("v"), NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_delete(NULL, K("k"), NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_touch(NULL, K("k"), 1, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_contains(NULL, K("k"), &flag), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_pop(NULL, K("k"), &v), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_clear(NULL, &n), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_evict_tag(NULL, "t", &n), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_flush(NULL, &flag), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_wait_ready(NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_mode(NULL, &mode), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_disk_health(NULL, &health), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_is_coherent_across_processes(NULL, &flag), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_get_or_load(NULL, K("k"), NULL, load_nothing, NULL, &v), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_stats(NULL, &st, sizeof st), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_stats_json(NULL, &text, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_prometheus(NULL, &text, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_keys(NULL, &it2), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_subscribe(NULL, count_event, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_unsubscribe(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_flush_events(NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_inject_fault(NULL, &fault, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_remove_fault(NULL, 1), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_clear_faults(NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_fault_counts(NULL, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_sweep(NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_check(NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_run_recovery(NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_cache_override_breaker(NULL, 0, 0), STURDY_STATUS_NULL_ARGUMENT);
}

/* ------------------------------------------------------------------------ */

/* A listener may close the cache whose event it is handling. */
static void close_from_listener(const sturdy_event *event, void *user_data) {
    (void)event;
    sturdy_status s = sturdy_cache_close((sturdy_cache *)user_data);
    CHECK(s == STURDY_STATUS_OK || s == STURDY_STATUS_CLOSED);
}

static void test_listeners(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/listeners", root);
    sturdy_cache *c = open_cache(dir, NULL, 64u << 20);
    int events = 0;
    uint64_t id = 0;
    CHECK_OK(sturdy_cache_subscribe(c, count_event, &events, &id));
    CHECK_OK(sturdy_cache_override_breaker(c, STURDY_DISK_PATH_WRITE, STURDY_BREAKER_STATE_FORCED_OPEN));
    CHECK_OK(sturdy_cache_flush_events(c));
    CHECK(events >= 1); /* at least the mode change */
    int seen = events;
    CHECK_OK(sturdy_cache_unsubscribe(c, id));
    CHECK_STATUS(sturdy_cache_unsubscribe(c, id), STURDY_STATUS_NOT_FOUND);
    CHECK_OK(sturdy_cache_override_breaker(c, STURDY_DISK_PATH_WRITE, STURDY_BREAKER_STATE_CLOSED));
    CHECK_OK(sturdy_cache_flush_events(c));
    CHECK(events == seen); /* no call after unsubscribe returned */
    CHECK_STATUS(sturdy_cache_subscribe(c, NULL, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_MESSAGE("callback must not be NULL");
    CHECK_OK(sturdy_cache_subscribe(c, count_event, &events, NULL));
    sturdy_cache_free(c); /* closes, which removes the listener */

    c = open_cache(dir, NULL, 64u << 20);
    CHECK_OK(sturdy_cache_subscribe(c, close_from_listener, c, NULL));
    CHECK_OK(sturdy_cache_override_breaker(c, STURDY_DISK_PATH_WRITE, STURDY_BREAKER_STATE_FORCED_OPEN));
    /* OK: it waited for the listener (and its close); CLOSED: the listener was faster */
    sturdy_status flushed = sturdy_cache_flush_events(c);
    CHECK(flushed == STURDY_STATUS_OK || flushed == STURDY_STATUS_CLOSED);
    CHECK_STATUS(sturdy_cache_close(c), STURDY_STATUS_CLOSED);
    sturdy_cache_free(c);
}

int main(void) {
    char root[256];
    make_temp_dir(root, "api");
    test_version_names_and_sizes();
    test_clock();
    test_options(root);
    test_open_errors(root);
    test_data_operations(root);
    test_limits(root);
    test_get_or_load(root);
    test_stats_json_prometheus(root);
    test_disk_errors_and_chaos_api(root);
    test_breaker_override_and_recovery(root);
    test_close_and_null_handles(root);
    test_listeners(root);
    remove_tree(root);
    return check_summary("test_api");
}
