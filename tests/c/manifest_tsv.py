"""Flattens vectors/manifest.json into the TSV test_vectors.c reads (one line
per vector: file, expect, key_hex, tag_hex, value_type, created_ms,
expires_ms, codec, value_hex, path), so the C test needs no JSON parser."""

import json
import sys

manifest = json.load(open(sys.argv[1], encoding="utf-8"))
for v in manifest["vectors"]:
    fields = [
        v["file"],
        v["expect"],
        v["key_hex"],
        v["tag"].encode("utf-8").hex(),
        v["value_type"],
        v["created_ms"],
        v["expires_ms"],
        v["codec"],
        v["value_hex"],
        v["path"],
    ]
    print("\t".join(str(f) for f in fields))
