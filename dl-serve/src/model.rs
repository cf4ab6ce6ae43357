//! Loading a checkpoint into a fresh network (strict, digest-checked), and
//! the type-erased runner the model thread calls.

use crate::config::hex;
use dl_core::{Cpu, Shape, Tensor};
use dl_nn::checkpoint::{self, CheckpointError, LoadReport};
use dl_nn::{Layer, Module, Network};
use sha2::{Digest, Sha256};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

// `?` out of `main` prints `Error: {e:?}`: the message, not a struct dump.
dl_core::debug_as_display!(LoadError);

/// Why a checkpoint was refused (at start or on reload).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file's SHA-256 is not the expected one.
    #[error("{}: SHA-256 {actual} does not match the expected {expected} ({from})", .path.display())]
    Digest {
        /// The file.
        path: PathBuf,
        /// Expected digest, hex.
        expected: String,
        /// The file's digest, hex.
        actual: String,
        /// Where the expectation came from.
        from: String,
    },
    /// A reload without any digest while `--require-sha256` is on.
    #[error("{}: no SHA-256 given (request \"sha256\", a .sha256 sidecar or --expect-sha256) and --require-sha256 is on", .path.display())]
    DigestRequired {
        /// The file.
        path: PathBuf,
    },
    /// The sidecar `<file>.sha256` is unreadable or malformed.
    #[error("{}: {msg}", .path.display())]
    Sidecar {
        /// The sidecar.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// Not a valid checkpoint, or one that does not match the network
    /// (the message lists missing, unexpected and mis-shaped tensors).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// A network loaded from a checkpoint, ready to serve.
pub struct Loaded<N> {
    /// The network, in evaluation mode.
    pub model: N,
    /// The strict load's report (every tensor loaded).
    pub report: LoadReport,
    /// The file's SHA-256, hex.
    pub sha256: String,
    /// The file.
    pub path: PathBuf,
}

/// Where the expected digest comes from, checked in this order; every one
/// that is present must match.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// From the reload request's `"sha256"`.
    pub request: Option<[u8; 32]>,
    /// `--expect-sha256` (applies when the request gives none).
    pub flag: Option<[u8; 32]>,
    /// `--require-sha256`.
    pub required: bool,
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn sidecar(path: &Path) -> Result<Option<[u8; 32]>, LoadError> {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    let side = PathBuf::from(s);
    match std::fs::read(&side) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LoadError::Io { path: side, source: e }),
        Ok(bytes) if bytes.len() > 4096 => Err(LoadError::Sidecar {
            path: side,
            msg: "larger than 4 KiB".into(),
        }),
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            // `sha256sum` format: the digest, then optionally the file name.
            let first = text.split_whitespace().next().unwrap_or("");
            crate::config::parse_sha256(first)
                .map(Some)
                .map_err(|e| LoadError::Sidecar { path: side, msg: e.0 })
        }
    }
}

/// Reads `path`, checks its digest against `expect` (and a `<path>.sha256`
/// sidecar when one exists), and loads it strictly into a new `N` in
/// evaluation mode. Safetensors files are data only: nothing in the file is
/// executed.
///
/// # Errors
/// [`LoadError`]; nothing is served from a refused file.
pub fn load<N: Network<Cpu, f32>>(path: &Path, expect: &Expect) -> Result<Loaded<N>, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let digest = sha256(&bytes);
    let mut expectations: Vec<([u8; 32], &str)> = Vec::new();
    if let Some(d) = expect.request {
        expectations.push((d, "from the request"));
    } else if let Some(d) = expect.flag {
        expectations.push((d, "from --expect-sha256"));
    }
    if let Some(d) = sidecar(path)? {
        expectations.push((d, "from the .sha256 sidecar"));
    }
    if expect.required && expectations.is_empty() {
        return Err(LoadError::DigestRequired {
            path: path.to_path_buf(),
        });
    }
    for (d, from) in expectations {
        if d != digest {
            return Err(LoadError::Digest {
                path: path.to_path_buf(),
                expected: hex(&d),
                actual: hex(&digest),
                from: from.into(),
            });
        }
    }
    let mut model = <N as Module<Cpu, f32>>::init(&Cpu, 0);
    let report = checkpoint::load_from_bytes(&mut model, &bytes, true).map_err(|e| relabel(e, path))?;
    model.set_training(false);
    Ok(Loaded {
        model,
        report,
        sha256: hex(&digest),
        path: path.to_path_buf(),
    })
}

/// `load_from_bytes` names the file `<memory>`; put the real path back.
fn relabel(e: CheckpointError, path: &Path) -> CheckpointError {
    let msg = e.to_string().replacen("<memory>", &path.display().to_string(), 1);
    match e {
        CheckpointError::Mismatch {
            missing,
            unexpected,
            mismatched,
            ..
        } => CheckpointError::Mismatch {
            missing,
            unexpected,
            mismatched,
            path: path.to_path_buf(),
        },
        CheckpointError::Io { source, .. } => CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        },
        _ => CheckpointError::Format {
            path: path.to_path_buf(),
            msg,
        },
    }
}

/// A model as the model thread sees it: `samples * in_numel` inputs to
/// `samples * out_numel` outputs. A panic inside the network is caught and
/// returned as an error.
pub type Runner = Box<dyn Fn(Vec<f32>, usize) -> Result<Vec<f32>, String> + Send>;

/// Wraps a network into a [`Runner`]; runs on `pool` when given.
pub fn runner<N: Network<Cpu, f32> + Send + Sync + 'static>(
    model: N,
    pool: Option<std::sync::Arc<rayon::ThreadPool>>,
) -> Runner {
    Box::new(move |data: Vec<f32>, samples: usize| {
        let run = || {
            catch_unwind(AssertUnwindSafe(|| -> Result<Vec<f32>, String> {
                let x = Tensor::<N::Input, Cpu, f32>::from_vec(&Cpu, samples, data).map_err(|e| e.to_string())?;
                let y = <N as Layer<N::Input, N::Output, Cpu, f32>>::forward(&model, &x);
                let out = y.to_vec();
                if out.len() != samples * <N::Output as Shape>::NUMEL {
                    return Err(format!(
                        "the network returned {} values for {samples} samples",
                        out.len()
                    ));
                }
                Ok(out)
            }))
            .unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(format!("the network panicked: {msg}"))
            })
        };
        match &pool {
            Some(p) => p.install(run),
            None => run(),
        }
    })
}
