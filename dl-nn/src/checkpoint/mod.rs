//! Checkpoints: a model's parameters and buffers (and optionally an
//! optimizer's state) in a safetensors file that PyTorch reads and writes.
//!
//! Names are the [`Module::visit`] names, which are PyTorch `state_dict`
//! names (`conv1.weight`, `bn1.running_mean`), and layouts are PyTorch's
//! (Linear weight `[out, in]`, Conv2d weight `[out_c, in_c, kh, kw]`), so
//! `torch.save`-free interchange works both ways:
//!
//! ```python
//! from safetensors.torch import save_file, load_file
//! model.load_state_dict(load_file("model.safetensors"))   # written by dl
//! save_file(model.state_dict(), "from_torch.safetensors") # read by dl::checkpoint::load
//! ```
//!
//! Tensors are stored in the model's dtype (F32 or F64); loading accepts
//! F32, F64, BF16 and F16 (a mixed-precision or PyTorch `model.half()`
//! checkpoint) and converts (16-bit values are exact in `f32`). Saving is atomic: the file is written to a
//! temporary file of a unique name in the same directory
//! (`.<name>.<pid>.<n>.tmp`, created exclusively, so two processes or
//! threads saving to one path never write into the same temporary file),
//! given the permissions of the file it replaces, flushed to disk, then
//! renamed over `path`: an interrupted or failed save leaves the previous
//! checkpoint intact, and concurrent saves leave one complete file.
//! Loading validates the whole file first (header, duplicate names, dtypes,
//! shapes) and changes the model only when nothing is wrong.
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::{checkpoint, prelude::*};
//! let path = std::env::temp_dir().join(format!("dl-doc-ckpt-{}.safetensors", std::process::id()));
//! let fc = Linear::<3, 2>::init(&Cpu, 0);
//! checkpoint::save(&fc, &path)?;
//! let mut other = Linear::<3, 2>::init(&Cpu, 1);
//! let report = checkpoint::load(&mut other, &path, true)?;
//! assert_eq!(report.loaded, vec!["weight", "bias"]);
//! assert_eq!(other.weight.value_vec(), fc.weight.value_vec());
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), checkpoint::CheckpointError>(())
//! ```

use crate::module::Module;
use crate::optim::Optimizer;
use dl_core::{Backend, DType, Float, RawParam};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of the optimizer's entries in a checkpoint written by
/// [`save_with_optimizer`].
pub const OPTIM_PREFIX: &str = "optim.";
/// Metadata key marking a file written by dl.
pub(crate) const META_FORMAT: &str = "format";
/// Metadata key holding the optimizer's entry names, in `state_dict` order
/// (a JSON array); present only with optimizer state.
const META_OPTIM_NAMES: &str = "dl.optimizer_names";
/// Path shown in errors of in-memory checkpoints.
pub(crate) const MEMORY: &str = "<memory>";

dl_core::debug_as_display!(CheckpointError);

