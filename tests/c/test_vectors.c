/*
 * The committed golden entry files (vectors/), read from C two ways:
 * decoded directly with sturdy_entry_decode, and placed in a cache directory
 * and read through a cache, each compared with the manifest.
 *
 * usage: test_vectors VECTORS_DIR MANIFEST_TSV
 * The TSV is vectors/manifest.json flattened by scripts/test-c.sh (one line
 * per vector: file, expect, key_hex, tag_hex, value_type, created_ms,
 * expires_ms, codec, value_hex, path), so this test needs no JSON parser.
 */
#include "check.h"

#include <stdint.h>

typedef struct {
    char file[64];
    char expect[64];
    unsigned char *key;
    size_t key_len;
    unsigned char *tag;
    size_t tag_len;
    unsigned value_type;
    unsigned long long created_ms;
    unsigned long long expires_ms;
    unsigned codec;
    unsigned char *value;
    size_t value_len;
    char path[128];
} vector;

static unsigned char *unhex(const char *hex, size_t *len) {
    size_t n = strlen(hex) / 2;
    unsigned char *out = (unsigned char *)malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned byte = 0;
        sscanf(hex + 2 * i, "%2x", &byte);
        out[i] = (unsigned char)byte;
    }
    *len = n;
    return out;
}

/* Splits `line` at tabs in place (empty fields kept); returns the field count. */
static int split(char *line, char **fields, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (tab == NULL) break;
        *tab = '\0';
        p = tab + 1;
    }
    char *nl = strchr(fields[n - 1], '\n');
    if (nl) *nl = '\0';
    return n;
}

static int load(const char *tsv, vector *out, int max) {
    FILE *f = fopen(tsv, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", tsv);
        exit(2);
    }
    static char line[65536];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        char *fields[10];
        if (split(line, fields, 10) != 10) continue;
        vector *v = &out[n++];
        snprintf(v->file, sizeof v->file, "%s", fields[0]);
        snprintf(v->expect, sizeof v->expect, "%s", fields[1]);
        v->key = unhex(fields[2], &v->key_len);
        v->tag = unhex(fields[3], &v->tag_len);
        v->value_type = (unsigned)strtoul(fields[4], NULL, 10);
        v->created_ms = strtoull(fields[5], NULL, 10);
        v->expires_ms = strtoull(fields[6], NULL, 10);
        v->codec = (unsigned)strtoul(fields[7], NULL, 10);
        v->value = unhex(fields[8], &v->value_len);
        snprintf(v->path, sizeof v->path, "%s", fields[9]);
    }
    fclose(f);
    return n;
}

static sturdy_corruption reason_of(const char *expect) {
    if (strcmp(expect, "corrupt: bad-magic") == 0) return STURDY_CORRUPTION_BAD_MAGIC;
    if (strcmp(expect, "corrupt: bad-length") == 0) return STURDY_CORRUPTION_BAD_LENGTH;
    if (strcmp(expect, "corrupt: bad-checksum") == 0) return STURDY_CORRUPTION_BAD_CHECKSUM;
    if (strcmp(expect, "corrupt: bad-compression") == 0) return STURDY_CORRUPTION_BAD_COMPRESSION;
    if (strcmp(expect, "corrupt: bad-header") == 0) return STURDY_CORRUPTION_BAD_HEADER;
    if (strcmp(expect, "corrupt: bad-mac") == 0) return STURDY_CORRUPTION_BAD_MAC;
    return STURDY_CORRUPTION_UNKNOWN;
}

