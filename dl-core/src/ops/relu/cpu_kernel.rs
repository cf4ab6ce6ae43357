use super::Relu;
use crate::dtype::Float;
use crate::ops::util::UnaryOp;

impl UnaryOp for Relu {
    const NAME: &'static str = "relu";
    #[cfg(feature = "cuda")]
    const CUDA: Option<crate::ops::util::UnaryCudaKernel> = Some(super::cuda_kernel::RELU);
    crate::ops::mono::mono_unary_op!();
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        if x > E::ZERO || x.is_nan() {
            x
        } else {
            E::ZERO
        }
    }
    #[inline(always)]
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        if x > E::ZERO {
            E::ONE
        } else {
            E::ZERO
        }
    }
}
