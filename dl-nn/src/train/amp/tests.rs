use super::*;
use crate::layers::Linear;
use crate::loss::{Loss, Mse};
use crate::module::Layer;
use crate::optim::{Adam, Sgd};
use dl_core::GemmWorkspace;
use dl_core::{Cpu, S1};

fn fc() -> Linear<2, 1> {
    Linear::<2, 1>::init(&Cpu, 0)
}

fn values(m: &Linear<2, 1>) -> (Vec<f32>, Vec<f32>) {
    (m.weight.value_vec(), m.bias.value_vec())
}

/// One scaled step of `m` on a fixed batch whose loss gradient is
/// multiplied by `grad_mult` (to force an overflow); returns whether the
/// optimizer stepped.
fn scaled_step<O: Optimizer<Cpu, f32>>(
    m: &mut Linear<2, 1>,
    opt: &mut O,
    scaler: &mut GradScaler,
    grad_mult: f32,
) -> bool {
    let x = Tensor::<S1<2>>::from_vec(&Cpu, 2, vec![1.0, -1.0, 0.5, 2.0]).unwrap();
    let y = Tensor::<S1<1>>::from_vec(&Cpu, 2, vec![1.0, -3.0]).unwrap();
    let (mut out, mut dy, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu), Tensor::empty(&Cpu));
    let mut ws = GemmWorkspace::new();
    m.forward_train_into(&x, &mut out, &mut ws);
    Mse.loss(&out, &y, &mut dy).unwrap();
    dy.as_mut_slice().iter_mut().for_each(|g| *g *= grad_mult);
    scaler.scale_grad_out(&mut dy);
    m.zero_grad();
    m.backward_params_into(&x, &out, &mut ws, &dy, &mut dx);
    scaler.step(opt, m)
}

#[test]
fn pytorch_defaults() {
    let s = GradScaler::new();
    assert_eq!(s.scale(), 65536.0);
    assert_eq!(
        (s.growth_factor, s.backoff_factor, s.growth_interval, s.growth_tracker()),
        (2.0, 0.5, 2000, 0)
    );
    assert!(s.is_enabled());
    assert_eq!(s.scale_loss(0.5), 32768.0);
}

#[test]
fn forced_overflow_skips_the_step_and_halves_the_scale() {
    let mut m = fc();
    let mut opt = Sgd::new(0.1);
    let mut s = GradScaler::new();
    let before = values(&m);
    // The loss gradient times 1e35 times the scale 2^16 exceeds f32::MAX:
    // the scaled gradients overflow to infinity in backward.
    assert!(!scaled_step(&mut m, &mut opt, &mut s, 1e35));
    assert!(m.weight.grad_vec().iter().any(|g| !g.is_finite()));
    assert_eq!(values(&m), before, "a skipped step leaves the parameters unchanged");
    s.update().unwrap();
    assert_eq!(s.scale(), 32768.0);
    assert_eq!((s.skipped_steps(), s.growth_tracker()), (1, 0));
    // A NaN gradient is skipped too; the scale halves again.
    m.weight.grad = vec![f32::NAN, 1.0];
    assert!(!s.step(&mut opt, &mut m));
    assert_eq!(values(&m), before);
    s.update().unwrap();
    assert_eq!(s.scale(), 16384.0);
    // A finite step afterwards steps and keeps the scale.
    assert!(scaled_step(&mut m, &mut opt, &mut s, 1.0));
    assert_ne!(values(&m), before);
    s.update().unwrap();
    assert_eq!((s.scale(), s.growth_tracker(), s.skipped_steps()), (16384.0, 1, 2));
}

#[test]
fn skipped_step_leaves_optimizer_state_unchanged() {
    let mut m = fc();
    let mut opt = Adam::new(0.01);
    let mut s = GradScaler::new();
    assert!(scaled_step(&mut m, &mut opt, &mut s, 1.0));
    s.update().unwrap();
    let state = opt.state_dict();
    let before = values(&m);
    assert!(!scaled_step(&mut m, &mut opt, &mut s, 1e35));
    s.update().unwrap();
    assert_eq!(opt.state_dict(), state);
    assert_eq!(values(&m), before);
}

