//! Classification accuracy: the fraction of samples whose first maximal
//! logit is at their label.
//!
//! **PyTorch equivalent**: `(logits.argmax(-1) == labels).float().mean()`.

use super::cross_entropy::{bad_label, check_logits, labels_to_idx};
use dl_core::ops::loss::ClassDims;
use dl_core::{Backend, Error, Float, Result, Tensor, S1};

/// Number of correct predictions on flat buffers (`logits` `[d.rows, d.classes]`).
///
/// # Errors
/// [`Error::InvalidArgument`] for a label `>= d.classes`;
/// [`Error::LengthMismatch`] when `logits` does not hold `d.rows * d.classes`.
///
/// # Panics
/// When `labels` holds fewer than `d.rows` indices.
pub fn count_correct_flat<B: Backend, E: Float>(
    dev: &B,
    logits: &B::Buf<E>,
    labels: &B::Idx,
    d: ClassDims,
) -> Result<usize> {
    check_logits(dev, logits, d.rows, d.classes)?;
    dev.count_correct(d, logits, labels)
        .map_err(|b| bad_label("accuracy", b, d.classes))
}

/// Fraction of samples whose argmax logit (the first, on ties) equals the label.
///
/// ```
/// use dl_core::prelude::*;
/// let logits = Tensor::<S1<3>>::from_vec(&Cpu, 2, vec![0.1, 0.9, 0.0, 2.0, 1.0, 0.0]).unwrap();
/// assert_eq!(dl_nn::loss::accuracy(&logits, &[1, 2]).unwrap(), 0.5);
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] when `labels.len() != logits.batch()`,
/// [`Error::InvalidArgument`] for an empty batch or a label `>= C`.
pub fn accuracy<const C: usize, B: Backend, E: Float>(logits: &Tensor<S1<C>, B, E>, labels: &[usize]) -> Result<f64> {
    if logits.batch() != labels.len() {
        return Err(Error::ShapeMismatch {
            op: "accuracy",
            lhs: vec![logits.batch()],
            rhs: vec![labels.len()],
        });
    }
    if labels.is_empty() {
        return Err(Error::InvalidArgument {
            op: "accuracy",
            msg: "empty batch".into(),
        });
    }
    let idx = labels_to_idx(logits.device(), labels, C)?;
    let d = ClassDims {
        rows: labels.len(),
        classes: C,
    };
    let n = count_correct_flat(logits.device(), logits.buf(), &idx, d)?;
    Ok(n as f64 / labels.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dl_core::Cpu;

    #[test]
    fn counts_and_errors() {
        let x = Tensor::<S1<2>>::from_vec(&Cpu, 4, vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 3.0, 2.0]).unwrap();
        assert_eq!(accuracy(&x, &[0, 1, 0, 1]).unwrap(), 0.75);
        assert!(matches!(
            accuracy(&x, &[0, 1]).unwrap_err(),
            Error::ShapeMismatch { .. }
        ));
        assert!(accuracy(&x, &[0, 1, 2, 0]).unwrap_err().to_string().contains("label 2"));
        assert!(accuracy(&Tensor::<S1<2>>::zeros(&Cpu, 0), &[]).is_err());
    }
}
