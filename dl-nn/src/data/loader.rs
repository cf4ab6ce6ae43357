//! [`DataLoader`]: batches a [`Dataset`] into typed tensors, with seeded
//! shuffling and the next batch prepared on a background thread.

use super::augment::{ImageDims, Transform};
use super::sampler::{epoch_order, Sampler};
use super::{DataError, Dataset};
use dl_core::{Backend, Float, Rng, Shape, Tensor};
use std::marker::PhantomData;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Seed of the augmentation stream when the loader does not shuffle.
const DEFAULT_AUGMENT_SEED: u64 = 0x5EED_A11C;

/// Batches a data set into tensors of a per-sample shape `S`.
///
/// Each call to [`DataLoader::epoch`] starts one pass over the data set:
/// with [`DataLoader::shuffle`] the order is a permutation drawn from the
/// seed and the epoch number (a different one each epoch, the same ones for
/// the same seed), otherwise the data set's order. Batches have
/// `batch_size` samples; the last one is smaller unless
/// [`DataLoader::drop_last`] is set. While the model trains on one batch, a
/// background thread gathers, augments and uploads the next.
///
/// **PyTorch equivalent**: `DataLoader(ds, batch_size, shuffle=True,
/// drop_last=False, generator=torch.Generator().manual_seed(seed))`.
///
/// ```
/// use std::sync::Arc;
/// use dl_core::prelude::*;
/// use dl_nn::data::{DataLoader, InMemoryDataset};
/// let ds = InMemoryDataset::new((0..10).map(|v| v as f32).collect(), (0..5).collect(), 2, 5)?;
/// let mut loader = DataLoader::new(Arc::new(ds), 2)?.shuffle(7);
/// assert_eq!(loader.num_batches(), 3);
/// let mut seen = vec![];
/// for (x, y) in loader.epoch::<S1<2>, Cpu, f32>(&Cpu)? {
///     assert_eq!(x.batch(), y.len());
///     seen.extend(y);
/// }
/// seen.sort();
/// assert_eq!(seen, vec![0, 1, 2, 3, 4]);
/// # Ok::<(), dl_nn::data::DataError>(())
/// ```
pub struct DataLoader<D: Dataset + ?Sized + 'static> {
    dataset: Arc<D>,
    batch_size: usize,
    seed: Option<u64>,
    drop_last: bool,
    epoch: u64,
    transform: Option<(Arc<dyn Transform>, [usize; 3])>,
    sampler: Option<Arc<dyn Sampler>>,
    float_targets: bool,
}

impl<D: Dataset + ?Sized + 'static> std::fmt::Debug for DataLoader<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoader")
            .field("len", &self.dataset.len())
            .field("batch_size", &self.batch_size)
            .field("seed", &self.seed)
            .field("drop_last", &self.drop_last)
            .field("epoch", &self.epoch)
            .field("transform", &self.transform.as_ref().map(|t| t.1))
            .field("sampler", &self.sampler.is_some())
            .field("float_targets", &self.float_targets)
            .finish()
    }
}

