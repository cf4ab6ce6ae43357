crate::ops::mono::core_unary_op! {
    Powf, "powf", POWF;
    fn f<E: Float>(&self, x: E) -> E {
        x.powf(E::from_f64(self.exponent))
    }
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        if self.exponent == 0.0 {
            // d/dx x^0 = 0 everywhere (PyTorch), also at x = 0 where 0 * 0^-1 would be NaN.
            return E::ZERO;
        }
        let p = E::from_f64(self.exponent);
        p * x.powf(E::from_f64(self.exponent - 1.0))
    }
    fn param(&self) -> f64 {
        self.exponent
    }
}
