//! Export of a model as a computation graph (and, with the `onnx`
//! feature, as an ONNX file that ONNX Runtime runs).
//!
//! Every built-in layer implements [`Describe`]: it appends the operators
//! that compute its inference forward pass (dropout off, batch norm on
//! running statistics) to a [`GraphBuilder`], referring to its parameters
//! by their PyTorch `state_dict` names. `#[network]` implements
//! [`Describe`] for a network whose fields all implement it, chaining the
//! fields in order; a network that holds a user layer without a
//! [`Describe`] implementation still compiles, it is only not exportable.
//! [`graph`] describes a whole network and attaches its parameters; the
//! `onnx` module (feature `onnx`) writes that graph as an ONNX model
//! (opset 17, input `input` and output `output` with a dynamic first
//! dimension `batch`, one initializer per `state_dict` entry, under the same
//! name). The list of layers and the operators each becomes is in
//! `docs/onnx.md`.
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::export::{graph_of, Describe};
//! use dl_nn::prelude::*;
//!
//! // A single layer (a `#[network]` is exported with `graph` the same way).
//! let fc = Linear::<4, 2>::init(&Cpu, 0);
//! let g = graph_of(&fc, "fc", &[4]).unwrap();
//! assert_eq!(g.count("Gemm"), 1);
//! assert_eq!(g.output.dims, vec![2]);
//! let names: Vec<_> = g.initializers.iter().map(|i| i.name.as_str()).collect();
//! assert_eq!(names, ["weight", "bias"]);
//! ```
//!
//! A user layer becomes exportable by implementing [`Describe`]: it names
//! its parameters with [`GraphBuilder::param`] and appends operators with
//! [`GraphBuilder::node`], or calls the `describe` of built-in layers it
//! wraps (`tests/onnx_export.rs` does this for the attention example's
//! `TokenLinear` and `PosEmbedding`).

mod error;
mod graph;
mod layers;
#[cfg(feature = "onnx")]
pub mod onnx;
#[cfg(test)]
mod tests;

pub use error::ExportError;
pub use graph::{Attr, ConstTensor, Graph, GraphBuilder, Initializer, Node, ParamRef, TensorData, Value};

use crate::module::{Module, Network};
use dl_core::{Backend, Float, Shape};

/// A layer (or network) that can describe its inference forward pass as
/// graph operators.
pub trait Describe {
    /// Appends the operators computing this layer on the value `x` (per
    /// sample shape `x.dims`, batch first and dynamic) and returns the
    /// output value. `prefix` is the layer's `state_dict` prefix, ending in
    /// `.` (`"fc1."`) or empty: parameters are referred to as
    /// `{prefix}weight`, ..., exactly as `Module::visit` names them.
    ///
    /// # Errors
    /// [`ExportError::Shape`] when the layer does not take `x.dims`;
    /// [`ExportError::ParameterShape`] when a parameter name is reused
    /// with another shape.
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError>;
}

/// The graph of `model` (a network or a single layer) for a per-sample
/// input of shape `input_dims`, named `name`, with every parameter of the
/// model attached as an initializer (values converted to `f32`).
///
/// # Errors
/// Those of [`Describe::describe`], and [`ExportError::MissingParameter`],
/// [`ExportError::UnusedParameter`] or [`ExportError::ParameterShape`] when
/// the graph's parameter references and the model's `visit` disagree.
pub fn graph_of<M, B, E>(model: &M, name: &str, input_dims: &[usize]) -> Result<Graph, ExportError>
where
    B: Backend,
    E: Float,
    M: Module<B, E> + Describe,
{
    let input = Value::new("input", input_dims);
    let mut g = GraphBuilder::new();
    let out = model.describe(&mut g, "", &input)?;
    g.rename(&out.name, "output");
    let (nodes, refs) = g.into_parts();

    let mut initializers = Vec::new();
    model.visit("", &mut |name, p| {
        initializers.push(Initializer {
            name: name.to_string(),
            dims: p.dims.clone(),
            data: p.value_vec().into_iter().map(|v| v.to_f64() as f32).collect(),
        })
    });
    for r in &refs {
        match initializers.iter().find(|i| i.name == r.name) {
            None => return Err(ExportError::MissingParameter { name: r.name.clone() }),
            Some(i) if i.dims != r.dims => {
                return Err(ExportError::ParameterShape {
                    name: r.name.clone(),
                    expected: r.dims.clone(),
                    found: i.dims.clone(),
                })
            }
            Some(_) => {}
        }
    }
    if let Some(i) = initializers.iter().find(|i| !refs.iter().any(|r| r.name == i.name)) {
        return Err(ExportError::UnusedParameter { name: i.name.clone() });
    }
    Ok(Graph {
        name: name.to_string(),
        input,
        output: Value::new("output", &out.dims),
        nodes,
        initializers,
    })
}

/// The graph of a `#[network]` model: [`graph_of`] with the network's
/// declared input shape and name; the output shape is checked against the
/// one the macro inferred.
///
/// # Errors
/// Those of [`graph_of`]; [`ExportError::Shape`] when the description's
/// output shape differs from the network's (a faulty user `Describe`).
pub fn graph<M, B, E>(model: &M) -> Result<Graph, ExportError>
where
    B: Backend,
    E: Float,
    M: Network<B, E> + Describe,
{
    let g = graph_of(model, M::summary().name, <M::Input as Shape>::DIMS)?;
    let expected = <M::Output as Shape>::DIMS;
    if g.output.dims != expected {
        return Err(ExportError::Shape {
            layer: M::summary().name.to_string(),
            got: g.output.dims.clone(),
            reason: format!("the description's output shape differs from the network's output {expected:?}"),
        });
    }
    Ok(g)
}
