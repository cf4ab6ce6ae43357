//! The two traits every layer implements: [`Module`] and [`Layer`].
//!
//! ## The training protocol (no tape)
//!
//! `forward_train_into` writes the layer's output into a caller-owned tensor and
//! keeps in its `Cache` whatever backward needs beyond the input and the
//! output. `backward_into` gets the same input and output back, the cache, and the
//! gradient of the loss with respect to the output; it *accumulates*
//! parameter gradients (`+=`, as PyTorch does) and *writes* the input
//! gradient into `dx`. Every buffer is owned by the caller and reused across
//! steps, so a training step allocates nothing once the buffers have grown
//! to the largest batch. (The `_into` methods are the layer-level protocol;
//! a `#[network]` struct adds the cache-holding `forward_train(&x)` and
//! `backward(&mut cache, &dy)` a training loop calls, names the trait
//! does not use.)
//!
//! The `#[network]` macro generates exactly these calls for each field in
//! declaration order (forward) and reverse order (backward).

use dl_core::{Backend, Float, RawParam, Rng, Shape, Tensor};

/// `#[derive(Module)]`: `NUM_PARAMS`, `init`, the parameter visitors and
/// `set_training` of a layer, from its fields (the derive macro shares the
/// trait's name, as serde's derives do; see `docs/custom-layers.md`).
pub use dl_macros::Module;

/// Parameters, initialisation and mode of a layer or network.
pub trait Module<B: Backend, E: Float>: Sized {
    /// Number of scalar trainable parameters (for the compile-time summary).
    const NUM_PARAMS: usize;

    /// A new instance with parameters drawn from `rng` (PyTorch's default
    /// initialisation unless the layer documents otherwise). Nested layers
    /// draw from the same generator, in field order.
    fn init_with(dev: &B, rng: &mut Rng) -> Self;

    /// A new instance with parameters drawn from a generator seeded with
    /// `seed` (deterministic): `Linear::<3, 2>::init(&Cpu, 0)`.
    fn init(dev: &B, seed: u64) -> Self {
        Self::init_with(dev, &mut Rng::new(seed))
    }

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

    /// How this layer is built from others (a `#[network]`'s fields, a
    /// residual connection's branches), for tools that read a model without
    /// running it, such as [`quantize`](crate::quant::quantize). The
    /// default: one layer, named by its type.
    fn structure() -> crate::summary::Structure {
        crate::summary::Structure::Layer(std::any::type_name::<Self>())
    }
}

/// A layer that maps a batch of samples of shape `In` to shape `Out`.
///
/// Both shapes are trait parameters: a layer implements `Layer` for every
/// pair it supports. Where stable Rust cannot compute `Out` from `In` in a
/// type (conv and pool output sizes, flatten products), the impl is generic
/// over both and checks their relation with an inline `const { assert!(..) }`;
/// the `#[network]` macro computes those shapes at expansion time and
/// reports mismatches itself, with spans. Where the type system *can*
/// compute the output, the layer also implements [`OutputShape`].
#[diagnostic::on_unimplemented(
    message = "layer `{Self}` cannot take an input of shape `{In}` and produce `{Out}`",
    label = "this layer does not map `{In}` to `{Out}`",
    note = "check the previous layer's output shape, or add a `Flatten` before a `Linear`"
)]
pub trait Layer<In: Shape, Out: Shape, B: Backend, E: Float>: Module<B, E> {
    /// What backward needs beyond the input and output (masks, statistics,
    /// column buffers). Reused across steps.
    type Cache: Send;

    /// An empty cache on `dev`.
    fn new_cache(dev: &B) -> Self::Cache;

    /// Inference forward pass into a caller's output (resized to the batch;
    /// no cache; dropout off, running statistics). The one forward every
    /// layer writes.
    fn forward_into(&self, x: &Tensor<In, B, E>, out: &mut Tensor<Out, B, E>);

    /// Inference forward pass into a new tensor (calls
    /// [`Layer::forward_into`]).
    fn forward(&self, x: &Tensor<In, B, E>) -> Tensor<Out, B, E> {
        let mut out = Tensor::empty(x.device());
        self.forward_into(x, &mut out);
        out
    }

    /// Training forward pass: writes the output into `out` (resized to the
    /// batch) and fills `cache`. The default is [`Layer::forward_into`], for
    /// layers whose backward needs nothing beyond the input and output.
    fn forward_train_into(&mut self, x: &Tensor<In, B, E>, out: &mut Tensor<Out, B, E>, cache: &mut Self::Cache) {
        let _ = cache;
        self.forward_into(x, out);
    }

