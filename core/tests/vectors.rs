//! Golden entry files: `vectors/*.entry` and `vectors/manifest.json` (see `vectors/README.md`).
//!
//! The files are a cross-language contract: every binding's tests decode them and
//! compare against the manifest. These tests prove that this build of the core
//! reads exactly those bytes, writes exactly those bytes, and that a cache serves,
//! quarantines or ignores each file as the manifest says.
//!
//! Regenerate (only when the format deliberately changes):
//! `STURDY_REGEN_VECTORS=1 cargo test -p sturdycache --test vectors -- --ignored regenerate_vectors`

use std::path::{Path, PathBuf};

use sturdycache::clock::ManualClock;
use sturdycache::format::{self, Codec, Compression, DecodeError, EncodeInput};
use sturdycache::{Cache, Config};

const REGEN_ENV: &str = "STURDY_REGEN_VECTORS";
/// Creation time written into every vector.
const CREATED_MS: u64 = 1_700_000_000_000;
/// Expiry of the expiring vector (one hour after creation).
const EXPIRES_MS: u64 = CREATED_MS + 3_600_000;
/// Compression used for the vectors: the cache's defaults.
const COMPRESSION: Compression = Compression { threshold: 4096, level: 3 };
/// No compression at all, for byte-exact re-encoding of uncompressed vectors.
const PLAIN: Compression = Compression { threshold: usize::MAX, level: 3 };

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("vectors")
}

// ---------------------------------------------------------------------------
// The vectors (generator side)
// ---------------------------------------------------------------------------

/// How a bad vector is derived from a well-formed encoding.
#[derive(Debug, Clone, Copy)]
enum Damage {
    None,
    /// XOR the last value byte (the one just before the checksum) with 0x01.
    FlipLastValueByte,
    /// Drop this many bytes from the end of the file.
    Truncate(usize),
    /// Replace byte 0 with `X`.
    BadMagic,
    /// Write this version at offset 4 and recompute the checksum.
    Version(u16),
    /// Add one to the header's value_len and recompute the checksum.
    ValueLenPlusOne,
    /// Write codec byte 2 and recompute the checksum.
    UnknownCodec,
}

impl Damage {
    fn expect(self) -> &'static str {
        match self {
            Damage::None => "ok",
            Damage::FlipLastValueByte => "corrupt: bad-checksum",
            Damage::Truncate(_) => "corrupt: bad-length",
            Damage::BadMagic => "corrupt: bad-magic",
            Damage::Version(_) => "newer-version",
            Damage::ValueLenPlusOne => "corrupt: bad-compression",
            Damage::UnknownCodec => "corrupt: bad-header",
        }
    }

    fn describe(self, file_len: usize) -> String {
        match self {
            Damage::None => "none".into(),
            Damage::FlipLastValueByte => format!("byte {} (last value byte) XOR 0x01", file_len - 9),
            Damage::Truncate(n) => format!("last {n} bytes removed"),
            Damage::BadMagic => "byte 0 replaced by 0x58 ('X')".into(),
            Damage::Version(v) => format!("version (offset 4) set to {v}, checksum recomputed"),
            Damage::ValueLenPlusOne => "value_len (offset 24) increased by 1, checksum recomputed".into(),
            Damage::UnknownCodec => "codec (offset 8) set to 2, checksum recomputed".into(),
        }
    }

    fn apply(self, mut bytes: Vec<u8>) -> Vec<u8> {
        let resum = |b: &mut Vec<u8>| {
            let end = b.len() - format::CHECKSUM_LEN;
            let sum = xxh3_64_of(&b[..end]);
            b[end..].copy_from_slice(&sum.to_le_bytes());
        };
        match self {
            Damage::None => {}
            Damage::FlipLastValueByte => {
                let at = bytes.len() - format::CHECKSUM_LEN - 1;
                bytes[at] ^= 0x01;
            }
            Damage::Truncate(n) => bytes.truncate(bytes.len() - n),
            Damage::BadMagic => bytes[0] = b'X',
            Damage::Version(v) => {
                bytes[4..6].copy_from_slice(&v.to_le_bytes());
                resum(&mut bytes);
            }
            Damage::ValueLenPlusOne => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&bytes[24..32]);
                bytes[24..32].copy_from_slice(&(u64::from_le_bytes(len) + 1).to_le_bytes());
                resum(&mut bytes);
            }
            Damage::UnknownCodec => {
                bytes[8] = 2;
                resum(&mut bytes);
            }
        }
        bytes
    }
}

