use super::Sqrt;
use crate::dtype::Float;
use crate::ops::util::UnaryOp;

impl UnaryOp for Sqrt {
    const NAME: &'static str = "sqrt";
    #[cfg(feature = "cuda")]
    const CUDA: Option<crate::ops::util::UnaryCudaKernel> = Some(super::cuda_kernel::SQRT);
    crate::ops::mono::mono_unary_op!();
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        x.sqrt()
    }
    #[inline(always)]
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        E::from_f64(0.5) / y
    }
}
