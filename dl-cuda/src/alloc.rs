//! A caching device allocator: free lists by size class.
//!
//! Device memory is requested from the driver (`cuMemAlloc`) only when the
//! free list of a size class is empty; a dropped buffer's block goes back to
//! its free list, and the next request of that class reuses it. A training
//! step that repeats the shapes of the previous one therefore allocates
//! nothing from the driver. All work runs on one stream, so a block freed by
//! a buffer and handed to the next request is ordered after every kernel
//! that used it.
//!
//! The bookkeeping ([`Pool`]) is generic over a [`RawAlloc`] so that it is
//! tested on the host with a fake allocator.

use crate::error::{CudaError, Result};
use std::collections::HashMap;

/// Smallest block handed out, in bytes.
pub const MIN_BLOCK: usize = 256;

/// The size class (block size in bytes) that serves a request of `bytes`.
///
/// Requests up to 512 bytes round up to a multiple of 256; larger ones round
/// up to a multiple of a quarter of their highest power of two, so a block
/// wastes at most 25% of its size (and at most 256 bytes below 1 KiB).
pub fn size_class(bytes: usize) -> usize {
    if bytes <= 2 * MIN_BLOCK {
        return bytes.max(1).div_ceil(MIN_BLOCK) * MIN_BLOCK;
    }
    let hi = 1usize << (usize::BITS - 1 - bytes.leading_zeros());
    let step = hi / 4;
    bytes.div_ceil(step) * step
}

/// Where blocks come from: the driver on a GPU, a fake in tests.
pub trait RawAlloc {
    /// Allocates a block of `bytes` bytes, returning its device address.
    fn alloc(&mut self, bytes: usize) -> Result<u64>;
    /// Returns a block obtained from [`RawAlloc::alloc`] with the same size.
    fn free(&mut self, ptr: u64, bytes: usize);
}

/// Counters of a [`Pool`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Blocks requested from the raw allocator (the driver).
    pub raw_allocs: u64,
    /// Blocks returned to the raw allocator.
    pub raw_frees: u64,
    /// Requests served from a free list without the raw allocator.
    pub hits: u64,
    /// Bytes in blocks handed out and not yet released.
    pub bytes_in_use: usize,
    /// Bytes in blocks held on free lists.
    pub bytes_cached: usize,
}

/// Free lists of device blocks keyed by size class.
#[derive(Debug)]
pub struct Pool<R: RawAlloc> {
    raw: R,
    free: HashMap<usize, Vec<u64>>,
    stats: PoolStats,
}

impl<R: RawAlloc> Pool<R> {
    /// An empty pool over `raw`.
    pub fn new(raw: R) -> Self {
        Self {
            raw,
            free: HashMap::new(),
            stats: PoolStats::default(),
        }
    }

    /// A block of [`size_class`]`(bytes)` bytes, from the free list when it
    /// has one. On an out-of-memory error the cached blocks are released and
    /// the request is retried once. Returns `(address, block size)`.
    ///
    /// # Errors
    /// The raw allocator's error when the retry fails too.
    pub fn take(&mut self, bytes: usize) -> Result<(u64, usize)> {
        let class = size_class(bytes);
        if let Some(ptr) = self.free.get_mut(&class).and_then(Vec::pop) {
            self.stats.hits += 1;
            self.stats.bytes_cached -= class;
            self.stats.bytes_in_use += class;
            return Ok((ptr, class));
        }
        let ptr = match self.raw.alloc(class) {
            Ok(p) => p,
            Err(CudaError::OutOfMemory { .. }) if self.stats.bytes_cached > 0 => {
                self.empty_cache();
                self.raw.alloc(class)?
            }
            Err(e) => return Err(e),
        };
        self.stats.raw_allocs += 1;
        self.stats.bytes_in_use += class;
        Ok((ptr, class))
    }

    /// Puts a block obtained from [`Pool::take`] back on its free list.
    pub fn give(&mut self, ptr: u64, class: usize) {
        self.stats.bytes_in_use -= class;
        self.stats.bytes_cached += class;
        self.free.entry(class).or_default().push(ptr);
    }

