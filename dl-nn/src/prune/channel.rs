//! Structured channel pruning: keep the output channels of Conv2d / Linear
//! layers with the largest L1 norms and copy them into a smaller network.

use super::PruneError;
use crate::module::Module;
use dl_core::{Backend, Float};
use std::collections::HashMap;

/// One pruned layer: `layer`'s output channels (rows of `layer.weight`,
/// entries of `layer.bias`) are ranked and cut; `next` is the layer that
/// reads them (its `next.weight` loses the matching input channels), and
/// `norms` are normalisation layers between the two (BatchNorm: their
/// `weight`, `bias`, `running_mean`, `running_var` lose the same channels).
///
/// `next` may be a Conv2d (input channels are axis 1 of its weight), a
/// Linear after the layer (features), or a Linear after a `Flatten` of the
/// layer's `[C, H, W]` output (each channel owns `H * W` consecutive input
/// features; the block size is found from the shapes).
///
/// ```
/// use dl_nn::prune::ChannelPair;
/// let p = ChannelPair::new("conv1", "conv2").norm("bn1");
/// let q: ChannelPair = ("conv2", "fc1").into();
/// # let _ = (p, q);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelPair {
    /// The layer whose output channels are pruned (`conv1`).
    pub layer: String,
    /// The layer reading its output (`conv2`, `fc1`).
    pub next: String,
    /// Normalisation layers between them (`bn1`).
    pub norms: Vec<String>,
}

impl ChannelPair {
    /// `layer`'s channels, read by `next`.
    pub fn new(layer: impl Into<String>, next: impl Into<String>) -> Self {
        Self {
            layer: layer.into(),
            next: next.into(),
            norms: Vec::new(),
        }
    }
    /// Adds a normalisation layer between the two.
    pub fn norm(mut self, norm: impl Into<String>) -> Self {
        self.norms.push(norm.into());
        self
    }
}

impl<A: Into<String>, B: Into<String>> From<(A, B)> for ChannelPair {
    fn from((layer, next): (A, B)) -> Self {
        Self::new(layer, next)
    }
}

/// What [`prune_channels`] kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelReport {
    /// Per pruned layer: its name and the kept channels' indices in the
    /// source network (ascending).
    pub kept: Vec<(String, Vec<usize>)>,
    /// Per pruned layer: the L1 norms of all its source channels.
    pub norms: Vec<(String, Vec<f64>)>,
}

impl ChannelReport {
    /// The kept channels of `layer`.
    pub fn kept(&self, layer: &str) -> Option<&[usize]> {
        self.kept.iter().find(|(n, _)| n == layer).map(|(_, k)| k.as_slice())
    }
}

/// A host copy of a parameter.
struct Host {
    dims: Vec<usize>,
    values: Vec<f64>,
}

fn host_params<B: Backend, E: Float>(model: &impl Module<B, E>) -> (Vec<String>, HashMap<String, Host>) {
    let mut order = Vec::new();
    let mut map = HashMap::new();
    model.visit("", &mut |name, p| {
        order.push(name.to_string());
        map.insert(
            name.to_string(),
            Host {
                dims: p.dims.clone(),
                values: p.value_vec().iter().map(|v| v.to_f64()).collect(),
            },
        );
    });
    (order, map)
}

fn weight_of<'a>(params: &'a HashMap<String, Host>, layer: &str) -> Result<(String, &'a Host), PruneError> {
    let name = format!("{layer}.weight");
    let w = params
        .get(&name)
        .ok_or(PruneError::UnknownParam { name: name.clone() })?;
    if w.dims.len() < 2 || w.dims[0] == 0 {
        return Err(PruneError::NotPrunable {
            name,
            reason: format!("channel pruning needs a weight of rank >= 2, it has shape {:?}", w.dims),
        });
    }
    Ok((name, w))
}

/// The L1 norm of each output channel of `layer` (row `c` of
/// `layer.weight`, summed over every other axis), as the ranking of
/// [`prune_channels`] computes it.
///
/// # Errors
/// [`PruneError::UnknownParam`] when the model has no `layer.weight`,
/// [`PruneError::NotPrunable`] when it has rank < 2.
pub fn channel_l1_norms<M: Module<B, E>, B: Backend, E: Float>(model: &M, layer: &str) -> Result<Vec<f64>, PruneError> {
    let (_, params) = host_params(model);
    let (_, w) = weight_of(&params, layer)?;
    Ok(l1_rows(w))
}

