//! [`DistError`]: everything a communicator, the gradient synchronisation
//! and the sampler can fail with.

// `?` out of `main` prints `Error: {e:?}`: the message, not a struct dump.
dl_core::debug_as_display!(DistError);

/// Errors of `dl-dist`.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum DistError {
    /// MPI could not be started (already initialised, or `MPI_Init` failed).
    #[error("MPI could not be initialised: {0}")]
    Init(String),
    /// A collective got a buffer whose length is not what it needs.
    #[error("rank {rank}: {op} got a buffer of {got} elements, expected {expected}")]
    Length {
        /// The rank that noticed.
        rank: usize,
        /// The collective.
        op: &'static str,
        /// Elements expected.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// A broadcast root outside `0..world_size`.
    #[error("broadcast root {root} is not a rank of a world of {world_size}")]
    BadRoot {
        /// The root asked for.
        root: usize,
        /// Ranks in the world.
        world_size: usize,
    },
    /// The ranks do not hold the same model (parameter count or sizes).
    #[error("rank {rank}: the model differs between ranks (ranks {mismatched:?} differ from rank 0: {detail})")]
    ModelMismatch {
        /// The rank that reports it.
        rank: usize,
        /// The ranks whose model differs from rank 0's.
        mismatched: Vec<usize>,
        /// This rank's view: its parameter count and size.
        detail: String,
    },
    /// A collective did not finish within the watchdog's limit: a peer rank
    /// died, hung or took another path.
    #[error("rank {rank}: {op} did not complete within {secs:.0} s; a peer rank has died, hung or diverged")]
    Timeout {
        /// The rank that waited.
        rank: usize,
        /// The collective.
        op: &'static str,
        /// The limit in seconds.
        secs: f64,
    },
    /// A setting out of range (a world size of 0, a rank past the world,
    /// a bucket of 0 bytes).
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// NCCL failed (or its library could not be loaded).
    #[error("rank {rank}: NCCL: {msg}")]
    Nccl {
        /// The rank.
        rank: usize,
        /// NCCL's message.
        msg: String,
    },
    /// An MPI call failed (outside the collectives, whose errors abort).
    #[error("rank {rank}: MPI: {msg}")]
    Transport {
        /// This process's rank.
        rank: usize,
        /// What failed.
        msg: String,
    },
    /// No usable GPU (NCCL needs one per rank).
    #[error("no usable GPU: {0}")]
    NoGpu(String),
}

impl DistError {
    /// The rank that reports the error, where the error names one.
    pub fn rank(&self) -> Option<usize> {
        match self {
            DistError::Length { rank, .. }
            | DistError::ModelMismatch { rank, .. }
            | DistError::Timeout { rank, .. }
            | DistError::Nccl { rank, .. }
            | DistError::Transport { rank, .. } => Some(*rank),
            _ => None,
        }
    }
}

impl From<DistError> for dl_nn::train::TrainError {
    fn from(e: DistError) -> Self {
        dl_nn::train::TrainError::Distributed {
            rank: e.rank().unwrap_or(0),
            msg: e.to_string(),
        }
    }
}
