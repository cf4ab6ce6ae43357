//! [`MpiComm`]: a [`Communicator`] on MPI (OpenMPI or MPICH, through the
//! `mpi` crate), feature `mpi`.

use crate::comm::{check_root, same_type_mut, staged_through, Communicator, Staged};
use crate::error::DistError;
use crate::shm::ShmReducer;
use crate::watchdog::{exit_on_timeout, timeout_from_env, Watchdog};
use dl_core::Float;
use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::request::{Request, Scope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives as _, Root as _};

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// How long a waiting rank tests a pending reduction back to back.
const SPIN_FOR: Duration = Duration::from_micros(500);
/// Until when it then yields its core between tests (then 20 µs sleeps).
const YIELD_UNTIL: Duration = Duration::from_millis(2);

/// The processes started by `mpirun`, as one [`Communicator`]
/// (`MPI_COMM_WORLD`).
///
/// Creating it initialises MPI (once per process); dropping it finalises
/// MPI. A [`Watchdog`] bounds every collective (default 120 s,
/// `DL_DIST_TIMEOUT_S` to change, 0 to turn off): a rank stuck in a
/// collective because a peer hung prints its rank and the operation and
/// exits with status 70, and `mpirun` then ends the others.
///
/// When every rank runs on one machine, reductions of 64 KiB and more
/// (`DL_DIST_SHM_MIN_BYTES` to change) go through MPI-3 shared-memory
/// windows: a reduce-scatter and all-gather that read the peers' memory
/// directly, about 1.8x faster than `MPI_Allreduce` for 2 MB here, summed
/// in rank order (every rank gets the same bits). `DL_DIST_SHM=0` or
/// [`MpiComm::without_shared_memory`] keeps `MPI_Allreduce`; across
/// machines every reduction is `MPI_Allreduce`.
///
/// ```no_run
/// use dl_dist::{Communicator, MpiComm};
/// let comm = MpiComm::new()?; // run under `mpirun -np 2 ...`
/// let mut v = vec![comm.rank() as f32 + 1.0; 3];
/// comm.all_reduce_sum(&mut v)?;
/// assert_eq!(v, vec![3.0; 3]); // 1 + 2 on 2 ranks
/// # Ok::<(), dl_dist::DistError>(())
/// ```
pub struct MpiComm {
    // Declared before `universe`: dropped before MPI is finalised.
    shm: Option<ShmReducer>,
    world: SimpleCommunicator,
    watchdog: Option<Watchdog>,
    scratch32: RefCell<Vec<f32>>,
    scratch64: RefCell<Vec<f64>>,
    rank: usize,
    size: usize,
    wait: Wait,
    universe: Universe,
}

/// How a rank waits for a reduction to complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A blocking `MPI_Allreduce`: the MPI library busy-polls. Fastest on
    /// dedicated cores; on shared or oversubscribed cores the polling rank
    /// takes CPU time from the rank it waits for.
    Spin,
    /// `MPI_Iallreduce`, then `MPI_Test` back to back for 0.5 ms, then
    /// yields until 2 ms, then 20 µs sleeps between tests: the waiting rank
    /// gives up its core when the wait is long (the default;
    /// `DL_DIST_WAIT=spin` selects [`Wait::Spin`]).
    Backoff,
}

impl Wait {
    /// From `DL_DIST_WAIT` (`spin` or `backoff`), else [`Wait::Backoff`].
    pub fn from_env() -> Self {
        match std::env::var("DL_DIST_WAIT").as_deref() {
            Ok("spin") => Wait::Spin,
            _ => Wait::Backoff,
        }
    }
}

impl std::fmt::Debug for MpiComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiComm")
            .field("rank", &self.rank)
            .field("world_size", &self.size)
            .finish_non_exhaustive()
    }
}

impl MpiComm {
    /// Initialises MPI (`MPI_THREAD_FUNNELED`: only the thread that made
    /// the communicator calls MPI) with the watchdog limit from
    /// `DL_DIST_TIMEOUT_S` (default 120 s).
    ///
    /// # Errors
    /// [`DistError::Init`] when MPI was already initialised in this process
    /// or cannot start.
    pub fn new() -> Result<Self, DistError> {
        Self::with_timeout(timeout_from_env())
    }

