//! [`NcclComm`]: a [`Communicator`] on NCCL between GPUs (feature `nccl`),
//! one process per GPU; MPI starts the processes and carries NCCL's unique
//! id from rank 0 to the others.

use crate::comm::{check_root, same_type_mut, Communicator};
use crate::error::DistError;
use crate::mpi_comm::MpiComm;
use cudarc::driver::CudaStream;
use cudarc::nccl::safe::{Comm, Id, NcclType, ReduceOp};
use dl_core::{Backend, Cuda, Float};
use std::any::Any;
use std::sync::Arc;

/// Whether NCCL's library can be loaded. cudarc looks for `libnccl.so`;
/// NVIDIA's pip package `nvidia-nccl-cu12` ships only `libnccl.so.2`, so
/// link it as `libnccl.so` in a directory on `LD_LIBRARY_PATH` when using it.
pub fn nccl_present() -> bool {
    // SAFETY: only tries to `dlopen` the candidate library names.
    unsafe { cudarc::nccl::sys::is_culib_present() }
}

/// NCCL over the ranks of an [`MpiComm`], each on its own GPU (NCCL
/// refuses two ranks on one GPU). Reduces CUDA buffers in place on the
/// device ([`Communicator::all_reduce_sum_on`] with `B = Cuda`); host
/// slices go through the device.
///
/// ```no_run
/// use dl_dist::{Communicator, MpiComm, NcclComm};
/// let mpi = MpiComm::new()?;
/// let gpu = dl_core::Cuda::new(mpi.rank() % 8).expect("a GPU per rank");
/// let nccl = NcclComm::new(mpi, &gpu)?;
/// let mut v = vec![1.0f32; 4];
/// nccl.all_reduce_sum(&mut v)?;
/// # Ok::<(), dl_dist::DistError>(())
/// ```
pub struct NcclComm {
    comm: Comm,
    stream: Arc<CudaStream>,
    mpi: MpiComm,
}

impl std::fmt::Debug for NcclComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NcclComm")
            .field("rank", &self.mpi.rank())
            .field("world_size", &self.mpi.world_size())
            .finish_non_exhaustive()
    }
}

impl NcclComm {
    /// Starts NCCL on `gpu` for the ranks of `mpi`: rank 0 makes the unique
    /// id, MPI broadcasts it, every rank joins.
    ///
    /// # Errors
    /// [`DistError::Nccl`] when the library is missing or NCCL fails.
    pub fn new(mpi: MpiComm, gpu: &Cuda) -> Result<Self, DistError> {
        let rank = mpi.rank();
        let nccl_err = |msg: String| DistError::Nccl { rank, msg };
        // Every rank learns whether every rank can load NCCL before any
        // of them blocks in NCCL's initialisation.
        let mut missing = vec![0.0f64; mpi.world_size()];
        missing[rank] = f64::from(u8::from(!nccl_present()));
        mpi.all_reduce_sum(&mut missing)?;
        if let Some(r) = missing.iter().position(|&m| m != 0.0) {
            return Err(nccl_err(format!(
                "rank {r} cannot load libnccl.so (cudarc looks for `libnccl.so`; pip's nvidia-nccl ships `libnccl.so.2`)"
            )));
        }
        let mut bytes = [0u8; 128];
        if rank == 0 {
            let id = Id::new().map_err(|e| nccl_err(format!("{e:?}")))?;
            for (b, c) in bytes.iter_mut().zip(id.internal()) {
                *b = *c as u8;
            }
        }
        mpi.broadcast_bytes(&mut bytes, 0)?;
        let mut internal = [0 as std::ffi::c_char; 128];
        for (c, b) in internal.iter_mut().zip(bytes) {
            *c = b as std::ffi::c_char;
        }
        let stream = gpu.device().stream().clone();
        let comm = Comm::from_rank(stream.clone(), rank, mpi.world_size(), Id::uninit(internal))
            .map_err(|e| nccl_err(format!("{e:?}")))?;
        Ok(Self { comm, stream, mpi })
    }