impl<D: Dataset + ?Sized + 'static> DataLoader<D> {
    /// A loader over `dataset` in batches of `batch_size`, in order, keeping
    /// the last (smaller) batch.
    ///
    /// # Errors
    /// [`DataError::ZeroBatchSize`] when `batch_size` is 0.
    pub fn new(dataset: Arc<D>, batch_size: usize) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::ZeroBatchSize);
        }
        Ok(Self {
            dataset,
            batch_size,
            seed: None,
            drop_last: false,
            epoch: 0,
            transform: None,
            sampler: None,
            float_targets: false,
        })
    }
    setters! {
        /// Also gathers every batch's float targets ([`Dataset::get_target`],
        /// [`Dataset::target_len`] values per sample) on the background thread;
        /// [`Epoch::next_batch`] hands them out with the batch. Off by default
        /// (class labels only).
        float_targets: bool,
    }
    /// Shuffles each epoch with a permutation drawn from `seed` and the
    /// epoch number.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Visits the indices `sampler` chooses each epoch instead of the whole
    /// data set (the shuffle seed then only seeds augmentation).
    pub fn sampler(mut self, sampler: Arc<dyn Sampler>) -> Self {
        self.sampler = Some(sampler);
        self
    }
    setters! {
        /// Whether to drop the last batch when it is smaller than the batch size.
        drop_last: bool,
    }
    /// Applies `transform` to every batch (on the background thread, before
    /// the upload), with samples seen as images of `dims = [C, H, W]`.
    /// Its random numbers come from the shuffle seed (or a fixed seed when
    /// the loader does not shuffle) and the epoch number, so augmented runs
    /// repeat too. [`DataLoader::epoch`] checks that `C * H * W` is the
    /// sample length and that the transform accepts the dims.
    pub fn transform(mut self, transform: impl Transform + 'static, dims: [usize; 3]) -> Self {
        self.transform = Some((Arc::new(transform), dims));
        self
    }
    /// Sets the number of the next epoch (to resume a run from a
    /// checkpoint with the same shuffling as the original run).
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }
    /// The number of the next epoch (how many [`DataLoader::epoch`] calls
    /// came before, unless [`DataLoader::set_epoch`] changed it).
    pub fn next_epoch(&self) -> u64 {
        self.epoch
    }
    /// The data set.
    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }
    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// Number of samples of the data set.
    pub fn len(&self) -> usize {
        self.dataset.len()
    }
    /// Whether the data set is empty.
    pub fn is_empty(&self) -> bool {
        self.dataset.len() == 0
    }
    /// Samples visited per epoch: the data set's size, or what the sampler
    /// chooses.
    pub fn num_samples(&self) -> usize {
        let n = self.dataset.len();
        match &self.sampler {
            Some(s) => s.num_samples(n),
            None => n,
        }
    }
    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.num_samples();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The order of the samples in epoch `epoch` (without advancing).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        match &self.sampler {
            Some(s) => s.indices(self.dataset.len(), epoch),
            None => epoch_order(self.dataset.len(), self.seed, epoch),
        }
    }

    /// Starts the next epoch: an iterator over `(batch, labels)` on `dev`.
    /// Advances the epoch counter.
    ///
    /// # Errors
    /// [`DataError::SampleLenMismatch`] when `S::NUMEL` is not the data
    /// set's sample length; [`DataError::Transform`] when a transform does
    /// not fit its dims.
    pub fn epoch<S: Shape, B: Backend, E: Float>(&mut self, dev: &B) -> Result<Epoch<S, B, E>, DataError> {
        let sample_len = self.dataset.sample_len();
        if S::NUMEL != sample_len {
            return Err(DataError::SampleLenMismatch {
                shape: S::dims(),
                expected: S::NUMEL,
                got: sample_len,
            });
        }
        if let Some((t, dims)) = &self.transform {
            let [c, h, w] = *dims;
            if c.checked_mul(h).and_then(|v| v.checked_mul(w)) != Some(sample_len) {
                return Err(DataError::Transform {
                    dims: *dims,
                    msg: format!("C * H * W must be the sample length {sample_len}"),
                });
            }
            t.check(ImageDims { n: 1, c, h, w })
                .map_err(|msg| DataError::Transform { dims: *dims, msg })?;
        }
        let epoch = self.epoch;
        self.epoch += 1;
        let order = self.order(epoch);
        let len = self.dataset.len();
        if order.len() != self.num_samples() {
            return Err(DataError::Sampler {
                len,
                msg: format!(
                    "it announced {} indices and returned {}",
                    self.num_samples(),
                    order.len()
                ),
            });
        }
        if let Some(&bad) = order.iter().find(|&&i| i >= len) {
            return Err(DataError::Sampler {
                len,
                msg: format!("it returned index {bad}"),
            });
        }
        let num_batches = self.num_batches();
        let aug_rng = Rng::new(self.seed.unwrap_or(DEFAULT_AUGMENT_SEED) ^ DEFAULT_AUGMENT_SEED).fork(epoch);
        let job = Job {
            dataset: self.dataset.clone(),
            order,
            batch_size: self.batch_size,
            num_batches,
            sample_len,
            transform: self.transform.clone(),
            rng: aug_rng,
            target_len: if self.float_targets {
                self.dataset.target_len()
            } else {
                0
            },
        };
        // One batch waits in the channel while the consumer trains on
        // another: the worker runs at most two batches ahead.
        let (tx, rx) = sync_channel::<Prepared<B, E>>(1);
        let worker_dev = dev.clone();
        let worker = std::thread::Builder::new()
            .name("dl-data-loader".into())
            .spawn(move || job.run::<B, E>(&worker_dev, |batch| tx.send(batch).is_ok()))
            .map_err(|source| DataError::Spawn { source })?;
        Ok(Epoch {
            rx: Some(rx),
            worker: Some(worker),
            dev: dev.clone(),
            remaining: num_batches,
            _s: PhantomData,
        })
    }
}

