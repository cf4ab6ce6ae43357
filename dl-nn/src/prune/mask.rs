//! Which tensors are pruned ([`Selection`], [`Scope`]), the masks
//! ([`PruningMasks`]) and magnitude pruning ([`magnitude_prune`]).

use super::PruneError;
use crate::module::Module;
use crate::optim::Optimizer;
use dl_core::ops::binary::{BinaryDims, BinaryOp};
use dl_core::{Backend, Float, ParamKind, RawParam};

/// How a target sparsity is spread over the selected tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One magnitude threshold over all selected weights together (PyTorch
    /// `prune.global_unstructured`): layers with many small weights lose
    /// more of them.
    #[default]
    Global,
    /// Every selected tensor pruned to the same sparsity (PyTorch
    /// `prune.l1_unstructured` on each module).
    PerLayer,
}

/// Which parameters are pruned, by `state_dict` name.
///
/// The default ([`Selection::weights`]) is every trainable parameter of
/// rank >= 2: the weights of Linear, Conv2d (and Conv1d, Embedding,
/// attention projections); biases, norms and buffers stay dense.
///
/// ```
/// use dl_nn::prune::Selection;
/// let s = Selection::weights().exclude(["fc2.weight"]); // keep the classifier dense
/// let t = Selection::names(["conv2.weight", "fc1.weight"]);
/// # let _ = (s, t);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    names: Option<Vec<String>>,
    exclude: Vec<String>,
}

impl Selection {
    /// Every trainable parameter of rank >= 2.
    pub fn weights() -> Self {
        Self::default()
    }
    /// Exactly these parameters (each must exist and be trainable).
    pub fn names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            names: Some(names.into_iter().map(Into::into).collect()),
            exclude: Vec::new(),
        }
    }
    /// Leaves these parameters out (each must exist).
    pub fn exclude<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude.extend(names.into_iter().map(Into::into));
        self
    }

    /// Whether the parameter `name` is selected (without the existence
    /// checks of the listed names).
    pub fn selects<B: Backend, E: Float>(&self, name: &str, p: &RawParam<B, E>) -> bool {
        let chosen = match &self.names {
            Some(list) => list.iter().any(|n| n == name),
            None => p.kind == ParamKind::Trainable && p.dims.len() >= 2 && p.numel() > 0,
        };
        chosen && !self.exclude.iter().any(|n| n == name)
    }

    /// The selected parameters of `model`: `(position in visit order,
    /// trainable index, name, dims)`.
    fn resolve<B: Backend, E: Float>(&self, model: &impl Module<B, E>) -> Result<Vec<Slot>, PruneError> {
        let mut out = Vec::new();
        let mut all = Vec::new();
        let mut bad = None;
        let (mut pos, mut trainable) = (0usize, 0usize);
        model.visit("", &mut |name, p| {
            all.push(name.to_string());
            if self.selects(name, p) {
                if p.kind != ParamKind::Trainable {
                    bad.get_or_insert_with(|| PruneError::NotPrunable {
                        name: name.to_string(),
                        reason: "it is a buffer, not a trainable parameter".into(),
                    });
                } else if p.numel() == 0 {
                    bad.get_or_insert_with(|| PruneError::NotPrunable {
                        name: name.to_string(),
                        reason: "it has no element".into(),
                    });
                }
                out.push(Slot {
                    position: pos,
                    train_index: trainable,
                    name: name.to_string(),
                    dims: p.dims.clone(),
                });
            }
            if p.kind == ParamKind::Trainable {
                trainable += 1;
            }
            pos += 1;
        });
        if let Some(e) = bad {
            return Err(e);
        }
        for n in self.names.iter().flatten().chain(&self.exclude) {
            if !all.contains(n) {
                return Err(PruneError::UnknownParam { name: n.clone() });
            }
        }
        if out.is_empty() {
            return Err(PruneError::InvalidConfig(
                "the selection holds no parameter of the model".into(),
            ));
        }
        Ok(out)
    }
}

