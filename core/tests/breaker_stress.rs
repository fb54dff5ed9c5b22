//! The circuit breaker under concurrency: 8 threads hammer acquire/record with
//! random outcomes, a clock thread moves a shared `ManualClock` forward, and an
//! operator thread cycles through the overrides and the watchdog calls. The
//! clock thread hands out a fixed number of call tickets per clock step (the
//! workers block on a condvar when they run out), so the run covers many
//! open/half-open/close cycles however the threads are scheduled, while the
//! breaker calls themselves overlap freely. A watchdog fails the test if the
//! run does not finish (a deadlock or a livelock).
//!
//! Checked afterwards:
//! - the transitions seen by the ordered hook form a valid path of the state
//!   machine starting at CLOSED and ending at the breaker's final state;
//! - every transition was returned exactly once, to a caller of an API that
//!   may make it (e.g. FORCED_OPEN only from `force_open`, CLOSED from
//!   anything but HALF_OPEN only from `reset`);
//! - never more than `half_open_max_calls` trial permits of one half-open
//!   period outstanding;
//! - the snapshot's trip count equals the entries into OPEN;
//! - every kind of transition happened (so the checks above had something to check).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use sturdycache::breaker::{Admission, BreakerConfig, BreakerState, CircuitBreaker, Outcome, Transition};
use sturdycache::clock::{Clock, ManualClock};

use BreakerState::*;

const WORKERS: usize = 8;
/// Clock steps; the clock moves 1..=20 ms per step, about 160 s of fake time.
const STEPS: u64 = 15000;
/// Worker calls (tickets) per clock step.
const CALLS_PER_STEP: u64 = 40;
/// Clock steps between two operator actions.
const STEPS_PER_ACTION: u64 = 40;
const MAX_TRIALS: u32 = 3;
const WATCHDOG: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Api {
    Acquire,
    Record,
    RecordFailure,
    Trip,
    Poll,
    HalfOpen,
    ForceOpen,
    Disable,
    Reset,
}

/// Whether `api` may make transition `t`.
fn allowed(api: Api, t: Transition) -> bool {
    match api {
        Api::Acquire | Api::Poll | Api::HalfOpen => (t.from, t.to) == (Open, HalfOpen),
        Api::Record => matches!((t.from, t.to), (Closed, Open) | (HalfOpen, Open) | (HalfOpen, Closed)),
        Api::RecordFailure | Api::Trip => matches!((t.from, t.to), (Closed, Open) | (HalfOpen, Open)),
        Api::ForceOpen => t.to == ForcedOpen && t.from != ForcedOpen,
        Api::Disable => t.to == Disabled && t.from != Disabled,
        Api::Reset => t.to == Closed && t.from != Closed,
    }
}

/// Whether `t` is an edge of the state machine at all.
fn edge(t: Transition) -> bool {
    t.from != t.to
        && match t.to {
            Open => matches!(t.from, Closed | HalfOpen),
            HalfOpen => t.from == Open,
            Closed | ForcedOpen | Disabled => true,
        }
}

type Log = Vec<(Api, Transition)>;

struct Shared {
    breaker: CircuitBreaker,
    clock: ManualClock,
    /// Calls made (tickets taken).
    calls: AtomicU64,
    /// Tickets left in this clock step.
    tickets: AtomicU64,
    /// Clock steps taken.
    steps: AtomicU64,
    done: AtomicBool,
    /// Guards the waits below (the counters are atomics; the mutex only
    /// orders a waiter's check against the waker's change).
    pace: Mutex<()>,
    /// Workers and the operator wait here for the next step.
    stepped: Condvar,
    /// The clock thread waits here for the tickets to run out.
    spent: Condvar,
    /// Outstanding trial permits per half-open period, as the workers see them.
    trials: Mutex<HashMap<u64, u32>>,
}

/// Takes a call ticket, waiting for the next clock step when there is none;
/// false when the run is over.
fn ticket(shared: &Shared) -> bool {
    loop {
        match shared.tickets.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(1)) {
            Ok(left) => {
                if left == 1 {
                    let _g = shared.pace.lock().unwrap();
                    shared.spent.notify_one();
                }
                shared.calls.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(_) => {
                let mut g = shared.pace.lock().unwrap();
                while shared.tickets.load(Ordering::Acquire) == 0 && !shared.done.load(Ordering::Acquire) {
                    g = shared.stepped.wait(g).unwrap();
                }
                if shared.done.load(Ordering::Acquire) {
                    return false;
                }
            }
        }
    }
}

