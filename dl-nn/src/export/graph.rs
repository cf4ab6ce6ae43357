//! The graph a model is described into: ONNX-style nodes (operator type,
//! named inputs and outputs, attributes), constants, and references to the
//! model's parameters by `state_dict` name. Independent of any file format;
//! `export::onnx` (feature `onnx`) writes it as an ONNX `ModelProto`.

use super::ExportError;
use std::collections::HashMap;

/// A value flowing through the graph: its name and its per-sample shape
/// (the batch, a dynamic dimension, is implicit in front).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The graph-wide name of the value.
    pub name: String,
    /// The per-sample shape (`[1, 28, 28]` for a batch of `[N, 1, 28, 28]`).
    pub dims: Vec<usize>,
}

impl Value {
    /// A value named `name` with per-sample shape `dims`.
    pub fn new(name: impl Into<String>, dims: &[usize]) -> Self {
        Self {
            name: name.into(),
            dims: dims.to_vec(),
        }
    }
}

/// The data of a constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// `float32` elements.
    F32(Vec<f32>),
    /// `int64` elements (shapes, axes, indices).
    I64(Vec<i64>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A constant tensor (the `value` of a `Constant` node): shape and data.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstTensor {
    /// Full shape (`[]` for a scalar).
    pub dims: Vec<usize>,
    /// Row-major elements.
    pub data: TensorData,
}

/// An attribute value of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// A float (`epsilon`, `alpha`).
    Float(f32),
    /// An integer (`axis`, `transB`).
    Int(i64),
    /// A list of integers (`kernel_shape`, `pads`, `perm`).
    Ints(Vec<i64>),
    /// A string.
    String(String),
    /// A tensor (`Constant`'s `value`).
    Tensor(ConstTensor),
}

/// One operator of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Unique node name (PyTorch style: `/fc1/Gemm`).
    pub name: String,
    /// ONNX operator type (`Gemm`, `Conv`, ...), default domain.
    pub op_type: String,
    /// Names of the input values (parameters by their `state_dict` name).
    pub inputs: Vec<String>,
    /// Names of the output values.
    pub outputs: Vec<String>,
    /// Attributes, by name.
    pub attrs: Vec<(String, Attr)>,
}

impl Node {
    /// The attribute named `name`, if the node has it.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }
}

/// A reference from the graph to a model parameter, with the shape the
/// graph was built for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamRef {
    /// The parameter's `state_dict` name (`fc1.weight`).
    pub name: String,
    /// The shape the graph expects (PyTorch layout).
    pub dims: Vec<usize>,
}

/// Collects the nodes of a graph while layers describe themselves
/// (see [`super::Describe`]).
///
/// ```
/// use dl_nn::export::{Attr, GraphBuilder, Value};
/// let mut g = GraphBuilder::new();
/// let x = Value::new("input", &[4]);
/// let w = g.param("fc.weight", &[2, 4]).unwrap();
/// let b = g.param("fc.bias", &[2]).unwrap();
/// let y = g.node("fc.", "Gemm", &[&x.name, &w, &b], vec![("transB", Attr::Int(1))]);
/// assert_eq!(y, "/fc/Gemm_output_0");
/// assert_eq!(g.nodes()[0].inputs, ["input", "fc.weight", "fc.bias"]);
/// assert_eq!(g.params().len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct GraphBuilder {
    nodes: Vec<Node>,
    params: Vec<ParamRef>,
    used_names: HashMap<String, usize>,
}

impl GraphBuilder {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The nodes so far, in order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The parameters referred to so far, in order of first use.
    pub fn params(&self) -> &[ParamRef] {
        &self.params
    }

    /// Refers to the model parameter `name` (a `state_dict` name) of shape
    /// `dims` and returns the value name to use as a node input (the name
    /// itself: parameters become the ONNX initializers of that name).
    ///
    /// # Errors
    /// [`ExportError::ParameterShape`] when the same name was already used
    /// with another shape.
    pub fn param(&mut self, name: impl Into<String>, dims: &[usize]) -> Result<String, ExportError> {
        let name = name.into();
        match self.params.iter().find(|p| p.name == name) {
            Some(p) if p.dims != dims => Err(ExportError::ParameterShape {
                name,
                expected: p.dims.clone(),
                found: dims.to_vec(),
            }),
            Some(_) => Ok(name),
            None => {
                self.params.push(ParamRef {
                    name: name.clone(),
                    dims: dims.to_vec(),
                });
                Ok(name)
            }
        }
    }

