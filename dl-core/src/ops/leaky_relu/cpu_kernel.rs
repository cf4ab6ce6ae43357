use super::LeakyRelu;
use crate::dtype::Float;
use crate::ops::util::UnaryOp;

impl UnaryOp for LeakyRelu {
    const NAME: &'static str = "leaky_relu";
    #[cfg(feature = "cuda")]
    const CUDA: Option<crate::ops::util::UnaryCudaKernel> = Some(super::cuda_kernel::LEAKY_RELU);
    crate::ops::mono::mono_unary_op!();
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        if x > E::ZERO {
            x
        } else {
            // NaN takes this branch and stays NaN.
            x * E::from_f64(self.slope)
        }
    }
    #[inline(always)]
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        if x > E::ZERO {
            E::ONE
        } else {
            E::from_f64(self.slope)
        }
    }
    fn param(&self) -> f64 {
        self.slope
    }
}