fn worker(shared: &Shared, seed: u64) -> Log {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut log = Log::new();
    while ticket(shared) {
        // Sick and healthy phases of 2 s of fake time each.
        let sick = (shared.clock.monotonic_ns() / 2_000_000_000) % 2 == 1;
        let (admission, t) = shared.breaker.acquire();
        log.extend(t.map(|t| (Api::Acquire, t)));
        let Admission::Permitted(permit) = admission else { continue };
        let (trial, period) = (permit.is_trial(), permit.period());
        if trial {
            let mut trials = shared.trials.lock().unwrap();
            let n = trials.entry(period).or_insert(0);
            *n += 1;
            assert!(*n <= MAX_TRIALS, "{n} trial permits outstanding in half-open period {period}");
        }
        if rng.u8(..10) == 0 {
            thread::yield_now(); // a longer call; some become slow ones
        }
        let roll = rng.u8(..100);
        let outcome = if roll < if sick { 80 } else { 2 } {
            Outcome::Failure
        } else if roll >= 95 {
            Outcome::Ignored
        } else {
            Outcome::Success
        };
        if trial {
            *shared.trials.lock().unwrap().get_mut(&period).expect("counted") -= 1;
        }
        log.extend(shared.breaker.record(permit, outcome).map(|t| (Api::Record, t)));
    }
    log
}

/// Hands out `CALLS_PER_STEP` tickets, waits until they are taken, moves the
/// clock; `STEPS` times.
fn ticker(shared: &Shared, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for step in 1..=STEPS {
        let mut g = shared.pace.lock().unwrap();
        shared.tickets.store(CALLS_PER_STEP, Ordering::Release);
        shared.stepped.notify_all();
        while shared.tickets.load(Ordering::Acquire) > 0 {
            g = shared.spent.wait(g).unwrap();
        }
        drop(g);
        shared.clock.advance(Duration::from_millis(rng.u64(1..=20)));
        shared.steps.store(step, Ordering::Release);
    }
    let _g = shared.pace.lock().unwrap();
    shared.done.store(true, Ordering::Release);
    shared.stepped.notify_all();
}

/// Cycles through the overrides and watchdog calls, one per `STEPS_PER_ACTION`
/// clock steps.
fn operator(shared: &Shared) -> Log {
    let b = &shared.breaker;
    let mut log = Log::new();
    let actions = [
        Api::Trip,
        Api::RecordFailure,
        Api::ForceOpen,
        Api::Reset,
        Api::Poll,
        Api::Disable,
        Api::Reset,
        Api::HalfOpen,
        Api::Trip,
        Api::HalfOpen,
    ];
    let mut next = 0;
    loop {
        let target = (next as u64 + 1) * STEPS_PER_ACTION;
        let mut g = shared.pace.lock().unwrap();
        while shared.steps.load(Ordering::Acquire) < target && !shared.done.load(Ordering::Acquire) {
            g = shared.stepped.wait(g).unwrap();
        }
        drop(g);
        if shared.done.load(Ordering::Acquire) {
            break;
        }
        let api = actions[next % actions.len()];
        next += 1;
        let t = match api {
            Api::Trip => b.trip(),
            Api::RecordFailure => b.record_failure(),
            Api::ForceOpen => b.force_open(),
            Api::Disable => b.disable(),
            Api::Reset => b.reset(),
            Api::Poll => b.poll(),
            Api::HalfOpen => b.half_open(),
            Api::Acquire | Api::Record => unreachable!(),
        };
        log.extend(t.map(|t| (api, t)));
        let snap = b.snapshot();
        assert!(snap.half_open_in_flight <= MAX_TRIALS, "{snap:?}");
        assert!(snap.failures_in_window <= snap.calls_in_window, "{snap:?}");
        assert!((0.0..=1.0).contains(&snap.failure_rate), "{snap:?}");
    }
    log
}

