use super::AxpyKernel;
use crate::cpu::{PAR_CHUNK, PAR_THRESHOLD};
use crate::dtype::Float;
use crate::ops::mono::Host;
use rayon::prelude::*;

impl AxpyKernel for Host {
    fn axpy<E: Float>(&self, alpha: E, x: &Vec<E>, y: &mut Vec<E>) {
        let n = y.len();
        assert!(x.len() >= n, "axpy: x has {} elements, y {n}", x.len());
        let x = &x[..n];
        let run = |(y, x): (&mut [E], &[E])| y.iter_mut().zip(x).for_each(|(y, &x)| *y += alpha * x);
        if n >= PAR_THRESHOLD {
            y.par_chunks_mut(PAR_CHUNK).zip(x.par_chunks(PAR_CHUNK)).for_each(run);
        } else {
            run((y.as_mut_slice(), x));
        }
    }
}
