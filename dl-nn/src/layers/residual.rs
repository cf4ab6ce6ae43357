//! Residual connections: [`Residual`] (`out = block(x) + x`) and
//! [`ResidualProj`] (`out = block(x) + shortcut(x)`, a projection shortcut
//! for blocks that change the shape).
//!
//! A block is any [`Layer`]: a built-in layer, a hand-written struct, or a
//! small `#[network]` (a ResNet basic block). Parameter names: the block's
//! are not prefixed (`Residual` adds no name level: a field `block1:
//! Residual<BasicBlock>` yields `block1.conv1.weight`, as PyTorch's
//! `BasicBlock` whose `forward` adds the skip itself); the projection's are
//! under `shortcut.` (`block2.shortcut.weight`).
//!
//! **PyTorch equivalent**: the `out = self.block(x) + x` /
//! `out = self.block(x) + self.shortcut(x)` lines of a ResNet block's `forward`.

use crate::module::{InputError, Layer, Module, OutputShape};
use crate::summary::Structure;
use dl_core::ops::binary::{BinaryDims, BinaryOp};
use dl_core::{Backend, Cpu, Float, Shape, Tensor};
use std::marker::PhantomData;

/// Implemented by a shape for itself only: `Out: SameShape<In>` holds when
/// `Out == In`. [`Residual`] requires it of its block's output shape, so a
/// block that changes the shape is rejected with a readable message
/// instead of a type-mismatch dump.
#[diagnostic::on_unimplemented(
    message = "the residual block changes the shape: it maps `{In}` to `{Self}`, but a `Residual` block's output must equal its input",
    label = "this block's output `{Self}` differs from its input `{In}`",
    note = "use `ResidualProj<Block, Projection>` with a projection shortcut (such as a 1x1 `Conv2d` or a `Linear`) when the block changes the shape"
)]
pub trait SameShape<In: Shape>: Shape {
    /// The identity view of a tensor of this shape as one of shape `In`.
    fn as_input<B: Backend, E: Float>(t: &Tensor<Self, B, E>) -> &Tensor<In, B, E>;
    /// The identity view of a tensor of shape `In` as one of this shape.
    fn from_input<B: Backend, E: Float>(t: &Tensor<In, B, E>) -> &Tensor<Self, B, E>;
}

impl<S: Shape> SameShape<S> for S {
    fn as_input<B: Backend, E: Float>(t: &Tensor<S, B, E>) -> &Tensor<S, B, E> {
        t
    }
    fn from_input<B: Backend, E: Float>(t: &Tensor<S, B, E>) -> &Tensor<S, B, E> {
        t
    }
}

/// `out = block(x) + x` for a block that keeps the shape.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// // A pre-norm-free toy: x + LayerNorm(x).
/// let r = Residual::<LayerNorm<4>>::init(&Cpu, 0);
/// let x = Tensor::<S1<4>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let y = r.forward(&x).to_vec();
/// assert!((y[0] - (1.0 - 1.3416)).abs() < 1e-3);
/// ```
///
/// **PyTorch equivalent**: `out = block(x) + x`.
#[derive(Clone, Debug, Module)]
#[module(crate = crate, builtin, structure = residual_structure::<Blk, B, E>)]
pub struct Residual<Blk, B: Backend = Cpu, E: Float = f32> {
    /// The wrapped block (its parameters keep their own names: no prefix).
    #[module(flatten)]
    pub block: Blk,
    _be: PhantomData<(B, E)>,
}

impl<Blk, B: Backend, E: Float> Residual<Blk, B, E> {
    /// Wraps an existing block.
    pub fn new(block: Blk) -> Self {
        Self {
            block,
            _be: PhantomData,
        }
    }
}

/// `Module::structure` of a [`Residual`]: its block's.
fn residual_structure<Blk: Module<B, E>, B: Backend, E: Float>() -> Structure {
    Structure::Residual {
        block: Box::new(Blk::structure()),
    }
}

