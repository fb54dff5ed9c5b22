/*
 * Fault injection from C through the chaos API: the caller keeps working
 * (sets succeed into memory, gets are answered from memory), the events
 * arrive on the listener, and once the faults are cleared the cache recovers
 * and replays what it kept to disk. Time moves on a manual clock.
 */
#include "check.h"

#include <pthread.h>
#include <time.h>

#define MAX_EVENTS 256

typedef struct {
    sturdy_event_kind kind;
    sturdy_mode mode;
    uint64_t incident;
    uint64_t drained;
    char name[32];
    char from[32];
    char to[32];
    char breaker[8];
    char reason[32];
    int has_text;
} recorded_event;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    recorded_event events[MAX_EVENTS];
    int count;
    int wrong_thread; /* a listener call on the thread that caused it */
    pthread_t main_thread;
} recorder;

static void copy(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "");
}

static void record(const sturdy_event *e, void *user_data) {
    recorder *r = (recorder *)user_data;
    pthread_mutex_lock(&r->lock);
    if (pthread_equal(pthread_self(), r->main_thread)) r->wrong_thread++;
    if (r->count < MAX_EVENTS) {
        recorded_event *x = &r->events[r->count++];
        x->kind = e->kind;
        x->mode = e->mode;
        x->incident = e->incident;
        x->drained = e->drained;
        copy(x->name, sizeof x->name, e->name);
        copy(x->from, sizeof x->from, e->from);
        copy(x->to, sizeof x->to, e->to);
        copy(x->breaker, sizeof x->breaker, e->breaker);
        copy(x->reason, sizeof x->reason, e->reason);
        x->has_text = e->text != NULL && strstr(e->text, e->name) != NULL;
    }
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
}

/* The index of the first recorded event of `kind` (with breaker `breaker`
   and target state `to`, when given), or -1. Call with the lock held. */
static int find(const recorder *r, sturdy_event_kind kind, const char *breaker, const char *to) {
    for (int i = 0; i < r->count; i++) {
        const recorded_event *x = &r->events[i];
        if (x->kind != kind) continue;
        if (breaker && strcmp(x->breaker, breaker) != 0) continue;
        if (to && strcmp(x->to, to) != 0) continue;
        return i;
    }
    return -1;
}

/* Waits (up to 10 s, an upper bound, not a pacing sleep) for an event of
   `kind` that the library's recovery thread may still be about to emit. */
static int wait_for(recorder *r, sturdy_event_kind kind) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&r->lock);
    int at;
    while ((at = find(r, kind, NULL, NULL)) < 0) {
        if (pthread_cond_timedwait(&r->changed, &r->lock, &deadline) != 0) break;
    }
    pthread_mutex_unlock(&r->lock);
    return at;
}

static sturdy_status set_str(const sturdy_cache *c, const char *key, const char *value, sturdy_stored *stored) {
    return sturdy_cache_set(c, (const uint8_t *)key, strlen(key), (const uint8_t *)value, strlen(value), NULL, stored);
}

static int reads_as(const sturdy_cache *c, const char *key, const char *want) {
    sturdy_value v;
    sturdy_status s = sturdy_cache_get(c, (const uint8_t *)key, strlen(key), &v);
    int same = s == STURDY_STATUS_OK && v.len == strlen(want) && memcmp(v.data, want, v.len) == 0;
    sturdy_value_free(&v);
    return same;
}

static sturdy_cache *open_cache(const char *dir, const sturdy_clock *clock, uint64_t memory_limit) {
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(dir, &o));
    REQUIRE_OK(sturdy_options_set_memory_limit(o, memory_limit));
    REQUIRE_OK(sturdy_options_set_sweep_interval_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_health_interval_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_io_timeout_ms(o, 0));
    /* a call "lasts" as long as the test leaves the manual clock alone */
    REQUIRE_OK(sturdy_options_set_breaker_slow_call_threshold_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_breaker_open_timeout_ms(o, 1000));
    REQUIRE_OK(sturdy_options_set_breaker_recovery_factor(o, 1.0));
    if (clock) REQUIRE_OK(sturdy_options_set_clock(o, clock));
    sturdy_cache *c = NULL;
    REQUIRE_OK(sturdy_cache_open(o, &c));
    sturdy_options_free(o);
    REQUIRE_OK(sturdy_cache_wait_ready(c));
    return c;
}

static sturdy_fault fault(uint32_t op, uint32_t error) {
    sturdy_fault f;
    memset(&f, 0, sizeof f);
    f.op = op;
    f.error = error;
    f.trigger = STURDY_FAULT_TRIGGER_ALWAYS;
    return f;
}

