crate::ops::mono::core_unary_op! {
    LeakyRelu, "leaky_relu", LEAKY_RELU;
    fn f<E: Float>(&self, x: E) -> E {
        if x > E::ZERO {
            x
        } else {
            // NaN takes this branch and stays NaN.
            x * E::from_f64(self.slope)
        }
    }
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
