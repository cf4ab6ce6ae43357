use super::Tanh;
use crate::dtype::Float;
use crate::ops::util::UnaryOp;

impl UnaryOp for Tanh {
    const NAME: &'static str = "tanh";
    #[cfg(feature = "cuda")]
    const CUDA: Option<crate::ops::util::UnaryCudaKernel> = Some(super::cuda_kernel::TANH);
    crate::ops::mono::mono_unary_op!();
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        x.tanh()
    }
    #[inline(always)]
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        E::ONE - y * y
    }
}
