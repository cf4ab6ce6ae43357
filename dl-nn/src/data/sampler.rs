//! [`Sampler`]: which samples a [`DataLoader`](super::DataLoader) visits in
//! an epoch, and in which order.
//!
//! Without a sampler the loader visits the whole data set, shuffled by
//! [`epoch_order`] when it has a seed. A sampler replaces that order; the
//! distributed sampler of `dl-dist` gives each process of a data-parallel
//! run its own shard of [`epoch_order`].

use dl_core::Rng;

/// The order in which a loader visits a data set of `len` samples in epoch
/// `epoch`: `0..len`, shuffled from `seed` and `epoch` when `seed` is set
/// (a different permutation each epoch, the same ones for the same seed).
///
/// This is exactly what a [`DataLoader`](super::DataLoader) without a
/// sampler uses, so a sampler that shards this order shards the
/// single-process order.
///
/// ```
/// use dl_nn::data::epoch_order;
/// let a = epoch_order(10, Some(3), 0);
/// let mut sorted = a.clone();
/// sorted.sort();
/// assert_eq!(sorted, (0..10).collect::<Vec<_>>());
/// assert_ne!(a, epoch_order(10, Some(3), 1));
/// assert_eq!(epoch_order(4, None, 7), vec![0, 1, 2, 3]);
/// ```
pub fn epoch_order(len: usize, seed: Option<u64>, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if let Some(seed) = seed {
        Rng::new(seed).fork(epoch).shuffle(&mut order);
    }
    order
}

/// Chooses the sample indices (and their order) of each epoch.
///
/// Set one with [`DataLoader::sampler`](super::DataLoader::sampler); the
/// loader then ignores its own shuffle seed for the order (the sampler owns
/// it) and batches whatever the sampler returns.
pub trait Sampler: Send + Sync {
    /// The indices (each below `len`) to visit in epoch `epoch` of a data set
    /// of `len` samples. Must return [`Sampler::num_samples`] indices.
    fn indices(&self, len: usize, epoch: u64) -> Vec<usize>;
    /// How many indices [`Sampler::indices`] returns for a data set of `len`
    /// samples (the same every epoch).
    fn num_samples(&self, len: usize) -> usize;
}
