//! [`Watchdog`]: bounds the time a rank may wait in a collective.
//!
//! MPI collectives block until every rank has joined. When a peer dies,
//! `mpirun` normally ends the whole job; the watchdog is the backstop for
//! the cases it does not catch (a peer that hangs, or one that took another
//! code path): a thread that, when a collective has been running for longer
//! than the limit, reports which rank waited in which operation and ends
//! the process with a non-zero status, which in turn makes `mpirun` end the
//! others.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the watchdog does when a collective exceeds the limit: gets the
/// rank, the operation and the limit.
pub type OnTimeout = Box<dyn Fn(usize, &'static str, Duration) + Send + Sync>;

/// Exit status of a process that the watchdog ends.
pub const TIMEOUT_EXIT_CODE: i32 = 70;

/// The environment variable that sets the watchdog's limit in seconds
/// (default [`DEFAULT_TIMEOUT`]; `0` turns the watchdog off).
pub const TIMEOUT_ENV: &str = "DL_DIST_TIMEOUT_S";

/// The default limit on one collective.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

struct State {
    current: Option<(&'static str, Instant)>,
    stop: bool,
}

/// A thread watching the collectives of one rank. Cheap per call (one
/// uncontended mutex lock on entry and on exit).
pub struct Watchdog {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog").finish_non_exhaustive()
    }
}

/// The limit from [`TIMEOUT_ENV`], else [`DEFAULT_TIMEOUT`]; `None` when set
/// to 0 (off) or unparsable values fall back to the default.
pub fn timeout_from_env() -> Option<Duration> {
    match std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        Some(s) if s <= 0.0 => None,
        Some(s) if s.is_finite() => Some(Duration::from_secs_f64(s)),
        _ => Some(DEFAULT_TIMEOUT),
    }
}

/// The default action: print the rank and the operation to stderr and end
/// the process with [`TIMEOUT_EXIT_CODE`].
pub fn exit_on_timeout() -> OnTimeout {
    Box::new(|rank, op, limit| {
        eprintln!(
            "dl-dist: rank {rank}: {op} did not complete within {:.0} s; a peer rank has died, hung or diverged; exiting with status {TIMEOUT_EXIT_CODE}",
            limit.as_secs_f64()
        );
        std::process::exit(TIMEOUT_EXIT_CODE);
    })
}

impl Watchdog {
    /// Starts the watching thread for `rank` with limit `limit`.
    pub fn new(rank: usize, limit: Duration, on_timeout: OnTimeout) -> Self {
        let shared = Arc::new((
            Mutex::new(State {
                current: None,
                stop: false,
            }),
            Condvar::new(),
        ));
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("dl-dist-watchdog".into())
            .spawn(move || watch(&s, rank, limit, &on_timeout))
            .ok();
        Self { shared, thread }
    }

    /// Marks the start of collective `op`; the returned guard marks its end
    /// when dropped.
    pub fn enter(&self, op: &'static str) -> Guard<'_> {
        let (m, cv) = &*self.shared;
        lock(m).current = Some((op, Instant::now()));
        cv.notify_one();
        Guard { dog: self }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // The state stays consistent even if a holder panicked.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn watch(shared: &(Mutex<State>, Condvar), rank: usize, limit: Duration, on_timeout: &OnTimeout) {
    let (m, cv) = shared;
    let mut st = lock(m);
    loop {
        if st.stop {
            return;
        }
        match st.current {
            None => st = cv.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some((op, since)) => {
                let waited = since.elapsed();
                if waited >= limit {
                    // Report once per stuck collective.
                    st.current = None;
                    drop(st);
                    on_timeout(rank, op, limit);
                    st = lock(m);
                } else {
                    st = cv.wait_timeout(st, limit - waited).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
    }
}

/// Marks a collective as running; dropping it marks it finished.
pub struct Guard<'a> {
    dog: &'a Watchdog,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        lock(&self.dog.shared.0).current = None;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (m, cv) = &*self.shared;
        lock(m).stop = true;
        cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A watchdog of `rank` with `limit` that sends `(rank, op)` on the
    /// returned channel when it fires.
    fn reporting_dog(rank: usize, limit: Duration) -> (Watchdog, mpsc::Receiver<(usize, &'static str)>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let dog = Watchdog::new(
            rank,
            limit,
            Box::new(move |rank, op, _| {
                let _ = tx.lock().unwrap().send((rank, op));
            }),
        );
        (dog, rx)
    }

    #[test]
    fn fires_once_for_a_stuck_collective_and_names_rank_and_op() {
        let (dog, rx) = reporting_dog(3, Duration::from_millis(50));
        let g = dog.enter("all_reduce");
        let got = rx.recv_timeout(Duration::from_secs(10)).expect("the watchdog fired");
        assert_eq!(got, (3, "all_reduce"));
        drop(g);
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "fired twice");
    }

    #[test]
    fn quiet_when_collectives_finish_in_time() {
        let (dog, rx) = reporting_dog(0, Duration::from_millis(300));
        for _ in 0..20 {
            let _g = dog.enter("barrier");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
    }
}
