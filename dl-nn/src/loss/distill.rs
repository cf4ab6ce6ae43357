//! Knowledge distillation (Hinton, Vinyals and Dean, 2015): a student
//! learns from a teacher's softened outputs as well as from the labels.
//!
//! With student logits `s`, teacher logits `t` (constants), labels `y`,
//! temperature `T > 0` and weight `alpha` in `[0, 1]`:
//!
//! `loss = alpha T^2 KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) CE(s, y)`
//!
//! with the KL divergence reduced by `batchmean` (PyTorch's
//! `F.kl_div(log_softmax(s / T), softmax(t / T), reduction="batchmean")`).
//! The `T^2` keeps the soft term's gradient,
//! `alpha T (softmax(s / T) - softmax(t / T)) / N`, on the scale of the
//! hard term's as `T` changes.
//!
//! The math is the existing kernels chained, nothing new: the backend's
//! scale, softmax and log-softmax forward, the element-wise KL divergence,
//! the log-softmax backward, `axpy`, and the cross-entropy kernel.
//! [`DistillScratch`] holds the intermediate buffers, so a training loop
//! that keeps one allocates nothing per step.
//!
//! `fit` distils with a frozen teacher model through
//! [`FitConfig::teacher`](crate::train::FitConfig::teacher), which adds
//! [`soft_target_into`]'s term to the configured loss (for `CrossEntropy`,
//! exactly [`Distillation`]).
//!
//! **PyTorch equivalent**: the distillation loss of the PyTorch knowledge
//! distillation tutorial, `alpha * T**2 * F.kl_div(F.log_softmax(s / T, -1),
//! F.softmax(t / T, -1), reduction="batchmean") + (1 - alpha) *
//! F.cross_entropy(s, y)`.

use super::cross_entropy::{cross_entropy_flat, labels_to_idx};
use super::Loss;
use dl_core::ops::loss::PointwiseLoss;
use dl_core::ops::softmax::{last_axis, SoftmaxDims};
use dl_core::{Backend, Error, Float, Result, Shape, Tensor, S1};

const OP: &str = "distillation";

/// The intermediate buffers of the distillation kernels (scaled logits,
/// teacher probabilities, student log-probabilities). Reused from call to
/// call: after the first call of the largest batch nothing is allocated.
pub struct DistillScratch<B: Backend, E: Float> {
    zs: B::Buf<E>,
    zt: B::Buf<E>,
    pt: B::Buf<E>,
    lq: B::Buf<E>,
}

impl<B: Backend, E: Float> DistillScratch<B, E> {
    /// Empty buffers on `dev`.
    pub fn new(dev: &B) -> Self {
        Self {
            zs: dev.zeros(0),
            zt: dev.zeros(0),
            pt: dev.zeros(0),
            lq: dev.zeros(0),
        }
    }
}

/// Checks a temperature (finite, positive) and a weight `alpha` in `[0, 1]`.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the bad value.
pub fn check_settings(temperature: f64, alpha: f64) -> Result<()> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(Error::InvalidArgument {
            op: OP,
            msg: format!("the temperature must be finite and positive, got {temperature}"),
        });
    }
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::InvalidArgument {
            op: OP,
            msg: format!("alpha must be in [0, 1], got {alpha}"),
        });
    }
    Ok(())
}

