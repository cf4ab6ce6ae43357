//! Cross-entropy from logits over class labels, with label smoothing.
//!
//! Per sample, with `lse = log sum_c e^(x_c)` (computed after subtracting the
//! row maximum, so logits of magnitude `1e4` stay finite):
//! `loss = (1 - e) (lse - x_y) + e mean_c (lse - x_c)`, averaged over the
//! batch. The gradient is `(softmax(x) - (1 - e) onehot(y) - e / C) / N`.
//!
//! **PyTorch equivalent**: `nn.CrossEntropyLoss(label_smoothing=e)` /
//! `F.cross_entropy(logits, labels, label_smoothing=e)` (reduction `mean`).

use super::Loss;
use dl_core::ops::loss::{BadLabel, ClassDims};
use dl_core::{Backend, Error, Float, Result, Tensor, S1};

const OP: &str = "cross_entropy";

/// The error of op `op` for a label out of range.
pub(super) fn bad_label(op: &'static str, b: BadLabel, classes: usize) -> Error {
    Error::InvalidArgument {
        op,
        msg: format!(
            "label {} of sample {} is out of range for {classes} classes",
            b.label, b.sample
        ),
    }
}

/// Checks host labels against `classes` and uploads them as `u32` indices.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the first label `>= classes`.
pub fn labels_to_idx<B: Backend>(dev: &B, labels: &[usize], classes: usize) -> Result<B::Idx> {
    let mut v = Vec::with_capacity(labels.len());
    for (sample, &l) in labels.iter().enumerate() {
        if l >= classes {
            return Err(Error::InvalidArgument {
                op: OP,
                msg: format!("label {l} of sample {sample} is out of range for {classes} classes"),
            });
        }
        v.push(l as u32);
    }
    Ok(dev.idx_from_slice(&v))
}

/// Cross-entropy on flat buffers: `logits` `[rows, classes]`, `labels`
/// (`rows` indices); returns the mean loss and writes its gradient into
/// `grad` (resized to `rows * classes`).
///
/// # Errors
/// [`Error::InvalidArgument`] for an empty batch, zero classes, a smoothing
/// outside `[0, 1]` or a label `>= classes`; [`Error::LengthMismatch`] when
/// `logits` does not hold `rows * classes` elements.
///
/// # Panics
/// When `labels` holds fewer than `rows` indices (an internal invariant:
/// the typed functions check the label count on the host).
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_flat<B: Backend, E: Float>(
    dev: &B,
    logits: &B::Buf<E>,
    labels: &B::Idx,
    rows: usize,
    classes: usize,
    label_smoothing: f64,
    grad: &mut B::Buf<E>,
) -> Result<E> {
    if rows == 0 {
        return Err(Error::InvalidArgument {
            op: OP,
            msg: "empty batch: the mean of no sample is undefined".into(),
        });
    }
    if classes == 0 {
        return Err(Error::InvalidArgument {
            op: OP,
            msg: "zero classes".into(),
        });
    }
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(Error::InvalidArgument {
            op: OP,
            msg: format!("label_smoothing must be in [0, 1], got {label_smoothing}"),
        });
    }
    check_logits(dev, logits, rows, classes)?;
    let d = ClassDims { rows, classes };
    dev.cross_entropy(d, label_smoothing, 1.0 / rows as f64, logits, labels, grad)
        .map_err(|b| bad_label(OP, b, classes))
}

/// Checks that flat `logits` hold `rows * classes` values.
pub(super) fn check_logits<B: Backend, E: Float>(
    dev: &B,
    logits: &B::Buf<E>,
    rows: usize,
    classes: usize,
) -> Result<()> {
    let len = dev.len(logits);
    if len != rows * classes {
        return Err(Error::LengthMismatch {
            shape: vec![classes],
            batch: rows,
            expected: rows * classes,
            got: len,
        });
    }
    Ok(())
}

fn check_batch(batch: usize, labels: usize) -> Result<()> {
    if batch != labels {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: vec![batch],
            rhs: vec![labels],
        });
    }
    Ok(())
}

