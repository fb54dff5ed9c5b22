/*
 * Many pthreads on one sturdy_cache handle at once.
 *
 * Phase 1: each thread mixes every data operation on its own keys (which only
 * it writes, so it must always read back its last write) and on shared keys
 * (written by everyone, so a read must be one whole, undamaged record), plus
 * stats, keys, JSON and listeners. Afterwards the cache's set counter must
 * equal the sets and adds the threads saw succeed.
 * Phase 2: the threads keep going while the main thread closes the handle;
 * every call returns OK, NOT_FOUND or CLOSED, and once a thread has seen
 * CLOSED it never sees anything else.
 *
 * usage: test_threads [ITERATIONS]   (default 2000 per thread)
 */
#include "check.h"

#include <pthread.h>

#define THREADS 8
#define OWN_KEYS 32
#define SHARED_KEYS 8
#define RECORD 48

typedef struct {
    int id;
    unsigned iterations;
    const sturdy_cache *cache;
    unsigned versions[OWN_KEYS]; /* last version written per own key; 0: absent */
    unsigned long long sets_ok;
    unsigned long long adds_ok;
    int failures;
    char first_failure[256];
    unsigned long long phase2_calls;
    int saw_closed;
    int after_closed_not_closed;
} worker;

static pthread_barrier_t phase1_done;
static pthread_barrier_t phase2_go;
static pthread_mutex_t started_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started_cond = PTHREAD_COND_INITIALIZER;
static int started = 0;

static void fail(worker *w, const char *what, sturdy_status s) {
    if (w->failures++ == 0) {
        snprintf(w->first_failure, sizeof w->first_failure, "thread %d: %s: %s (%s)", w->id, what,
                 sturdy_status_name((int)s), sturdy_last_error_message());
    }
}

/* A record: writer, slot and version, then bytes derived from them. */
static void make_record(unsigned char *r, unsigned writer, unsigned slot, unsigned version) {
    memcpy(r, &writer, 4);
    memcpy(r + 4, &slot, 4);
    memcpy(r + 8, &version, 4);
    for (int i = 12; i < RECORD; i++) r[i] = (unsigned char)(writer * 31u + slot * 7u + version + (unsigned)i);
}

/* Whether `r` is a whole record; its writer, slot and version go to the outs. */
static int valid_record(const unsigned char *r, size_t len, unsigned *writer, unsigned *slot, unsigned *version) {
    if (len != RECORD) return 0;
    memcpy(writer, r, 4);
    memcpy(slot, r + 4, 4);
    memcpy(version, r + 8, 4);
    for (int i = 12; i < RECORD; i++) {
        if (r[i] != (unsigned char)(*writer * 31u + *slot * 7u + *version + (unsigned)i)) return 0;
    }
    return 1;
}

static void on_event(const sturdy_event *e, void *user_data) {
    (void)e;
    (void)user_data;
}

