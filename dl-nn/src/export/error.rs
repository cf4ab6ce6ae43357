//! [`ExportError`]: everything a graph export can fail with.

use std::path::PathBuf;

// `?` out of `main` prints `Error: {e:?}`: the message, not a struct dump.
dl_core::debug_as_display!(ExportError);

/// Errors of [`crate::export`] (graph description) and of the ONNX writer
/// and reader (`dl_nn::export::onnx`, feature `onnx`).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A layer was described on an input whose per-sample shape it does not
    /// take (a hand-written call to `describe`; the networks of
    /// `#[network]` are shape-checked at compile time).
    #[error("layer `{layer}` cannot be exported for a per-sample input of shape {got:?}: {reason}")]
    Shape {
        /// The layer's `state_dict` prefix (or its type when the prefix is empty).
        layer: String,
        /// The per-sample input shape it was given.
        got: Vec<usize>,
        /// What it expects.
        reason: String,
    },
    /// The graph refers to a parameter that the model's `visit` does not
    /// report (a `Describe` implementation that names a parameter wrongly).
    #[error("the graph refers to parameter `{name}`, which the model does not have")]
    MissingParameter {
        /// The `state_dict` name the graph used.
        name: String,
    },
    /// A model parameter that no node of the graph uses (a `Describe`
    /// implementation that forgets one: the exported model would compute
    /// something else).
    #[error("parameter `{name}` is not used by the exported graph")]
    UnusedParameter {
        /// The parameter's `state_dict` name.
        name: String,
    },
    /// A parameter's shape differs from the one the graph expects.
    #[error("parameter `{name}` has shape {found:?}, the graph expects {expected:?}")]
    ParameterShape {
        /// The parameter's `state_dict` name.
        name: String,
        /// The shape the graph was built for.
        expected: Vec<usize>,
        /// The parameter's shape.
        found: Vec<usize>,
    },
    /// The model does not fit in one protobuf message (2 GiB, the limit of
    /// every protobuf parser); ONNX's external-data format is not written.
    #[error(
        "the ONNX model would be {bytes} bytes; a protobuf file holds at most 2 GiB (external data is not supported)"
    )]
    TooLarge {
        /// The size the file would have.
        bytes: usize,
    },
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An ONNX file that is not a valid protobuf `ModelProto`.
    #[error("{path}: not an ONNX model: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// An ONNX file that is a model, but not one that matches the network
    /// it is imported into (a missing initializer, another shape, a data
    /// type other than float32, external data).
    #[error("{path}: {reason}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
}