/// `Module::structure` of a [`ResidualProj`]: its block's and shortcut's.
fn residual_proj_structure<Blk: Module<B, E>, Proj: Module<B, E>, B: Backend, E: Float>() -> Structure {
    Structure::ResidualProj {
        block: Box::new(Blk::structure()),
        shortcut: Box::new(Proj::structure()),
    }
}

/// What [`Residual`] keeps for the backward: the block's cache and its own
/// output (the block's backward needs `block(x)`, not `block(x) + x`).
#[derive(Clone, Debug)]
pub struct ResidualCache<S: Shape, C, B: Backend, E: Float> {
    /// The block's cache.
    pub inner: C,
    /// The block's output `block(x)`.
    pub block_out: Tensor<S, B, E>,
}

/// `out = a + b` into `out` (resized to `a`'s batch).
fn add_into<S: Shape, B: Backend, E: Float>(a: &Tensor<S, B, E>, b: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>) {
    assert_eq!(a.batch(), b.batch(), "residual add: batch sizes differ");
    out.set_batch(a.batch());
    let d = BinaryDims {
        outer: 1,
        inner: a.len(),
        broadcast_b: false,
    };
    let dev = a.device().clone();
    dev.binary_forward(BinaryOp::Add, d, a.buf(), b.buf(), out.buf_mut());
}

impl<S: Shape, Blk: OutputShape<S>, B: Backend, E: Float> OutputShape<S> for Residual<Blk, B, E>
where
    Blk::Out: SameShape<S>,
{
    type Out = S;
}

impl<S: Shape, Blk, B: Backend, E: Float> Layer<S, S, B, E> for Residual<Blk, B, E>
where
    Blk: OutputShape<S> + Layer<S, <Blk as OutputShape<S>>::Out, B, E>,
    <Blk as OutputShape<S>>::Out: SameShape<S>,
{
    type Cache = ResidualCache<<Blk as OutputShape<S>>::Out, Blk::Cache, B, E>;

    fn new_cache(dev: &B) -> Self::Cache {
        ResidualCache {
            inner: Blk::new_cache(dev),
            block_out: Tensor::empty(dev),
        }
    }
    /// The block's check (its parameters are named without a prefix, and so is its path).
    fn check_input(&self, x: &Tensor<S, B, E>) -> Result<(), InputError> {
        self.block.check_input(x)
    }
    fn forward_into(&self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>) {
        let y = self.block.forward(x);
        add_into(SameShape::as_input(&y), x, out);
    }
    fn forward_train_into(&mut self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>, cache: &mut Self::Cache) {
        self.block.forward_train_into(x, &mut cache.block_out, &mut cache.inner);
        add_into(SameShape::as_input(&cache.block_out), x, out);
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S, B, E>,
        _out: &Tensor<S, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<S, B, E>,
        dx: &mut Tensor<S, B, E>,
    ) {
        let dy_block = <<Blk as OutputShape<S>>::Out as SameShape<S>>::from_input(dy);
        self.block
            .backward_into(x, &cache.block_out, &mut cache.inner, dy_block, dx);
        let dev = x.device().clone();
        dev.axpy(E::ONE, dy.buf(), dx.buf_mut());
    }
    fn backward_params_into(
        &mut self,
        x: &Tensor<S, B, E>,
        _out: &Tensor<S, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<S, B, E>,
        dx: &mut Tensor<S, B, E>,
    ) {
        let dy_block = <<Blk as OutputShape<S>>::Out as SameShape<S>>::from_input(dy);
        self.block
            .backward_params_into(x, &cache.block_out, &mut cache.inner, dy_block, dx);
    }
}

