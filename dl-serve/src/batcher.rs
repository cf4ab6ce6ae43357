//! The bounded queue and the batcher thread that runs the model.
//!
//! Handlers `try_send` a [`Job`] into a bounded channel (full: 429). One
//! batcher thread (a plain OS thread that owns the network; rayon runs
//! inside `forward`) takes the oldest job, then more until the batch holds
//! `max_batch_size` samples or `max_delay` has passed since that oldest job
//! was queued, and runs the batch. While the model runs, new jobs queue
//! up, so under load the next batch is cut at once even with no delay. A
//! reload sends the new network down the same channel as the jobs, so the
//! swap happens between two batches.
//!
//! Each job has a state: `QUEUED` until the batcher takes it (`TAKEN`) or
//! its handler gives up after the queue timeout (`EXPIRED`); the
//! compare-and-swap decides which happens, so a job is either answered by
//! the model or by a 503, never both and never neither.

use crate::metrics::Metrics;
use crate::model::Runner;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The job waits in the queue.
pub const QUEUED: u8 = 0;
/// The batcher took the job; the model will answer it.
pub const TAKEN: u8 = 1;
/// The handler answered 503; the batcher skips the job.
pub const EXPIRED: u8 = 2;

/// One request's samples on their way to the model.
pub struct Job {
    /// `samples * numel` inputs.
    pub data: Vec<f32>,
    /// Number of samples.
    pub samples: usize,
    /// When it was queued.
    pub enqueued: Instant,
    /// `QUEUED`, `TAKEN` or `EXPIRED`.
    pub state: Arc<AtomicU8>,
    /// Where the outputs (or the model's error) go.
    pub reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

/// What the batcher thread receives: a request's job, or a new model.
pub enum Msg {
    /// A request's samples.
    Job(Job),
    /// Serve this model from the next batch on (the batch being formed
    /// still runs on the old one).
    Swap {
        /// The new model.
        runner: Runner,
        /// Sent once the swap is done.
        done: oneshot::Sender<()>,
    },
}

/// Batching settings.
#[derive(Clone, Copy, Debug)]
pub struct BatchConfig {
    /// Most samples per batch.
    pub max_batch_size: usize,
    /// Longest wait after the oldest job of a batch was queued.
    pub max_delay: Duration,
    /// Output values per sample.
    pub out_numel: usize,
    /// Jobs the queue holds before `try_send` fails (429).
    pub capacity: usize,
}

/// Takes a job for the batcher: false when its handler already gave up.
fn take(job: &Job) -> bool {
    job.state
        .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Starts the batcher thread, which owns the model: it cuts batches from
/// the bounded queue and runs them (a plain OS thread, so waits are
/// precise to the microsecond and the model never blocks the async
/// runtime). It ends when every sender is dropped and the queue is empty.
pub fn spawn_batcher(
    runner: Runner,
    cfg: BatchConfig,
    metrics: Arc<Metrics>,
) -> (SyncSender<Msg>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(cfg.capacity);
    let handle = std::thread::Builder::new()
        .name("dl-serve-batcher".into())
        .spawn(move || run_batcher(rx, runner, cfg, &metrics))
        .expect("spawning the batcher thread");
    (tx, handle)
}

fn run_batcher(rx: Receiver<Msg>, mut runner: Runner, cfg: BatchConfig, metrics: &Metrics) {
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(j) => j,
            None => match rx.recv() {
                Err(_) => break,
                Ok(Msg::Swap { runner: r, done }) => {
                    runner = r;
                    let _ = done.send(());
                    continue;
                }
                Ok(Msg::Job(j)) => {
                    metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    if !take(&j) {
                        continue;
                    }
                    j
                }
            },
        };
        let deadline = first.enqueued + cfg.max_delay;
        let mut samples = first.samples;
        let mut batch = vec![first];
        let mut swap = None;
        while samples < cfg.max_batch_size {
            let msg = match rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match rx.recv_timeout(deadline - now) {
                        Ok(m) => m,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            match msg {
                Msg::Swap { runner: r, done } => {
                    swap = Some((r, done));
                    break;
                }
                Msg::Job(j) => {
                    metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    if !take(&j) {
                        continue;
                    }
                    if samples + j.samples > cfg.max_batch_size {
                        carry = Some(j);
                        break;
                    }
                    samples += j.samples;
                    batch.push(j);
                }
            }
        }
        run_batch(&runner, batch, samples, &cfg, metrics);
        if let Some((r, done)) = swap {
            runner = r;
            let _ = done.send(());
        }
    }
}

fn run_batch(runner: &Runner, batch: Vec<Job>, samples: usize, cfg: &BatchConfig, metrics: &Metrics) {
    metrics.batch_size.observe(samples as f64);
    let (data, replies): (Vec<f32>, Vec<_>) = if batch.len() == 1 {
        let j = batch.into_iter().next().expect("one job");
        (j.data, vec![(j.samples, j.reply)])
    } else {
        let mut data = Vec::with_capacity(batch.iter().map(|j| j.data.len()).sum());
        let mut replies = Vec::with_capacity(batch.len());
        for j in batch {
            data.extend_from_slice(&j.data);
            replies.push((j.samples, j.reply));
        }
        (data, replies)
    };
    match runner(data, samples) {
        Ok(out) => {
            let mut at = 0;
            for (n, reply) in replies {
                let len = n * cfg.out_numel;
                let _ = reply.send(Ok(out[at..at + len].to_vec()));
                at += len;
            }
        }
        Err(e) => {
            for (_, reply) in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