/// Errors of saving and loading checkpoints. Each names the file.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Opening, reading, writing, syncing or renaming failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file ends before its header or its tensor data do, or does not
    /// end where they do.
    #[error("{}: truncated or malformed length: {msg}", .path.display())]
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// What is missing.
        msg: String,
    },
    /// The file is not a valid safetensors file.
    #[error("{}: not a valid safetensors file: {msg}", .path.display())]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The same tensor name appears twice (in the file's header, or among
    /// the model's parameters).
    #[error("{}: duplicate tensor name {name:?}{}", .path.display(), if *.in_model { " in the model" } else { "" })]
    DuplicateName {
        /// The file concerned.
        path: PathBuf,
        /// The repeated name.
        name: String,
        /// Whether the model (not the file) repeats it.
        in_model: bool,
    },
    /// A tensor to load is not F32, F64, BF16 or F16.
    #[error("{}: tensor {name:?} has dtype {dtype}, only F32, F64, BF16 and F16 can be loaded", .path.display())]
    UnsupportedDType {
        /// The file concerned.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype as safetensors names it.
        dtype: String,
    },
    /// Strict loading found names or shapes that differ from the model's;
    /// nothing was loaded.
    #[error("{}: checkpoint does not match the model (nothing loaded): {}", .path.display(), describe(.missing, .unexpected, .mismatched))]
    Mismatch {
        /// Model tensors absent from the file.
        missing: Vec<String>,
        /// File tensors the model does not have.
        unexpected: Vec<String>,
        /// `(name, model dims, file dims)` of tensors whose shapes differ.
        mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
        /// The file concerned.
        path: PathBuf,
    },
    /// The file holds no optimizer state (it was written by [`save`]).
    #[error("{}: the checkpoint holds no optimizer state", .path.display())]
    NoOptimizerState {
        /// The file concerned.
        path: PathBuf,
    },
    /// A sparse tensor of a file written by `prune::save_sparse` is
    /// inconsistent (its mask and values disagree, a part is missing).
    #[error("{}: sparse tensor {name:?}: {msg}", .path.display())]
    Sparse {
        /// The file concerned.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// A finite value does not fit the storage dtype asked for ([`save_as`]
    /// in f16, whose largest finite value is 65504); nothing was written.
    #[error("{}: tensor {name:?} holds {value:e}, beyond the largest finite {dtype:?} ({max}); nothing written", .path.display())]
    OutOfRange {
        /// The file concerned.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The first value out of range.
        value: f64,
        /// The storage dtype.
        dtype: StorageDtype,
        /// Its largest finite value.
        max: f64,
    },
    /// The optimizer's state is inconsistent or was rejected by
    /// [`Optimizer::load_state_dict`].
    #[error("{}: optimizer state: {msg}", .path.display())]
    Optimizer {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

fn describe(missing: &[String], unexpected: &[String], mismatched: &[(String, Vec<usize>, Vec<usize>)]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("unexpected {}", unexpected.join(", ")));
    }
    if !mismatched.is_empty() {
        let m: Vec<String> = mismatched
            .iter()
            .map(|(n, a, b)| format!("{n} (model {a:?}, file {b:?})"))
            .collect();
        parts.push(format!("shape mismatch {}", m.join(", ")));
    }
    parts.join("; ")
}

/// What [`load`] did: names loaded, and what did not match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Model tensors loaded from the file, in visit order.
    pub loaded: Vec<String>,
    /// Model tensors absent from the file (left unchanged).
    pub missing: Vec<String>,
    /// File tensors the model does not have (ignored), sorted.
    pub unexpected: Vec<String>,
    /// `(name, model dims, file dims)` of tensors whose shapes differ (left
    /// unchanged).
    pub mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl LoadReport {
    /// Whether every model tensor was loaded and the file had nothing else.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

pub(crate) type Entry = (String, Dtype, Vec<usize>, Vec<u8>);

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The element type of a checkpoint's tensors ([`save_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageDtype {
    /// 32-bit floats (what [`save`] writes for an `f32` model).
    F32,
    /// 64-bit floats.
    F64,
    /// bfloat16: `f32`'s range with 8 bits of precision; half the size of
    /// F32. PyTorch's `model.to(torch.bfloat16)`.
    Bf16,
    /// IEEE half precision: 11 bits of precision, largest finite 65504.
    /// PyTorch's `model.half()`.
    F16,
}

impl StorageDtype {
    /// The largest finite value (values beyond it are refused, not saved
    /// as infinities).
    pub fn max(self) -> f64 {
        match self {
            StorageDtype::F32 => f64::from(f32::MAX),
            StorageDtype::F64 => f64::MAX,
            StorageDtype::Bf16 => f64::from(dl_core::dtype::half::bf16_to_f32(0x7F7F)),
            StorageDtype::F16 => 65504.0,
        }
    }
}

/// `v` as little-endian `dtype` bytes, each value rounded to nearest (ties
/// to even) once; `Err(value)` for the first finite value that would become
/// an infinity.
pub(crate) fn encode_as<E: Float>(v: &[E], dtype: StorageDtype) -> Result<(Dtype, Vec<u8>), f64> {
    use dl_core::dtype::half::{f64_to_bf16, f64_to_f16};
    for x in v
        .iter()
        .map(|x| x.to_f64())
        .filter(|x| x.is_finite() && x.abs() > dtype.max())
    {
        // Beyond the largest finite value, but it may still round down to it.
        let rounds_to_inf = match dtype {
            StorageDtype::F32 => !(x as f32).is_finite(),
            StorageDtype::F64 => false,
            StorageDtype::Bf16 => f64_to_bf16(x) & 0x7FFF == 0x7F80,
            StorageDtype::F16 => f64_to_f16(x) & 0x7FFF == 0x7C00,
        };
        if rounds_to_inf {
            return Err(x);
        }
    }
    let halves = |to: fn(f64) -> u16| v.iter().flat_map(|x| to(x.to_f64()).to_le_bytes()).collect();
    Ok(match dtype {
        StorageDtype::F32 => (
            Dtype::F32,
            v.iter().flat_map(|x| (x.to_f64() as f32).to_le_bytes()).collect(),
        ),
        StorageDtype::F64 => (Dtype::F64, v.iter().flat_map(|x| x.to_f64().to_le_bytes()).collect()),
        StorageDtype::Bf16 => (Dtype::BF16, halves(f64_to_bf16)),
        StorageDtype::F16 => (Dtype::F16, halves(f64_to_f16)),
    })
}

