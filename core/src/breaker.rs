//! A reusable, thread-safe circuit breaker.
//!
//! ```text
//!            failures >= failure_threshold in a row, or
//!            rate >= failure_rate_threshold with calls >= minimum_calls, or trip()
//!   CLOSED ───────────────────────────────────────────────────────────────▶ OPEN
//!     ▲                                                                   │   ▲
//!     │ success_threshold trial successes          elapsed >= open time   │   │ any trial failure,
//!     │ (open time back to open_timeout,           (acquire / poll), or   │   │ record_failure() or trip():
//!     │  window cleared)                           half_open()            ▼   │ open time doubled (capped)
//!     └──────────────────────────────────────────────────────────── HALF_OPEN ┘
//!
//!   any state ── force_open() ──▶ FORCED_OPEN   rejects every call until reset()
//!   any state ── disable()    ──▶ DISABLED      admits every call, never trips, until reset()
//!   any state ── reset()      ──▶ CLOSED        window, counters and backoff cleared
//! ```
//!
//! A call asks [`CircuitBreaker::acquire`] for a [`Permit`], runs without any
//! lock held, and hands the permit back to [`CircuitBreaker::record`] with its
//! [`Outcome`]. Every call that changes the state returns the [`Transition`]
//! (exactly once, to exactly one caller), so the owner can log and announce it.
//!
//! # Boundary semantics (pinned by the unit tests)
//!
//! - **Consecutive failures**: trips when the count reaches `failure_threshold`
//!   (`>=`); a success resets the count, an [`Outcome::Ignored`] leaves it alone.
//!   `failure_threshold == 0` disables the rule.
//! - **Failure rate**: trips when `failures >= failure_rate_threshold * calls`
//!   (rate `>=` threshold) **and** `calls >= minimum_calls`, counted over the
//!   window. The rule is evaluated after every recorded failure, and after every
//!   recorded success while the window holds a failure (so the success that
//!   brings the window up to `minimum_calls` can trip it).
//!   `failure_rate_threshold == 0.0` disables the rule.
//! - **Window**: `window_buckets` buckets of `rolling_window / window_buckets`
//!   (whole nanoseconds) each; the window is the current bucket and the
//!   `window_buckets - 1` before it. A call is counted until the start of its
//!   bucket plus `rolling_window`, that is for between `rolling_window - bucket
//!   width` and `rolling_window` after it was recorded. Rejected calls and
//!   ignored outcomes are not counted.
//! - **Slow calls**: a success whose duration (`acquire` to `record`) is
//!   strictly greater than `slow_call_threshold` (`>`) counts as a failure; a
//!   call of exactly the threshold is a success. Failures stay failures and
//!   ignored outcomes stay ignored, however long they took.
//! - **Open time**: OPEN becomes HALF_OPEN once the time since opening is
//!   `>=` the current open time. [`CircuitBreaker::state`] and
//!   [`CircuitBreaker::snapshot`] report HALF_OPEN from that instant on; the
//!   stored state (and the returned transition) moves in the next `acquire` or
//!   [`CircuitBreaker::poll`].
//! - **HALF_OPEN admission**: the `i`-th `acquire` of a half-open period
//!   (0-based, rejected ones included) is admitted iff
//!   `floor((i+1)·recovery_factor) > floor(i·recovery_factor)` **and** fewer
//!   than `half_open_max_calls` trial permits are outstanding (admitted and
//!   not yet recorded). With the default 0.5 the calls 1, 3, 5, … go through.
//!   An ignored trial frees its slot and counts neither way.
//! - **HALF_OPEN outcome**: any failure reopens with the open time doubled
//!   (capped at `max_open_timeout`); `success_threshold` successes close it,
//!   restore the open time to `open_timeout` and clear the window.
//! - `trips` counts entries into OPEN (not FORCED_OPEN).
//! - A permit is tied to the state period it was issued in: recording it after
//!   the state changed (a call admitted while CLOSED finishing after the
//!   breaker opened, a trial from an earlier half-open period) does nothing.
//!
//! # Probes, watchdogs and lost permits
//!
//! A recovery probe that succeeds can call [`CircuitBreaker::half_open`]
//! (OPEN -> HALF_OPEN before the open time is up); one that fails can follow
//! it with [`CircuitBreaker::record_failure`] (HALF_OPEN -> OPEN, a failed
//! recovery: the open time doubles). A watchdog that sees a call stall calls
//! [`CircuitBreaker::trip`]. A HALF_OPEN permit that is dropped instead of
//! recorded keeps its trial slot until the half-open period ends (a trial
//! failure, `trip`, or an operator call ends it).
//!
//! # Cost
//!
//! The CLOSED path (acquire, then record of a success) takes no lock: in
//! `acquire` one atomic load; in `record` loads of the state word, the bucket's
//! tag, the consecutive-failure counter and the latest-failure mark, and one
//! `fetch_add` on this thread's stripe of the current bucket (each bucket keeps
//! 8 counter stripes in separate cache lines, so threads do not contend); plus
//! the two clock readings (the one in `acquire` only when `slow_call_threshold`
//! is set). `benches/breaker.rs` measures it. A mutex is taken only for
//! transitions, HALF_OPEN admission and the first call of each new bucket.
//! While the window holds a failure, each recorded success also sums the
//! window (a read of every bucket, no lock).
//!
//! Counting is exact except in two races, both harmless to the state machine
//! (transitions are decided under the lock against the current state): a call
//! recorded at the moment of a transition or reset may still be counted in
//! the new period's window or failure run, and a thread preempted between its
//! clock reading and its count for longer than a bucket's lifetime may count
//! its call in a newer bucket.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Clock;
use crate::name::{UnknownName, parse_name};

/// Settings of a [`CircuitBreaker`]. See the [module docs](self) for the exact
/// boundary semantics.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that trip the breaker. Default 5; 0 disables this rule.
    pub failure_threshold: u32,
    /// Failure rate (failures / calls over the window) at or above which the
    /// breaker trips, once `minimum_calls` are in the window. Default 0.5;
    /// 0.0..=1.0, 0.0 disables this rule.
    pub failure_rate_threshold: f64,
    /// Calls the window must hold before the rate rule applies. Default 10.
    pub minimum_calls: u32,
    /// Span of the rolling window. Default 300 s.
    pub rolling_window: Duration,
    /// Buckets the window is kept in (each `rolling_window / window_buckets`
    /// wide). Default 10.
    pub window_buckets: u32,
    /// A successful call slower than this (strictly) counts as a failure.
    /// Default 5 s; `None` disables slow-call detection.
    pub slow_call_threshold: Option<Duration>,
    /// Time OPEN before the breaker goes HALF_OPEN. Default 60 s.
    pub open_timeout: Duration,
    /// Cap on the open time, which doubles with each failed recovery. Default 30 min.
    pub max_open_timeout: Duration,
    /// Fraction of calls let through while HALF_OPEN: call `i` of a half-open
    /// period is admitted iff `floor((i+1)f) > floor(i f)`. Default 0.5; in (0, 1].
    pub recovery_factor: f64,
    /// Most trial permits outstanding at once while HALF_OPEN. Default 10; at least 1.
    pub half_open_max_calls: u32,
    /// Trial successes that close the breaker. Default 3; at least 1.
    pub success_threshold: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            failure_rate_threshold: 0.5,
            minimum_calls: 10,
            rolling_window: Duration::from_secs(300),
            window_buckets: 10,
            slow_call_threshold: Some(Duration::from_secs(5)),
            open_timeout: Duration::from_secs(60),
            max_open_timeout: Duration::from_secs(30 * 60),
            recovery_factor: 0.5,
            half_open_max_calls: 10,
            success_threshold: 3,
        }
    }
}

