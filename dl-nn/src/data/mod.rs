//! Data sets and loaders.
//!
//! A [`Dataset`] is a random-access collection of labelled samples of a fixed
//! size, stored as `f32`. A `DataLoader` (in this module) batches a data set
//! into typed tensors, with seeded shuffling per epoch.
//!
//! | item | what |
//! |---|---|
//! | [`DataLoader`] | batches, shuffling, background preparation |
//! | [`InMemoryDataset`] | samples in host memory; subset, filter, relabel, split |
//! | [`TensorDataset`], [`Tabular`] | samples with float targets (regression, binary, multi-label) |
//! | [`load_mnist`], [`load_digits`] | MNIST (IDX, gzip or plain; pixels / 255) and scikit-learn's 8x8 digits (pixels / 16): both already in `[0, 1]`; [`load_mnist_with`], [`load_digits_with`] standardise |
//! | [`load_diabetes`], [`load_breast_cancer`] | tabular data, raw feature values ([`Tabular`]) |
//! | [`augment`] | seeded image transforms (flips, crops, rotation, jitter, normalisation) |
//! | [`DataError`] | typed errors naming the file and the problem |

pub mod augment;
pub mod digits;
pub mod error;
pub mod idx;
pub mod loader;
pub mod memory;
pub mod sampler;
pub mod tabular;
pub mod targets;

pub use digits::{
    digit_to_mnist, load_digits, load_digits_with, write_digits_as_mnist, DigitsOptions, DIGITS_MEAN, DIGITS_STD,
};
pub use error::DataError;
pub use idx::{load_mnist, load_mnist_with, write_mnist, MnistOptions, Split};
pub use loader::{Batch, DataLoader, Epoch};
pub use memory::InMemoryDataset;
pub use sampler::{epoch_order, Sampler};
pub use tabular::{load_breast_cancer, load_diabetes, Tabular};
pub use targets::TensorDataset;

/// A random-access, labelled data set of fixed-size samples.
///
/// Samples are flat `f32` slices of [`Dataset::sample_len`] elements in the
/// row-major order of the per-sample shape (`[C, H, W]` for images); labels
/// are class indices. A data set for regression or binary / multi-label
/// classification also has float targets: [`Dataset::target_len`] values
/// per sample, written by [`Dataset::get_target`] (`fit` gives them to a
/// loss whose target is a float tensor, such as `Mse` or `BceWithLogits`).
/// A data set with float targets only has no classes (`num_classes() == 0`;
/// `get` then returns 0).
pub trait Dataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether the data set holds no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Elements per sample.
    fn sample_len(&self) -> usize;
    /// Number of classes the labels range over (`0..num_classes`).
    fn num_classes(&self) -> usize;
    /// Writes sample `i` (`i < len()`) into `out` (of `sample_len()`
    /// elements) and returns its label.
    fn get(&self, i: usize, out: &mut [f32]) -> usize;
    /// Float target values per sample: the element count of the model's
    /// output a regression or binary loss compares with (0, the default:
    /// the data set has class labels only).
    fn target_len(&self) -> usize {
        0
    }
    /// Writes the float target of sample `i` (`i < len()`) into `out` (of
    /// `target_len()` elements). The default, for data sets without float
    /// targets, writes nothing.
    fn get_target(&self, i: usize, out: &mut [f32]) {
        let _ = (i, out);
    }
}