/// The soft-target term on flat buffers: student and teacher logits of
/// `rows` rows of `cols` classes (softmax over each row) from `batch`
/// samples. Returns `weight T^2 KL(softmax(t / T) || softmax(s / T))`
/// (`batchmean`: divided by `batch`) and **adds** its gradient with respect
/// to the student logits, `weight T (softmax(s / T) - softmax(t / T)) / batch`,
/// into `grad`.
///
/// # Errors
/// [`Error::InvalidArgument`] for an empty batch or a bad temperature or
/// weight; [`Error::LengthMismatch`] when a buffer does not hold
/// `rows * cols` elements.
#[allow(clippy::too_many_arguments)]
pub fn soft_target_flat<B: Backend, E: Float>(
    dev: &B,
    student: &B::Buf<E>,
    teacher: &B::Buf<E>,
    rows: usize,
    cols: usize,
    batch: usize,
    temperature: f64,
    weight: f64,
    grad: &mut B::Buf<E>,
    s: &mut DistillScratch<B, E>,
) -> Result<E> {
    check_settings(temperature, weight)?;
    let n = rows * cols;
    if n == 0 || batch == 0 {
        return Err(Error::InvalidArgument {
            op: OP,
            msg: "empty batch: the mean of no sample is undefined".into(),
        });
    }
    for got in [dev.len(student), dev.len(teacher), dev.len(grad)] {
        if got != n {
            return Err(Error::LengthMismatch {
                shape: vec![cols],
                batch: rows,
                expected: n,
                got,
            });
        }
    }
    let inv_t = 1.0 / temperature;
    // z = logits / T.
    dev.copy(student, &mut s.zs);
    dev.scale(&mut s.zs, inv_t);
    dev.copy(teacher, &mut s.zt);
    dev.scale(&mut s.zt, inv_t);
    // p = softmax(t / T), log q = log_softmax(s / T).
    dev.softmax_forward(SoftmaxDims::new(rows, cols, false), &s.zt, &mut s.pt);
    dev.softmax_forward(SoftmaxDims::new(rows, cols, true), &s.zs, &mut s.lq);
    // KL(p || q) / batch, and its gradient -p / batch with respect to log q
    // (into zt, free now).
    let kl = dev.pointwise_loss(PointwiseLoss::KlDiv, n, 1.0 / batch as f64, &s.lq, &s.pt, &mut s.zt);
    // Through the log-softmax: (q - p) / batch with respect to s / T (into zs).
    dev.softmax_backward(SoftmaxDims::new(rows, cols, true), &s.lq, &s.zt, &mut s.zs);
    // d/ds = d/dz / T; times weight T^2.
    dev.axpy(E::from_f64(weight * temperature), &s.zs, grad);
    Ok(E::from_f64(weight * temperature * temperature * kl.to_f64()))
}

/// [`soft_target_flat`] on typed tensors: the softmax runs over the last
/// axis of `S`, the KL divergence is divided by the batch size. **Adds**
/// the term's gradient into `grad`, which must already hold the batch
/// (the loss it is added to wrote it).
///
/// # Errors
/// [`Error::ShapeMismatch`] when the batch sizes differ, and the errors of
/// [`soft_target_flat`].
pub fn soft_target_into<S: Shape, B: Backend, E: Float>(
    student: &Tensor<S, B, E>,
    teacher: &Tensor<S, B, E>,
    temperature: f64,
    weight: f64,
    grad: &mut Tensor<S, B, E>,
    scratch: &mut DistillScratch<B, E>,
) -> Result<E> {
    if student.batch() != teacher.batch() || student.batch() != grad.batch() {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: student.shape(),
            rhs: if student.batch() != teacher.batch() {
                teacher.shape()
            } else {
                grad.shape()
            },
        });
    }
    let (rows, cols) = last_axis::<S>(student.batch());
    let dev = student.device().clone();
    soft_target_flat(
        &dev,
        student.buf(),
        teacher.buf(),
        rows,
        cols,
        student.batch(),
        temperature,
        weight,
        grad.buf_mut(),
        scratch,
    )
}