/// Where a selected parameter sits in its model.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    /// Index in [`Module::visit`] / [`Module::for_each_param`] order.
    pub(crate) position: usize,
    /// Index among trainable parameters (the optimizers' state index).
    pub(crate) train_index: usize,
    pub(crate) name: String,
    pub(crate) dims: Vec<usize>,
}

/// One masked tensor.
struct Entry<B: Backend, E: Float> {
    slot: Slot,
    keep: Vec<bool>,
    kept: usize,
    /// `keep` as 0/1 values on the parameter's device.
    dev_mask: B::Buf<E>,
    /// Product buffer, swapped with the masked one.
    scratch: B::Buf<E>,
    dev: B,
}

impl<B: Backend, E: Float> Entry<B, E> {
    fn new(slot: Slot, keep: Vec<bool>, dev: &B) -> Self {
        let kept = keep.iter().filter(|k| **k).count();
        let ones: Vec<E> = keep.iter().map(|&k| if k { E::ONE } else { E::ZERO }).collect();
        Self {
            dev_mask: dev.from_slice(&ones),
            scratch: dev.zeros(keep.len()),
            slot,
            keep,
            kept,
            dev: dev.clone(),
        }
    }
    fn upload(&mut self) {
        self.kept = self.keep.iter().filter(|k| **k).count();
        let ones: Vec<E> = self.keep.iter().map(|&k| if k { E::ONE } else { E::ZERO }).collect();
        self.dev.write(&mut self.dev_mask, &ones);
    }
    /// `buf *= mask` on the device.
    fn multiply(&mut self, buf: &mut B::Buf<E>) {
        let n = self.keep.len();
        if self.dev.len(buf) != n {
            return;
        }
        let d = BinaryDims {
            outer: 1,
            inner: n,
            broadcast_b: false,
        };
        self.dev
            .binary_forward(BinaryOp::Mul, d, buf, &self.dev_mask, &mut self.scratch);
        std::mem::swap(buf, &mut self.scratch);
    }
}

/// The pruning masks of a model: for each selected tensor, which elements
/// are kept. Masks only grow: a pruned weight stays pruned.
///
/// Use in a hand-written loop (or let [`super::Pruned`] do it):
/// 1. [`PruningMasks::mask_grads`] after `backward` (a pruned weight gets
///    no gradient),
/// 2. `opt.step(&mut model)`,
/// 3. [`PruningMasks::mask_weights`] (a pruned weight is exactly zero
///    whatever the optimizer did),
///
/// and [`PruningMasks::zero_optimizer_state`] once after each pruning
/// (momentum and moment estimates at pruned positions become zero, so the
/// optimizer's update there is zero too).
pub struct PruningMasks<B: Backend, E: Float> {
    entries: Vec<Entry<B, E>>,
}

impl<B: Backend, E: Float> std::fmt::Debug for PruningMasks<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for e in &self.entries {
            m.entry(&e.slot.name, &format_args!("{}/{} kept", e.kept, e.keep.len()));
        }
        m.finish()
    }
}

impl<B: Backend, E: Float> PruningMasks<B, E> {
    /// Masks that keep every element of the tensors `selection` picks.
    ///
    /// # Errors
    /// [`PruneError::UnknownParam`] for a listed name the model lacks,
    /// [`PruneError::NotPrunable`] for a selected buffer,
    /// [`PruneError::InvalidConfig`] when nothing is selected.
    pub fn new<M: Module<B, E>>(model: &M, selection: &Selection) -> Result<Self, PruneError> {
        Self::build(model, selection, |_, _| true)
    }

    /// Masks that keep exactly the non-zero elements of the selected
    /// tensors (for a model pruned earlier and saved densely).
    ///
    /// # Errors
    /// As [`PruningMasks::new`].
    pub fn from_zeros<M: Module<B, E>>(model: &M, selection: &Selection) -> Result<Self, PruneError> {
        Self::build(model, selection, |_, v| v != E::ZERO)
    }