/// `out = block(x) + shortcut(x)`: a residual connection whose shortcut is a
/// projection (for a block that changes the shape, such as a strided ResNet
/// block with a 1x1 convolution shortcut).
///
/// The projection's parameters are named under `shortcut.`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let r = ResidualProj::<Linear<4, 2>, Linear<4, 2>>::init(&Cpu, 0);
/// let mut names = vec![];
/// r.visit("b.", &mut |n, _| names.push(n.to_string()));
/// assert_eq!(names, ["b.weight", "b.bias", "b.shortcut.weight", "b.shortcut.bias"]);
/// let y: Tensor<S1<2>> = r.forward(&Tensor::<S1<4>>::zeros(&Cpu, 3));
/// assert_eq!(y.shape(), vec![3, 2]);
/// ```
///
/// **PyTorch equivalent**: `out = block(x) + self.shortcut(x)`.
#[derive(Clone, Debug, Module)]
#[module(crate = crate, builtin, structure = residual_proj_structure::<Blk, Proj, B, E>)]
pub struct ResidualProj<Blk, Proj, B: Backend = Cpu, E: Float = f32> {
    /// The main path (no prefix).
    #[module(flatten)]
    pub block: Blk,
    /// The projection shortcut (state_dict prefix `shortcut.`).
    pub shortcut: Proj,
    _p: PhantomData<(B, E)>,
}

impl<Blk, Proj, B: Backend, E: Float> ResidualProj<Blk, Proj, B, E> {
    /// Combines an existing block and projection.
    pub fn new(block: Blk, shortcut: Proj) -> Self {
        Self {
            block,
            shortcut,
            _p: PhantomData,
        }
    }
}

/// What [`ResidualProj`] keeps for the backward.
#[derive(Clone, Debug)]
pub struct ResidualProjCache<In: Shape, Out: Shape, C, P, B: Backend, E: Float> {
    /// The block's cache.
    pub block: C,
    /// The shortcut's cache.
    pub shortcut: P,
    /// `block(x)`.
    pub block_out: Tensor<Out, B, E>,
    /// `shortcut(x)`.
    pub shortcut_out: Tensor<Out, B, E>,
    /// The shortcut's input gradient (backward scratch, kept between steps).
    pub shortcut_dx: Tensor<In, B, E>,
}

impl<In: Shape, Blk: OutputShape<In>, Proj: OutputShape<In, Out = Blk::Out>, B: Backend, E: Float> OutputShape<In>
    for ResidualProj<Blk, Proj, B, E>
{
    type Out = Blk::Out;
}

