crate::ops::mono::core_unary_op! {
    Exp, "exp", EXP;
    fn f<E: Float>(&self, x: E) -> E {
        x.exp()
    }
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        y
    }
}