static void phase1(worker *w) {
    const sturdy_cache *c = w->cache;
    char key[32];
    unsigned char rec[RECORD];
    unsigned char buf[RECORD];
    sturdy_status s;
    for (unsigned i = 0; i < w->iterations; i++) {
        unsigned slot = i % OWN_KEYS;
        int klen = snprintf(key, sizeof key, "t%d-k%u", w->id, slot);
        const uint8_t *k = (const uint8_t *)key;
        switch (i % 7) {
        case 0:
        case 1: { /* set, then read your own write */
            unsigned version = i + 1;
            make_record(rec, (unsigned)w->id, slot, version);
            s = sturdy_cache_set(c, k, (size_t)klen, rec, RECORD, NULL, NULL);
            if (s != STURDY_STATUS_OK) fail(w, "set", s);
            else {
                w->sets_ok++;
                w->versions[slot] = version;
            }
            break;
        }
        case 2: { /* delete sometimes */
            bool deleted = false;
            s = sturdy_cache_delete(c, k, (size_t)klen, &deleted);
            if (s != STURDY_STATUS_OK) fail(w, "delete", s);
            else if (deleted != (w->versions[slot] != 0)) fail(w, "delete answered wrongly", s);
            w->versions[slot] = 0;
            break;
        }
        case 3: { /* add: stores only when absent */
            make_record(rec, (unsigned)w->id, slot, i + 1);
            bool added = false;
            s = sturdy_cache_add(c, k, (size_t)klen, rec, RECORD, NULL, &added);
            if (s != STURDY_STATUS_OK) fail(w, "add", s);
            else if (added != (w->versions[slot] == 0)) fail(w, "add answered wrongly", s);
            else if (added) {
                w->adds_ok++;
                w->versions[slot] = i + 1;
            }
            break;
        }
        case 4: { /* shared keys: anyone's whole record, never a torn one */
            char skey[32];
            int slen = snprintf(skey, sizeof skey, "shared-%u", i % SHARED_KEYS);
            make_record(rec, (unsigned)w->id, 1000 + i % SHARED_KEYS, i);
            s = sturdy_cache_set(c, (const uint8_t *)skey, (size_t)slen, rec, RECORD, NULL, NULL);
            if (s != STURDY_STATUS_OK) fail(w, "shared set", s);
            else w->sets_ok++;
            sturdy_value v;
            s = sturdy_cache_get(c, (const uint8_t *)skey, (size_t)slen, &v);
            unsigned wr, sl, ver;
            if (s != STURDY_STATUS_OK) fail(w, "shared get", s);
            else if (!valid_record(v.data, v.len, &wr, &sl, &ver) || sl != 1000 + i % SHARED_KEYS || wr >= THREADS)
                fail(w, "shared get: damaged record", s);
            sturdy_value_free(&v);
            break;
        }
        case 5: { /* touch and contains agree with what this thread wrote */
            bool touched = false, present = false;
            s = sturdy_cache_touch(c, k, (size_t)klen, STURDY_TTL_NEVER, &touched);
            if (s != STURDY_STATUS_OK || touched != (w->versions[slot] != 0)) fail(w, "touch", s);
            s = sturdy_cache_contains(c, k, (size_t)klen, &present);
            if (s != STURDY_STATUS_OK || present != (w->versions[slot] != 0)) fail(w, "contains", s);
            break;
        }
        default: { /* observability, now and then */
            if (i % 140 == 6) {
                sturdy_stats st;
                s = sturdy_cache_stats(c, &st, sizeof st);
                if (s != STURDY_STATUS_OK || st.mode != STURDY_MODE_NORMAL) fail(w, "stats", s);
                char *json = NULL;
                s = sturdy_cache_stats_json(c, &json, NULL);
                if (s != STURDY_STATUS_OK) fail(w, "stats_json", s);
                sturdy_string_free(json);
                sturdy_keys *it = NULL;
                s = sturdy_cache_keys(c, &it);
                if (s != STURDY_STATUS_OK) fail(w, "keys", s);
                const uint8_t *kk;
                size_t kl;
                int count = 0;
                while (sturdy_keys_next(it, &kk, &kl) == STURDY_STATUS_OK) count++;
                if (count > THREADS * OWN_KEYS + SHARED_KEYS) fail(w, "keys: too many", s);
                sturdy_keys_free(it);
                uint64_t id = 0;
                s = sturdy_cache_subscribe(c, on_event, w, &id);
                if (s != STURDY_STATUS_OK) fail(w, "subscribe", s);
                s = sturdy_cache_unsubscribe(c, id);
                if (s != STURDY_STATUS_OK) fail(w, "unsubscribe", s);
            }
            break;
        }
        }
        /* read your own write, through both get variants */
        sturdy_value v;
        s = sturdy_cache_get(c, k, (size_t)klen, &v);
        unsigned wr, sl, ver;
        if (w->versions[slot] == 0) {
            if (s != STURDY_STATUS_NOT_FOUND) fail(w, "get of a deleted key", s);
        } else if (s != STURDY_STATUS_OK) {
            fail(w, "get", s);
        } else if (!valid_record(v.data, v.len, &wr, &sl, &ver) || wr != (unsigned)w->id || sl != slot ||
                   ver != w->versions[slot]) {
            fail(w, "get: not my last write", s);
        }
        sturdy_value_free(&v);
        size_t len = 0;
        s = sturdy_cache_get_into(c, k, (size_t)klen, buf, sizeof buf, &len, NULL);
        if (w->versions[slot] != 0 &&
            (s != STURDY_STATUS_OK || !valid_record(buf, len, &wr, &sl, &ver) || ver != w->versions[slot]))
            fail(w, "get_into: not my last write", s);
    }
}