/// `v` in its own dtype (F32 or F64).
pub(crate) fn encode<E: Float>(v: &[E]) -> (Dtype, Vec<u8>) {
    let own = match E::DTYPE {
        DType::F32 => StorageDtype::F32,
        DType::F64 => StorageDtype::F64,
    };
    encode_as(v, own).expect("a model's own dtype holds its values")
}

/// Decodes F32 / F64 / BF16 / F16 little-endian data (the length was
/// validated by the safetensors parser). BF16 and F16 values are exact in
/// `f32` and `f64`.
///
/// # Errors
/// [`CheckpointError::UnsupportedDType`] for another dtype, naming the
/// entry `name` of the file `path`.
pub(crate) fn decode<T>(
    view: &TensorView<'_>,
    from: impl Fn(f64) -> T,
    path: &Path,
    name: &str,
) -> Result<Vec<T>, CheckpointError> {
    use dl_core::dtype::half::{bf16_to_f32, f16_to_f32};
    let d = view.data();
    let halves = |to_f32: fn(u16) -> f32| -> Vec<T> {
        d.chunks_exact(2)
            .map(|c| from(to_f32(u16::from_le_bytes([c[0], c[1]])) as f64))
            .collect()
    };
    match view.dtype() {
        Dtype::BF16 => Ok(halves(bf16_to_f32)),
        Dtype::F16 => Ok(halves(f16_to_f32)),
        Dtype::F32 => Ok(d
            .chunks_exact(4)
            .map(|c| from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64))
            .collect()),
        Dtype::F64 => Ok(d
            .chunks_exact(8)
            .map(|c| from(f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])))
            .collect()),
        dtype => Err(CheckpointError::UnsupportedDType {
            path: path.to_path_buf(),
            name: name.to_string(),
            dtype: format!("{dtype:?}"),
        }),
    }
}

fn model_entries<B: Backend, E: Float>(
    model: &impl Module<B, E>,
    path: &Path,
    store: Option<StorageDtype>,
) -> Result<Vec<Entry>, CheckpointError> {
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    let mut dup = None;
    let mut out_of_range = None;
    model.visit("", &mut |name, p: &RawParam<B, E>| {
        if !seen.insert(name.to_string()) && dup.is_none() {
            dup = Some(name.to_string());
        }
        let encoded = match store {
            None => Ok(encode(&p.value_vec())),
            Some(store) => encode_as(&p.value_vec(), store),
        };
        match encoded {
            Ok((dtype, bytes)) => entries.push((name.to_string(), dtype, p.dims.clone(), bytes)),
            Err(value) if out_of_range.is_none() => out_of_range = Some((name.to_string(), value)),
            Err(_) => {}
        }
    });
    if let (Some((name, value)), Some(dtype)) = (out_of_range, store) {
        return Err(CheckpointError::OutOfRange {
            path: path.to_path_buf(),
            name,
            value,
            dtype,
            max: dtype.max(),
        });
    }
    if let Some(name) = dup {
        return Err(CheckpointError::DuplicateName {
            path: path.to_path_buf(),
            name,
            in_model: true,
        });
    }
    Ok(entries)
}

