//! scikit-learn's 8x8 handwritten digits (`load_digits()`): [`load_digits`]
//! returns pixels already scaled to `[0, 1]` (file value / 16).
//!
//! The file (`data/digits/digits.csv.gz`, plain CSV accepted too) has no
//! header; each line holds 65 comma-separated integers: the 64 pixels of an
//! 8x8 image, row-major, each `0..=16` in the file, then the label `0..=9`.
//! There are 1797 lines. The loaders divide every pixel by 16, so samples
//! are 64 values in `[0, 1]` (`[1, 8, 8]`); do not scale them again.
//! [`load_digits_with`] takes the options [`load_mnist_with`](super::load_mnist_with)
//! takes: standardisation with [`DIGITS_MEAN`] and [`DIGITS_STD`], and a
//! prefix of the file.
//!
//! ```no_run
//! use dl_nn::data::{load_digits, Dataset};
//! let ds = load_digits("data/digits/digits.csv.gz")?;
//! assert_eq!((ds.len(), ds.sample_len(), ds.num_classes()), (1797, 64, 10));
//! assert!(ds.data().iter().all(|v| (0.0..=1.0).contains(v)));
//! # Ok::<(), dl_nn::data::DataError>(())
//! ```

use super::idx::open_maybe_gzip;
use super::{DataError, InMemoryDataset};
use std::io::Read;
use std::path::Path;

/// Pixels per image (8 x 8).
pub const DIGITS_PIXELS: usize = 64;
/// Largest pixel value in the file (ink count of a 4x4 block); the loaders
/// divide by it.
pub const DIGITS_MAX_PIXEL: u32 = 16;
/// Mean pixel of the 1797 digits after scaling to `[0, 1]`.
pub const DIGITS_MEAN: f32 = 0.3053;
/// Standard deviation of the digits' pixels after scaling to `[0, 1]`.
pub const DIGITS_STD: f32 = 0.3760;

/// Options of [`load_digits_with`] (the same as
/// [`MnistOptions`](super::MnistOptions)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DigitsOptions {
    /// Standardise pixels with [`DIGITS_MEAN`] and [`DIGITS_STD`] after
    /// scaling to `[0, 1]` (as `transforms.Normalize((0.3053,), (0.3760,))`).
    pub normalize: bool,
    /// Keep only the first `limit` images (the rest of the file is still
    /// read and checked).
    pub limit: Option<usize>,
}

/// The 1797 digits at `path` (gzip or plain CSV) as an [`InMemoryDataset`]
/// of 64 pixels in `[0, 1]` (file value / 16, `[1, 8, 8]` row-major) and
/// labels 0..9.
///
/// # Errors
/// [`DataError::MissingDir`] when the file's directory does not exist,
/// [`DataError::Io`] / [`DataError::Gzip`] on reading, and
/// [`DataError::BadCsvLine`] with the 1-based line number for a line
/// without 65 integers, a pixel above 16 or a label above 9.
pub fn load_digits(path: impl AsRef<Path>) -> Result<InMemoryDataset, DataError> {
    load_digits_with(path, DigitsOptions::default())
}

/// [`load_digits`] with options: pixels in `[0, 1]`, or standardised with
/// [`DIGITS_MEAN`] and [`DIGITS_STD`] when `opts.normalize`; the first
/// `opts.limit` images.
///
/// # Errors
/// As [`load_digits`].
pub fn load_digits_with(path: impl AsRef<Path>, opts: DigitsOptions) -> Result<InMemoryDataset, DataError> {
    let path = path.as_ref();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        return Err(DataError::missing_dir(dir));
    }
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = f.metadata().map_err(|e| DataError::io(path, e))?.len();
    read_digits(path, std::io::BufReader::new(f), len, opts)
}

/// The digits parsed from the bytes of a file (gzip or plain CSV), as
/// [`load_digits`] returns them (pixels in `[0, 1]`); `path` names the
/// file in errors.
///
/// # Errors
/// As [`load_digits`].
pub fn parse_digits(path: impl AsRef<Path>, bytes: &[u8]) -> Result<InMemoryDataset, DataError> {
    read_digits(path.as_ref(), bytes, bytes.len() as u64, DigitsOptions::default())
}