    /// Like [`MpiComm::new`] with an explicit watchdog limit (`None`: no
    /// watchdog).
    ///
    /// # Errors
    /// As [`MpiComm::new`].
    pub fn with_timeout(limit: Option<Duration>) -> Result<Self, DistError> {
        let (universe, _threading) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            .ok_or_else(|| DistError::Init("MPI is already initialised in this process".into()))?;
        let world = universe.world();
        let rank = world.rank() as usize;
        let size = world.size() as usize;
        let watchdog = limit.map(|l| Watchdog::new(rank, l, exit_on_timeout()));
        // Collective: every rank splits, whatever it then decides alike
        // (the node size and the variable are the same on every rank).
        let node = world.split_shared(world.rank());
        let shm_off = std::env::var("DL_DIST_SHM").is_ok_and(|v| v == "0");
        let shm = (size > 1 && node.size() as usize == size && !shm_off).then(|| ShmReducer::new(node));
        Ok(Self {
            shm,
            world,
            watchdog,
            scratch32: RefCell::new(Vec::new()),
            scratch64: RefCell::new(Vec::new()),
            rank,
            size,
            wait: Wait::from_env(),
            universe,
        })
    }

    /// Sets how this rank waits for reductions (default from `DL_DIST_WAIT`).
    pub fn with_wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    /// Reduces with `MPI_Allreduce` only, not through shared memory (call
    /// it on every rank alike).
    pub fn without_shared_memory(mut self) -> Self {
        self.shm = None;
        self
    }

    /// Whether large reductions go through shared-memory windows (every
    /// rank on one machine, not turned off).
    pub fn uses_shared_memory(&self) -> bool {
        self.shm.is_some()
    }

    /// The underlying `mpi` crate communicator, for operations this trait
    /// does not cover.
    pub fn raw(&self) -> &SimpleCommunicator {
        &self.world
    }

    /// The MPI library's version string.
    pub fn library_version(&self) -> String {
        mpi::environment::library_version().unwrap_or_else(|_| "unknown".into())
    }

    /// Broadcasts raw bytes from `root` (the NCCL unique id travels this way).
    ///
    /// # Errors
    /// [`DistError::BadRoot`].
    pub fn broadcast_bytes(&self, buf: &mut [u8], root: usize) -> Result<(), DistError> {
        self.broadcast_typed(buf, root)
    }

