//! [`DataParallel`]: parameter broadcast and bucketed gradient averaging
//! for any module, on any [`Communicator`].

use crate::comm::{Communicator, Staged};
use crate::error::DistError;
use crate::sampler::{DistributedSampler, Tail};
use dl_core::{Backend, Cpu, Float, ParamKind, RawParam};
use dl_nn::data::Sampler;
use dl_nn::train::{GradSync, Parameters, TrainError};
use dl_nn::Module;
use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

/// The default bucket: 4 MiB of gradients per reduction (1 Mi `f32`).
pub const DEFAULT_BUCKET_BYTES: usize = 4 << 20;

/// Counters of [`DataParallel::sync_gradients`], for benchmarks and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SyncStats {
    /// Calls of `sync_gradients`.
    pub syncs: u64,
    /// Reductions (buckets) issued.
    pub buckets: u64,
    /// Elements reduced.
    pub elements: u64,
    /// Seconds spent in `sync_gradients` (gather, reductions, scatter).
    pub seconds: f64,
    /// Of which seconds in the reductions. For host gradients this includes
    /// laying the buckets out and reading them back, which the staged
    /// reduction does in the communicator's own memory.
    pub reduce_seconds: f64,
}

/// Data parallelism for any [`Module`] (every `#[network]` model) on a
/// [`Communicator`], as PyTorch's `DistributedDataParallel` or Horovod:
///
/// 1. [`DataParallel::broadcast_parameters`] once, before training:
///    every rank starts from rank 0's parameters and buffers (after a check
///    that every rank holds a model of the same sizes).
/// 2. Each rank trains on its own shard of the data
///    ([`DistributedSampler`]) with the local batch size.
/// 3. [`DataParallel::sync_gradients`] after every `backward`: the
///    trainable gradients are laid end to end, in the model's fixed
///    parameter order, and averaged over the ranks in buckets of
///    [`DataParallel::bucket_bytes`] (one reduction per bucket, not per
///    tensor; the same buckets in the same order on every rank, so every
///    rank gets the same bits), then written back. Host gradients are laid
///    out straight into the communicator's staging memory
///    ([`Communicator::all_reduce_mean_staged`]: MPI's shared-memory window
///    on one machine) and read back from it.
/// 4. The optimizer runs on every rank and, with identical gradients,
///    takes identical steps.
///
/// It also implements [`GradSync`], so `fit` can train with it
/// ([`FitConfig::distributed`](dl_nn::train::FitConfig::distributed)).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// use dl_dist::{DataParallel, SingleProcess};
/// let mut model = Linear::<4, 2>::init(&Cpu, 0);
/// let mut ddp = DataParallel::new(SingleProcess); // MpiComm::new()? under mpirun
/// ddp.broadcast_parameters(&mut model)?;
/// // ... forward, loss, zero_grad, backward ...
/// ddp.sync_gradients(&mut model)?; // the one line after backward
/// // opt.step(&mut model);
/// # Ok::<(), dl_dist::DistError>(())
/// ```
pub struct DataParallel<C: Communicator> {
    comm: C,
    bucket_bytes: usize,
    flat32: Vec<f32>,
    flat64: Vec<f64>,
    stats: SyncStats,
}

impl<C: Communicator + std::fmt::Debug> std::fmt::Debug for DataParallel<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataParallel")
            .field("comm", &self.comm)
            .field("bucket_bytes", &self.bucket_bytes)
            .field("stats", &self.stats)
            .finish()
    }
}

/// Whether a parameter's gradient is averaged: trainable and not frozen
/// (the same on every rank, so every rank lays out the same buffer).
fn reduced<B: Backend, E: Float>(p: &RawParam<B, E>) -> bool {
    p.kind == ParamKind::Trainable && !p.frozen
}

fn is_cpu<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<Cpu>()
}

