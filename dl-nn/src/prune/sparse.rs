//! The sparse checkpoint: a safetensors file in which each masked tensor
//! is stored as a bitmask plus its kept values.
//!
//! Layout: for a masked tensor `conv2.weight` of `n` elements,
//! * `conv2.weight#mask`: `U8 [ceil(n / 8)]`, bit `i % 8` of byte `i / 8`
//!   set when element `i` (row-major) is kept (unused high bits zero);
//! * `conv2.weight#values`: the kept elements in row-major order, in the
//!   model's dtype (F32 or F64), shape `[kept]`;
//!
//! every other tensor is stored densely under its name, as
//! [`checkpoint::save`](crate::checkpoint::save) does. The header's
//! metadata has `format = dl-sparse` and `dl.sparse`, a JSON object
//! mapping each masked tensor's name to its shape. At 90% sparsity an F32
//! tensor takes `0.1 * 4 + 1 / 8 = 0.525` bytes per element instead of 4
//! (7.6x smaller). A kept weight that happens to be zero is stored as a
//! value, so loading restores the masks exactly, not just the non-zeros.

use super::mask::{PruningMasks, Slot};
use crate::checkpoint::{
    decode, encode, first_visit, io_err, parse, read_entry, serialize, write_atomic, CheckpointError, Entry, Parsed,
    MEMORY, META_FORMAT,
};
use crate::module::Module;
use dl_core::{Backend, Float, ParamKind};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// `format` metadata value of a sparse checkpoint.
const FORMAT: &str = "dl-sparse";
/// Metadata key of the masked tensors' shapes.
const META_SPARSE: &str = "dl.sparse";
const MASK_SUFFIX: &str = "#mask";
const VALUES_SUFFIX: &str = "#values";

fn sparse_err(path: &Path, name: &str, msg: impl Into<String>) -> CheckpointError {
    CheckpointError::Sparse {
        path: path.to_path_buf(),
        name: name.to_string(),
        msg: msg.into(),
    }
}

fn entries<M: Module<B, E>, B: Backend, E: Float>(
    model: &M,
    masks: &PruningMasks<B, E>,
    path: &Path,
) -> Result<(Vec<Entry>, HashMap<String, String>), CheckpointError> {
    masks
        .check(model)
        .map_err(|e| sparse_err(path, masks.names().next().unwrap_or(""), e.to_string()))?;
    let by_name: HashMap<&str, &[bool]> = masks.slots().map(|(s, k)| (s.name.as_str(), k)).collect();
    let mut out = Vec::new();
    let mut shapes = BTreeMap::new();
    model.visit("", &mut |name, p| {
        let v = p.value_vec();
        match by_name.get(name) {
            Some(keep) => {
                let mut bits = vec![0u8; keep.len().div_ceil(8)];
                let mut kept = Vec::with_capacity(keep.iter().filter(|k| **k).count());
                for (i, (&k, &x)) in keep.iter().zip(&v).enumerate() {
                    if k {
                        bits[i / 8] |= 1 << (i % 8);
                        kept.push(x);
                    }
                }
                let (dtype, bytes) = encode(&kept);
                out.push((format!("{name}{VALUES_SUFFIX}"), dtype, vec![kept.len()], bytes));
                out.push((format!("{name}{MASK_SUFFIX}"), Dtype::U8, vec![bits.len()], bits));
                shapes.insert(name.to_string(), p.dims.clone());
            }
            None => {
                let (dtype, bytes) = encode(&v);
                out.push((name.to_string(), dtype, p.dims.clone(), bytes));
            }
        }
    });
    let meta = HashMap::from([
        (META_FORMAT.to_string(), FORMAT.to_string()),
        (
            META_SPARSE.to_string(),
            serde_json::to_string(&shapes).expect("a map of shapes serialises"),
        ),
    ]);
    Ok((out, meta))
}

/// The sparse checkpoint of `model` with `masks` as the bytes of a
/// safetensors file. Pruned positions are not stored: they load as zero.
///
/// # Errors
/// [`CheckpointError::Sparse`] when the masks belong to another model,
/// [`CheckpointError::DuplicateName`] when two parameters share a name.
pub fn sparse_to_bytes<M: Module<B, E>, B: Backend, E: Float>(
    model: &M,
    masks: &PruningMasks<B, E>,
) -> Result<Vec<u8>, CheckpointError> {
    let path = Path::new(MEMORY);
    let (e, meta) = entries(model, masks, path)?;
    serialize(&e, meta, path)
}

