//! The bounded queue, the batcher task and the model thread.
//!
//! Handlers `try_send` a [`Job`] into a bounded channel (full: 429). One
//! batcher task takes the oldest job, then more until the batch holds
//! `max_batch_size` samples or `max_delay` has passed since that oldest job
//! was queued, and hands the batch to the model thread (a plain OS thread
//! that owns the network; rayon runs inside `forward`). While the model
//! runs, new jobs queue up, so under load the next batch is cut at once.
//! A reload sends the new network down the same channel as the batches, so
//! the swap happens between two batches.
//!
//! Each job has a state: `QUEUED` until the batcher takes it (`TAKEN`) or
//! its handler gives up after the queue timeout (`EXPIRED`); the
//! compare-and-swap decides which happens, so a job is either answered by
//! the model or by a 503, never both and never neither.

use crate::metrics::Metrics;
use crate::model::Runner;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

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

/// What the model thread is asked to do.
pub enum ModelMsg {
    /// Run a batch.
    Run {
        /// Inputs of every sample in order.
        data: Vec<f32>,
        /// Number of samples.
        samples: usize,
        /// The outputs.
        reply: oneshot::Sender<Result<Vec<f32>, String>>,
    },
    /// Serve this model from the next batch on.
    Swap {
        /// The new model.
        runner: Runner,
        /// Sent once the swap is done.
        done: oneshot::Sender<()>,
    },
}

/// Starts the model thread; it ends when every sender is dropped.
pub fn spawn_model_thread(mut runner: Runner) -> (std::sync::mpsc::Sender<ModelMsg>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<ModelMsg>();
    let handle = std::thread::Builder::new()
        .name("dl-serve-model".into())
        .spawn(move || {
            while let Ok(msg) = rx.recv() {
                match msg {
                    ModelMsg::Run { data, samples, reply } => {
                        let _ = reply.send(runner(data, samples));
                    }
                    ModelMsg::Swap { runner: r, done } => {
                        runner = r;
                        let _ = done.send(());
                    }
                }
            }
        })
        .expect("spawning the model thread");
    (tx, handle)
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
}

/// Takes a job for the batcher: false when its handler already gave up.
fn take(job: &Job) -> bool {
    job.state
        .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// The batcher: runs until the queue is closed and empty.
pub async fn run_batcher(
    mut rx: mpsc::Receiver<Job>,
    model: std::sync::mpsc::Sender<ModelMsg>,
    cfg: BatchConfig,
    metrics: Arc<Metrics>,
) {
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(j) => j,
            None => match rx.recv().await {
                None => break,
                Some(j) => {
                    metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    if !take(&j) {
                        continue;
                    }
                    j
                }
            },
        };
        let deadline = tokio::time::Instant::from_std(first.enqueued + cfg.max_delay);
        let mut samples = first.samples;
        let mut batch = vec![first];
        while samples < cfg.max_batch_size {
            let next = match rx.try_recv() {
                Ok(j) => j,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if cfg.max_delay.is_zero() {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(j)) => j,
                        Ok(None) | Err(_) => break,
                    }
                }
            };
            metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
            if !take(&next) {
                continue;
            }
            if samples + next.samples > cfg.max_batch_size {
                carry = Some(next);
                break;
            }
            samples += next.samples;
            batch.push(next);
        }
        run_batch(batch, samples, &model, &cfg, &metrics).await;
    }
}

async fn run_batch(
    batch: Vec<Job>,
    samples: usize,
    model: &std::sync::mpsc::Sender<ModelMsg>,
    cfg: &BatchConfig,
    metrics: &Metrics,
) {
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
    let (tx, rx) = oneshot::channel();
    let result = if model
        .send(ModelMsg::Run {
            data,
            samples,
            reply: tx,
        })
        .is_err()
    {
        Err("the model thread has stopped".to_string())
    } else {
        rx.await
            .unwrap_or_else(|_| Err("the model thread has stopped".to_string()))
    };
    match result {
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
