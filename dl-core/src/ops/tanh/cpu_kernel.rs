crate::ops::mono::core_unary_op! {
    Tanh, "tanh", TANH;
    fn f<E: Float>(&self, x: E) -> E {
        x.tanh()
    }
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        E::ONE - y * y
    }
}