/// Mean cross-entropy of `logits` against device labels, writing the
/// gradient into `grad` (resized to the batch). Allocation-free once `grad`
/// has grown: the path for a training loop whose loader yields
/// [`dl_core::Storage::Idx`] labels.
///
/// # Errors
/// As [`cross_entropy_flat`].
///
/// # Panics
/// When `labels` holds fewer than `logits.batch()` indices.
pub fn cross_entropy_idx_into<const C: usize, B: Backend, E: Float>(
    logits: &Tensor<S1<C>, B, E>,
    labels: &B::Idx,
    label_smoothing: f64,
    grad: &mut Tensor<S1<C>, B, E>,
) -> Result<E> {
    grad.set_batch(logits.batch());
    cross_entropy_flat(
        logits.device(),
        logits.buf(),
        labels,
        logits.batch(),
        C,
        label_smoothing,
        grad.buf_mut(),
    )
}

/// Mean cross-entropy of `logits` against host `labels`, writing the
/// gradient into `grad` (resized to the batch).
///
/// # Errors
/// [`Error::ShapeMismatch`] when `labels.len() != logits.batch()`, and the
/// errors of [`cross_entropy_flat`].
pub fn cross_entropy_into<const C: usize, B: Backend, E: Float>(
    logits: &Tensor<S1<C>, B, E>,
    labels: &[usize],
    label_smoothing: f64,
    grad: &mut Tensor<S1<C>, B, E>,
) -> Result<E> {
    check_batch(logits.batch(), labels.len())?;
    let idx = labels_to_idx(logits.device(), labels, C)?;
    cross_entropy_idx_into(logits, &idx, label_smoothing, grad)
}

/// Mean cross-entropy of `logits` against `labels`: `(loss, d loss / d logits)`.
///
/// **PyTorch equivalent**: `F.cross_entropy(logits, labels)`.
///
/// ```
/// use dl_core::prelude::*;
/// let logits = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.0, 0.0]).unwrap();
/// let (loss, grad) = dl_nn::loss::cross_entropy(&logits, &[1]).unwrap();
/// assert!((loss - 2f32.ln()).abs() < 1e-6);
/// assert_eq!(grad.to_vec(), vec![0.5, -0.5]);
/// ```
///
/// # Errors
/// As [`cross_entropy_into`].
pub fn cross_entropy<const C: usize, B: Backend, E: Float>(
    logits: &Tensor<S1<C>, B, E>,
    labels: &[usize],
) -> Result<(E, Tensor<S1<C>, B, E>)> {
    cross_entropy_with_smoothing(logits, labels, 0.0)
}

/// [`cross_entropy`] with label smoothing `e` in `[0, 1]`.
///
/// **PyTorch equivalent**: `F.cross_entropy(logits, labels, label_smoothing=e)`.
///
/// # Errors
/// As [`cross_entropy_into`].
pub fn cross_entropy_with_smoothing<const C: usize, B: Backend, E: Float>(
    logits: &Tensor<S1<C>, B, E>,
    labels: &[usize],
    label_smoothing: f64,
) -> Result<(E, Tensor<S1<C>, B, E>)> {
    let mut grad = Tensor::empty(logits.device());
    let l = cross_entropy_into(logits, labels, label_smoothing, &mut grad)?;
    Ok((l, grad))
}

/// Cross-entropy loss over logits `S1<C>` and class labels.
///
/// **PyTorch equivalent**: `nn.CrossEntropyLoss(label_smoothing=...)`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::loss::{CrossEntropy, Loss};
/// let logits = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0]).unwrap();
/// let mut grad = Tensor::empty(&Cpu);
/// let plain = CrossEntropy::new().loss(&logits, &[2], &mut grad).unwrap();
/// let smooth = CrossEntropy::with_label_smoothing(0.1).loss(&logits, &[2], &mut grad).unwrap();
/// assert!(smooth > plain);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropy {
    /// Label smoothing `e` in `[0, 1]` (0: none).
    pub label_smoothing: f64,
}

