//! [`TensorDataset`]: samples with float targets held in memory (for
//! regression and for binary or multi-label classification), and the
//! [`Dataset`] impl of [`Tabular`] (one float target per row).
//!
//! **PyTorch equivalent**: `torch.utils.data.TensorDataset(x, y)` with a
//! float `y`.

use super::{DataError, Dataset, Tabular};

/// Samples and float targets held in memory: `len * sample_len` values and
/// `len * target_len` targets, row-major. It has no class labels
/// (`num_classes() == 0`), so `fit` accepts it only with a loss whose target
/// is a float tensor of `target_len` elements per sample (`Mse`, `L1Loss`,
/// `BceWithLogits`, ...).
///
/// ```
/// use dl_nn::data::{Dataset, TensorDataset};
/// // Three samples of two features, two targets each (multi-label 0/1).
/// let ds = TensorDataset::new(vec![0., 1., 2., 3., 4., 5.], vec![1., 0., 0., 1., 1., 1.], 2, 2)?;
/// let mut t = [0.0; 2];
/// ds.get_target(1, &mut t);
/// assert_eq!((ds.len(), ds.target_len(), t), (3, 2, [0., 1.]));
/// # Ok::<(), dl_nn::data::DataError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDataset {
    data: Vec<f32>,
    targets: Vec<f32>,
    sample_len: usize,
    target_len: usize,
}

impl TensorDataset {
    /// A data set from flat samples and flat targets.
    ///
    /// # Errors
    /// [`DataError::InvalidDataset`] when `sample_len` or `target_len` is 0,
    /// when the lengths do not describe the same number of samples, or
    /// when a value or a target is not finite (its index is named).
    pub fn new(data: Vec<f32>, targets: Vec<f32>, sample_len: usize, target_len: usize) -> Result<Self, DataError> {
        let bad = |msg: String| Err(DataError::InvalidDataset { msg });
        if sample_len == 0 || target_len == 0 {
            return bad(format!(
                "sample length {sample_len} and target length {target_len} must both be at least 1"
            ));
        }
        if !data.len().is_multiple_of(sample_len)
            || !targets.len().is_multiple_of(target_len)
            || data.len() / sample_len != targets.len() / target_len
        {
            return bad(format!(
                "{} values in samples of {sample_len} and {} targets in groups of {target_len} do not make the same number of samples",
                data.len(),
                targets.len()
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return bad(format!("value {i} (of sample {}) is {}", i / sample_len, data[i]));
        }
        if let Some(i) = targets.iter().position(|v| !v.is_finite()) {
            return bad(format!("target {i} (of sample {}) is {}", i / target_len, targets[i]));
        }
        Ok(Self {
            data,
            targets,
            sample_len,
            target_len,
        })
    }
    /// All samples, flat.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// All targets, flat.
    pub fn targets(&self) -> &[f32] {
        &self.targets
    }
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.data.len() / self.sample_len
    }
    fn sample_len(&self) -> usize {
        self.sample_len
    }
    fn num_classes(&self) -> usize {
        0
    }
    fn get(&self, i: usize, out: &mut [f32]) -> usize {
        out.copy_from_slice(&self.data[i * self.sample_len..(i + 1) * self.sample_len]);
        0
    }
    fn target_len(&self) -> usize {
        self.target_len
    }
    fn get_target(&self, i: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.targets[i * self.target_len..(i + 1) * self.target_len]);
    }
}

/// A table is a data set of `cols` features and one float target per row
/// (no class labels: `fit` takes it with `Mse`, `L1Loss` or `BceWithLogits`
/// on a network of one output).
impl Dataset for Tabular {
    fn len(&self) -> usize {
        self.rows
    }
    fn sample_len(&self) -> usize {
        self.cols
    }
    fn num_classes(&self) -> usize {
        0
    }
    fn get(&self, i: usize, out: &mut [f32]) -> usize {
        out.copy_from_slice(&self.features[i * self.cols..(i + 1) * self.cols]);
        0
    }
    fn target_len(&self) -> usize {
        1
    }
    fn get_target(&self, i: usize, out: &mut [f32]) {
        out[0] = self.targets[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataLoader;
    use dl_core::{Cpu, S1};
    use std::sync::Arc;

    #[test]
    fn new_validates() {
        assert!(TensorDataset::new(vec![0.0; 4], vec![0.0; 2], 2, 1).is_ok());
        for (d, t, s, k) in [(4, 3, 2, 1), (4, 2, 0, 1), (4, 2, 2, 0), (5, 2, 2, 1)] {
            let e = TensorDataset::new(vec![0.0; d], vec![0.0; t], s, k).unwrap_err();
            assert!(matches!(e, DataError::InvalidDataset { .. }), "{e}");
        }
        let e = TensorDataset::new(vec![0.0; 4], vec![0.0, f32::NAN], 2, 1).unwrap_err();
        assert!(e.to_string().contains("target 1 (of sample 1)"), "{e}");
    }

    #[test]
    fn the_loader_gathers_targets_in_the_batch_order() {
        // Sample i is [i, -i]; its targets [10 i, 10 i + 1].
        let n = 11;
        let data = (0..n).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let targets = (0..n).flat_map(|i| [10.0 * i as f32, 10.0 * i as f32 + 1.0]).collect();
        let ds = Arc::new(TensorDataset::new(data, targets, 2, 2).unwrap());
        let mut l = DataLoader::new(ds.clone(), 4).unwrap().shuffle(5).float_targets(true);
        let mut e = l.epoch::<S1<2>, Cpu, f32>(&Cpu).unwrap();
        let mut seen = 0;
        while let Some(b) = e.next_batch() {
            assert_eq!(b.targets.len(), 2 * b.labels.len());
            for (x, t) in b.x.to_vec().chunks(2).zip(b.targets.chunks(2)) {
                assert_eq!(t, &[10.0 * x[0], 10.0 * x[0] + 1.0]);
            }
            seen += b.labels.len();
        }
        assert_eq!(seen, n);
        // Without `float_targets` the batches carry none.
        let mut l = DataLoader::new(ds, 4).unwrap();
        let b = l.epoch::<S1<2>, Cpu, f32>(&Cpu).unwrap().next_batch().unwrap();
        assert!(b.targets.is_empty());
    }

    #[test]
    fn tabular_is_a_data_set_with_one_target() {
        let t = Tabular {
            features: vec![1.0, 2.0, 3.0, 4.0],
            targets: vec![0.5, 1.5],
            rows: 2,
            cols: 2,
        };
        let mut x = [0.0; 2];
        let mut y = [0.0; 1];
        assert_eq!(t.get(1, &mut x), 0);
        t.get_target(1, &mut y);
        assert_eq!(
            (Dataset::len(&t), t.num_classes(), t.target_len(), x, y),
            (2, 0, 1, [3.0, 4.0], [1.5])
        );
    }
}