fn read_digits<R: Read>(path: &Path, src: R, raw_len: u64, opts: DigitsOptions) -> Result<InMemoryDataset, DataError> {
    let (mut src, max_len) = open_maybe_gzip(path, src, raw_len)?;
    let bytes = src.read_up_to(max_len)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| DataError::BadCsvLine {
        path: path.to_path_buf(),
        line: bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1,
        msg: "not UTF-8 text".into(),
    })?;
    let mut data = Vec::new();
    let mut labels = Vec::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    for (i, line) in body.split('\n').enumerate() {
        let bad = |msg: String| DataError::BadCsvLine {
            path: path.to_path_buf(),
            line: i + 1,
            msg,
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if body.is_empty() {
                break;
            }
            return Err(bad("empty line".into()));
        }
        let mut fields = 0;
        for (k, field) in line.split(',').enumerate() {
            fields += 1;
            if k > DIGITS_PIXELS {
                continue;
            }
            let v: u32 = field
                .trim()
                .parse()
                .map_err(|_| bad(format!("field {} is not a non-negative integer: {field:?}", k + 1)))?;
            if k < DIGITS_PIXELS {
                if v > DIGITS_MAX_PIXEL {
                    return Err(bad(format!("pixel {} is {v}, above {DIGITS_MAX_PIXEL}", k + 1)));
                }
                data.push(v as f32 / DIGITS_MAX_PIXEL as f32);
            } else {
                if v > 9 {
                    return Err(bad(format!("label {v} is not a digit 0..9")));
                }
                labels.push(v as usize);
            }
        }
        if fields != DIGITS_PIXELS + 1 {
            return Err(bad(format!("{fields} fields, expected {}", DIGITS_PIXELS + 1)));
        }
    }
    if let Some(limit) = opts.limit {
        labels.truncate(limit);
        data.truncate(labels.len() * DIGITS_PIXELS);
    }
    if opts.normalize {
        data.iter_mut().for_each(|v| *v = (*v - DIGITS_MEAN) / DIGITS_STD);
    }
    InMemoryDataset::new(data, labels, DIGITS_PIXELS, 10)
}

/// Side of the box a digit is scaled into inside the 28x28 image (MNIST's
/// preprocessing: 20x20, centered by center of mass).
pub const MNIST_BOX: usize = 20;

/// One 8x8 digit (64 values in `[0, 1]`, as [`load_digits`] returns them)
/// as a 28x28 MNIST-style image of bytes `0..=255` (0 = background): scaled
/// to 20x20 by bilinear interpolation (pixel centers aligned, as PIL,
/// OpenCV and `F.interpolate(align_corners=False)` do), then placed so
/// that its center of mass lies at the image's center (13.5, 13.5), as
/// MNIST's digits were, without leaving the frame.
pub fn digit_to_mnist(img: &[f32]) -> Vec<u8> {
    const S: usize = 8;
    let mut boxed = [[0f32; MNIST_BOX]; MNIST_BOX];
    let src = |y: usize, x: usize| img.get(y * S + x).copied().unwrap_or(0.0).clamp(0.0, 1.0);
    let coord = |d: usize| ((d as f32 + 0.5) * S as f32 / MNIST_BOX as f32 - 0.5).clamp(0.0, (S - 1) as f32);
    for (y, row) in boxed.iter_mut().enumerate() {
        let fy = coord(y);
        let (y0, ty) = (fy.floor() as usize, fy - fy.floor());
        let y1 = (y0 + 1).min(S - 1);
        for (x, v) in row.iter_mut().enumerate() {
            let fx = coord(x);
            let (x0, tx) = (fx.floor() as usize, fx - fx.floor());
            let x1 = (x0 + 1).min(S - 1);
            let top = src(y0, x0) * (1.0 - tx) + src(y0, x1) * tx;
            let bottom = src(y1, x0) * (1.0 - tx) + src(y1, x1) * tx;
            *v = top * (1.0 - ty) + bottom * ty;
        }
    }
    // Center of mass of the box, then the offset that moves it to 13.5.
    let (mut m, mut my, mut mx) = (0f64, 0f64, 0f64);
    for (y, row) in boxed.iter().enumerate() {
        for (x, &v) in row.iter().enumerate() {
            m += v as f64;
            my += v as f64 * y as f64;
            mx += v as f64 * x as f64;
        }
    }
    let centre = (MNIST_BOX as f64 - 1.0) / 2.0;
    let (cy, cx) = if m > 0.0 { (my / m, mx / m) } else { (centre, centre) };
    let max_off = (28 - MNIST_BOX) as f64;
    let oy = (13.5 - cy).round().clamp(0.0, max_off) as usize;
    let ox = (13.5 - cx).round().clamp(0.0, max_off) as usize;
    let mut out = vec![0u8; 28 * 28];
    for (y, row) in boxed.iter().enumerate() {
        for (x, &v) in row.iter().enumerate() {
            out[(y + oy) * 28 + x + ox] = (v * 255.0).round() as u8;
        }
    }
    out
}

