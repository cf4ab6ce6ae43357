crate::ops::mono::core_unary_op! {
    Log, "log", LOG;
    fn f<E: Float>(&self, x: E) -> E {
        x.ln()
    }
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        E::ONE / x
    }
}
