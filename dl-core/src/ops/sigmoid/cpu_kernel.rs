crate::ops::mono::core_unary_op! {
    Sigmoid, "sigmoid", SIGMOID;
    fn f<E: Float>(&self, x: E) -> E {
        // Two branches so that `exp` never overflows: e^-x for x >= 0, e^x otherwise.
        if x >= E::ZERO {
            E::ONE / (E::ONE + (-x).exp())
        } else {
            let e = x.exp();
            e / (E::ONE + e)
        }
    }
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        y * (E::ONE - y)
    }
}
