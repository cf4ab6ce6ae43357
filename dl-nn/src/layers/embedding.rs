//! Embedding table: each token id selects a row of a `[VOCAB, DIM]` weight.
//!
//! Token ids travel as ordinary float tensors (`S1<T>` of `0.0, 1.0, ...`)
//! so that an embedding is an ordinary first layer of a `#[network]`.
//!
//! An id that is not a finite non-negative integer below `VOCAB` is never
//! clamped to a valid row (that would silently read the wrong token) nor
//! read as a zero vector (that would train on wrong data without a word):
//! `forward`/`forward_train` write a row of NaN for it (so every output
//! computed from it is NaN, and the cache counts such ids), its row gets no
//! gradient, and [`Embedding::try_forward`] rejects the whole batch with
//! [`dl_core::Error::InvalidArgument`]. `fit`, `evaluate` and `predict`
//! check every batch first ([`Layer::check_input`]) and stop with a typed
//! error naming the layer, the id and its sample. Check other untrusted
//! input with `try_forward` (or [`Embedding::check_ids`]).
//!
//! **PyTorch equivalent**: `nn.Embedding(VOCAB, DIM)` (weight `[VOCAB, DIM]`,
//! initialised `N(0, 1)`); PyTorch raises on an out-of-range id.

use crate::module::{InputError, Layer, Module, OutputShape};
use dl_core::init::Init;
use dl_core::ops::embedding::token_index;
use dl_core::{Backend, Cpu, Error, Float, Param, Result, Tensor, S1, S2};

/// An embedding table of `VOCAB` tokens of `DIM` features: `S1<T>` of ids
/// -> `S2<T, DIM>`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let emb = Embedding::<10, 4>::init(&Cpu, 0);
/// let ids = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![2.0, 9.0, 2.0]).unwrap();
/// let y: Tensor<S2<3, 4>> = emb.try_forward(&ids).unwrap();
/// assert_eq!(y.to_vec()[..4], y.to_vec()[8..]);
/// let bad = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![2.0, 10.0, 2.0]).unwrap();
/// assert!(emb.try_forward(&bad).is_err());
/// ```
#[derive(Clone, Debug, Module)]
#[module(crate = crate, builtin)]
pub struct Embedding<const VOCAB: usize, const DIM: usize, B: Backend = Cpu, E: Float = f32> {
    /// The table `[VOCAB, DIM]`.
    #[param(init = Init::Normal { mean: 0.0, std: 1.0 })]
    pub weight: Param<S2<VOCAB, DIM>, B, E>,
}

impl<const VOCAB: usize, const DIM: usize, B: Backend, E: Float> Embedding<VOCAB, DIM, B, E> {
    /// Checks that every id is a finite non-negative integer below `VOCAB`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first invalid id and its position.
    pub fn check_ids<const T: usize>(&self, ids: &Tensor<S1<T>, B, E>) -> Result<()> {
        first_bad_id::<T, E>(&ids.to_vec(), VOCAB).map_or(Ok(()), |e| {
            Err(Error::InvalidArgument {
                op: "Embedding",
                msg: format!(
                    "token id {} at position {} (sample {}, token {}) {}",
                    e.value,
                    e.sample * T + e.position,
                    e.sample,
                    e.position,
                    e.reason
                ),
            })
        })
    }

    /// Like `forward`, but rejects invalid ids instead of writing zero rows.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when an id is not a finite non-negative
    /// integer below `VOCAB`.
    pub fn try_forward<const T: usize>(&self, ids: &Tensor<S1<T>, B, E>) -> Result<Tensor<S2<T, DIM>, B, E>> {
        self.check_ids(ids)?;
        Ok(<Self as Layer<S1<T>, S2<T, DIM>, B, E>>::forward(self, ids))
    }
}

/// The first id of `ids` (samples of `T` tokens) that is not a token of a
/// `vocab`-row table.
fn first_bad_id<const T: usize, E: Float>(ids: &[E], vocab: usize) -> Option<InputError> {
    let i = ids.iter().position(|&v| token_index(v, vocab).is_none())?;
    Some(InputError {
        layer: String::new(),
        sample: i / T.max(1),
        position: i % T.max(1),
        value: ids[i].to_f64(),
        reason: format!("is not a token id (an integer in 0..{vocab})"),
    })
}

impl<const VOCAB: usize, const DIM: usize, const T: usize, B: Backend, E: Float> OutputShape<S1<T>>
    for Embedding<VOCAB, DIM, B, E>
{
    type Out = S2<T, DIM>;
}

