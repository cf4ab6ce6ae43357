//! ONNX files (feature `onnx`): [`export`] writes a `#[network]` model as
//! an ONNX model that ONNX Runtime runs; [`import`] reads the parameters of
//! such a file back into a network of the same declaration.
//!
//! The file: IR version 8, opset 17 (default domain only), producer `dl`;
//! graph input `input` and output `output`, float32, first dimension the
//! symbolic `batch` (any batch size runs), the others fixed; one initializer
//! per `state_dict` entry under the same name (`fc1.weight`, buffers such as
//! `bn1.running_mean` included), float32 little-endian `raw_data`. Which
//! operators each layer becomes is listed in `docs/onnx.md`.
//!
//! Through the facade: `dl::onnx::export(&model, "net.onnx")` (feature
//! `onnx` of `dl`), with an example in `dl::onnx`'s documentation.
//!
//! The messages are derived with `prost` from the ONNX specification's
//! field numbers ([`proto`]); no protobuf code is written by hand.

pub mod proto;

use super::{graph, Attr, ConstTensor, Describe, ExportError, Graph, TensorData, Value};
use crate::module::Network;
use dl_core::{Backend, Float};
use prost::Message;
use proto::*;
use std::path::Path;

/// The ONNX operator set version the graph is written for.
pub const OPSET: i64 = 17;
/// The ONNX IR version of the file (the one that goes with opset 17).
pub const IR_VERSION: i64 = 8;
/// The name of the dynamic batch dimension of the input and the output.
pub const BATCH_DIM: &str = "batch";

