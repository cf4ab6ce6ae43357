//! Learning-rate schedules: closed forms of the learning rate at a step
//! (or epoch) `t`, counted from 0, given the base learning rate.
//!
//! A schedule is a pure function of `(base_lr, t)`, so resuming a run needs
//! only the step count. Apply one with [`Schedule::apply`] (or
//! `opt.set_lr(s.lr(base, t))`) before the step or epoch `t`.
//!
//! ```
//! use dl_nn::optim::{CosineAnnealing, LinearWarmup, Schedule, StepLr};
//! let s = StepLr { step_size: 10, gamma: 0.1 };
//! assert!((s.lr(1.0, 25) - 0.01).abs() < 1e-15);
//! let w = LinearWarmup::new(5, CosineAnnealing { t_max: 100, eta_min: 0.0 });
//! assert!(w.lr(1.0, 0) < w.lr(1.0, 4));
//! assert_eq!(w.lr(1.0, 5), 1.0); // cosine at its start
//! ```

use super::Optimizer;
use dl_core::{Backend, Float};

/// A learning-rate schedule.
pub trait Schedule {
    /// The learning rate at step (or epoch) `t`, counted from 0.
    fn lr(&self, base_lr: f64, t: usize) -> f64;

    /// Sets `opt`'s learning rate for step `t`.
    fn apply<B: Backend, E: Float, O: Optimizer<B, E>>(&self, opt: &mut O, base_lr: f64, t: usize)
    where
        Self: Sized,
    {
        opt.set_lr(self.lr(base_lr, t));
    }
}

impl<S: Schedule + ?Sized> Schedule for Box<S> {
    fn lr(&self, base_lr: f64, t: usize) -> f64 {
        (**self).lr(base_lr, t)
    }
}

/// The base learning rate at every step.
///
/// **PyTorch equivalent**: no scheduler (`ConstantLR(factor=1)`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Constant;

impl Schedule for Constant {
    fn lr(&self, base_lr: f64, _t: usize) -> f64 {
        base_lr
    }
}

/// `base_lr * gamma^floor(t / step_size)` (a `step_size` of 0 counts as 1).
///
/// **PyTorch equivalent**: `lr_scheduler.StepLR(opt, step_size, gamma)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    /// Steps between decays.
    pub step_size: usize,
    /// Decay factor.
    pub gamma: f64,
}

impl Schedule for StepLr {
    fn lr(&self, base_lr: f64, t: usize) -> f64 {
        let k = t / self.step_size.max(1);
        base_lr * self.gamma.powi(k.min(i32::MAX as usize) as i32)
    }
}

/// `eta_min + (base_lr - eta_min) (1 + cos(pi t / t_max)) / 2` (a `t_max`
/// of 0 counts as 1). Past `t_max` the cosine continues, as PyTorch's
/// closed form does.
///
/// **PyTorch equivalent**: `lr_scheduler.CosineAnnealingLR(opt, T_max, eta_min)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealing {
    /// Half period, in steps.
    pub t_max: usize,
    /// Minimum learning rate.
    pub eta_min: f64,
}

impl Schedule for CosineAnnealing {
    fn lr(&self, base_lr: f64, t: usize) -> f64 {
        let x = std::f64::consts::PI * t as f64 / self.t_max.max(1) as f64;
        self.eta_min + (base_lr - self.eta_min) * (1.0 + x.cos()) / 2.0
    }
}

/// Linear warm-up for `warmup_steps` steps, then `then` (whose step count
/// restarts at 0): for `t < warmup_steps`,
/// `base_lr (start_factor + (1 - start_factor) t / warmup_steps)`.
///
/// **PyTorch equivalent**: `SequentialLR(opt, [LinearLR(opt, start_factor,
/// total_iters=warmup_steps), then], milestones=[warmup_steps])`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearWarmup<S: Schedule = Constant> {
    /// Warm-up length in steps.
    pub warmup_steps: usize,
    /// Factor of the base learning rate at step 0.
    pub start_factor: f64,
    /// The schedule after warm-up.
    pub then: S,
}

impl<S: Schedule> LinearWarmup<S> {
    /// Warm-up from `base_lr / warmup_steps` to `base_lr`, then `then`.
    pub fn new(warmup_steps: usize, then: S) -> Self {
        Self {
            warmup_steps,
            start_factor: 1.0 / warmup_steps.max(1) as f64,
            then,
        }
    }
}

impl<S: Schedule> Schedule for LinearWarmup<S> {
    fn lr(&self, base_lr: f64, t: usize) -> f64 {
        if t < self.warmup_steps {
            let f = self.start_factor + (1.0 - self.start_factor) * t as f64 / self.warmup_steps as f64;
            base_lr * f
        } else {
            self.then.lr(base_lr, t - self.warmup_steps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Sgd;

    #[test]
    fn step_lr() {
        let s = StepLr {
            step_size: 3,
            gamma: 0.5,
        };
        let v: Vec<f64> = (0..7).map(|t| s.lr(0.8, t)).collect();
        assert_eq!(v, vec![0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]);
        assert_eq!(
            StepLr {
                step_size: 0,
                gamma: 0.5
            }
            .lr(1.0, 2),
            0.25
        );
    }

    /// Matches the recursive form PyTorch steps with:
    /// `lr_t = eta + (lr_{t-1} - eta) (1 + cos(pi t/T)) / (1 + cos(pi (t-1)/T))`.
    #[test]
    fn cosine_matches_recursive_form() {
        let s = CosineAnnealing {
            t_max: 10,
            eta_min: 0.01,
        };
        let mut lr = 0.1;
        for t in 1..10usize {
            let pi = std::f64::consts::PI;
            lr = 0.01 + (lr - 0.01) * (1.0 + (pi * t as f64 / 10.0).cos()) / (1.0 + (pi * (t - 1) as f64 / 10.0).cos());
            assert!((s.lr(0.1, t) - lr).abs() < 1e-14, "t = {t}");
        }
        assert!((s.lr(0.1, 10) - 0.01).abs() < 1e-15);
        assert_eq!(s.lr(0.1, 0), 0.1);
    }

    #[test]
    fn warmup_then_boxed_schedule() {
        let w = LinearWarmup {
            warmup_steps: 4,
            start_factor: 0.25,
            then: Box::new(StepLr {
                step_size: 2,
                gamma: 0.1,
            }) as Box<dyn Schedule>,
        };
        let v: Vec<f64> = (0..8).map(|t| w.lr(1.0, t)).collect();
        let e = [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 0.1, 0.1];
        for (a, b) in v.iter().zip(e) {
            assert!((a - b).abs() < 1e-15, "{v:?}");
        }
        let mut opt: Sgd = Sgd::new(1.0);
        w.then.apply::<dl_core::Cpu, f32, _>(&mut opt, 0.5, 2);
        assert!((Optimizer::<dl_core::Cpu, f32>::lr(&opt) - 0.05).abs() < 1e-15);
        assert_eq!(LinearWarmup::new(0, Constant).lr(0.3, 0), 0.3);
    }
}