impl<const VOCAB: usize, const DIM: usize, const T: usize, B: Backend, E: Float> Layer<S1<T>, S2<T, DIM>, B, E>
    for Embedding<VOCAB, DIM, B, E>
{
    /// Number of invalid ids met by the last `forward_train` (given NaN rows).
    type Cache = usize;

    fn new_cache(_dev: &B) -> usize {
        0
    }
    /// Every id must be an integer in `0..VOCAB` (reads the ids back to the
    /// host: one copy of the batch's ids per call).
    fn check_input(&self, x: &Tensor<S1<T>, B, E>) -> std::result::Result<(), InputError> {
        first_bad_id::<T, E>(&x.to_vec(), VOCAB).map_or(Ok(()), Err)
    }
    fn forward_into(&self, x: &Tensor<S1<T>, B, E>, out: &mut Tensor<S2<T, DIM>, B, E>) {
        out.set_batch(x.batch());
        x.device()
            .embedding_forward(VOCAB, DIM, x.buf(), &self.weight.value, out.buf_mut());
    }
    fn forward_train_into(&mut self, x: &Tensor<S1<T>, B, E>, out: &mut Tensor<S2<T, DIM>, B, E>, cache: &mut usize) {
        out.set_batch(x.batch());
        *cache = x
            .device()
            .embedding_forward(VOCAB, DIM, x.buf(), &self.weight.value, out.buf_mut());
    }
    /// Accumulates the weight gradient; the ids are not differentiable, so
    /// `dx` is set to zeros.
    fn backward_into(
        &mut self,
        x: &Tensor<S1<T>, B, E>,
        _out: &Tensor<S2<T, DIM>, B, E>,
        _cache: &mut usize,
        dy: &Tensor<S2<T, DIM>, B, E>,
        dx: &mut Tensor<S1<T>, B, E>,
    ) {
        let w = self.weight.raw_mut();
        x.device()
            .embedding_backward(VOCAB, DIM, x.buf(), dy.buf(), &mut w.grad);
        dx.set_batch(x.batch());
        dx.fill(E::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, state_dict};
    use dl_core::ParamKind;
    #[allow(unused_imports)]
    use dl_core::{RawParam, Rng};

    #[test]
    fn gradient_check_weight_with_repeated_ids() {
        let emb = Embedding::<5, 3, Cpu, f64>::init(&Cpu, 1);
        let ids = Tensor::<S1<4>, Cpu, f64>::from_vec(&Cpu, 2, vec![1.0, 4.0, 1.0, 0.0, 3.0, 3.0, 1.0, 2.0]).unwrap();
        assert_eq!(check_layer(&emb, &ids, false), 1);
    }

    #[test]
    fn lookup_values_and_zero_input_gradient() {
        let mut emb = Embedding::<3, 2, Cpu, f64>::init(&Cpu, 0);
        emb.weight.set_value(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let ids = Tensor::<S1<2>, Cpu, f64>::from_vec(&Cpu, 1, vec![2.0, 0.0]).unwrap();
        let (mut y, mut c, mut dx) = (Tensor::empty(&Cpu), 7usize, Tensor::empty(&Cpu));
        emb.forward_train_into(&ids, &mut y, &mut c);
        assert_eq!((y.to_vec(), c), (vec![5.0, 6.0, 1.0, 2.0], 0));
        emb.backward_into(&ids, &y, &mut c, &y, &mut dx);
        assert_eq!(dx.to_vec(), vec![0.0, 0.0]);
        assert_eq!(emb.weight.grad_vec(), vec![1.0, 2.0, 0.0, 0.0, 5.0, 6.0]);
    }

    /// Out-of-range, negative, fractional and NaN ids: `forward` writes NaN
    /// rows (never zeros) and counts them; `try_forward` returns
    /// `InvalidArgument`; `check_input` names the id and its place.
    #[test]
    fn invalid_ids_are_nan_rows_or_errors() {
        let mut emb = Embedding::<3, 2>::init(&Cpu, 0);
        for bad in [3.0, -1.0, 0.5, f32::NAN, f32::INFINITY, 1e30] {
            let ids = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![1.0, bad]).unwrap();
            let e = emb.try_forward(&ids).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument { op: "Embedding", .. }), "{e}");
            let y = emb.forward(&ids).to_vec();
            assert!(y[2..].iter().all(|v| v.is_nan()), "{y:?}");
            let ie = Layer::<S1<2>, S2<2, 2>, Cpu, f32>::check_input(&emb, &ids).unwrap_err();
            assert_eq!((ie.sample, ie.position, ie.layer.as_str()), (0, 1, ""));
            assert!(ie.value.to_bits() == (bad as f64).to_bits() || bad.is_nan(), "{ie}");
            assert_eq!(&y[..2], &emb.weight.value_vec()[2..4]);
            let (mut out, mut c) = (Tensor::empty(&Cpu), 0usize);
            emb.forward_train_into(&ids, &mut out, &mut c);
            assert_eq!(c, 1);
        }
    }

    /// An empty batch gives an empty output and no gradient.
    #[test]
    fn empty_batch() {
        let emb = Embedding::<3, 2>::init(&Cpu, 0);
        let ids = Tensor::<S1<4>>::zeros(&Cpu, 0);
        assert!(emb.try_forward(&ids).unwrap().is_empty());
    }

    #[test]
    fn state_dict_names() {
        let emb = Embedding::<7, 3>::init(&Cpu, 0);
        assert_eq!(
            state_dict(&emb, "tok."),
            vec![("tok.weight".to_string(), vec![7, 3], ParamKind::Trainable)]
        );
    }
}
