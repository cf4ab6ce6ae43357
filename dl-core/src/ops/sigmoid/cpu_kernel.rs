use super::Sigmoid;
use crate::dtype::Float;
use crate::ops::util::UnaryOp;

impl UnaryOp for Sigmoid {
    const NAME: &'static str = "sigmoid";
    #[cfg(feature = "cuda")]
    const CUDA: Option<crate::ops::util::UnaryCudaKernel> = Some(super::cuda_kernel::SIGMOID);
    crate::ops::mono::mono_unary_op!();
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        // Two branches so that `exp` never overflows: e^-x for x >= 0, e^x otherwise.
        if x >= E::ZERO {
            E::ONE / (E::ONE + (-x).exp())
        } else {
            let e = x.exp();
            e / (E::ONE + e)
        }
    }
    #[inline(always)]
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        y * (E::ONE - y)
    }
}
