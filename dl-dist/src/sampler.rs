//! [`DistributedSampler`]: each rank's shard of every epoch's order.

use crate::error::DistError;
use dl_nn::data::{epoch_order, Sampler};

/// What happens to the samples that do not divide evenly over the ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// PyTorch's default (`drop_last=False`): the epoch's order is padded
    /// by repeating its first samples until its length is a multiple of the
    /// world size, so every rank gets `ceil(len / world)` samples (at most
    /// `world - 1` samples are seen twice per epoch).
    Pad,
    /// PyTorch's `drop_last=True`: the last `len % world` samples of the
    /// epoch's (shuffled) order are left out, so every rank gets
    /// `len / world` samples.
    Drop,
    /// No padding, nothing dropped: ranks `0..len % world` get one sample
    /// more than the others. Every sample is on exactly one rank, which is
    /// what evaluation needs; training needs equal shards (every rank must
    /// take the same number of steps), so use it for evaluation only.
    Uneven,
}

/// Splits each epoch's order over the ranks of a data-parallel run, as
/// PyTorch's `DistributedSampler`.
///
/// The epoch's order is [`epoch_order`] (the order a single-process
/// [`DataLoader`](dl_nn::data::DataLoader) uses for the same seed), made a
/// multiple of the world size by [`Tail`]; rank `r` takes the positions
/// `r, r + world, r + 2 * world, ...` of it. So with local batch `b`, the
/// ranks' `k`-th batches together are exactly positions
/// `k * b * world .. (k + 1) * b * world` of the order: the `k`-th batch of a
/// single process with batch `b * world`. Every rank must use the same seed.
///
/// ```
/// use dl_dist::{DistributedSampler, Tail};
/// use dl_nn::data::{epoch_order, Sampler};
/// let (len, world) = (10, 3);
/// let shards: Vec<Vec<usize>> = (0..world)
///     .map(|r| DistributedSampler::new(r, world, Some(7)).unwrap().indices(len, 0))
///     .collect();
/// assert!(shards.iter().all(|s| s.len() == 4)); // ceil(10 / 3), padded
/// let order = epoch_order(len, Some(7), 0);
/// assert_eq!(shards[1][0], order[1]);
/// assert_eq!(shards[0][1], order[3]);
/// assert_eq!(shards[1][3], order[0]); // position 10 repeats position 0
/// assert_eq!(shards[2][3], order[1]); // position 11 repeats position 1
///
/// let drop = DistributedSampler::new(0, world, Some(7)).unwrap().tail(Tail::Drop);
/// assert_eq!(drop.num_samples(len), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DistributedSampler {
    rank: usize,
    world_size: usize,
    seed: Option<u64>,
    tail: Tail,
}

impl DistributedSampler {
    /// Rank `rank`'s shard of `world_size`, shuffled from `seed` (`None`:
    /// the data set's order), padded ([`Tail::Pad`]).
    ///
    /// # Errors
    /// [`DistError::Invalid`] for a world size of 0 or a rank past it.
    pub fn new(rank: usize, world_size: usize, seed: Option<u64>) -> Result<Self, DistError> {
        if world_size == 0 || rank >= world_size {
            return Err(DistError::Invalid(format!(
                "rank {rank} of a world of {world_size} (need 0 <= rank < world size)"
            )));
        }
        Ok(Self {
            rank,
            world_size,
            seed,
            tail: Tail::Pad,
        })
    }
    /// Sets what happens to the samples that do not divide evenly.
    pub fn tail(mut self, tail: Tail) -> Self {
        self.tail = tail;
        self
    }
    /// `drop_last == true`: [`Tail::Drop`]; `false`: [`Tail::Pad`].
    pub fn drop_last(self, drop_last: bool) -> Self {
        self.tail(if drop_last { Tail::Drop } else { Tail::Pad })
    }
    /// This sampler's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }
    /// The world size.
    pub fn world_size(&self) -> usize {
        self.world_size
    }
    /// The whole epoch's order before sharding: [`epoch_order`], padded or
    /// cut by the [`Tail`] rule (unchanged for [`Tail::Uneven`]). Rank `r`'s
    /// shard is its positions `r, r + world, ...`.
    pub fn global_order(&self, len: usize, epoch: u64) -> Vec<usize> {
        let mut order = epoch_order(len, self.seed, epoch);
        let w = self.world_size;
        match self.tail {
            Tail::Uneven => {}
            Tail::Drop => order.truncate(len / w * w),
            Tail::Pad => {
                let total = len.div_ceil(w) * w;
                let mut i = 0;
                while order.len() < total {
                    order.push(order[i]);
                    i += 1;
                }
            }
        }
        order
    }
}