/// xxh3-64 of an entry body (everything before the checksum).
fn xxh3_64_of(body: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(body)
}

struct Spec {
    file: &'static str,
    description: &'static str,
    key: Vec<u8>,
    tag: &'static str,
    value: Vec<u8>,
    value_type: u8,
    expires_ms: u64,
    damage: Damage,
}

fn compressible_text() -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < 8192 {
        out.extend_from_slice(format!("line {i:04}: the quick brown fox jumps over the lazy dog\n").as_bytes());
        i += 1;
    }
    out.truncate(8192);
    out
}

fn specs() -> Vec<Spec> {
    let ok = |file, description, key: &str, tag, value: Vec<u8>, value_type, expires_ms| Spec {
        file,
        description,
        key: key.as_bytes().to_vec(),
        tag,
        value,
        value_type,
        expires_ms,
        damage: Damage::None,
    };
    let bad = |file, description, key: &str, value: &[u8], damage| Spec {
        file,
        description,
        key: key.as_bytes().to_vec(),
        tag: "",
        value: value.to_vec(),
        value_type: 0,
        expires_ms: 0,
        damage,
    };
    vec![
        ok("small-ascii.entry", "short ASCII key and value", "greeting", "", b"hello, world".to_vec(), 0, 0),
        ok("empty-value.entry", "zero-length value", "empty", "", Vec::new(), 0, 0),
        ok("binary-value.entry", "every byte value 0x00..=0xff once", "binary", "", (0..=255u8).collect(), 0, 0),
        ok(
            "utf8-key.entry",
            "key with 2-, 3- and 4-byte UTF-8 sequences",
            "clé-日本-🦀",
            "",
            "värde ✓".as_bytes().to_vec(),
            0,
            0,
        ),
        ok(
            "tagged-expiring.entry",
            "tag and an expiry one hour after creation",
            "session:42",
            "users",
            b"{\"user\":42}".to_vec(),
            0,
            EXPIRES_MS,
        ),
        ok(
            "zstd.entry",
            "8 KiB compressible text stored as one zstd frame (codec 1)",
            "big-text",
            "",
            compressible_text(),
            0,
            0,
        ),
        ok(
            "value-type.entry",
            "non-zero value_type (165, arbitrary: the bindings define the codes)",
            "typed",
            "",
            b"42".to_vec(),
            165,
            0,
        ),
        bad("bad-checksum.entry", "last value byte flipped", "bad-checksum", b"flip me", Damage::FlipLastValueByte),
        bad("bad-length.entry", "file truncated by 3 bytes", "bad-length", b"cut me", Damage::Truncate(3)),
        bad("bad-magic.entry", "first magic byte replaced", "bad-magic", b"not ours", Damage::BadMagic),
        bad(
            "newer-version.entry",
            "entry format version 2 (valid checksum): a newer writer's entry",
            "newer-version",
            b"from the future",
            Damage::Version(2),
        ),
    ]
    .into_iter()
    .chain([
        Spec {
            file: "bad-compression.entry",
            description: "zstd frame shorter than the header's value_len (checksum valid)",
            key: b"bad-compression".to_vec(),
            tag: "",
            value: compressible_text(),
            value_type: 0,
            expires_ms: 0,
            damage: Damage::ValueLenPlusOne,
        },
        bad("bad-header.entry", "unknown codec 2 (checksum valid)", "bad-header", b"codec?", Damage::UnknownCodec),
    ])
    .collect()
}

