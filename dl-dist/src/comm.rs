//! The [`Communicator`] trait and the single-process [`SingleProcess`].

use crate::error::DistError;
use dl_core::{Backend, Float};

/// A group of processes that reduce and broadcast buffers together.
///
/// Every method but `rank`, `world_size` and `name` is *collective*: all
/// ranks call it, in the same order, with buffers of the same length.
/// Reductions are element-wise and every rank receives the same bits.
///
/// Implementations: [`SingleProcess`] (no-op), `MpiComm` (feature `mpi`),
/// `NcclComm` (feature `nccl`).
pub trait Communicator {
    /// This process's rank, `0..world_size`.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn world_size(&self) -> usize;
    /// A short name for messages (`single`, `mpi`, `nccl`).
    fn name(&self) -> &'static str;
    /// Replaces each element with its sum over the ranks, in place.
    ///
    /// # Errors
    /// A transport failure; [`DistError::Timeout`] where a watchdog runs.
    fn all_reduce_sum<T: Float>(&self, buf: &mut [T]) -> Result<(), DistError>;
    /// Replaces each element with its mean over the ranks, in place (the
    /// sum divided by the world size).
    ///
    /// # Errors
    /// As [`Communicator::all_reduce_sum`].
    fn all_reduce_mean<T: Float>(&self, buf: &mut [T]) -> Result<(), DistError> {
        self.all_reduce_sum(buf)?;
        let w = self.world_size();
        if w > 1 {
            let d = T::from_usize(w);
            buf.iter_mut().for_each(|v| *v /= d);
        }
        Ok(())
    }
    /// The mean over the ranks of `len` values that the caller lays out
    /// and reads back in place, without a buffer of its own: `stage` is
    /// called once with [`Staged::Fill`] (write this rank's values into
    /// the slice), then with [`Staged::Drain`] for pieces of the result
    /// that together cover `0..len` once each. Where a communicator keeps
    /// its own staging memory (MPI's shared-memory windows), the values go
    /// straight there and back, saving two copies of every gradient (the
    /// role of PyTorch's `gradient_as_bucket_view`). The default lays them
    /// out in `scratch` and calls [`Communicator::all_reduce_mean`].
    ///
    /// # Errors
    /// As [`Communicator::all_reduce_sum`].
    fn all_reduce_mean_staged<T: Float>(
        &self,
        len: usize,
        scratch: &mut Vec<T>,
        stage: &mut dyn FnMut(Staged<'_, T>),
    ) -> Result<(), DistError> {
        staged_through(self, len, scratch, stage)
    }
    /// Overwrites `buf` on every rank with rank `root`'s.
    ///
    /// # Errors
    /// [`DistError::BadRoot`]; a transport failure.
    fn broadcast<T: Float>(&self, buf: &mut [T], root: usize) -> Result<(), DistError>;
    /// Returns once every rank has called it.
    ///
    /// # Errors
    /// A transport failure; [`DistError::Timeout`] where a watchdog runs.
    fn barrier(&self) -> Result<(), DistError>;
    /// [`Communicator::all_reduce_sum`] on a buffer of backend `B`. The
    /// default goes through host memory (`host` is reused scratch);
    /// `NcclComm` reduces CUDA buffers on the device.
    ///
    /// # Errors
    /// As [`Communicator::all_reduce_sum`].
    fn all_reduce_sum_on<B: Backend, T: Float>(
        &self,
        dev: &B,
        buf: &mut B::Buf<T>,
        host: &mut Vec<T>,
    ) -> Result<(), DistError> {
        reduce_through_host(self, dev, buf, host, false)
    }
    /// [`Communicator::all_reduce_mean`] on a buffer of backend `B` (the
    /// default goes through host memory, as [`Communicator::all_reduce_sum_on`]).
    ///
    /// # Errors
    /// As [`Communicator::all_reduce_sum`].
    fn all_reduce_mean_on<B: Backend, T: Float>(
        &self,
        dev: &B,
        buf: &mut B::Buf<T>,
        host: &mut Vec<T>,
    ) -> Result<(), DistError> {
        reduce_through_host(self, dev, buf, host, true)
    }
    /// Runs `f`, which queues device reductions
    /// ([`Communicator::all_reduce_mean_on`] on device buffers), as one
    /// fused group where the transport has them (NCCL: `ncclGroupStart` /
    /// `ncclGroupEnd`, so many small gradients cost about one launch). The
    /// default runs `f` as it is. Inside `f`, only queue device reductions:
    /// nothing in the group has run before `fused` returns.
    ///
    /// # Errors
    /// `f`'s error, or the transport's when it closes the group.
    fn fused<R>(&self, f: impl FnOnce() -> Result<R, DistError>) -> Result<R, DistError> {
        f()
    }
    /// Whether [`Communicator::all_reduce_mean_on`] reduces device buffers
    /// without going through host memory (NCCL): `DataParallel` then
    /// reduces each gradient where it lies instead of gathering them into a
    /// host bucket.
    fn reduces_on_device(&self) -> bool {
        false
    }
    /// Ends every process of the group with exit status `code` (after an
    /// error on this rank, so that the others do not wait for it). The
    /// default exits this process only.
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// One call of [`Communicator::all_reduce_mean_staged`]'s `stage`.
#[derive(Debug)]
pub enum Staged<'a, T> {
    /// Write this rank's values into the slice (of the reduction's length).
    Fill(&'a mut [T]),
    /// The mean of elements `offset..offset + values.len()`.
    Drain(usize, &'a [T]),
}

/// One process, no transport: reductions and broadcasts leave buffers as
/// they are. Code written for a [`Communicator`] runs unchanged without
/// MPI.
///
/// ```
/// use dl_dist::{Communicator, SingleProcess};
/// let c = SingleProcess;
/// let mut v = [1.0f32, 2.0];
/// c.all_reduce_mean(&mut v)?;
/// assert_eq!((c.rank(), c.world_size(), v), (0, 1, [1.0, 2.0]));
/// # Ok::<(), dl_dist::DistError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn name(&self) -> &'static str {
        "single"
    }
    fn all_reduce_sum<T: Float>(&self, _buf: &mut [T]) -> Result<(), DistError> {
        Ok(())
    }
    fn broadcast<T: Float>(&self, _buf: &mut [T], root: usize) -> Result<(), DistError> {
        check_root(root, 1)
    }
    fn barrier(&self) -> Result<(), DistError> {
        Ok(())
    }
}

/// The device-buffer reductions' host path: downloads `buf` into `host`
/// (reused scratch), reduces it with [`Communicator::all_reduce_sum`] or
/// [`Communicator::all_reduce_mean`], and writes it back. With one rank the
/// buffer is already its own sum and mean, and is left alone.
pub(crate) fn reduce_through_host<C: Communicator + ?Sized, B: Backend, T: Float>(
    comm: &C,
    dev: &B,
    buf: &mut B::Buf<T>,
    host: &mut Vec<T>,
    mean: bool,
) -> Result<(), DistError> {
    if comm.world_size() == 1 {
        return Ok(());
    }
    // `Storage` downloads into a new vector only: take it as the scratch
    // (copying it into `host` would move the data twice).
    *host = dev.to_vec(buf);
    if mean {
        comm.all_reduce_mean(host)?;
    } else {
        comm.all_reduce_sum(host)?;
    }
    dev.write(buf, host);
    Ok(())
}

/// [`DistError::BadRoot`] unless `root < world_size`.
/// [`Communicator::all_reduce_mean_staged`] through `scratch` and
/// [`Communicator::all_reduce_mean`].
pub(crate) fn staged_through<C: Communicator + ?Sized, T: Float>(
    comm: &C,
    len: usize,
    scratch: &mut Vec<T>,
    stage: &mut dyn FnMut(Staged<'_, T>),
) -> Result<(), DistError> {
    scratch.resize(len, T::ZERO);
    stage(Staged::Fill(scratch));
    comm.all_reduce_mean(scratch)?;
    stage(Staged::Drain(0, scratch));
    Ok(())
}

pub(crate) fn check_root(root: usize, world_size: usize) -> Result<(), DistError> {
    if root < world_size {
        Ok(())
    } else {
        Err(DistError::BadRoot { root, world_size })
    }
}

/// `s` as a slice of `U` when `T` and `U` are the same type (the MPI and
/// NCCL communicators dispatch on the element type with it).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn same_type_mut<T: 'static, U: 'static>(s: &mut [T]) -> Option<&mut [U]> {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>() {
        // SAFETY: `T` and `U` are the same type (equal `TypeId`s), so the
        // pointer, length, alignment and lifetime of `s` are valid for `U`.
        Some(unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<U>(), s.len()) })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_process_is_identity_and_checks_the_root() {
        let c = SingleProcess;
        let mut v = vec![1.5f64, -2.0, 3.25];
        c.all_reduce_sum(&mut v).unwrap();
        c.all_reduce_mean(&mut v).unwrap();
        c.broadcast(&mut v, 0).unwrap();
        c.barrier().unwrap();
        assert_eq!(v, vec![1.5, -2.0, 3.25]);
        assert!(matches!(
            c.broadcast(&mut v, 1),
            Err(DistError::BadRoot { root: 1, world_size: 1 })
        ));
    }

    /// Two ranks holding the same values: the sum doubles them.
    struct TwoEqualRanks;

    impl Communicator for TwoEqualRanks {
        fn rank(&self) -> usize {
            0
        }
        fn world_size(&self) -> usize {
            2
        }
        fn name(&self) -> &'static str {
            "two-equal"
        }
        fn all_reduce_sum<T: Float>(&self, buf: &mut [T]) -> Result<(), DistError> {
            buf.iter_mut().for_each(|v| *v = *v + *v);
            Ok(())
        }
        fn broadcast<T: Float>(&self, _buf: &mut [T], root: usize) -> Result<(), DistError> {
            check_root(root, 2)
        }
        fn barrier(&self) -> Result<(), DistError> {
            Ok(())
        }
    }

    #[test]
    fn backend_buffers_reduce_through_the_host() {
        let dev = dl_core::Cpu;
        let mut host = Vec::new();
        let mut buf = vec![1.0f32, -3.0];
        TwoEqualRanks.all_reduce_sum_on(&dev, &mut buf, &mut host).unwrap();
        assert_eq!(buf, vec![2.0, -6.0]);
        TwoEqualRanks.all_reduce_mean_on(&dev, &mut buf, &mut host).unwrap();
        assert_eq!(buf, vec![2.0, -6.0]);
        SingleProcess.all_reduce_sum_on(&dev, &mut buf, &mut host).unwrap();
        SingleProcess.all_reduce_mean_on(&dev, &mut buf, &mut host).unwrap();
        assert_eq!(buf, vec![2.0, -6.0]);
    }

    #[test]
    fn same_type_cast_only_between_equal_types() {
        let mut a = [1.0f32, 2.0];
        assert_eq!(same_type_mut::<f32, f32>(&mut a).map(|s| s.len()), Some(2));
        assert!(same_type_mut::<f32, f64>(&mut a).is_none());
    }
}
