//! Tabular data sets with float targets: [`load_diabetes`] (regression) and
//! [`load_breast_cancer`] (binary classification), both scikit-learn's
//! copies (see `data/README.md`), and the helpers a tabular model needs:
//! a seeded hold-out split and feature standardisation.
//!
//! ```no_run
//! use dl_nn::data::tabular::load_diabetes;
//! let d = load_diabetes("data/diabetes")?;
//! assert_eq!((d.rows, d.cols), (442, 10));
//! let (mut train, mut test) = d.holdout(5, 0);
//! let stats = train.standardise();
//! test.standardise_with(&stats);
//! # Ok::<(), dl_nn::data::DataError>(())
//! ```

use super::idx::{find_file, open_maybe_gzip};
use super::DataError;
use dl_core::Rng;
use std::path::Path;

/// A table of `rows` samples of `cols` float features and one float target each.
#[derive(Clone, Debug, PartialEq)]
pub struct Tabular {
    /// Features, row-major `[rows, cols]`.
    pub features: Vec<f32>,
    /// One target per row (a regression value, or a 0/1 class).
    pub targets: Vec<f32>,
    /// Number of samples.
    pub rows: usize,
    /// Features per sample.
    pub cols: usize,
}

/// Per-feature mean and standard deviation (of a training split).
#[derive(Clone, Debug, PartialEq)]
pub struct Standardisation {
    /// Mean of each feature.
    pub mean: Vec<f32>,
    /// Standard deviation of each feature (population; 1 where it is 0).
    pub std: Vec<f32>,
}

impl Tabular {
    /// Splits the rows, in an order shuffled by `seed`, into a training part
    /// and a test part holding every `k`-th of them (`k = 5`: a held-out
    /// fifth). `k` below 2 is taken as 2. The same as
    /// `self.fold(k, k - 1, seed)`.
    pub fn holdout(&self, k: usize, seed: u64) -> (Tabular, Tabular) {
        let k = k.max(2);
        self.fold(k, k - 1, seed)
    }

    /// Fold `i` of a `k`-fold split (shuffled by `seed`): the test part
    /// holds the rows at positions `p` of the shuffled order with
    /// `p % k == i`, the training part the others. The `k` folds of one seed
    /// test every row exactly once (k-fold cross-validation). `k` below 2 is
    /// taken as 2 and `i` is taken modulo `k`.
    pub fn fold(&self, k: usize, i: usize, seed: u64) -> (Tabular, Tabular) {
        let k = k.max(2);
        let i = i % k;
        let mut order: Vec<usize> = (0..self.rows).collect();
        let mut rng = Rng::new(seed);
        for j in (1..order.len()).rev() {
            let r = (rng.next_u64() % (j as u64 + 1)) as usize;
            order.swap(j, r);
        }
        let (mut train, mut test) = (self.empty(), self.empty());
        for (pos, &r) in order.iter().enumerate() {
            let part = if pos % k == i { &mut test } else { &mut train };
            part.features
                .extend_from_slice(&self.features[r * self.cols..(r + 1) * self.cols]);
            part.targets.push(self.targets[r]);
            part.rows += 1;
        }
        (train, test)
    }

    fn empty(&self) -> Tabular {
        Tabular {
            features: vec![],
            targets: vec![],
            rows: 0,
            cols: self.cols,
        }
    }

    /// Standardises the features to mean 0 and standard deviation 1 with
    /// this table's own statistics, and returns them (to apply to a test
    /// split with [`Tabular::standardise_with`]).
    pub fn standardise(&mut self) -> Standardisation {
        let n = self.rows.max(1) as f64;
        let mut mean = vec![0f64; self.cols];
        let mut var = vec![0f64; self.cols];
        for row in self.features.chunks_exact(self.cols.max(1)) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64 / n;
            }
        }
        for row in self.features.chunks_exact(self.cols.max(1)) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v as f64 - m).powi(2) / n;
            }
        }
        let stats = Standardisation {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var
                .iter()
                .map(|&v| if v > 0.0 { v.sqrt() as f32 } else { 1.0 })
                .collect(),
        };
        self.standardise_with(&stats);
        stats
    }

    /// Applies given statistics: `(x - mean) / std` per feature.
    pub fn standardise_with(&mut self, s: &Standardisation) {
        for row in self.features.chunks_exact_mut(self.cols.max(1)) {
            for ((v, m), d) in row.iter_mut().zip(&s.mean).zip(&s.std) {
                *v = (*v - m) / d;
            }
        }
    }
}

