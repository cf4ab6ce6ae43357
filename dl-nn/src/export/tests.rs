//! Graph descriptions of the built-in layers: node counts, names,
//! attributes, parameter references, and the typed errors.

use super::*;
use crate::layers::*;
use dl_core::{Cpu, Rng};

fn init<M: Module<Cpu, f32>>() -> M {
    M::init(&Cpu, 7)
}

fn ops(g: &Graph) -> Vec<&str> {
    g.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

fn init_names(g: &Graph) -> Vec<&str> {
    g.initializers.iter().map(|i| i.name.as_str()).collect()
}

#[test]
fn builder_names_nodes_like_pytorch_and_dedups_params() {
    let mut g = GraphBuilder::new();
    let a = g.node("layer1.conv1.", "Conv", &["input"], vec![]);
    let b = g.node("layer1.conv1.", "Conv", &[&a], vec![]);
    let c = g.node("", "Relu", &[&b], vec![]);
    assert_eq!(a, "/layer1/conv1/Conv_output_0");
    assert_eq!(g.nodes()[1].name, "/layer1/conv1/Conv_1");
    assert_eq!(b, "/layer1/conv1/Conv_1_output_0");
    assert_eq!(c, "/Relu_output_0");
    assert_eq!(g.param("w", &[2, 3]).unwrap(), "w");
    assert_eq!(g.param("w", &[2, 3]).unwrap(), "w");
    assert_eq!(g.params().len(), 1);
    match g.param("w", &[3, 2]) {
        Err(ExportError::ParameterShape { name, expected, found }) => {
            assert_eq!((name.as_str(), expected, found), ("w", vec![2, 3], vec![3, 2]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rename_renames_everywhere_or_adds_identity() {
    let mut g = GraphBuilder::new();
    let a = g.node("", "Relu", &["input"], vec![]);
    let b = g.node("", "Add", &[&a, &a], vec![]);
    g.rename(&b, "output");
    assert_eq!(g.nodes()[1].outputs, ["output"]);
    let mut g = GraphBuilder::new();
    g.rename("input", "output");
    assert_eq!(g.nodes()[0].op_type, "Identity");
    assert_eq!(
        (g.nodes()[0].inputs.as_slice(), g.nodes()[0].outputs.as_slice()),
        (&["input".to_string()][..], &["output".to_string()][..])
    );
}

#[test]
fn linear_is_one_gemm_with_transposed_weight() {
    let fc: Linear<4, 3> = init();
    let g = graph_of(&fc, "fc", &[4]).unwrap();
    assert_eq!(ops(&g), ["Gemm"]);
    let n = &g.nodes[0];
    assert_eq!(n.inputs, ["input", "weight", "bias"]);
    assert_eq!(n.outputs, ["output"]);
    assert_eq!(n.attr("transB"), Some(&Attr::Int(1)));
    assert_eq!(init_names(&g), ["weight", "bias"]);
    assert_eq!(g.initializers[0].dims, [3, 4]);
    assert_eq!(g.initializers[0].data, fc.weight.value_vec());
    assert_eq!(g.output.dims, [3]);
    // On a sequence: MatMul with the transposed weight, then the bias.
    let g = graph_of(&fc, "fc", &[5, 4]).unwrap();
    assert_eq!(ops(&g), ["Transpose", "MatMul", "Add"]);
    assert_eq!(g.output.dims, [5, 3]);
}

#[test]
fn conv_and_pools_carry_their_window_attributes() {
    let conv: Conv2d<2, 4, 3, 2, 1> = init();
    let g = graph_of(&conv, "c", &[2, 9, 9]).unwrap();
    let n = &g.nodes[0];
    assert_eq!(n.op_type, "Conv");
    assert_eq!(n.attr("kernel_shape"), Some(&Attr::Ints(vec![3, 3])));
    assert_eq!(n.attr("strides"), Some(&Attr::Ints(vec![2, 2])));
    assert_eq!(n.attr("pads"), Some(&Attr::Ints(vec![1, 1, 1, 1])));
    assert_eq!(n.attr("group"), Some(&Attr::Int(1)));
    assert_eq!(g.output.dims, [4, 5, 5]);
    assert_eq!(g.initializers[0].dims, [4, 2, 3, 3]);

    let g = graph_of(&init::<MaxPool2d<3, 2, 1>>(), "p", &[2, 8, 8]).unwrap();
    assert_eq!(ops(&g), ["MaxPool"]);
    assert_eq!(g.output.dims, [2, 4, 4]);
    assert!(g.nodes[0].attr("count_include_pad").is_none());
    let g = graph_of(&init::<AvgPool2d<2>>(), "p", &[2, 8, 8]).unwrap();
    assert_eq!(ops(&g), ["AveragePool"]);
    assert_eq!(g.nodes[0].attr("count_include_pad"), Some(&Attr::Int(1)));
    assert_eq!(g.output.dims, [2, 4, 4]);
    let g = graph_of(&init::<GlobalAvgPool2d>(), "p", &[6, 3, 3]).unwrap();
    assert_eq!(ops(&g), ["GlobalAveragePool", "Flatten"]);
    assert_eq!(g.output.dims, [6]);
    let g = graph_of(&init::<Flatten>(), "f", &[2, 3, 4]).unwrap();
    assert_eq!(ops(&g), ["Flatten"]);
    assert_eq!(g.output.dims, [24]);
}

#[test]
fn activations_map_to_their_operators() {
    let one = |g: Graph| -> (String, Vec<(String, Attr)>) { (g.nodes[0].op_type.clone(), g.nodes[0].attrs.clone()) };
    assert_eq!(one(graph_of(&init::<ReLU>(), "a", &[3]).unwrap()).0, "Relu");
    assert_eq!(one(graph_of(&init::<Sigmoid>(), "a", &[3]).unwrap()).0, "Sigmoid");
    assert_eq!(one(graph_of(&init::<Tanh>(), "a", &[3]).unwrap()).0, "Tanh");
    assert_eq!(one(graph_of(&init::<Dropout<30>>(), "a", &[3]).unwrap()).0, "Identity");
    let l: LeakyReLU = LeakyReLU::new(0.25);
    assert_eq!(
        one(graph_of(&l, "a", &[3]).unwrap()),
        ("LeakyRelu".to_string(), vec![("alpha".to_string(), Attr::Float(0.25))])
    );
    let (op, attrs) = one(graph_of(&init::<LogSoftmax>(), "a", &[2, 3]).unwrap());
    assert_eq!((op.as_str(), attrs[0].1.clone()), ("LogSoftmax", Attr::Int(-1)));
    let (op, _) = one(graph_of(&init::<Softmax>(), "a", &[3]).unwrap());
    assert_eq!(op, "Softmax");
    let g = graph_of(&init::<GELU>(), "a", &[3]).unwrap();
    assert_eq!(g.count("Erf"), 1);
    assert_eq!(g.count("Constant"), 3);
    let g = graph_of(&init::<GELUTanh>(), "a", &[3]).unwrap();
    assert_eq!(g.count("Tanh"), 1);
    assert!(g.initializers.is_empty());
}

#[test]
fn norms_embedding_and_seq_mean() {
    let mut bn: BatchNorm2d<3> = init();
    bn.config.eps = 1e-3;
    let g = graph_of(&bn, "bn", &[3, 4, 4]).unwrap();
    assert_eq!(ops(&g), ["BatchNormalization"]);
    assert_eq!(
        g.nodes[0].inputs,
        ["input", "weight", "bias", "running_mean", "running_var"]
    );
    assert_eq!(g.nodes[0].attr("epsilon"), Some(&Attr::Float(1e-3)));
    assert_eq!(init_names(&g), ["weight", "bias", "running_mean", "running_var"]);
    let g = graph_of(&init::<BatchNorm1d<5>>(), "bn", &[5]).unwrap();
    assert_eq!(ops(&g), ["BatchNormalization"]);

    let g = graph_of(&init::<LayerNorm<4>>(), "ln", &[6, 4]).unwrap();
    assert_eq!(ops(&g), ["LayerNormalization"]);
    assert_eq!(g.nodes[0].attr("axis"), Some(&Attr::Int(-1)));

    let g = graph_of(&init::<Embedding<10, 4>>(), "emb", &[7]).unwrap();
    assert_eq!(ops(&g), ["Cast", "Gather"]);
    assert_eq!(g.nodes[0].attr("to"), Some(&Attr::Int(7)));
    assert_eq!(g.nodes[1].inputs[0], "weight");
    assert_eq!(g.output.dims, [7, 4]);

    let g = graph_of(&init::<SeqMean>(), "m", &[7, 4]).unwrap();
    assert_eq!(ops(&g), ["ReduceMean"]);
    assert_eq!(g.nodes[0].attr("axes"), Some(&Attr::Ints(vec![1])));
    assert_eq!(g.output.dims, [4]);
}

/// The attention mask of a graph over 3 positions: its `[3, 3]` constant.
fn mask_3x3(g: &Graph) -> TensorData {
    g.nodes
        .iter()
        .find_map(|n| match n.attr("value") {
            Some(Attr::Tensor(t)) if t.dims == [3, 3] => Some(t.data.clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn attention_is_decomposed_with_a_constant_mask_when_masked() {
    let mha: MultiHeadAttention<8, 2> = init();
    let g = graph_of(&mha, "attn", &[5, 8]).unwrap();
    assert_eq!(g.count("Softmax"), 1);
    assert_eq!(g.count("Split"), 1);
    // QK^T, PV, input and output projections.
    assert_eq!(g.count("MatMul"), 4);
    assert_eq!(
        init_names(&g),
        ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    );
    assert_eq!(g.output.dims, [5, 8]);
    // No mask: only the split sizes, two shapes and the scale are constants.
    assert_eq!(g.count("Constant"), 4);

    let causal: MultiHeadAttention<8, 2, true> = init();
    let g = graph_of(&causal, "attn", &[3, 8]).unwrap();
    assert_eq!(g.count("Constant"), 5);
    let inf = f32::NEG_INFINITY;
    assert_eq!(
        mask_3x3(&g),
        TensorData::F32(vec![0.0, inf, inf, 0.0, 0.0, inf, 0.0, 0.0, 0.0])
    );

    let local: LocalAttention<8, 4, 1> = init();
    let g = graph_of(&local, "attn", &[3, 8]).unwrap();
    assert_eq!(
        mask_3x3(&g),
        TensorData::F32(vec![0.0, 0.0, inf, 0.0, 0.0, 0.0, inf, 0.0, 0.0])
    );
}

#[test]
fn residuals_add_the_skip_and_prefix_the_shortcut() {
    let r: Residual<Linear<4, 4>> = init();
    let g = graph_of(&r, "r", &[4]).unwrap();
    assert_eq!(ops(&g), ["Gemm", "Add"]);
    assert_eq!(g.nodes[1].inputs[1], "input");
    let rp: ResidualProj<Linear<4, 2>, Linear<4, 2>> = init();
    let g = graph_of(&rp, "r", &[4]).unwrap();
    assert_eq!(ops(&g), ["Gemm", "Gemm", "Add"]);
    assert_eq!(init_names(&g), ["weight", "bias", "shortcut.weight", "shortcut.bias"]);
    assert_eq!(g.nodes[1].name, "/shortcut/Gemm");
}

#[test]
fn wrong_input_shapes_are_typed_errors() {
    let fc: Linear<4, 3> = init();
    match graph_of(&fc, "fc", &[5]) {
        Err(ExportError::Shape { layer, got, .. }) => assert_eq!((layer.as_str(), got), ("Linear", vec![5])),
        other => panic!("{other:?}"),
    }
    let conv: Conv2d<2, 4, 3> = init();
    assert!(matches!(
        graph_of(&conv, "c", &[2, 2, 2]),
        Err(ExportError::Shape { .. })
    ));
    assert!(matches!(
        graph_of(&conv, "c", &[3, 5, 5]),
        Err(ExportError::Shape { .. })
    ));
    assert!(matches!(
        graph_of(&init::<SeqMean>(), "m", &[4]),
        Err(ExportError::Shape { .. })
    ));
}

/// A user layer whose description names its parameters wrongly.
struct Faulty(Linear<2, 2>, &'static str, Vec<usize>);

impl Module<Cpu, f32> for Faulty {
    const NUM_PARAMS: usize = 6;
    fn init_with(dev: &Cpu, rng: &mut Rng) -> Self {
        Faulty(Linear::init_with(dev, rng), "weight", vec![2, 2])
    }
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &dl_core::RawParam<Cpu, f32>)) {
        self.0.visit(prefix, f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut dl_core::RawParam<Cpu, f32>)) {
        self.0.visit_mut(prefix, f);
    }
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut dl_core::RawParam<Cpu, f32>)) {
        self.0.for_each_param(f);
    }
}

impl Describe for Faulty {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let w = g.param(format!("{prefix}{}", self.1), &self.2)?;
        Ok(Value::new(g.node(prefix, "MatMul", &[&x.name, &w], vec![]), &[2]))
    }
}

#[test]
fn parameter_references_must_match_the_model() {
    let mut f: Faulty = init();
    // The bias is never used.
    assert!(matches!(graph_of(&f, "f", &[2]), Err(ExportError::UnusedParameter { name }) if name == "bias"));
    f.1 = "wieght";
    assert!(matches!(graph_of(&f, "f", &[2]), Err(ExportError::MissingParameter { name }) if name == "wieght"));
    f.1 = "weight";
    f.2 = vec![4];
    assert!(matches!(
        graph_of(&f, "f", &[2]),
        Err(ExportError::ParameterShape { .. })
    ));
}