impl BreakerConfig {
    /// Checks the settings; the error names the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        let rate = self.failure_rate_threshold;
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("failure_rate_threshold must be within 0.0..=1.0 (0 disables the rule), got {rate}"));
        }
        if self.rolling_window.is_zero() {
            return Err("rolling_window must be greater than zero".to_string());
        }
        if self.window_buckets == 0 {
            return Err("window_buckets must be at least 1".to_string());
        }
        if self.rolling_window.as_nanos() < u128::from(self.window_buckets) {
            return Err(format!(
                "window_buckets ({}) must not exceed rolling_window in nanoseconds ({:?})",
                self.window_buckets, self.rolling_window
            ));
        }
        if self.open_timeout > self.max_open_timeout {
            return Err(format!(
                "max_open_timeout ({:?}) must be at least open_timeout ({:?})",
                self.max_open_timeout, self.open_timeout
            ));
        }
        let f = self.recovery_factor;
        if !(f > 0.0 && f <= 1.0) {
            return Err(format!("recovery_factor must be within (0.0, 1.0], got {f}"));
        }
        if self.half_open_max_calls == 0 {
            return Err("half_open_max_calls must be at least 1".to_string());
        }
        if self.success_threshold == 0 {
            return Err("success_threshold must be at least 1".to_string());
        }
        Ok(())
    }

    /// The settings with every bad field replaced by a usable value (its
    /// default, or the nearest valid one), so [`CircuitBreaker::new`] never
    /// panics on user input.
    fn sanitized(mut self) -> Self {
        let d = BreakerConfig::default();
        if !(0.0..=1.0).contains(&self.failure_rate_threshold) {
            self.failure_rate_threshold = d.failure_rate_threshold;
        }
        if self.rolling_window.is_zero() {
            self.rolling_window = d.rolling_window;
        }
        if self.window_buckets == 0 {
            self.window_buckets = 1;
        }
        if self.rolling_window.as_nanos() < u128::from(self.window_buckets) {
            // rolling_window is non-zero and below u32::MAX nanoseconds here.
            self.window_buckets = u32::try_from(self.rolling_window.as_nanos()).unwrap_or(1).max(1);
        }
        if self.open_timeout > self.max_open_timeout {
            self.max_open_timeout = self.open_timeout;
        }
        if !(self.recovery_factor > 0.0 && self.recovery_factor <= 1.0) {
            self.recovery_factor = d.recovery_factor;
        }
        self.half_open_max_calls = self.half_open_max_calls.max(1);
        self.success_threshold = self.success_threshold.max(1);
        self
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until the open time has passed.
    Open,
    /// A fraction of calls go through as trials.
    HalfOpen,
    /// Operator override: every call is rejected until [`CircuitBreaker::reset`].
    ForcedOpen,
    /// Operator override: every call goes through, nothing trips it, until
    /// [`CircuitBreaker::reset`].
    Disabled,
}

impl BreakerState {
    /// Every state, in declaration order.
    pub const ALL: [BreakerState; 5] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::ForcedOpen,
        BreakerState::Disabled,
    ];

    /// `"closed"`, `"open"`, `"half_open"`, `"forced_open"` or `"disabled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
            BreakerState::Disabled => "disabled",
        }
    }

    /// Whether any call may go through in this state (all of them when CLOSED
    /// or DISABLED, some when HALF_OPEN).
    pub fn allows_calls(self) -> bool {
        matches!(self, BreakerState::Closed | BreakerState::HalfOpen | BreakerState::Disabled)
    }

    fn code(self) -> u64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
            BreakerState::ForcedOpen => 3,
            BreakerState::Disabled => 4,
        }
    }

    fn from_code(code: u64) -> Self {
        match code {
            0 => BreakerState::Closed,
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            3 => BreakerState::ForcedOpen,
            _ => BreakerState::Disabled,
        }
    }
}

impl FromStr for BreakerState {
    type Err = UnknownName;

    /// Parses a [`BreakerState::as_str`] name.
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        parse_name("breaker state", s, BreakerState::ALL, BreakerState::as_str)
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
}

/// How a guarded call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It worked (a failure if slower than `slow_call_threshold`).
    Success,
    /// It failed.
    Failure,
    /// It counts neither way (e.g. not found, bad input).
    Ignored,
}

/// Leave to make one call; hand it back to [`CircuitBreaker::record`].
#[must_use = "a permit must be handed back to CircuitBreaker::record (a dropped HALF_OPEN permit holds its trial slot)"]
#[derive(Debug)]
pub struct Permit {
    /// State code and generation of the period the permit was issued in.
    word: u64,
    /// When the call started (monotonic ns); 0 when not measured.
    start_ns: u64,
    /// Whether this is a HALF_OPEN trial.
    trial: bool,
}

impl Permit {
    /// Whether this permit is a HALF_OPEN trial call.
    pub fn is_trial(&self) -> bool {
        self.trial
    }

    /// An opaque number identifying the state period (from one transition or
    /// reset to the next) the permit was issued in.
    pub fn period(&self) -> u64 {
        self.word >> STATE_BITS
    }
}

/// The answer of [`CircuitBreaker::acquire`].
#[must_use]
#[derive(Debug)]
pub enum Admission {
    /// Go ahead; record the outcome with this permit.
    Permitted(Permit),
    /// Do not make the call (and do not record anything).
    Rejected,
}

impl Admission {
    /// The permit, if the call was admitted.
    pub fn permit(self) -> Option<Permit> {
        match self {
            Admission::Permitted(p) => Some(p),
            Admission::Rejected => None,
        }
    }

    /// Whether the call was admitted.
    pub fn is_permitted(&self) -> bool {
        matches!(self, Admission::Permitted(_))
    }
}

/// A point-in-time view of a breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSnapshot {
    /// The state (HALF_OPEN as soon as the open time has passed).
    pub state: BreakerState,
    /// Failures / calls over the window (0 when the window is empty).
    pub failure_rate: f64,
    /// Calls counted in the window.
    pub calls_in_window: u64,
    /// Failures counted in the window.
    pub failures_in_window: u64,
    /// Failures in a row since the last success.
    pub consecutive_failures: u32,
    /// Times the breaker opened (FORCED_OPEN not included).
    pub trips: u64,
    /// The open time of the current (or, when closed, the next) open period.
    pub current_open_timeout: Duration,
    /// When OPEN: the time left until HALF_OPEN.
    pub next_attempt_in: Option<Duration>,
    /// When HALF_OPEN: trial permits outstanding.
    pub half_open_in_flight: u32,
    /// When HALF_OPEN: trial successes so far.
    pub half_open_successes: u32,
}

const STATE_BITS: u32 = 3;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
const CLOSED: u64 = 0;
/// Epoch of a bucket holding nothing.
const EMPTY: u64 = u64::MAX;

fn pack(state: BreakerState, generation: u64) -> u64 {
    (generation << STATE_BITS) | state.code()
}

fn state_of(word: u64) -> BreakerState {
    BreakerState::from_code(word & STATE_MASK)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Division by a constant through a multiply (a hardware divide costs as much
/// as the rest of the fast path).
#[derive(Debug, Clone, Copy)]
struct Divider {
    d: u64,
    magic: u64,
}

impl Divider {
    fn new(d: u64) -> Self {
        let d = d.max(1);
        Divider { d, magic: u64::MAX / d }
    }

    /// `(n / d, n % d)`.
    #[inline]
    fn div_rem(self, n: u64) -> (u64, u64) {
        // magic <= 2^64 / d, so the estimate never exceeds n / d, and it falls
        // short by less than 1 + 1/d: at most two corrections.
        let mut q = ((u128::from(n) * u128::from(self.magic)) >> 64) as u64;
        let mut r = n - q * self.d;
        while r >= self.d {
            q += 1;
            r -= self.d;
        }
        (q, r)
    }
}

/// Counter stripes per bucket: threads count in different cache lines, so
/// the CLOSED path of many threads does not contend on one line.
const STRIPES: usize = 8;

/// One stripe of a bucket's counters, alone in its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe {
    calls: AtomicU64,
    failures: AtomicU64,
}

/// One slice of the rolling window.
#[derive(Debug)]
struct Bucket {
    /// Index (monotonic ns / bucket width) of the slice held, or EMPTY.
    epoch: AtomicU64,
    stripes: [Stripe; STRIPES],
}

impl Bucket {
    fn zero(&self) {
        for s in &self.stripes {
            s.calls.store(0, Ordering::Relaxed);
            s.failures.store(0, Ordering::Relaxed);
        }
    }

    /// `(calls, failures)`.
    fn counts(&self) -> (u64, u64) {
        let (mut calls, mut failures) = (0, 0);
        for s in &self.stripes {
            // Acquire: every failure read comes with its call (counted first).
            let f = s.failures.load(Ordering::Acquire);
            let c = s.calls.load(Ordering::Relaxed);
            // A bucket restarted between the two loads could read f > c.
            failures += f.min(c);
            calls += c;
        }
        (calls, failures)
    }
}

/// This thread's stripe.
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
        s.set(v);
        v
    })
}

