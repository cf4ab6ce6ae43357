//! [`DataError`]: what can go wrong while reading, building or batching a
//! data set.

use std::path::{Path, PathBuf};

/// Errors of data loading. Variants about a file name the file and the
/// problem, so a message such as
/// `data/mnist/t10k-images-idx3-ubyte.gz: truncated: the header declares 7840016 bytes, the file holds 7840000`
/// is enough to fix it.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A data-set directory does not exist (or is not a directory). A
    /// relative path is relative to the current directory, which the
    /// message names: `cargo run` and `cargo test` start in different ones.
    #[error(
        "{}: no such directory (the current directory is {}){}",
        .dir.display(),
        .cwd.as_ref().map_or_else(|| "unknown".to_string(), |c| c.display().to_string()),
        .hint
    )]
    MissingDir {
        /// The directory asked for, as given.
        dir: PathBuf,
        /// The current directory, when it can be read.
        cwd: Option<PathBuf>,
        /// A remedy for the data sets of the repository (empty otherwise).
        hint: String,
    },
    /// None of the accepted file names exists in a data-set directory.
    #[error("{}: no file named {}", .dir.display(), .tried.join(" or "))]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The file names tried, in order.
        tried: Vec<String>,
    },
    /// The file is gzip-compressed and `dl` was built without its `gzip`
    /// feature (on by default).
    #[error(
        "{}: the file is gzip-compressed and dl was built without the `gzip` feature: enable it or decompress the file",
        .path.display()
    )]
    GzipDisabled {
        /// The file concerned.
        path: PathBuf,
    },
    /// The gzip stream is corrupt (bad deflate data, bad checksum).
    #[error("{}: corrupt gzip stream: {source}", .path.display())]
    Gzip {
        /// The file concerned.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The file does not start with the expected magic number.
    #[error("{}: bad magic number {found:#010x}, expected {expected:#010x} ({what})", .path.display())]
    BadMagic {
        /// The file concerned.
        path: PathBuf,
        /// The magic number found.
        found: u32,
        /// The magic number expected.
        expected: u32,
        /// What the expected number stands for.
        what: &'static str,
    },
    /// The file is shorter than its header declares.
    #[error("{}: truncated: {what} needs {expected} bytes, the file holds {got}", .path.display())]
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// What was being read (`header`, `pixel data`).
        what: &'static str,
        /// Bytes needed.
        expected: u64,
        /// Bytes present.
        got: u64,
    },
    /// The file holds more bytes than its header declares.
    #[error("{}: trailing data after the {expected} bytes the header declares", .path.display())]
    TrailingData {
        /// The file concerned.
        path: PathBuf,
        /// Bytes the header declares.
        expected: u64,
    },
    /// Dimensions that must agree do not (image and label counts, image
    /// sizes).
    #[error("{}: dimension mismatch: {msg}", .path.display())]
    DimensionMismatch {
        /// The file concerned.
        path: PathBuf,
        /// What disagrees with what.
        msg: String,
    },
    /// A declared size is impossible or absurd (zero-sized images, more data
    /// than the file can hold).
    #[error("{}: absurd size: {msg}", .path.display())]
    AbsurdSize {
        /// The file concerned.
        path: PathBuf,
        /// What is absurd.
        msg: String,
    },
    /// A line of a CSV file cannot be parsed.
    #[error("{}:{line}: {msg}", .path.display())]
    BadCsvLine {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        msg: String,
    },
    /// A label is not below the number of classes.
    #[error("{}label {label} of sample {index} is out of range 0..{num_classes}", at(.path))]
    LabelOutOfRange {
        /// The file concerned (`None` for data built in memory).
        path: Option<PathBuf>,
        /// Index of the sample.
        index: usize,
        /// The label.
        label: usize,
        /// The number of classes.
        num_classes: usize,
    },
    /// In-memory data that does not form a data set (length not a multiple
    /// of the sample length, index out of range, zero classes).
    #[error("invalid data set: {msg}")]
    InvalidDataset {
        /// What is wrong.
        msg: String,
    },
    /// A batch size of zero was requested.
    #[error("batch size must be at least 1, got 0")]
    ZeroBatchSize,
    /// A [`Sampler`](super::Sampler) returned an index past the data set
    /// or a different number of indices than it announced.
    #[error("the sampler is inconsistent with the data set of {len} samples: {msg}")]
    Sampler {
        /// Samples in the data set.
        len: usize,
        /// What is wrong.
        msg: String,
    },
    /// The tensor shape asked for does not hold one sample of the data set.
    #[error("shape {shape:?} holds {expected} elements per sample, but the data set's samples have {got}")]
    SampleLenMismatch {
        /// The per-sample shape requested.
        shape: Vec<usize>,
        /// Elements of that shape.
        expected: usize,
        /// Elements per sample of the data set.
        got: usize,
    },
    /// The loader's background thread could not be started.
    #[error("cannot start the data loader thread: {source}")]
    Spawn {
        /// The error of `std::thread::Builder::spawn`.
        source: std::io::Error,
    },
    /// A transform cannot run on the loader's images.
    #[error("transform cannot run on images of dims {dims:?}: {msg}")]
    Transform {
        /// `[C, H, W]` given to the loader.
        dims: [usize; 3],
        /// What the transform rejected.
        msg: String,
    },
}

fn at(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

impl DataError {
    /// [`DataError::MissingDir`] for `dir`, naming the current directory
    /// (with a hint where `dir` looks like one of the repository's data
    /// directories, such as `data/mnist`).
    pub fn missing_dir(dir: &Path) -> Self {
        let hint = if dir.is_relative() && dir.components().any(|c| c.as_os_str() == "data") {
            "; the data sets ship in the dl repository's `data/` folder: copy them here or give their absolute path"
                .to_string()
        } else {
            String::new()
        };
        DataError::MissingDir {
            dir: dir.to_path_buf(),
            cwd: std::env::current_dir().ok(),
            hint,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

dl_core::debug_as_display!(DataError);
