//! Single-flight: concurrent `get_or_insert_with` callers for one missing key
//! run the loader once. The leader runs it with no cache lock held; if the
//! leader's loader fails or panics, one waiter takes over.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::value::Value;

enum State {
    Running,
    Done(Value),
    Abandoned,
}

/// One in-progress load.
pub struct Flight {
    state: Mutex<State>,
    done: Condvar,
}

impl Flight {
    /// Waits for the leader. `Some` is the loaded value; `None` means the leader
    /// gave up and the caller should try to lead.
    pub fn wait(&self) -> Option<Value> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                State::Running => self.done.wait(&mut state),
                State::Done(v) => return Some(v.clone()),
                State::Abandoned => return None,
            }
        }
    }
}

/// The loads in progress, by key.
#[derive(Default)]
pub struct Flights {
    running: Mutex<HashMap<Vec<u8>, Arc<Flight>>>,
}

/// The caller's part in a load.
pub enum Role<'a> {
    /// Run the loader, then call [`Leader::finish`] (dropping abandons).
    Leader(Leader<'a>),
    /// Wait for the leader.
    Follower(Arc<Flight>),
}

/// The right and duty to load one key.
pub struct Leader<'a> {
    flights: &'a Flights,
    key: Vec<u8>,
    flight: Arc<Flight>,
    finished: bool,
}

impl Flights {
    /// Joins the load of `key`, leading it if none is running.
    pub fn join(&self, key: &[u8]) -> Role<'_> {
        let mut running = self.running.lock();
        if let Some(f) = running.get(key) {
            return Role::Follower(f.clone());
        }
        let flight = Arc::new(Flight { state: Mutex::new(State::Running), done: Condvar::new() });
        running.insert(key.to_vec(), flight.clone());
        Role::Leader(Leader { flights: self, key: key.to_vec(), flight, finished: false })
    }
}

impl Leader<'_> {
    /// Hands the loaded value to every waiter.
    pub fn finish(mut self, value: Value) {
        self.settle(State::Done(value));
    }

    fn settle(&mut self, outcome: State) {
        self.finished = true;
        self.flights.running.lock().remove(&self.key);
        *self.flight.state.lock() = outcome;
        self.flight.done.notify_all();
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.settle(State::Abandoned);
        }
    }
}