fn l1_rows(w: &Host) -> Vec<f64> {
    let row = w.values.len() / w.dims[0];
    w.values
        .chunks_exact(row.max(1))
        .map(|r| r.iter().map(|v| v.abs()).sum())
        .collect()
}

/// How a parameter of the source is cut.
#[derive(Clone, Debug, Default)]
struct Cut {
    /// Kept indices along axis 0.
    rows: Option<Vec<usize>>,
    /// Kept channels along axis 1, with the source channel count they index
    /// (axis 1 holds `channels * block` entries).
    cols: Option<(Vec<usize>, usize)>,
}

/// Copies `src` into the smaller `dst`, keeping in each [`ChannelPair`]'s
/// layer the output channels with the largest L1 norms (as many as `dst`'s
/// layer has; ties go to the lower index; the kept channels stay in their
/// order), the matching input channels of its `next` layer and the
/// matching channels of its `norms`. Every other parameter and buffer is
/// copied unchanged, by `state_dict` name.
///
/// `dst` is a network the user declares with `#[network]` (the source's
/// declaration with fewer channels), so its shapes stay checked at compile
/// time; this function checks that each of its tensors has the shape that
/// the kept channels give. Fine-tune `dst` afterwards.
///
/// ```ignore
/// // (compiled and run as tests/pruning.rs `channel_pruning_doc_example`)
/// #[network(input = [1, 12, 12])]
/// struct Big { conv1: Conv2d<1, 8, 3>, bn1: BatchNorm2d<8>, relu1: ReLU, conv2: Conv2d<8, 6, 3>, relu2: ReLU, flat: Flatten, fc: Linear<384, 10> }
/// #[network(input = [1, 12, 12])]
/// struct Small { conv1: Conv2d<1, 4, 3>, bn1: BatchNorm2d<4>, relu1: ReLU, conv2: Conv2d<4, 3, 3>, relu2: ReLU, flat: Flatten, fc: Linear<192, 10> }
/// let big: Big = Big::init(&Cpu, 0);
/// let mut small = Small::init(&Cpu, 0);
/// let pairs = [ChannelPair::new("conv1", "conv2").norm("bn1"), ("conv2", "fc").into()];
/// let report = prune_channels(&big, &mut small, &pairs)?;
/// assert_eq!(report.kept("conv1").unwrap().len(), 4);
/// ```
///
/// # Errors
/// [`PruneError::UnknownParam`] for a layer without a weight,
/// [`PruneError::NotPrunable`] for a weight of rank < 2,
/// [`PruneError::InvalidConfig`] for a layer pruned twice or read by two
/// pairs, [`PruneError::NamesDiffer`] when the two networks' parameter
/// names differ, [`PruneError::ShapeMismatch`] when a destination tensor's
/// shape is not the one the kept channels give. On any error `dst` is
/// unchanged.
pub fn prune_channels<S, D, B, E>(src: &S, dst: &mut D, pairs: &[ChannelPair]) -> Result<ChannelReport, PruneError>
where
    S: Module<B, E>,
    D: Module<B, E>,
    B: Backend,
    E: Float,
{
    let (src_order, src_params) = host_params(src);
    let (dst_order, dst_params) = host_params(&*dst);
    let missing_in_destination: Vec<String> = src_order
        .iter()
        .filter(|n| !dst_params.contains_key(*n))
        .cloned()
        .collect();
    let missing_in_source: Vec<String> = dst_order
        .iter()
        .filter(|n| !src_params.contains_key(*n))
        .cloned()
        .collect();
    if !missing_in_destination.is_empty() || !missing_in_source.is_empty() {
        return Err(PruneError::NamesDiffer {
            missing_in_destination,
            missing_in_source,
        });
    }

    let mut cuts: HashMap<String, Cut> = HashMap::new();
    let mut report = ChannelReport::default();
    for (i, pair) in pairs.iter().enumerate() {
        for other in &pairs[..i] {
            if other.layer == pair.layer {
                return Err(PruneError::InvalidConfig(format!(
                    "layer `{}` is pruned twice",
                    pair.layer
                )));
            }
            if other.next == pair.next {
                return Err(PruneError::InvalidConfig(format!(
                    "layer `{}` is the next layer of two pairs",
                    pair.next
                )));
            }
        }
        let (wname, w) = weight_of(&src_params, &pair.layer)?;
        let channels = w.dims[0];
        let dst_w = &dst_params[&wname];
        let keep = dst_w.dims.first().copied().unwrap_or(0);
        if keep == 0 || keep > channels || dst_w.dims.len() != w.dims.len() {
            let mut expected = w.dims.clone();
            expected[0] = keep.clamp(1, channels);
            return Err(PruneError::ShapeMismatch {
                name: wname,
                expected,
                found: dst_w.dims.clone(),
                reason: format!("keeps 1..={channels} of the source's {channels} channels"),
            });
        }
        let norms = l1_rows(w);
        let mut idx: Vec<usize> = (0..channels).collect();
        idx.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]).then(a.cmp(&b)));
        let mut kept = idx[..keep].to_vec();
        kept.sort_unstable();

        // The layer's own channels: every parameter of `layer.` and of each
        // norm whose first axis is the channel axis.
        let mut row_names = vec![wname.clone()];
        for prefix in std::iter::once(&pair.layer).chain(&pair.norms) {
            let mut found = false;
            for n in &src_order {
                if n.strip_prefix(prefix.as_str()).is_some_and(|r| r.starts_with('.')) {
                    found = true;
                    if *n != wname && src_params[n].dims.first() == Some(&channels) {
                        row_names.push(n.clone());
                    }
                }
            }
            if !found {
                return Err(PruneError::UnknownParam {
                    name: format!("{prefix}.*"),
                });
            }
        }
        for n in row_names {
            cuts.entry(n).or_default().rows = Some(kept.clone());
        }
        let (next_name, nw) = weight_of(&src_params, &pair.next)?;
        if nw.dims[1] % channels != 0 {
            return Err(PruneError::ShapeMismatch {
                name: next_name,
                expected: nw.dims.clone(),
                found: nw.dims.clone(),
                reason: format!(
                    "its {} input features are not a multiple of `{}`'s {channels} channels",
                    nw.dims[1], pair.layer
                ),
            });
        }
        cuts.entry(next_name).or_default().cols = Some((kept.clone(), channels));
        report.kept.push((pair.layer.clone(), kept));
        report.norms.push((pair.layer.clone(), norms));
    }

    // Cut every source tensor and check it against the destination.
    let mut out: HashMap<String, Vec<f64>> = HashMap::new();
    for name in &dst_order {
        let s = &src_params[name];
        let d = &dst_params[name];
        let (values, dims, reason) = match cuts.get(name) {
            Some(cut) => {
                let (v, dims) = apply_cut(s, cut);
                let mut why = Vec::new();
                if let Some(r) = &cut.rows {
                    why.push(format!("{} of {} output channels kept", r.len(), s.dims[0]));
                }
                if let Some((c, total)) = &cut.cols {
                    why.push(format!("{} of {total} input channels kept", c.len()));
                }
                (v, dims, why.join(", "))
            }
            None => (s.values.clone(), s.dims.clone(), String::new()),
        };
        if dims != d.dims {
            return Err(PruneError::ShapeMismatch {
                name: name.clone(),
                expected: dims,
                found: d.dims.clone(),
                reason,
            });
        }
        out.insert(name.clone(), values);
    }
    dst.visit_mut("", &mut |name, p| {
        if let Some(v) = out.remove(name) {
            let e: Vec<E> = v.into_iter().map(E::from_f64).collect();
            p.set_value(&e).expect("shape checked");
        }
    });
    Ok(report)
}

/// Applies a cut: axis-1 channel blocks first (within each row), then rows.
fn apply_cut(s: &Host, cut: &Cut) -> (Vec<f64>, Vec<usize>) {
    let mut dims = s.dims.clone();
    let mut values = s.values.clone();
    if let Some((keep, channels)) = &cut.cols {
        let rows = dims[0];
        let row_len = values.len() / rows.max(1);
        let block = row_len / channels;
        let mut v = Vec::with_capacity(rows * keep.len() * block);
        for r in 0..rows {
            let row = &values[r * row_len..(r + 1) * row_len];
            for &c in keep {
                v.extend_from_slice(&row[c * block..(c + 1) * block]);
            }
        }
        dims[1] = dims[1] / channels * keep.len();
        values = v;
    }
    if let Some(keep) = &cut.rows {
        let row_len = values.len() / dims[0].max(1);
        let mut v = Vec::with_capacity(keep.len() * row_len);
        for &r in keep {
            v.extend_from_slice(&values[r * row_len..(r + 1) * row_len]);
        }
        dims[0] = keep.len();
        values = v;
    }
    (values, dims)
}