static int same(const uint8_t *a, size_t a_len, const unsigned char *b, size_t b_len) {
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static void decode_each(const char *vectors_dir, const vector *vs, int n) {
    char path[512];
    for (int i = 0; i < n; i++) {
        const vector *v = &vs[i];
        snprintf(path, sizeof path, "%.400s/%.63s", vectors_dir, v->file);
        size_t len = 0;
        unsigned char *bytes = read_file(path, &len);
        CHECK(bytes != NULL);
        if (bytes == NULL) continue;
        sturdy_entry *e = NULL;
        sturdy_corruption reason = STURDY_CORRUPTION_UNKNOWN;
        sturdy_status s = sturdy_entry_decode(bytes, len, NULL, 0, &e, &reason);
        if (strcmp(v->expect, "ok") == 0) {
            CHECK_STATUS(s, STURDY_STATUS_OK);
            CHECK(reason == STURDY_CORRUPTION_NONE);
            sturdy_entry_fields f;
            CHECK_OK(sturdy_entry_get_fields(e, &f));
            if (!same(f.key, f.key_len, v->key, v->key_len) || !same(f.tag, f.tag_len, v->tag, v->tag_len) ||
                !same(f.value, f.value_len, v->value, v->value_len) || f.value_type != v->value_type ||
                f.created_ms != v->created_ms || f.expires_ms != v->expires_ms || f.codec != v->codec) {
                check_failures++;
                fprintf(stderr, "%s decodes to other fields than the manifest's\n", v->file);
            }
            check_count++;
        } else if (strcmp(v->expect, "newer-version") == 0) {
            CHECK_STATUS(s, STURDY_STATUS_NEWER_FORMAT);
            CHECK(e == NULL);
        } else {
            CHECK_STATUS(s, STURDY_STATUS_CORRUPT);
            if (reason != reason_of(v->expect)) {
                check_failures++;
                fprintf(stderr, "%s: reason %d, manifest says %s\n", v->file, (int)reason, v->expect);
            }
            check_count++;
            CHECK(strstr(sturdy_last_error_message(), v->expect + strlen("corrupt: ")) != NULL);
            CHECK(e == NULL);
        }
        sturdy_entry_free(e);
        free(bytes);
    }
    /* argument checks */
    sturdy_entry *e = NULL;
    CHECK_STATUS(sturdy_entry_decode(NULL, 5, NULL, 0, &e, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_entry_decode((const uint8_t *)"x", 1, NULL, 0, NULL, NULL), STURDY_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(sturdy_entry_decode(NULL, 0, NULL, 0, &e, NULL), STURDY_STATUS_CORRUPT); /* no bytes: no magic */
    sturdy_entry_fields f;
    CHECK_STATUS(sturdy_entry_get_fields(NULL, &f), STURDY_STATUS_NULL_ARGUMENT);
    sturdy_entry_free(NULL);
}

/* Places every vector at its `path` in a fresh cache directory and reads it
   through a cache whose clock stands just after the vectors were written. */
static void read_through_a_cache(const char *root, const char *vectors_dir, const vector *vs, int n) {
    char dir[512], src[512], dst[700], folder[700];
    snprintf(dir, sizeof dir, "%.250s/placed", root);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(folder, sizeof folder, "%s/data", dir);
    CHECK(mkdir(folder, 0700) == 0);
    for (int i = 0; i < n; i++) {
        snprintf(src, sizeof src, "%.400s/%.63s", vectors_dir, vs[i].file);
        snprintf(folder, sizeof folder, "%s/%.7s", dir, vs[i].path); /* data/xx */
        mkdir(folder, 0700);
        snprintf(dst, sizeof dst, "%s/%s", dir, vs[i].path);
        size_t len = 0;
        unsigned char *bytes = read_file(src, &len);
        CHECK(bytes != NULL && write_file(dst, bytes, len) == 0);
        free(bytes);
    }
    sturdy_clock *clock = NULL;
    REQUIRE_OK(sturdy_clock_new_manual(vs[0].created_ms + 1, &clock));
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(dir, &o));
    REQUIRE_OK(sturdy_options_set_clock(o, clock));
    REQUIRE_OK(sturdy_options_set_sweep_interval_ms(o, 0));
    sturdy_cache *c = NULL;
    REQUIRE_OK(sturdy_cache_open(o, &c));
    sturdy_options_free(o);
    REQUIRE_OK(sturdy_cache_wait_ready(c));

    int corrupt = 0;
    const vector *expiring = NULL;
    for (int i = 0; i < n; i++) {
        const vector *v = &vs[i];
        sturdy_value val;
        sturdy_status s = sturdy_cache_get(c, v->key, v->key_len, &val);
        snprintf(dst, sizeof dst, "%s/%s", dir, v->path);
        if (strcmp(v->expect, "ok") == 0) {
            CHECK_STATUS(s, STURDY_STATUS_OK);
            if (!same(val.data, val.len, v->value, v->value_len) || val.value_type != v->value_type) {
                check_failures++;
                fprintf(stderr, "%s read through a cache differs from the manifest\n", v->file);
            }
            check_count++;
            if (v->expires_ms != 0) expiring = v;
        } else if (strcmp(v->expect, "newer-version") == 0) {
            CHECK_STATUS(s, STURDY_STATUS_NOT_FOUND);
            CHECK(access(dst, F_OK) == 0); /* left in place for the newer reader */
        } else {
            CHECK_STATUS(s, STURDY_STATUS_NOT_FOUND);
            CHECK(access(dst, F_OK) != 0); /* quarantined */
            corrupt++;
        }
        sturdy_value_free(&val);
    }
    sturdy_stats st;
    CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
    CHECK((int)st.quarantined == corrupt && corrupt > 0);
    /* the tagged, expiring vector: live at expires_ms - 1, dead at expires_ms */
    CHECK(expiring != NULL);
    if (expiring != NULL) {
        sturdy_value val;
        CHECK_OK(sturdy_clock_set_ms(clock, expiring->expires_ms - 1));
        CHECK_OK(sturdy_cache_get(c, expiring->key, expiring->key_len, &val));
        sturdy_value_free(&val);
        CHECK_OK(sturdy_clock_set_ms(clock, expiring->expires_ms));
        CHECK_STATUS(sturdy_cache_get(c, expiring->key, expiring->key_len, &val), STURDY_STATUS_NOT_FOUND);
    }
    sturdy_cache_free(c);
    sturdy_clock_free(clock);
}

/* An entry found through the directory walk (the one file under data/). */
static char entry_path[512];
static int find_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    if (flag == FTW_F && strlen(path + ftw->base) == 32) {
        snprintf(entry_path, sizeof entry_path, "%s", path);
        return 1;
    }
    return 0;
}

/* With a secret key: entries written carry a MAC; decoding needs the key;
   a keyed cache refuses (quarantines) entries written without it. */
static void secret_keys(const char *root, const char *vectors_dir, const vector *vs, int n) {
    char dir[512], data[600], path[512];
    snprintf(dir, sizeof dir, "%.250s/keyed", root);
    sturdy_options *o = NULL;
    REQUIRE_OK(sturdy_options_new(dir, &o));
    REQUIRE_OK(sturdy_options_set_secret_key(o, (const uint8_t *)"right key", 9));
    sturdy_cache *c = NULL;
    REQUIRE_OK(sturdy_cache_open(o, &c));
    CHECK_OK(sturdy_cache_set(c, K("signed"), K("payload"), NULL, NULL));
    snprintf(data, sizeof data, "%s/data", dir);
    entry_path[0] = '\0';
    nftw(data, find_entry, 8, FTW_PHYS);
    size_t len = 0;
    unsigned char *bytes = read_file(entry_path, &len);
    CHECK(bytes != NULL);
    sturdy_entry *e = NULL;
    sturdy_corruption reason = STURDY_CORRUPTION_NONE;
    CHECK_OK(sturdy_entry_decode(bytes, len, (const uint8_t *)"right key", 9, &e, &reason));
    sturdy_entry_free(e);
    CHECK_OK(sturdy_entry_decode(bytes, len, NULL, 0, &e, NULL)); /* a reader without a key skips the MAC */
    sturdy_entry_free(e);
    CHECK_STATUS(sturdy_entry_decode(bytes, len, (const uint8_t *)"wrong key", 9, &e, &reason), STURDY_STATUS_CORRUPT);
    CHECK(reason == STURDY_CORRUPTION_BAD_MAC && e == NULL);
    CHECK_MESSAGE("bad-mac");
    free(bytes);

    /* an unkeyed golden vector is refused by a keyed reader */
    for (int i = 0; i < n; i++) {
        if (strcmp(vs[i].expect, "ok") != 0) continue;
        snprintf(path, sizeof path, "%.400s/%.63s", vectors_dir, vs[i].file);
        bytes = read_file(path, &len);
        CHECK_STATUS(sturdy_entry_decode(bytes, len, (const uint8_t *)"right key", 9, &e, &reason),
                     STURDY_STATUS_CORRUPT);
        CHECK(reason == STURDY_CORRUPTION_BAD_MAC);
        free(bytes);
        break;
    }
    sturdy_cache_free(c);

    /* the same directory opened with another key: the entry is a miss */
    REQUIRE_OK(sturdy_options_set_secret_key(o, (const uint8_t *)"other key", 9));
    REQUIRE_OK(sturdy_cache_open(o, &c));
    sturdy_value v;
    CHECK_STATUS(sturdy_cache_get(c, K("signed"), &v), STURDY_STATUS_NOT_FOUND);
    sturdy_stats st;
    CHECK_OK(sturdy_cache_stats(c, &st, sizeof st));
    CHECK(st.quarantined == 1);
    sturdy_cache_free(c);
    sturdy_options_free(o);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s VECTORS_DIR MANIFEST_TSV\n", argv[0]);
        return 2;
    }
    static vector vs[64];
    int n = load(argv[2], vs, 64);
    CHECK(n >= 13); /* every committed vector */
    char root[256];
    make_temp_dir(root, "vectors");
    decode_each(argv[1], vs, n);
    read_through_a_cache(root, argv[1], vs, n);
    secret_keys(root, argv[1], vs, n);
    for (int i = 0; i < n; i++) {
        free(vs[i].key);
        free(vs[i].tag);
        free(vs[i].value);
    }
    remove_tree(root);
    printf("test_vectors: %d vectors\n", n);
    return check_summary("test_vectors");
}