#[test]
fn two_thousand_good_steps_double_the_scale() {
    let mut m = fc();
    let mut opt = Sgd::new(0.0);
    let mut s = GradScaler::new();
    let good = |m: &mut Linear<2, 1>, s: &mut GradScaler, opt: &mut Sgd| {
        m.weight.grad = vec![1.0, -2.0];
        m.bias.grad = vec![0.5];
        assert!(s.step(opt, m));
        s.update().unwrap();
    };
    for _ in 0..1999 {
        good(&mut m, &mut s, &mut opt);
    }
    assert_eq!((s.scale(), s.growth_tracker()), (65536.0, 1999));
    good(&mut m, &mut s, &mut opt);
    assert_eq!((s.scale(), s.growth_tracker()), (131072.0, 0));
    // An overflow restarts the count: 1000 good, one bad, 1999 good: no growth yet.
    for _ in 0..1000 {
        good(&mut m, &mut s, &mut opt);
    }
    m.weight.grad = vec![f32::INFINITY, 0.0];
    assert!(!s.step(&mut opt, &mut m));
    s.update().unwrap();
    assert_eq!((s.scale(), s.growth_tracker()), (65536.0, 0));
    for _ in 0..1999 {
        good(&mut m, &mut s, &mut opt);
    }
    assert_eq!(s.scale(), 65536.0);
    good(&mut m, &mut s, &mut opt);
    assert_eq!(s.scale(), 131072.0);
}

#[test]
fn growth_stops_at_the_largest_f32() {
    let big = 2f64.powi(127);
    let mut s = GradScaler::with_config(big, 2.0, 0.5, 1).unwrap();
    let mut m = fc();
    m.weight.grad = vec![0.0, 0.0];
    m.bias.grad = vec![0.0];
    assert!(s.unscale(&mut m));
    s.update().unwrap();
    assert_eq!(s.scale(), big, "2^128 is not a finite f32");
}

#[test]
fn unscale_divides_trainable_grads_once() {
    let mut m = fc();
    let mut s = GradScaler::new();
    m.weight.grad = vec![65536.0, -131072.0];
    m.bias.grad = vec![32768.0];
    m.bias.frozen = true;
    assert!(s.unscale(&mut m));
    assert_eq!(m.weight.grad, vec![1.0, -2.0]);
    assert_eq!(m.bias.grad, vec![32768.0], "frozen parameters are not touched");
    // step after unscale does not divide again.
    let mut opt = Sgd::new(1.0);
    let w = m.weight.value_vec();
    assert!(s.step(&mut opt, &mut m));
    assert_eq!(m.weight.value_vec(), vec![w[0] - 1.0, w[1] + 2.0]);
    s.update().unwrap();
    assert_eq!(s.growth_tracker(), 1);
}

#[test]
fn update_without_an_inf_check_is_an_error() {
    let mut s = GradScaler::new();
    assert_eq!(s.update(), Err(AmpError::NoInfCheck));
    let mut m = fc();
    s.unscale(&mut m);
    assert!(s.update().is_ok());
    assert_eq!(s.update(), Err(AmpError::NoInfCheck), "one check per update");
}

/// A hand-written loop with the scaler gives exactly the parameters of the
/// same loop without it (power-of-two scale: scaling and unscaling are
/// exact), and training converges.
#[test]
fn hand_loop_with_optimizer_matches_unscaled_loop() {
    let x = Tensor::<S1<2>>::from_vec(&Cpu, 4, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0, 2.0]).unwrap();
    // y = 2 x0 - x1 + 0.5
    let y = Tensor::<S1<1>>::from_vec(&Cpu, 4, vec![2.5, -0.5, 1.5, -3.5]).unwrap();
    let run = |scaled: bool| {
        let mut m = fc();
        let mut opt = Sgd::new(0.05).momentum(0.9);
        let mut s = GradScaler::new();
        let (mut out, mut dy, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu), Tensor::empty(&Cpu));
        let mut losses = Vec::new();
        for _ in 0..200 {
            let mut ws = GemmWorkspace::new();
            m.forward_train_into(&x, &mut out, &mut ws);
            losses.push(Mse.loss(&out, &y, &mut dy).unwrap());
            m.zero_grad();
            if scaled {
                s.scale_grad_out(&mut dy);
                m.backward_params_into(&x, &out, &mut ws, &dy, &mut dx);
                assert!(s.step(&mut opt, &mut m));
                s.update().unwrap();
            } else {
                m.backward_params_into(&x, &out, &mut ws, &dy, &mut dx);
                opt.step(&mut m);
            }
        }
        (values(&m), losses, s.scale())
    };
    let (plain, plain_losses, _) = run(false);
    let (scaled, losses, scale) = run(true);
    assert_eq!(scaled, plain);
    assert_eq!(losses, plain_losses);
    assert_eq!(scale, 65536.0);
    assert!(*losses.last().unwrap() < 1e-4 * losses[0], "{losses:?}");
    let (w, b) = scaled;
    assert!((w[0] - 2.0).abs() < 1e-2 && (w[1] + 1.0).abs() < 1e-2 && (b[0] - 0.5).abs() < 1e-2);
}