fn encode_spec(s: &Spec) -> Vec<u8> {
    let input = EncodeInput {
        key: &s.key,
        tag: s.tag.as_bytes(),
        value: &s.value,
        value_type: s.value_type,
        created_ms: CREATED_MS,
        expires_ms: s.expires_ms,
        mac_key: None,
    };
    format::encode(&input, COMPRESSION)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

/// Valid UTF-8 without control characters other than newline and tab.
fn printable(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok().filter(|s| s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn entry_path(hash: u128) -> String {
    format!("data/{:02x}/{hash:032x}", (hash >> 120) as u8)
}

/// Writes `vectors/*.entry` and `vectors/manifest.json`. Ignored; runs only with
/// `STURDY_REGEN_VECTORS=1` so a plain `--ignored` run cannot rewrite the contract.
#[test]
#[ignore = "regenerates vectors/; run with STURDY_REGEN_VECTORS=1"]
fn regenerate_vectors() {
    if std::env::var_os(REGEN_ENV).is_none_or(|v| v != "1") {
        return;
    }
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut items = Vec::new();
    for s in specs() {
        let good = encode_spec(&s);
        let header = format::decode_header(&good).unwrap();
        let bytes = s.damage.apply(good.clone());
        std::fs::write(dir.join(s.file), &bytes).unwrap();
        let hash = format::key_hash(&s.key);
        let key_utf8 = std::str::from_utf8(&s.key).map_or("null".into(), json_str);
        let value_utf8 = printable(&s.value).map_or("null".into(), json_str);
        let fields = [
            ("file", json_str(s.file)),
            ("description", json_str(s.description)),
            ("expect", json_str(s.damage.expect())),
            ("damage", json_str(&s.damage.describe(good.len()))),
            ("key_utf8", key_utf8),
            ("key_hex", json_str(&hex(&s.key))),
            ("key_hash", json_str(&format!("{hash:032x}"))),
            ("path", json_str(&entry_path(hash))),
            ("tag", json_str(s.tag)),
            ("value_type", s.value_type.to_string()),
            ("created_ms", CREATED_MS.to_string()),
            ("expires_ms", s.expires_ms.to_string()),
            ("codec", (header.codec as u8).to_string()),
            ("stored_len", header.stored_len.to_string()),
            ("value_len", s.value.len().to_string()),
            ("file_len", bytes.len().to_string()),
            ("value_utf8", value_utf8),
            ("value_hex", json_str(&hex(&s.value))),
        ];
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("      {}: {v}", json_str(k))).collect();
        items.push(format!("    {{\n{}\n    }}", body.join(",\n")));
    }
    let manifest = format!(
        "{{\n  \"entry_format_version\": {},\n  \"vectors\": [\n{}\n  ]\n}}\n",
        format::VERSION,
        items.join(",\n")
    );
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
}

// ---------------------------------------------------------------------------
// A small JSON reader (serde_json is not a dependency)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(self.s.get(self.at), Some(&c), "expected {:?} at byte {}", c as char, self.at);
        self.at += 1;
    }

    fn peek(&mut self) -> u8 {
        self.ws();
        *self.s.get(self.at).expect("unexpected end of JSON")
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'{' => {
                self.eat(b'{');
                let mut fields = Vec::new();
                if self.peek() == b'}' {
                    self.at += 1;
                    return Json::Obj(fields);
                }
                loop {
                    let Json::Str(k) = self.value() else { panic!("object key must be a string") };
                    self.eat(b':');
                    fields.push((k, self.value()));
                    match self.peek() {
                        b',' => self.at += 1,
                        _ => break,
                    }
                }
                self.eat(b'}');
                Json::Obj(fields)
            }
            b'[' => {
                self.eat(b'[');
                let mut items = Vec::new();
                if self.peek() == b']' {
                    self.at += 1;
                    return Json::Arr(items);
                }
                loop {
                    items.push(self.value());
                    match self.peek() {
                        b',' => self.at += 1,
                        _ => break,
                    }
                }
                self.eat(b']');
                Json::Arr(items)
            }
            b'"' => Json::Str(self.string()),
            b'n' => self.word("null", Json::Null),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            _ => {
                let start = self.at;
                while self.at < self.s.len()
                    && matches!(self.s[self.at], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.at += 1;
                }
                assert!(self.at > start, "unexpected byte at {start}");
                Json::Num(String::from_utf8(self.s[start..self.at].to_vec()).unwrap())
            }
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Json {
        assert!(self.s[self.at..].starts_with(w.as_bytes()), "expected {w} at byte {}", self.at);
        self.at += w.len();
        v
    }

    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.at..self.at + 4]).unwrap();
        self.at += 4;
        u32::from_str_radix(h, 16).expect("\\u escape")
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let c = self.s[self.at];
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.s[self.at];
                    self.at += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut cp = self.hex4();
                            if (0xd800..0xdc00).contains(&cp) {
                                assert_eq!(&self.s[self.at..self.at + 2], b"\\u", "lone surrogate");
                                self.at += 2;
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (self.hex4() - 0xdc00);
                            }
                            char::from_u32(cp).expect("valid code point")
                        }
                        _ => panic!("bad escape \\{}", e as char),
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).expect("JSON strings are UTF-8")
    }
}