/// The distillation loss on flat buffers: `student` and `teacher` logits
/// `[rows, classes]`, device `labels`; returns the loss and writes its
/// gradient with respect to the student logits into `grad` (resized).
/// The golden-vector runner calls this.
///
/// # Errors
/// The errors of [`cross_entropy_flat`] (a label out of range, an empty
/// batch, a length mismatch) and of [`soft_target_flat`].
///
/// # Panics
/// When `labels` holds fewer than `rows` indices.
#[allow(clippy::too_many_arguments)]
pub fn distillation_flat<B: Backend, E: Float>(
    dev: &B,
    student: &B::Buf<E>,
    teacher: &B::Buf<E>,
    labels: &B::Idx,
    rows: usize,
    classes: usize,
    temperature: f64,
    alpha: f64,
    grad: &mut B::Buf<E>,
    scratch: &mut DistillScratch<B, E>,
) -> Result<E> {
    check_settings(temperature, alpha)?;
    let ce = cross_entropy_flat(dev, student, labels, rows, classes, 0.0, grad)?;
    dev.scale(grad, 1.0 - alpha);
    let soft = soft_target_flat(
        dev,
        student,
        teacher,
        rows,
        classes,
        rows,
        temperature,
        alpha,
        grad,
        scratch,
    )?;
    Ok(E::from_f64((1.0 - alpha) * ce.to_f64() + soft.to_f64()))
}

/// The distillation loss of `student` logits against `teacher` logits and
/// host `labels`, writing the gradient into `grad` (resized to the batch)
/// with reused scratch buffers.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the batch sizes or the label count
/// differ, and the errors of [`distillation_flat`].
#[allow(clippy::too_many_arguments)]
pub fn distillation_into<const C: usize, B: Backend, E: Float>(
    student: &Tensor<S1<C>, B, E>,
    teacher: &Tensor<S1<C>, B, E>,
    labels: &[usize],
    temperature: f64,
    alpha: f64,
    grad: &mut Tensor<S1<C>, B, E>,
    scratch: &mut DistillScratch<B, E>,
) -> Result<E> {
    let n = student.batch();
    if teacher.batch() != n || labels.len() != n {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: vec![n],
            rhs: vec![teacher.batch(), labels.len()],
        });
    }
    let dev = student.device().clone();
    let idx = labels_to_idx(&dev, labels, C)?;
    grad.set_batch(n);
    distillation_flat(
        &dev,
        student.buf(),
        teacher.buf(),
        &idx,
        n,
        C,
        temperature,
        alpha,
        grad.buf_mut(),
        scratch,
    )
}

/// The distillation loss: `(loss, d loss / d student)`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::loss::distill::distillation;
/// let s = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![1.0, 0.0, -1.0]).unwrap();
/// // A teacher that agrees with the student: only the label term is left.
/// let (l, _) = distillation(&s, &s, &[0], 2.0, 0.5).unwrap();
/// let (ce, _) = dl_nn::loss::cross_entropy(&s, &[0]).unwrap();
/// assert!((l - 0.5 * ce).abs() < 1e-6);
/// ```
///
/// # Errors
/// As [`distillation_into`].
pub fn distillation<const C: usize, B: Backend, E: Float>(
    student: &Tensor<S1<C>, B, E>,
    teacher: &Tensor<S1<C>, B, E>,
    labels: &[usize],
    temperature: f64,
    alpha: f64,
) -> Result<(E, Tensor<S1<C>, B, E>)> {
    let mut grad = Tensor::empty(student.device());
    let mut scratch = DistillScratch::new(student.device());
    let l = distillation_into(student, teacher, labels, temperature, alpha, &mut grad, &mut scratch)?;
    Ok((l, grad))
}

/// The target of [`Distillation`]: the teacher's logits for the batch and
/// the labels.
pub struct DistillTarget<const C: usize, B: Backend, E: Float> {
    /// The teacher's logits (constants: no gradient flows into them).
    pub teacher: Tensor<S1<C>, B, E>,
    /// The class labels.
    pub labels: Vec<usize>,
}

