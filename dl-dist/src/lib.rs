//! # dl-dist: data-parallel training across processes, machines and GPUs
//!
//! The same design as PyTorch's `DistributedDataParallel` and Horovod, on
//! the transports the field trusts: MPI (feature `mpi`, OpenMPI or MPICH
//! through the `mpi` crate) between processes and machines, NCCL (feature
//! `nccl`, cudarc) between GPUs. The default build needs neither.
//!
//! - [`Communicator`]: `rank`, `world_size`, in-place `all_reduce_sum` /
//!   `all_reduce_mean`, `broadcast`, `barrier`; [`SingleProcess`],
//!   `MpiComm`, `NcclComm`.
//! - [`DataParallel`]: rank 0's parameters broadcast to all, gradients
//!   averaged after `backward` in buckets of a few MB; implements
//!   [`dl_nn::train::GradSync`], so `fit` trains with it too.
//! - [`DistributedSampler`]: each rank's shard of each epoch's order.
//! - [`Watchdog`]: a rank stuck in a collective reports and exits instead
//!   of hanging.
//!
//! A PyTorch-style loop (run with `mpirun -np 2 ./train`):
//!
//! ```ignore
//! let comm = MpiComm::new()?;
//! let mut ddp = DataParallel::new(comm);
//! ddp.broadcast_parameters(&mut model)?;
//! let mut loader = DataLoader::new(train, 64)?.sampler(Arc::new(ddp.sampler(Some(seed))));
//! for (x, y) in loader.epoch(&dev)? {
//!     let (logits, mut cache) = model.forward_train(&x);
//!     let (loss, dlogits) = cross_entropy(&logits, &y)?;
//!     model.zero_grad();
//!     model.backward_params(&mut cache, &dlogits);
//!     ddp.sync_gradients(&mut model)?; // the one added line
//!     opt.step(&mut model);
//! }
//! ```
//!
//! See `docs/distributed.md` for the design, the fault handling and an
//! analysis at 8 GPUs and 64 machines.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod comm;
mod ddp;
mod error;
#[cfg(feature = "mpi")]
mod mpi_comm;
#[cfg(feature = "nccl")]
mod nccl_comm;
mod sampler;
#[cfg(feature = "mpi")]
mod shm;
pub mod watchdog;

pub use comm::{Communicator, SingleProcess, Staged};
pub use ddp::{DataParallel, SyncStats, DEFAULT_BUCKET_BYTES};
pub use error::DistError;
#[cfg(feature = "mpi")]
pub use mpi_comm::{MpiComm, Wait};
#[cfg(feature = "nccl")]
pub use nccl_comm::{nccl_present, NcclComm};
pub use sampler::{DistributedSampler, Tail};
pub use watchdog::Watchdog;
