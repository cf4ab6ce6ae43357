//! Initialisers: uniform, normal, Kaiming (He) and Xavier (Glorot).

use crate::rng::Rng;

/// How to fill a new parameter. Fans follow PyTorch: for Linear `fan_in` is
/// the input features; for Conv2d it is `in_channels * k * k`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All `v`.
    Const(f64),
    /// Uniform in `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Normal with the given mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// He uniform for ReLU: `U(-b, b)`, `b = sqrt(6 / fan_in)`.
    KaimingUniform {
        /// Fan in.
        fan_in: usize,
    },
    /// He normal for ReLU: `N(0, 2 / fan_in)`.
    KaimingNormal {
        /// Fan in.
        fan_in: usize,
    },
    /// Glorot uniform: `U(-b, b)`, `b = sqrt(6 / (fan_in + fan_out))`.
    XavierUniform {
        /// Fan in.
        fan_in: usize,
        /// Fan out.
        fan_out: usize,
    },
    /// Glorot normal: `N(0, 2 / (fan_in + fan_out))`.
    XavierNormal {
        /// Fan in.
        fan_in: usize,
        /// Fan out.
        fan_out: usize,
    },
    /// PyTorch's default for Linear and Conv2d weights and biases
    /// (`kaiming_uniform_(a = sqrt(5))`): `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    TorchDefault {
        /// Fan in.
        fan_in: usize,
    },
}

impl Init {
    /// Draws `n` values.
    ///
    /// ```
    /// use dl_core::{init::Init, Rng};
    /// let v = Init::KaimingUniform { fan_in: 6 }.sample(&mut Rng::new(0), 100);
    /// assert!(v.iter().all(|x| x.abs() <= 1.0));
    /// ```
    pub fn sample(&self, rng: &mut Rng, n: usize) -> Vec<f64> {
        let uni = |rng: &mut Rng, b: f64| (0..n).map(|_| rng.uniform_range(-b, b)).collect();
        let nor = |rng: &mut Rng, m: f64, s: f64| (0..n).map(|_| m + s * rng.normal()).collect();
        match *self {
            Init::Zeros => vec![0.0; n],
            Init::Const(v) => vec![v; n],
            Init::Uniform { low, high } => (0..n).map(|_| rng.uniform_range(low, high)).collect(),
            Init::Normal { mean, std } => nor(rng, mean, std),
            Init::KaimingUniform { fan_in } => uni(rng, (6.0 / fan_in.max(1) as f64).sqrt()),
            Init::KaimingNormal { fan_in } => nor(rng, 0.0, (2.0 / fan_in.max(1) as f64).sqrt()),
            Init::XavierUniform { fan_in, fan_out } => uni(rng, (6.0 / (fan_in + fan_out).max(1) as f64).sqrt()),
            Init::XavierNormal { fan_in, fan_out } => nor(rng, 0.0, (2.0 / (fan_in + fan_out).max(1) as f64).sqrt()),
            Init::TorchDefault { fan_in } => uni(rng, 1.0 / (fan_in.max(1) as f64).sqrt()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn bounds_and_variance() {
        let mut r = Rng::new(9);
        let v = Init::XavierUniform {
            fan_in: 10,
            fan_out: 20,
        }
        .sample(&mut r, 10000);
        let b = (6.0f64 / 30.0).sqrt();
        assert!(v.iter().all(|x| x.abs() <= b));
        let v = Init::KaimingNormal { fan_in: 50 }.sample(&mut r, 20000);
        let var = v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64;
        assert!((var - 2.0 / 50.0).abs() < 0.004, "{var}");
    }
}