/// The distillation loss as a [`Loss`] over logits `S1<C>` whose target
/// holds the teacher's logits and the labels. Each call allocates its
/// scratch buffers; a loop that wants none keeps a [`DistillScratch`] and
/// calls [`distillation_into`], and `fit` takes a teacher model directly
/// ([`FitConfig::teacher`](crate::train::FitConfig::teacher)).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::loss::{Distillation, DistillTarget, Loss};
/// let student = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.0, 0.0]).unwrap();
/// let target = DistillTarget {
///     teacher: Tensor::from_vec(&Cpu, 1, vec![3.0, 0.0]).unwrap(),
///     labels: vec![0],
/// };
/// let mut grad = Tensor::empty(&Cpu);
/// let l = Distillation::new(4.0, 0.9).loss(&student, &target, &mut grad).unwrap();
/// assert!(l > 0.0);
/// assert!(grad.to_vec()[0] < 0.0); // pulled towards the teacher's class
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distillation {
    /// Softmax temperature `T` (> 0; Hinton uses 2 to 20).
    pub temperature: f64,
    /// Weight of the soft-target term, `alpha` in `[0, 1]`.
    pub alpha: f64,
}

impl Distillation {
    /// A distillation loss (the settings are checked when it runs).
    pub fn new(temperature: f64, alpha: f64) -> Self {
        Self { temperature, alpha }
    }
}

impl<const C: usize, B: Backend, E: Float> Loss<S1<C>, B, E> for Distillation {
    type Target = DistillTarget<C, B, E>;
    fn loss(
        &self,
        pred: &Tensor<S1<C>, B, E>,
        target: &DistillTarget<C, B, E>,
        grad: &mut Tensor<S1<C>, B, E>,
    ) -> Result<E> {
        let mut scratch = DistillScratch::new(pred.device());
        distillation_into(
            pred,
            &target.teacher,
            &target.labels,
            self.temperature,
            self.alpha,
            grad,
            &mut scratch,
        )
    }
    /// None: the labels get their accuracy through `fit`'s teacher path.
    fn metrics(&self) -> &'static [crate::train::metrics::Metric] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check;
    use crate::loss::{cross_entropy, kl_div};
    use dl_core::ops::{log_softmax, softmax};
    use dl_core::{Cpu, Rng};

    type T = Tensor<S1<5>, Cpu, f64>;

    /// The definition, from the separate loss functions.
    fn reference(s: &T, t: &T, labels: &[usize], temp: f64, alpha: f64) -> f64 {
        let scaled = |x: &T| T::from_vec(&Cpu, x.batch(), x.to_vec().iter().map(|v| v / temp).collect()).unwrap();
        let (kl, _) = kl_div(&log_softmax(&scaled(s)), &softmax(&scaled(t))).unwrap();
        let (ce, _) = cross_entropy(s, labels).unwrap();
        alpha * temp * temp * kl + (1.0 - alpha) * ce
    }

    #[test]
    fn value_matches_the_definition_and_gradient_checks() {
        let mut rng = Rng::new(3);
        let s = T::randn(&Cpu, 4, &mut rng);
        let t = T::randn(&Cpu, 4, &mut rng);
        let labels = [4, 0, 2, 2];
        for (temp, alpha) in [(1.0, 0.5), (4.0, 0.9), (2.5, 0.0), (0.5, 1.0)] {
            let (l, g) = distillation(&s, &t, &labels, temp, alpha).unwrap();
            let r = reference(&s, &t, &labels, temp, alpha);
            assert!((l - r).abs() < 1e-12, "T {temp} alpha {alpha}: {l} vs {r}");
            let f = |v: &[f64]| {
                distillation(&T::from_slice(&Cpu, 4, v).unwrap(), &t, &labels, temp, alpha)
                    .unwrap()
                    .0
            };
            check(f, &s.to_vec(), &g.to_vec());
        }
    }

