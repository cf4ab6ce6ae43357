//! Request bodies to samples: JSON (`{"inputs": ...}`) and raw
//! little-endian `f32`.
//!
//! Both decoders are pure functions of the body bytes and the model's
//! per-sample shape. They never panic, and they allocate at most
//! `min(max_samples * numel, body.len() / 2 + 1)` floats for the samples
//! (plus what `serde_json` needs for an escaped key, at most the body's
//! length): the output buffer is reserved once and never grows past the
//! sample limit, because decoding stops with [`DecodeError::TooManySamples`]
//! as soon as the limit is crossed.
//!
//! ## JSON forms
//! - `{"inputs": [x0, x1, ...]}`: one sample, given flat (`numel` numbers);
//! - `{"inputs": [[...], [...], ...]}`: a list of samples, each either flat
//!   (`numel` numbers) or nested exactly as the shape (`[1][28][28]`).
//!
//! So for a shape `[2, 2]`, `[[1, 2], [3, 4]]` is two flat samples of two
//! values (an error), and one nested sample is written `[[[1, 2], [3, 4]]]`.
//! Keys other than `inputs` are refused (a typo is not silently ignored).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;

/// What a request may contain, for one model.
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    /// Per-sample input shape (`Network::Input::DIMS`).
    pub dims: &'static [usize],
    /// Values per sample (product of `dims`).
    pub numel: usize,
    /// Most samples one request may carry.
    pub max_samples: usize,
}

/// A decoded request: `samples` samples, `samples * numel` finite values.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// Number of samples.
    pub samples: usize,
    /// The values, sample after sample, row-major.
    pub data: Vec<f32>,
}

/// Why a body was refused. [`DecodeError::status`] gives the HTTP status.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON, truncated JSON, or not the expected structure.
    #[error("invalid JSON body: {0}")]
    Json(String),
    /// `inputs` is missing or holds no sample.
    #[error("no samples in the request")]
    Empty,
    /// A sample has the wrong number of values.
    #[error("sample {sample} has {}, expected {expected}", count_text(*.got, *.expected))]
    Length {
        /// Index of the sample.
        sample: usize,
        /// Values found (decoding stops at the first value too many).
        got: usize,
        /// Values per sample.
        expected: usize,
    },
    /// A nested sample does not follow the shape.
    #[error("sample {sample} is nested wrongly: {msg}")]
    Nesting {
        /// Index of the sample.
        sample: usize,
        /// What is wrong.
        msg: String,
    },
    /// A value is NaN, infinite, or out of `f32` range.
    #[error("sample {sample}, value {index} is not a finite f32")]
    NonFinite {
        /// Index of the sample.
        sample: usize,
        /// Index of the value inside the sample.
        index: usize,
    },
    /// More samples than the server allows per request.
    #[error("more than {max} samples in one request")]
    TooManySamples {
        /// The limit (`--max-samples`).
        max: usize,
    },
    /// A raw body whose length is not a whole number of samples.
    #[error(
        "raw body of {len} bytes is not a positive multiple of {sample_bytes} bytes (one sample of little-endian f32)"
    )]
    RawLength {
        /// The body's length.
        len: usize,
        /// Bytes per sample (`4 * numel`).
        sample_bytes: usize,
    },
}

fn count_text(got: usize, expected: usize) -> String {
    if got > expected {
        format!("more than {expected} values")
    } else {
        format!("{got} values")
    }
}

impl DecodeError {
    /// 413 for too many samples, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            DecodeError::TooManySamples { .. } => 413,
            _ => 400,
        }
    }
}

/// The shape sentence appended to every decoding error.
pub fn expected_shape(lim: &DecodeLimits) -> String {
    format!(
        "expected samples of shape {:?} ({} f32 values each), at most {} per request, as JSON {{\"inputs\": [[...], ...]}} or raw little-endian f32 (Content-Type: application/octet-stream)",
        lim.dims, lim.numel, lim.max_samples
    )
}

/// Decodes raw little-endian `f32`: the body must be `n * numel * 4` bytes
/// with `1 <= n <= max_samples`, every value finite.
///
/// # Errors
/// [`DecodeError::RawLength`], [`DecodeError::TooManySamples`],
/// [`DecodeError::NonFinite`].
pub fn decode_raw(body: &[u8], lim: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let sample_bytes = lim.numel.saturating_mul(4);
    if body.is_empty() || sample_bytes == 0 || !body.len().is_multiple_of(sample_bytes) {
        return Err(DecodeError::RawLength {
            len: body.len(),
            sample_bytes,
        });
    }
    let samples = body.len() / sample_bytes;
    if samples > lim.max_samples {
        return Err(DecodeError::TooManySamples { max: lim.max_samples });
    }
    let mut data = Vec::with_capacity(samples * lim.numel);
    for (i, c) in body.chunks_exact(4).enumerate() {
        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if !v.is_finite() {
            return Err(DecodeError::NonFinite {
                sample: i / lim.numel,
                index: i % lim.numel,
            });
        }
        data.push(v);
    }
    Ok(Decoded { samples, data })
}

