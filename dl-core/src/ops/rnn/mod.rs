//! The element-wise step of recurrent cells (LSTM, GRU), forward and
//! backward, for a recurrent layer that does the matrix products itself.
//!
//! A recurrent layer (`dl_nn::layers::rnn`) projects the inputs of all time
//! steps with one GEMM (`g = x W_ih^T + b_ih`, batch-major `[N, T, G*H]`),
//! then, for each step, multiplies the previous hidden state by `W_hh^T`
//! (`r`, `[N, G*H]`) and calls [`RnnKernel::rnn_step_forward`], which
//! applies the gates and writes the new state and the output. Gate rows
//! follow PyTorch: LSTM `i, f, g, o` (`G = 4`), GRU `r, z, n` (`G = 3`) with
//! `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))` and
//! `h' = (1 - z) * n + z * h`.
//!
//! States are stored time-major by *step slot*: slot 0 is the initial
//! (zero) state, slot `k + 1` the state after the `k`-th processed step
//! (for a reverse direction the `k`-th step reads time `T - 1 - k`). The
//! activations of each step (`[T, N, 4H]`: LSTM `i, f, g, o`; GRU `r, z, n`
//! and `W_hn h + b_hn`) are kept for the backward step.
//!
//! A backend without device kernels opts in, by implementing
//! [`RnnOnHost`], to running the CPU loops on a host copy of the buffers
//! (correct, slow).
//!
//! **PyTorch equivalent**: the cell arithmetic of `nn.LSTM` and `nn.GRU`.

mod cpu_kernel;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_kernel;

use crate::backend::{on_host, Storage};
use crate::dtype::Float;

pub use cpu_kernel::{rnn_step_backward_host, rnn_step_forward_host};

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    /// Long short-term memory: gates `i, f, g, o`, a cell state `c`.
    Lstm,
    /// Gated recurrent unit: gates `r, z, n`.
    Gru,
}

impl Cell {
    /// Gate rows per hidden unit: 4 for LSTM, 3 for GRU.
    pub const fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// Dimensions and position of one recurrent step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RnnStep {
    /// The cell.
    pub cell: Cell,
    /// Batch size `N`.
    pub n: usize,
    /// Sequence length `T`.
    pub t_len: usize,
    /// Hidden size `H`.
    pub hidden: usize,
    /// Index of the step in processing order: reads state slot `step`,
    /// writes slot `step + 1` and activation slot `step`.
    pub step: usize,
    /// Time position of the step (`step` forward, `T - 1 - step` reverse).
    pub time: usize,
    /// Features per position of the output `y` (`H` times the directions).
    pub y_width: usize,
    /// Offset of this direction within a position of `y` (`0` or `H`).
    pub y_offset: usize,
}

impl RnnStep {
    /// Elements of a state buffer, `(T + 1) N H`.
    pub const fn state_len(&self) -> usize {
        (self.t_len + 1) * self.n * self.hidden
    }
    /// Elements of the activation buffer, `T N 4H`.
    pub const fn acts_len(&self) -> usize {
        self.t_len * self.n * 4 * self.hidden
    }
    /// Elements of the batch-major projection `g` (and its gradient), `N T G H`.
    pub const fn g_len(&self) -> usize {
        self.n * self.t_len * self.cell.gates() * self.hidden
    }
    /// Elements of the time-major recurrent gradient `dr`, `T N G H`.
    pub const fn dr_len(&self) -> usize {
        self.g_len()
    }
    /// Elements of the output `y`, `N T y_width`.
    pub const fn y_len(&self) -> usize {
        self.n * self.t_len * self.y_width
    }
}

/// The buffers of a forward step ([`RnnKernel::rnn_step_forward`]): a
/// backend's buffers, or host slices (`Buf = [E]`).
#[derive(Debug)]
pub struct RnnStepFwd<'a, Buf: ?Sized> {
    /// Input projection, batch-major (read at `time`).
    pub g: &'a Buf,
    /// This step's recurrent projection `h W_hh^T`, `[N, G H]`.
    pub r: &'a Buf,
    /// Recurrent bias, `[G H]`.
    pub b_hh: &'a Buf,
    /// Hidden states (reads slot `step`, writes slot `step + 1`).
    pub h: &'a mut Buf,
    /// Cell states (LSTM; unused for GRU), as `h`.
    pub c: &'a mut Buf,
    /// Activations (writes slot `step`).
    pub acts: &'a mut Buf,
    /// Output (writes position `time`).
    pub y: &'a mut Buf,
}

