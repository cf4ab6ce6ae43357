//! Attribute keys and reserved names, in one place.

/// `#[network(input = [..])]`.
pub const INPUT: &str = "input";
/// `#[shape([..])]` on a field.
pub const SHAPE: &str = "shape";
/// Names of the generated cache struct's own fields.
pub const RESERVED_CACHE_FIELDS: &[&str] = &["input", "output", "grads"];
/// Suffix of the cache field that holds a layer's own cache.
pub const CACHE_SUFFIX: &str = "_cache";