#[test]
fn breaker_state_machine_holds_under_concurrency() {
    let config = BreakerConfig {
        failure_threshold: 4,
        failure_rate_threshold: 0.5,
        minimum_calls: 8,
        rolling_window: Duration::from_secs(2),
        window_buckets: 4,
        slow_call_threshold: Some(Duration::from_millis(15)),
        open_timeout: Duration::from_millis(100),
        max_open_timeout: Duration::from_millis(800),
        recovery_factor: 0.5,
        half_open_max_calls: MAX_TRIALS,
        success_threshold: 3,
    };
    let clock = ManualClock::new(0);
    let breaker = CircuitBreaker::try_new(config, Arc::new(clock.clone())).expect("valid config");
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let sink = hooked.clone();
    breaker.on_transition(move |t| sink.lock().unwrap().push(t));
    let shared = Arc::new(Shared {
        breaker,
        clock,
        calls: AtomicU64::new(0),
        tickets: AtomicU64::new(0),
        steps: AtomicU64::new(0),
        done: AtomicBool::new(false),
        pace: Mutex::new(()),
        stepped: Condvar::new(),
        spent: Condvar::new(),
        trials: Mutex::new(HashMap::new()),
    });

    let mut handles = Vec::new();
    for i in 0..WORKERS {
        let s = shared.clone();
        handles.push(thread::spawn(move || worker(&s, i as u64 + 1)));
    }
    let s = shared.clone();
    handles.push(thread::spawn(move || operator(&s)));
    let s = shared.clone();
    let tick = thread::spawn(move || ticker(&s, 99));

    // The watchdog: a joiner reports back; silence past WATCHDOG is a hang.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let logs: Vec<thread::Result<Log>> = handles.into_iter().map(|h| h.join()).collect();
        let ticked = tick.join();
        let _ = tx.send((logs, ticked));
    });
    let (logs, ticked) = match rx.recv_timeout(WATCHDOG) {
        Ok(r) => r,
        Err(_) => panic!(
            "no finish within {WATCHDOG:?}: deadlock or livelock (state {:?}, {} calls, fake time {} ms)",
            shared.breaker.state(),
            shared.calls.load(Ordering::Relaxed),
            shared.clock.monotonic_ns() / 1_000_000
        ),
    };
    ticked.expect("clock thread panicked");
    let mut returned = Log::new();
    for log in logs {
        returned.extend(log.expect("a worker or the operator panicked"));
    }
    let hooked = hooked.lock().unwrap().clone();

    // The ordered log is a path from CLOSED to the final state.
    let mut state = Closed;
    for (i, t) in hooked.iter().enumerate() {
        assert_eq!(t.from, state, "transition {i} ({t:?}) does not start where the last one ended");
        assert!(edge(*t), "transition {i} ({t:?}) is no edge of the state machine");
        state = t.to;
    }
    let final_state = shared.breaker.snapshot().state;
    // state() reports HALF_OPEN once an open time has passed, before the move.
    assert!(
        final_state == state || (state == Open && final_state == HalfOpen),
        "log ends in {state:?}, breaker is {final_state:?}"
    );

    // Each transition returned exactly once, by an API allowed to make it.
    for &(api, t) in &returned {
        assert!(allowed(api, t), "{api:?} returned {t:?}");
    }
    let count = |ts: &mut dyn Iterator<Item = Transition>| {
        let mut m: HashMap<(BreakerState, BreakerState), usize> = HashMap::new();
        for t in ts {
            *m.entry((t.from, t.to)).or_default() += 1;
        }
        m
    };
    let by_hook = count(&mut hooked.iter().copied());
    let by_return = count(&mut returned.iter().map(|&(_, t)| t));
    assert_eq!(by_hook, by_return, "the hook and the returned transitions differ");
    assert_eq!(shared.breaker.snapshot().trips as usize, hooked.iter().filter(|t| t.to == Open).count());
    assert!(shared.trials.lock().unwrap().values().all(|&n| n == 0), "a trial permit was never recorded");

    // Coverage: every kind of transition happened.
    let kinds = |pred: &dyn Fn(&(Api, Transition)) -> bool| returned.iter().filter(|x| pred(x)).count();
    let coverage = [
        ("closed -> open by calls", kinds(&|(a, t)| *a == Api::Record && (t.from, t.to) == (Closed, Open))),
        ("open -> half_open by acquire", kinds(&|(a, _)| *a == Api::Acquire)),
        ("half_open -> open by a trial", kinds(&|(a, t)| *a == Api::Record && (t.from, t.to) == (HalfOpen, Open))),
        ("half_open -> closed", kinds(&|(_, t)| (t.from, t.to) == (HalfOpen, Closed))),
        ("forced_open", kinds(&|(_, t)| t.to == ForcedOpen)),
        ("disabled", kinds(&|(_, t)| t.to == Disabled)),
        ("reset", kinds(&|(a, _)| *a == Api::Reset)),
        ("trip / record_failure", kinds(&|(a, _)| matches!(a, Api::Trip | Api::RecordFailure))),
    ];
    let calls = shared.calls.load(Ordering::Relaxed);
    println!("{calls} calls, {} transitions: {coverage:?}", hooked.len());
    for (what, n) in coverage {
        assert!(n > 0, "no {what} transition in {calls} calls: the run proved little");
    }
}