/// Appends `buf` to `flat` (no allocation on the CPU once `flat` has grown).
fn gather<B: Backend, E: Float>(dev: &B, buf: &B::Buf<E>, flat: &mut Vec<E>) {
    match (buf as &dyn Any).downcast_ref::<Vec<E>>() {
        Some(v) if (dev as &dyn Any).is::<Cpu>() => flat.extend_from_slice(v),
        _ => flat.extend_from_slice(&dev.to_vec(buf)),
    }
}

/// Overwrites `buf` with `src` (of its length).
fn scatter<B: Backend, E: Float>(dev: &B, buf: &mut B::Buf<E>, src: &[E]) {
    if (dev as &dyn Any).is::<Cpu>() {
        if let Some(v) = (buf as &mut dyn Any).downcast_mut::<Vec<E>>() {
            v.copy_from_slice(src);
            return;
        }
    }
    dev.write(buf, src);
}

impl<C: Communicator> DataParallel<C> {
    /// Data parallelism over `comm`, with [`DEFAULT_BUCKET_BYTES`] buckets.
    pub fn new(comm: C) -> Self {
        Self {
            comm,
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            flat32: Vec::new(),
            flat64: Vec::new(),
            stats: SyncStats::default(),
        }
    }
    /// Sets the bucket size in bytes (rounded down to whole elements, at
    /// least one).
    ///
    /// # Errors
    /// [`DistError::Invalid`] for 0.
    pub fn with_bucket_bytes(mut self, bytes: usize) -> Result<Self, DistError> {
        if bytes == 0 {
            return Err(DistError::Invalid("the bucket size must be at least 1 byte".into()));
        }
        self.bucket_bytes = bytes;
        Ok(self)
    }
    /// The bucket size in bytes.
    pub fn bucket_bytes(&self) -> usize {
        self.bucket_bytes
    }
    /// The communicator.
    pub fn comm(&self) -> &C {
        &self.comm
    }
    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }
    /// Number of processes.
    pub fn world_size(&self) -> usize {
        self.comm.world_size()
    }
    /// Whether this is rank 0 (the one that prints and writes files).
    pub fn is_root(&self) -> bool {
        self.comm.rank() == 0
    }
    /// Counters of the gradient synchronisation so far.
    pub fn stats(&self) -> SyncStats {
        self.stats
    }
    /// Resets the counters.
    pub fn reset_stats(&mut self) {
        self.stats = SyncStats::default();
    }
    /// The sampler of this rank's training shard (padded, PyTorch's
    /// `drop_last=False`); see [`DistributedSampler`].
    pub fn sampler(&self, seed: Option<u64>) -> DistributedSampler {
        DistributedSampler::new(self.comm.rank(), self.comm.world_size(), seed)
            .expect("a communicator's rank is below its world size")
    }

    fn flat<E: Float>(&mut self) -> Vec<E> {
        let any: &mut dyn Any = if E::DTYPE == dl_core::DType::F32 {
            &mut self.flat32
        } else {
            &mut self.flat64
        };
        any.downcast_mut::<Vec<E>>().map(std::mem::take).unwrap_or_default()
    }
    fn put_flat<E: Float>(&mut self, v: Vec<E>) {
        let mut v = Some(v);
        if let Some(slot) = (&mut self.flat32 as &mut dyn Any).downcast_mut::<Vec<E>>() {
            *slot = v.take().unwrap_or_default();
        } else if let Some(slot) = (&mut self.flat64 as &mut dyn Any).downcast_mut::<Vec<E>>() {
            *slot = v.take().unwrap_or_default();
        }
    }

    /// Makes every rank's parameters and buffers equal to rank 0's (call
    /// once, after `init` and before the first step). First checks that
    /// every rank holds a model of the same parameter count and sizes.
    ///
    /// # Errors
    /// [`DistError::ModelMismatch`] on every rank when some rank's model
    /// differs; a transport error.
    pub fn broadcast_parameters<B: Backend, E: Float, M: Module<B, E>>(
        &mut self,
        model: &mut M,
    ) -> Result<(), DistError> {
        self.broadcast_dyn(model)
    }

    /// Replaces every trainable gradient with its mean over the ranks. Call
    /// it after `backward` and before the optimizer's step, on every rank.
    ///
    /// # Errors
    /// A transport error or a timeout.
    pub fn sync_gradients<B: Backend, E: Float, M: Module<B, E>>(&mut self, model: &mut M) -> Result<(), DistError> {
        self.sync_dyn(model)
    }

    fn broadcast_dyn<B: Backend, E: Float>(&mut self, model: &mut dyn Parameters<B, E>) -> Result<(), DistError> {
        let (rank, world) = (self.comm.rank(), self.comm.world_size());
        // 1. Same model on every rank? Rank 0's sizes against each rank's.
        let mut sizes = Vec::<f64>::new();
        model.each_param(&mut |p| sizes.push(p.numel() as f64));
        let mut n0 = [sizes.len() as f64];
        self.comm.broadcast(&mut n0, 0)?;
        let mut sizes0 = if rank == 0 {
            sizes.clone()
        } else {
            vec![0.0; n0[0] as usize]
        };
        self.comm.broadcast(&mut sizes0, 0)?;
        let mut bad = vec![0.0f64; world];
        bad[rank] = f64::from(u8::from(sizes0 != sizes));
        self.comm.all_reduce_sum(&mut bad)?;
        let mismatched: Vec<usize> = (0..world).filter(|&r| bad[r] != 0.0).collect();
        if !mismatched.is_empty() {
            return Err(DistError::ModelMismatch {
                rank,
                mismatched,
                detail: format!(
                    "rank 0 has {} tensors of {} elements, rank {rank} has {} of {}",
                    sizes0.len(),
                    sizes0.iter().sum::<f64>(),
                    sizes.len(),
                    sizes.iter().sum::<f64>()
                ),
            });
        }
        if world == 1 {
            return Ok(());
        }
        // 2. Values (parameters and buffers) from rank 0, in buckets.
        let mut flat = self.flat::<E>();
        flat.clear();
        model.each_param(&mut |p| gather(&p.dev, &p.value, &mut flat));
        let bucket = (self.bucket_bytes / std::mem::size_of::<E>()).max(1);
        let mut result = Ok(());
        for chunk in flat.chunks_mut(bucket) {
            result = self.comm.broadcast(chunk, 0);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            let mut off = 0;
            model.each_param(&mut |p| {
                let n = p.numel();
                scatter(&p.dev.clone(), &mut p.value, &flat[off..off + n]);
                off += n;
            });
        }
        self.put_flat(flat);
        result
    }

    fn sync_dyn<B: Backend, E: Float>(&mut self, model: &mut dyn Parameters<B, E>) -> Result<(), DistError> {
        let start = Instant::now();
        self.stats.syncs += 1;
        let world = self.comm.world_size();
        if world == 1 {
            self.stats.seconds += start.elapsed().as_secs_f64();
            return Ok(());
        }
        if self.comm.reduces_on_device() && !is_cpu::<B>() {
            // NCCL: each gradient reduced where it lies, in the same order
            // on every rank, all of them queued in one NCCL group.
            let mut host = Vec::new();
            let t = Instant::now();
            let comm = &self.comm;
            let stats = &mut self.stats;
            let result = comm.fused(|| {
                let mut result = Ok(());
                model.each_param(&mut |p| {
                    if reduced(p) && result.is_ok() {
                        result = comm.all_reduce_mean_on(&p.dev.clone(), &mut p.grad, &mut host);
                        stats.buckets += 1;
                        stats.elements += p.numel() as u64;
                    }
                });
                result
            });
            self.stats.reduce_seconds += t.elapsed().as_secs_f64();
            self.stats.seconds += start.elapsed().as_secs_f64();
            return result;
        }
        if is_cpu::<B>() {
            return self.sync_cpu(model, start);
        }
        let mut flat = self.flat::<E>();
        flat.clear();
        model.each_param(&mut |p| {
            if reduced(p) {
                gather(&p.dev, &p.grad, &mut flat);
            }
        });
        let bucket = (self.bucket_bytes / std::mem::size_of::<E>()).max(1);
        let t = Instant::now();
        let mut result = Ok(());
        for chunk in flat.chunks_mut(bucket) {
            result = self.comm.all_reduce_mean(chunk);
            if result.is_err() {
                break;
            }
            self.stats.buckets += 1;
        }
        self.stats.reduce_seconds += t.elapsed().as_secs_f64();
        self.stats.elements += flat.len() as u64;
        if result.is_ok() {
            let mut off = 0;
            model.each_param(&mut |p| {
                if reduced(p) {
                    let n = p.numel();
                    scatter(&p.dev.clone(), &mut p.grad, &flat[off..off + n]);
                    off += n;
                }
            });
        }
        self.put_flat(flat);
        self.stats.seconds += start.elapsed().as_secs_f64();
        result
    }

    /// Host gradients: each bucket is laid out by the communicator's
    /// staged reduction (straight into MPI's shared-memory window where it
    /// has one) and read back from it, with no flat copy of our own.
    fn sync_cpu<B: Backend, E: Float>(
        &mut self,
        model: &mut dyn Parameters<B, E>,
        start: Instant,
    ) -> Result<(), DistError> {
        let mut total = 0;
        model.each_param(&mut |p| {
            if reduced(p) {
                total += p.numel();
            }
        });
        let bucket = (self.bucket_bytes / std::mem::size_of::<E>()).max(1);
        let mut scratch = self.flat::<E>();
        let t = Instant::now();
        let mut result = Ok(());
        let mut first = 0;
        while first < total && result.is_ok() {
            let len = bucket.min(total - first);
            result = self
                .comm
                .all_reduce_mean_staged(len, &mut scratch, &mut |stage| copy_grads(model, first, stage));
            first += len;
            self.stats.buckets += 1;
        }
        self.stats.reduce_seconds += t.elapsed().as_secs_f64();
        self.stats.elements += total as u64;
        self.put_flat(scratch);
        self.stats.seconds += start.elapsed().as_secs_f64();
        result
    }
}