    /// Returns every cached block to the raw allocator.
    pub fn empty_cache(&mut self) {
        for (class, ptrs) in self.free.drain() {
            for p in ptrs {
                self.raw.free(p, class);
                self.stats.raw_frees += 1;
                self.stats.bytes_cached -= class;
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }
}

impl<R: RawAlloc> Drop for Pool<R> {
    fn drop(&mut self) {
        self.empty_cache();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake raw allocator handing out increasing addresses; it can be told
    /// to fail with out-of-memory above a byte budget.
    #[derive(Default)]
    struct Fake {
        next: u64,
        live: HashMap<u64, usize>,
        budget: Option<usize>,
    }
    impl RawAlloc for Fake {
        fn alloc(&mut self, bytes: usize) -> Result<u64> {
            let used: usize = self.live.values().sum();
            if self.budget.is_some_and(|b| used + bytes > b) {
                return Err(CudaError::OutOfMemory {
                    bytes,
                    free: self.budget.unwrap_or(0).saturating_sub(used),
                    total: self.budget.unwrap_or(0),
                });
            }
            self.next += 1 << 20;
            self.live.insert(self.next, bytes);
            Ok(self.next)
        }
        fn free(&mut self, ptr: u64, bytes: usize) {
            assert_eq!(
                self.live.remove(&ptr),
                Some(bytes),
                "freed an unknown block or with the wrong size"
            );
        }
    }

    #[test]
    fn size_classes_round_up_with_bounded_waste() {
        assert_eq!(size_class(0), 256);
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(256), 256);
        assert_eq!(size_class(257), 512);
        assert_eq!(size_class(513), 640);
        assert_eq!(size_class(1024), 1024);
        assert_eq!(size_class(1025), 1280);
        for n in (1..200_000).step_by(97) {
            let c = size_class(n);
            assert!(c >= n, "{n} -> {c}");
            assert!(c - n <= 256 || (c - n) * 4 <= c, "{n} -> {c} wastes too much");
            assert_eq!(size_class(c), c, "a class is its own class");
        }
    }

    #[test]
    fn steady_state_reuses_blocks_without_raw_allocations() {
        let mut pool = Pool::new(Fake::default());
        let sizes = [4000usize, 100, 1 << 20, 4000, 77_777];
        // One "training step": take all, give all back.
        let step = |pool: &mut Pool<Fake>| {
            let blocks: Vec<_> = sizes.iter().map(|&s| pool.take(s).unwrap()).collect();
            for (p, c) in blocks {
                pool.give(p, c);
            }
        };
        step(&mut pool);
        let after_first = pool.stats();
        assert_eq!(after_first.raw_allocs, sizes.len() as u64);
        for _ in 0..10 {
            step(&mut pool);
        }
        let s = pool.stats();
        assert_eq!(s.raw_allocs, after_first.raw_allocs, "steady state must not allocate");
        assert_eq!(s.hits, 10 * sizes.len() as u64);
        assert_eq!(s.bytes_in_use, 0);
        assert_eq!(s.bytes_cached, sizes.iter().map(|&s| size_class(s)).sum::<usize>());
    }

    #[test]
    fn distinct_live_blocks_never_alias() {
        let mut pool = Pool::new(Fake::default());
        let a = pool.take(1000).unwrap();
        let b = pool.take(1000).unwrap();
        assert_ne!(a.0, b.0);
        pool.give(a.0, a.1);
        let c = pool.take(900).unwrap(); // same class as 1000
        assert_eq!(c.0, a.0, "the freed block of the same class is reused");
        assert_ne!(c.0, b.0);
    }

    #[test]
    fn out_of_memory_releases_the_cache_and_retries() {
        let mut pool = Pool::new(Fake {
            budget: Some(3000),
            ..Default::default()
        });
        let a = pool.take(2048).unwrap();
        pool.give(a.0, a.1); // cached, still counted by the fake
        let b = pool.take(1500).unwrap(); // different class: needs the cache emptied
        assert_eq!(pool.stats().raw_frees, 1);
        assert_eq!(pool.stats().bytes_cached, 0);
        pool.give(b.0, b.1);
        // Too big even with an empty cache: the typed error comes through,
        // naming the request and the free memory.
        let e = pool.take(5000).unwrap_err();
        assert!(
            matches!(
                e,
                CudaError::OutOfMemory {
                    bytes: 5120,
                    total: 3000,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().contains("5120 bytes") && e.to_string().contains("of 3000 bytes free"),
            "{e}"
        );
    }

    #[test]
    fn drop_returns_cached_blocks() {
        let mut pool = Pool::new(Fake::default());
        let a = pool.take(10).unwrap();
        pool.give(a.0, a.1);
        pool.empty_cache();
        assert!(pool.raw.live.is_empty());
        assert_eq!(pool.stats().raw_frees, 1);
    }
}
