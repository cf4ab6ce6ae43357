//! A network's summary, like Keras `model.summary()`: per layer its name,
//! kind, output shape and parameter count, and the totals.
//!
//! `#[network]` builds one as a `const` (`MyNet::SUMMARY`), so it costs
//! nothing at run time; `Display` prints it as a table.

/// One row of a [`Summary`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSummary {
    /// Field name (`conv1`).
    pub name: &'static str,
    /// Layer type as written (`Conv2d<1, 32, 3>`).
    pub kind: &'static str,
    /// Per-sample output shape (the batch is not included).
    pub output_shape: &'static [usize],
    /// Number of trainable scalars.
    pub params: usize,
}

/// The summary of a network.
///
/// ```
/// use dl_nn::summary::{LayerSummary, Summary};
/// const S: Summary = Summary {
///     name: "Tiny",
///     input_shape: &[4],
///     layers: &[LayerSummary { name: "fc", kind: "Linear<4, 2>", output_shape: &[2], params: 10 }],
///     total_params: 10,
/// };
/// let text = S.to_string();
/// assert!(text.contains("fc") && text.contains("[2]") && text.contains("Total params: 10"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The network's type name.
    pub name: &'static str,
    /// Per-sample input shape.
    pub input_shape: &'static [usize],
    /// One row per field, in declaration order.
    pub layers: &'static [LayerSummary],
    /// Sum of the rows' parameter counts.
    pub total_params: usize,
}

fn shape_str(s: &[usize]) -> String {
    let inner: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", inner.join(", "))
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows: Vec<(String, String, String)> = self
            .layers
            .iter()
            .map(|l| {
                (
                    format!("{} ({})", l.name, l.kind),
                    shape_str(l.output_shape),
                    l.params.to_string(),
                )
            })
            .collect();
        // A column's width: its widest cell or its heading.
        let width = |cell: fn(&(String, String, String)) -> &String, heading: &str| {
            rows.iter().map(|r| cell(r).len()).max().unwrap_or(0).max(heading.len())
        };
        let w0 = width(|r| &r.0, "Layer (type)");
        let w1 = width(|r| &r.1, "Output shape");
        let w2 = width(|r| &r.2, "Param #");
        let line = "=".repeat(w0 + w1 + w2 + 4);
        writeln!(f, "Network: {} (input {})", self.name, shape_str(self.input_shape))?;
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "{:<w0$}  {:<w1$}  {:>w2$}",
            "Layer (type)", "Output shape", "Param #"
        )?;
        writeln!(f, "{line}")?;
        for r in &rows {
            writeln!(f, "{:<w0$}  {:<w1$}  {:>w2$}", r.0, r.1, r.2)?;
        }
        writeln!(f, "{line}")?;
        write!(f, "Total params: {}", self.total_params)
    }
}

/// How a layer is built from other layers, for tools that take a model
/// apart without running it (post-training quantization descends through
/// it). [`Module::structure`](crate::Module::structure) returns it: a
/// `#[network]` lists its fields, a residual connection its branches, and
/// any other layer is one unit named by its Rust type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Structure {
    /// A layer read as one unit: its type name (`std::any::type_name`).
    Layer(&'static str),
    /// A `#[network]`: its summary and, per field in order, that field's
    /// structure.
    Network {
        /// The network's summary (field names, kinds, output shapes).
        summary: &'static Summary,
        /// One entry per row of `summary.layers`.
        fields: Vec<Structure>,
    },
    /// `out = block(x) + x` ([`Residual`](crate::layers::Residual)).
    Residual {
        /// The block's structure.
        block: Box<Structure>,
    },
    /// `out = block(x) + shortcut(x)`
    /// ([`ResidualProj`](crate::layers::ResidualProj)).
    ResidualProj {
        /// The block's structure.
        block: Box<Structure>,
        /// The projection's structure.
        shortcut: Box<Structure>,
    },
}
