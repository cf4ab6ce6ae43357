//! Per-parameter optimizer state shared by every optimizer: up to three
//! buffers and a step count per trainable parameter, allocated on the first
//! step, with `state_dict` (de)serialisation under PyTorch-like names.
//!
//! Parameters are indexed in [`Module::for_each_param`] order, counting
//! every parameter of kind [`ParamKind::Trainable`] (frozen ones included,
//! as in PyTorch's `model.parameters()`); buffers are not counted. A frozen
//! parameter keeps its index but gets no state until it is unfrozen.

use crate::module::Module;
use dl_core::{Backend, Float, ParamKind, RawParam};

/// The state of one parameter.
#[derive(Debug)]
pub(crate) struct Slot<B: Backend, E: Float> {
    /// Updates applied to this parameter (the `t` of bias corrections).
    pub(crate) step: u64,
    /// Shape of the parameter the state belongs to.
    pub(crate) dims: Vec<usize>,
    /// State buffers; unused ones are empty.
    pub(crate) bufs: [B::Buf<E>; 3],
    /// The device holding them.
    pub(crate) dev: B,
}

/// A state loaded from a state dict, uploaded on the parameter's device at
/// its next step.
#[derive(Clone, Debug)]
pub(crate) struct HostSlot {
    step: u64,
    /// `None` when the layout keeps no buffer (the shape is then the parameter's).
    dims: Option<Vec<usize>>,
    bufs: [Vec<f64>; 3],
}

/// The per-parameter update an optimizer runs in [`States::step`].
pub(crate) type SlotFn<'a, B, E> = dyn FnMut(&mut RawParam<B, E>, &mut Slot<B, E>) + 'a;

/// Which of the three buffers an optimizer uses, their names and initial values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) names: [&'static str; 3],
    pub(crate) used: [bool; 3],
    pub(crate) init: [f64; 3],
}

/// Every parameter's state plus the optimizer's step count.
#[derive(Debug)]
pub(crate) struct States<B: Backend, E: Float> {
    pub(crate) slots: Vec<Option<Slot<B, E>>>,
    loaded: Vec<Option<HostSlot>>,
    pub(crate) steps: u64,
}

impl<B: Backend, E: Float> Default for States<B, E> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            loaded: Vec::new(),
            steps: 0,
        }
    }
}

/// Largest step count a state dict may hold (2^53: every integer up to it
/// is exact in the f64 values of a state dict).
const MAX_STEP: f64 = 9_007_199_254_740_992.0;
/// Parameter indices of a loaded state dict must be below this. State is
/// kept in a vector indexed by parameter, so an index read from a file
/// must not allocate without bound (`state.18446744073709551615.step`
/// would); no real model has this many parameter tensors.
const MAX_PARAM_INDEX: usize = 1 << 16;

fn shape_str(d: &[usize]) -> String {
    format!("{d:?}")
}

impl<B: Backend, E: Float> States<B, E> {
    /// Runs `f` on every trainable, unfrozen parameter with its state
    /// (created on first use, its `step` already incremented).
    ///
    /// # Panics
    /// When a loaded state does not match the parameter's shape (see
    /// [`States::validate`], which reports this as an error).
    pub(crate) fn step<M: Module<B, E>>(&mut self, model: &mut M, layout: Layout, f: &mut SlotFn<'_, B, E>) {
        self.steps += 1;
        let slots = &mut self.slots;
        let loaded = &mut self.loaded;
        let mut index = 0;
        model.for_each_param(&mut |p| {
            if p.kind != ParamKind::Trainable {
                return;
            }
            let i = index;
            index += 1;
            if !p.is_trainable() {
                return;
            }
            if slots.len() <= i {
                slots.resize_with(i + 1, || None);
            }
            let slot = slots[i].get_or_insert_with(|| {
                if let Some(h) = loaded.get_mut(i).and_then(Option::take) {
                    let up = |v: &[f64]| {
                        let e: Vec<E> = v.iter().map(|&x| E::from_f64(x)).collect();
                        p.dev.from_slice(&e)
                    };
                    return Slot {
                        step: h.step,
                        dims: h.dims.unwrap_or_else(|| p.dims.clone()),
                        bufs: [up(&h.bufs[0]), up(&h.bufs[1]), up(&h.bufs[2])],
                        dev: p.dev.clone(),
                    };
                }
                let n = p.numel();
                let mk = |k: usize| {
                    let len = if layout.used[k] { n } else { 0 };
                    let mut b = p.dev.zeros(len);
                    if layout.init[k] != 0.0 {
                        p.dev.fill(&mut b, E::from_f64(layout.init[k]));
                    }
                    b
                };
                Slot {
                    step: 0,
                    dims: p.dims.clone(),
                    bufs: [mk(0), mk(1), mk(2)],
                    dev: p.dev.clone(),
                }
            });
            assert!(
                slot.dims == p.dims,
                "optimizer state {i} has shape {:?} but parameter {i} has shape {:?} \
                 (a state loaded for another model; Optimizer::validate reports this as an error)",
                slot.dims,
                p.dims
            );
            slot.step += 1;
            f(p, slot);
        });
    }

