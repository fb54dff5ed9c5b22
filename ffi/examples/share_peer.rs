//! The Rust side of the cross-language sharing test (`tests/c/test_share.c`):
//! a separate process using the core crate directly on the directory a C
//! process uses through libsturdycache. Each mode checks what the other side
//! wrote and exits non-zero, saying what differs, on any mismatch.
//!
//! usage: `share_peer write DIR` | `share_peer check-c DIR` | `share_peer check-final DIR`

use std::process::ExitCode;

use sturdycache_core::{Cache, Config, SetOptions, value_type};

/// What the C side writes (key, value type, bytes); `check-c` expects exactly these.
fn c_entries() -> Vec<(&'static str, u8, Vec<u8>)> {
    vec![
        ("c:bytes", value_type::BYTES, vec![0, 255, 1, 254]),
        ("c:text", value_type::STRING, "naïve café".as_bytes().to_vec()),
        ("c:json", value_type::JSON, br#"{"from":"c","n":[1,2]}"#.to_vec()),
        ("c:int", value_type::INT, b"-42".to_vec()),
        ("c:float", value_type::FLOAT, 6.25f64.to_le_bytes().to_vec()),
        ("c:bool", value_type::BOOL, vec![1]),
        ("c:null", value_type::NULL, Vec::new()),
    ]
}

fn open(dir: &str) -> Cache {
    let mut config = Config::new(dir);
    config.sweep_interval = None;
    config.health_interval = None;
    Cache::open(config).unwrap_or_else(|e| panic!("open {dir}: {e}"))
}

fn set(cache: &Cache, key: &str, value: &[u8], value_type: u8, tag: Option<&str>) {
    let opts = SetOptions { value_type, tag, ..SetOptions::default() };
    cache.set_with(key.as_bytes(), value, opts).unwrap_or_else(|e| panic!("set {key}: {e}"));
}

/// Compares `key`'s entry with `want` (value type and bytes); `None`: must be absent.
fn expect(cache: &Cache, key: &str, want: Option<(u8, &[u8])>, problems: &mut Vec<String>) {
    let got = cache.get(key.as_bytes()).unwrap_or_else(|e| panic!("get {key}: {e}"));
    let got = got.as_ref().map(|v| (v.value_type(), v.as_bytes()));
    if got != want {
        problems.push(format!("{key}: expected {want:?}, found {got:?}"));
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, dir] = args.as_slice() else {
        eprintln!("usage: share_peer write|check-c|check-final DIR");
        return ExitCode::from(2);
    };
    let cache = open(dir);
    let mut problems = Vec::new();
    match mode.as_str() {
        "write" => {
            set(&cache, "rust:bytes", &[9, 8, 7], value_type::BYTES, None);
            set(&cache, "rust:text", "héllo from Rust".as_bytes(), value_type::STRING, None);
            set(&cache, "rust:int", b"-123456789012345678901234567890", value_type::INT, None);
            set(&cache, "rust:float", &2.5f64.to_le_bytes(), value_type::FLOAT, None);
            set(&cache, "rust:tagged", b"tagged by rust", value_type::BYTES, Some("rusty"));
            set(&cache, "shared", b"from rust", value_type::STRING, None);
        }
        "check-c" => {
            for (key, vt, bytes) in c_entries() {
                expect(&cache, key, Some((vt, &bytes)), &mut problems);
            }
            expect(&cache, "shared", Some((value_type::STRING, b"from c")), &mut problems);
            // Changes the C process must see although it holds "shared" in memory.
            set(&cache, "shared", b"from rust again", value_type::STRING, None);
            cache.delete(b"c:bytes").unwrap_or_else(|e| panic!("delete: {e}"));
        }
        "check-final" => {
            expect(&cache, "c:final", Some((value_type::STRING, b"written last by c")), &mut problems);
            expect(&cache, "rust:tagged", None, &mut problems);
            expect(&cache, "c:bytes", None, &mut problems);
        }
        other => {
            eprintln!("unknown mode {other}");
            return ExitCode::from(2);
        }
    }
    if problems.is_empty() {
        println!("share_peer {mode}: ok");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("share_peer {mode}: {p}");
        }
        ExitCode::FAILURE
    }
}
