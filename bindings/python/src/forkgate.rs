//! Quiescing the core around `fork()`.
//!
//! The core's locks (parking_lot) keep a process-wide table of waiting
//! threads. A thread that is waiting (or about to) when the process forks
//! leaves an entry the child inherits but whose thread does not exist there;
//! when the child's threads reuse that memory, the next walk of the table
//! (parking_lot grows it as threads are created) crashes or hangs. So before
//! a fork `sturdycache` (an `os.register_at_fork` hook), in order:
//!
//! 1. holds new native calls at the door and waits — without the GIL, at most
//!    [`MAX_WAIT`] — until no other thread is inside one ([`_before_fork`]);
//! 2. closes every open cache (flushing queued writes when the disk takes
//!    them), which stops its background threads;
//! 3. waits, at most [`MAX_WAIT`], until those threads have exited
//!    ([`_wait_for_threads`]).
//!
//! Parent and child then reopen each cache on its next use (the memory tier
//! starts empty). The forking thread's own calls (a memoized function that
//! forks) pass the door. A core on fork-safe locks would make steps 2 and 3
//! unnecessary.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

static INSIDE: AtomicUsize = AtomicUsize::new(0);
static FORKING: AtomicBool = AtomicBool::new(false);
/// Longest a fork waits for calls in flight (a call stuck on a hung disk must not hang the fork).
pub const MAX_WAIT: Duration = Duration::from_secs(2);

thread_local! {
    static MINE: Cell<usize> = const { Cell::new(0) };
    /// This thread is the one forking: its calls pass the door.
    static FORKER: Cell<bool> = const { Cell::new(false) };
}

/// A native call inside the core; dropped when it leaves.
pub struct Inside(());

impl Drop for Inside {
    fn drop(&mut self) {
        MINE.with(|m| m.set(m.get().saturating_sub(1)));
        INSIDE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Enters the core, waiting while a fork is under way.
pub fn enter() -> Inside {
    loop {
        if let Some(inside) = try_enter() {
            return inside;
        }
        wait_for_fork();
    }
}

/// Enters the core unless a fork is being prepared (by another thread).
pub fn try_enter() -> Option<Inside> {
    INSIDE.fetch_add(1, Ordering::SeqCst);
    if !FORKING.load(Ordering::SeqCst) || MINE.with(Cell::get) > 0 || FORKER.with(Cell::get) {
        MINE.with(|m| m.set(m.get() + 1));
        return Some(Inside(()));
    }
    INSIDE.fetch_sub(1, Ordering::SeqCst);
    None
}

/// Waits until a fork being prepared is done.
pub fn wait_for_fork() {
    while FORKING.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Before `fork()`: holds new calls and waits for the ones in flight.
#[pyfunction]
pub fn _before_fork(py: Python<'_>) {
    FORKER.with(|f| f.set(true));
    FORKING.store(true, Ordering::SeqCst);
    let mine = MINE.with(Cell::get);
    py.detach(|| {
        let deadline = Instant::now() + MAX_WAIT;
        while INSIDE.load(Ordering::SeqCst) > mine && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(20));
        }
    });
}

/// After `fork()`, in the parent: lets calls in again.
#[pyfunction]
pub fn _after_fork_in_parent() {
    FORKER.with(|f| f.set(false));
    FORKING.store(false, Ordering::SeqCst);
}

/// Waits (without the GIL, at most `MAX_WAIT`) until no thread of this
/// process named `sturdycache-*` (the core's) is left. Returns whether none
/// is. Without `/proc` (not Linux) it cannot tell and returns at once.
#[pyfunction]
pub fn _wait_for_threads(py: Python<'_>) -> bool {
    py.detach(|| {
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            match core_threads() {
                Some(0) | None => return true,
                Some(_) if Instant::now() >= deadline => return false,
                Some(_) => std::thread::sleep(Duration::from_micros(200)),
            }
        }
    })
}

/// How many of this process's threads are the core's (by name); None without `/proc`.
fn core_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|t| t.ok())
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|name| name.starts_with("sturdycache-"))
            })
            .count(),
    )
}

/// After `fork()`, in the child: only this thread exists.
pub fn after_fork_in_child() {
    FORKER.with(|f| f.set(false));
    INSIDE.store(MINE.with(Cell::get), Ordering::SeqCst);
    FORKING.store(false, Ordering::SeqCst);
}
