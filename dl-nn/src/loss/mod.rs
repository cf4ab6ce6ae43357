//! Losses: each returns the scalar loss and writes its gradient with respect
//! to the prediction.

use dl_core::{Backend, Float, Shape, Tensor};

/// A loss over predictions of per-sample shape `S`.
pub trait Loss<S: Shape, B: Backend, E: Float> {
    /// What the prediction is compared with: `[usize]` class labels for
    /// classification losses, a `Tensor<S, B, E>` for regression losses.
    type Target: ?Sized;
    /// Computes the mean loss over the batch and writes `d loss / d pred`
    /// into `grad` (resized to the batch).
    ///
    /// # Errors
    /// A typed error for invalid targets (a class label out of range, a
    /// batch-size mismatch).
    fn loss(&self, pred: &Tensor<S, B, E>, target: &Self::Target, grad: &mut Tensor<S, B, E>) -> dl_core::Result<E>;
}