/// Saves `model` with `masks` as a sparse checkpoint at `path`, atomically
/// (as [`checkpoint::save`](crate::checkpoint::save)).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// use dl_nn::prune::{load_sparse, magnitude_prune, save_sparse, Scope, Selection};
/// let path = std::env::temp_dir().join(format!("dl-doc-sparse-{}.safetensors", std::process::id()));
/// let mut fc = Linear::<64, 32>::init(&Cpu, 0);
/// let masks = magnitude_prune(&mut fc, &Selection::weights(), 0.9, Scope::Global)?;
/// save_sparse(&fc, &masks, &path)?;
/// let mut other = Linear::<64, 32>::init(&Cpu, 1);
/// let loaded = load_sparse(&mut other, &path)?;
/// assert_eq!(other.weight.value_vec(), fc.weight.value_vec());
/// assert_eq!(loaded.mask("weight"), masks.mask("weight"));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`sparse_to_bytes`], and [`CheckpointError::Io`] naming the file.
pub fn save_sparse<M: Module<B, E>, B: Backend, E: Float>(
    model: &M,
    masks: &PruningMasks<B, E>,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let (e, meta) = entries(model, masks, path)?;
    write_atomic(path, &serialize(&e, meta, path)?)
}

/// Loads a sparse checkpoint written by [`save_sparse`] into `model` and
/// returns its masks (ready for [`PruningMasks::mask_grads`] or
/// [`super::Pruned::with_masks`]). Loading is strict: every tensor of the
/// model must be in the file with its shape, and nothing else; on any
/// error the model is unchanged.
///
/// # Errors
/// The file errors of [`checkpoint::load`](crate::checkpoint::load)
/// ([`CheckpointError::Io`], `Truncated`, `Format`, `DuplicateName`,
/// `UnsupportedDType`, `Mismatch`), [`CheckpointError::Format`] for a
/// file that is not a sparse checkpoint, and [`CheckpointError::Sparse`]
/// for a masked tensor whose parts are missing or disagree (a mask of the
/// wrong length or dtype, set padding bits, a value count that is not the
/// number of set bits).
pub fn load_sparse<M: Module<B, E>, B: Backend, E: Float>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<PruningMasks<B, E>, CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    load_parsed(model, &parse(path, &bytes)?)
}

/// [`load_sparse`] from the bytes of a file (see [`sparse_to_bytes`]).
///
/// # Errors
/// As [`load_sparse`].
pub fn load_sparse_from_bytes<M: Module<B, E>, B: Backend, E: Float>(
    model: &mut M,
    bytes: &[u8],
) -> Result<PruningMasks<B, E>, CheckpointError> {
    load_parsed(model, &parse(Path::new(MEMORY), bytes)?)
}

/// A masked tensor read from a file: dense values and keep flags.
fn read_sparse<E: Float>(
    path: &Path,
    name: &str,
    n: usize,
    tensors: &HashMap<&str, &TensorView<'_>>,
) -> Result<(Vec<E>, Vec<bool>), CheckpointError> {
    let mask_name = format!("{name}{MASK_SUFFIX}");
    let values_name = format!("{name}{VALUES_SUFFIX}");
    let mask = tensors
        .get(mask_name.as_str())
        .ok_or_else(|| sparse_err(path, name, format!("the file has no `{mask_name}`")))?;
    let values = tensors
        .get(values_name.as_str())
        .ok_or_else(|| sparse_err(path, name, format!("the file has no `{values_name}`")))?;
    let nbytes = n.div_ceil(8);
    if mask.dtype() != Dtype::U8 || mask.shape() != [nbytes] {
        return Err(sparse_err(
            path,
            name,
            format!(
                "the mask is {:?} {:?}, expected U8 [{nbytes}] for {n} elements",
                mask.dtype(),
                mask.shape()
            ),
        ));
    }
    let bits = mask.data();
    if !n.is_multiple_of(8) && bits[nbytes - 1] >> (n % 8) != 0 {
        return Err(sparse_err(path, name, "the mask has bits set past the tensor's end"));
    }
    let keep: Vec<bool> = (0..n).map(|i| bits[i / 8] >> (i % 8) & 1 == 1).collect();
    let kept = keep.iter().filter(|k| **k).count();
    let vals: Vec<E> = decode(values, E::from_f64, path, &values_name)?;
    if values.shape() != [kept] {
        return Err(sparse_err(
            path,
            name,
            format!(
                "the mask keeps {kept} elements but `{values_name}` has shape {:?}",
                values.shape()
            ),
        ));
    }
    let mut dense = vec![E::ZERO; n];
    let mut it = vals.into_iter();
    for (d, &k) in dense.iter_mut().zip(&keep) {
        if k {
            *d = it.next().expect("one value per set bit");
        }
    }
    Ok((dense, keep))
}