    /// Checks the state against `model`: every state belongs to a
    /// trainable parameter of the same shape.
    pub(crate) fn validate<M: Module<B, E>>(&self, model: &mut M) -> Result<(), String> {
        let mut dims = Vec::new();
        model.for_each_param(&mut |p| {
            if p.kind == ParamKind::Trainable {
                dims.push(p.dims.clone());
            }
        });
        for i in 0..self.slots.len().max(self.loaded.len()) {
            let Some(sdims) = self.dims_of(i) else { continue };
            match dims.get(i) {
                None => {
                    return Err(format!(
                        "optimizer state {i} exists but the model has {} trainable parameters",
                        dims.len()
                    ))
                }
                Some(d) if d != sdims => {
                    return Err(format!(
                        "optimizer state {i} has shape {} but parameter {i} has shape {}",
                        shape_str(sdims),
                        shape_str(d)
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn dims_of(&self, i: usize) -> Option<&[usize]> {
        if let Some(Some(s)) = self.slots.get(i) {
            return Some(&s.dims);
        }
        match self.loaded.get(i) {
            Some(Some(h)) => h.dims.as_deref(),
            _ => None,
        }
    }

    /// `step`, then per parameter `state.<i>.step` and `state.<i>.<buffer>`.
    pub(crate) fn state_dict(&self, layout: Layout) -> Vec<(String, Vec<usize>, Vec<f64>)> {
        let mut out = vec![("step".to_string(), vec![], vec![self.steps as f64])];
        for i in 0..self.slots.len().max(self.loaded.len()) {
            let (step, dims, bufs): (u64, &[usize], [Vec<f64>; 3]) = match (self.slots.get(i), self.loaded.get(i)) {
                (Some(Some(s)), _) => {
                    let down = |b: &B::Buf<E>| s.dev.to_vec(b).iter().map(|v| v.to_f64()).collect();
                    (s.step, &s.dims, [down(&s.bufs[0]), down(&s.bufs[1]), down(&s.bufs[2])])
                }
                (_, Some(Some(h))) => (h.step, h.dims.as_deref().unwrap_or(&[]), h.bufs.clone()),
                _ => continue,
            };
            out.push((format!("state.{i}.step"), vec![], vec![step as f64]));
            for (k, b) in bufs.into_iter().enumerate() {
                if layout.used[k] {
                    out.push((format!("state.{i}.{}", layout.names[k]), dims.to_vec(), b));
                }
            }
        }
        out
    }

    /// Replaces the state with one written by [`States::state_dict`] under
    /// the same layout. Buffers reach the device at the parameter's next step.
    pub(crate) fn load(&mut self, layout: Layout, state: &[(String, Vec<usize>, Vec<f64>)]) -> Result<(), String> {
        let mut steps = None;
        // (step, dims, buffers as host values)
        type Pending = (Option<u64>, Option<Vec<usize>>, [Option<Vec<f64>>; 3]);
        let mut pending: Vec<Pending> = Vec::new();
        for (name, shape, values) in state {
            let numel: usize = shape.iter().product();
            if values.len() != numel {
                return Err(format!(
                    "`{name}`: shape {shape:?} needs {numel} values, got {}",
                    values.len()
                ));
            }
            let as_step = |v: &[f64]| -> Result<u64, String> {
                match v {
                    // Above 2^53 an f64 no longer holds every integer, and a
                    // count near u64::MAX would overflow at the next step.
                    [s] if *s >= 0.0 && s.fract() == 0.0 && *s <= MAX_STEP => Ok(*s as u64),
                    _ => Err(format!("`{name}`: a step count must be one integer in 0..=2^53")),
                }
            };
            if name == "step" {
                steps = Some(as_step(values)?);
                continue;
            }
            let rest = name
                .strip_prefix("state.")
                .ok_or_else(|| format!("unknown optimizer state entry `{name}`"))?;
            let (idx, field) = rest
                .split_once('.')
                .ok_or_else(|| format!("unknown optimizer state entry `{name}`"))?;
            let i: usize = idx
                .parse()
                .ok()
                .filter(|&i| i < MAX_PARAM_INDEX)
                .ok_or_else(|| format!("`{name}`: `{idx}` is not a parameter index below {MAX_PARAM_INDEX}"))?;
            if pending.len() <= i {
                pending.resize_with(i + 1, || (None, None, [None, None, None]));
            }
            let slot = &mut pending[i];
            if field == "step" {
                slot.0 = Some(as_step(values)?);
                continue;
            }
            let k = (0..3)
                .find(|&k| layout.names[k] == field)
                .ok_or_else(|| format!("unknown optimizer state entry `{name}`"))?;
            if !layout.used[k] {
                return Err(format!("`{name}`: this optimizer's configuration keeps no `{field}`"));
            }
            match &slot.1 {
                Some(d) if d != shape => {
                    return Err(format!(
                        "`{name}`: shape {shape:?} differs from the other state of parameter {i} ({d:?})"
                    ))
                }
                _ => slot.1 = Some(shape.clone()),
            }
            slot.2[k] = Some(values.clone());
        }
        let steps = steps.ok_or("optimizer state has no `step` entry")?;
        let mut slots = Vec::with_capacity(pending.len());
        for (i, (step, dims, bufs)) in pending.into_iter().enumerate() {
            if step.is_none() && dims.is_none() {
                slots.push(None);
                continue;
            }
            let step = step.ok_or_else(|| format!("missing `state.{i}.step`"))?;
            let mut out: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
            for k in 0..3 {
                if !layout.used[k] {
                    continue;
                }
                out[k] = bufs[k]
                    .clone()
                    .ok_or_else(|| format!("missing `state.{i}.{}`", layout.names[k]))?;
            }
            slots.push(Some(HostSlot { step, dims, bufs: out }));
        }
        self.slots.clear();
        self.loaded = slots;
        self.steps = steps;
        Ok(())
    }
}
