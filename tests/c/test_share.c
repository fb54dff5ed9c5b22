/*
 * A C process and a Rust process (ffi/examples/share_peer.rs, using the core
 * crate directly) share one cache directory and read each other's entries,
 * with their value types: the cross-language contract of docs/FORMAT.md. The
 * C handle stays open while the Rust process changes entries it holds in
 * memory, so this also checks coherence across processes.
 *
 * usage: test_share PEER_BINARY
 */
#include "check.h"

#include <stdint.h>

static const char *peer;
static char dir[256];

static int run_peer(const char *mode) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s '%s'", peer, mode, dir);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "peer %s failed (%d)\n", mode, rc);
    return rc;
}

/* Whether `key` holds `len` bytes equal to `want`, with value type `type`. */
static int holds(const sturdy_cache *c, const char *key, uint8_t type, const void *want, size_t len) {
    sturdy_value v;
    sturdy_status s = sturdy_cache_get(c, (const uint8_t *)key, strlen(key), &v);
    int ok = s == STURDY_STATUS_OK && v.value_type == type && v.len == len && (len == 0 || memcmp(v.data, want, len) == 0);
    if (!ok) fprintf(stderr, "%s: status %s, type %u, %zu bytes\n", key, sturdy_status_name((int)s), v.value_type, v.len);
    sturdy_value_free(&v);
    return ok;
}

static void put(const sturdy_cache *c, const char *key, uint8_t type, const void *data, size_t len) {
    sturdy_write_options o;
    memset(&o, 0, sizeof o);
    o.value_type = type;
    CHECK_OK(sturdy_cache_set(c, (const uint8_t *)key, strlen(key), (const uint8_t *)data, len, &o, NULL));
}

/* An IEEE-754 binary64 as 8 little-endian bytes, whatever the host's order. */
static void float_le(double x, unsigned char out[8]) {
    uint64_t bits;
    memcpy(&bits, &x, 8);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)(bits >> (8 * i));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PEER_BINARY\n", argv[0]);
        return 2;
    }
    peer = argv[1];
    make_temp_dir(dir, "share");
    CHECK(run_peer("write") == 0);

    sturdy_cache *c = NULL;
    REQUIRE_OK(sturdy_cache_open_default(dir, &c));
    /* what Rust wrote, with its types */
    const unsigned char rust_bytes[] = {9, 8, 7};
    unsigned char f[8];
    float_le(2.5, f);
    CHECK(holds(c, "rust:bytes", STURDY_VALUE_TYPE_BYTES, rust_bytes, 3));
    CHECK(holds(c, "rust:text", STURDY_VALUE_TYPE_STRING, "h\xc3\xa9llo from Rust", 16));
    CHECK(holds(c, "rust:int", STURDY_VALUE_TYPE_INT, "-123456789012345678901234567890", 31));
    CHECK(holds(c, "rust:float", STURDY_VALUE_TYPE_FLOAT, f, 8));
    CHECK(holds(c, "shared", STURDY_VALUE_TYPE_STRING, "from rust", 9));

    /* what C writes for Rust, one entry per value type */
    const unsigned char c_bytes[] = {0, 255, 1, 254};
    const unsigned char yes = 1;
    float_le(6.25, f);
    put(c, "c:bytes", STURDY_VALUE_TYPE_BYTES, c_bytes, 4);
    put(c, "c:text", STURDY_VALUE_TYPE_STRING, "na\xc3\xafve caf\xc3\xa9", 12);
    put(c, "c:json", STURDY_VALUE_TYPE_JSON, "{\"from\":\"c\",\"n\":[1,2]}", 22);
    put(c, "c:int", STURDY_VALUE_TYPE_INT, "-42", 3);
    put(c, "c:float", STURDY_VALUE_TYPE_FLOAT, f, 8);
    put(c, "c:bool", STURDY_VALUE_TYPE_BOOL, &yes, 1);
    put(c, "c:null", STURDY_VALUE_TYPE_NULL, NULL, 0);
    put(c, "shared", STURDY_VALUE_TYPE_STRING, "from c", 6);
    CHECK(holds(c, "shared", STURDY_VALUE_TYPE_STRING, "from c", 6)); /* now in this process's memory */

    /* Rust reads them, then overwrites "shared" and deletes "c:bytes" while
       this handle stays open: neither old copy may be served from memory. */
    CHECK(run_peer("check-c") == 0);
    CHECK(holds(c, "shared", STURDY_VALUE_TYPE_STRING, "from rust again", 15));
    sturdy_value v;
    CHECK_STATUS(sturdy_cache_get(c, (const uint8_t *)"c:bytes", 7, &v), STURDY_STATUS_NOT_FOUND);
    uint64_t removed = 0;
    CHECK_OK(sturdy_cache_evict_tag(c, "rusty", &removed));
    CHECK(removed == 1); /* the tag Rust wrote */
    put(c, "c:final", STURDY_VALUE_TYPE_STRING, "written last by c", 17);
    CHECK_OK(sturdy_cache_close(c));
    sturdy_cache_free(c);
    CHECK(run_peer("check-final") == 0);
    remove_tree(dir);
    return check_summary("test_share");
}