    fn build<M: Module<B, E>>(
        model: &M,
        selection: &Selection,
        keep: impl Fn(usize, E) -> bool,
    ) -> Result<Self, PruneError> {
        let slots = selection.resolve(model)?;
        let mut entries = Vec::with_capacity(slots.len());
        let mut next = 0;
        let mut pos = 0;
        model.visit("", &mut |_, p| {
            if next < slots.len() && slots[next].position == pos {
                let k: Vec<bool> = p.value_vec().into_iter().enumerate().map(|(i, v)| keep(i, v)).collect();
                entries.push(Entry::new(slots[next].clone(), k, &p.dev));
                next += 1;
            }
            pos += 1;
        });
        Ok(Self { entries })
    }

    /// Masks from explicit keep flags (the sparse checkpoint loader).
    pub(crate) fn from_parts(parts: Vec<(Slot, Vec<bool>, B)>) -> Self {
        Self {
            entries: parts.into_iter().map(|(s, k, dev)| Entry::new(s, k, &dev)).collect(),
        }
    }

    /// Number of masked tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether no tensor is masked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The masked tensors' names, in the model's visit order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.slot.name.as_str())
    }
    /// The keep flags of tensor `name` (row-major, `true` = kept).
    pub fn mask(&self, name: &str) -> Option<&[bool]> {
        self.entries
            .iter()
            .find(|e| e.slot.name == name)
            .map(|e| e.keep.as_slice())
    }
    /// Elements in the masked tensors.
    pub fn num_selected(&self) -> usize {
        self.entries.iter().map(|e| e.keep.len()).sum()
    }
    /// Pruned elements in the masked tensors.
    pub fn num_pruned(&self) -> usize {
        self.entries.iter().map(|e| e.keep.len() - e.kept).sum()
    }
    /// Fraction of the masked tensors' elements that are pruned.
    pub fn sparsity(&self) -> f64 {
        let n = self.num_selected();
        if n == 0 {
            0.0
        } else {
            self.num_pruned() as f64 / n as f64
        }
    }
    /// `(name, sparsity)` of every masked tensor.
    pub fn layer_sparsity(&self) -> Vec<(String, f64)> {
        self.entries
            .iter()
            .map(|e| {
                (
                    e.slot.name.clone(),
                    (e.keep.len() - e.kept) as f64 / e.keep.len() as f64,
                )
            })
            .collect()
    }
    pub(crate) fn slots(&self) -> impl Iterator<Item = (&Slot, &[bool])> {
        self.entries.iter().map(|e| (&e.slot, e.keep.as_slice()))
    }

    /// Checks that the masks belong to `model`: the same names and shapes.
    ///
    /// # Errors
    /// [`PruneError::MasksMismatch`] naming the first difference.
    pub fn check<M: Module<B, E>>(&self, model: &M) -> Result<(), PruneError> {
        let mut pos = 0;
        let mut next = 0;
        let mut err = None;
        model.visit("", &mut |name, p| {
            if let Some(e) = self.entries.get(next) {
                if e.slot.position == pos {
                    if e.slot.name != name || e.slot.dims != p.dims {
                        err.get_or_insert_with(|| {
                            format!(
                                "mask `{}` {:?} meets parameter `{name}` {:?}",
                                e.slot.name, e.slot.dims, p.dims
                            )
                        });
                    }
                    next += 1;
                }
            }
            pos += 1;
        });
        if let Some(e) = self.entries.get(next) {
            err.get_or_insert_with(|| format!("the model has no parameter `{}`", e.slot.name));
        }
        err.map_or(Ok(()), |m| Err(PruneError::MasksMismatch(m)))
    }

    /// Runs `f` on each masked parameter with its entry.
    ///
    /// # Panics
    /// When the masks were built for another model (see [`PruningMasks::check`]).
    fn each(&mut self, model: &mut impl Module<B, E>, mut f: impl FnMut(&mut Entry<B, E>, &mut RawParam<B, E>)) {
        let entries = &mut self.entries;
        let mut pos = 0;
        let mut next = 0;
        model.for_each_param(&mut |p| {
            if let Some(e) = entries.get_mut(next) {
                if e.slot.position == pos {
                    assert!(
                        e.slot.dims == p.dims,
                        "pruning mask `{}` has shape {:?} but parameter {pos} has shape {:?} \
                         (masks of another model; PruningMasks::check reports this as an error)",
                        e.slot.name,
                        e.slot.dims,
                        p.dims
                    );
                    f(e, p);
                    next += 1;
                }
            }
            pos += 1;
        });
        assert!(
            next == entries.len(),
            "the model has fewer parameters than the pruning masks (masks of another model)"
        );
    }

    /// Zeroes the gradient of every pruned element (call after `backward`,
    /// before the optimizer's step). Runs on the parameters' device.
    ///
    /// # Panics
    /// When the masks were built for another model.
    pub fn mask_grads<M: Module<B, E>>(&mut self, model: &mut M) {
        self.each(model, |e, p| e.multiply(&mut p.grad));
    }

    /// Zeroes every pruned weight (call after the optimizer's step).
    ///
    /// # Panics
    /// When the masks were built for another model.
    pub fn mask_weights<M: Module<B, E>>(&mut self, model: &mut M) {
        self.each(model, |e, p| e.multiply(&mut p.value));
    }

    /// Sets every pruned weight to exactly `+0.0` (through the host).
    fn write_zeros<M: Module<B, E>>(&mut self, model: &mut M) {
        self.each(model, |e, p| {
            let mut v = p.value_vec();
            for (x, &k) in v.iter_mut().zip(&e.keep) {
                if !k {
                    *x = E::ZERO;
                }
            }
            p.dev.write(&mut p.value, &v);
        });
    }

    /// Zeroes `opt`'s per-element state (momentum buffers, Adam's moment
    /// estimates, RMSprop's square averages, ...) at the pruned positions,
    /// through [`Optimizer::state_dict`] and [`Optimizer::load_state_dict`].
    /// With the gradients masked, the optimizer's update at a pruned
    /// position is then exactly zero. Call after each pruning.
    ///
    /// # Errors
    /// [`PruneError::OptimizerState`] when the optimizer rejects its own
    /// edited state (it keeps its old state then).
    pub fn zero_optimizer_state<O: Optimizer<B, E>>(&self, opt: &mut O) -> Result<(), PruneError> {
        let mut state = opt.state_dict();
        let mut touched = false;
        for (name, dims, values) in &mut state {
            let Some((idx, field)) = name.strip_prefix("state.").and_then(|r| r.split_once('.')) else {
                continue;
            };
            if field == "step" {
                continue;
            }
            let Ok(i) = idx.parse::<usize>() else { continue };
            let Some(e) = self.entries.iter().find(|e| e.slot.train_index == i) else {
                continue;
            };
            if *dims != e.slot.dims || values.len() != e.keep.len() {
                continue;
            }
            for (v, &k) in values.iter_mut().zip(&e.keep) {
                if !k {
                    *v = 0.0;
                }
            }
            touched = true;
        }
        if touched {
            opt.load_state_dict(&state).map_err(PruneError::OptimizerState)?;
        }
        Ok(())
    }

    /// Prunes more: the smallest-magnitude kept weights are pruned until
    /// the masked tensors reach `sparsity` (over all of them for
    /// [`Scope::Global`], per tensor for [`Scope::PerLayer`]), and the
    /// model's pruned weights are set to zero. Already pruned weights stay
    /// pruned (a lower target than the current sparsity prunes nothing).
    /// The number pruned is `round(sparsity * n)`, as in PyTorch; ties are
    /// broken by position, so the result is deterministic.
    ///
    /// # Errors
    /// [`PruneError::InvalidConfig`] for a sparsity outside `[0, 1]`,
    /// [`PruneError::MasksMismatch`] for masks of another model.
    pub fn prune<M: Module<B, E>>(&mut self, model: &mut M, sparsity: f64, scope: Scope) -> Result<(), PruneError> {
        check_sparsity("sparsity", sparsity)?;
        self.check(model)?;
        // Magnitudes, with the already pruned elements first (-1).
        let mut mags: Vec<Vec<f64>> = Vec::with_capacity(self.entries.len());
        self.each(model, |e, p| {
            let v = p.value_vec();
            mags.push(
                v.iter()
                    .zip(&e.keep)
                    .map(|(x, &k)| if k { x.to_f64().abs() } else { -1.0 })
                    .collect(),
            );
        });
        match scope {
            Scope::Global => {
                let n: usize = mags.iter().map(Vec::len).sum();
                let k = target_count(sparsity, n).max(self.num_pruned());
                let mut all: Vec<(f64, u32, u32)> = Vec::with_capacity(n);
                for (t, m) in mags.iter().enumerate() {
                    all.extend(m.iter().enumerate().map(|(i, &v)| (v, t as u32, i as u32)));
                }
                for (_, t, i) in smallest(&mut all, k) {
                    self.entries[*t as usize].keep[*i as usize] = false;
                }
            }
            Scope::PerLayer => {
                for (e, m) in self.entries.iter_mut().zip(&mags) {
                    let k = target_count(sparsity, m.len()).max(e.keep.len() - e.kept);
                    let mut all: Vec<(f64, u32, u32)> = m.iter().enumerate().map(|(i, &v)| (v, 0, i as u32)).collect();
                    for (_, _, i) in smallest(&mut all, k) {
                        e.keep[*i as usize] = false;
                    }
                }
            }
        }
        self.entries.iter_mut().for_each(Entry::upload);
        self.write_zeros(model);
        Ok(())
    }
}