    fn guard(&self, op: &'static str) -> Option<crate::watchdog::Guard<'_>> {
        self.watchdog.as_ref().map(|w| w.enter(op))
    }

    fn reduce_typed<T: Equivalence + Copy>(&self, buf: &mut [T], scratch: &RefCell<Vec<T>>) {
        let mut send = scratch.borrow_mut();
        send.clear();
        send.extend_from_slice(buf);
        let _g = self.guard("all_reduce");
        match self.wait {
            Wait::Spin => self.world.all_reduce_into(&send[..], buf, SystemOperation::sum()),
            Wait::Backoff => mpi::request::scope(|scope| {
                let req = self
                    .world
                    .immediate_all_reduce_into(scope, &send[..], buf, SystemOperation::sum());
                wait_backoff(req);
            }),
        }
    }

    /// Completes `req` by this communicator's [`Wait`] policy.
    fn wait_for(&self, req: Request<'static, ()>) {
        match self.wait {
            Wait::Spin => req.wait_without_status(),
            Wait::Backoff => wait_backoff(req),
        }
    }

    /// The reduction through shared memory when it applies; `false` when
    /// `buf` must go through MPI.
    fn reduce_shm<T: Float>(&self, buf: &mut [T], mean: bool) -> Result<bool, DistError> {
        let Some(shm) = &self.shm else { return Ok(false) };
        if !shm.takes(std::mem::size_of_val(buf)) {
            return Ok(false);
        }
        let _g = self.guard("all_reduce");
        shm.all_reduce(buf, mean, &|req| self.wait_for(req))?;
        Ok(true)
    }

    /// Shared memory when it applies, else `MPI_Allreduce` (and the
    /// division for a mean).
    fn reduce_host<T: Float + Equivalence>(
        &self,
        buf: &mut [T],
        scratch: &RefCell<Vec<T>>,
        mean: bool,
    ) -> Result<(), DistError> {
        if self.reduce_shm(buf, mean)? {
            return Ok(());
        }
        self.reduce_typed(buf, scratch);
        if mean {
            let d = T::from_usize(self.size);
            buf.iter_mut().for_each(|v| *v /= d);
        }
        Ok(())
    }

    fn reduce_any<T: Float>(&self, buf: &mut [T], mean: bool) -> Result<(), DistError> {
        if self.size == 1 || buf.is_empty() {
            Ok(())
        } else if let Some(b) = same_type_mut::<T, f32>(buf) {
            self.reduce_host(b, &self.scratch32, mean)
        } else if let Some(b) = same_type_mut::<T, f64>(buf) {
            self.reduce_host(b, &self.scratch64, mean)
        } else {
            unreachable!("dl_core::Float is implemented for f32 and f64 only")
        }
    }

    fn broadcast_typed<T: Equivalence>(&self, buf: &mut [T], root: usize) -> Result<(), DistError> {
        check_root(root, self.size)?;
        let _g = self.guard("broadcast");
        self.world.process_at_rank(root as i32).broadcast_into(buf);
        Ok(())
    }
}

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.size
    }
    fn name(&self) -> &'static str {
        "mpi"
    }
    fn all_reduce_sum<T: Float>(&self, buf: &mut [T]) -> Result<(), DistError> {
        self.reduce_any(buf, false)
    }
    fn all_reduce_mean<T: Float>(&self, buf: &mut [T]) -> Result<(), DistError> {
        self.reduce_any(buf, true)
    }
    fn all_reduce_mean_staged<T: Float>(
        &self,
        len: usize,
        scratch: &mut Vec<T>,
        stage: &mut dyn FnMut(Staged<'_, T>),
    ) -> Result<(), DistError> {
        match &self.shm {
            Some(shm) if shm.takes_staged(len * std::mem::size_of::<T>()) => {
                let _g = self.guard("all_reduce");
                shm.all_reduce_staged(len, true, &|req| self.wait_for(req), stage)
            }
            _ => staged_through(self, len, scratch, stage),
        }
    }
    fn broadcast<T: Float>(&self, buf: &mut [T], root: usize) -> Result<(), DistError> {
        if let Some(b) = same_type_mut::<T, f32>(buf) {
            self.broadcast_typed(b, root)
        } else if let Some(b) = same_type_mut::<T, f64>(buf) {
            self.broadcast_typed(b, root)
        } else {
            unreachable!("dl_core::Float is implemented for f32 and f64 only")
        }
    }
    fn barrier(&self) -> Result<(), DistError> {
        let _g = self.guard("barrier");
        self.world.barrier();
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        let _ = &self.universe;
        self.world.abort(code)
    }
}

/// Completes `req`: `MPI_Test` back to back for [`SPIN_FOR`], then yielding
/// the core until [`YIELD_UNTIL`], then 20 µs sleeps between tests.
///
/// A non-blocking collective progresses only inside `MPI_Test`: testing
/// back to back at first lets a reduction of a few MB finish at full speed
/// on idle cores (sleeping between the steps of its schedule made one of 2
/// MB take over 1 ms); after that the rank gives its core to the peer rank
/// (or anyone else) and the operation progresses at the next test.
fn wait_backoff<'a, D: ?Sized, S: Scope<'a>>(mut req: Request<'a, D, S>) {
    let start = Instant::now();
    loop {
        match req.test() {
            Ok(_) => return,
            Err(r) => req = r,
        }
        let waited = start.elapsed();
        if waited < SPIN_FOR {
            std::hint::spin_loop();
        } else if waited < YIELD_UNTIL {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}
