//! Parameters: fully static tensors with a gradient.

use crate::backend::Storage;
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::rng::Rng;
use crate::shape::Shape;
use std::marker::PhantomData;

/// Whether an optimizer updates a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Learned by gradient descent (weights, biases).
    Trainable,
    /// State saved with the model but not learned (batch-norm running statistics).
    Buffer,
}

/// A parameter with a runtime shape: value, gradient and flags.
///
/// This is what visitors hand to optimizers and checkpoints; the typed
/// [`Param`] dereferences to it.
#[derive(Clone, Debug)]
pub struct RawParam<B: Storage, E: Float> {
    /// Current value.
    pub value: B::Buf<E>,
    /// Accumulated gradient (same length as `value`; unused for buffers).
    pub grad: B::Buf<E>,
    /// Shape, PyTorch layout (Linear `[out, in]`, Conv2d `[out, in, kh, kw]`).
    pub dims: Vec<usize>,
    /// Trainable or buffer.
    pub kind: ParamKind,
    /// Frozen parameters keep their value: optimizers skip them.
    pub frozen: bool,
    /// The device holding the data.
    pub dev: B,
}

impl<B: Storage, E: Float> RawParam<B, E> {
    /// A zero parameter of the given shape.
    pub fn zeros(dev: &B, dims: Vec<usize>, kind: ParamKind) -> Self {
        let n: usize = dims.iter().product();
        Self {
            value: dev.zeros(n),
            grad: dev.zeros(n),
            dims,
            kind,
            frozen: false,
            dev: dev.clone(),
        }
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
    /// Whether an optimizer should update it (trainable and not frozen).
    pub fn is_trainable(&self) -> bool {
        self.kind == ParamKind::Trainable && !self.frozen
    }
    /// The value in host memory.
    pub fn value_vec(&self) -> Vec<E> {
        self.dev.to_vec(&self.value)
    }
    /// The gradient in host memory.
    pub fn grad_vec(&self) -> Vec<E> {
        self.dev.to_vec(&self.grad)
    }
    /// Replaces the value.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `data` has the wrong number of elements.
    pub fn set_value(&mut self, data: &[E]) -> Result<()> {
        if data.len() != self.numel() {
            return Err(Error::LengthMismatch {
                shape: self.dims.clone(),
                batch: 1,
                expected: self.numel(),
                got: data.len(),
            });
        }
        self.dev.write(&mut self.value, data);
        Ok(())
    }
    /// Sets the gradient to zero.
    pub fn zero_grad(&mut self) {
        self.dev.fill(&mut self.grad, E::ZERO);
    }
}

/// A parameter whose shape `S` is static.
///
/// ```
/// use dl_core::prelude::*;
/// let w = Param::<S2<3, 4>>::zeros(&Cpu, ParamKind::Trainable);
/// assert_eq!(w.dims, vec![3, 4]);
/// ```
#[derive(Clone, Debug)]
pub struct Param<S: Shape, B: Storage = crate::Cpu, E: Float = f32> {
    raw: RawParam<B, E>,
    _s: PhantomData<S>,
}

impl<S: Shape, B: Storage, E: Float> Param<S, B, E> {
    /// Number of elements (`S::NUMEL`).
    pub const NUMEL: usize = S::NUMEL;

    /// A zero parameter.
    pub fn zeros(dev: &B, kind: ParamKind) -> Self {
        Self {
            raw: RawParam::zeros(dev, S::dims(), kind),
            _s: PhantomData,
        }
    }
    /// A parameter filled with `v`.
    pub fn full(dev: &B, kind: ParamKind, v: E) -> Self {
        let mut p = Self::zeros(dev, kind);
        dev.fill(&mut p.raw.value, v);
        p
    }
    /// A trainable parameter drawn from `init`.
    pub fn init(dev: &B, init: Init, rng: &mut Rng) -> Self {
        let mut p = Self::zeros(dev, ParamKind::Trainable);
        let v: Vec<E> = init.sample(rng, S::NUMEL).into_iter().map(E::from_f64).collect();
        dev.write(&mut p.raw.value, &v);
        p
    }
    /// A trainable parameter with the given values.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `data.len() != S::NUMEL`.
    pub fn from_vec(dev: &B, data: Vec<E>) -> Result<Self> {
        let mut p = Self::zeros(dev, ParamKind::Trainable);
        p.raw.set_value(&data)?;
        Ok(p)
    }
    /// The untyped view.
    pub fn raw(&self) -> &RawParam<B, E> {
        &self.raw
    }
    /// The untyped view, mutable.
    pub fn raw_mut(&mut self) -> &mut RawParam<B, E> {
        &mut self.raw
    }
}

impl<S: Shape, B: Storage, E: Float> std::ops::Deref for Param<S, B, E> {
    type Target = RawParam<B, E>;
    fn deref(&self) -> &RawParam<B, E> {
        &self.raw
    }
}
impl<S: Shape, B: Storage, E: Float> std::ops::DerefMut for Param<S, B, E> {
    fn deref_mut(&mut self) -> &mut RawParam<B, E> {
        &mut self.raw
    }
}