/// `round(s * n)`, at most `n`.
fn target_count(s: f64, n: usize) -> usize {
    ((s * n as f64).round() as usize).min(n)
}

/// The `k` smallest of `v` by (magnitude, tensor, index); NaN magnitudes
/// count as the largest.
fn smallest(v: &mut [(f64, u32, u32)], k: usize) -> &[(f64, u32, u32)] {
    if k == 0 {
        return &[];
    }
    if k < v.len() {
        v.select_nth_unstable_by(k - 1, |a, b| {
            a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
        });
    }
    &v[..k.min(v.len())]
}

pub(crate) fn check_sparsity(what: &str, s: f64) -> Result<(), PruneError> {
    if (0.0..=1.0).contains(&s) {
        Ok(())
    } else {
        Err(PruneError::InvalidConfig(format!("{what} must be in [0, 1], got {s}")))
    }
}

/// Prunes the `sparsity` fraction of smallest-magnitude weights of the
/// tensors `selection` picks (see [`Scope`]), sets them to zero in `model`
/// and returns the masks.
///
/// # Errors
/// As [`PruningMasks::new`] and [`PruningMasks::prune`].
pub fn magnitude_prune<M: Module<B, E>, B: Backend, E: Float>(
    model: &mut M,
    selection: &Selection,
    sparsity: f64,
    scope: Scope,
) -> Result<PruningMasks<B, E>, PruneError> {
    check_sparsity("sparsity", sparsity)?;
    let mut masks = PruningMasks::new(model, selection)?;
    masks.prune(model, sparsity, scope)?;
    Ok(masks)
}

/// The fraction of exact zeros among the elements of the tensors
/// `selection` picks (what a sparse checkpoint saves on).
///
/// # Errors
/// As [`PruningMasks::new`].
pub fn measured_sparsity<M: Module<B, E>, B: Backend, E: Float>(
    model: &M,
    selection: &Selection,
) -> Result<f64, PruneError> {
    let slots = selection.resolve(model)?;
    let (mut zeros, mut total) = (0usize, 0usize);
    model.visit("", &mut |name, p| {
        if slots.iter().any(|s| s.name == name) {
            let v = p.value_vec();
            total += v.len();
            zeros += v.iter().filter(|x| **x == E::ZERO).count();
        }
    });
    Ok(if total == 0 { 0.0 } else { zeros as f64 / total as f64 })
}
