crate::ops::mono::core_unary_op! {
    Sqrt, "sqrt", SQRT;
    fn f<E: Float>(&self, x: E) -> E {
        x.sqrt()
    }
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        E::from_f64(0.5) / y
    }
}
