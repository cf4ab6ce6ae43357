//! [`InMemoryDataset`]: samples and labels held in host memory.

use super::{DataError, Dataset};

/// A labelled data set held in memory: `len * sample_len` values, one label
/// per sample, labels in `0..num_classes`.
///
/// ```
/// use dl_nn::data::{Dataset, InMemoryDataset};
/// // Four samples of two features, classes 0..4.
/// let ds = InMemoryDataset::new(vec![0., 0., 1., 1., 2., 2., 3., 3.], vec![0, 1, 2, 3], 2, 4)?;
/// // Keep the classes 2 and 3, relabelled 0 and 1 (for transfer learning).
/// let upper = ds.filter_labels(|l| l >= 2).map_labels(|l| l - 2, 2)?;
/// assert_eq!(upper.labels(), &[0, 1]);
/// assert_eq!(upper.sample(1), &[3., 3.]);
/// let (a, b) = ds.split(3)?;
/// assert_eq!((a.len(), b.len()), (3, 1));
/// # Ok::<(), dl_nn::data::DataError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct InMemoryDataset {
    data: Vec<f32>,
    labels: Vec<usize>,
    sample_len: usize,
    num_classes: usize,
}

impl InMemoryDataset {
    /// A data set from flat samples (`labels.len() * sample_len` values,
    /// row-major per sample) and their labels.
    ///
    /// # Errors
    /// [`DataError::InvalidDataset`] when `sample_len` or `num_classes` is 0
    /// or the lengths disagree; [`DataError::LabelOutOfRange`] for a label
    /// `>= num_classes`.
    pub fn new(data: Vec<f32>, labels: Vec<usize>, sample_len: usize, num_classes: usize) -> Result<Self, DataError> {
        if sample_len == 0 {
            return Err(DataError::InvalidDataset {
                msg: "sample length is 0".into(),
            });
        }
        if num_classes == 0 {
            return Err(DataError::InvalidDataset {
                msg: "number of classes is 0".into(),
            });
        }
        if labels.len().checked_mul(sample_len) != Some(data.len()) {
            return Err(DataError::InvalidDataset {
                msg: format!(
                    "{} labels of samples of {sample_len} values need {} values, got {}",
                    labels.len(),
                    labels.len().saturating_mul(sample_len),
                    data.len()
                ),
            });
        }
        check_labels(&labels, num_classes)?;
        Ok(Self {
            data,
            labels,
            sample_len,
            num_classes,
        })
    }

    /// All samples, flat, row-major, sample after sample.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// All samples, mutable (for in-place preprocessing such as
    /// normalisation).
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }
    /// The labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
    /// Sample `i`.
    ///
    /// # Panics
    /// When `i >= len()`.
    pub fn sample(&self, i: usize) -> &[f32] {
        &self.data[i * self.sample_len..(i + 1) * self.sample_len]
    }
    /// Number of samples per class (`num_classes` entries).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.num_classes];
        for &l in &self.labels {
            c[l] += 1;
        }
        c
    }
    /// The samples at `indices`, in that order (repetitions allowed).
    ///
    /// # Errors
    /// [`DataError::InvalidDataset`] when an index is `>= len()`.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, DataError> {
        let mut data = Vec::with_capacity(indices.len().saturating_mul(self.sample_len));
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            if i >= self.labels.len() {
                return Err(DataError::InvalidDataset {
                    msg: format!("subset index {i} out of range for {} samples", self.labels.len()),
                });
            }
            data.extend_from_slice(self.sample(i));
            labels.push(self.labels[i]);
        }
        Ok(Self {
            data,
            labels,
            sample_len: self.sample_len,
            num_classes: self.num_classes,
        })
    }
    /// The samples whose label satisfies `keep`, in order. The number of
    /// classes is unchanged (relabel with [`InMemoryDataset::map_labels`]).
    pub fn filter_labels(&self, keep: impl Fn(usize) -> bool) -> Self {
        let idx: Vec<usize> = (0..self.labels.len()).filter(|&i| keep(self.labels[i])).collect();
        self.subset(&idx).expect("indices come from 0..len")
    }
    /// The same samples with each label replaced by `f(label)`, over
    /// `num_classes` classes.
    ///
    /// # Errors
    /// [`DataError::LabelOutOfRange`] when a new label is `>= num_classes`;
    /// [`DataError::InvalidDataset`] when `num_classes` is 0.
    pub fn map_labels(mut self, f: impl Fn(usize) -> usize, num_classes: usize) -> Result<Self, DataError> {
        if num_classes == 0 {
            return Err(DataError::InvalidDataset {
                msg: "number of classes is 0".into(),
            });
        }
        self.labels.iter_mut().for_each(|l| *l = f(*l));
        check_labels(&self.labels, num_classes)?;
        self.num_classes = num_classes;
        Ok(self)
    }
    /// The first `at` samples and the rest.
    ///
    /// # Errors
    /// [`DataError::InvalidDataset`] when `at > len()`.
    pub fn split(&self, at: usize) -> Result<(Self, Self), DataError> {
        if at > self.labels.len() {
            return Err(DataError::InvalidDataset {
                msg: format!("split point {at} is past the {} samples", self.labels.len()),
            });
        }
        let (d0, d1) = self.data.split_at(at * self.sample_len);
        let (l0, l1) = self.labels.split_at(at);
        let part = |d: &[f32], l: &[usize]| Self {
            data: d.to_vec(),
            labels: l.to_vec(),
            sample_len: self.sample_len,
            num_classes: self.num_classes,
        };
        Ok((part(d0, l0), part(d1, l1)))
    }
    /// Applies `f` to every value (for example a normalisation
    /// `|v| (v - mean) / std`).
    pub fn map_values(mut self, f: impl Fn(f32) -> f32) -> Self {
        self.data.iter_mut().for_each(|v| *v = f(*v));
        self
    }
}