/* A full disk: writes degrade to memory, the events say so, recovery replays. */
static void test_full_disk_degrades_and_recovers(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/full", root);
    sturdy_clock *clock = NULL;
    REQUIRE_OK(sturdy_clock_new_manual(1700000000000ull, &clock));
    sturdy_cache *c = open_cache(dir, clock, 64u << 20);
    recorder *r = (recorder *)calloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    r->main_thread = pthread_self();
    uint64_t listener = 0;
    CHECK_OK(sturdy_cache_subscribe(c, record, r, &listener));
    CHECK_OK(set_str(c, "before", "on disk", NULL));

    sturdy_fault enospc = fault(STURDY_CHAOS_OP_WRITE, STURDY_CHAOS_ERROR_ENOSPC);
    uint64_t id = 0;
    CHECK_OK(sturdy_cache_inject_fault(c, &enospc, &id));
    /* Five failing writes (the default failure threshold) trip the write breaker;
       every one of them still succeeds for the caller, into memory. */
    char key[32];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "trip-%d", i);
        sturdy_stored stored = STURDY_STORED_DISK;
        CHECK_OK(set_str(c, key, "kept in memory", &stored));
        CHECK(stored == STURDY_STORED_MEMORY);
    }
    sturdy_mode mode = STURDY_MODE_NORMAL;
    CHECK_OK(sturdy_cache_mode(c, &mode));
    CHECK(mode == STURDY_MODE_READ_ONLY);
    sturdy_stored stored = STURDY_STORED_DISK;
    CHECK_OK(set_str(c, "during", "outage", &stored));
    CHECK(stored == STURDY_STORED_MEMORY);
    CHECK(reads_as(c, "during", "outage"));
    CHECK(reads_as(c, "trip-0", "kept in memory"));
    CHECK(reads_as(c, "before", "on disk")); /* reads still reach the disk */
    bool all = true;
    CHECK_OK(sturdy_cache_flush(c, &all));
    CHECK(!all); /* the disk cannot take the queued writes yet */

    sturdy_stats st;
    CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
    CHECK(st.mode == STURDY_MODE_READ_ONLY);
    CHECK(st.write_breaker.state == STURDY_BREAKER_STATE_OPEN && st.write_breaker.trips == 1);
    CHECK(st.fallback_writes >= 6 && st.replay_depth == 6 && st.disk_errors_no_space >= 5);
    CHECK(st.incident != 0);
    char *json = NULL;
    CHECK_OK(sturdy_cache_stats_json(c, &json, NULL));
    CHECK(strstr(json, "\"mode\":\"read_only\"") != NULL && strstr(json, "\"kind\":\"no_space\"") != NULL);
    sturdy_string_free(json);

    /* The events of the incident, delivered on the library's thread. */
    CHECK_OK(sturdy_cache_flush_events(c));
    pthread_mutex_lock(&r->lock);
    int mode_at = find(r, STURDY_EVENT_KIND_MODE_CHANGED, NULL, "read_only");
    int open_at = find(r, STURDY_EVENT_KIND_BREAKER_STATE_CHANGED, "write", "open");
    CHECK(mode_at >= 0 && open_at >= 0);
    if (mode_at >= 0 && open_at >= 0) {
        CHECK(strcmp(r->events[mode_at].from, "normal") == 0);
        CHECK(r->events[mode_at].mode == STURDY_MODE_READ_ONLY);
        CHECK(strcmp(r->events[mode_at].name, "mode_changed") == 0 && r->events[mode_at].has_text);
        CHECK(strcmp(r->events[open_at].from, "closed") == 0);
        CHECK(r->events[mode_at].incident == st.incident && r->events[open_at].incident == st.incident);
    }
    CHECK(r->wrong_thread == 0);
    pthread_mutex_unlock(&r->lock);

    /* The disk is fine again; after the breaker's open time a recovery round
       probes it, closes the breaker and replays the queue. */
    CHECK_OK(sturdy_cache_remove_fault(c, id));
    CHECK_OK(sturdy_clock_advance_ms(clock, 1000));
    int rounds = 0;
    for (; rounds < 20; rounds++) {
        CHECK_OK(sturdy_cache_run_recovery(c, NULL));
        CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
        if (st.mode == STURDY_MODE_NORMAL && st.replay_depth == 0) break;
    }
    CHECK(rounds < 20);
    CHECK(st.recoveries == 1 && st.replay_drained == 6);
    CHECK(st.write_breaker.state == STURDY_BREAKER_STATE_CLOSED);
    int recovered_at = wait_for(r, STURDY_EVENT_KIND_RECOVERED);
    CHECK(recovered_at >= 0);
    if (recovered_at >= 0) {
        pthread_mutex_lock(&r->lock);
        CHECK(r->events[recovered_at].mode == STURDY_MODE_NORMAL);
        CHECK(r->events[recovered_at].drained == 6);
        pthread_mutex_unlock(&r->lock);
    }
    CHECK(find(r, STURDY_EVENT_KIND_BREAKER_STATE_CHANGED, "write", "closed") >= 0);

    /* Another handle (no memory tier) finds the replayed writes on disk. */
    sturdy_cache *other = open_cache(dir, NULL, 0);
    CHECK(reads_as(other, "trip-4", "kept in memory"));
    CHECK(reads_as(other, "during", "outage"));
    sturdy_cache_free(other);

    CHECK_OK(sturdy_cache_close(c)); /* removes the listener: r may go */
    sturdy_cache_free(c);
    sturdy_clock_free(clock);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* A failing device on reads: memory-only mode, hot values still served. */