/// Copies between a bucket that starts at element `first` of the
/// trainable gradients laid end to end (in the model's parameter order)
/// and the gradients themselves: into the bucket for [`Staged::Fill`],
/// back into the gradients for [`Staged::Drain`]. Host gradients only.
fn copy_grads<B: Backend, E: Float>(model: &mut dyn Parameters<B, E>, first: usize, mut stage: Staged<'_, E>) {
    let (lo, hi) = match &stage {
        Staged::Fill(dst) => (first, first + dst.len()),
        Staged::Drain(off, src) => (first + off, first + off + src.len()),
    };
    let mut at = 0;
    model.each_param(&mut |p| {
        if !reduced(p) {
            return;
        }
        let n = p.numel();
        let (a, b) = (at.max(lo), (at + n).min(hi));
        if a < b {
            let g = (&mut p.grad as &mut dyn Any)
                .downcast_mut::<Vec<E>>()
                .expect("host gradients are vectors");
            let g = &mut g[a - at..b - at];
            match &mut stage {
                Staged::Fill(dst) => dst[a - lo..b - lo].copy_from_slice(g),
                Staged::Drain(_, src) => g.copy_from_slice(&src[a - lo..b - lo]),
            }
        }
        at += n;
    });
}

impl<B: Backend, E: Float, C: Communicator> GradSync<B, E> for DataParallel<C> {
    fn rank(&self) -> usize {
        self.comm.rank()
    }
    fn world_size(&self) -> usize {
        self.comm.world_size()
    }
    fn broadcast_parameters(&mut self, model: &mut dyn Parameters<B, E>) -> Result<(), TrainError> {
        Ok(self.broadcast_dyn(model)?)
    }
    fn sync_gradients(&mut self, model: &mut dyn Parameters<B, E>) -> Result<(), TrainError> {
        Ok(self.sync_dyn(model)?)
    }
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), TrainError> {
        Ok(self.comm.all_reduce_sum(values)?)
    }
    fn train_sampler(&self, seed: Option<u64>, drop_last: bool) -> Arc<dyn Sampler> {
        Arc::new(self.sampler(seed).drop_last(drop_last))
    }
    fn eval_sampler(&self) -> Arc<dyn Sampler> {
        Arc::new(self.sampler(None).tail(Tail::Uneven))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dl_core::Rng;
    use dl_nn::layers::Linear;
    use std::cell::RefCell;

    /// A fake group of `world` ranks that all hold this rank's values: a
    /// sum multiplies by `world`. Records the length of each reduction.
    #[derive(Default)]
    struct Mirror {
        world: usize,
        calls: RefCell<Vec<usize>>,
    }

    impl Communicator for Mirror {
        fn rank(&self) -> usize {
            0
        }
        fn world_size(&self) -> usize {
            self.world
        }
        fn name(&self) -> &'static str {
            "mirror"
        }
        fn all_reduce_sum<T: Float>(&self, buf: &mut [T]) -> Result<(), DistError> {
            self.calls.borrow_mut().push(buf.len());
            let w = T::from_usize(self.world);
            buf.iter_mut().for_each(|v| *v *= w);
            Ok(())
        }
        fn broadcast<T: Float>(&self, _buf: &mut [T], _root: usize) -> Result<(), DistError> {
            Ok(())
        }
        fn barrier(&self) -> Result<(), DistError> {
            Ok(())
        }
    }

    fn grads(m: &mut Linear<30, 20>) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        m.for_each_param(&mut |p| out.push(p.grad.clone()));
        out
    }

    #[test]
    fn gradients_are_averaged_in_buckets_of_the_set_size() {
        let mut m = Linear::<30, 20>::init(&Cpu, 1);
        let mut rng = Rng::new(2);
        m.for_each_param(&mut |p| p.grad.iter_mut().for_each(|g| *g = rng.uniform_range(-1.0, 1.0) as f32));
        let before = grads(&mut m);
        // 620 gradients, buckets of 64 floats (256 bytes): 9 full + 1 of 44.
        let mut ddp = DataParallel::new(Mirror {
            world: 4,
            ..Mirror::default()
        })
        .with_bucket_bytes(256)
        .unwrap();
        ddp.sync_gradients(&mut m).unwrap();
        // The mean of 4 equal values is the value (x * 4 / 4 is exact).
        assert_eq!(grads(&mut m), before);
        let calls = ddp.comm().calls.borrow().clone();
        assert_eq!(calls.len(), 10);
        assert!(calls[..9].iter().all(|&n| n == 64));
        assert_eq!(calls[9], 620 - 9 * 64);
        assert_eq!(ddp.stats().buckets, 10);
        assert_eq!(ddp.stats().elements, 620);
    }

    #[test]
    fn frozen_parameters_are_not_reduced() {
        let mut m = Linear::<30, 20>::init(&Cpu, 1);
        let mut first = true;
        m.for_each_param(&mut |p| {
            if first {
                p.frozen = true;
                first = false;
            }
        });
        let mut ddp = DataParallel::new(Mirror {
            world: 2,
            ..Mirror::default()
        });
        ddp.sync_gradients(&mut m).unwrap();
        assert_eq!(ddp.comm().calls.borrow().as_slice(), &[20]);
    }

    #[test]
    fn zero_bucket_is_an_error_and_single_process_is_identity() {
        assert!(DataParallel::new(crate::SingleProcess).with_bucket_bytes(0).is_err());
        let mut m = Linear::<3, 2>::init(&Cpu, 1);
        m.for_each_param(&mut |p| p.grad.iter_mut().for_each(|g| *g = 0.5));
        let mut ddp = DataParallel::new(crate::SingleProcess);
        ddp.broadcast_parameters(&mut m).unwrap();
        ddp.sync_gradients(&mut m).unwrap();
        m.for_each_param(&mut |p| assert!(p.grad.iter().all(|&g| g == 0.5)));
    }
}