impl Sampler for DistributedSampler {
    fn indices(&self, len: usize, epoch: u64) -> Vec<usize> {
        self.global_order(len, epoch)
            .into_iter()
            .skip(self.rank)
            .step_by(self.world_size)
            .collect()
    }
    fn num_samples(&self, len: usize) -> usize {
        let w = self.world_size;
        match self.tail {
            Tail::Pad => len.div_ceil(w),
            Tail::Drop => len / w,
            Tail::Uneven => len.saturating_sub(self.rank).div_ceil(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shards(len: usize, world: usize, seed: Option<u64>, epoch: u64, tail: Tail) -> Vec<Vec<usize>> {
        (0..world)
            .map(|r| {
                let s = DistributedSampler::new(r, world, seed).unwrap().tail(tail);
                let v = s.indices(len, epoch);
                assert_eq!(v.len(), s.num_samples(len), "num_samples of rank {r}");
                v
            })
            .collect()
    }

    /// Position `k * world + r` of the interleaved shards.
    fn interleave(shards: &[Vec<usize>]) -> Vec<usize> {
        let w = shards.len();
        let longest = shards.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = Vec::new();
        for k in 0..longest {
            for s in shards.iter().take(w) {
                if let Some(&i) = s.get(k) {
                    out.push(i);
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn shards_partition_the_single_process_order(
            len in 0usize..300,
            world in 1usize..9,
            seed in proptest::option::of(any::<u64>()),
            epoch in 0u64..5,
        ) {
            let single = epoch_order(len, seed, epoch);
            for tail in [Tail::Pad, Tail::Drop, Tail::Uneven] {
                let sh = shards(len, world, seed, epoch, tail);
                let joined = interleave(&sh);
                match tail {
                    Tail::Uneven => {
                        // Disjoint and complete: exactly the single-process order.
                        prop_assert_eq!(&joined, &single);
                    }
                    Tail::Drop => {
                        prop_assert!(sh.iter().all(|s| s.len() == len / world));
                        prop_assert_eq!(&joined[..], &single[..len / world * world]);
                        // Disjoint: no sample twice.
                        let mut sorted = joined.clone();
                        sorted.sort_unstable();
                        sorted.dedup();
                        prop_assert_eq!(sorted.len(), joined.len());
                    }
                    Tail::Pad => {
                        let per = len.div_ceil(world);
                        prop_assert!(sh.iter().all(|s| s.len() == per));
                        // The first `len` positions are the single-process
                        // order (disjoint, complete); the padding repeats its start.
                        prop_assert_eq!(&joined[..len], &single[..]);
                        let pad: Vec<usize> = (0..per * world - len).map(|i| single[i % len]).collect();
                        prop_assert_eq!(&joined[len..], &pad[..]);
                        prop_assert!(per * world - len < world);
                    }
                }
            }
        }
    }

    #[test]
    fn bad_rank_or_world_is_an_error() {
        assert!(matches!(
            DistributedSampler::new(2, 2, None),
            Err(DistError::Invalid(_))
        ));
        assert!(matches!(
            DistributedSampler::new(0, 0, None),
            Err(DistError::Invalid(_))
        ));
    }

    #[test]
    fn each_epoch_is_a_new_permutation_the_same_on_every_rank() {
        let a = DistributedSampler::new(0, 2, Some(1)).unwrap();
        let b = DistributedSampler::new(1, 2, Some(1)).unwrap();
        assert_ne!(a.indices(100, 0), a.indices(100, 1));
        assert_eq!(a.global_order(100, 3), b.global_order(100, 3));
    }
}