pub(crate) fn serialize(
    entries: &[Entry],
    meta: HashMap<String, String>,
    path: &Path,
) -> Result<Vec<u8>, CheckpointError> {
    let fmt = |e: SafeTensorError| CheckpointError::Format {
        path: path.to_path_buf(),
        msg: e.to_string(),
    };
    let mut seen = HashSet::new();
    let mut views = Vec::with_capacity(entries.len());
    for (name, dtype, dims, bytes) in entries {
        if !seen.insert(name.as_str()) {
            return Err(CheckpointError::DuplicateName {
                path: path.to_path_buf(),
                name: name.clone(),
                in_model: true,
            });
        }
        views.push((
            name.as_str(),
            TensorView::new(*dtype, dims.clone(), bytes).map_err(fmt)?,
        ));
    }
    safetensors::serialize(views, &Some(meta)).map_err(fmt)
}

/// The checkpoint of `model` as the bytes of a safetensors file (for
/// in-memory snapshots such as the best model of an early-stopping run).
///
/// # Errors
/// [`CheckpointError::DuplicateName`] when two parameters share a name.
pub fn save_to_bytes<B: Backend, E: Float>(model: &impl Module<B, E>) -> Result<Vec<u8>, CheckpointError> {
    let path = Path::new(MEMORY);
    serialize(&model_entries(model, path, None)?, base_meta(), path)
}

fn base_meta() -> HashMap<String, String> {
    HashMap::from([(META_FORMAT.to_string(), "dl".to_string())])
}

/// Saves `model`'s parameters and buffers to `path`, atomically.
///
/// # Errors
/// [`CheckpointError::Io`] naming the file on any write, sync or rename
/// failure (the previous file at `path` is then unchanged);
/// [`CheckpointError::DuplicateName`] when two parameters share a name.
pub fn save<B: Backend, E: Float>(model: &impl Module<B, E>, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = serialize(&model_entries(model, path, None)?, base_meta(), path)?;
    write_atomic(path, &bytes)
}

/// Saves `model`'s parameters and buffers to `path` in `dtype`, atomically:
/// [`StorageDtype::Bf16`] or [`StorageDtype::F16`] halve an `f32`
/// checkpoint (PyTorch's `model.to(torch.bfloat16)` / `model.half()`;
/// `safetensors.torch.load_file` reads them). Each value is rounded to
/// nearest, ties to even, once; [`load`] converts back exactly (to the
/// rounded values).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// use dl_nn::checkpoint::{load, save_as, StorageDtype};
/// let model = Linear::<4, 2>::init(&Cpu, 0);
/// let path = std::env::temp_dir().join(format!("dl-doc-bf16-{}.safetensors", std::process::id()));
/// save_as(&model, &path, StorageDtype::Bf16)?;
/// let mut back = Linear::<4, 2>::init(&Cpu, 1);
/// load(&mut back, &path, true)?;
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), dl_nn::checkpoint::CheckpointError>(())
/// ```
///
/// # Errors
/// As [`save`], and [`CheckpointError::OutOfRange`] (naming the tensor and
/// the value; nothing is written) when a finite value would become an
/// infinity: beyond 65504 in f16, beyond about 3.39e38 in bf16 and `f32`.
pub fn save_as<B: Backend, E: Float>(
    model: &impl Module<B, E>,
    path: impl AsRef<Path>,
    dtype: StorageDtype,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = serialize(&model_entries(model, path, Some(dtype))?, base_meta(), path)?;
    write_atomic(path, &bytes)
}

/// Saves `model` and `opt`'s [`Optimizer::state_dict`] (as F64 under
/// [`OPTIM_PREFIX`]) to `path`, atomically. [`load`] ignores the optimizer
/// entries; [`load_optimizer`] restores them.
///
/// # Errors
/// As [`save`], and [`CheckpointError::Optimizer`] when a state entry's
/// values do not fill its shape.
pub fn save_with_optimizer<B: Backend, E: Float>(
    model: &impl Module<B, E>,
    opt: &impl Optimizer<B, E>,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let mut entries = model_entries(model, path, None)?;
    let mut names = Vec::new();
    for (name, dims, values) in opt.state_dict() {
        let numel: usize = dims.iter().product();
        if numel != values.len() {
            return Err(CheckpointError::Optimizer {
                path: path.to_path_buf(),
                msg: format!("entry {name:?} has {} values for shape {dims:?}", values.len()),
            });
        }
        let full = format!("{OPTIM_PREFIX}{name}");
        let (dtype, bytes) = encode(&values);
        entries.push((full.clone(), dtype, dims, bytes));
        names.push(full);
    }
    let mut meta = base_meta();
    meta.insert(
        META_OPTIM_NAMES.into(),
        serde_json::to_string(&names).expect("a list of strings serialises"),
    );
    let bytes = serialize(&entries, meta, path)?;
    write_atomic(path, &bytes)
}