static void test_read_errors_go_memory_only(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/eio", root);
    sturdy_cache *c = open_cache(dir, NULL, 64u << 20);
    recorder *r = (recorder *)calloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    r->main_thread = pthread_self();
    CHECK_OK(sturdy_cache_subscribe(c, record, r, NULL));
    CHECK_OK(set_str(c, "hot", "in memory", NULL));
    sturdy_fault eio = fault(STURDY_CHAOS_OP_READ, STURDY_CHAOS_ERROR_EIO);
    CHECK_OK(sturdy_cache_inject_fault(c, &eio, NULL));
    sturdy_value v;
    char key[32];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "cold-%d", i);
        /* a read that fails on the disk is a miss, never an error */
        CHECK_STATUS(sturdy_cache_get(c, (const uint8_t *)key, strlen(key), &v), STURDY_STATUS_NOT_FOUND);
    }
    sturdy_mode mode = STURDY_MODE_NORMAL;
    CHECK_OK(sturdy_cache_mode(c, &mode));
    CHECK(mode == STURDY_MODE_MEMORY_ONLY);
    CHECK(reads_as(c, "hot", "in memory"));
    sturdy_stored stored = STURDY_STORED_DISK;
    CHECK_OK(set_str(c, "new", "value", &stored));
    CHECK(stored == STURDY_STORED_MEMORY);
    CHECK(reads_as(c, "new", "value"));
    CHECK_OK(sturdy_cache_flush_events(c));
    pthread_mutex_lock(&r->lock);
    CHECK(find(r, STURDY_EVENT_KIND_MODE_CHANGED, NULL, "memory_only") >= 0);
    CHECK(find(r, STURDY_EVENT_KIND_BREAKER_STATE_CHANGED, "read", "open") >= 0);
    pthread_mutex_unlock(&r->lock);
    sturdy_cache_free(c); /* free closes, which removes the listener */
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* The path of the one entry file under `dir`/data (found with nftw). */
static char found_entry[512];
static int find_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    if (flag == FTW_F && strlen(path + ftw->base) == 32) {
        snprintf(found_entry, sizeof found_entry, "%s", path);
        return 1;
    }
    return 0;
}

/* A bit flipped on its way from the disk: the read is a miss (never a damaged
   value); the file itself is sound, so it is kept and reads again afterwards.
   A file damaged on disk: quarantined, with an event naming the reason. */
static void test_corruption(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/corrupt", root);
    sturdy_cache *c = open_cache(dir, NULL, 0); /* no memory tier: reads go to disk */
    recorder *r = (recorder *)calloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    r->main_thread = pthread_self();
    CHECK_OK(sturdy_cache_subscribe(c, record, r, NULL));
    CHECK_OK(set_str(c, "victim", "soon corrupt", NULL));
    sturdy_fault flip = fault(STURDY_CHAOS_OP_READ, STURDY_CHAOS_ERROR_CORRUPTION);
    flip.trigger = STURDY_FAULT_TRIGGER_ONCE;
    CHECK_OK(sturdy_cache_inject_fault(c, &flip, NULL));
    sturdy_value v;
    CHECK_STATUS(sturdy_cache_get(c, (const uint8_t *)"victim", 6, &v), STURDY_STATUS_NOT_FOUND);
    sturdy_stats st;
    CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
    CHECK(st.corruptions == 1 && st.quarantined == 0);
    CHECK(reads_as(c, "victim", "soon corrupt"));

    /* Damage the file itself: flip the last value byte (before the 8-byte checksum). */
    char data[600];
    snprintf(data, sizeof data, "%s/data", dir);
    found_entry[0] = '\0';
    nftw(data, find_entry, 8, FTW_PHYS);
    size_t len = 0;
    unsigned char *bytes = read_file(found_entry, &len);
    CHECK(bytes != NULL && len > 9);
    if (bytes != NULL && len > 9) {
        bytes[len - 9] ^= 1;
        CHECK(write_file(found_entry, bytes, len) == 0);
    }
    free(bytes);
    CHECK_STATUS(sturdy_cache_get(c, (const uint8_t *)"victim", 6, &v), STURDY_STATUS_NOT_FOUND);
    CHECK(access(found_entry, F_OK) != 0); /* moved to quarantine/ */
    CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
    CHECK(st.corruptions == 2 && st.quarantined == 1);
    CHECK_OK(sturdy_cache_flush_events(c));
    pthread_mutex_lock(&r->lock);
    int at = find(r, STURDY_EVENT_KIND_QUARANTINED, NULL, NULL);
    CHECK(at >= 0);
    if (at >= 0) CHECK(strcmp(r->events[at].reason, "bad-checksum") == 0);
    pthread_mutex_unlock(&r->lock);
    sturdy_cache_free(c);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int main(void) {
    char root[256];
    make_temp_dir(root, "chaos");
    test_full_disk_degrades_and_recovers(root);
    test_read_errors_go_memory_only(root);
    test_corruption(root);
    remove_tree(root);
    return check_summary("test_chaos");
}
