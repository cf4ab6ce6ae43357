use super::Exp;
use crate::dtype::Float;
use crate::ops::util::UnaryOp;

impl UnaryOp for Exp {
    const NAME: &'static str = "exp";
    #[cfg(feature = "cuda")]
    const CUDA: Option<crate::ops::util::UnaryCudaKernel> = Some(super::cuda_kernel::EXP);
    crate::ops::mono::mono_unary_op!();
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        x.exp()
    }
    #[inline(always)]
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        y
    }
}