fn read_text(path: &Path) -> Result<String, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = f.metadata().map_err(|e| DataError::io(path, e))?.len();
    let (mut src, max_len) = open_maybe_gzip(path, std::io::BufReader::new(f), len)?;
    let bytes = src.read_up_to(max_len)?;
    String::from_utf8(bytes).map_err(|e| {
        let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        DataError::BadCsvLine {
            path: path.to_path_buf(),
            line: ok.iter().filter(|&&b| b == b'\n').count() + 1,
            msg: "not UTF-8 text".into(),
        }
    })
}

/// The non-empty lines of a text with their 1-based numbers.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn parse_row(
    path: &Path,
    line: usize,
    fields: &mut dyn Iterator<Item = &str>,
    want: usize,
) -> Result<Vec<f32>, DataError> {
    let bad = |msg: String| DataError::BadCsvLine {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let mut row = Vec::with_capacity(want);
    for f in fields {
        let v: f32 = f.trim().parse().map_err(|_| bad(format!("`{f}` is not a number")))?;
        if !v.is_finite() {
            return Err(bad(format!("`{f}` is not a finite number")));
        }
        row.push(v);
    }
    if row.len() != want {
        return Err(bad(format!("{} values, expected {want}", row.len())));
    }
    Ok(row)
}

/// Features of the diabetes data.
pub const DIABETES_FEATURES: usize = 10;

/// The diabetes regression data in `dir` as a [`Tabular`] of 442 rows of
/// 10 raw, unscaled features (age, sex, bmi, bp, s1..s6) and a float target
/// (disease progression after one year, 25..346).
///
/// The files are `dir/diabetes_data_raw.csv(.gz)` (space-separated) and
/// `dir/diabetes_target.csv(.gz)` (one value a line).
///
/// # Errors
/// [`DataError::MissingDir`], [`DataError::MissingFile`], [`DataError::Io`], [`DataError::Gzip`];
/// [`DataError::BadCsvLine`] with the line number for a line without 10
/// finite numbers (or one target); [`DataError::DimensionMismatch`] when
/// the two files disagree on the number of rows.
pub fn load_diabetes(dir: impl AsRef<Path>) -> Result<Tabular, DataError> {
    let dir = dir.as_ref();
    let xp = find_file(dir, &["diabetes_data_raw.csv.gz", "diabetes_data_raw.csv"])?;
    let yp = find_file(dir, &["diabetes_target.csv.gz", "diabetes_target.csv"])?;
    let (xt, yt) = (read_text(&xp)?, read_text(&yp)?);
    let mut features = Vec::new();
    for (i, l) in lines(&xt) {
        features.extend(parse_row(&xp, i, &mut l.split_whitespace(), DIABETES_FEATURES)?);
    }
    let mut targets = Vec::new();
    for (i, l) in lines(&yt) {
        targets.extend(parse_row(&yp, i, &mut l.split_whitespace(), 1)?);
    }
    let rows = features.len() / DIABETES_FEATURES;
    if rows != targets.len() {
        return Err(DataError::DimensionMismatch {
            path: yp,
            msg: format!("{} targets for {rows} feature rows", targets.len()),
        });
    }
    Ok(Tabular {
        features,
        targets,
        rows,
        cols: DIABETES_FEATURES,
    })
}

/// The breast-cancer data at `path` as a [`Tabular`] of 569 rows of 30
/// raw, unscaled features and a 0/1 label (0 malignant, 1 benign).
///
/// The file (`breast_cancer.csv(.gz)`) holds a header line
/// `rows,cols,name0,name1`, then `rows` lines of `cols` features and the
/// label.
///
/// # Errors
/// [`DataError::Io`], [`DataError::Gzip`]; [`DataError::BadCsvLine`] for a
/// bad header, a line of the wrong length, a non-number or a label other
/// than 0 or 1; [`DataError::DimensionMismatch`] when the row count differs
/// from the header's.
pub fn load_breast_cancer(path: impl AsRef<Path>) -> Result<Tabular, DataError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    let mut it = lines(&text);
    let bad = |line: usize, msg: String| DataError::BadCsvLine {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let (hl, header) = it.next().ok_or_else(|| bad(1, "empty file".into()))?;
    let h: Vec<&str> = header.split(',').collect();
    let (rows, cols) = match (
        h.first().map(|s| s.parse::<usize>()),
        h.get(1).map(|s| s.parse::<usize>()),
    ) {
        (Some(Ok(r)), Some(Ok(c))) if c > 0 => (r, c),
        _ => return Err(bad(hl, format!("header `{header}` is not `rows,cols,...`"))),
    };
    let mut features = Vec::with_capacity(rows * cols);
    let mut targets = Vec::with_capacity(rows);
    for (i, l) in it {
        let mut row = parse_row(path, i, &mut l.split(','), cols + 1)?;
        let label = row.pop().expect("cols + 1 values");
        if label != 0.0 && label != 1.0 {
            return Err(bad(i, format!("label {label} is neither 0 nor 1")));
        }
        features.extend(row);
        targets.push(label);
    }
    if targets.len() != rows {
        return Err(DataError::DimensionMismatch {
            path: path.to_path_buf(),
            msg: format!("the header declares {rows} rows, the file holds {}", targets.len()),
        });
    }
    Ok(Tabular {
        features,
        targets,
        rows,
        cols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tmp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dl-tabular-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn bundled_files_load() {
        let d = load_diabetes(data_dir().join("diabetes")).unwrap();
        assert_eq!((d.rows, d.cols, d.targets.len()), (442, 10, 442));
        assert_eq!(&d.features[..3], &[59.0, 2.0, 32.1]);
        assert_eq!(d.targets[0], 151.0);
        let b = load_breast_cancer(data_dir().join("breast_cancer/breast_cancer.csv.gz")).unwrap();
        assert_eq!((b.rows, b.cols), (569, 30));
        assert_eq!(b.targets.iter().filter(|&&t| t == 1.0).count(), 357);
    }

    #[test]
    fn holdout_and_standardisation() {
        let t = Tabular {
            features: (0..20).map(|v| v as f32).collect(),
            targets: (0..10).map(|v| v as f32).collect(),
            rows: 10,
            cols: 2,
        };
        let (mut a, mut b) = t.holdout(5, 3);
        assert_eq!((a.rows, b.rows), (8, 2));
        let mut all: Vec<f32> = a.targets.iter().chain(&b.targets).copied().collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, t.targets);
        let s = a.standardise();
        b.standardise_with(&s);
        let mean0: f32 = a.features.iter().step_by(2).sum::<f32>() / 8.0;
        assert!(mean0.abs() < 1e-5);
        assert_eq!(t.holdout(5, 3), t.holdout(5, 3));
        assert_eq!(t.holdout(5, 3), t.fold(5, 4, 3));
        // The folds test every row once.
        let mut tested: Vec<f32> = (0..5).flat_map(|i| t.fold(5, i, 3).1.targets).collect();
        tested.sort_by(f32::total_cmp);
        assert_eq!(tested, t.targets);
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let p = tmp("bc.csv", "2,2,a,b\n1,2,0\n3,x,1\n");
        assert!(matches!(
            load_breast_cancer(&p),
            Err(DataError::BadCsvLine { line: 3, .. })
        ));
        let p = tmp("bc2.csv", "2,2,a,b\n1,2,0\n3,4,2\n");
        assert!(matches!(
            load_breast_cancer(&p),
            Err(DataError::BadCsvLine { line: 3, .. })
        ));
        let p = tmp("bc3.csv", "3,2,a,b\n1,2,0\n");
        assert!(matches!(
            load_breast_cancer(&p),
            Err(DataError::DimensionMismatch { .. })
        ));
        let dir = tmp("diabetes_target.csv", "1\n2\n").parent().unwrap().to_path_buf();
        std::fs::write(dir.join("diabetes_data_raw.csv"), "1 2 3 4 5 6 7 8 9 10\n").unwrap();
        assert!(matches!(load_diabetes(&dir), Err(DataError::DimensionMismatch { .. })));
        std::fs::write(dir.join("diabetes_data_raw.csv"), "1 2 3\n").unwrap();
        assert!(matches!(
            load_diabetes(&dir),
            Err(DataError::BadCsvLine { line: 1, .. })
        ));
        assert!(matches!(
            load_diabetes(dir.join("nowhere")),
            Err(DataError::MissingDir { .. })
        ));
    }
}
