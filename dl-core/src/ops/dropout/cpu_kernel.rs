use super::{keep, DropoutKernel};
use crate::cpu::for_each_chunk;
use crate::cpu::{PAR_CHUNK, PAR_THRESHOLD};
use crate::dtype::Float;
use crate::ops::mono::Host;

impl DropoutKernel for Host {
    fn dropout_mask<E: Float>(&self, p: f64, seed: u64, len: usize, mask: &mut Vec<E>) {
        mask.resize(len, E::ZERO);
        let scale = if p >= 1.0 {
            E::ZERO
        } else {
            E::from_f64(1.0 / (1.0 - p.max(0.0)))
        };
        let fill = |(c, m): (usize, &mut [E])| {
            for (k, v) in m.iter_mut().enumerate() {
                let i = (c * PAR_CHUNK + k) as u64;
                *v = if p <= 0.0 || (p < 1.0 && keep(seed, i, p)) {
                    scale
                } else {
                    E::ZERO
                };
            }
        };
        for_each_chunk(mask, PAR_CHUNK, len >= PAR_THRESHOLD, fill);
    }
}
