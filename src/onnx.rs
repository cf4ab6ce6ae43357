//! ONNX export (feature `onnx`): a `#[network]` model as an ONNX file that
//! ONNX Runtime (or any ONNX consumer) runs, and its parameters read back.
//!
//! [`export`] writes opset 17 with a dynamic batch dimension `batch` on the
//! input (`input`) and the output (`output`), float32, and one initializer
//! per `state_dict` entry under its PyTorch name (`fc1.weight`,
//! `bn1.running_mean`). Every built-in layer is supported; a user layer is
//! exportable once it implements [`Describe`] (a network containing one
//! that does not still compiles, but `export` does not accept it). The
//! layers, the operators they become and how to check a file with ONNX
//! Runtime are in `docs/onnx.md`.
//!
//! ```
//! use dl::prelude::*;
//!
//! #[network(input = [1, 8, 8])]
//! struct Net {
//!     conv: Conv2d<1, 4, 3, 1, 1>,
//!     bn: BatchNorm2d<4>,
//!     relu: ReLU,
//!     pool: MaxPool2d<2>,
//!     flat: Flatten,
//!     fc: Linear<64, 10>,
//! }
//!
//! let model = <Net>::init(&Cpu, 0);
//! let path = std::env::temp_dir().join(format!("dl-onnx-doc-{}.onnx", std::process::id()));
//! dl::onnx::export(&model, &path).unwrap();
//!
//! // The graph before serialisation: operators and initializer names.
//! let g = dl::onnx::graph(&model).unwrap();
//! assert_eq!(g.count("Conv"), 1);
//! assert_eq!(g.initializers[0].name, "conv.weight");
//! assert_eq!(g.output.dims, vec![10]);
//!
//! // Parameters back into a network of the same declaration.
//! let mut copy = <Net>::init(&Cpu, 1);
//! dl::onnx::import(&mut copy, &path).unwrap();
//! assert_eq!(copy.fc.weight.value_vec(), model.fc.weight.value_vec());
//! std::fs::remove_file(&path).unwrap();
//! ```
//!
//! A network holding a user layer without a [`Describe`] implementation
//! still compiles and trains; only `export` refuses it, at compile time:
//!
//! ```compile_fail
//! use dl::prelude::*;
//! use dl::core::RawParam;
//!
//! /// A user layer (identity) that does not implement `Describe`.
//! #[derive(Clone, Debug)]
//! pub struct Mine<B: Backend = Cpu, E: Float = f32>(std::marker::PhantomData<(B, E)>);
//! impl<B: Backend, E: Float> Module<B, E> for Mine<B, E> {
//!     const NUM_PARAMS: usize = 0;
//!     fn init_with(_: &B, _: &mut Rng) -> Self { Mine(std::marker::PhantomData) }
//!     fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &RawParam<B, E>)) {}
//!     fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut RawParam<B, E>)) {}
//!     fn for_each_param(&mut self, _: &mut dyn FnMut(&mut RawParam<B, E>)) {}
//! }
//! impl<B: Backend, E: Float> OutputShape<S1<4>> for Mine<B, E> { type Out = S1<4>; }
//! impl<B: Backend, E: Float> Layer<S1<4>, S1<4>, B, E> for Mine<B, E> {
//!     type Cache = ();
//!     fn new_cache(_: &B) {}
//!     fn forward_into(&self, x: &Tensor<S1<4>, B, E>, out: &mut Tensor<S1<4>, B, E>) { out.copy_from(x) }
//!     fn backward_into(&mut self, _: &Tensor<S1<4>, B, E>, _: &Tensor<S1<4>, B, E>, _: &mut (), dy: &Tensor<S1<4>, B, E>, dx: &mut Tensor<S1<4>, B, E>) { dx.copy_from(dy) }
//! }
//!
//! #[network(input = [4])]
//! struct WithMine {
//!     fc: Linear<4, 4>,
//!     mine: Mine,
//! }
//!
//! let model = <WithMine>::init(&Cpu, 0);
//! let _ = model.forward(&Tensor::zeros(&Cpu, 1)); // fine
//! dl::onnx::export(&model, "x.onnx").unwrap(); // error: `Mine` does not implement `Describe`
//! ```
//!
//! Then, in Python: `onnxruntime.InferenceSession("net.onnx").run(None,
//! {"input": x})` with `x` of shape `[batch, 1, 8, 8]`, float32.

pub use dl_nn::export::onnx::{export, import, load_model, model_proto, proto, to_bytes, BATCH_DIM, IR_VERSION, OPSET};
pub use dl_nn::export::{graph, Describe, ExportError, Graph, GraphBuilder, Value};