/// Writes the digits at `src` (as [`load_digits`] reads them) into `dir`
/// as an MNIST-format data set that [`load_mnist`](super::load_mnist)
/// reads: 28x28 images made by [`digit_to_mnist`], and a fixed split:
/// every third digit (indices 2, 5, 8, ...) is a test image (`t10k-*`,
/// 599 images), the others train (`train-*`, 1198). Returns the train and
/// test counts.
///
/// # Errors
/// As [`load_digits`] for the source, and as
/// [`write_mnist`](super::idx::write_mnist) for the output.
pub fn write_digits_as_mnist(src: impl AsRef<Path>, dir: impl AsRef<Path>) -> Result<(usize, usize), DataError> {
    let digits = load_digits(src)?;
    let (mut train, mut test) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for (i, &label) in digits.labels().iter().enumerate() {
        let part = if i % 3 == 2 { &mut test } else { &mut train };
        part.0.extend(digit_to_mnist(digits.sample(i)));
        part.1.push(label as u8);
    }
    let dir = dir.as_ref();
    super::idx::write_mnist(dir, super::Split::Train, 28, 28, &train.0, &train.1)?;
    super::idx::write_mnist(dir, super::Split::Test, 28, 28, &test.0, &test.1)?;
    Ok((train.1.len(), test.1.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::tests::gzip;
    use crate::data::Dataset;

    fn line(pixel: u32, label: u32) -> String {
        let mut v = vec![pixel.to_string(); 64];
        v.push(label.to_string());
        v.join(",")
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn repository_digits() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/digits/digits.csv.gz");
        let ds = load_digits(&p).unwrap();
        assert_eq!((ds.len(), ds.sample_len(), ds.num_classes()), (1797, 64, 10));
        assert_eq!(
            ds.class_counts(),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        // First line: 0,0,5,13,9,1,0,0,... label 0.
        assert_eq!(&ds.sample(0)[..4], &[0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0]);
        assert_eq!(ds.labels()[..2], [0, 1]);
        assert!(ds.data().iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn options_standardise_and_cut() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/digits/digits.csv.gz");
        let plain = load_digits(&p).unwrap();
        // The constants are the data's mean and standard deviation.
        let n = plain.data().len() as f64;
        let mean = plain.data().iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = plain.data().iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!((mean - DIGITS_MEAN as f64).abs() < 1e-4, "{mean}");
        assert!((var.sqrt() - DIGITS_STD as f64).abs() < 1e-4, "{}", var.sqrt());
        let opts = DigitsOptions {
            normalize: true,
            limit: Some(100),
        };
        let z = load_digits_with(&p, opts).unwrap();
        assert_eq!((z.len(), z.labels()), (100, &plain.labels()[..100]));
        let want = (plain.data()[10] - DIGITS_MEAN) / DIGITS_STD;
        assert!((z.data()[10] - want).abs() < 1e-6);
        // A missing directory says so (with the current directory).
        let e = load_digits("no/such/dir/digits.csv.gz").unwrap_err();
        assert!(matches!(e, DataError::MissingDir { .. }), "{e}");
        assert!(e.to_string().contains("current directory"), "{e}");
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn plain_and_crlf() {
        let text = format!("{}\r\n{}\r\n", line(16, 3), line(0, 9));
        for bytes in [text.as_bytes().to_vec(), gzip(text.as_bytes())] {
            let ds = parse_digits("d.csv", &bytes).unwrap();
            assert_eq!(ds.labels(), &[3, 9]);
            assert_eq!(ds.sample(0)[0], 1.0);
        }
        assert_eq!(parse_digits("d.csv", b"").unwrap().len(), 0);
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn bad_lines_name_the_line() {
        let cases = [
            (format!("{}\n{}\n", line(1, 1), line(17, 1)), 2, "pixel 1 is 17"),
            (format!("{}\n{}\n", line(1, 1), line(1, 10)), 2, "label 10"),
            (format!("{}\n\n{}\n", line(1, 1), line(1, 1)), 2, "empty line"),
            (format!("{},3\n", line(1, 1)), 1, "66 fields"),
            ("1,2,3\n".to_string(), 1, "3 fields"),
            (
                format!("{}\n{}", line(1, 1), line(1, 1).replacen('1', "x", 1)),
                2,
                "field 1",
            ),
            (format!("{}\n", line(1, 1).replacen('1', "-1", 1)), 1, "field 1"),
        ];
        for (text, at, msg) in cases {
            let e = parse_digits("d.csv", text.as_bytes()).unwrap_err();
            match &e {
                DataError::BadCsvLine { line, .. } => assert_eq!(*line, at, "{e}"),
                _ => panic!("{e}"),
            }
            assert!(e.to_string().starts_with(&format!("d.csv:{at}: ")), "{e}");
            assert!(e.to_string().contains(msg), "{e}");
        }
        let e = parse_digits("d.csv", &gzip(b"\xff\xfe")).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    /// The MNIST-format digits: what is written is read back by
    /// `load_mnist` exactly (labels in order, pixels / 255), shaped like
    /// MNIST (ink inside the frame, centered).
    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn digits_as_mnist_read_back_identically() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/digits/digits.csv.gz");
        let dir = crate::data::idx::tests::temp_dir("digits_mnist");
        assert_eq!(write_digits_as_mnist(&src, &dir).unwrap(), (1198, 599));
        let digits = load_digits(&src).unwrap();
        let train = crate::data::load_mnist(&dir, crate::data::Split::Train).unwrap();
        let test = crate::data::load_mnist(&dir, crate::data::Split::Test).unwrap();
        assert_eq!((train.len(), test.len(), test.sample_len()), (1198, 599, 784));
        for (k, i) in (0..digits.len()).filter(|i| i % 3 == 2).enumerate() {
            assert_eq!(test.labels()[k], digits.labels()[i]);
            let want: Vec<f32> = digit_to_mnist(digits.sample(i))
                .iter()
                .map(|&v| v as f32 / 255.0)
                .collect();
            assert_eq!(test.sample(k), &want[..], "test image {k}");
        }
        assert_eq!(train.labels()[..2], digits.labels()[..2]);
        assert_eq!(train.labels()[2], digits.labels()[3]);
        // A constant digit fills the centered 20x20 box; the border stays 0.
        let full = digit_to_mnist(&[1.0; 64]);
        assert_eq!(full.iter().filter(|&&v| v == 255).count(), 400);
        assert_eq!(
            (
                full[4 * 28 + 4],
                full[3 * 28 + 4],
                full[23 * 28 + 23],
                full[24 * 28 + 24]
            ),
            (255, 0, 255, 0)
        );
        // Mean ink like MNIST's order of magnitude (MNIST: 0.13).
        let mean = test.data().iter().sum::<f32>() / test.data().len() as f32;
        assert!((0.08..0.35).contains(&mean), "mean pixel {mean}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