fn parse_json(text: &str) -> Json {
    let mut p = Parser { s: text.as_bytes(), at: 0 };
    let v = p.value();
    p.ws();
    assert_eq!(p.at, text.len(), "trailing bytes after JSON value");
    v
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        let Json::Obj(fields) = self else { panic!("not an object") };
        fields.iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or_else(|| panic!("missing field {key}"))
    }
    fn str(&self) -> &str {
        let Json::Str(s) = self else { panic!("not a string: {self:?}") };
        s
    }
    fn opt_str(&self) -> Option<&str> {
        match self {
            Json::Null => None,
            v => Some(v.str()),
        }
    }
    fn u64(&self) -> u64 {
        let Json::Num(n) = self else { panic!("not a number: {self:?}") };
        n.parse().expect("unsigned integer")
    }
}

// ---------------------------------------------------------------------------
// The manifest (reader side)
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Vector {
    file: String,
    expect: String,
    key: Vec<u8>,
    key_hash: String,
    path: String,
    tag: String,
    value: Vec<u8>,
    value_type: u8,
    created_ms: u64,
    expires_ms: u64,
    codec: u8,
    stored_len: u64,
    file_len: u64,
    bytes: Vec<u8>,
}

fn load_manifest() -> Vec<Vector> {
    let dir = vectors_dir();
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("manifest.json").display()));
    let root = parse_json(&text);
    assert_eq!(root.get("entry_format_version").u64(), u64::from(format::VERSION));
    let Json::Arr(items) = root.get("vectors") else { panic!("vectors must be an array") };
    let vectors: Vec<Vector> = items
        .iter()
        .map(|v| {
            let key = unhex(v.get("key_hex").str());
            if let Some(k) = v.get("key_utf8").opt_str() {
                assert_eq!(k.as_bytes(), &key[..], "key_utf8 and key_hex disagree");
            }
            let value = unhex(v.get("value_hex").str());
            if let Some(s) = v.get("value_utf8").opt_str() {
                assert_eq!(s.as_bytes(), &value[..], "value_utf8 and value_hex disagree");
            }
            let file = v.get("file").str().to_string();
            let bytes = std::fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Vector {
                expect: v.get("expect").str().to_string(),
                key,
                key_hash: v.get("key_hash").str().to_string(),
                path: v.get("path").str().to_string(),
                tag: v.get("tag").str().to_string(),
                value,
                value_type: u8::try_from(v.get("value_type").u64()).expect("value_type is a byte"),
                created_ms: v.get("created_ms").u64(),
                expires_ms: v.get("expires_ms").u64(),
                codec: u8::try_from(v.get("codec").u64()).expect("codec is a byte"),
                stored_len: v.get("stored_len").u64(),
                file_len: v.get("file_len").u64(),
                file,
                bytes,
            }
        })
        .collect();
    // The set the brief promises bindings: guard against a manifest that lost some.
    let expects: Vec<&str> = vectors.iter().map(|v| v.expect.as_str()).collect();
    for want in ["ok", "corrupt: bad-checksum", "corrupt: bad-length", "corrupt: bad-magic", "newer-version"] {
        assert!(expects.contains(&want), "no vector expects {want:?}");
    }
    assert!(vectors.iter().any(|v| v.expect == "ok" && v.codec == Codec::Zstd as u8), "no compressed vector");
    vectors
}

