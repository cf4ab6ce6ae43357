//! Golden cases of the sequence kinds: `embedding`, `conv1d`, `lstm`, `gru`.
//!
//! Each case calls the shape-agnostic functions that the typed layers call
//! (`layers::embedding`, `layers::conv1d`, `layers::rnn`), in `f32`.
//! Hyperparameters this framework does not support (dilation, groups,
//! `batch_first = False`, no bias) are reported as failures. Every expected tensor must be
//! produced and match.

use super::Case;
use crate::layers::conv1d::{conv1d_backward, conv1d_forward};
use crate::layers::linear::WeightGrads;
use crate::layers::rnn::{rnn_backward, rnn_forward, RnnCache, RnnDims};
use dl_core::ops::conv1d::Conv1dDims;
use dl_core::ops::embedding::EmbeddingKernel;
use dl_core::ops::rnn::Cell;
use dl_core::{Cpu, ParamKind, RawParam};

type Results = Vec<(String, Vec<f32>)>;

pub(super) fn run(case: &Case) -> Result<(), String> {
    let results = match case.kind.as_str() {
        "embedding" => embedding(case)?,
        "conv1d" => conv1d(case)?,
        "lstm" => rnn(case, Cell::Lstm)?,
        "gru" => rnn(case, Cell::Gru)?,
        other => return Err(format!("unknown case kind `{other}`")),
    };
    case.compare_all(&results)
}

/// `nn.Embedding`: ids `[N, T]` (int64, read as floats as the layer takes
/// them), weight `[VOCAB, DIM]`; output `[N, T, DIM]`, and the weight
/// gradient where repeated ids add their rows.
fn embedding(case: &Case) -> Result<Results, String> {
    let ids = case.t("input")?;
    let w = case.t("weight")?;
    let (vocab, dim) = match w.shape[..] {
        [v, d] => (v, d),
        _ => {
            return Err(format!(
                "embedding weight has shape {:?}, expected [vocab, dim]",
                w.shape
            ))
        }
    };
    if case.p_usize("num_embeddings")? != vocab || case.p_usize("embedding_dim")? != dim {
        return Err("embedding: params disagree with the weight's shape".into());
    }
    let ids = ids.f32();
    let mut y = vec![0f32; ids.len() * dim];
    let invalid = Cpu.embedding_forward(vocab, dim, &ids, &w.f32(), &mut y);
    if invalid != 0 {
        return Err(format!("embedding: {invalid} ids out of range"));
    }
    let dy = case.t("grad_out")?.f32();
    let mut dw = vec![0f32; vocab * dim];
    Cpu.embedding_backward(vocab, dim, &ids, &dy, &mut dw);
    Ok(vec![("output".into(), y), ("grad_weight".into(), dw)])
}

/// `nn.Conv1d`: input `[N, C, L]`, weight `[O, C, K]`, bias `[O]`.
fn conv1d(case: &Case) -> Result<Results, String> {
    for (key, want) in [("dilation", 1), ("groups", 1)] {
        if case.p_usize(key).unwrap_or(want) != want {
            return Err(format!("conv1d: {key} other than {want} is not supported"));
        }
    }
    if !case.p_bool("bias").unwrap_or(true) {
        return Err("conv1d: a convolution without bias is not supported by this runner".into());
    }
    let x = case.t("input")?;
    let w = case.t("weight")?;
    let (n, c_in, l) = match x.shape[..] {
        [n, c, l] => (n, c, l),
        _ => return Err(format!("conv1d input has shape {:?}, expected [N, C, L]", x.shape)),
    };
    let d = Conv1dDims {
        n,
        c_in,
        l,
        c_out: w.shape[0],
        k: *w.shape.last().ok_or("conv1d: scalar weight")?,
        stride: case.p_usize("stride")?,
        pad: case.p_usize("padding")?,
    };
    let (xv, wv, bv) = (x.f32(), w.f32(), case.t("bias")?.f32());
    let mut y = vec![];
    conv1d_forward(&Cpu, &xv, &wv, Some(&bv), &mut y, d).map_err(|e| e.to_string())?;
    let dy = case.t("grad_out")?.f32();
    let (mut dx, mut dw, mut db) = (vec![], vec![0f32; d.w_len()], vec![0f32; d.c_out]);
    let grads = WeightGrads {
        dx: Some(&mut dx),
        dw: &mut dw,
        db: Some(&mut db),
    };
    conv1d_backward(&Cpu, &xv, &wv, &dy, grads, d).map_err(|e| e.to_string())?;
    Ok(vec![
        ("output".into(), y),
        ("grad_input".into(), dx),
        ("grad_weight".into(), dw),
        ("grad_bias".into(), db),
    ])
}

/// `nn.LSTM` / `nn.GRU` (`batch_first`): output, final states, the input
/// gradient and every parameter gradient, parameters loaded by their
/// `state_dict` names.
fn rnn(case: &Case, cell: Cell) -> Result<Results, String> {
    if !case.p_bool("batch_first").unwrap_or(true) || !case.p_bool("bias").unwrap_or(true) {
        return Err("rnn: only batch_first=True with biases is supported".into());
    }
    let x = case.t("input")?;
    let (n, t, input) = match x.shape[..] {
        [n, t, i] => (n, t, i),
        _ => return Err(format!("rnn input has shape {:?}, expected [N, T, input]", x.shape)),
    };
    if case.p_usize("input_size")? != input {
        return Err("rnn: input_size disagrees with the input's shape".into());
    }
    let d = RnnDims {
        cell,
        n,
        t,
        input,
        hidden: case.p_usize("hidden_size")?,
        layers: case.p_usize("num_layers")?,
        bidirectional: case.p_bool("bidirectional")?,
    };
    let specs = d.param_specs();
    let mut params = Vec::with_capacity(specs.len());
    for (name, dims) in &specs {
        let g = case.t(name)?;
        if &g.shape != dims {
            return Err(format!("{name}: shape {:?}, expected {dims:?}", g.shape));
        }
        let mut p = RawParam::<Cpu, f32>::zeros(&Cpu, dims.clone(), ParamKind::Trainable);
        p.set_value(&g.f32()).map_err(|e| e.to_string())?;
        params.push(p);
    }
    let xv = x.f32();
    let (mut y, mut cache) = (vec![], RnnCache::new(&Cpu));
    rnn_forward(&Cpu, d, &xv, &params, &mut y, &mut cache).map_err(|e| e.to_string())?;
    let mut out: Results = vec![("output".into(), y)];
    out.push(("h_n".into(), cache.h_n(&Cpu).ok_or("rnn: no final state")?));
    if let Some(c_n) = cache.c_n(&Cpu) {
        out.push(("c_n".into(), c_n));
    }
    let dy = case.t("grad_out")?.f32();
    let mut dx = vec![];
    rnn_backward(&Cpu, d, &xv, &mut params, &dy, Some(&mut dx), &mut cache).map_err(|e| e.to_string())?;
    out.push(("grad_input".into(), dx));
    for ((name, _), p) in specs.iter().zip(&params) {
        out.push((format!("grad_{name}"), p.grad.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedding_conv1d_lstm_gru_cases_pass() {
        super::super::run_kinds(&["embedding", "conv1d", "lstm", "gru"]);
    }

    #[test]
    fn embedding_case_repeats_an_id() {
        // The case is only a test of accumulation if some id repeats.
        let cases = super::super::load_dir(&super::super::vendored_dir()).unwrap();
        let c = cases.iter().find(|c| c.name == "embedding").unwrap();
        let mut ids = c.t("input").unwrap().indices();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert!(ids.len() < n, "no repeated id in the embedding case");
    }
}