/// The steps of [`write_atomic`] at which tests inject a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Sync,
    Rename,
}

/// Writes `bytes` to `path` through a uniquely named temporary file in the
/// same directory: create exclusively, write, copy the old file's
/// permissions, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_atomic_with(path, bytes, |f, b| f.write_all(b), |_| Ok(()))
}

/// A temporary file next to `path` that no other saver uses: the process
/// id and a process-wide counter make the name unique among live savers,
/// and `create_new` refuses a name that exists (a leftover of a crash).
fn create_temp(path: &Path, name: &std::ffi::OsStr) -> Result<(PathBuf, File), CheckpointError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..64 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((tmp, e)),
            Err(e) => return Err(io_err(&tmp)(e)),
        }
    }
    let (tmp, source) = last.expect("the loop ran");
    Err(CheckpointError::Io { path: tmp, source })
}

/// [`write_atomic`] with the data written by `write` and a failure injected
/// by `inject` before a step (tests make the write, sync or rename fail).
fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> std::io::Result<()>,
    inject: impl Fn(Step) -> std::io::Result<()>,
) -> Result<(), CheckpointError> {
    let name = path.file_name().ok_or_else(|| CheckpointError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
    })?;
    let (tmp, mut f) = create_temp(path, name)?;
    let result = (|| {
        write(&mut f, bytes).map_err(io_err(&tmp))?;
        // A replaced checkpoint keeps its permissions (a file made private
        // stays private); a new one gets the process's defaults.
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions()).map_err(io_err(&tmp))?;
        }
        inject(Step::Sync).and_then(|()| f.sync_all()).map_err(io_err(&tmp))?;
        drop(f);
        inject(Step::Rename)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable (best effort: not every platform can
    // open a directory).
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// A parsed checkpoint file.
pub(crate) struct Parsed<'a> {
    pub(crate) path: &'a Path,
    pub(crate) tensors: Vec<(String, TensorView<'a>)>,
    pub(crate) meta: HashMap<String, String>,
}

/// Rejects duplicate keys at the top level of a JSON object.
struct DupCheck(Option<String>);

impl<'de> serde::de::Visitor<'de> for &mut DupCheck {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            map.next_value::<serde::de::IgnoredAny>()?;
            if !seen.insert(k.clone()) && self.0.is_none() {
                self.0 = Some(k);
            }
        }
        Ok(())
    }
}

pub(crate) fn parse<'a>(path: &'a Path, bytes: &'a [u8]) -> Result<Parsed<'a>, CheckpointError> {
    let p = || path.to_path_buf();
    let len = bytes.len() as u64;
    if len < 8 {
        return Err(CheckpointError::Truncated {
            path: p(),
            msg: format!("{len} bytes, shorter than the 8-byte header length"),
        });
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > len - 8 {
        return Err(CheckpointError::Truncated {
            path: p(),
            msg: format!("the header length {n} runs past the end of the file ({len} bytes)"),
        });
    }
    let header = &bytes[8..8 + n as usize];
    if let Ok(text) = std::str::from_utf8(header) {
        let mut check = DupCheck(None);
        let mut de = serde_json::Deserializer::from_str(text);
        if serde::Deserializer::deserialize_map(&mut de, &mut check).is_ok() {
            if let Some(name) = check.0 {
                return Err(CheckpointError::DuplicateName {
                    path: p(),
                    name,
                    in_model: false,
                });
            }
        }
    }
    let map = |e: SafeTensorError| match e {
        SafeTensorError::HeaderTooSmall | SafeTensorError::InvalidHeaderLength => CheckpointError::Truncated {
            path: p(),
            msg: e.to_string(),
        },
        SafeTensorError::MetadataIncompleteBuffer => CheckpointError::Truncated {
            path: p(),
            msg: format!(
                "the tensors' data does not end at the end of the file ({len} bytes): truncated or trailing bytes"
            ),
        },
        e => CheckpointError::Format {
            path: p(),
            msg: format!("{e:?}"),
        },
    };
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(map)?;
    let st = SafeTensors::deserialize(bytes).map_err(map)?;
    let meta = metadata.metadata().clone().unwrap_or_default();
    Ok(Parsed {
        path,
        tensors: st.tensors(),
        meta,
    })
}

impl Parsed<'_> {
    fn optim_names(&self) -> Result<Option<Vec<String>>, CheckpointError> {
        match self.meta.get(META_OPTIM_NAMES) {
            None => Ok(None),
            Some(s) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| CheckpointError::Optimizer {
                    path: self.path.to_path_buf(),
                    msg: format!("bad {META_OPTIM_NAMES} metadata: {e}"),
                }),
        }
    }
}

