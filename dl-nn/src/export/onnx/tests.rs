//! The ONNX messages of a described graph, checked by decoding the bytes.

use super::*;
use crate::export::graph_of;
use crate::layers::{Linear, MultiHeadAttention, Residual};
use crate::module::Module;
use dl_core::Cpu;

fn decode(g: &Graph) -> ModelProto {
    let bytes = model_proto(g).encode_to_vec();
    ModelProto::decode(bytes.as_slice()).unwrap()
}

#[test]
fn model_header_input_output_and_initializers() {
    let fc = Linear::<3, 2>::init(&Cpu, 1);
    let m = decode(&graph_of(&fc, "fc", &[3]).unwrap());
    assert_eq!(m.ir_version, Some(IR_VERSION));
    assert_eq!(m.opset_import.len(), 1);
    assert_eq!(m.opset_import[0].domain.as_deref(), Some(""));
    assert_eq!(m.opset_import[0].version, Some(17));
    let g = m.graph.unwrap();
    assert_eq!(g.name.as_deref(), Some("fc"));
    let dims = |v: &ValueInfoProto| -> Vec<DimensionValue> {
        let t = v.r#type.clone().unwrap().tensor_type.unwrap();
        assert_eq!(t.elem_type, Some(data_type::FLOAT));
        t.shape.unwrap().dim.into_iter().map(|d| d.value.unwrap()).collect()
    };
    assert_eq!(g.input[0].name.as_deref(), Some("input"));
    assert_eq!(
        dims(&g.input[0]),
        [DimensionValue::DimParam("batch".into()), DimensionValue::DimValue(3)]
    );
    assert_eq!(g.output[0].name.as_deref(), Some("output"));
    assert_eq!(
        dims(&g.output[0]),
        [DimensionValue::DimParam("batch".into()), DimensionValue::DimValue(2)]
    );
    let w = &g.initializer[0];
    assert_eq!(w.name.as_deref(), Some("weight"));
    assert_eq!(w.dims, [2, 3]);
    assert_eq!(w.data_type, Some(data_type::FLOAT));
    assert_eq!(initializer_values(w).unwrap(), fc.weight.value_vec());
    assert_eq!(g.node.len(), 1);
    let n = &g.node[0];
    assert_eq!(n.op_type.as_deref(), Some("Gemm"));
    assert_eq!(n.input, ["input", "weight", "bias"]);
    assert_eq!(n.attribute[0].name.as_deref(), Some("transB"));
    assert_eq!(n.attribute[0].r#type, Some(attribute_type::INT));
    assert_eq!(n.attribute[0].i, Some(1));
}

#[test]
fn zero_valued_attributes_are_present_and_constants_are_tensors() {
    let m = decode(&graph_of(&Residual::<MultiHeadAttention<4, 2, true>>::init(&Cpu, 2), "a", &[3, 4]).unwrap());
    let g = m.graph.unwrap();
    // Reshape's `[0, 0, heads, dh]`: an int64 tensor attribute.
    let shape = g
        .node
        .iter()
        .filter(|n| n.op_type.as_deref() == Some("Constant"))
        .filter_map(|n| n.attribute[0].t.clone())
        .find(|t| t.data_type == Some(data_type::INT64) && t.dims == [4])
        .unwrap();
    let raw = shape.raw_data.unwrap();
    let v: Vec<i64> = raw
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(v, [0, 0, 2, 2]);
    // `perm` of the head split starts with 0; ints are a list attribute.
    let t = g
        .node
        .iter()
        .find(|n| n.op_type.as_deref() == Some("Transpose") && n.attribute[0].ints.len() == 4)
        .unwrap();
    assert_eq!(t.attribute[0].r#type, Some(attribute_type::INTS));
    // A LeakyReLU of slope 0 still writes `alpha`.
    let l = crate::layers::LeakyReLU::<Cpu, f32>::new(0.0);
    let g = decode(&graph_of(&l, "l", &[2]).unwrap()).graph.unwrap();
    assert_eq!(g.node[0].attribute[0].f, Some(0.0));
}

#[test]
fn initializer_values_reads_float_data_and_rejects_other_types() {
    let t = TensorProto {
        dims: vec![2],
        data_type: Some(data_type::FLOAT),
        float_data: vec![1.5, -2.0],
        ..Default::default()
    };
    assert_eq!(initializer_values(&t).unwrap(), [1.5, -2.0]);
    let t = TensorProto {
        data_type: Some(data_type::INT64),
        ..Default::default()
    };
    assert!(initializer_values(&t).is_err());
    let t = TensorProto {
        data_type: Some(data_type::FLOAT),
        raw_data: Some(vec![0; 5]),
        ..Default::default()
    };
    assert!(initializer_values(&t).unwrap_err().contains("multiple of 4"));
}

#[test]
fn models_over_two_gib_are_refused() {
    assert!(check_size(i32::MAX as usize).is_ok());
    assert!(matches!(check_size(i32::MAX as usize + 1), Err(ExportError::TooLarge { bytes }) if bytes == 1 << 31));
}