impl<In: Shape, Out: Shape, Blk, Proj, B: Backend, E: Float> Layer<In, Out, B, E> for ResidualProj<Blk, Proj, B, E>
where
    Blk: Layer<In, Out, B, E>,
    Proj: Layer<In, Out, B, E>,
{
    type Cache = ResidualProjCache<In, Out, Blk::Cache, Proj::Cache, B, E>;

    fn new_cache(dev: &B) -> Self::Cache {
        ResidualProjCache {
            block: Blk::new_cache(dev),
            shortcut: Proj::new_cache(dev),
            block_out: Tensor::empty(dev),
            shortcut_out: Tensor::empty(dev),
            shortcut_dx: Tensor::empty(dev),
        }
    }
    /// Both branches see the input: the block's check, then the shortcut's.
    fn check_input(&self, x: &Tensor<In, B, E>) -> Result<(), InputError> {
        self.block.check_input(x)?;
        self.shortcut.check_input(x).map_err(|e| e.in_field("shortcut"))
    }
    fn forward_into(&self, x: &Tensor<In, B, E>, out: &mut Tensor<Out, B, E>) {
        let (a, b) = (self.block.forward(x), self.shortcut.forward(x));
        add_into(&a, &b, out);
    }
    fn forward_train_into(&mut self, x: &Tensor<In, B, E>, out: &mut Tensor<Out, B, E>, cache: &mut Self::Cache) {
        self.block.forward_train_into(x, &mut cache.block_out, &mut cache.block);
        self.shortcut
            .forward_train_into(x, &mut cache.shortcut_out, &mut cache.shortcut);
        add_into(&cache.block_out, &cache.shortcut_out, out);
    }
    fn backward_into(
        &mut self,
        x: &Tensor<In, B, E>,
        _out: &Tensor<Out, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<Out, B, E>,
        dx: &mut Tensor<In, B, E>,
    ) {
        self.block.backward_into(x, &cache.block_out, &mut cache.block, dy, dx);
        // The shortcut's input gradient goes to a kept buffer (no allocation
        // once it has grown), then is added to the block's.
        self.shortcut
            .backward_into(x, &cache.shortcut_out, &mut cache.shortcut, dy, &mut cache.shortcut_dx);
        x.device().axpy(E::ONE, cache.shortcut_dx.buf(), dx.buf_mut());
    }
    fn backward_params_into(
        &mut self,
        x: &Tensor<In, B, E>,
        _out: &Tensor<Out, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<Out, B, E>,
        dx: &mut Tensor<In, B, E>,
    ) {
        self.block
            .backward_params_into(x, &cache.block_out, &mut cache.block, dy, dx);
        self.shortcut
            .backward_params_into(x, &cache.shortcut_out, &mut cache.shortcut, dy, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, randomise, state_dict};
    use crate::layers::{LayerNorm, Linear, Tanh};
    use dl_core::ops::util::testing::assert_close;
    use dl_core::{ParamKind, S1, S2};
    #[allow(unused_imports)]
    use dl_core::{RawParam, Rng};

    /// A hand-written block: `fc2(tanh(fc1(x)))`, `S1<D>` -> `S1<O>`.
    type Mlp<const D: usize, const H: usize, const O: usize> =
        crate::train::test_util::Mlp<D, H, O, Cpu, f64, Tanh<Cpu, f64>>;

    #[test]
    fn residual_adds_the_input() {
        let mut rng = Rng::new(1);
        let r = Residual::<Mlp<4, 5, 4>, Cpu, f64>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S1<4>, Cpu, f64>::randn(&Cpu, 3, &mut rng);
        let expect: Vec<f64> = r
            .block
            .forward(&x)
            .to_vec()
            .iter()
            .zip(x.to_vec())
            .map(|(a, b)| a + b)
            .collect();
        assert_close(&r.forward(&x).to_vec(), &expect, 1e-15, 0.0);
        let mut rt = r.clone();
        let (mut out, mut cache) = (
            Tensor::empty(&Cpu),
            <Residual<Mlp<4, 5, 4>, Cpu, f64> as Layer<S1<4>, S1<4>, Cpu, f64>>::new_cache(&Cpu),
        );
        rt.forward_train_into(&x, &mut out, &mut cache);
        assert_close(&out.to_vec(), &expect, 1e-15, 0.0);
    }

    #[test]
    fn residual_gradient_checks() {
        let mut rng = Rng::new(2);
        let mut r = Residual::<Mlp<4, 5, 4>, Cpu, f64>::init_with(&Cpu, &mut rng);
        randomise(&mut r, &mut rng, 1.0);
        let x = Tensor::<S1<4>, Cpu, f64>::randn(&Cpu, 3, &mut rng);
        assert_eq!(check_layer(&r, &x, true), 4);
        // A built-in block on a sequence, and a nested residual.
        let mut ln = Residual::<LayerNorm<4, Cpu, f64>, Cpu, f64>::init_with(&Cpu, &mut rng);
        randomise(&mut ln, &mut rng, 1.0);
        let xs = Tensor::<S2<3, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        assert_eq!(check_layer(&ln, &xs, true), 2);
        let mut nested = Residual::<Residual<Mlp<4, 3, 4>, Cpu, f64>, Cpu, f64>::init_with(&Cpu, &mut rng);
        randomise(&mut nested, &mut rng, 1.0);
        assert_eq!(check_layer(&nested, &x, true), 4);
        // Input gradient of x + block(x) is dy + block'(x) dy: dy leaks through.
        let y2 = nested.forward(&x).to_vec();
        let y1 = nested.block.forward(&x).to_vec();
        assert_close(
            &y2,
            &y1.iter().zip(x.to_vec()).map(|(a, b)| a + b).collect::<Vec<_>>(),
            1e-15,
            0.0,
        );
    }

    #[test]
    fn residual_proj_values_gradients_and_names() {
        let mut rng = Rng::new(3);
        let mut r = ResidualProj::<Mlp<4, 5, 3>, Linear<4, 3, Cpu, f64>, Cpu, f64>::init_with(&Cpu, &mut rng);
        randomise(&mut r, &mut rng, 1.0);
        let x = Tensor::<S1<4>, Cpu, f64>::randn(&Cpu, 3, &mut rng);
        let y = r.forward(&x).to_vec();
        let expect: Vec<f64> = r
            .block
            .forward(&x)
            .to_vec()
            .iter()
            .zip(r.shortcut.forward(&x).to_vec())
            .map(|(a, b)| a + b)
            .collect();
        assert_close(&y, &expect, 1e-15, 0.0);
        assert_eq!(check_layer(&r, &x, true), 6);
        let names: Vec<String> = {
            let mut v = vec![];
            r.visit("block2.", &mut |n, _| v.push(n.to_string()));
            v
        };
        assert_eq!(
            names,
            [
                "block2.fc1.weight",
                "block2.fc1.bias",
                "block2.fc2.weight",
                "block2.fc2.bias",
                "block2.shortcut.weight",
                "block2.shortcut.bias"
            ]
        );
        assert_eq!(
            <ResidualProj<Mlp<4, 5, 3>, Linear<4, 3, Cpu, f64>, Cpu, f64> as Module<Cpu, f64>>::NUM_PARAMS,
            4 * 5 + 5 + 5 * 3 + 3 + 4 * 3 + 3
        );
    }

    #[test]
    fn residual_adds_no_name_level() {
        let r = Residual::<LayerNorm<3>>::init(&Cpu, 0);
        let t = ParamKind::Trainable;
        assert_eq!(
            state_dict(&r, "block1."),
            vec![("block1.weight".into(), vec![3], t), ("block1.bias".into(), vec![3], t)]
        );
        assert_eq!(<Residual<LayerNorm<3>> as Module<Cpu, f32>>::NUM_PARAMS, 6);
    }

    /// `OutputShape` passes the shape through; a type-level check.
    #[test]
    fn output_shapes() {
        fn out_of<In: Shape, L: OutputShape<In>>() -> Vec<usize> {
            L::Out::dims()
        }
        assert_eq!(out_of::<S2<3, 4>, Residual<LayerNorm<4>>>(), vec![3, 4]);
        assert_eq!(out_of::<S1<4>, ResidualProj<Linear<4, 2>, Linear<4, 2>>>(), vec![2]);
    }

    /// `Module::structure` names the branches (read by the quantizer).
    #[test]
    fn structure_names_the_branches() {
        let ln = <LayerNorm<3> as Module<Cpu, f32>>::structure();
        assert!(matches!(ln, Structure::Layer(t) if t.contains("LayerNorm<3")));
        assert_eq!(
            <Residual<LayerNorm<3>> as Module<Cpu, f32>>::structure(),
            Structure::Residual { block: Box::new(ln) }
        );
        let s = <ResidualProj<Linear<4, 2>, Linear<4, 2>> as Module<Cpu, f32>>::structure();
        let Structure::ResidualProj { block, shortcut } = s else {
            panic!("{s:?}")
        };
        assert_eq!(block, shortcut);
        assert!(matches!(*block, Structure::Layer(t) if t.contains("Linear<4, 2")));
    }

    /// Training steps with the same batch reuse the kept buffers.
    #[test]
    fn residual_proj_reuses_scratch() {
        let mut rng = Rng::new(4);
        let mut r = ResidualProj::<Linear<4, 3>, Linear<4, 3>>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S1<4>>::randn(&Cpu, 5, &mut rng);
        let dy = Tensor::<S1<3>>::randn(&Cpu, 5, &mut rng);
        let mut cache = <ResidualProj<Linear<4, 3>, Linear<4, 3>> as Layer<S1<4>, S1<3>, Cpu, f32>>::new_cache(&Cpu);
        let (mut out, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
        r.forward_train_into(&x, &mut out, &mut cache);
        r.backward_into(&x, &out, &mut cache, &dy, &mut dx);
        let p = cache.shortcut_dx.buf().as_ptr();
        let first = dx.to_vec();
        r.forward_train_into(&x, &mut out, &mut cache);
        r.backward_into(&x, &out, &mut cache, &dy, &mut dx);
        assert_eq!(p, cache.shortcut_dx.buf().as_ptr());
        assert_eq!(first, dx.to_vec());
    }
}