#[test]
fn state_dict_round_trip_and_bad_states() {
    let mut s = GradScaler::with_config(1024.0, 4.0, 0.25, 10).unwrap();
    let mut m = fc();
    for _ in 0..3 {
        s.unscale(&mut m);
        s.update().unwrap();
    }
    let sd = s.state_dict();
    let names: Vec<&str> = sd.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "scale",
            "growth_factor",
            "backoff_factor",
            "growth_interval",
            "_growth_tracker"
        ]
    );
    let mut t = GradScaler::new();
    t.load_state_dict(&sd).unwrap();
    assert_eq!((t.scale(), t.growth_tracker()), (1024.0, 3));
    assert_eq!(t.state_dict(), sd);
    // Bad states are refused and leave the scaler unchanged.
    let fresh = GradScaler::new();
    let mut u = fresh.clone();
    let edit = |name: &str, v: Vec<f64>| {
        let mut sd = sd.clone();
        sd.iter_mut().find(|(n, _, _)| n == name).unwrap().2 = v;
        sd
    };
    for bad in [
        edit("scale", vec![f64::INFINITY]),
        edit("scale", vec![0.0]),
        edit("growth_factor", vec![1.0]),
        edit("backoff_factor", vec![1.5]),
        edit("growth_interval", vec![0.0]),
        edit("_growth_tracker", vec![2.5]),
        edit("scale", vec![1.0, 2.0]),
        sd[1..].to_vec(),
    ] {
        assert!(matches!(u.load_state_dict(&bad), Err(AmpError::BadState(_))), "{bad:?}");
        assert_eq!(u, fresh);
    }
}

#[test]
fn config_is_checked() {
    assert!(GradScaler::with_config(0.0, 2.0, 0.5, 1).is_err());
    assert!(GradScaler::with_config(f64::NAN, 2.0, 0.5, 1).is_err());
    assert!(GradScaler::with_config(1.0, 1.0, 0.5, 1).is_err());
    assert!(GradScaler::with_config(1.0, 2.0, 1.0, 1).is_err());
    assert!(GradScaler::with_config(1.0, 2.0, 0.0, 1).is_err());
    assert!(GradScaler::with_config(1.0, 2.0, 0.5, 0).is_err());
    assert!(GradScaler::with_config(8.0, 2.0, 0.5, 1).is_ok());
}

#[test]
fn disabled_scaler_passes_through() {
    let mut s = GradScaler::disabled();
    let mut m = fc();
    let mut opt = Sgd::new(0.1);
    m.weight.grad = vec![f32::INFINITY, 1.0];
    let mut dy = Tensor::<S1<1>>::from_vec(&Cpu, 1, vec![3.0]).unwrap();
    s.scale_grad_out(&mut dy);
    assert_eq!(dy.to_vec(), vec![3.0]);
    assert!(s.step(&mut opt, &mut m), "disabled: no check, always steps");
    assert!(s.update().is_ok());
    assert_eq!(s.scale(), 1.0);
    assert!(s.state_dict().is_empty());
}

#[test]
fn policy_choices() {
    for (p, low) in [
        (Precision::F32, Precision::F32),
        (Precision::Bf16, Precision::Bf16),
        (Precision::F16, Precision::F16),
    ] {
        let pol = PrecisionPolicy::new(p);
        assert_eq!(pol.compute(), p);
        for op in OpKind::ALL {
            let want = match op {
                OpKind::Gemm | OpKind::Conv | OpKind::Activation => low,
                _ => Precision::F32,
            };
            assert_eq!(pol.precision_for(op), want, "{p} {op:?}");
        }
        assert_eq!(
            (pol.accumulation(), pol.master_weights()),
            (Precision::F32, Precision::F32)
        );
        assert_eq!(pol.needs_loss_scaling(), p == Precision::F16);
        assert_eq!(pol.grad_scaler().is_enabled(), p == Precision::F16);
    }
    assert_eq!(PrecisionPolicy::default().compute(), Precision::F32);
    assert_eq!(
        (
            Precision::F32.size_bytes(),
            Precision::Bf16.size_bytes(),
            Precision::F16.size_bytes()
        ),
        (4, 2, 2)
    );
    assert!(Precision::Bf16.is_low() && !Precision::F32.is_low());
}

#[test]
fn precision_parses_and_prints() {
    for p in [Precision::F32, Precision::Bf16, Precision::F16] {
        assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
    }
    assert_eq!("BF16".parse::<Precision>().unwrap(), Precision::Bf16);
    assert_eq!("fp16".parse::<Precision>().unwrap(), Precision::F16);
    assert!(matches!(
        "f8".parse::<Precision>(),
        Err(dl_core::Error::InvalidArgument { .. })
    ));
}
