//! Finite-difference checks of the step kernels over a short sequence with
//! `W_hh = 0` (so no GEMM is needed: `r = 0`); the state still carries
//! gradient through the LSTM cell state and the GRU's `z * h`. The full
//! layer (with `W_hh`) is checked in `dl_nn::layers::rnn` and against
//! PyTorch in the golden cases.

use super::*;
use crate::gradcheck::{check_gradient, GradCheck};
use crate::Cpu;

const N: usize = 2;
const T: usize = 3;
const H: usize = 2;

fn step(cell: Cell, k: usize) -> RnnStep {
    RnnStep {
        cell,
        n: N,
        t_len: T,
        hidden: H,
        step: k,
        time: T - 1 - k, // a reverse direction: time and step differ
        y_width: 2 * H,
        y_offset: H,
    }
}

fn forward(cell: Cell, g: &[f64], b_hh: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let s = step(cell, 0);
    let r = vec![0.0; N * cell.gates() * H];
    let (mut h, mut c, mut a, mut y) = (
        vec![0.0; s.state_len()],
        vec![0.0; s.state_len()],
        vec![0.0; s.acts_len()],
        vec![0.0; s.y_len()],
    );
    for k in 0..T {
        let b = RnnStepFwd {
            g: &g.to_vec(),
            r: &r,
            b_hh: &b_hh.to_vec(),
            h: &mut h,
            c: &mut c,
            acts: &mut a,
            y: &mut y,
        };
        Cpu.rnn_step_forward(step(cell, k), b);
    }
    (h, c, a, y)
}

fn check(cell: Cell) {
    let s = step(cell, 0);
    let g: Vec<f64> = (0..s.g_len()).map(|i| (i as f64 * 0.37).sin()).collect();
    let b: Vec<f64> = (0..cell.gates() * H).map(|i| (i as f64 * 0.5).cos() * 0.3).collect();
    let gy: Vec<f64> = (0..s.y_len()).map(|i| (i as f64 * 0.71).cos()).collect();
    let loss = |g: &[f64], b: &[f64]| forward(cell, g, b).3.iter().zip(&gy).map(|(a, b)| a * b).sum::<f64>();
    let (h, c, a, _) = forward(cell, &g, &b);
    let (mut dh, mut dc) = (vec![0.0; N * H], vec![0.0; N * H]);
    let (mut dg, mut dr) = (vec![0.0; s.g_len()], vec![0.0; s.dr_len()]);
    for k in (0..T).rev() {
        let b = RnnStepBwd {
            acts: &a,
            h: &h,
            c: &c,
            dy: &gy,
            dh: &mut dh,
            dc: &mut dc,
            dg: &mut dg,
            dr: &mut dr,
        };
        Cpu.rnn_step_backward(step(cell, k), b);
    }
    check_gradient(|v| loss(v, &b), &g, &dg, GradCheck::default()).unwrap();
    // b_hh enters like the recurrent projection: its gradient is the column sum of dr.
    let gh = cell.gates() * H;
    let mut db = vec![0.0; gh];
    for (i, v) in dr.iter().enumerate() {
        db[i % gh] += v;
    }
    check_gradient(|v| loss(&g, v), &b, &db, GradCheck::default()).unwrap();
}

#[test]
fn lstm_step_gradients() {
    check(Cell::Lstm);
}

#[test]
fn gru_step_gradients() {
    check(Cell::Gru);
}

#[test]
#[should_panic(expected = "rnn step")]
fn short_buffer_panics() {
    let s = step(Cell::Gru, 0);
    let mut v = vec![0.0f32; 1];
    let (mut c, mut a, mut y) = (vec![], vec![0.0; s.acts_len()], vec![0.0; s.y_len()]);
    let b = RnnStepFwd {
        g: &vec![0.0; s.g_len()],
        r: &vec![0.0; 18],
        b_hh: &vec![0.0; 6],
        h: &mut v,
        c: &mut c,
        acts: &mut a,
        y: &mut y,
    };
    Cpu.rnn_step_forward(s, b);
}
