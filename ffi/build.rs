//! Gives the shared library a versioned SONAME (`libsturdycache.so.<major>.<minor>`
//! while the version is 0.x, as cargo-c does), so programs linked against one
//! ABI never load an incompatible one. `make install` creates the symlinks.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".into());
        let soname = if major == "0" { format!("0.{minor}") } else { major };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsturdycache.so.{soname}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