fn corruption_reason(expect: &str) -> Option<&str> {
    expect.strip_prefix("corrupt: ")
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// (a) Every vector decodes to what the manifest says, or fails the way it says.
#[test]
fn vectors_decode_as_the_manifest_says() {
    for v in load_manifest() {
        let name = &v.file;
        assert_eq!(v.bytes.len() as u64, v.file_len, "{name}: file_len");
        let hash = format::key_hash(&v.key);
        assert_eq!(format!("{hash:032x}"), v.key_hash, "{name}: key_hash is xxh3-128 of the key");
        assert_eq!(entry_path(hash), v.path, "{name}: path");
        match format::decode(&v.bytes) {
            Ok(d) => {
                assert_eq!(v.expect, "ok", "{name}: decoded, but the manifest expects {}", v.expect);
                assert_eq!(d.key, &v.key[..], "{name}: key");
                assert_eq!(d.tag, v.tag.as_bytes(), "{name}: tag");
                assert_eq!(&*d.value, &v.value[..], "{name}: value");
                let h = d.header;
                assert_eq!(h.value_type, v.value_type, "{name}: value_type");
                assert_eq!(h.created_ms, v.created_ms, "{name}: created_ms");
                assert_eq!(h.expires_ms, v.expires_ms, "{name}: expires_ms");
                assert_eq!(h.codec as u8, v.codec, "{name}: codec");
                assert_eq!(h.stored_len, v.stored_len, "{name}: stored_len");
                assert_eq!(h.value_len, v.value.len() as u64, "{name}: value_len");
            }
            Err(DecodeError::Corrupt(c)) => {
                assert_eq!(Some(c.as_str()), corruption_reason(&v.expect), "{name}: corruption reason");
            }
            Err(DecodeError::NewerVersion(n)) => {
                assert_eq!(v.expect, "newer-version", "{name}: newer version {n}");
                assert!(n > format::VERSION, "{name}: reported version {n}");
            }
        }
    }
}

/// (b) Encoding the manifest's fields of each uncompressed, undamaged vector
/// reproduces its file byte for byte (compressed output depends on the zstd
/// build, so the zstd vector is only checked by decoding).
#[test]
fn uncompressed_vectors_reencode_byte_for_byte() {
    let mut checked = 0;
    for v in load_manifest().into_iter().filter(|v| v.expect == "ok" && v.codec == Codec::None as u8) {
        let tag = v.tag.as_bytes();
        let input = EncodeInput {
            key: &v.key,
            tag,
            value: &v.value,
            value_type: v.value_type,
            created_ms: v.created_ms,
            expires_ms: v.expires_ms,
            mac_key: None,
        };
        assert!(format::encode(&input, PLAIN) == v.bytes, "{}: re-encoding differs from the file", v.file);
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} uncompressed vectors");
}

/// (c) Placed at its path in a real cache directory, each vector is served with
/// the manifest's value, quarantined as the manifest's reason, or (a newer
/// version) left alone and reported as a miss.
#[test]
fn a_cache_serves_quarantines_or_ignores_each_vector() {
    let vectors = load_manifest();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(CREATED_MS + 1_000);
    let mut config = Config::new(dir.path());
    config.sweep_interval = None;
    config.clock = std::sync::Arc::new(clock.clone());
    let cache = Cache::open(config).unwrap();
    cache.wait_ready();
    for v in &vectors {
        let path = dir.path().join(&v.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &v.bytes).unwrap();
    }
    let quarantine = dir.path().join("quarantine");
    let mut corrupt = 0;
    for v in &vectors {
        let name = &v.file;
        let got = cache.get(&v.key).unwrap();
        let path = dir.path().join(&v.path);
        if v.expect == "ok" {
            let got = got.unwrap_or_else(|| panic!("{name}: not served"));
            assert_eq!(&*got, &v.value[..], "{name}: value");
            assert_eq!(got.value_type(), v.value_type, "{name}: value_type");
            assert!(path.exists(), "{name}: a good entry stays in place");
        } else if let Some(reason) = corruption_reason(&v.expect) {
            corrupt += 1;
            assert!(got.is_none(), "{name}: a corrupt entry was served");
            assert!(!path.exists(), "{name}: corrupt entry left in data/");
            let marker = format!("-{reason}-{}-", v.key_hash);
            let kept: Vec<_> = std::fs::read_dir(&quarantine)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.contains(&marker))
                .collect();
            assert_eq!(kept.len(), 1, "{name}: quarantine holds {kept:?}, want one name containing {marker}");
            assert_eq!(std::fs::read(quarantine.join(&kept[0])).unwrap(), v.bytes, "{name}: quarantined bytes");
        } else {
            assert_eq!(v.expect, "newer-version", "{name}: unknown expectation");
            assert!(got.is_none(), "{name}: a newer-version entry was served");
            assert_eq!(std::fs::read(&path).unwrap(), v.bytes, "{name}: a newer writer's entry must be left alone");
        }
    }
    let m = cache.metrics();
    assert_eq!((m.corruptions, m.quarantined), (corrupt, corrupt), "corruption counters");

    // Expiry is read from the file: the expiring vector dies at its expiry instant.
    let expiring = vectors.iter().find(|v| v.expect == "ok" && v.expires_ms != 0).expect("an expiring vector");
    clock.set_ms(expiring.expires_ms - 1);
    assert!(cache.get(&expiring.key).unwrap().is_some(), "live one millisecond before expiry");
    clock.set_ms(expiring.expires_ms);
    assert!(cache.get(&expiring.key).unwrap().is_none(), "expired at the expiry instant");
}