fn load_parsed<M: Module<B, E>, B: Backend, E: Float>(
    model: &mut M,
    file: &Parsed<'_>,
) -> Result<PruningMasks<B, E>, CheckpointError> {
    let path = file.path;
    let format_err = |msg: String| CheckpointError::Format {
        path: path.to_path_buf(),
        msg,
    };
    if file.meta.get(META_FORMAT).map(String::as_str) != Some(FORMAT) {
        return Err(format_err(format!(
            "not a sparse checkpoint (no `{META_FORMAT}: {FORMAT}` metadata; a dense file loads with checkpoint::load)"
        )));
    }
    let shapes: BTreeMap<String, Vec<usize>> = serde_json::from_str(
        file.meta
            .get(META_SPARSE)
            .ok_or_else(|| format_err(format!("no `{META_SPARSE}` metadata")))?,
    )
    .map_err(|e| format_err(format!("bad `{META_SPARSE}` metadata: {e}")))?;
    let tensors: HashMap<&str, &TensorView<'_>> = file.tensors.iter().map(|(n, v)| (n.as_str(), v)).collect();

    let mut used: HashSet<String> = HashSet::new();
    let (mut missing, mut mismatched) = (Vec::new(), Vec::new());
    let mut values: Vec<Option<Vec<E>>> = Vec::new();
    let mut parts: Vec<(Slot, Vec<bool>, B)> = Vec::new();
    let mut error: Option<CheckpointError> = None;
    let (mut pos, mut trainable) = (0usize, 0usize);
    let mut seen = HashSet::new();
    model.visit("", &mut |name, p| {
        let position = pos;
        pos += 1;
        let train_index = trainable;
        if p.kind == ParamKind::Trainable {
            trainable += 1;
        }
        values.push(None);
        if error.is_some() {
            return;
        }
        if let Err(e) = first_visit(&mut seen, path, name) {
            error = Some(e);
            return;
        }
        if let Some(dims) = shapes.get(name) {
            used.insert(format!("{name}{MASK_SUFFIX}"));
            used.insert(format!("{name}{VALUES_SUFFIX}"));
            if *dims != p.dims {
                mismatched.push((name.to_string(), p.dims.clone(), dims.clone()));
                return;
            }
            match read_sparse::<E>(path, name, p.numel(), &tensors) {
                Ok((v, keep)) => {
                    values[position] = Some(v);
                    let slot = Slot {
                        position,
                        train_index,
                        name: name.to_string(),
                        dims: p.dims.clone(),
                    };
                    parts.push((slot, keep, p.dev.clone()));
                }
                Err(e) => error = Some(e),
            }
            return;
        }
        if tensors.contains_key(name) {
            used.insert(name.to_string());
        }
        match read_entry(path, &tensors, name, &p.dims, &mut missing, &mut mismatched) {
            Ok(v) => values[position] = v,
            Err(e) => error = Some(e),
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    let mut unexpected: Vec<String> = tensors
        .keys()
        .filter(|n| !used.contains(**n))
        .map(|n| n.to_string())
        .collect();
    // Masked tensors the model lacks.
    unexpected.extend(shapes.keys().filter(|n| !seen.contains(*n)).cloned());
    unexpected.sort();
    unexpected.dedup();
    if !(missing.is_empty() && unexpected.is_empty() && mismatched.is_empty()) {
        return Err(CheckpointError::Mismatch {
            missing,
            unexpected,
            mismatched,
            path: PathBuf::from(path),
        });
    }
    let mut i = 0;
    model.visit_mut("", &mut |_, p| {
        if let Some(v) = values[i].take() {
            p.set_value(&v).expect("shape checked against the file");
        }
        i += 1;
    });
    Ok(PruningMasks::from_parts(parts))
}