/// Decodes `{"inputs": ...}` (see the module documentation for the forms).
///
/// # Errors
/// [`DecodeError::Json`] for malformed JSON or structure, and the shape,
/// finiteness and count errors.
pub fn decode_json(body: &[u8], lim: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let max_values = lim.max_samples.saturating_mul(lim.numel);
    let st = State {
        lim: *lim,
        data: RefCell::new(Vec::with_capacity(max_values.min(body.len() / 2 + 1))),
        samples: RefCell::new(0),
        error: RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = Top(&st).deserialize(&mut de).and_then(|()| de.end());
    if let Some(e) = st.error.into_inner() {
        return Err(e);
    }
    match result {
        Err(e) => Err(DecodeError::Json(e.to_string())),
        Ok(()) => {
            let samples = st.samples.into_inner();
            if samples == 0 {
                return Err(DecodeError::Empty);
            }
            Ok(Decoded {
                samples,
                data: st.data.into_inner(),
            })
        }
    }
}

/// Decoding state shared by the seeds. A typed error is stored in `error`
/// and a serde error returned to unwind the parser.
struct State {
    lim: DecodeLimits,
    data: RefCell<Vec<f32>>,
    samples: RefCell<usize>,
    error: RefCell<Option<DecodeError>>,
}

impl State {
    fn fail<E: de::Error>(&self, e: DecodeError) -> E {
        let msg = e.to_string();
        *self.error.borrow_mut() = Some(e);
        E::custom(msg)
    }

    /// Starts sample number `samples` (checks the per-request limit).
    fn begin_sample<E: de::Error>(&self) -> Result<usize, E> {
        let s = *self.samples.borrow();
        if s >= self.lim.max_samples {
            return Err(self.fail(DecodeError::TooManySamples {
                max: self.lim.max_samples,
            }));
        }
        Ok(s)
    }

    fn end_sample<E: de::Error>(&self, sample: usize, got: usize) -> Result<(), E> {
        if got != self.lim.numel {
            return Err(self.fail(DecodeError::Length {
                sample,
                got,
                expected: self.lim.numel,
            }));
        }
        *self.samples.borrow_mut() += 1;
        Ok(())
    }

    /// Appends value `index` of `sample`.
    fn push<E: de::Error>(&self, sample: usize, index: usize, v: f64) -> Result<(), E> {
        if index >= self.lim.numel {
            return Err(self.fail(DecodeError::Length {
                sample,
                got: index + 1,
                expected: self.lim.numel,
            }));
        }
        let x = v as f32;
        if !x.is_finite() {
            return Err(self.fail(DecodeError::NonFinite { sample, index }));
        }
        self.data.borrow_mut().push(x);
        Ok(())
    }
}

/// Each seed below is its own visitor: `DeserializeSeed` hands the value
/// to `Deserializer::$how` with the seed as the visitor.
macro_rules! seeds_are_visitors {
    ($($ty:ty => $how:ident),* $(,)?) => {$(
        impl<'de> DeserializeSeed<'de> for $ty {
            type Value = <Self as Visitor<'de>>::Value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.$how(self)
            }
        }
    )*};
}

seeds_are_visitors! {
    Top<'_> => deserialize_map,
    Inputs<'_> => deserialize_seq,
    Item<'_> => deserialize_any,
    Num<'_> => deserialize_f64,
    Sample<'_> => deserialize_seq,
    First<'_, '_> => deserialize_any,
    Nested<'_> => deserialize_seq,
}

/// A JSON integer is a number like any other: `visit_i64` and `visit_u64`
/// as `visit_f64`.
macro_rules! integers_as_f64 {
    () => {
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.visit_f64(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.visit_f64(v as f64)
        }
    };
}

/// `{"inputs": ...}`.
struct Top<'a>(&'a State);

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object {\"inputs\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "inputs" {
                return Err(de::Error::custom(format!(
                    "unknown key {:?} (only \"inputs\" is accepted)",
                    truncate(&key)
                )));
            }
            if seen {
                return Err(de::Error::custom("duplicate key \"inputs\""));
            }
            seen = true;
            map.next_value_seed(Inputs(self.0))?;
        }
        if !seen {
            return Err(self.0.fail(DecodeError::Empty));
        }
        Ok(())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The value of `inputs`: one flat sample, or a list of samples.
struct Inputs<'a>(&'a State);

