const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi).
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// sqrt(2 / pi).
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const C3: f64 = 0.044715;

crate::ops::mono::core_unary_op! {
    Gelu, "gelu", GELU;
    fn f<E: Float>(&self, x: E) -> E {
        let half = E::from_f64(0.5);
        half * x * (E::ONE + (x * E::from_f64(FRAC_1_SQRT_2)).erf())
    }
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        let half = E::from_f64(0.5);
        let cdf = half * (E::ONE + (x * E::from_f64(FRAC_1_SQRT_2)).erf());
        let pdf = E::from_f64(INV_SQRT_2PI) * (-half * x * x).exp();
        cdf + x * pdf
    }
}

crate::ops::mono::core_unary_op! {
    GeluTanh, "gelu_tanh", GELU_TANH;
    fn f<E: Float>(&self, x: E) -> E {
        let u = E::from_f64(SQRT_2_OVER_PI) * (x + E::from_f64(C3) * x * x * x);
        E::from_f64(0.5) * x * (E::ONE + u.tanh())
    }
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        let half = E::from_f64(0.5);
        let k = E::from_f64(SQRT_2_OVER_PI);
        let t = (k * (x + E::from_f64(C3) * x * x * x)).tanh();
        let du = k * (E::ONE + E::from_f64(3.0 * C3) * x * x);
        half * (E::ONE + t) + half * x * (E::ONE - t * t) * du
    }
}