/// A prepared batch: device buffer, labels and (when asked for) float targets.
type Prepared<B, E> = (<B as dl_core::Storage>::Buf<E>, Vec<usize>, Vec<f32>);

/// One batch with its float targets, from [`Epoch::next_batch`].
pub struct Batch<S: Shape, B: Backend, E: Float> {
    /// The samples.
    pub x: Tensor<S, B, E>,
    /// Their labels ([`Dataset::get`]'s return values).
    pub labels: Vec<usize>,
    /// Their float targets, `labels.len() * target_len` values row-major
    /// (empty unless the loader was built with
    /// [`DataLoader::float_targets`]).
    pub targets: Vec<f32>,
}

/// What the background thread of one epoch does.
struct Job<D: Dataset + ?Sized> {
    dataset: Arc<D>,
    order: Vec<usize>,
    batch_size: usize,
    num_batches: usize,
    sample_len: usize,
    transform: Option<(Arc<dyn Transform>, [usize; 3])>,
    rng: Rng,
    /// Float target values per sample to gather (0: none).
    target_len: usize,
}

impl<D: Dataset + ?Sized> Job<D> {
    /// Gathers, transforms and uploads each batch and hands it to `send`;
    /// stops when `send` returns false (the epoch was dropped).
    fn run<B: Backend, E: Float>(mut self, dev: &B, mut send: impl FnMut(Prepared<B, E>) -> bool) {
        let mut host = Vec::<f32>::new();
        let mut conv = Vec::<E>::new();
        for b in 0..self.num_batches {
            let start = b * self.batch_size;
            let end = (start + self.batch_size).min(self.order.len());
            let idx = &self.order[start..end];
            let n = idx.len();
            host.resize(n * self.sample_len, 0.0);
            let mut labels = Vec::with_capacity(n);
            for (&i, out) in idx.iter().zip(host.chunks_exact_mut(self.sample_len)) {
                labels.push(self.dataset.get(i, out));
            }
            let mut targets = Vec::new();
            if self.target_len > 0 {
                targets.resize(n * self.target_len, 0.0);
                for (&i, out) in idx.iter().zip(targets.chunks_exact_mut(self.target_len)) {
                    self.dataset.get_target(i, out);
                }
            }
            if let Some((t, [c, h, w])) = &self.transform {
                t.apply(&mut host, ImageDims { n, c: *c, h: *h, w: *w }, &mut self.rng);
            }
            // f32 -> E is exact for f32 and f64.
            conv.clear();
            conv.extend(host.iter().map(|&v| E::from_f64(v as f64)));
            let buf = dev.from_slice(&conv);
            if !send((buf, labels, targets)) {
                return;
            }
        }
    }
}