impl<'de> Visitor<'de> for Inputs<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers (one sample) or of samples")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // The first element decides: a number starts a flat single sample,
        // an array starts a list of samples.
        let st = self.0;
        match seq.next_element_seed(Item {
            st,
            sample: 0,
            index: 0,
        })? {
            None => Err(st.fail(DecodeError::Empty)),
            Some(ItemKind::Number) => {
                let sample = st.begin_sample()?;
                let mut index = 1;
                while seq.next_element_seed(Num { st, sample, index })?.is_some() {
                    index += 1;
                }
                st.end_sample(sample, index)
            }
            Some(ItemKind::Array) => {
                while seq.next_element_seed(Sample(st))?.is_some() {}
                Ok(())
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Number,
    Array,
}

/// The first element of `inputs`: a number (value 0 of the single flat
/// sample) or an array (the first sample).
struct Item<'a> {
    st: &'a State,
    sample: usize,
    index: usize,
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = ItemKind;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or an array")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ItemKind, E> {
        self.st.begin_sample::<E>()?;
        self.st.push(self.sample, self.index, v)?;
        Ok(ItemKind::Number)
    }
    integers_as_f64!();
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ItemKind, A::Error> {
        Sample(self.st).visit_seq(seq)?;
        Ok(ItemKind::Array)
    }
}

/// One value of a sample.
struct Num<'a> {
    st: &'a State,
    sample: usize,
    index: usize,
}

impl<'de> Visitor<'de> for Num<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.st.push(self.sample, self.index, v)
    }
    integers_as_f64!();
}

/// One sample: flat (`numel` numbers) or nested exactly as the shape.
struct Sample<'a>(&'a State);

impl<'de> Visitor<'de> for Sample<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sample (an array)")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.0;
        let sample = st.begin_sample()?;
        let mut count = 0usize;
        // First element: a number means flat, an array means nested.
        let mut nested = Nested {
            st,
            sample,
            depth: 1,
            count: &mut count,
        };
        let first = seq.next_element_seed(First { nested: &mut nested })?;
        match first {
            None => st.end_sample(sample, 0),
            Some(ItemKind::Number) => {
                while seq
                    .next_element_seed(Num {
                        st,
                        sample,
                        index: count,
                    })?
                    .is_some()
                {
                    count += 1;
                }
                st.end_sample(sample, count)
            }
            Some(ItemKind::Array) => {
                let dims = st.lim.dims;
                let mut rows = 1;
                loop {
                    let next = seq.next_element_seed(Nested {
                        st,
                        sample,
                        depth: 1,
                        count: &mut count,
                    })?;
                    if next.is_none() {
                        break;
                    }
                    rows += 1;
                }
                if rows != dims[0] {
                    return Err(st.fail(DecodeError::Nesting {
                        sample,
                        msg: format!("{rows} rows at depth 0, the shape {dims:?} has {}", dims[0]),
                    }));
                }
                st.end_sample(sample, count)
            }
        }
    }
}

/// First element of a sample: a number (flat form) or a nested row.
struct First<'a, 'b> {
    nested: &'a mut Nested<'b>,
}

impl<'de> Visitor<'de> for First<'_, '_> {
    type Value = ItemKind;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or an array")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ItemKind, E> {
        let n = &mut *self.nested;
        n.st.push(n.sample, 0, v)?;
        *n.count = 1;
        Ok(ItemKind::Number)
    }
    integers_as_f64!();
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ItemKind, A::Error> {
        let n = &mut *self.nested;
        Nested {
            st: n.st,
            sample: n.sample,
            depth: n.depth,
            count: &mut *n.count,
        }
        .visit_seq(seq)?;
        Ok(ItemKind::Array)
    }
}

/// A row at `depth` (1..rank) of a nested sample: holds `dims[depth]`
/// elements, numbers at the last depth, rows above it.
struct Nested<'a> {
    st: &'a State,
    sample: usize,
    depth: usize,
    count: &'a mut usize,
}

impl<'de> Visitor<'de> for Nested<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row of a nested sample (an array)")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        let dims = st.lim.dims;
        if self.depth >= dims.len() {
            return Err(st.fail(DecodeError::Nesting {
                sample: self.sample,
                msg: format!("deeper than the shape {dims:?}"),
            }));
        }
        let mut len = 0usize;
        if self.depth + 1 == dims.len() {
            while seq
                .next_element_seed(Num {
                    st,
                    sample: self.sample,
                    index: *self.count,
                })?
                .is_some()
            {
                *self.count += 1;
                len += 1;
            }
        } else {
            while seq
                .next_element_seed(Nested {
                    st,
                    sample: self.sample,
                    depth: self.depth + 1,
                    count: &mut *self.count,
                })?
                .is_some()
            {
                len += 1;
            }
        }
        if len != dims[self.depth] {
            return Err(st.fail(DecodeError::Nesting {
                sample: self.sample,
                msg: format!(
                    "a row at depth {} has {len} elements, the shape {dims:?} has {}",
                    self.depth, dims[self.depth]
                ),
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
