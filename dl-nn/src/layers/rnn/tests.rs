//! Finite-difference gradient checks of `LSTM`, `GRU` (two layers,
//! bidirectional: every path of the stack) and `LastStep`, in f64.

use super::*;
use crate::layers::test_util::check_layer;
use dl_core::gradcheck::{check_gradient, GradCheck};

const T: usize = 3;

/// `forward` and `forward_train` agree, and the input and every parameter
/// pass the finite-difference check.
fn check<L, const IN: usize, const OUT: usize>(mut l: L)
where
    L: Layer<S2<T, IN>, S2<T, OUT>, Cpu, f64> + Clone,
{
    let x = Tensor::<S2<T, IN>, Cpu, f64>::randn(&Cpu, 2, &mut Rng::new(11));
    let mut out = Tensor::empty(&Cpu);
    l.forward_train_into(&x, &mut out, &mut L::new_cache(&Cpu));
    assert_eq!(out.to_vec(), l.forward(&x).to_vec(), "forward and forward_train differ");
    let mut params = 0;
    l.visit("", &mut |_, _| params += 1);
    assert_eq!(check_layer(&l, &x, true), params);
}

#[test]
fn lstm_two_layers_bidirectional_gradients() {
    check::<_, 3, 4>(LSTM::<3, 2, 2, true, Cpu, f64>::init(&Cpu, 1));
}

#[test]
fn gru_two_layers_bidirectional_gradients() {
    check::<_, 3, 4>(GRU::<3, 2, 2, true, Cpu, f64>::init(&Cpu, 2));
}

#[test]
fn unidirectional_gradients() {
    check::<_, 2, 3>(LSTM::<2, 3, 1, false, Cpu, f64>::init(&Cpu, 3));
    check::<_, 2, 3>(GRU::<2, 3, 1, false, Cpu, f64>::init(&Cpu, 4));
}

#[test]
fn state_dict_names_shapes_and_count() {
    let l = LSTM::<4, 3, 2, true>::init(&Cpu, 0);
    let mut names = vec![];
    l.visit("rnn.", &mut |n, p| names.push((n.to_string(), p.dims.clone())));
    assert_eq!(names.len(), 16);
    assert_eq!(names[0], ("rnn.weight_ih_l0".into(), vec![12, 4]));
    assert_eq!(names[5], ("rnn.weight_hh_l0_reverse".into(), vec![12, 3]));
    assert_eq!(names[8], ("rnn.weight_ih_l1".into(), vec![12, 6]));
    assert_eq!(names[15], ("rnn.bias_hh_l1_reverse".into(), vec![12]));
    let total: usize = names.iter().map(|(_, d)| d.iter().product::<usize>()).sum();
    assert_eq!(total, <LSTM<4, 3, 2, true> as Module<Cpu, f32>>::NUM_PARAMS);
    let g = GRU::<4, 3>::init(&Cpu, 0);
    let mut total = 0;
    g.visit("", &mut |_, p| total += p.numel());
    assert_eq!(total, <GRU<4, 3> as Module<Cpu, f32>>::NUM_PARAMS);
}

#[test]
fn final_states_are_the_last_step_of_each_direction() {
    let mut l = LSTM::<2, 3, 1, true, Cpu, f64>::init(&Cpu, 5);
    let x = Tensor::<S2<4, 2>, Cpu, f64>::randn(&Cpu, 1, &mut Rng::new(6));
    let mut out = Tensor::<S2<4, 6>, Cpu, f64>::empty(&Cpu);
    let mut cache = RnnCache::new(&Cpu);
    l.forward_train_into(&x, &mut out, &mut cache);
    let y = out.to_vec();
    let h_n = cache.h_n(&Cpu).unwrap();
    // Forward direction ends at t = 3, reverse at t = 0.
    assert_eq!(&h_n[..3], &y[3 * 6..3 * 6 + 3]);
    assert_eq!(&h_n[3..], &y[3..6]);
    assert_eq!(cache.c_n(&Cpu).unwrap().len(), 6);
}

#[test]
fn wrong_parameter_shapes_are_typed_errors() {
    let d = LSTM::<2, 3, 1, false, Cpu, f32>::dims(1, 2);
    let params: Vec<RawParam<Cpu, f32>> = vec![];
    let mut cache = RnnCache::new(&Cpu);
    let mut y = vec![];
    assert!(rnn_forward(&Cpu, d, &vec![0.0; 4], &params, &mut y, &mut cache).is_err());
}

#[test]
fn last_step_gradient() {
    let mut l = LastStep::<Cpu, f64>::default();
    let x = Tensor::<S2<3, 2>, Cpu, f64>::randn(&Cpu, 2, &mut Rng::new(7));
    let mut cache = <LastStep<Cpu, f64> as Layer<S2<3, 2>, S1<2>, Cpu, f64>>::new_cache(&Cpu);
    let mut out = Tensor::empty(&Cpu);
    l.forward_train_into(&x, &mut out, &mut cache);
    let xv = x.to_vec();
    assert_eq!(out.to_vec(), vec![xv[4], xv[5], xv[10], xv[11]]);
    let g = vec![1.0, -2.0, 0.5, 3.0];
    let gt = Tensor::from_slice(&Cpu, 2, &g).unwrap();
    let mut dx = Tensor::empty(&Cpu);
    l.backward_into(&x, &out, &mut cache, &gt, &mut dx);
    let f = |v: &[f64]| {
        let y: Tensor<S1<2>, Cpu, f64> = l.forward(&Tensor::<S2<3, 2>, Cpu, f64>::from_slice(&Cpu, 2, v).unwrap());
        y.to_vec().iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
    };
    check_gradient(f, &xv, &dx.to_vec(), GradCheck::default()).unwrap();
}
