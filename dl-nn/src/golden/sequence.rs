//! Golden cases of the sequence kinds: `embedding` (and, as they land,
//! `conv1d`, `lstm`, `gru`).
//!
//! Each case calls the shape-agnostic functions that the typed layers call
//! (`layers::embedding`, ...), in `f32`. Every expected tensor must be
//! produced and match.

use super::Case;
use crate::layers::embedding::{embedding_backward, embedding_forward};
use dl_core::Cpu;

type Results = Vec<(String, Vec<f32>)>;

pub(super) fn run(case: &Case) -> Result<(), String> {
    let results = match case.kind.as_str() {
        "embedding" => embedding(case)?,
        other => return Err(format!("unknown case kind `{other}`")),
    };
    if case.expected.is_empty() {
        return Err(format!("case `{}` lists no expected tensor", case.name));
    }
    for name in &case.expected {
        let (_, v) = results
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| format!("expected tensor `{name}` is not produced for kind `{}`", case.kind))?;
        case.compare32(name, v)?;
    }
    Ok(())
}

/// `nn.Embedding`: ids `[N, T]` (int64, read as floats as the layer takes
/// them), weight `[VOCAB, DIM]`; output `[N, T, DIM]`, and the weight
/// gradient where repeated ids add their rows.
fn embedding(case: &Case) -> Result<Results, String> {
    let ids = case.t("input")?;
    let w = case.t("weight")?;
    let (vocab, dim) = match w.shape[..] {
        [v, d] => (v, d),
        _ => return Err(format!("embedding weight has shape {:?}, expected [vocab, dim]", w.shape)),
    };
    if case.p_usize("num_embeddings")? != vocab || case.p_usize("embedding_dim")? != dim {
        return Err("embedding: params disagree with the weight's shape".into());
    }
    let ids = ids.f32();
    let mut y = vec![0f32; ids.len() * dim];
    let invalid = embedding_forward(&Cpu, &ids, &w.f32(), &mut y, vocab, dim);
    if invalid != 0 {
        return Err(format!("embedding: {invalid} ids out of range"));
    }
    let dy = case.t("grad_out")?.f32();
    let mut dw = vec![0f32; vocab * dim];
    embedding_backward(&Cpu, &ids, &dy, &mut dw, vocab, dim);
    Ok(vec![("output".into(), y), ("grad_weight".into(), dw)])
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedding_cases_pass() {
        super::super::run_kinds(&["embedding"]);
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