// ---------------------------------------------------------------------------
// The rest of the on-disk contract (docs/FORMAT.md), checked on a real directory
// ---------------------------------------------------------------------------

fn quiet_config(dir: &Path) -> Config {
    let mut config = Config::new(dir);
    config.sweep_interval = None;
    config
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The bucket of the coherence map a key's hash picks: bits 64..80 of xxh3-128.
fn bucket_offset(key: &[u8]) -> usize {
    64 + 4 * ((format::key_hash(key) >> 64) as usize & 0xffff)
}

/// VERSION text, entry naming, and the coherence map's header, bucket choice,
/// one bump per write and the shared byte count, as FORMAT.md states them.
#[test]
fn directory_layout_matches_format_md() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(quiet_config(dir.path())).unwrap();
    cache.wait_ready();
    assert_eq!(std::fs::read_to_string(dir.path().join("VERSION")).unwrap(), "sturdycache 1\n");
    let map_path = dir.path().join("coherence.map");
    let map = std::fs::read(&map_path).unwrap();
    assert_eq!(map.len(), 64 + 4 * 65536, "map length");
    assert_eq!(&map[0..4], b"SCGT", "map magic");
    assert_eq!((u32_at(&map, 4), u32_at(&map, 8)), (1, 65536), "map version and bucket count");

    let key = b"layout";
    let before = u32_at(&map, bucket_offset(key));
    cache.set(key, b"first").unwrap();
    let hash = format::key_hash(key);
    let entry = dir.path().join(entry_path(hash));
    let file = std::fs::read(&entry).expect("entry at data/<first byte>/<32 hex>");
    assert_eq!(&*format::decode(&file).unwrap().value, b"first");
    let map = std::fs::read(&map_path).unwrap();
    assert_eq!(u32_at(&map, bucket_offset(key)), before.wrapping_add(1), "one set bumps its bucket once");
    assert_eq!(u64_at(&map, 16), file.len() as u64, "disk bytes count the entry file");

    cache.set(key, b"second, longer").unwrap();
    let file = std::fs::read(&entry).unwrap();
    let map = std::fs::read(&map_path).unwrap();
    assert_eq!(u32_at(&map, bucket_offset(key)), before.wrapping_add(2));
    assert_eq!(u64_at(&map, 16), file.len() as u64, "a replaced entry counts once");
    assert_eq!(u64_at(&map, 24), u64_at(&map, 32), "no change left open");
}

/// An opener that finds the map's magic but not yet its bucket count (its
/// creator is between the two stores, or died there) completes the header and
/// shares the map instead of silently falling back to a private table.
#[test]
fn a_half_initialised_coherence_map_is_completed_not_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let mut map = vec![0u8; 64 + 4 * 65536];
    map[0..4].copy_from_slice(b"SCGT");
    std::fs::write(dir.path().join("coherence.map"), &map).unwrap();
    let cache = Cache::open(quiet_config(dir.path())).unwrap();
    assert!(cache.is_coherent_across_processes(), "fell back to a process-local table");
    let map = std::fs::read(dir.path().join("coherence.map")).unwrap();
    assert_eq!((u32_at(&map, 4), u32_at(&map, 8)), (1, 65536), "header completed");
}