static void phase2(worker *w) {
    const sturdy_cache *c = w->cache;
    char key[32];
    unsigned char rec[RECORD];
    int announced = 0;
    for (unsigned long long i = 0;; i++) {
        int klen = snprintf(key, sizeof key, "p2-%d-%llu", w->id, i % 64);
        make_record(rec, (unsigned)w->id, 0, (unsigned)i);
        sturdy_status statuses[3];
        statuses[0] = sturdy_cache_set(c, (const uint8_t *)key, (size_t)klen, rec, RECORD, NULL, NULL);
        sturdy_value v;
        statuses[1] = sturdy_cache_get(c, (const uint8_t *)key, (size_t)klen, &v);
        sturdy_value_free(&v);
        sturdy_stats st;
        statuses[2] = sturdy_cache_stats(c, &st, sizeof st);
        w->phase2_calls += 3;
        for (int j = 0; j < 3; j++) {
            sturdy_status s = statuses[j];
            if (s == STURDY_STATUS_CLOSED) {
                w->saw_closed = 1;
            } else if (w->saw_closed) {
                w->after_closed_not_closed++;
            } else if (s != STURDY_STATUS_OK && s != STURDY_STATUS_NOT_FOUND) {
                fail(w, "phase 2 call", s);
            }
        }
        if (!announced && i >= 20) {
            pthread_mutex_lock(&started_lock);
            started++;
            pthread_cond_broadcast(&started_cond);
            pthread_mutex_unlock(&started_lock);
            announced = 1;
        }
        if (w->saw_closed && i >= 20) break;
    }
}

static void *run(void *arg) {
    worker *w = (worker *)arg;
    phase1(w);
    pthread_barrier_wait(&phase1_done);
    pthread_barrier_wait(&phase2_go);
    phase2(w);
    return NULL;
}

int main(int argc, char **argv) {
    unsigned iterations = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2000;
    char root[256];
    make_temp_dir(root, "threads");
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(root, &o));
    REQUIRE_OK(sturdy_options_set_sweep_interval_ms(o, 0));
    REQUIRE_OK(sturdy_options_set_health_interval_ms(o, 0));
    sturdy_cache *cache = NULL;
    REQUIRE_OK(sturdy_cache_open(o, &cache));
    sturdy_options_free(o);

    static worker workers[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_init(&phase1_done, NULL, THREADS + 1);
    pthread_barrier_init(&phase2_go, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++) {
        workers[t].id = t;
        workers[t].iterations = iterations;
        workers[t].cache = cache;
        CHECK(pthread_create(&threads[t], NULL, run, &workers[t]) == 0);
    }

    /* After phase 1, nothing runs: the counters must add up exactly. */
    pthread_barrier_wait(&phase1_done);
    unsigned long long sets = 0;
    for (int t = 0; t < THREADS; t++) sets += workers[t].sets_ok + workers[t].adds_ok;
    sturdy_stats st;
    CHECK_OK(sturdy_cache_stats(cache, &st, sizeof st));
    CHECK(st.sets == sets);
    CHECK(st.mode == STURDY_MODE_NORMAL);
    for (int t = 0; t < THREADS; t++) {
        CHECK(workers[t].failures == 0);
        if (workers[t].failures) fprintf(stderr, "%s (%d failures)\n", workers[t].first_failure, workers[t].failures);
    }

    /* Phase 2: close while every thread is busy on the handle. */
    pthread_barrier_wait(&phase2_go);
    pthread_mutex_lock(&started_lock);
    while (started < THREADS) pthread_cond_wait(&started_cond, &started_lock);
    pthread_mutex_unlock(&started_lock);
    CHECK_OK(sturdy_cache_close(cache));
    for (int t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
    for (int t = 0; t < THREADS; t++) {
        CHECK(workers[t].saw_closed);
        CHECK(workers[t].after_closed_not_closed == 0);
        CHECK(workers[t].failures == 0);
        if (workers[t].failures) fprintf(stderr, "%s\n", workers[t].first_failure);
    }
    CHECK_STATUS(sturdy_cache_close(cache), STURDY_STATUS_CLOSED);
    sturdy_cache_free(cache);
    pthread_barrier_destroy(&phase1_done);
    pthread_barrier_destroy(&phase2_go);
    remove_tree(root);
    printf("test_threads: %d threads x %u iterations, %llu sets\n", THREADS, iterations, sets);
    return check_summary("test_threads");
}
