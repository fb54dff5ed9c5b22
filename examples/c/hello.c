/*
 * A small C program using sturdycache: open a cache, store and read values
 * (with a TTL, a tag and a value type other languages understand), listen to
 * events, rehearse a full disk with the chaos API, print the stats.
 *
 * Build with pkg-config:  make -C examples/c        (see Makefile there)
 * or with CMake:          cmake -S examples/c -B build && cmake --build build
 * Run:                    ./hello [CACHE_DIR]
 */
#include <stdio.h>
#include <string.h>

#include <sturdycache.h>

/* Prints the failure and returns 1 when `s` is not OK. */
static int failed(const char *what, sturdy_status s) {
    if (s == STURDY_STATUS_OK) return 0;
    fprintf(stderr, "%s: %s: %s\n", what, sturdy_status_name((int)s), sturdy_last_error_message());
    return 1;
}

/* Called on a library thread for every event (mode changes, breakers, ...). */
static void on_event(const sturdy_event *event, void *user_data) {
    (void)user_data;
    printf("event: %s\n", event->text);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "hello-cache";
    printf("sturdycache %s\n", sturdy_version());

    sturdy_options *options = NULL;
    if (failed("options", sturdy_options_new(dir, &options))) return 1;
    sturdy_options_set_memory_limit(options, 64u << 20);
    sturdy_options_set_breaker_failure_threshold(options, 2);
    sturdy_cache *cache = NULL;
    sturdy_status s = sturdy_cache_open(options, &cache);
    sturdy_options_free(options);
    if (failed("open", s)) return 1;
    sturdy_cache_subscribe(cache, on_event, NULL, NULL);

    /* A text value with a one-minute TTL and a tag: Python and Node read it as a string. */
    const char *key = "greeting";
    const char *text = "hello from C";
    sturdy_write_options write;
    memset(&write, 0, sizeof write);
    write.ttl_ms = 60000;
    write.tag = "demo";
    write.value_type = STURDY_VALUE_TYPE_STRING;
    if (failed("set", sturdy_cache_set(cache, (const uint8_t *)key, strlen(key), (const uint8_t *)text,
                                       strlen(text), &write, NULL)))
        return 1;

    sturdy_value value; /* filled without copying; released with sturdy_value_free */
    s = sturdy_cache_get(cache, (const uint8_t *)key, strlen(key), &value);
    if (s == STURDY_STATUS_OK) {
        printf("%s = %.*s (type %u)\n", key, (int)value.len, (const char *)value.data, value.value_type);
    } else if (s == STURDY_STATUS_NOT_FOUND) {
        printf("%s is not cached\n", key);
    } else if (failed("get", s)) {
        return 1;
    }
    sturdy_value_free(&value);

    /* Rehearse a full disk: sets keep working, into memory, until it comes back. */
    sturdy_fault full;
    memset(&full, 0, sizeof full);
    full.op = STURDY_CHAOS_OP_WRITE;
    full.error = STURDY_CHAOS_ERROR_ENOSPC;
    full.trigger = STURDY_FAULT_TRIGGER_ALWAYS;
    uint64_t fault_id = 0;
    sturdy_cache_inject_fault(cache, &full, &fault_id);
    for (int i = 0; i < 3; i++) {
        sturdy_stored stored = STURDY_STORED_DISK;
        if (failed("set during outage", sturdy_cache_set(cache, (const uint8_t *)"outage", 6,
                                                         (const uint8_t *)"kept", 4, NULL, &stored)))
            return 1;
        printf("set during a full disk: stored in %s\n", stored == STURDY_STORED_MEMORY ? "memory" : "disk");
    }
    sturdy_mode mode = STURDY_MODE_NORMAL;
    sturdy_cache_mode(cache, &mode);
    printf("mode: %s\n", mode == STURDY_MODE_NORMAL ? "normal" : mode == STURDY_MODE_READ_ONLY ? "read_only" : "memory_only");
    sturdy_cache_remove_fault(cache, fault_id);
    sturdy_cache_flush_events(cache);

    char *json = NULL;
    if (!failed("stats", sturdy_cache_stats_json(cache, &json, NULL))) {
        printf("stats: %.200s...\n", json);
        sturdy_string_free(json);
    }
    uint64_t removed = 0;
    sturdy_cache_evict_tag(cache, "demo", &removed);
    printf("evicted %llu entries tagged demo\n", (unsigned long long)removed);
    sturdy_cache_close(cache);
    sturdy_cache_free(cache);
    return 0;
}
