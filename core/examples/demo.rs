//! The README's demo: write, read, corrupt an entry file on purpose, and watch
//! the cache quarantine it instead of returning it.
//!
//! ```text
//! cargo run --release -p sturdycache --example demo [DIRECTORY]
//! ```
//! DIRECTORY defaults to `./demo-cache`.

use std::path::PathBuf;
use std::time::Duration;

use sturdycache::chaos::{ChaosError, ChaosOp};
use sturdycache::fs::Trigger;
use sturdycache::{Cache, Config, Mode, SetOptions, format};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let dir = std::env::args_os().nth(1).map_or_else(|| PathBuf::from("demo-cache"), PathBuf::from);
    println!("sturdycache demo in {}", dir.display());

    // 1. Normal use.
    let cache = Cache::open(Config::new(&dir))?;
    cache.set(b"user:1", b"{\"name\": \"Ada\"}")?;
    cache.set_with(b"session:9", b"token-abc", SetOptions::ttl(Duration::from_secs(3600)).with_tag("sessions"))?;
    let big = "the quick brown fox jumps over the lazy dog. ".repeat(400);
    cache.set(b"report:2026", big.as_bytes())?;
    println!("stored 3 entries ({} bytes of report, compressed on disk)", big.len());
    println!("get user:1 (hot)          -> {:?}", show(cache.get(b"user:1")?));
    drop(cache);

    // 2. A fresh process-like handle has a cold hot tier: reads come from disk and promote.
    let cache = Cache::open(Config::new(&dir))?;
    cache.wait_ready();
    println!("get user:1 (from disk)    -> {:?}", show(cache.get(b"user:1")?));
    println!("get user:1 (promoted)     -> {:?}", show(cache.get(b"user:1")?));

    // 3. Corrupt the report's file on disk, behind the cache's back.
    let path = dir.join("data").join(format!("{:02x}", (format::key_hash(b"report:2026") >> 120) as u8));
    let path = path.join(format!("{:032x}", format::key_hash(b"report:2026")));
    flip_one_bit(&path)?;
    println!("flipped one bit in {}", path.display());

    // 4. The corrupt entry is never returned: it is quarantined and reported as a miss.
    let cache = Cache::open(Config::new(&dir))?;
    println!("get report:2026           -> {:?} (a miss, not a wrong value)", show(cache.get(b"report:2026")?));
    let mut quarantined: Vec<_> = std::fs::read_dir(dir.join("quarantine"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    quarantined.sort();
    println!("quarantine/ holds {} file(s); newest: {}", quarantined.len(), quarantined.last().map_or("-", |s| s));

    // 5. The rest of the cache is unharmed.
    println!("get session:9             -> {:?}", show(cache.get(b"session:9")?));
    println!("evict tag 'sessions'      -> {} removed", cache.evict_tag("sessions")?);
    let m = cache.metrics();
    println!(
        "metrics: hot hits {}, disk hits {}, misses {}, corruptions {}, quarantined {}, disk {} bytes in {} entries",
        m.hot_hits, m.disk_hits, m.disk_misses, m.corruptions, m.quarantined, m.disk_bytes, m.disk_entries
    );
    drop(cache);
    resilience_story(&dir)
}

/// The disk fails under a running cache: it degrades, keeps serving, and recovers.
fn resilience_story(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n-- the disk fails --");
    let mut config = Config::new(dir);
    // Short timings so the story fits in a second or two (defaults: 60 s open time).
    config.breaker.open_timeout = Duration::from_millis(300);
    config.breaker.success_threshold = 2;
    let cache = Cache::open(config)?;
    cache.subscribe(|event| println!("  event: {event}"));
    cache.set(b"before", b"written while healthy")?;

    // 6. Every disk write now fails with ENOSPC, as on a full disk.
    let fault = cache.faults().inject(ChaosOp::Write, ChaosError::Enospc, Trigger::Always)?;
    for i in 0..6 {
        let stored = cache.set(format!("during:{i}").as_bytes(), b"kept in memory")?;
        println!("set during:{i} -> {stored:?}; mode {}", cache.mode());
    }
    cache.flush_events();
    println!("get before   -> {:?} (still read from disk)", show(cache.get(b"before")?));
    println!("get during:3 -> {:?} (from memory)", show(cache.get(b"during:3")?));
    println!("delete during:5 -> {} (removed from memory; the delete is queued too)", cache.delete(b"during:5")?);

    // 7. The disk comes back: the breaker probes it, closes, and the queue drains.
    println!("\n-- space is freed --");
    cache.faults().remove(fault);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (cache.mode() != Mode::Normal || cache.metrics().replay.depth > 0) && std::time::Instant::now() < deadline {
        cache.run_recovery();
        std::thread::sleep(Duration::from_millis(50));
    }
    cache.flush_events();
    let m = cache.metrics();
    let r = &m.resilience;
    println!(
        "mode {}; write breaker {} (tripped {}x); replay queued {}, drained {}, dropped {}; fallback writes {}",
        r.mode,
        r.write_breaker.state.as_str(),
        r.write_breaker.trips,
        m.replay.queued,
        m.replay.drained,
        m.replay.dropped,
        r.fallback_writes
    );
    let cold = {
        let mut c = Config::new(dir);
        c.memory_limit = 0;
        Cache::open(c)?
    };
    println!(
        "on disk now: during:3 -> {:?}, during:5 -> {:?}",
        show(cold.get(b"during:3")?),
        show(cold.get(b"during:5")?)
    );
    println!("\nprometheus (excerpt):");
    for line in
        cache.prometheus().lines().filter(|l| l.starts_with("sturdycache_mode") || l.starts_with("sturdycache_replay_"))
    {
        println!("  {line}");
    }
    Ok(())
}

/// Flips one bit in the middle of a file, in place, the way bit rot would.
fn flip_one_bit(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let middle = file.metadata()?.len() / 2;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, middle)?;
    byte[0] ^= 0x40;
    file.write_all_at(&byte, middle)
}

fn show(v: Option<sturdycache::Value>) -> Option<String> {
    v.map(|v| {
        let text = String::from_utf8_lossy(&v);
        if text.len() > 40 { format!("{}… ({} bytes)", &text[..40], v.len()) } else { text.into_owned() }
    })
}