/// Spins (yielding now and then) until `done()`; panics after `WATCHDOG`.
fn spin_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WATCHDOG;
    let mut spins = 0u32;
    while !done() {
        spins += 1;
        if spins.is_multiple_of(64) {
            assert!(std::time::Instant::now() < deadline, "stuck waiting for {what}");
            thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Threads that pass the CLOSED check together and all trip the breaker:
/// exactly one of them gets (and the hook sees) the transition. The racers
/// take their permits, then spin on one flag and record a failure the moment
/// it flips, so their records overlap as closely as the machine allows.
#[test]
fn a_trip_is_reported_once_when_threads_race_to_it() {
    const ROUNDS: u64 = 2000;
    let followers = thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4) - 1;
    let config = BreakerConfig { failure_threshold: 1, ..BreakerConfig::default() };
    let breaker = Arc::new(CircuitBreaker::try_new(config, Arc::new(ManualClock::new(0))).expect("valid config"));
    let hooked = Arc::new(AtomicU64::new(0));
    let sink = hooked.clone();
    breaker.on_transition(move |t| {
        if t.to == Open {
            sink.fetch_add(1, Ordering::Relaxed);
        }
    });
    // Round r: `closed` = r once the breaker is reset; `ready` and `finished`
    // count followers holding a permit and done recording; `go` = r starts the race.
    let closed = Arc::new(AtomicU64::new(0));
    let go = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let returned = Arc::new(AtomicU64::new(0));
    let race = |b: &CircuitBreaker, returned: &AtomicU64, permit: Option<sturdycache::breaker::Permit>| {
        if let Some(t) = permit.and_then(|p| b.record(p, Outcome::Failure)) {
            // A wrong transition counts 1000, so the leader's check fails.
            returned.fetch_add(if (t.from, t.to) == (Closed, Open) { 1 } else { 1000 }, Ordering::Relaxed);
        }
    };
    let handles: Vec<_> = (0..followers)
        .map(|_| {
            let (b, closed, go, ready, finished, returned) =
                (breaker.clone(), closed.clone(), go.clone(), ready.clone(), finished.clone(), returned.clone());
            thread::spawn(move || {
                for r in 1..=ROUNDS {
                    spin_until("the reset", || closed.load(Ordering::Acquire) >= r);
                    let permit = b.acquire().0.permit();
                    ready.fetch_add(1, Ordering::AcqRel);
                    spin_until("the start", || go.load(Ordering::Acquire) >= r);
                    race(&b, &returned, permit);
                    finished.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    let n = followers as u64;
    for r in 1..=ROUNDS {
        let _ = breaker.reset();
        closed.store(r, Ordering::Release);
        let permit = breaker.acquire().0.permit();
        spin_until("the followers' permits", || ready.load(Ordering::Acquire) >= r * n);
        go.store(r, Ordering::Release);
        race(&breaker, &returned, permit);
        spin_until("the followers' records", || finished.load(Ordering::Acquire) >= r * n);
        assert_eq!(returned.load(Ordering::Relaxed), r, "round {r}: one closed -> open returned");
        assert_eq!(hooked.load(Ordering::Relaxed), r, "round {r}: one trip announced");
    }
    for h in handles {
        h.join().expect("racer panicked");
    }
    assert_eq!(breaker.snapshot().trips, ROUNDS);
}
