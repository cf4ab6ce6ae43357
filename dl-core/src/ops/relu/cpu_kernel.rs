crate::ops::mono::core_unary_op! {
    Relu, "relu", RELU;
    fn f<E: Float>(&self, x: E) -> E {
        if x > E::ZERO || x.is_nan() {
            x
        } else {
            E::ZERO
        }
    }
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        if x > E::ZERO {
            E::ONE
        } else {
            E::ZERO
        }
    }
}
