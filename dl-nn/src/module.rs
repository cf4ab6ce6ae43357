//! The two traits every layer implements: [`Module`] and [`Layer`].
//!
//! ## The training protocol (no tape)
//!
//! `forward_train` writes the layer's output into a caller-owned tensor and
//! keeps in its `Cache` whatever backward needs beyond the input and the
//! output. `backward` gets the same input and output back, the cache, and the
//! gradient of the loss with respect to the output; it *accumulates*
//! parameter gradients (`+=`, as PyTorch does) and *writes* the input
//! gradient into `dx`. Every buffer is owned by the caller and reused across
//! steps, so a training step allocates nothing once the buffers have grown
//! to the largest batch.
//!
//! The `#[network]` macro generates exactly these calls for each field in
//! declaration order (forward) and reverse order (backward).

use dl_core::{Backend, Float, RawParam, Rng, Shape, Tensor};

/// Parameters, initialisation and mode of a layer or network.
pub trait Module<B: Backend, E: Float>: Sized {
    /// Number of scalar trainable parameters (for the compile-time summary).
    const NUM_PARAMS: usize;

    /// A new instance with parameters drawn from `rng` (PyTorch's default
    /// initialisation unless the layer documents otherwise).
    fn init(dev: &B, rng: &mut Rng) -> Self;

    /// Calls `f` with every parameter and buffer, with its PyTorch
    /// `state_dict` name (`prefix` + local name, such as `fc1.weight`).
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &RawParam<B, E>));

    /// Like [`Module::visit`], mutable.
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut RawParam<B, E>));

    /// Calls `f` with every parameter and buffer in the same order as
    /// [`Module::visit_mut`], without building names (no allocation: this is
    /// what optimizers use each step).
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<B, E>));

    /// Switches between training mode (dropout active, batch statistics)
    /// and evaluation mode. The default does nothing.
    fn set_training(&mut self, _training: bool) {}

    /// Sets every gradient to zero.
    fn zero_grad(&mut self) {
        self.for_each_param(&mut |p| p.zero_grad());
    }
}

/// A layer that takes a batch of samples of shape `In`.
///
/// The output shape is the associated type `Out`, so a network's shapes
/// are checked by the type checker even where the macro cannot see them
/// (user-defined layers, nested networks).
#[diagnostic::on_unimplemented(
    message = "layer `{Self}` cannot take an input of shape `{In}`",
    label = "this layer does not accept `{In}`",
    note = "check the previous layer's output shape, or add a `Flatten` before a `Linear`"
)]
pub trait Layer<In: Shape, B: Backend, E: Float>: Module<B, E> {
    /// Per-sample output shape.
    type Out: Shape;
    /// What backward needs beyond the input and output (masks, statistics,
    /// column buffers). Reused across steps.
    type Cache: Send;

    /// An empty cache on `dev`.
    fn new_cache(dev: &B) -> Self::Cache;

    /// Inference forward pass (no cache; dropout off, running statistics).
    fn forward(&self, x: &Tensor<In, B, E>) -> Tensor<Self::Out, B, E>;

    /// Training forward pass: writes the output into `out` (resized to the
    /// batch) and fills `cache`.
    fn forward_train(
        &mut self,
        x: &Tensor<In, B, E>,
        out: &mut Tensor<Self::Out, B, E>,
        cache: &mut Self::Cache,
    );

    /// Reverse pass: accumulates parameter gradients and writes the input
    /// gradient into `dx` (resized to the batch). `x`, `out` and `cache` are
    /// those of the matching `forward_train`.
    fn backward(
        &mut self,
        x: &Tensor<In, B, E>,
        out: &Tensor<Self::Out, B, E>,
        cache: &Self::Cache,
        dy: &Tensor<Self::Out, B, E>,
        dx: &mut Tensor<In, B, E>,
    );
}