/// Loads `model`'s parameters and buffers from the safetensors file at
/// `path` (written by [`save`], [`save_with_optimizer`] or PyTorch's
/// `safetensors.torch.save_file(model.state_dict())`).
///
/// With `strict`, any missing, unexpected or mis-shaped tensor is an error
/// and the model is unchanged. Without it, every tensor whose name and
/// shape match is loaded and the report lists the rest. Optimizer entries
/// of a file written by [`save_with_optimizer`] are never "unexpected".
///
/// # Errors
/// [`CheckpointError::Io`], [`CheckpointError::Truncated`],
/// [`CheckpointError::Format`], [`CheckpointError::DuplicateName`],
/// [`CheckpointError::UnsupportedDType`] for a tensor to load that is not
/// F32, F64, BF16 or F16, and in strict mode [`CheckpointError::Mismatch`]. On any
/// error the model is unchanged.
pub fn load<B: Backend, E: Float>(
    model: &mut impl Module<B, E>,
    path: impl AsRef<Path>,
    strict: bool,
) -> Result<LoadReport, CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    load_parsed(model, &parse(path, &bytes)?, strict)
}

/// [`load`] from the bytes of a safetensors file (see [`save_to_bytes`]).
///
/// # Errors
/// As [`load`].
pub fn load_from_bytes<B: Backend, E: Float>(
    model: &mut impl Module<B, E>,
    bytes: &[u8],
    strict: bool,
) -> Result<LoadReport, CheckpointError> {
    load_parsed(model, &parse(Path::new(MEMORY), bytes)?, strict)
}

/// Records that the model visits `name`.
///
/// # Errors
/// [`CheckpointError::DuplicateName`] when it visited `name` before.
pub(crate) fn first_visit(seen: &mut HashSet<String>, path: &Path, name: &str) -> Result<(), CheckpointError> {
    if seen.insert(name.to_string()) {
        Ok(())
    } else {
        Err(CheckpointError::DuplicateName {
            path: path.to_path_buf(),
            name: name.to_string(),
            in_model: true,
        })
    }
}

/// The values of the model's tensor `name` (of shape `dims`) in the file's
/// `tensors`, or `None` after recording it in `missing` (absent) or
/// `mismatched` (of another shape).
///
/// # Errors
/// As [`decode`].
pub(crate) fn read_entry<E: Float>(
    path: &Path,
    tensors: &HashMap<&str, &TensorView<'_>>,
    name: &str,
    dims: &[usize],
    missing: &mut Vec<String>,
    mismatched: &mut Vec<(String, Vec<usize>, Vec<usize>)>,
) -> Result<Option<Vec<E>>, CheckpointError> {
    let Some(view) = tensors.get(name) else {
        missing.push(name.to_string());
        return Ok(None);
    };
    if view.shape() != dims {
        mismatched.push((name.to_string(), dims.to_vec(), view.shape().to_vec()));
        return Ok(None);
    }
    decode(view, E::from_f64, path, name).map(Some)
}

