use super::{token_index, EmbeddingKernel};
use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

impl EmbeddingKernel for Host {
    fn embedding_forward<E: Float>(&self, vocab: usize, dim: usize, ids: &Vec<E>, w: &Vec<E>, y: &mut Vec<E>) -> usize {
        assert!(w.len() >= vocab * dim, "embedding_forward: buffer too small");
        y.resize(ids.len() * dim, E::ZERO);
        if dim == 0 {
            return ids.iter().filter(|&&id| token_index(id, vocab).is_none()).count();
        }
        let row = |(y, &id): (&mut [E], &E)| match token_index(id, vocab) {
            Some(t) => {
                y.copy_from_slice(&w[t * dim..(t + 1) * dim]);
                0usize
            }
            None => {
                y.iter_mut().for_each(|v| *v = E::from_f64(f64::NAN));
                1
            }
        };
        if y.len() >= PAR_THRESHOLD {
            y.par_chunks_mut(dim).zip(ids.par_iter()).map(row).sum()
        } else {
            y.chunks_mut(dim).zip(ids.iter()).map(row).sum()
        }
    }

    fn embedding_backward<E: Float>(&self, vocab: usize, dim: usize, ids: &Vec<E>, dy: &Vec<E>, dw: &mut Vec<E>) {
        assert!(
            dw.len() >= vocab * dim && dy.len() >= ids.len() * dim,
            "embedding_backward: buffer too small"
        );
        // Sequential over tokens: repeated ids accumulate in token order.
        for (t, &id) in ids.iter().enumerate() {
            if let Some(r) = token_index(id, vocab) {
                let src = &dy[t * dim..(t + 1) * dim];
                for (d, &g) in dw[r * dim..(r + 1) * dim].iter_mut().zip(src) {
                    *d += g;
                }
            }
        }
    }
}