/// Scratch names (`.tmp-<pid>-<n>`) are unique per process, not per cache: a
/// second cache on the same directory in the same process must not reuse the
/// name of a temp file the first one left behind.
#[test]
fn two_caches_in_one_process_never_share_a_scratch_name() {
    use sturdycache::fs::{Fault, FaultRule, FaultyFs, FsOp, StdFs, Trigger};
    const EIO: i32 = 5;
    let dir = tempfile::tempdir().unwrap();
    let faulty = std::sync::Arc::new(FaultyFs::new(std::sync::Arc::new(StdFs)));
    let mut config = quiet_config(dir.path());
    config.fs = faulty.clone();
    let a = Cache::open(config).unwrap();
    let b = Cache::open(quiet_config(dir.path())).unwrap();
    a.wait_ready();
    b.wait_ready();
    let k1 = b"scratch-0".to_vec();
    let folder = format::key_hash(&k1) >> 120;
    let k2 = (1..)
        .map(|i| format!("scratch-{i}").into_bytes())
        .find(|k| format::key_hash(k) >> 120 == folder)
        .expect("a second key in the same folder");
    // A's rename fails and so does the clean-up: its temp file stays behind.
    faulty.inject(FaultRule::new(FsOp::Rename, Fault::Errno(EIO), Trigger::Once));
    faulty.inject(FaultRule::new(FsOp::Remove, Fault::Errno(EIO), Trigger::Once));
    assert!(!a.set(&k1, b"left behind").unwrap().on_disk(), "the failed write was kept in memory");
    let sub = dir.path().join(format!("data/{folder:02x}"));
    let leftovers = || -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    };
    let left = leftovers();
    assert_eq!(left.len(), 1, "the failed write left its temp file");
    b.set(&k2, b"must not collide").expect("B picked a fresh scratch name");
    assert_eq!(leftovers(), left, "A's leftover untouched by B");
    assert_eq!(b.get(&k2).unwrap().as_deref(), Some(&b"must not collide"[..]));
}

/// Another process (here: another cache on the same directory, which shares the
/// coherence map but not the key locks) replaces a key while this one is between
/// its own file change and its generation bump. This cache must not keep its
/// own value (set) or its old value (touch) in memory over the newer file.
#[test]
fn a_writer_overtaken_by_another_process_does_not_cache_its_value() {
    use std::time::{Duration, Instant};
    use sturdycache::Durability;
    use sturdycache::fs::{Fault, FaultRule, FaultyFs, FsOp, StdFs, Trigger};
    let dir = tempfile::tempdir().unwrap();
    let faulty = std::sync::Arc::new(FaultyFs::new(std::sync::Arc::new(StdFs)));
    let mut config = quiet_config(dir.path());
    config.fs = faulty.clone();
    config.durability = Durability::Fsync; // so a folder fsync follows the rename
    let a = Cache::open(config).unwrap();
    let b = Cache::open(quiet_config(dir.path())).unwrap();
    a.wait_ready();
    b.wait_ready();
    let entry = dir.path().join(entry_path(format::key_hash(b"k")));
    let holds =
        |want: &[u8]| std::fs::read(&entry).ok().is_some_and(|f| format::decode(&f).is_ok_and(|d| &*d.value == want));
    for op in ["set", "touch"] {
        a.set(b"k", b"old").unwrap();
        assert_eq!(a.get(b"k").unwrap().as_deref(), Some(&b"old"[..]), "{op}: cached");
        // Hold A after its rename (in the folder fsync) long enough for B to write.
        let fired = faulty.fired();
        faulty.inject(FaultRule::new(FsOp::SyncDir, Fault::Delay(Duration::from_millis(500)), Trigger::Once));
        let a2 = a.clone();
        let writer = std::thread::spawn(move || match op {
            "set" => assert!(a2.set(b"k", b"mine").unwrap().on_disk()),
            _ => assert!(a2.touch(b"k", sturdycache::Ttl::Never).unwrap()),
        });
        // Wait (by observing A's fs, not by sleeping) until A is inside the held fsync.
        let deadline = Instant::now() + Duration::from_secs(10);
        while faulty.fired() == fired {
            assert!(Instant::now() < deadline, "{op}: A never reached its folder fsync");
            std::thread::yield_now();
        }
        assert!(holds(if op == "set" { b"mine" } else { b"old" }), "{op}: A renamed before its fsync");
        b.set(b"k", b"theirs").unwrap();
        assert!(!writer.is_finished(), "{op}: A finished before B wrote; the race was not exercised");
        writer.join().unwrap();
        assert!(holds(b"theirs"), "{op}: B's file is the last one");
        assert_eq!(
            a.get(b"k").unwrap().as_deref(),
            Some(&b"theirs"[..]),
            "{op}: A serves a value the disk no longer has"
        );
        faulty.clear();
    }
}