    /// A unique node name for operator `op` under the layer prefix
    /// `prefix` (`"fc1."` gives `/fc1/Gemm`, then `/fc1/Gemm_1`, ...).
    fn node_name(&mut self, prefix: &str, op: &str) -> String {
        let base = format!("/{}{}", prefix.replace('.', "/"), op);
        let n = self.used_names.entry(base.clone()).or_insert(0);
        let name = if *n == 0 { base } else { format!("{base}_{n}") };
        *n += 1;
        name
    }

    /// Appends a node with `outputs` outputs and returns their names
    /// (`<node name>_output_<i>`).
    pub fn node_multi(
        &mut self,
        prefix: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        outputs: usize,
    ) -> Vec<String> {
        let name = self.node_name(prefix, op);
        let outs: Vec<String> = (0..outputs).map(|i| format!("{name}_output_{i}")).collect();
        self.nodes.push(Node {
            name,
            op_type: op.to_string(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outs.clone(),
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
        outs
    }

    /// Appends a node with one output and returns the output's name.
    pub fn node(&mut self, prefix: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.node_multi(prefix, op, inputs, attrs, 1).remove(0)
    }

    /// A `Constant` node holding `t`; returns its output's name.
    pub fn constant(&mut self, prefix: &str, t: ConstTensor) -> String {
        self.node(prefix, "Constant", &[], vec![("value", Attr::Tensor(t))])
    }

    /// A float32 scalar constant (broadcasts against any tensor).
    pub fn scalar(&mut self, prefix: &str, v: f32) -> String {
        self.constant(
            prefix,
            ConstTensor {
                dims: vec![],
                data: TensorData::F32(vec![v]),
            },
        )
    }

    /// A one-dimensional int64 constant (a shape, axes, split sizes).
    pub fn ints(&mut self, prefix: &str, v: &[i64]) -> String {
        self.constant(
            prefix,
            ConstTensor {
                dims: vec![v.len()],
                data: TensorData::I64(v.to_vec()),
            },
        )
    }

    /// Gives the value `from` the name `to` (the graph's output name):
    /// renames it in every node, or adds an `Identity` node when no node
    /// produces `from` (a graph input passed straight through).
    pub fn rename(&mut self, from: &str, to: &str) {
        let produced = self.nodes.iter().any(|n| n.outputs.iter().any(|o| o == from));
        if !produced {
            let name = self.node_name("", "Identity");
            self.nodes.push(Node {
                name,
                op_type: "Identity".into(),
                inputs: vec![from.to_string()],
                outputs: vec![to.to_string()],
                attrs: vec![],
            });
            return;
        }
        for n in &mut self.nodes {
            for v in n.inputs.iter_mut().chain(n.outputs.iter_mut()) {
                if v == from {
                    *v = to.to_string();
                }
            }
        }
    }

    /// The nodes and parameter references, consuming the builder.
    pub fn into_parts(self) -> (Vec<Node>, Vec<ParamRef>) {
        (self.nodes, self.params)
    }
}

/// A model parameter as an initializer: `state_dict` name, shape and
/// values (converted to `f32`).
#[derive(Clone, Debug, PartialEq)]
pub struct Initializer {
    /// The `state_dict` name.
    pub name: String,
    /// Shape (PyTorch layout).
    pub dims: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A whole model as a graph: one input (`input`, `[batch, ..]`), one
/// output (`output`), the nodes in execution order and the parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// The network's name (`#[network]` struct name).
    pub name: String,
    /// The graph input, named `input`; its dims are per sample.
    pub input: Value,
    /// The graph output, named `output`; its dims are per sample.
    pub output: Value,
    /// The nodes in execution order.
    pub nodes: Vec<Node>,
    /// Every parameter and buffer of the model, in `state_dict` order.
    pub initializers: Vec<Initializer>,
}

impl Graph {
    /// The number of nodes of operator type `op`.
    pub fn count(&self, op: &str) -> usize {
        self.nodes.iter().filter(|n| n.op_type == op).count()
    }
}
