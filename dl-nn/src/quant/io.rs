//! Saving and loading a [`Quantized`] model: safetensors with `I8` weights,
//! `F32` per-channel scales and biases, and `[scale, zero_point]` pairs.
//!
//! | tensor | dtype | shape |
//! |---|---|---|
//! | `input.quant` | F32 | `[2]`: scale, zero point of the model input |
//! | `<layer>.weight` | I8 | as the float layer (`[oc, ic, k, k]`, `[o, i]`) |
//! | `<layer>.weight_scale` | F32 | `[oc]` |
//! | `<layer>.bias` | F32 | `[oc]` (BatchNorm folded in) |
//! | `<layer>.input_quant` | F32 | `[2]` |
//! | `<layer>.output_quant` | F32 | `[2]` (absent for the last layer, whose output is `f32`) |
//! | `<residual>.add.output_quant` | F32 | `[2]`: the residual add's output (absent when it is the last layer) |
//!
//! Layers inside a residual block or a nested network are named by their
//! path (`block1.conv1+bn1`, `block2.shortcut`).
//!
//! The file does not describe the network's structure: loading rebuilds it
//! from the type `N` (its summary), as `checkpoint::load` does.

use super::model::{build, Quantized, Source};
use super::observer::QParams;
use super::plan::FloatPlan;
use super::QuantError;
use crate::module::Network;
use dl_core::Cpu;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

const FORMAT: &str = "dl-quantized-int8-v1";

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl<N: Network<Cpu, f32>> Quantized<N> {
    /// The model as safetensors bytes (see [`Quantized::save`]).
    ///
    /// # Errors
    /// [`QuantError::Format`] if serialization fails.
    pub fn to_bytes(&self) -> Result<Vec<u8>, QuantError> {
        let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        let q = self.input_q();
        entries.push((
            "input.quant".into(),
            Dtype::F32,
            vec![2],
            f32_bytes(&[q.scale, q.zero_point as f32]),
        ));
        for g in self.gemms() {
            let dims = match g.conv {
                Some((k, _, _)) => vec![g.packed.n(), g.in_dims.0, k, k],
                None => vec![g.packed.n(), g.packed.k()],
            };
            let n = &g.name;
            entries.push((
                format!("{n}.weight"),
                Dtype::I8,
                dims,
                g.w_q.iter().map(|&v| v as u8).collect(),
            ));
            entries.push((
                format!("{n}.weight_scale"),
                Dtype::F32,
                vec![g.w_scales.len()],
                f32_bytes(&g.w_scales),
            ));
            entries.push((format!("{n}.bias"), Dtype::F32, vec![g.bias.len()], f32_bytes(&g.bias)));
            let iq = g.in_q;
            entries.push((
                format!("{n}.input_quant"),
                Dtype::F32,
                vec![2],
                f32_bytes(&[iq.scale, iq.zero_point as f32]),
            ));
            if let Some(oq) = g.out_q {
                entries.push((
                    format!("{n}.output_quant"),
                    Dtype::F32,
                    vec![2],
                    f32_bytes(&[oq.scale, oq.zero_point as f32]),
                ));
            }
        }
        for a in self.adds() {
            if let Some(oq) = a.out_q {
                entries.push((
                    format!("{}.output_quant", a.name),
                    Dtype::F32,
                    vec![2],
                    f32_bytes(&[oq.scale, oq.zero_point as f32]),
                ));
            }
        }
        let fmt = |e: safetensors::SafeTensorError| QuantError::Format(e.to_string());
        let mut views = Vec::with_capacity(entries.len());
        for (name, dtype, dims, bytes) in &entries {
            views.push((name.clone(), TensorView::new(*dtype, dims.clone(), bytes).map_err(fmt)?));
        }
        let meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("network".to_string(), N::summary().name.to_string()),
        ]);
        safetensors::serialize(views, &Some(meta)).map_err(fmt)
    }

    /// Writes the model to `path` (safetensors, about a quarter of the
    /// `f32` checkpoint).
    ///
    /// # Errors
    /// [`QuantError::Io`] or [`QuantError::Format`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), QuantError> {
        std::fs::write(path, self.to_bytes()?)?;
        Ok(())
    }

    /// Reads a model written by [`Quantized::save`] for the network type `N`.
    ///
    /// # Errors
    /// [`QuantError::Io`]; [`QuantError::Format`] for a file that is not
    /// such a model, a missing tensor or one of the wrong dtype or shape.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, QuantError> {
        Self::from_bytes(&std::fs::read(path)?)
    }

    /// [`Quantized::load`] from bytes.
    ///
    /// # Errors
    /// As [`Quantized::load`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, QuantError> {
        let fmt = |e: safetensors::SafeTensorError| QuantError::Format(e.to_string());
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(fmt)?;
        let format = meta.metadata().as_ref().and_then(|m| m.get("format").cloned());
        if format.as_deref() != Some(FORMAT) {
            return Err(QuantError::Format(format!(
                "not a quantized model (format {format:?}, expected {FORMAT})"
            )));
        }
        let st = SafeTensors::deserialize(bytes).map_err(fmt)?;
        // The structure (and the float shapes) from the type.
        let skeleton = N::init(&Cpu, 0);
        let plan = FloatPlan::from_network(&skeleton)?;
        let mut src = FromFile { st: &st };
        let (input_q, ops) = build(&plan, &mut src)?;
        Ok(Self::from_parts(plan.input, input_q, ops))
    }
}

struct FromFile<'a, 'b> {
    st: &'a SafeTensors<'b>,
}

impl FromFile<'_, '_> {
    fn tensor(&self, name: &str, dtype: Dtype, len: usize) -> Result<Vec<u8>, QuantError> {
        let t = self
            .st
            .tensor(name)
            .map_err(|_| QuantError::Format(format!("tensor `{name}` is missing")))?;
        if t.dtype() != dtype || t.shape().iter().product::<usize>() != len {
            return Err(QuantError::Format(format!(
                "tensor `{name}`: {:?} {:?}, expected {dtype:?} with {len} elements",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t.data().to_vec())
    }
    fn f32s(&self, name: &str, len: usize) -> Result<Vec<f32>, QuantError> {
        let b = self.tensor(name, Dtype::F32, len)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn qparams(&self, name: &str) -> Result<QParams, QuantError> {
        let v = self.f32s(name, 2)?;
        if !(v[0].is_finite() && v[0] > 0.0 && (0.0..=255.0).contains(&v[1])) {
            return Err(QuantError::Format(format!(
                "tensor `{name}`: invalid scale/zero point {v:?}"
            )));
        }
        Ok(QParams {
            scale: v[0],
            zero_point: v[1] as i32,
        })
    }
}

impl Source for FromFile<'_, '_> {
    fn point(&mut self, name: &str, p: usize, input: bool) -> Result<QParams, QuantError> {
        match (name, p, input) {
            ("input", 0, true) => self.qparams("input.quant"),
            (n, _, true) => self.qparams(&format!("{n}.input_quant")),
            (n, _, false) => self.qparams(&format!("{n}.output_quant")),
        }
    }
    fn weights(
        &mut self,
        name: &str,
        w: &[f32],
        _: &[f32],
        rows: usize,
    ) -> Result<super::model::LayerTensors, QuantError> {
        let q = self.tensor(&format!("{name}.weight"), Dtype::I8, w.len())?;
        let s = self.f32s(&format!("{name}.weight_scale"), rows)?;
        let b = self.f32s(&format!("{name}.bias"), rows)?;
        Ok((q.into_iter().map(|v| v as i8).collect(), s, b))
    }
}