    #[test]
    fn soft_term_gradient_checks_on_sequences() {
        // Out = S2<3, 4>: softmax over the last axis, batchmean over samples.
        type Q = Tensor<dl_core::S2<3, 4>, Cpu, f64>;
        let mut rng = Rng::new(9);
        let s = Q::randn(&Cpu, 2, &mut rng);
        let t = Q::randn(&Cpu, 2, &mut rng);
        let mut scratch = DistillScratch::new(&Cpu);
        let soft = |x: &Q, scratch: &mut DistillScratch<Cpu, f64>| {
            let mut g = Q::zeros(&Cpu, 2);
            let l = soft_target_into(x, &t, 3.0, 0.7, &mut g, scratch).unwrap();
            (l, g)
        };
        let (_, g) = soft(&s, &mut scratch);
        let f = |v: &[f64]| soft(&Q::from_slice(&Cpu, 2, v).unwrap(), &mut DistillScratch::new(&Cpu)).0;
        check(f, &s.to_vec(), &g.to_vec());
        // A student equal to the teacher: no loss, no gradient.
        let (l, g) = soft(&t, &mut scratch);
        assert!(l.abs() < 1e-12 && g.to_vec().iter().all(|v| v.abs() < 1e-12));
    }

    #[test]
    fn scratch_is_reused_and_gradient_is_accumulated() {
        let mut rng = Rng::new(4);
        let s = T::randn(&Cpu, 6, &mut rng);
        let t = T::randn(&Cpu, 6, &mut rng);
        let mut scratch = DistillScratch::new(&Cpu);
        let mut g = T::zeros(&Cpu, 6);
        soft_target_into(&s, &t, 2.0, 1.0, &mut g, &mut scratch).unwrap();
        let ptrs = [
            scratch.zs.as_ptr(),
            scratch.zt.as_ptr(),
            scratch.pt.as_ptr(),
            scratch.lq.as_ptr(),
        ];
        let once = g.to_vec();
        soft_target_into(&s, &t, 2.0, 1.0, &mut g, &mut scratch).unwrap();
        assert_eq!(
            ptrs,
            [
                scratch.zs.as_ptr(),
                scratch.zt.as_ptr(),
                scratch.pt.as_ptr(),
                scratch.lq.as_ptr()
            ]
        );
        let twice = g.to_vec();
        assert!(once.iter().zip(&twice).all(|(a, b)| (2.0 * a - b).abs() < 1e-15));
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let s = T::zeros(&Cpu, 2);
        let t = T::zeros(&Cpu, 2);
        for (temp, alpha) in [(0.0, 0.5), (f64::NAN, 0.5), (-1.0, 0.5), (2.0, 1.5), (2.0, -0.1)] {
            let e = distillation(&s, &t, &[0, 1], temp, alpha).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        }
        let e = distillation(&s, &T::zeros(&Cpu, 3), &[0, 1], 2.0, 0.5).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = distillation(&s, &t, &[0], 2.0, 0.5).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = distillation(&s, &t, &[0, 5], 2.0, 0.5).unwrap_err();
        assert!(e.to_string().contains("label 5"), "{e}");
        let e = distillation(&T::zeros(&Cpu, 0), &T::zeros(&Cpu, 0), &[], 2.0, 0.5).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");
        let mut g = vec![0.0; 3];
        let e = soft_target_flat(
            &Cpu,
            &vec![0.0; 4],
            &vec![0.0; 4],
            1,
            4,
            1,
            1.0,
            1.0,
            &mut g,
            &mut DistillScratch::new(&Cpu),
        )
        .unwrap_err();
        assert!(matches!(e, Error::LengthMismatch { .. }), "{e}");
    }

    #[test]
    fn loss_trait_matches_function() {
        let mut rng = Rng::new(5);
        let s = T::randn(&Cpu, 3, &mut rng);
        let target = DistillTarget {
            teacher: T::randn(&Cpu, 3, &mut rng),
            labels: vec![1, 3, 0],
        };
        let mut g = T::empty(&Cpu);
        let l = Distillation::new(3.0, 0.6).loss(&s, &target, &mut g).unwrap();
        let (l2, g2) = distillation(&s, &target.teacher, &target.labels, 3.0, 0.6).unwrap();
        assert_eq!((l, g.to_vec()), (l2, g2.to_vec()));
    }
}
