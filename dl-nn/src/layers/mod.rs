//! Layers: one file each. Every layer is a field type of `#[network]`.
//!
//! Each layer file has two parts: shape-agnostic functions on flat buffers
//! with runtime dimensions (the golden-vector runner calls these), and the
//! typed layer struct whose `Layer` impl calls them. Where the op is one
//! kernel call on a dims struct (activations, softmax, pooling, embedding,
//! means), the layer and the runner call the backend's kernel directly.

/// Implements `Layer<$in, $out>` without a cache (`type Cache = ()`) for a
/// layer whose backward needs only its input and output: `$fwd` writes `$y`
/// from `$x`, `$bwd` writes `$dx` from `$x`, `$y` and `$dy`; the layer is
/// `$l` in both. `$y` and `$dx` are resized to the batch first. The generic
/// parameters in brackets are those besides `B` and `E`.
macro_rules! cacheless_layer {
    ([$($g:tt)*] $ty:ty: $in:ty => $out:ty,
     |$l:ident, $x:ident, $y:ident| $fwd:expr,
     |$dy:ident, $dx:ident| $bwd:expr $(,)?) => {
        impl<$($g)*, B: ::dl_core::Backend, E: ::dl_core::Float> $crate::module::Layer<$in, $out, B, E> for $ty {
            type Cache = ();

            fn new_cache(_dev: &B) {}
            fn forward_into(&self, $x: &::dl_core::Tensor<$in, B, E>, $y: &mut ::dl_core::Tensor<$out, B, E>) {
                let $l = self;
                $y.set_batch($x.batch());
                $fwd;
            }
            #[allow(unused_variables)]
            fn backward_into(
                &mut self,
                $x: &::dl_core::Tensor<$in, B, E>,
                $y: &::dl_core::Tensor<$out, B, E>,
                _cache: &mut (),
                $dy: &::dl_core::Tensor<$out, B, E>,
                $dx: &mut ::dl_core::Tensor<$in, B, E>,
            ) {
                let $l = &*self;
                $dx.set_batch($x.batch());
                $bwd;
            }
        }
    };
}
pub(crate) use cacheless_layer;

/// Implements `OutputShape<$shape> = $shape` and `Layer<$shape, $shape>`
/// (cache `$cache`, with the forward's `mean` and `rstd`) for a
/// normalisation layer `$ty` with a `weight` and a `bias`, from its inherent
/// `norm_cache`, `norm_forward` (inference), `norm_forward_train` and
/// `norm_backward` (the kernel on the backward's buffers), which are
/// generic over the shape. The generic parameters in brackets are those
/// besides `B` and `E`.
macro_rules! norm_layer_impl {
    ([$($g:tt)*] $ty:ty: $shape:ty, $cache:ty) => {
        impl<$($g)*, B: ::dl_core::Backend, E: ::dl_core::Float> $crate::module::OutputShape<$shape> for $ty {
            type Out = $shape;
        }

        impl<$($g)*, B: ::dl_core::Backend, E: ::dl_core::Float> $crate::module::Layer<$shape, $shape, B, E> for $ty {
            type Cache = $cache;

            fn new_cache(dev: &B) -> $cache {
                Self::norm_cache(dev)
            }
            fn forward_into(&self, x: &::dl_core::Tensor<$shape, B, E>, out: &mut ::dl_core::Tensor<$shape, B, E>) {
                self.norm_forward(x, out);
            }
            fn forward_train_into(
                &mut self,
                x: &::dl_core::Tensor<$shape, B, E>,
                out: &mut ::dl_core::Tensor<$shape, B, E>,
                cache: &mut $cache,
            ) {
                self.norm_forward_train(x, out, cache);
            }
            fn backward_into(
                &mut self,
                x: &::dl_core::Tensor<$shape, B, E>,
                _out: &::dl_core::Tensor<$shape, B, E>,
                cache: &mut $cache,
                dy: &::dl_core::Tensor<$shape, B, E>,
                dx: &mut ::dl_core::Tensor<$shape, B, E>,
            ) {
                let bufs = $crate::layers::layernorm::norm_bwd(
                    (x, dy, dx),
                    (&mut self.weight, &mut self.bias),
                    (&cache.mean, &cache.rstd),
                );
                Self::norm_backward::<$shape>(x.device(), x.batch(), cache, bufs);
            }
        }
    };
}
pub(crate) use norm_layer_impl;

pub mod activation;
pub mod attention;
pub mod batchnorm;
pub mod conv1d;
pub mod conv2d;
pub mod dropout;
pub mod embedding;
pub mod flatten;
pub mod layernorm;
pub mod linear;
pub mod pool;
pub mod pool1d;
pub mod residual;
pub mod rnn;
pub mod seq_mean;
#[cfg(test)]
pub(crate) mod test_util;

/// Marks dl's built-in layers. `#[network]` computes the shapes of a field
/// whose type is named like a built-in layer (`Linear`, `Conv2d`, ...) by
/// that layer's rules, and checks with this trait that the type *is* the
/// built-in one (a user's own `Linear` is a compile error, not a silent
/// misreading). Implemented by `#[derive(Module)]` with `#[module(builtin)]`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not dl's built-in layer of that name",
    label = "#[network] reads this field as a built-in layer and computes its shapes by the built-in's rules",
    note = "rename your own layer type (a name that is not one of dl's layers is typed through `OutputShape`)"
)]
pub trait BuiltinLayer {}

pub use activation::{GELUTanh, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, GELU};
pub use attention::{LocalAttention, MultiHeadAttention};
pub use batchnorm::{BatchNorm1d, BatchNorm2d};
pub use conv1d::Conv1d;
pub use conv2d::Conv2d;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use layernorm::LayerNorm;
pub use linear::Linear;
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use pool1d::{AvgPool1d, GlobalAvgPool1d, MaxPool1d};
pub use residual::{Residual, ResidualProj};
pub use rnn::{LastStep, LastStepCache, GRU, LSTM};
pub use seq_mean::SeqMean;