    /// The MPI communicator that started NCCL.
    pub fn mpi(&self) -> &MpiComm {
        &self.mpi
    }

    fn err(&self, e: impl std::fmt::Debug) -> DistError {
        DistError::Nccl {
            rank: self.mpi.rank(),
            msg: format!("{e:?}"),
        }
    }

    fn host_reduce<T: NcclType + cudarc::driver::DeviceRepr + Copy>(&self, buf: &mut [T]) -> Result<(), DistError> {
        let mut d = self.stream.clone_htod(buf).map_err(|e| self.err(e))?;
        self.comm
            .all_reduce_in_place(&mut d, &ReduceOp::Sum)
            .map_err(|e| self.err(e))?;
        let back = self.stream.clone_dtoh(&d).map_err(|e| self.err(e))?;
        buf.copy_from_slice(&back);
        Ok(())
    }

    fn device_reduce<T: NcclType + dl_cuda::Elem>(
        &self,
        buf: &mut dl_cuda::CudaBuf<T>,
        op: &ReduceOp,
    ) -> Result<(), DistError> {
        let mut view = buf.view_mut();
        self.comm.all_reduce_in_place(&mut view, op).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Reduces a CUDA buffer on the device; any other buffer through the host.
    fn reduce_on<B: Backend, T: Float>(
        &self,
        dev: &B,
        buf: &mut B::Buf<T>,
        host: &mut Vec<T>,
        op: &ReduceOp,
    ) -> Result<(), DistError> {
        let any: &mut dyn Any = buf;
        if let Some(b) = any.downcast_mut::<dl_cuda::CudaBuf<f32>>() {
            return self.device_reduce(b, op);
        }
        if let Some(b) = any.downcast_mut::<dl_cuda::CudaBuf<f64>>() {
            return self.device_reduce(b, op);
        }
        crate::comm::reduce_through_host(self, dev, buf, host, matches!(op, ReduceOp::Avg))
    }
}

impl Communicator for NcclComm {
    fn rank(&self) -> usize {
        self.mpi.rank()
    }
    fn world_size(&self) -> usize {
        self.mpi.world_size()
    }
    fn name(&self) -> &'static str {
        "nccl"
    }
    fn all_reduce_sum<T: Float>(&self, buf: &mut [T]) -> Result<(), DistError> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(b) = same_type_mut::<T, f32>(buf) {
            self.host_reduce(b)
        } else if let Some(b) = same_type_mut::<T, f64>(buf) {
            self.host_reduce(b)
        } else {
            unreachable!("dl_core::Float is implemented for f32 and f64 only")
        }
    }
    fn broadcast<T: Float>(&self, buf: &mut [T], root: usize) -> Result<(), DistError> {
        check_root(root, self.world_size())?;
        self.mpi.broadcast(buf, root)
    }
    fn barrier(&self) -> Result<(), DistError> {
        self.mpi.barrier()
    }
    fn all_reduce_sum_on<B: Backend, T: Float>(
        &self,
        dev: &B,
        buf: &mut B::Buf<T>,
        host: &mut Vec<T>,
    ) -> Result<(), DistError> {
        self.reduce_on(dev, buf, host, &ReduceOp::Sum)
    }
    fn all_reduce_mean_on<B: Backend, T: Float>(
        &self,
        dev: &B,
        buf: &mut B::Buf<T>,
        host: &mut Vec<T>,
    ) -> Result<(), DistError> {
        self.reduce_on(dev, buf, host, &ReduceOp::Avg)
    }
    fn reduces_on_device(&self) -> bool {
        true
    }
    fn fused<R>(&self, f: impl FnOnce() -> Result<R, DistError>) -> Result<R, DistError> {
        cudarc::nccl::result::group_start().map_err(|e| self.err(e))?;
        let queued = f();
        // The group is closed whatever `f` returned: NCCL needs every start
        // matched by an end.
        let closed = cudarc::nccl::result::group_end().map_err(|e| self.err(e));
        let r = queued?;
        closed?;
        Ok(r)
    }
    fn abort(&self, code: i32) -> ! {
        self.mpi.abort(code)
    }
}