fn tensor_proto(name: Option<String>, dims: &[usize], data: &TensorData) -> TensorProto {
    let (data_type, raw): (i32, Vec<u8>) = match data {
        TensorData::F32(v) => (data_type::FLOAT, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I64(v) => (data_type::INT64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(data_type),
        name,
        raw_data: Some(raw),
        ..Default::default()
    }
}

fn attribute(name: &str, a: &Attr) -> AttributeProto {
    let mut p = AttributeProto {
        name: Some(name.to_string()),
        ..Default::default()
    };
    match a {
        Attr::Float(v) => {
            p.f = Some(*v);
            p.r#type = Some(attribute_type::FLOAT);
        }
        Attr::Int(v) => {
            p.i = Some(*v);
            p.r#type = Some(attribute_type::INT);
        }
        Attr::Ints(v) => {
            p.ints = v.clone();
            p.r#type = Some(attribute_type::INTS);
        }
        Attr::String(s) => {
            p.s = Some(s.as_bytes().to_vec());
            p.r#type = Some(attribute_type::STRING);
        }
        Attr::Tensor(ConstTensor { dims, data }) => {
            p.t = Some(tensor_proto(None, dims, data));
            p.r#type = Some(attribute_type::TENSOR);
        }
    }
    p
}

/// A float32 tensor type `[batch, dims..]`.
fn value_info(v: &Value) -> ValueInfoProto {
    let mut dim = vec![Dimension {
        value: Some(DimensionValue::DimParam(BATCH_DIM.to_string())),
    }];
    dim.extend(v.dims.iter().map(|&d| Dimension {
        value: Some(DimensionValue::DimValue(d as i64)),
    }));
    ValueInfoProto {
        name: Some(v.name.clone()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(data_type::FLOAT),
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: None,
    }
}

/// The ONNX model of a described graph.
pub fn model_proto(g: &Graph) -> ModelProto {
    let node = g
        .nodes
        .iter()
        .map(|n| NodeProto {
            input: n.inputs.clone(),
            output: n.outputs.clone(),
            name: Some(n.name.clone()),
            op_type: Some(n.op_type.clone()),
            attribute: n.attrs.iter().map(|(k, a)| attribute(k, a)).collect(),
            doc_string: None,
            domain: None,
        })
        .collect();
    let initializer = g
        .initializers
        .iter()
        .map(|i| tensor_proto(Some(i.name.clone()), &i.dims, &TensorData::F32(i.data.clone())))
        .collect();
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("dl".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: None,
        graph: Some(GraphProto {
            node,
            name: Some(g.name.clone()),
            initializer,
            doc_string: None,
            input: vec![value_info(&g.input)],
            output: vec![value_info(&g.output)],
            value_info: vec![],
        }),
    }
}

/// The serialized ONNX model of `model` (what [`export`] writes).
///
/// # Errors
/// Those of [`super::graph`]; [`ExportError::TooLarge`] above 2 GiB.
pub fn to_bytes<M, B, E>(model: &M) -> Result<Vec<u8>, ExportError>
where
    B: Backend,
    E: Float,
    M: Network<B, E> + Describe,
{
    let m = model_proto(&graph(model)?);
    check_size(m.encoded_len())?;
    Ok(m.encode_to_vec())
}

/// The 2 GiB limit of a protobuf message.
fn check_size(bytes: usize) -> Result<(), ExportError> {
    if bytes > i32::MAX as usize {
        return Err(ExportError::TooLarge { bytes });
    }
    Ok(())
}

/// Writes `model` (a `#[network]` whose layers all implement
/// [`Describe`]) to `path` as an ONNX model: opset 17, a dynamic batch
/// dimension, PyTorch `state_dict` names as initializer names. Inference
/// semantics: dropout is the identity and batch norm uses its running
/// statistics, as `forward` does. `f64` models are written as float32.
///
/// # Errors
/// [`ExportError::Io`] when the file cannot be written (a previous file
/// at `path` is then unchanged: the model goes through `<path>.tmp`);
/// [`ExportError::TooLarge`] for a model over 2 GiB; those of
/// [`super::graph`] for a faulty user `Describe`.
pub fn export<M, B, E>(model: &M, path: impl AsRef<Path>) -> Result<(), ExportError>
where
    B: Backend,
    E: Float,
    M: Network<B, E> + Describe,
{
    let path = path.as_ref();
    let bytes = to_bytes(model)?;
    write_atomic(path, &bytes)
}

/// Writes through `<path>.tmp` (write, fsync, rename), so that a failed
/// export never leaves a truncated model where a good one was.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    use std::io::Write;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ExportError::Io { path: p, source }
    };
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .ok_or_else(|| ExportError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
        })?;
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads and decodes the ONNX model at `path` (for inspection: names,
/// operators, attributes, initializers).
///
/// # Errors
/// [`ExportError::Io`] when the file cannot be read, [`ExportError::Decode`]
/// when it is not a protobuf `ModelProto`.
pub fn load_model(path: impl AsRef<Path>) -> Result<ModelProto, ExportError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    ModelProto::decode(bytes.as_slice()).map_err(|e| ExportError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The float32 values of an initializer, from `raw_data` or `float_data`.
fn initializer_values(t: &TensorProto) -> Result<Vec<f32>, String> {
    if t.data_type != Some(data_type::FLOAT) {
        return Err(format!("its data type is {:?}, not float32 (1)", t.data_type));
    }
    if t.data_location == Some(1) {
        return Err("its data is in an external file, which is not supported".into());
    }
    match &t.raw_data {
        Some(raw) if !raw.is_empty() || t.float_data.is_empty() => {
            if raw.len() % 4 != 0 {
                return Err(format!("raw_data holds {} bytes, not a multiple of 4", raw.len()));
            }
            Ok(raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        }
        _ => Ok(t.float_data.clone()),
    }
}

/// Reads the parameters of the ONNX model at `path` into `model`, by
/// initializer name: every `state_dict` entry of `model` must be an
/// initializer of the file, float32, of the same shape (PyTorch layout).
/// Other initializers are ignored. The graph itself is not read: the
/// network's declaration is the structure (an ONNX file written by
/// [`export`] for the same declaration always matches). Nothing of `model`
/// changes unless every parameter is found and valid.
///
/// # Errors
/// [`ExportError::Io`] (unreadable file), [`ExportError::Decode`] (not a
/// protobuf `ModelProto`), [`ExportError::Mismatch`] (a missing parameter,
/// another shape or data type, external data, a wrong element count).
pub fn import<M, B, E>(model: &mut M, path: impl AsRef<Path>) -> Result<(), ExportError>
where
    B: Backend,
    E: Float,
    M: Network<B, E>,
{
    let path = path.as_ref();
    let graph = load_model(path)?.graph.unwrap_or_default();
    let mismatch = |reason: String| ExportError::Mismatch {
        path: path.to_path_buf(),
        reason,
    };
    // Check everything first, then write: a failed import changes nothing.
    let mut wanted: Vec<(String, Vec<usize>)> = Vec::new();
    model.visit("", &mut |name, p| wanted.push((name.to_string(), p.dims.clone())));
    let mut values: Vec<Vec<E>> = Vec::with_capacity(wanted.len());
    for (name, dims) in &wanted {
        let t = graph
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .ok_or_else(|| {
                mismatch(format!(
                    "no initializer `{name}` (the network's parameter of shape {dims:?})"
                ))
            })?;
        let file_dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        if t.dims != file_dims {
            return Err(mismatch(format!(
                "initializer `{name}` has shape {:?}, the network expects {dims:?}",
                t.dims
            )));
        }
        let v = initializer_values(t).map_err(|r| mismatch(format!("initializer `{name}`: {r}")))?;
        let n: usize = dims.iter().product();
        if v.len() != n {
            return Err(mismatch(format!(
                "initializer `{name}` holds {} values, its shape {dims:?} needs {n}",
                v.len()
            )));
        }
        values.push(v.into_iter().map(|x| E::from_f64(x as f64)).collect());
    }
    let mut values = values.into_iter();
    model.visit_mut("", &mut |_, p| {
        if let Some(v) = values.next() {
            // Lengths were checked above against the same dims.
            let _ = p.set_value(&v);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;