type Hook = Box<dyn Fn(Transition) + Send + Sync>;

/// State changed only under the lock.
struct Inner {
    state: BreakerState,
    generation: u64,
    /// The current (or next) open time, ns.
    open_timeout_ns: u64,
    /// Acquire attempts in this half-open period.
    ho_attempts: u64,
    ho_in_flight: u32,
    ho_successes: u32,
    trips: u64,
    hook: Option<Hook>,
}

/// A thread-safe circuit breaker; see the [module docs](self).
pub struct CircuitBreaker {
    /// State code (low bits) and generation: one load tells a permit's period.
    word: AtomicU64,
    /// When OPEN: the monotonic ns at which it goes HALF_OPEN.
    open_until_ns: AtomicU64,
    consecutive: AtomicU32,
    /// Bucket index + 1 of the latest failure (0: none since the last clear).
    last_failure: AtomicU64,
    buckets: Box<[Bucket]>,
    bucket_lock: Mutex<()>,
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
    bucket_width: Divider,
    bucket_count: Divider,
    slow_ns: Option<u64>,
    base_open_ns: u64,
    max_open_ns: u64,
    config: BreakerConfig,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &state_of(self.word.load(Ordering::Acquire)))
            .field("consecutive_failures", &self.consecutive.load(Ordering::Relaxed))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A CLOSED breaker. An invalid setting is replaced by a usable value (and
    /// a warning logged); use [`CircuitBreaker::try_new`] to refuse it instead.
    pub fn new(config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        if let Err(e) = config.validate() {
            log::warn!("circuit breaker: {e}; using a corrected setting");
        }
        Self::build(config.sanitized(), clock)
    }

    /// A CLOSED breaker, or the validation error.
    pub fn try_new(config: BreakerConfig, clock: Arc<dyn Clock>) -> Result<Self, String> {
        config.validate()?;
        Ok(Self::build(config, clock))
    }

    fn build(config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        let n = u64::from(config.window_buckets);
        let width = nanos(config.rolling_window) / n;
        let buckets = (0..n).map(|_| Bucket { epoch: AtomicU64::new(EMPTY), stripes: Default::default() }).collect();
        let base_open_ns = nanos(config.open_timeout);
        CircuitBreaker {
            word: AtomicU64::new(pack(BreakerState::Closed, 0)),
            open_until_ns: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            last_failure: AtomicU64::new(0),
            buckets,
            bucket_lock: Mutex::new(()),
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                generation: 0,
                open_timeout_ns: base_open_ns,
                ho_attempts: 0,
                ho_in_flight: 0,
                ho_successes: 0,
                trips: 0,
                hook: None,
            }),
            clock,
            bucket_width: Divider::new(width),
            bucket_count: Divider::new(n),
            slow_ns: config.slow_call_threshold.map(nanos),
            base_open_ns,
            max_open_ns: nanos(config.max_open_timeout),
            config,
        }
    }

    /// The settings in force (after correction by [`CircuitBreaker::new`]).
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Registers a function called with every transition, in order, while the
    /// breaker's lock is held: it must be quick and must not call back into
    /// this breaker (that would deadlock). Replaces any earlier one.
    pub fn on_transition(&self, hook: impl Fn(Transition) + Send + Sync + 'static) {
        self.inner.lock().hook = Some(Box::new(hook));
    }

    /// Asks to make a call. May move OPEN to HALF_OPEN (returned) when the open
    /// time has passed. A permitted call must be recorded with
    /// [`CircuitBreaker::record`]; a rejected one must not.
    #[inline]
    #[must_use = "a permitted call must be recorded, and a transition announced"]
    pub fn acquire(&self) -> (Admission, Option<Transition>) {
        let word = self.word.load(Ordering::Acquire);
        if word & STATE_MASK == CLOSED {
            let start_ns = if self.slow_ns.is_some() { self.clock.monotonic_ns() } else { 0 };
            return (Admission::Permitted(Permit { word, start_ns, trial: false }), None);
        }
        self.acquire_slow(word)
    }

    #[cold]
    fn acquire_slow(&self, word: u64) -> (Admission, Option<Transition>) {
        match state_of(word) {
            BreakerState::ForcedOpen => return (Admission::Rejected, None),
            BreakerState::Disabled => return (Admission::Permitted(Permit { word, start_ns: 0, trial: false }), None),
            _ => {}
        }
        let now = self.clock.monotonic_ns();
        if state_of(word) == BreakerState::Open && now < self.open_until_ns.load(Ordering::Acquire) {
            return (Admission::Rejected, None);
        }
        let mut inner = self.inner.lock();
        let transition = self.promote_if_due(&mut inner, now);
        let admission = match inner.state {
            BreakerState::Closed | BreakerState::Disabled => {
                Admission::Permitted(Permit { word: self.word.load(Ordering::Relaxed), start_ns: now, trial: false })
            }
            BreakerState::Open | BreakerState::ForcedOpen => Admission::Rejected,
            BreakerState::HalfOpen => {
                let i = inner.ho_attempts;
                inner.ho_attempts += 1;
                let f = self.config.recovery_factor;
                let in_share = ((i + 1) as f64 * f).floor() > (i as f64 * f).floor();
                if in_share && inner.ho_in_flight < self.config.half_open_max_calls {
                    inner.ho_in_flight += 1;
                    Admission::Permitted(Permit { word: self.word.load(Ordering::Relaxed), start_ns: now, trial: true })
                } else {
                    Admission::Rejected
                }
            }
        };
        (admission, transition)
    }

    /// Records how a permitted call went; returns the transition it caused.
    #[inline]
    pub fn record(&self, permit: Permit, outcome: Outcome) -> Option<Transition> {
        if permit.trial || permit.word & STATE_MASK != CLOSED {
            return self.record_slow(permit, outcome);
        }
        if outcome == Outcome::Ignored {
            return None;
        }
        let now = self.clock.monotonic_ns();
        let failed = self.failed(&permit, outcome, now);
        if self.word.load(Ordering::Acquire) != permit.word {
            return None; // issued before a transition or reset
        }
        self.count_closed(permit.word, now, failed)
    }

    /// Whether an outcome counts as a failure (slow successes do).
    #[inline]
    fn failed(&self, permit: &Permit, outcome: Outcome, now: u64) -> bool {
        match outcome {
            Outcome::Failure => true,
            Outcome::Success => self.slow_ns.is_some_and(|t| now.saturating_sub(permit.start_ns) > t),
            Outcome::Ignored => false,
        }
    }

    #[cold]
    fn record_slow(&self, permit: Permit, outcome: Outcome) -> Option<Transition> {
        if !permit.trial {
            return None; // DISABLED permits count nowhere
        }
        let now = self.clock.monotonic_ns();
        let failed = self.failed(&permit, outcome, now);
        let mut inner = self.inner.lock();
        if self.word.load(Ordering::Relaxed) != permit.word {
            return None; // a trial of an earlier half-open period
        }
        inner.ho_in_flight = inner.ho_in_flight.saturating_sub(1);
        if outcome == Outcome::Ignored {
            return None;
        }
        if failed {
            return Some(self.reopen(&mut inner, now));
        }
        inner.ho_successes += 1;
        if inner.ho_successes >= self.config.success_threshold {
            inner.open_timeout_ns = self.base_open_ns;
            return Some(self.transition(&mut inner, BreakerState::Closed, now));
        }
        None
    }

    /// Records a failure seen without a permit (e.g. a watchdog saw a call
    /// stall): counted as a failed call when CLOSED, reopens when HALF_OPEN,
    /// nothing otherwise.
    pub fn record_failure(&self) -> Option<Transition> {
        let word = self.word.load(Ordering::Acquire);
        match state_of(word) {
            BreakerState::Closed => {
                let now = self.clock.monotonic_ns();
                self.count_closed(word, now, true)
            }
            BreakerState::HalfOpen => {
                let now = self.clock.monotonic_ns();
                let mut inner = self.inner.lock();
                (inner.state == BreakerState::HalfOpen).then(|| self.reopen(&mut inner, now))
            }
            _ => None,
        }
    }

    /// Counts a call of the CLOSED period `word` in the window, and trips if a
    /// rule says so.
    #[inline]
    fn count_closed(&self, word: u64, now: u64, failed: bool) -> Option<Transition> {
        let (idx, slot) = self.bucket_of(now);
        let bucket = self.bucket(idx, slot);
        if failed {
            if let Some(b) = bucket {
                let s = &b.stripes[stripe()];
                s.calls.fetch_add(1, Ordering::Relaxed);
                // Release: a reader that sees this failure sees its call.
                s.failures.fetch_add(1, Ordering::Release);
                self.last_failure.fetch_max(idx + 1, Ordering::Relaxed);
            }
            let run = self.consecutive.fetch_add(1, Ordering::Relaxed).saturating_add(1);
            let threshold = self.config.failure_threshold;
            if (threshold > 0 && run >= threshold) || self.rate_trips(idx) {
                return self.trip_closed(word, now);
            }
            None
        } else {
            if let Some(b) = bucket {
                b.stripes[stripe()].calls.fetch_add(1, Ordering::Relaxed);
            }
            if self.consecutive.load(Ordering::Relaxed) != 0 {
                self.consecutive.store(0, Ordering::Relaxed);
            }
            let last = self.last_failure.load(Ordering::Relaxed);
            if last != 0 && idx < last - 1 + self.buckets.len() as u64 && self.rate_trips(idx) {
                return self.trip_closed(word, now);
            }
            None
        }
    }

    /// `(bucket index, slot)` of a monotonic time.
    #[inline]
    fn bucket_of(&self, now: u64) -> (u64, usize) {
        let idx = self.bucket_width.div_rem(now).0;
        (idx, self.bucket_count.div_rem(idx).1 as usize)
    }

    /// The bucket for index `idx`, started if its slot holds an older one;
    /// `None` if the slot already moved past it (a stale clock reading).
    #[inline]
    fn bucket(&self, idx: u64, slot: usize) -> Option<&Bucket> {
        let b = &self.buckets[slot];
        let epoch = b.epoch.load(Ordering::Acquire);
        if epoch == idx {
            return Some(b);
        }
        self.start_bucket(b, idx)
    }

    #[cold]
    fn start_bucket<'a>(&self, b: &'a Bucket, idx: u64) -> Option<&'a Bucket> {
        let _g = self.bucket_lock.lock();
        let epoch = b.epoch.load(Ordering::Acquire);
        if epoch == idx {
            return Some(b);
        }
        if epoch != EMPTY && epoch > idx {
            return None;
        }
        b.zero();
        b.epoch.store(idx, Ordering::Release);
        Some(b)
    }

    /// `(calls, failures)` in the window ending with bucket `idx`.
    fn window(&self, idx: u64) -> (u64, u64) {
        let n = self.buckets.len() as u64;
        let (mut calls, mut failures) = (0u64, 0u64);
        for b in self.buckets.iter() {
            let epoch = b.epoch.load(Ordering::Acquire);
            if epoch != EMPTY && epoch <= idx && idx - epoch < n {
                let (c, f) = b.counts();
                calls += c;
                failures += f;
            }
        }
        (calls, failures)
    }

    fn rate_trips(&self, idx: u64) -> bool {
        let threshold = self.config.failure_rate_threshold;
        if threshold <= 0.0 {
            return false;
        }
        let (calls, failures) = self.window(idx);
        calls > 0 && calls >= u64::from(self.config.minimum_calls) && failures as f64 >= threshold * calls as f64
    }

    /// CLOSED -> OPEN if the breaker is still in the CLOSED period `word`.
    #[cold]
    fn trip_closed(&self, word: u64, now: u64) -> Option<Transition> {
        let mut inner = self.inner.lock();
        if self.word.load(Ordering::Relaxed) != word {
            return None;
        }
        Some(self.open(&mut inner, now))
    }

    /// HALF_OPEN -> OPEN: a failed recovery, so the open time doubles.
    fn reopen(&self, inner: &mut Inner, now: u64) -> Transition {
        inner.open_timeout_ns = inner.open_timeout_ns.saturating_mul(2).min(self.max_open_ns);
        self.open(inner, now)
    }

    fn open(&self, inner: &mut Inner, now: u64) -> Transition {
        inner.trips += 1;
        self.transition(inner, BreakerState::Open, now)
    }

    /// OPEN -> HALF_OPEN if the open time has passed.
    fn promote_if_due(&self, inner: &mut Inner, now: u64) -> Option<Transition> {
        (inner.state == BreakerState::Open && now >= self.open_until_ns.load(Ordering::Relaxed))
            .then(|| self.transition(inner, BreakerState::HalfOpen, now))
    }

    /// Enters `to` (a new period) and announces it to the hook.
    fn transition(&self, inner: &mut Inner, to: BreakerState, now: u64) -> Transition {
        let t = Transition { from: inner.state, to };
        self.enter(inner, to, now);
        if let Some(hook) = &inner.hook {
            hook(t);
        }
        t
    }

    /// Starts a new period in state `to`: everything a reader of the new word
    /// relies on is in place before the word is published.
    fn enter(&self, inner: &mut Inner, to: BreakerState, now: u64) {
        match to {
            BreakerState::Open => {
                self.open_until_ns.store(now.saturating_add(inner.open_timeout_ns), Ordering::Relaxed);
            }
            BreakerState::HalfOpen => {
                inner.ho_attempts = 0;
                inner.ho_in_flight = 0;
                inner.ho_successes = 0;
            }
            BreakerState::Closed => self.clear_window(),
            BreakerState::ForcedOpen | BreakerState::Disabled => {}
        }
        inner.state = to;
        inner.generation += 1;
        self.word.store(pack(to, inner.generation), Ordering::Release);
    }

    fn clear_window(&self) {
        let _g = self.bucket_lock.lock();
        for b in self.buckets.iter() {
            b.epoch.store(EMPTY, Ordering::Relaxed);
            b.zero();
        }
        self.last_failure.store(0, Ordering::Relaxed);
        self.consecutive.store(0, Ordering::Relaxed);
    }

    /// Opens the breaker now, as if it had tripped (e.g. a watchdog saw a call
    /// stall): CLOSED -> OPEN; HALF_OPEN -> OPEN with the open time doubled.
    /// When already OPEN, restarts the open period (same open time) and
    /// returns `None`. Does nothing to FORCED_OPEN or DISABLED.
    pub fn trip(&self) -> Option<Transition> {
        let now = self.clock.monotonic_ns();
        let mut inner = self.inner.lock();
        match inner.state {
            BreakerState::Closed => Some(self.open(&mut inner, now)),
            BreakerState::HalfOpen => Some(self.reopen(&mut inner, now)),
            BreakerState::Open => {
                self.open_until_ns.store(now.saturating_add(inner.open_timeout_ns), Ordering::Release);
                None
            }
            BreakerState::ForcedOpen | BreakerState::Disabled => None,
        }
    }

    /// OPEN -> HALF_OPEN now, whatever the open time left (e.g. a recovery
    /// probe succeeded). Does nothing in other states.
    pub fn half_open(&self) -> Option<Transition> {
        let now = self.clock.monotonic_ns();
        let mut inner = self.inner.lock();
        (inner.state == BreakerState::Open).then(|| self.transition(&mut inner, BreakerState::HalfOpen, now))
    }

    /// OPEN -> HALF_OPEN if the open time has passed (what the next `acquire`
    /// would do), without asking for a call.
    pub fn poll(&self) -> Option<Transition> {
        if state_of(self.word.load(Ordering::Acquire)) != BreakerState::Open {
            return None;
        }
        let now = self.clock.monotonic_ns();
        let mut inner = self.inner.lock();
        self.promote_if_due(&mut inner, now)
    }

    /// Operator override: reject every call until [`CircuitBreaker::reset`].
    pub fn force_open(&self) -> Option<Transition> {
        self.override_to(BreakerState::ForcedOpen)
    }

    /// Operator override: admit every call and never trip until
    /// [`CircuitBreaker::reset`]. Nothing is counted meanwhile.
    pub fn disable(&self) -> Option<Transition> {
        self.override_to(BreakerState::Disabled)
    }

    /// Back to CLOSED with an empty window, no failure run and the open time
    /// back to `open_timeout`. Outstanding permits are void. Returns `None`
    /// (but still clears) when already CLOSED.
    pub fn reset(&self) -> Option<Transition> {
        let now = self.clock.monotonic_ns();
        let mut inner = self.inner.lock();
        inner.open_timeout_ns = self.base_open_ns;
        if inner.state == BreakerState::Closed {
            self.enter(&mut inner, BreakerState::Closed, now);
            return None;
        }
        Some(self.transition(&mut inner, BreakerState::Closed, now))
    }

    fn override_to(&self, to: BreakerState) -> Option<Transition> {
        let now = self.clock.monotonic_ns();
        let mut inner = self.inner.lock();
        (inner.state != to).then(|| self.transition(&mut inner, to, now))
    }

    /// The state now; HALF_OPEN as soon as the open time has passed, even
    /// before an `acquire` moves the stored state.
    pub fn state(&self) -> BreakerState {
        let state = state_of(self.word.load(Ordering::Acquire));
        if state == BreakerState::Open && self.clock.monotonic_ns() >= self.open_until_ns.load(Ordering::Acquire) {
            return BreakerState::HalfOpen;
        }
        state
    }

    /// Failures in a row since the last success (one atomic load).
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive.load(Ordering::Relaxed)
    }

    /// A point-in-time view (state as [`CircuitBreaker::state`] reports it).
    pub fn snapshot(&self) -> BreakerSnapshot {
        let now = self.clock.monotonic_ns();
        let inner = self.inner.lock();
        let (calls, failures) = self.window(self.bucket_of(now).0);
        let mut snap = BreakerSnapshot {
            state: inner.state,
            failure_rate: if calls == 0 { 0.0 } else { failures as f64 / calls as f64 },
            calls_in_window: calls,
            failures_in_window: failures,
            consecutive_failures: self.consecutive.load(Ordering::Relaxed),
            trips: inner.trips,
            current_open_timeout: Duration::from_nanos(inner.open_timeout_ns),
            next_attempt_in: None,
            half_open_in_flight: 0,
            half_open_successes: 0,
        };
        match inner.state {
            BreakerState::Open => {
                let until = self.open_until_ns.load(Ordering::Relaxed);
                if now >= until {
                    snap.state = BreakerState::HalfOpen;
                } else {
                    snap.next_attempt_in = Some(Duration::from_nanos(until - now));
                }
            }
            BreakerState::HalfOpen => {
                snap.half_open_in_flight = inner.ho_in_flight;
                snap.half_open_successes = inner.ho_successes;
            }
            _ => {}
        }
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use BreakerState::*;

    const S: Duration = Duration::from_secs(1);

    fn tr(from: BreakerState, to: BreakerState) -> Option<Transition> {
        Some(Transition { from, to })
    }

    fn breaker(config: BreakerConfig) -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock::new(0);
        (CircuitBreaker::try_new(config, Arc::new(clock.clone())).expect("valid config"), clock)
    }

    /// Only the consecutive-failure rule.
    fn consecutive_only(n: u32) -> BreakerConfig {
        BreakerConfig { failure_threshold: n, failure_rate_threshold: 0.0, ..BreakerConfig::default() }
    }

    /// Only the rate rule.
    fn rate_only(rate: f64, minimum_calls: u32) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 0,
            failure_rate_threshold: rate,
            minimum_calls,
            slow_call_threshold: None,
            ..BreakerConfig::default()
        }
    }

    fn permit(b: &CircuitBreaker) -> Permit {
        match b.acquire() {
            (Admission::Permitted(p), None) => p,
            other => panic!("expected a permit and no transition, got {other:?}"),
        }
    }

    /// A call that took no time.
    fn call(b: &CircuitBreaker, outcome: Outcome) -> Option<Transition> {
        let p = permit(b);
        b.record(p, outcome)
    }

    fn rejected(b: &CircuitBreaker) -> bool {
        matches!(b.acquire(), (Admission::Rejected, None))
    }

    /// Trips a breaker configured with `consecutive_only(1)`-like settings and
    /// moves it to HALF_OPEN with `recovery_factor` 1.
    fn open_and_wait(b: &CircuitBreaker, clock: &ManualClock) {
        assert_eq!(b.trip(), tr(Closed, Open));
        clock.advance(b.snapshot().next_attempt_in.expect("open"));
        assert_eq!(b.poll(), tr(Open, HalfOpen));
    }

    #[test]
    fn defaults_match_the_issue_and_validate() {
        let d = BreakerConfig::default();
        assert_eq!(d.failure_threshold, 5);
        assert_eq!(d.failure_rate_threshold, 0.5);
        assert_eq!(d.minimum_calls, 10);
        assert_eq!(d.rolling_window, Duration::from_secs(300));
        assert_eq!(d.window_buckets, 10);
        assert_eq!(d.slow_call_threshold, Some(Duration::from_secs(5)));
        assert_eq!(d.open_timeout, Duration::from_secs(60));
        assert_eq!(d.max_open_timeout, Duration::from_secs(1800));
        assert_eq!(d.recovery_factor, 0.5);
        assert_eq!(d.half_open_max_calls, 10);
        assert_eq!(d.success_threshold, 3);
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn validate_names_the_bad_field_and_new_corrects_it() {
        let d = BreakerConfig::default();
        let cases: Vec<(BreakerConfig, &str)> = vec![
            (BreakerConfig { failure_rate_threshold: 1.5, ..d.clone() }, "failure_rate_threshold"),
            (BreakerConfig { failure_rate_threshold: -0.1, ..d.clone() }, "failure_rate_threshold"),
            (BreakerConfig { failure_rate_threshold: f64::NAN, ..d.clone() }, "failure_rate_threshold"),
            (BreakerConfig { rolling_window: Duration::ZERO, ..d.clone() }, "rolling_window"),
            (BreakerConfig { window_buckets: 0, ..d.clone() }, "window_buckets"),
            (
                BreakerConfig { rolling_window: Duration::from_nanos(5), window_buckets: 6, ..d.clone() },
                "window_buckets",
            ),
            (BreakerConfig { open_timeout: Duration::from_secs(3600), ..d.clone() }, "max_open_timeout"),
            (BreakerConfig { recovery_factor: 0.0, ..d.clone() }, "recovery_factor"),
            (BreakerConfig { recovery_factor: 1.01, ..d.clone() }, "recovery_factor"),
            (BreakerConfig { recovery_factor: f64::NAN, ..d.clone() }, "recovery_factor"),
            (BreakerConfig { half_open_max_calls: 0, ..d.clone() }, "half_open_max_calls"),
            (BreakerConfig { success_threshold: 0, ..d.clone() }, "success_threshold"),
        ];
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(0));
        for (config, field) in cases {
            let err = config.validate().expect_err(field);
            assert!(err.contains(field), "{err:?} should name {field}");
            assert!(CircuitBreaker::try_new(config.clone(), clock.clone()).is_err());
            let b = CircuitBreaker::new(config, clock.clone());
            assert_eq!(b.config().validate(), Ok(()), "corrected {field}");
            assert_eq!(call(&b, Outcome::Success), None);
        }
        // Edge values that are valid.
        for ok in [
            BreakerConfig { failure_threshold: 0, failure_rate_threshold: 0.0, ..d.clone() },
            BreakerConfig { failure_rate_threshold: 1.0, recovery_factor: 1.0, ..d.clone() },
            BreakerConfig { rolling_window: Duration::from_nanos(3), window_buckets: 3, ..d.clone() },
            BreakerConfig { open_timeout: Duration::ZERO, max_open_timeout: Duration::ZERO, ..d.clone() },
        ] {
            assert_eq!(ok.validate(), Ok(()));
        }
    }

    #[test]
    fn state_names_and_traits() {
        let names: Vec<_> = [Closed, Open, HalfOpen, ForcedOpen, Disabled].iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["closed", "open", "half_open", "forced_open", "disabled"]);
        assert_eq!(HalfOpen.to_string(), "half_open");
        assert!(Closed.allows_calls() && HalfOpen.allows_calls() && Disabled.allows_calls());
        assert!(!Open.allows_calls() && !ForcedOpen.allows_calls());
        for s in [Closed, Open, HalfOpen, ForcedOpen, Disabled] {
            assert_eq!(BreakerState::from_code(s.code()), s);
        }
        fn send_sync<T: Send + Sync>() {}
        send_sync::<CircuitBreaker>();
        let (b, _) = breaker(BreakerConfig::default());
        assert!(format!("{b:?}").contains("Closed"));
    }

    #[test]
    fn divider_matches_hardware_division() {
        let mut rng = fastrand::Rng::with_seed(7);
        for d in [1u64, 2, 3, 7, 10, 1000, 30_000_000_000, u64::MAX / 3, u64::MAX - 1, u64::MAX] {
            let div = Divider::new(d);
            let mut values = vec![0, 1, d - 1, d, d.saturating_add(1), u64::MAX - 1, u64::MAX];
            values.extend((0..2000).map(|_| rng.u64(..)));
            values.extend((0..2000).map(|_| rng.u64(..1 << 40)));
            for n in values {
                assert_eq!(div.div_rem(n), (n / d, n % d), "{n} / {d}");
            }
        }
    }

    #[test]
    fn consecutive_failures_trip_at_the_threshold() {
        let (b, _) = breaker(consecutive_only(5));
        for _ in 0..4 {
            assert_eq!(call(&b, Outcome::Failure), None);
        }
        assert_eq!(b.snapshot().consecutive_failures, 4);
        // A success ends the run.
        assert_eq!(call(&b, Outcome::Success), None);
        assert_eq!(b.snapshot().consecutive_failures, 0);
        for _ in 0..4 {
            assert_eq!(call(&b, Outcome::Failure), None);
        }
        assert_eq!(b.state(), Closed);
        // The fifth in a row (>= threshold) trips it.
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
        assert_eq!(b.state(), Open);
        let snap = b.snapshot();
        assert_eq!(snap.trips, 1);
        assert_eq!(snap.current_open_timeout, Duration::from_secs(60));
        assert_eq!(snap.next_attempt_in, Some(Duration::from_secs(60)));
        assert!(rejected(&b));
    }

    #[test]
    fn zero_failure_threshold_disables_the_consecutive_rule() {
        let (b, _) = breaker(consecutive_only(0));
        for _ in 0..1000 {
            assert_eq!(call(&b, Outcome::Failure), None);
        }
        assert_eq!(b.state(), Closed);
        assert_eq!(b.snapshot().consecutive_failures, 1000);
    }

    #[test]
    fn ignored_counts_neither_way() {
        let (b, _) = breaker(BreakerConfig { minimum_calls: 1, ..consecutive_only(3) });
        assert_eq!(call(&b, Outcome::Failure), None);
        assert_eq!(call(&b, Outcome::Failure), None);
        // Ignored does not end the run (a success would) ...
        for _ in 0..10 {
            assert_eq!(call(&b, Outcome::Ignored), None);
        }
        let snap = b.snapshot();
        assert_eq!((snap.consecutive_failures, snap.calls_in_window, snap.failures_in_window), (2, 2, 2));
        // ... nor count as a failure.
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
        // And the rate rule does not see it either: 1 failure among 1 counted call.
        let (b, _) = breaker(rate_only(0.5, 2));
        assert_eq!(call(&b, Outcome::Failure), None);
        assert_eq!(call(&b, Outcome::Ignored), None);
        assert_eq!(b.snapshot().calls_in_window, 1);
        assert_eq!(call(&b, Outcome::Success), tr(Closed, Open), "1/2 >= 0.5 with 2 calls");
    }

    #[test]
    fn rate_rule_needs_minimum_calls_and_trips_at_the_rate() {
        // 5 failures in 9 calls: rate 0.56 but below minimum_calls.
        let (b, _) = breaker(rate_only(0.5, 10));
        for _ in 0..4 {
            assert_eq!(call(&b, Outcome::Success), None);
        }
        for _ in 0..5 {
            assert_eq!(call(&b, Outcome::Failure), None);
        }
        let snap = b.snapshot();
        assert_eq!((snap.calls_in_window, snap.failures_in_window), (9, 5));
        assert!((snap.failure_rate - 5.0 / 9.0).abs() < 1e-12);
        // The tenth call, a success, makes calls >= minimum_calls with the rate
        // at exactly 5/10 >= 0.5: trips.
        assert_eq!(call(&b, Outcome::Success), tr(Closed, Open));

        // Just below the rate at the minimum: 4/10 < 0.5 stays closed; the
        // next failure makes 5/11 < 0.5, the one after 6/12 >= 0.5.
        let (b, _) = breaker(rate_only(0.5, 10));
        for outcome in [[Outcome::Success; 6], [Outcome::Failure; 6]].concat().into_iter().take(10) {
            assert_eq!(call(&b, outcome), None);
        }
        assert_eq!(b.snapshot().failure_rate, 0.4);
        assert_eq!(call(&b, Outcome::Failure), None);
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
        assert_eq!(b.snapshot().failure_rate, 0.5);
    }

    #[test]
    fn old_calls_fall_out_of_the_window() {
        // 10 s window in 1 s buckets; trip at >= 50% of >= 4 calls.
        let config = BreakerConfig { rolling_window: 10 * S, window_buckets: 10, ..rate_only(0.5, 4) };
        let ms = Duration::from_millis(1);
        let ns = Duration::from_nanos(1);
        let scenario = |wait: Duration| {
            let (b, clock) = breaker(config.clone());
            clock.advance(500 * ms); // the failures land at 0.5 s, in bucket [0 s, 1 s)
            for _ in 0..3 {
                assert_eq!(call(&b, Outcome::Failure), None);
            }
            clock.advance(wait);
            let before = b.snapshot(); // read without a new call restarting the slot
            let t = call(&b, Outcome::Success);
            (before, t, b.snapshot())
        };
        // At 10 s - 1 ns the failures still count: 3/4 trips it.
        let (before, t, snap) = scenario(9500 * ms - ns);
        assert_eq!((before.calls_in_window, before.failures_in_window), (3, 3));
        assert_eq!(t, tr(Closed, Open));
        assert_eq!((snap.calls_in_window, snap.failures_in_window), (4, 3));
        // At 10 s (bucket start + rolling_window; 9.5 s after the failures) they are gone.
        let (before, t, snap) = scenario(9500 * ms);
        assert_eq!((before.calls_in_window, before.failures_in_window), (0, 0));
        assert_eq!(t, None);
        assert_eq!((snap.calls_in_window, snap.failures_in_window), (1, 0));
        assert_eq!(snap.state, Closed);
        // A failure-free window is not evaluated on success, but a window whose
        // failures expired while a slot was reused is read correctly: new calls
        // in the reused slot start from zero.
        let (b, clock) = breaker(config.clone());
        for _ in 0..3 {
            assert_eq!(call(&b, Outcome::Failure), None);
        }
        clock.advance(10 * S); // same slot (0), next lap
        assert_eq!(call(&b, Outcome::Failure), None);
        let snap = b.snapshot();
        assert_eq!((snap.calls_in_window, snap.failures_in_window), (1, 1));
        // Calls spread over the buckets all count while within the window.
        for _ in 0..4 {
            clock.advance(S);
            assert_eq!(call(&b, Outcome::Success), None);
        }
        assert_eq!(b.snapshot().calls_in_window, 5);
        assert_eq!(b.snapshot().failure_rate, 0.2);
    }

    #[test]
    fn consecutive_rule_is_not_windowed() {
        let (b, clock) = breaker(BreakerConfig { rolling_window: 10 * S, ..consecutive_only(3) });
        assert_eq!(call(&b, Outcome::Failure), None);
        assert_eq!(call(&b, Outcome::Failure), None);
        clock.advance(3600 * S);
        assert_eq!(b.snapshot().calls_in_window, 0);
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
    }

    #[test]
    fn slow_successes_count_as_failures_strictly_above_the_threshold() {
        let (b, clock) =
            breaker(BreakerConfig { failure_threshold: 1, slow_call_threshold: Some(5 * S), ..rate_only(0.0, 10) });
        let slow = |took: Duration, outcome: Outcome| {
            let p = permit(&b);
            clock.advance(took);
            b.record(p, outcome)
        };
        // Exactly the threshold (5 s) is a success.
        assert_eq!(slow(5 * S, Outcome::Success), None);
        assert_eq!(b.snapshot().consecutive_failures, 0);
        // Slow ignored calls stay ignored.
        assert_eq!(slow(60 * S, Outcome::Ignored), None);
        assert_eq!(b.snapshot().calls_in_window, 1);
        // One nanosecond more is a failure (threshold 1 trips at once).
        assert_eq!(slow(5 * S + Duration::from_nanos(1), Outcome::Success), tr(Closed, Open));
        assert_eq!(b.snapshot().failures_in_window, 1);

        // Without a threshold nothing is slow.
        let (b, clock) =
            breaker(BreakerConfig { failure_threshold: 1, slow_call_threshold: None, ..rate_only(0.0, 10) });
        let p = permit(&b);
        clock.advance(3600 * S);
        assert_eq!(b.record(p, Outcome::Success), None);
        assert_eq!(b.state(), Closed);
    }

    #[test]
    fn open_goes_half_open_when_the_open_time_has_elapsed() {
        let (b, clock) = breaker(BreakerConfig { recovery_factor: 1.0, ..consecutive_only(1) });
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
        clock.advance(60 * S - Duration::from_nanos(1));
        assert_eq!(b.state(), Open);
        assert_eq!(b.snapshot().next_attempt_in, Some(Duration::from_nanos(1)));
        assert!(rejected(&b));
        assert_eq!(b.poll(), None);
        let before = b.snapshot().calls_in_window;
        clock.advance(Duration::from_nanos(1));
        // Reported at once (>=) ...
        assert_eq!(b.state(), HalfOpen);
        let snap = b.snapshot();
        assert_eq!((snap.state, snap.next_attempt_in), (HalfOpen, None));
        // ... moved, and returned, by the next acquire.
        match b.acquire() {
            (Admission::Permitted(p), t) => {
                assert_eq!(t, tr(Open, HalfOpen));
                assert!(p.is_trial());
                assert_eq!(b.record(p, Outcome::Ignored), None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(b.poll(), None, "the transition is returned once");
        // Rejected calls were never counted.
        assert_eq!(b.snapshot().calls_in_window, before);
    }

    #[test]
    fn poll_and_half_open_move_an_open_breaker() {
        let (b, clock) = breaker(consecutive_only(1));
        assert_eq!(b.half_open(), None, "closed");
        assert_eq!(b.poll(), None, "closed");
        assert_eq!(b.trip(), tr(Closed, Open));
        // half_open() does not wait for the open time (a good probe).
        assert_eq!(b.half_open(), tr(Open, HalfOpen));
        assert_eq!(b.half_open(), None);
        assert_eq!(b.record_failure(), tr(HalfOpen, Open));
        assert_eq!(b.snapshot().current_open_timeout, 120 * S);
        clock.advance(120 * S);
        assert_eq!(b.poll(), tr(Open, HalfOpen));
        assert_eq!(b.poll(), None);
    }

    #[test]
    fn half_open_admits_the_recovery_fraction() {
        let pattern = |f: f64, n: usize| -> Vec<bool> {
            let config = BreakerConfig { recovery_factor: f, half_open_max_calls: 1000, ..consecutive_only(1) };
            let (b, clock) = breaker(config);
            open_and_wait(&b, &clock);
            (0..n)
                .map(|_| match b.acquire() {
                    (Admission::Permitted(p), None) => {
                        assert_eq!(b.record(p, Outcome::Ignored), None);
                        true
                    }
                    (Admission::Rejected, None) => false,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let (t, f) = (true, false);
        assert_eq!(pattern(0.5, 8), [f, t, f, t, f, t, f, t]);
        assert_eq!(pattern(1.0, 5), [t; 5]);
        assert_eq!(pattern(0.3, 10), [f, f, f, t, f, f, t, f, f, t]);
        assert_eq!(pattern(0.25, 8), [f, f, f, t, f, f, f, t]);
        // Over a long run the share is the factor.
        let admitted = pattern(0.1, 1000).iter().filter(|&&a| a).count();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn half_open_caps_outstanding_trials() {
        let config = BreakerConfig { recovery_factor: 1.0, half_open_max_calls: 3, ..consecutive_only(1) };
        let (b, clock) = breaker(config);
        open_and_wait(&b, &clock);
        let mut permits: Vec<Permit> = (0..3).map(|_| permit(&b)).collect();
        assert!(permits.iter().all(Permit::is_trial));
        assert!(rejected(&b));
        assert_eq!(b.snapshot().half_open_in_flight, 3);
        // An ignored trial frees its slot and counts neither way.
        assert_eq!(b.record(permits.pop().expect("three"), Outcome::Ignored), None);
        assert_eq!(b.snapshot().half_open_successes, 0);
        permits.push(permit(&b));
        assert!(rejected(&b));
        // A success frees one too.
        assert_eq!(b.record(permits.pop().expect("three"), Outcome::Success), None);
        let snap = b.snapshot();
        assert_eq!((snap.state, snap.half_open_in_flight, snap.half_open_successes), (HalfOpen, 2, 1));
        permits.push(permit(&b));
        assert!(rejected(&b));
    }

    #[test]
    fn success_threshold_closes_and_clears() {
        let config = BreakerConfig { recovery_factor: 1.0, minimum_calls: 1, ..consecutive_only(2) };
        let (b, clock) = breaker(config);
        assert_eq!(call(&b, Outcome::Failure), None);
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
        clock.advance(60 * S);
        let (adm, t) = b.acquire();
        assert_eq!(t, tr(Open, HalfOpen));
        let first = adm.permit().expect("admitted");
        let second = permit(&b);
        let third = permit(&b);
        assert_eq!(b.record(first, Outcome::Success), None);
        assert_eq!(b.record(second, Outcome::Success), None);
        assert_eq!(b.state(), HalfOpen);
        assert_eq!(b.record(third, Outcome::Success), tr(HalfOpen, Closed));
        let snap = b.snapshot();
        assert_eq!(snap.state, Closed);
        assert_eq!((snap.calls_in_window, snap.failures_in_window, snap.consecutive_failures), (0, 0, 0));
        assert_eq!(snap.current_open_timeout, 60 * S);
        assert_eq!(snap.trips, 1);
        // A fresh run is needed to trip again.
        assert_eq!(call(&b, Outcome::Failure), None);
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
    }

    #[test]
    fn failed_recoveries_double_the_open_time_up_to_the_cap() {
        let config = BreakerConfig { recovery_factor: 1.0, ..consecutive_only(1) };
        let (b, clock) = breaker(config);
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
        let mut seen = vec![b.snapshot().current_open_timeout.as_secs()];
        for round in 0..8u64 {
            let wait = b.snapshot().next_attempt_in.expect("open");
            clock.advance(wait - Duration::from_nanos(1));
            assert!(rejected(&b), "round {round}: still open 1 ns before the open time");
            clock.advance(Duration::from_nanos(1));
            let (adm, t) = b.acquire();
            assert_eq!(t, tr(Open, HalfOpen));
            // Alternate the ways a recovery fails: a trial failure, a slow
            // trial success, record_failure() and trip().
            let p = adm.permit().expect("trial");
            let t = match round % 4 {
                0 => b.record(p, Outcome::Failure),
                1 => {
                    clock.advance(6 * S);
                    b.record(p, Outcome::Success)
                }
                2 => {
                    let t = b.record_failure();
                    assert_eq!(b.record(p, Outcome::Failure), None, "stale trial");
                    t
                }
                _ => {
                    let t = b.trip();
                    assert_eq!(b.record(p, Outcome::Success), None, "stale trial");
                    t
                }
            };
            assert_eq!(t, tr(HalfOpen, Open), "round {round}");
            seen.push(b.snapshot().current_open_timeout.as_secs());
            assert_eq!(b.snapshot().trips, round + 2);
        }
        assert_eq!(seen, [60, 120, 240, 480, 960, 1800, 1800, 1800, 1800]);
        // A recovery resets it.
        clock.advance(1800 * S);
        for _ in 0..3 {
            let (adm, _) = b.acquire();
            let _ = b.record(adm.permit().expect("trial"), Outcome::Success);
        }
        assert_eq!(b.state(), Closed);
        assert_eq!(b.snapshot().current_open_timeout, 60 * S);
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
        assert_eq!(b.snapshot().next_attempt_in, Some(60 * S));
    }

    #[test]
    fn trip_and_record_failure_by_state() {
        let (b, clock) = breaker(consecutive_only(3));
        // record_failure counts toward the run like a failed call.
        assert_eq!(b.record_failure(), None);
        assert_eq!(call(&b, Outcome::Failure), None);
        assert_eq!(b.record_failure(), tr(Closed, Open));
        // Open: record_failure does nothing; trip restarts the open period.
        assert_eq!(b.record_failure(), None);
        clock.advance(50 * S);
        assert_eq!(b.snapshot().next_attempt_in, Some(10 * S));
        assert_eq!(b.trip(), None);
        let snap = b.snapshot();
        assert_eq!((snap.next_attempt_in, snap.trips, snap.current_open_timeout), (Some(60 * S), 1, 60 * S));
        // Overrides ignore both.
        assert_eq!(b.force_open(), tr(Open, ForcedOpen));
        assert_eq!((b.trip(), b.record_failure()), (None, None));
        assert_eq!(b.disable(), tr(ForcedOpen, Disabled));
        assert_eq!((b.trip(), b.record_failure()), (None, None));
        assert_eq!(b.reset(), tr(Disabled, Closed));
        // trip() from closed opens with the base open time.
        assert_eq!(b.trip(), tr(Closed, Open));
        assert_eq!(b.snapshot().trips, 2);
    }

    #[test]
    fn forced_open_rejects_until_reset() {
        let (b, clock) = breaker(consecutive_only(1));
        let p = permit(&b);
        assert_eq!(b.force_open(), tr(Closed, ForcedOpen));
        assert_eq!(b.force_open(), None);
        assert!(rejected(&b));
        clock.advance(24 * 3600 * S);
        assert!(rejected(&b));
        assert_eq!(b.state(), ForcedOpen);
        assert_eq!(b.poll(), None);
        assert_eq!(b.half_open(), None);
        // A permit from before does nothing.
        assert_eq!(b.record(p, Outcome::Failure), None);
        assert_eq!(b.snapshot().trips, 0, "forced open is not a trip");
        assert_eq!(b.reset(), tr(ForcedOpen, Closed));
        assert_eq!(call(&b, Outcome::Success), None);
    }

    #[test]
    fn disabled_admits_everything_and_never_trips() {
        let (b, _) = breaker(BreakerConfig { minimum_calls: 1, ..consecutive_only(1) });
        assert_eq!(b.trip(), tr(Closed, Open));
        assert_eq!(b.disable(), tr(Open, Disabled));
        assert_eq!(b.disable(), None);
        for _ in 0..100 {
            assert_eq!(call(&b, Outcome::Failure), None);
        }
        assert_eq!(b.record_failure(), None);
        assert_eq!(b.trip(), None);
        let snap = b.snapshot();
        assert_eq!((snap.state, snap.calls_in_window, snap.consecutive_failures), (Disabled, 0, 0));
        assert_eq!(b.reset(), tr(Disabled, Closed));
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
    }

    #[test]
    fn reset_clears_window_run_and_backoff() {
        let config = BreakerConfig { recovery_factor: 1.0, failure_rate_threshold: 0.9, ..consecutive_only(3) };
        let (b, clock) = breaker(config);
        assert_eq!(call(&b, Outcome::Failure), None);
        assert_eq!(call(&b, Outcome::Success), None);
        assert_eq!(call(&b, Outcome::Failure), None);
        let stale = permit(&b);
        // reset() while closed: no transition, but everything cleared.
        assert_eq!(b.reset(), None);
        let snap = b.snapshot();
        assert_eq!((snap.calls_in_window, snap.consecutive_failures), (0, 0));
        assert_eq!(b.record(stale, Outcome::Failure), None);
        assert_eq!(b.snapshot().consecutive_failures, 0, "a permit from before the reset is void");
        // Back off twice, then reset.
        assert_eq!(b.trip(), tr(Closed, Open));
        for _ in 0..2 {
            clock.advance(b.snapshot().next_attempt_in.expect("open"));
            assert_eq!(b.poll(), tr(Open, HalfOpen));
            assert_eq!(b.record_failure(), tr(HalfOpen, Open));
        }
        assert_eq!(b.snapshot().current_open_timeout, 240 * S);
        assert_eq!(b.reset(), tr(Open, Closed));
        assert_eq!(b.snapshot().current_open_timeout, 60 * S);
        assert_eq!(b.trip(), tr(Closed, Open));
        assert_eq!(b.snapshot().next_attempt_in, Some(60 * S));
        // From half-open too.
        clock.advance(60 * S);
        assert_eq!(b.poll(), tr(Open, HalfOpen));
        let trial = permit(&b);
        assert_eq!(b.reset(), tr(HalfOpen, Closed));
        assert_eq!(b.record(trial, Outcome::Failure), None, "a trial from before the reset is void");
        assert_eq!(b.state(), Closed);
    }

    #[test]
    fn permits_from_an_earlier_period_are_void() {
        let config = BreakerConfig { recovery_factor: 1.0, half_open_max_calls: 2, ..consecutive_only(1) };
        let (b, clock) = breaker(config);
        let closed_permit = permit(&b);
        assert_eq!(call(&b, Outcome::Failure), tr(Closed, Open));
        // A call admitted while closed that fails after the trip neither
        // re-trips nor counts.
        assert_eq!(b.record(closed_permit, Outcome::Failure), None);
        assert_eq!(b.snapshot().trips, 1);
        clock.advance(60 * S);
        assert_eq!(b.poll(), tr(Open, HalfOpen));
        let old_trials = [permit(&b), permit(&b)];
        assert!(rejected(&b));
        assert_eq!(b.record_failure(), tr(HalfOpen, Open));
        clock.advance(120 * S);
        assert_eq!(b.poll(), tr(Open, HalfOpen));
        let new_trials = [permit(&b), permit(&b)];
        assert_ne!(old_trials[0].period(), new_trials[0].period());
        // Old trials neither free the new period's slots nor decide it.
        for p in old_trials {
            assert_eq!(b.record(p, Outcome::Failure), None);
        }
        assert!(rejected(&b));
        assert_eq!(b.state(), HalfOpen);
        for p in new_trials {
            assert_eq!(b.record(p, Outcome::Ignored), None);
        }
        assert!(b.acquire().0.is_permitted());
    }

    #[test]
    fn hook_sees_every_transition_in_order() {
        let (b, clock) = breaker(BreakerConfig { recovery_factor: 1.0, success_threshold: 1, ..consecutive_only(1) });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        b.on_transition(move |t| sink.lock().push(t));
        let mut returned = Vec::new();
        returned.extend(call(&b, Outcome::Failure));
        clock.advance(60 * S);
        let (adm, t) = b.acquire();
        returned.extend(t);
        returned.extend(b.record(adm.permit().expect("trial"), Outcome::Success));
        returned.extend(b.force_open());
        returned.extend(b.reset());
        assert_eq!(b.reset(), None);
        let expected: Vec<Transition> =
            [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed), (Closed, ForcedOpen), (ForcedOpen, Closed)]
                .iter()
                .map(|&(from, to)| Transition { from, to })
                .collect();
        assert_eq!(returned, expected);
        assert_eq!(*seen.lock(), expected);
    }

    #[test]
    fn closed_calls_are_counted_when_recorded() {
        // Without slow-call detection acquire reads no clock; the call lands
        // in the bucket of its record time.
        let (b, clock) = breaker(BreakerConfig { rolling_window: 10 * S, ..rate_only(0.5, 1) });
        let p = permit(&b);
        clock.advance(10 * S);
        assert_eq!(b.record(p, Outcome::Success), None);
        assert_eq!(b.snapshot().calls_in_window, 1);
    }
}