    /// Reverse pass: accumulates parameter gradients and writes the input
    /// gradient into `dx` (resized to the batch). `x`, `out` and `cache` are
    /// those of the matching `forward_train_into`; the cache is mutable, so a
    /// layer keeps its backward scratch buffers there (never in the layer).
    fn backward_into(
        &mut self,
        x: &Tensor<In, B, E>,
        out: &Tensor<Out, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<Out, B, E>,
        dx: &mut Tensor<In, B, E>,
    );

    /// Reverse pass for when the input gradient is not needed (the input is
    /// data, as for the first layer of a network in a training step):
    /// accumulates parameter gradients exactly as [`Layer::backward_into`] does.
    /// `dx` is scratch space: its contents afterwards are unspecified. Layers
    /// whose input gradient costs real work (`Linear`, `Conv2d`,
    /// `MultiHeadAttention`, residual blocks, networks) skip computing it;
    /// the default calls [`Layer::backward_into`].
    fn backward_params_into(
        &mut self,
        x: &Tensor<In, B, E>,
        out: &Tensor<Out, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<Out, B, E>,
        dx: &mut Tensor<In, B, E>,
    ) {
        self.backward_into(x, out, cache, dy, dx);
    }

    /// Checks input *values* the layer cannot take (an `Embedding`'s token
    /// ids that are not integers in `0..VOCAB`). `fit`, `evaluate` and
    /// `predict` call it on every batch of data before the forward pass and
    /// turn an error into a typed `TrainError::InvalidInput`; networks
    /// forward it to their first layer. The default accepts everything.
    ///
    /// # Errors
    /// [`InputError`] naming the first bad value and its position.
    fn check_input(&self, _x: &Tensor<In, B, E>) -> Result<(), InputError> {
        Ok(())
    }
}

/// An input value a layer cannot take (see [`Layer::check_input`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("layer `{layer}`: the value {value} at position {position} of sample {sample} of the batch {reason}")]
pub struct InputError {
    /// The layer's path in the network (`emb`, `encoder.emb`); empty when
    /// the layer is checked on its own.
    pub layer: String,
    /// Sample index within the batch.
    pub sample: usize,
    /// Element index within the sample.
    pub position: usize,
    /// The offending value.
    pub value: f64,
    /// Why it is refused (`is not a token id in 0..100`).
    pub reason: String,
}

impl InputError {
    /// The same error seen from the network that holds the layer in a
    /// field named `field`: the path becomes `field` or `field.<path>`.
    pub fn in_field(mut self, field: &str) -> Self {
        self.layer = if self.layer.is_empty() {
            field.to_string()
        } else {
            format!("{field}.{}", self.layer)
        };
        self
    }
}

/// The output shape of a layer for input `In`, where the type system can
/// compute it (Linear, activations, norms, attention, residual blocks,
/// nested networks, user-defined layers).
///
/// The `#[network]` macro uses it for field types it does not know, so a
/// nested network or a custom layer passes through the macro and the type
/// checker still rejects a mismatch with the next layer.
#[diagnostic::on_unimplemented(
    message = "the output shape of `{Self}` for input `{In}` is unknown",
    label = "`{Self}` does not take `{In}`, or does not implement `OutputShape<{In}>`",
    note = "a user-defined layer implements `OutputShape<In>` (or the field states its output with `#[shape([..])]`)"
)]
pub trait OutputShape<In: Shape> {
    /// Per-sample output shape.
    type Out: Shape;
}

/// A network generated by `#[network]`: a [`Layer`] from its declared
/// input shape to its inferred output shape, with a compile-time summary.
///
/// Training helpers (`fit`, `evaluate`, `predict`, checkpoints) are generic
/// over this trait, so they work for every generated network; they drive it
/// through the [`Layer`] methods with caller-owned, reused buffers.
pub trait Network<B: Backend, E: Float>: Layer<Self::Input, Self::Output, B, E> + Sized {
    /// The per-sample input shape (`input = [..]` of the declaration).
    type Input: Shape;
    /// The per-sample output shape the macro inferred.
    type Output: Shape;
    /// The network's summary (per layer: name, kind, output shape,
    /// parameter count), computed at compile time.
    fn summary() -> &'static crate::summary::Summary;
}