fn load_parsed<B: Backend, E: Float>(
    model: &mut impl Module<B, E>,
    file: &Parsed<'_>,
    strict: bool,
) -> Result<LoadReport, CheckpointError> {
    let path = file.path;
    let optim: HashSet<String> = file.optim_names()?.unwrap_or_default().into_iter().collect();
    let tensors: HashMap<&str, &TensorView<'_>> = file
        .tensors
        .iter()
        .filter(|(n, _)| !optim.contains(n))
        .map(|(n, v)| (n.as_str(), v))
        .collect();
    let mut report = LoadReport::default();
    let mut values: HashMap<String, Vec<E>> = HashMap::new();
    let mut seen = HashSet::new();
    let mut error = None;
    model.visit("", &mut |name, p| {
        if error.is_some() {
            return;
        }
        let read = first_visit(&mut seen, path, name).and_then(|()| {
            read_entry(
                path,
                &tensors,
                name,
                &p.dims,
                &mut report.missing,
                &mut report.mismatched,
            )
        });
        match read {
            Ok(Some(v)) => {
                values.insert(name.to_string(), v);
                report.loaded.push(name.to_string());
            }
            Ok(None) => {}
            Err(e) => error = Some(e),
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    report.unexpected = tensors
        .keys()
        .filter(|n| !seen.contains(**n))
        .map(|n| n.to_string())
        .collect();
    report.unexpected.sort();
    if strict && !report.is_exact() {
        return Err(CheckpointError::Mismatch {
            missing: report.missing,
            unexpected: report.unexpected,
            mismatched: report.mismatched,
            path: path.to_path_buf(),
        });
    }
    model.visit_mut("", &mut |name, p| {
        if let Some(v) = values.remove(name) {
            p.set_value(&v).expect("shape checked against the file");
        }
    });
    Ok(report)
}

/// Restores `opt`'s state from a file written by [`save_with_optimizer`],
/// through [`Optimizer::load_state_dict`] (entries in `state_dict` order),
/// and checks it against `model` ([`Optimizer::validate`]: one state per
/// trainable parameter, of its shape). On any error `opt` keeps the state
/// it had.
///
/// # Errors
/// [`CheckpointError::NoOptimizerState`] for a file without optimizer
/// state, [`CheckpointError::Optimizer`] when an entry is missing, the
/// optimizer rejects the state or the state does not fit `model` (saved
/// for another model), and the file errors of [`load`].
pub fn load_optimizer<B: Backend, E: Float, M: Module<B, E>>(
    opt: &mut impl Optimizer<B, E>,
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    load_optimizer_checked(opt, model, &parse(path, &bytes)?)
}

/// [`load_optimizer`] from the bytes of a safetensors file.
///
/// # Errors
/// As [`load_optimizer`].
pub fn load_optimizer_from_bytes<B: Backend, E: Float, M: Module<B, E>>(
    opt: &mut impl Optimizer<B, E>,
    model: &mut M,
    bytes: &[u8],
) -> Result<(), CheckpointError> {
    load_optimizer_checked(opt, model, &parse(Path::new(MEMORY), bytes)?)
}

/// Loads, validates against `model`, and puts the previous state back on
/// any failure.
fn load_optimizer_checked<B: Backend, E: Float, M: Module<B, E>>(
    opt: &mut impl Optimizer<B, E>,
    model: &mut M,
    file: &Parsed<'_>,
) -> Result<(), CheckpointError> {
    let previous = opt.state_dict();
    let outcome = load_optimizer_parsed(opt, file).and_then(|()| {
        opt.validate(model).map_err(|msg| CheckpointError::Optimizer {
            path: file.path.to_path_buf(),
            msg: format!("the state does not fit this model: {msg}"),
        })
    });
    if outcome.is_err() {
        // `previous` came from this optimizer, so it loads back.
        let _ = opt.load_state_dict(&previous);
    }
    outcome
}

fn load_optimizer_parsed<B: Backend, E: Float>(
    opt: &mut impl Optimizer<B, E>,
    file: &Parsed<'_>,
) -> Result<(), CheckpointError> {
    let path = file.path;
    let names = file.optim_names()?.ok_or_else(|| CheckpointError::NoOptimizerState {
        path: path.to_path_buf(),
    })?;
    let tensors: HashMap<&str, &TensorView<'_>> = file.tensors.iter().map(|(n, v)| (n.as_str(), v)).collect();
    let mut state = Vec::with_capacity(names.len());
    for full in &names {
        let bad = |msg: String| CheckpointError::Optimizer {
            path: path.to_path_buf(),
            msg,
        };
        let name = full
            .strip_prefix(OPTIM_PREFIX)
            .ok_or_else(|| bad(format!("entry {full:?} lacks the {OPTIM_PREFIX:?} prefix")))?;
        let view = tensors
            .get(full.as_str())
            .ok_or_else(|| bad(format!("entry {full:?} is listed but absent")))?;
        let values = decode(view, |v| v, path, full)?;
        state.push((name.to_string(), view.shape().to_vec(), values));
    }
    opt.load_state_dict(&state).map_err(|msg| CheckpointError::Optimizer {
        path: path.to_path_buf(),
        msg,
    })
}

#[cfg(test)]
mod tests;