fn check_labels(labels: &[usize], num_classes: usize) -> Result<(), DataError> {
    match labels.iter().position(|&l| l >= num_classes) {
        Some(index) => Err(DataError::LabelOutOfRange {
            path: None,
            index,
            label: labels[index],
            num_classes,
        }),
        None => Ok(()),
    }
}

impl Dataset for InMemoryDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn sample_len(&self) -> usize {
        self.sample_len
    }
    fn num_classes(&self) -> usize {
        self.num_classes
    }
    fn get(&self, i: usize, out: &mut [f32]) -> usize {
        out.copy_from_slice(self.sample(i));
        self.labels[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> InMemoryDataset {
        let data = (0..20).map(|v| v as f32).collect();
        InMemoryDataset::new(data, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 2, 10).unwrap()
    }

    #[test]
    fn new_validates() {
        assert!(matches!(
            InMemoryDataset::new(vec![0.0; 5], vec![0, 1], 2, 2),
            Err(DataError::InvalidDataset { .. })
        ));
        assert!(matches!(
            InMemoryDataset::new(vec![0.0; 4], vec![0, 2], 2, 2),
            Err(DataError::LabelOutOfRange { index: 1, label: 2, .. })
        ));
        assert!(InMemoryDataset::new(vec![], vec![], 0, 2).is_err());
        assert!(InMemoryDataset::new(vec![], vec![], 3, 0).is_err());
        let e = InMemoryDataset::new(vec![0.0; 4], vec![0, 7], 2, 2).unwrap_err();
        assert_eq!(e.to_string(), "label 7 of sample 1 is out of range 0..2");
    }

    #[test]
    fn get_copies_the_sample() {
        let d = ds();
        let mut out = [0.0; 2];
        assert_eq!(d.get(3, &mut out), 3);
        assert_eq!(out, [6.0, 7.0]);
        assert_eq!(d.len(), 10);
        assert_eq!(d.class_counts(), vec![1; 10]);
    }

    #[test]
    fn subset_filter_map_split() {
        let d = ds();
        let s = d.subset(&[9, 0, 9]).unwrap();
        assert_eq!(s.labels(), &[9, 0, 9]);
        assert_eq!(s.data(), &[18., 19., 0., 1., 18., 19.]);
        assert!(d.subset(&[10]).is_err());

        let high = d.filter_labels(|l| l >= 5).map_labels(|l| l - 5, 5).unwrap();
        assert_eq!(high.labels(), &[0, 1, 2, 3, 4]);
        assert_eq!(high.num_classes(), 5);
        assert_eq!(high.sample(0), &[10., 11.]);
        // Relabelling to a label past the new class count is rejected.
        assert!(matches!(
            d.clone().map_labels(|l| l, 5),
            Err(DataError::LabelOutOfRange { label: 5, .. })
        ));

        let (a, b) = d.split(4).unwrap();
        assert_eq!(a.labels(), &[0, 1, 2, 3]);
        assert_eq!(b.sample(0), &[8., 9.]);
        assert!(d.split(11).is_err());
        let (all, none) = d.split(10).unwrap();
        assert_eq!((all.len(), none.len()), (10, 0));
    }
}
