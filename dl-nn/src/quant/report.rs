//! The per-layer error report: how much error each quantized layer adds
//! (like ONNX Runtime's QDQ debugging), so a user sees which layer to keep
//! in `f32`.

use super::model::{apply, canonical, check_data, quantize_act, Act, QOp, Quantized};
use super::plan::FloatPlan;
use super::QuantError;
use crate::data::Dataset;
use crate::module::Network;
use dl_core::Cpu;

/// One quantized layer's error against the `f32` network.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerError {
    /// Layer name (`conv1`, or `conv1+bn1` with a folded BatchNorm; inside
    /// a residual block its path, `block1.conv1+bn1`; a residual's add is
    /// `block1.add`).
    pub name: String,
    /// Layer kind as written (`Conv2d<1, 32, 3>`).
    pub kind: String,
    /// Signal-to-quantization-noise ratio (dB) of this layer's output in
    /// the quantized model against the `f32` model: the error accumulated
    /// up to and including this layer.
    pub sqnr_db: f64,
    /// SQNR (dB) of this layer alone: its `f32` input quantized, run on
    /// integers, against its `f32` output (the error the layer adds).
    pub local_sqnr_db: f64,
    /// Largest absolute difference of the accumulated output.
    pub max_abs_diff: f32,
}

/// Per-layer errors of a quantized model, in layer order.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantReport {
    /// One row per quantized layer (integer GEMM or residual add).
    pub layers: Vec<LayerError>,
    /// Samples the errors were measured on.
    pub samples: usize,
}

impl QuantReport {
    /// The layer that adds the most error (lowest local SQNR).
    pub fn worst(&self) -> Option<&LayerError> {
        self.layers
            .iter()
            .min_by(|a, b| a.local_sqnr_db.total_cmp(&b.local_sqnr_db))
    }
}

impl std::fmt::Display for QuantReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "per-layer quantization error on {} samples (SQNR, higher is better)",
            self.samples
        )?;
        // Columns as wide as their longest entry (residual kinds are long).
        let wn = self.layers.iter().map(|l| l.name.len()).max().unwrap_or(0).max(24);
        let wk = self.layers.iter().map(|l| l.kind.len()).max().unwrap_or(0).max(22);
        writeln!(
            f,
            "{:<wn$} {:<wk$} {:>12} {:>12} {:>12}",
            "layer", "kind", "alone (dB)", "total (dB)", "max |diff|"
        )?;
        for l in &self.layers {
            writeln!(
                f,
                "{:<wn$} {:<wk$} {:>12.2} {:>12.2} {:>12.5}",
                l.name, l.kind, l.local_sqnr_db, l.sqnr_db, l.max_abs_diff
            )?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Default)]
struct Acc {
    signal: f64,
    noise: f64,
    local_noise: f64,
    max: f32,
}

fn sqnr(signal: f64, noise: f64) -> f64 {
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

impl<N: Network<Cpu, f32>> Quantized<N> {
    /// Measures every quantized layer against `model` (the `f32` network
    /// this was quantized from) on the first `samples` samples of `data`
    /// (all of them when 0).
    ///
    /// # Errors
    /// [`QuantError`]: an empty data set, samples of the wrong size, a
    /// model whose layers cannot be read.
    pub fn error_report<D: Dataset + ?Sized>(
        &self,
        model: &N,
        data: &D,
        samples: usize,
    ) -> Result<QuantReport, QuantError> {
        let plan = FloatPlan::from_network(model)?;
        let in_len = plan.input_len();
        check_data(data, in_len)?;
        let total = if samples == 0 {
            data.len()
        } else {
            samples.min(data.len())
        };
        // One row per integer GEMM layer and per residual add, in order.
        let rows: Vec<(String, String)> = self
            .ops_ref()
            .iter()
            .filter_map(|op| match op {
                QOp::Gemm(g) => Some((g.name.clone(), g.kind.clone())),
                QOp::Add(a) => Some((a.name.clone(), a.kind.clone())),
                _ => None,
            })
            .collect();
        let mut acc = vec![Acc::default(); rows.len()];
        let mut start = 0;
        while start < total {
            let n = 100.min(total - start);
            let mut x = vec![0f32; n * in_len];
            for i in 0..n {
                data.get(start + i, &mut x[i * in_len..(i + 1) * in_len]);
            }
            // Float values at every point.
            let mut points = vec![x.clone()];
            let mut fstack = Vec::new();
            for s in 0..plan.steps.len() {
                let y = plan.run_step(s, points.last().expect("non-empty"), n, &mut fstack);
                points.push(y);
            }
            let mut act = quantize_act(&x, n, plan.input, self.input_q());
            let mut stack = Vec::new();
            let mut ri = 0;
            for op in self.ops_ref() {
                act = apply(op, act, n, self.path(), &mut stack);
                let (fout, alone) = match op {
                    QOp::Gemm(g) => {
                        // Alone: the float input, quantized with this layer's input parameters.
                        let fin = match g.flat_perm {
                            Some(d) => super::kernels::nchw_to_nhwc(&points[g.fin], n, d),
                            None => points[g.fin].clone(),
                        };
                        let alone_in = match quantize_act(&fin, n, g.in_dims, g.in_q) {
                            Act::Q { data, q, dims, .. } => Act::Q {
                                data,
                                q,
                                dims,
                                flat_from: g.flat_perm,
                            },
                            f => f,
                        };
                        let y = apply(op, alone_in, n, self.path(), &mut Vec::new());
                        (g.fout, canonical(&y, n))
                    }
                    QOp::Add(a) => {
                        // Alone: both float operands, quantized with the parameters they arrive with.
                        let mut saved = vec![quantize_act(&points[a.fa], n, a.dims, a.a_q)];
                        let b = quantize_act(&points[a.fb], n, a.dims, a.b_q);
                        let y = apply(op, b, n, self.path(), &mut saved);
                        (a.fout, canonical(&y, n))
                    }
                    _ => continue,
                };
                let want = &points[fout];
                let got = canonical(&act, n);
                let r = &mut acc[ri];
                for ((&w, &g), &l) in want.iter().zip(&got).zip(&alone) {
                    r.signal += (w as f64).powi(2);
                    r.noise += ((w - g) as f64).powi(2);
                    r.local_noise += ((w - l) as f64).powi(2);
                    r.max = r.max.max((w - g).abs());
                }
                ri += 1;
            }
            start += n;
        }
        Ok(QuantReport {
            layers: rows
                .into_iter()
                .zip(&acc)
                .map(|((name, kind), a)| LayerError {
                    name,
                    kind,
                    sqnr_db: sqnr(a.signal, a.noise),
                    local_sqnr_db: sqnr(a.signal, a.local_noise),
                    max_abs_diff: a.max,
                })
                .collect(),
            samples: total,
        })
    }
}