/// One pass over a data set: yields `(batch, labels)` where `batch` holds
/// `labels.len()` samples of shape `S`. Made by [`DataLoader::epoch`].
///
/// The next batch is prepared on a background thread; dropping the epoch
/// early stops that thread. A panic in the data set's `get` (or a
/// transform) on that thread is resumed on the thread that iterates.
pub struct Epoch<S: Shape, B: Backend, E: Float> {
    rx: Option<Receiver<Prepared<B, E>>>,
    worker: Option<JoinHandle<()>>,
    dev: B,
    remaining: usize,
    _s: PhantomData<S>,
}

impl<S: Shape, B: Backend, E: Float> Epoch<S, B, E> {
    /// The next batch with its float targets (see
    /// [`DataLoader::float_targets`]); `None` after the last batch.
    pub fn next_batch(&mut self) -> Option<Batch<S, B, E>> {
        if self.remaining == 0 {
            return None;
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok((buf, labels, targets)) => {
                self.remaining -= 1;
                let x = Tensor::from_buf(&self.dev, labels.len(), buf)
                    .expect("the loader thread fills labels.len() samples of S::NUMEL elements");
                Some(Batch { x, labels, targets })
            }
            Err(_) => {
                // The worker stopped before sending every batch: it panicked.
                self.rx = None;
                if let Some(w) = self.worker.take() {
                    if let Err(panic) = w.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
                unreachable!("the data loader thread ended early without a panic")
            }
        }
    }
}

impl<S: Shape, B: Backend, E: Float> Iterator for Epoch<S, B, E> {
    type Item = (Tensor<S, B, E>, Vec<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().map(|b| (b.x, b.labels))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<S: Shape, B: Backend, E: Float> ExactSizeIterator for Epoch<S, B, E> {}

impl<S: Shape, B: Backend, E: Float> Drop for Epoch<S, B, E> {
    fn drop(&mut self) {
        // Dropping the receiver makes the worker's next send fail, so it
        // returns; then wait for it so that no thread outlives the epoch.
        self.rx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::InMemoryDataset;
    use dl_core::{Cpu, S1, S3};

    fn ds(n: usize) -> Arc<InMemoryDataset> {
        // Sample i is [i, i + 0.5]; label i % 3.
        let data = (0..n).flat_map(|i| [i as f32, i as f32 + 0.5]).collect();
        Arc::new(InMemoryDataset::new(data, (0..n).map(|i| i % 3).collect(), 2, 3).unwrap())
    }

    fn collect(e: Epoch<S1<2>, Cpu, f32>) -> Vec<(Vec<f32>, Vec<usize>)> {
        e.map(|(x, y)| (x.to_vec(), y)).collect()
    }

    #[test]
    fn in_order_with_small_last_batch() {
        let mut l = DataLoader::new(ds(7), 3).unwrap();
        assert_eq!((l.num_batches(), l.len()), (3, 7));
        let e = l.epoch::<S1<2>, Cpu, f32>(&Cpu).unwrap();
        assert_eq!(e.len(), 3);
        let b = collect(e);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].0, vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        assert_eq!(b[0].1, vec![0, 1, 2]);
        assert_eq!(b[2].0, vec![6.0, 6.5]);
        assert_eq!(b[2].1, vec![0]);
        assert_eq!(l.next_epoch(), 1);
    }

    #[test]
    fn drop_last_drops_the_small_batch() {
        let mut l = DataLoader::new(ds(7), 3).unwrap().drop_last(true);
        assert_eq!(l.num_batches(), 2);
        let b = collect(l.epoch(&Cpu).unwrap());
        assert_eq!(b.len(), 2);
        assert!(b.iter().all(|(x, y)| x.len() == 6 && y.len() == 3));
        // Exact multiple: nothing dropped either way.
        let l = DataLoader::new(ds(6), 3).unwrap();
        assert_eq!(l.num_batches(), 2);
    }

    #[test]
    fn shuffle_is_seeded_and_changes_per_epoch() {
        let order_of = |seed: u64, epochs: usize| {
            let mut l = DataLoader::new(ds(50), 8).unwrap().shuffle(seed);
            (0..epochs)
                .map(|_| {
                    let b = collect(l.epoch(&Cpu).unwrap());
                    // Values and labels stay paired.
                    for (x, y) in &b {
                        for (k, &lab) in y.iter().enumerate() {
                            assert_eq!((x[2 * k] as usize) % 3, lab);
                            assert_eq!(x[2 * k + 1], x[2 * k] + 0.5);
                        }
                    }
                    b.into_iter()
                        .flat_map(|(x, _)| x.into_iter().step_by(2).map(|v| v as usize))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        let a = order_of(3, 2);
        assert_eq!(a, order_of(3, 2));
        assert_ne!(a[0], a[1], "each epoch draws a new permutation");
        assert_ne!(a[0], order_of(4, 1)[0]);
        assert_ne!(a[0], (0..50).collect::<Vec<_>>());
        for ep in &a {
            let mut s = ep.clone();
            s.sort();
            assert_eq!(s, (0..50).collect::<Vec<_>>());
        }
        // set_epoch replays an epoch.
        let mut l = DataLoader::new(ds(50), 8).unwrap().shuffle(3);
        l.set_epoch(1);
        let again: Vec<usize> = collect(l.epoch(&Cpu).unwrap())
            .into_iter()
            .flat_map(|(x, _)| x.into_iter().step_by(2).map(|v| v as usize))
            .collect();
        assert_eq!(again, a[1]);
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(DataLoader::new(ds(3), 0), Err(DataError::ZeroBatchSize)));
        let mut l = DataLoader::new(ds(3), 2).unwrap();
        let e = l.epoch::<S1<3>, Cpu, f32>(&Cpu).err().unwrap();
        assert!(
            matches!(
                e,
                DataError::SampleLenMismatch {
                    expected: 3,
                    got: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(l.next_epoch(), 0, "a failed call does not advance the epoch");
    }

    #[test]
    fn f64_batches_and_early_drop() {
        let mut l = DataLoader::new(ds(100), 4).unwrap();
        let mut e = l.epoch::<S1<2>, Cpu, f64>(&Cpu).unwrap();
        let (x, y) = e.next().unwrap();
        assert_eq!(x.to_vec(), vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]);
        assert_eq!(y, vec![0, 1, 2, 0]);
        drop(e); // stops the worker mid-epoch without hanging
        let e = l.epoch::<S1<2>, Cpu, f64>(&Cpu).unwrap();
        assert_eq!(e.count(), 25);
    }

    #[test]
    fn empty_dataset_gives_no_batch() {
        let d = Arc::new(InMemoryDataset::new(vec![], vec![], 2, 3).unwrap());
        let mut l = DataLoader::new(d, 4).unwrap();
        assert_eq!(l.num_batches(), 0);
        assert!(l.is_empty());
        assert_eq!(l.epoch::<S1<2>, Cpu, f32>(&Cpu).unwrap().count(), 0);
    }

    #[test]
    fn transforms_run_on_the_worker() {
        use crate::data::augment::{RandomHorizontalFlip, RandomTranslate};
        // Two 1x1x2 images: [0, 0.5] and [1, 1.5].
        let mut l = DataLoader::new(ds(2), 2)
            .unwrap()
            .transform(RandomHorizontalFlip { p: 1.0 }, [1, 1, 2]);
        let (x, _) = l.epoch::<S3<1, 1, 2>, Cpu, f32>(&Cpu).unwrap().next().unwrap();
        assert_eq!(x.to_vec(), vec![0.5, 0.0, 1.5, 1.0]);
        // A shape that does not hold the sample, and a probability above 1.
        for (p, shape) in [(1.0, [1, 2, 2]), (2.0, [1, 1, 2])] {
            let mut bad = DataLoader::new(ds(2), 2)
                .unwrap()
                .transform(RandomHorizontalFlip { p }, shape);
            assert!(matches!(
                bad.epoch::<S1<2>, Cpu, f32>(&Cpu),
                Err(DataError::Transform { .. })
            ));
        }
        // Random augmentation repeats for the same seed and epoch.
        let run = |seed| {
            let mut l = DataLoader::new(ds(20), 20)
                .unwrap()
                .shuffle(seed)
                .transform(RandomTranslate { max_dx: 1, max_dy: 0 }, [1, 1, 2]);
            let a = l.epoch::<S1<2>, Cpu, f32>(&Cpu).unwrap().next().unwrap().0.to_vec();
            let b = l.epoch::<S1<2>, Cpu, f32>(&Cpu).unwrap().next().unwrap().0.to_vec();
            (a, b)
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).0, run(1).1);
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn digits_and_mnist_through_the_loader() {
        use crate::data::augment::{Compose, Normalize, RandomCrop};
        use crate::data::{load_digits, load_mnist_with, MnistOptions, Split};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
        let digits = Arc::new(load_digits(root.join("digits/digits.csv.gz")).unwrap());
        let mut l = DataLoader::new(digits, 256).unwrap().shuffle(1);
        assert_eq!(l.num_batches(), 8);
        let mut counts = [0usize; 10];
        let mut sizes = vec![];
        for (x, y) in l.epoch::<S3<1, 8, 8>, Cpu, f32>(&Cpu).unwrap() {
            sizes.push(x.batch());
            y.iter().for_each(|&c| counts[c] += 1);
        }
        assert_eq!(sizes, vec![256, 256, 256, 256, 256, 256, 256, 5]);
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);

        let opts = MnistOptions {
            normalize: false,
            limit: Some(300),
        };
        let mnist = Arc::new(load_mnist_with(root.join("mnist"), Split::Test, opts).unwrap());
        let aug = Compose::new().then(RandomCrop { padding: 2 }).then(Normalize::mnist());
        let mut l = DataLoader::new(mnist.clone(), 128)
            .unwrap()
            .drop_last(true)
            .transform(aug, [1, 28, 28]);
        let batches: Vec<_> = l.epoch::<S3<1, 28, 28>, Cpu, f32>(&Cpu).unwrap().collect();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].0.shape(), vec![128, 1, 28, 28]);
        assert_eq!(&batches[0].1[..], &mnist.labels()[..128]);
        let bg = (0.0 - 0.1307) / 0.3081;
        assert!(
            (batches[0].0.as_slice()[0] - bg).abs() < 1e-6,
            "corner pixel is normalised background"
        );
    }

    struct Panicky;
    impl Dataset for Panicky {
        fn len(&self) -> usize {
            4
        }
        fn sample_len(&self) -> usize {
            1
        }
        fn num_classes(&self) -> usize {
            2
        }
        fn get(&self, i: usize, out: &mut [f32]) -> usize {
            assert!(i < 2, "sample {i} is broken");
            out[0] = i as f32;
            0
        }
    }

    #[test]
    fn worker_panic_reaches_the_consumer() {
        let mut l = DataLoader::new(Arc::new(Panicky), 2).unwrap();
        let mut e = l.epoch::<S1<1>, Cpu, f32>(&Cpu).unwrap();
        assert!(e.next().is_some());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.next()));
        let msg = r.err().unwrap();
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("sample 2 is broken"), "{msg}");
    }

    #[test]
    fn dyn_dataset_and_image_shapes() {
        let d: Arc<dyn Dataset> = Arc::new(InMemoryDataset::new(vec![1.0; 8 * 4], vec![0; 8], 4, 1).unwrap());
        let mut l = DataLoader::new(d, 5).unwrap();
        let shapes: Vec<Vec<usize>> = l
            .epoch::<S3<1, 2, 2>, Cpu, f32>(&Cpu)
            .unwrap()
            .map(|(x, _)| x.shape())
            .collect();
        assert_eq!(shapes, vec![vec![5, 1, 2, 2], vec![3, 1, 2, 2]]);
    }
}
