//! The checked-in header `include/sturdycache.h` must be what cbindgen
//! generates from `ffi/src` now: this test regenerates it in memory and fails
//! on any difference. `STURDY_BLESS_HEADER=1` rewrites the file instead.

use std::path::Path;

#[test]
fn the_checked_in_header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read ffi/cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = crate_dir.join("../include/sturdycache.h");
    if std::env::var_os("STURDY_BLESS_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write include/sturdycache.h");
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    if checked_in != generated {
        let old = String::from_utf8_lossy(&checked_in);
        let new = String::from_utf8_lossy(&generated);
        let first = old
            .lines()
            .zip(new.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(old.lines().count().min(new.lines().count()));
        panic!(
            "include/sturdycache.h is stale (first difference at line {}: checked in {:?}, generated {:?}).\n\
             Regenerate it with: STURDY_BLESS_HEADER=1 cargo test -p sturdycache-ffi --test header",
            first + 1,
            old.lines().nth(first).unwrap_or("<end of file>"),
            new.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}
