use super::Log;
use crate::dtype::Float;
use crate::ops::util::UnaryOp;

impl UnaryOp for Log {
    const NAME: &'static str = "log";
    #[cfg(feature = "cuda")]
    const CUDA: Option<crate::ops::util::UnaryCudaKernel> = Some(super::cuda_kernel::LOG);
    crate::ops::mono::mono_unary_op!();
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        x.ln()
    }
    #[inline(always)]
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        E::ONE / x
    }
}