impl CrossEntropy {
    /// Cross-entropy without label smoothing.
    pub fn new() -> Self {
        Self::default()
    }
    /// Cross-entropy with label smoothing `e` (checked when the loss runs).
    pub fn with_label_smoothing(e: f64) -> Self {
        Self { label_smoothing: e }
    }
}

impl<const C: usize, B: Backend, E: Float> Loss<S1<C>, B, E> for CrossEntropy {
    type Target = [usize];
    fn loss(&self, pred: &Tensor<S1<C>, B, E>, target: &[usize], grad: &mut Tensor<S1<C>, B, E>) -> Result<E> {
        cross_entropy_into(pred, target, self.label_smoothing, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check;
    use dl_core::{Cpu, Rng};

    type T = Tensor<S1<5>, Cpu, f64>;

    #[test]
    fn gradient_check_with_and_without_smoothing() {
        let x = T::randn(&Cpu, 4, &mut Rng::new(1));
        let labels = [3, 0, 4, 4];
        for e in [0.0, 0.25] {
            let (_, g) = cross_entropy_with_smoothing(&x, &labels, e).unwrap();
            let f = |v: &[f64]| {
                cross_entropy_with_smoothing(&T::from_slice(&Cpu, 4, v).unwrap(), &labels, e)
                    .unwrap()
                    .0
            };
            check(f, &x.to_vec(), &g.to_vec());
        }
    }

    #[test]
    fn value_of_uniform_logits_is_ln_c() {
        let x = T::zeros(&Cpu, 3);
        let (l, _) = cross_entropy(&x, &[0, 1, 2]).unwrap();
        assert!((l - 5f64.ln()).abs() < 1e-14);
        // Smoothing does not change the loss of uniform logits.
        let (l, _) = cross_entropy_with_smoothing(&x, &[0, 1, 2], 0.3).unwrap();
        assert!((l - 5f64.ln()).abs() < 1e-14);
    }

    #[test]
    fn large_logits_are_finite_in_f32() {
        let x = Tensor::<S1<3>>::from_vec(&Cpu, 2, vec![1e4, -1e4, 0.0, -1e4, 1e4, 1e4]).unwrap();
        let (l, g) = cross_entropy_with_smoothing(&x, &[1, 2], 0.1).unwrap();
        assert!(l.is_finite() && g.all_finite(), "{l} {:?}", g.to_vec());
        assert!((l - (0.5 * (0.9 * 2e4 + 0.1 * 1e4) + 0.5 * (2f32.ln() + 0.1 * 2e4 / 3.0))).abs() < 1.0);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let x = T::zeros(&Cpu, 2);
        let e = cross_entropy(&x, &[0, 5]).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        assert!(e.to_string().contains("label 5 of sample 1"), "{e}");
        let e = cross_entropy(&x, &[0]).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = cross_entropy(&T::zeros(&Cpu, 0), &[]).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");
        let e = cross_entropy_with_smoothing(&x, &[0, 1], 1.5).unwrap_err();
        assert!(e.to_string().contains("label_smoothing"), "{e}");
        let mut g = vec![];
        let idx = vec![0u32, 1];
        let e = cross_entropy_flat(&Cpu, &vec![0f64; 9], &idx, 2, 5, 0.0, &mut g).unwrap_err();
        assert!(matches!(e, Error::LengthMismatch { .. }), "{e}");
    }

    #[test]
    fn loss_trait_reuses_the_gradient_buffer() {
        let x = T::randn(&Cpu, 6, &mut Rng::new(2));
        let mut g = T::zeros(&Cpu, 6);
        let ptr = g.as_slice().as_ptr();
        let l = CrossEntropy::new().loss(&x, &[0, 1, 2, 3, 4, 0], &mut g).unwrap();
        assert_eq!(ptr, g.as_slice().as_ptr());
        let (l2, g2) = cross_entropy(&x, &[0, 1, 2, 3, 4, 0]).unwrap();
        assert_eq!((l, g.to_vec()), (l2, g2.to_vec()));
    }
}