/// The buffers of a backward step ([`RnnKernel::rnn_step_backward`]), as
/// [`RnnStepFwd`].
#[derive(Debug)]
pub struct RnnStepBwd<'a, Buf: ?Sized> {
    /// Activations of the forward.
    pub acts: &'a Buf,
    /// Hidden states of the forward.
    pub h: &'a Buf,
    /// Cell states of the forward (LSTM).
    pub c: &'a Buf,
    /// Output gradient (read at `time`).
    pub dy: &'a Buf,
    /// Carried hidden-state gradient, `[N, H]`.
    pub dh: &'a mut Buf,
    /// Carried cell-state gradient (LSTM), `[N, H]`.
    pub dc: &'a mut Buf,
    /// Gate gradients of the input projection (batch-major, at `time`).
    pub dg: &'a mut Buf,
    /// Gate gradients of the recurrent projection (time-major, slot `step`).
    pub dr: &'a mut Buf,
}

/// Element-wise recurrent step kernels of a backend. Buffers must already
/// have the lengths of [`RnnStep`] (`state_len`, `acts_len`, ...); a short
/// buffer is a bug in the caller and panics.
pub trait RnnKernel: Storage {
    /// One forward step: reads `g` (at `time`), `r` (`[N, G H]`, this step's
    /// `h W_hh^T`), `b_hh`, state slot `step` of `h` (and `c` for LSTM;
    /// unused for GRU); writes state slot `step + 1`, activation slot `step`
    /// and `y` at `time`.
    fn rnn_step_forward<E: Float>(&self, s: RnnStep, b: RnnStepFwd<'_, Self::Buf<E>>);

    /// One backward step (steps run in reverse processing order). Reads the
    /// activations and states, the output gradient `dy` at `time` and the
    /// carried gradients `dh` (`[N, H]`, from the later steps through
    /// `W_hh`) and `dc` (LSTM cell state; unused for GRU). Writes the gate
    /// pre-activation gradients of the input projection into `dg`
    /// (batch-major, at `time`) and of the recurrent projection into `dr`
    /// (time-major, slot `step`); leaves in `dh` the part of the previous
    /// state's gradient that does not go through `W_hh` (GRU `dh * z`,
    /// LSTM zero; the caller then adds `dr_step W_hh`), and in `dc` the
    /// previous cell state's gradient.
    fn rnn_step_backward<E: Float>(&self, s: RnnStep, b: RnnStepBwd<'_, Self::Buf<E>>);
}

/// Opt-in for a backend without device recurrent step kernels: implementing
/// this marker gives it [`RnnKernel`] by running the CPU kernels on host copies
/// of its buffers (download, compute, upload; correct, not fast). A backend
/// chooses this by name; it never happens by omission.
pub trait RnnOnHost: Storage {}

impl<B: RnnOnHost> RnnKernel for B {
    fn rnn_step_forward<E: Float>(&self, s: RnnStep, b: RnnStepFwd<'_, Self::Buf<E>>) {
        let RnnStepFwd {
            g,
            r,
            b_hh,
            h,
            c,
            acts,
            y,
        } = b;
        let outs = [(h, None), (c, None), (acts, None), (y, None)];
        on_host(self, [g, r, b_hh], outs, |[g, r, b_hh], [h, c, acts, y]| {
            rnn_step_forward_host(
                s,
                RnnStepFwd {
                    g,
                    r,
                    b_hh,
                    h,
                    c,
                    acts,
                    y,
                },
            )
        });
    }

    fn rnn_step_backward<E: Float>(&self, s: RnnStep, b: RnnStepBwd<'_, Self::Buf<E>>) {
        let RnnStepBwd {
            acts,
            h,
            c,
            dy,
            dh,
            dc,
            dg,
            dr,
        } = b;
        let outs = [(dh, None), (dc, None), (dg, None), (dr, None)];
        on_host(self, [acts, h, c, dy], outs, |[acts, h, c, dy], [dh, dc, dg, dr]| {
            rnn_step_backward_host(
                s,
                RnnStepBwd {
                    acts,
                    h,
                    c,
                    dy,
                    dh,
                    dc,
                    dg,
                    dr,
                },
            )
        });
    }
}

#[cfg(test)]
mod tests;
