//! MNIST's IDX format, plain or gzip-compressed, and [`load_mnist`].
//!
//! An IDX file is a big-endian header (magic `0x0000_08NN`: unsigned bytes,
//! `NN` dimensions; then one `u32` per dimension) followed by the data.
//! Every declared size is checked against the file before anything large
//! is allocated: a plain file must hold exactly the declared bytes, a gzip
//! file is read incrementally and must decompress to exactly them (its
//! checksum is verified too).
//!
//! ```no_run
//! use dl_nn::data::{load_mnist, Dataset, Split};
//! let test = load_mnist("data/mnist", Split::Test)?;
//! assert_eq!((test.len(), test.sample_len(), test.num_classes()), (10000, 784, 10));
//! # Ok::<(), dl_nn::data::DataError>(())
//! ```

use super::{DataError, InMemoryDataset};
#[cfg(feature = "gzip")]
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;
/// Mean pixel of the MNIST training set after scaling to `[0, 1]`.
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of the MNIST training pixels after scaling to `[0, 1]`.
pub const MNIST_STD: f32 = 0.3081;
/// Largest expansion ratio of deflate (about 1032:1), with some slack: a
/// gzip file of `n` bytes cannot decompress to more than `n * 1100` bytes.
#[cfg(feature = "gzip")]
const MAX_GZIP_RATIO: u64 = 1100;

/// Which half of MNIST to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The 60 000 training images (`train-*`).
    Train,
    /// The 10 000 test images (`t10k-*`).
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Options of [`load_mnist_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MnistOptions {
    /// Normalise pixels with [`MNIST_MEAN`] and [`MNIST_STD`] after scaling
    /// to `[0, 1]` (as `transforms.Normalize((0.1307,), (0.3081,))`).
    pub normalize: bool,
    /// Read only the first `limit` images and labels (the rest of the
    /// files is then neither read nor validated, and a gzip checksum is not
    /// verified).
    pub limit: Option<usize>,
}

/// An IDX array of unsigned bytes: its dimensions and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions as declared in the header (outermost first).
    pub dims: Vec<usize>,
    /// The data read (all of it, or the first `limit` items).
    pub data: Vec<u8>,
}

/// What an IDX reader expects: magic number and a name for messages.
#[derive(Clone, Copy, Debug)]
struct Spec {
    magic: u32,
    what: &'static str,
}

const IMAGES: Spec = Spec {
    magic: IDX_IMAGES_MAGIC,
    what: "IDX unsigned-byte images, 3 dimensions",
};
const LABELS: Spec = Spec {
    magic: IDX_LABELS_MAGIC,
    what: "IDX unsigned-byte labels, 1 dimension",
};

/// Reads an IDX file of images (`[count, rows, cols]`), plain or gzip.
///
/// # Errors
/// A [`DataError`] naming the file: I/O, gzip, bad magic, truncated,
/// trailing data, absurd size.
pub fn read_idx_images(path: impl AsRef<Path>, limit: Option<usize>) -> Result<IdxArray, DataError> {
    read_idx_file(path.as_ref(), IMAGES, limit)
}

/// Reads an IDX file of labels (`[count]`), plain or gzip.
///
/// # Errors
/// As [`read_idx_images`].
pub fn read_idx_labels(path: impl AsRef<Path>, limit: Option<usize>) -> Result<IdxArray, DataError> {
    read_idx_file(path.as_ref(), LABELS, limit)
}

/// Parses IDX images from the bytes of a file (plain or gzip); `path`
/// names it in errors.
///
/// # Errors
/// As [`read_idx_images`].
pub fn parse_idx_images(path: impl AsRef<Path>, bytes: &[u8], limit: Option<usize>) -> Result<IdxArray, DataError> {
    read_idx(path.as_ref(), bytes, bytes.len() as u64, IMAGES, limit)
}

/// Parses IDX labels from the bytes of a file (plain or gzip).
///
/// # Errors
/// As [`read_idx_images`].
pub fn parse_idx_labels(path: impl AsRef<Path>, bytes: &[u8], limit: Option<usize>) -> Result<IdxArray, DataError> {
    read_idx(path.as_ref(), bytes, bytes.len() as u64, LABELS, limit)
}

fn read_idx_file(path: &Path, spec: Spec, limit: Option<usize>) -> Result<IdxArray, DataError> {
    let io = |e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    read_idx(path, std::io::BufReader::new(f), len, spec, limit)
}

/// A reader that tells plain I/O errors from gzip errors.
pub(crate) struct Source<'a> {
    inner: Box<dyn Read + 'a>,
    pub(crate) gzip: bool,
    path: &'a Path,
}

impl Source<'_> {
    fn err(&self, e: std::io::Error) -> DataError {
        use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
        // flate2 reports corrupt or cut-off streams with these kinds; other
        // kinds come from the file underneath.
        if self.gzip && matches!(e.kind(), InvalidData | InvalidInput | UnexpectedEof) {
            DataError::Gzip {
                path: self.path.to_path_buf(),
                source: e,
            }
        } else {
            DataError::Io {
                path: self.path.to_path_buf(),
                source: e,
            }
        }
    }
    /// Reads up to `n` bytes, growing the buffer only as data arrives.
    pub(crate) fn read_up_to(&mut self, n: u64) -> Result<Vec<u8>, DataError> {
        let mut v = Vec::with_capacity(n.min(1 << 24) as usize);
        let mut r = (&mut self.inner).take(n);
        r.read_to_end(&mut v).map_err(|e| self.err(e))?;
        Ok(v)
    }
}

/// Opens `src` (of `raw_len` bytes on disk), decompressing when it starts
/// with the gzip magic. Returns the reader and the most bytes it can yield.
pub(crate) fn open_maybe_gzip<'a, R: Read + 'a>(
    path: &'a Path,
    mut src: R,
    raw_len: u64,
) -> Result<(Source<'a>, u64), DataError> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match src.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DataError::io(path, e)),
        }
    }
    let chained = std::io::Cursor::new(head[..got].to_vec()).chain(src);
    if got == 2 && head == [0x1f, 0x8b] {
        return gzip_source(path, chained, raw_len);
    }
    let src = Source {
        inner: Box::new(chained),
        gzip: false,
        path,
    };
    Ok((src, raw_len))
}

/// A decompressing reader over a gzip file of `raw_len` bytes.
#[cfg(feature = "gzip")]
fn gzip_source<'a, R: Read + 'a>(path: &'a Path, src: R, raw_len: u64) -> Result<(Source<'a>, u64), DataError> {
    let src = Source {
        inner: Box::new(GzDecoder::new(src)),
        gzip: true,
        path,
    };
    Ok((src, raw_len.saturating_mul(MAX_GZIP_RATIO)))
}

/// Without the `gzip` feature a compressed file is a typed error.
#[cfg(not(feature = "gzip"))]
fn gzip_source<'a, R: Read + 'a>(path: &'a Path, _src: R, _raw_len: u64) -> Result<(Source<'a>, u64), DataError> {
    Err(DataError::GzipDisabled {
        path: path.to_path_buf(),
    })
}

fn read_idx<R: Read>(
    path: &Path,
    src: R,
    raw_len: u64,
    spec: Spec,
    limit: Option<usize>,
) -> Result<IdxArray, DataError> {
    let p = || path.to_path_buf();
    let (mut src, max_len) = open_maybe_gzip(path, src, raw_len)?;
    let ndim = (spec.magic & 0xff) as usize;
    let header_len = 4 + 4 * ndim as u64;
    let header = src.read_up_to(header_len)?;
    if header.len() < 4 {
        return Err(DataError::Truncated {
            path: p(),
            what: "the magic number",
            expected: 4,
            got: header.len() as u64,
        });
    }
    let word = |i: usize| u32::from_be_bytes([header[4 * i], header[4 * i + 1], header[4 * i + 2], header[4 * i + 3]]);
    let magic = word(0);
    if magic != spec.magic {
        return Err(DataError::BadMagic {
            path: p(),
            found: magic,
            expected: spec.magic,
            what: spec.what,
        });
    }
    if (header.len() as u64) < header_len {
        return Err(DataError::Truncated {
            path: p(),
            what: "the header",
            expected: header_len,
            got: header.len() as u64,
        });
    }
    let dims: Vec<usize> = (1..=ndim).map(|i| word(i) as usize).collect();
    let item: u64 = dims[1..].iter().map(|&d| d as u64).product();
    if ndim > 1 && item == 0 {
        return Err(DataError::AbsurdSize {
            path: p(),
            msg: format!("zero-sized items: dimensions {dims:?}"),
        });
    }
    let payload = (dims[0] as u64)
        .checked_mul(item)
        .ok_or_else(|| DataError::AbsurdSize {
            path: p(),
            msg: format!("dimensions {dims:?} overflow"),
        })?;
    // `payload` can be as large as `u64::MAX` (three `u32` factors of it,
    // e.g. 163455 x 1722007169 x 65537), so the header must be added checked.
    let total = header_len.checked_add(payload).ok_or_else(|| DataError::AbsurdSize {
        path: p(),
        msg: format!("dimensions {dims:?} overflow"),
    })?;
    if src.gzip {
        if total > max_len {
            return Err(DataError::AbsurdSize {
                path: p(),
                msg: format!(
                    "the header declares {total} bytes, but a gzip file of {raw_len} bytes holds at most {max_len}"
                ),
            });
        }
    } else if total > raw_len {
        return Err(DataError::Truncated {
            path: p(),
            what: "the declared data",
            expected: total,
            got: raw_len,
        });
    } else if total < raw_len {
        return Err(DataError::TrailingData {
            path: p(),
            expected: total,
        });
    }
    let items = limit.map_or(dims[0], |l| l.min(dims[0])) as u64;
    let want = items * item;
    let data = src.read_up_to(want)?;
    if (data.len() as u64) < want {
        return Err(DataError::Truncated {
            path: p(),
            what: "the declared data",
            expected: total,
            got: header_len + data.len() as u64,
        });
    }
    if items == dims[0] as u64 {
        // Reading to the end also makes the gzip decoder verify its checksum.
        if !src.read_up_to(1)?.is_empty() {
            return Err(DataError::TrailingData {
                path: p(),
                expected: total,
            });
        }
    }
    Ok(IdxArray { dims, data })
}

/// The first of `names` that exists in `dir`.
pub(crate) fn find_file(dir: &Path, names: &[impl AsRef<str>]) -> Result<PathBuf, DataError> {
    if !dir.is_dir() {
        return Err(DataError::missing_dir(dir));
    }
    names
        .iter()
        .map(|n| dir.join(n.as_ref()))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            tried: names.iter().map(|n| n.as_ref().to_string()).collect(),
        })
}

/// MNIST's training or test split in `dir` as an [`InMemoryDataset`] of
/// 784 pixels in `[0, 1]` (byte / 255, `[1, 28, 28]` row-major) and labels
/// 0..9.
///
/// The files are `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
/// `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`, each with or
/// without `.gz`. [`load_mnist_with`] standardises and reads a prefix.
///
/// # Errors
/// A [`DataError`] naming the file and the problem: missing directory
/// ([`DataError::MissingDir`], naming the current directory), missing file, I/O,
/// gzip, bad magic, truncation, trailing data, image and label counts that
/// differ, a label above 9.
pub fn load_mnist(dir: impl AsRef<Path>, split: Split) -> Result<InMemoryDataset, DataError> {
    load_mnist_with(dir, split, MnistOptions::default())
}

/// [`load_mnist`] with options: pixels in `[0, 1]`, or standardised with
/// [`MNIST_MEAN`] and [`MNIST_STD`] when `opts.normalize`; the first
/// `opts.limit` images.
///
/// # Errors
/// As [`load_mnist`].
pub fn load_mnist_with(dir: impl AsRef<Path>, split: Split, opts: MnistOptions) -> Result<InMemoryDataset, DataError> {
    let dir = dir.as_ref();
    let p = split.prefix();
    let names = |kind: &str, nd: u8| {
        vec![
            format!("{p}-{kind}-idx{nd}-ubyte.gz"),
            format!("{p}-{kind}-idx{nd}-ubyte"),
            format!("{p}-{kind}.idx{nd}-ubyte.gz"),
            format!("{p}-{kind}.idx{nd}-ubyte"),
        ]
    };
    let img_path = find_file(dir, &names("images", 3))?;
    let lab_path = find_file(dir, &names("labels", 1))?;
    let images = read_idx_images(&img_path, opts.limit)?;
    let labels = read_idx_labels(&lab_path, opts.limit)?;
    mnist_from_arrays(&img_path, images, &lab_path, labels, opts.normalize)
}

fn mnist_from_arrays(
    img_path: &Path,
    images: IdxArray,
    lab_path: &Path,
    labels: IdxArray,
    normalize: bool,
) -> Result<InMemoryDataset, DataError> {
    if images.dims[0] != labels.dims[0] {
        return Err(DataError::DimensionMismatch {
            path: lab_path.to_path_buf(),
            msg: format!(
                "{} labels, but {} declares {} images",
                labels.dims[0],
                img_path.display(),
                images.dims[0]
            ),
        });
    }
    let labels: Vec<usize> = labels.data.iter().map(|&l| l as usize).collect();
    if let Some(index) = labels.iter().position(|&l| l >= 10) {
        return Err(DataError::LabelOutOfRange {
            path: Some(lab_path.to_path_buf()),
            index,
            label: labels[index],
            num_classes: 10,
        });
    }
    let sample_len = images.dims[1] * images.dims[2];
    let data: Vec<f32> = if normalize {
        images
            .data
            .iter()
            .map(|&v| (v as f32 / 255.0 - MNIST_MEAN) / MNIST_STD)
            .collect()
    } else {
        images.data.iter().map(|&v| v as f32 / 255.0).collect()
    };
    InMemoryDataset::new(data, labels, sample_len, 10)
}

/// The bytes of an IDX images file: `count` images of `rows x cols`
/// unsigned bytes, row-major, image after image (MNIST's
/// `*-images-idx3-ubyte`).
///
/// # Errors
/// [`DataError::InvalidDataset`] when `pixels` does not hold
/// `count * rows * cols` bytes or a size does not fit the header's `u32`.
pub fn idx_images_bytes(rows: usize, cols: usize, pixels: &[u8]) -> Result<Vec<u8>, DataError> {
    let per = rows * cols;
    if per == 0 || !pixels.len().is_multiple_of(per) {
        return Err(DataError::InvalidDataset {
            msg: format!("{} pixels are not whole {rows}x{cols} images", pixels.len()),
        });
    }
    let count = pixels.len() / per;
    let mut v = Vec::with_capacity(16 + pixels.len());
    for w in [IDX_IMAGES_MAGIC as usize, count, rows, cols] {
        let w = u32::try_from(w).map_err(|_| DataError::InvalidDataset {
            msg: format!("{w} does not fit an IDX header"),
        })?;
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend_from_slice(pixels);
    Ok(v)
}

/// The bytes of an IDX labels file (MNIST's `*-labels-idx1-ubyte`).
///
/// # Errors
/// [`DataError::InvalidDataset`] when there are more labels than a `u32` counts.
pub fn idx_labels_bytes(labels: &[u8]) -> Result<Vec<u8>, DataError> {
    let n = u32::try_from(labels.len()).map_err(|_| DataError::InvalidDataset {
        msg: format!("{} labels do not fit an IDX header", labels.len()),
    })?;
    let mut v = Vec::with_capacity(8 + labels.len());
    v.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
    v.extend_from_slice(&n.to_be_bytes());
    v.extend_from_slice(labels);
    Ok(v)
}

/// Writes one split of an MNIST-format data set into `dir` (created if
/// needed): `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`, or
/// the `t10k-` pair, uncompressed, so that [`load_mnist`] reads it back
/// (pixels / 255). `pixels` holds the images (`rows x cols` bytes each,
/// row-major), `labels` one byte per image (`0..=9`).
///
/// ```
/// use dl_nn::data::{idx::write_mnist, load_mnist, Dataset, Split};
/// let dir = std::env::temp_dir().join(format!("dl_doc_write_mnist_{}", std::process::id()));
/// write_mnist(&dir, Split::Test, 2, 2, &[0, 255, 51, 0, 10, 20, 30, 40], &[3, 7])?;
/// let back = load_mnist(&dir, Split::Test)?;
/// assert_eq!((back.len(), back.sample_len(), back.labels()[1]), (2, 4, 7));
/// assert_eq!(back.data()[1], 1.0);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), dl_nn::data::DataError>(())
/// ```
///
/// # Errors
/// [`DataError::InvalidDataset`] for image and label counts that differ or
/// a label above 9; [`DataError::Io`] naming the file that could not be
/// written.
pub fn write_mnist(
    dir: impl AsRef<Path>,
    split: Split,
    rows: usize,
    cols: usize,
    pixels: &[u8],
    labels: &[u8],
) -> Result<(), DataError> {
    let dir = dir.as_ref();
    let images = idx_images_bytes(rows, cols, pixels)?;
    if pixels.len() / (rows * cols) != labels.len() {
        return Err(DataError::InvalidDataset {
            msg: format!("{} images but {} labels", pixels.len() / (rows * cols), labels.len()),
        });
    }
    if let Some(i) = labels.iter().position(|&l| l > 9) {
        return Err(DataError::InvalidDataset {
            msg: format!("label {} of image {i} is not a digit 0..9", labels[i]),
        });
    }
    let labels = idx_labels_bytes(labels)?;
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let p = split.prefix();
    for (name, bytes) in [
        (format!("{p}-images-idx3-ubyte"), images),
        (format!("{p}-labels-idx1-ubyte"), labels),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| DataError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::Dataset;
    use std::io::Write;

    /// Without the `gzip` feature a compressed file is a typed error naming
    /// the file and the feature; a plain file still reads.
    /// (`cargo test -p dl-nn --no-default-features --lib data::idx`)
    #[cfg(not(feature = "gzip"))]
    #[test]
    fn a_gzip_file_without_the_feature_is_a_typed_error() {
        let plain = images_bytes(2, 3, 3);
        let e = parse_idx_images("x.gz", &gzip(&plain), None).unwrap_err();
        assert!(matches!(e, DataError::GzipDisabled { .. }), "{e}");
        assert!(
            e.to_string().contains("x.gz") && e.to_string().contains("`gzip` feature"),
            "{e}"
        );
        assert_eq!(parse_idx_images("x", &plain, None).unwrap().data.len(), 18);
    }

    /// A valid IDX images file: `n` images of `r x c`, pixel = index % 256.
    pub(crate) fn images_bytes(n: u32, r: u32, c: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [IDX_IMAGES_MAGIC, n, r, c] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend((0..n * r * c).map(|i| (i % 256) as u8));
        v
    }
    pub(crate) fn labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
        v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        v.extend_from_slice(labels);
        v
    }
    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }
    /// A fresh directory under the system temp dir.
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "dl-nn-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
    fn repo_data() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn parses_plain_and_gzip() {
        let b = images_bytes(3, 2, 2);
        for bytes in [b.clone(), gzip(&b)] {
            let a = parse_idx_images("x", &bytes, None).unwrap();
            assert_eq!(a.dims, vec![3, 2, 2]);
            assert_eq!(a.data, (0..12).collect::<Vec<u8>>());
            let a = parse_idx_images("x", &bytes, Some(1)).unwrap();
            assert_eq!(a.data, vec![0, 1, 2, 3]);
        }
        let l = parse_idx_labels("y", &labels_bytes(&[1, 2, 3]), None).unwrap();
        assert_eq!((l.dims, l.data), (vec![3], vec![1, 2, 3]));
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn rejects_bad_files_with_typed_errors() {
        let b = images_bytes(3, 2, 2);
        // Wrong magic: a labels file given as images.
        let e = parse_idx_images("f.idx", &labels_bytes(&[1]), None).unwrap_err();
        assert!(matches!(e, DataError::BadMagic { found: 0x801, .. }), "{e}");
        assert!(e.to_string().starts_with("f.idx: bad magic number 0x00000801"), "{e}");
        // Truncated data, plain and gzip.
        for cut in [b[..b.len() - 1].to_vec(), gzip(&b[..b.len() - 1])] {
            let e = parse_idx_images("f", &cut, None).unwrap_err();
            assert!(
                matches!(
                    e,
                    DataError::Truncated {
                        expected: 28,
                        got: 27,
                        ..
                    }
                ),
                "{e}"
            );
        }
        // A cut-off gzip stream.
        let g = gzip(&images_bytes(50, 8, 8));
        let e = parse_idx_images("f.gz", &g[..g.len() / 2], None).unwrap_err();
        assert!(matches!(e, DataError::Gzip { .. }), "{e}");
        assert!(e.to_string().starts_with("f.gz: corrupt gzip stream"), "{e}");
        // Truncated header.
        let e = parse_idx_images("f", &b[..10], None).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    expected: 16,
                    got: 10,
                    ..
                }
            ),
            "{e}"
        );
        assert!(matches!(
            parse_idx_images("f", &[], None),
            Err(DataError::Truncated { .. })
        ));
        // Trailing bytes.
        let mut t = b.clone();
        t.push(0);
        assert!(matches!(
            parse_idx_images("f", &t, None),
            Err(DataError::TrailingData { .. })
        ));
        assert!(matches!(
            parse_idx_images("f", &gzip(&t), None),
            Err(DataError::TrailingData { .. })
        ));
        // Absurd dimensions: 4 billion images of 4 billion pixels in 40 bytes.
        let mut a = b.clone();
        a[4..16].copy_from_slice(&[0xff; 12]);
        let e = parse_idx_images("f", &a, None).unwrap_err();
        assert!(
            matches!(e, DataError::Truncated { .. } | DataError::AbsurdSize { .. }),
            "{e}"
        );
        let e = parse_idx_images("f", &gzip(&a), None).unwrap_err();
        assert!(matches!(e, DataError::AbsurdSize { .. }), "{e}");
        // Zero-sized images.
        let e = parse_idx_images("f", &images_bytes(3, 0, 2), None).unwrap_err();
        assert!(matches!(e, DataError::AbsurdSize { .. }), "{e}");
        // A bit flip inside the compressed stream: gzip error (or, rarely,
        // a checksum error), never a panic or silent success.
        let g = gzip(&images_bytes(50, 8, 8));
        let mut failures = 0;
        for i in 10..g.len() - 8 {
            let mut c = g.clone();
            c[i] ^= 0x10;
            if parse_idx_images("f", &c, None).is_err() {
                failures += 1;
            }
        }
        assert!(failures > (g.len() - 18) * 9 / 10, "{failures} of {}", g.len() - 18);
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn load_mnist_checks_counts_and_labels() {
        let d = temp_dir("mnist");
        std::fs::write(d.join("t10k-images-idx3-ubyte"), images_bytes(3, 2, 2)).unwrap();
        std::fs::write(d.join("t10k-labels-idx1-ubyte.gz"), gzip(&labels_bytes(&[1, 2]))).unwrap();
        let e = load_mnist(&d, Split::Test).unwrap_err();
        assert!(matches!(e, DataError::DimensionMismatch { .. }), "{e}");
        assert!(e.to_string().contains("2 labels, but"), "{e}");
        std::fs::write(d.join("t10k-labels-idx1-ubyte.gz"), gzip(&labels_bytes(&[1, 2, 10]))).unwrap();
        let e = load_mnist(&d, Split::Test).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::LabelOutOfRange {
                    label: 10,
                    index: 2,
                    ..
                }
            ),
            "{e}"
        );
        std::fs::write(d.join("t10k-labels-idx1-ubyte.gz"), gzip(&labels_bytes(&[1, 2, 9]))).unwrap();
        let ds = load_mnist(&d, Split::Test).unwrap();
        assert_eq!((ds.len(), ds.sample_len()), (3, 4));
        assert_eq!(ds.sample(1), &[4.0 / 255.0, 5.0 / 255.0, 6.0 / 255.0, 7.0 / 255.0]);
        let e = load_mnist(&d, Split::Train).unwrap_err();
        assert!(matches!(e, DataError::MissingFile { .. }), "{e}");
        assert!(e.to_string().contains("train-images-idx3-ubyte.gz or"), "{e}");
        // A directory that does not exist says so, and names the current one.
        let e = load_mnist(d.join("nowhere"), Split::Train).unwrap_err();
        assert!(matches!(e, DataError::MissingDir { .. }), "{e}");
        let cwd = std::env::current_dir().unwrap();
        assert!(e.to_string().contains("no such directory"), "{e}");
        assert!(e.to_string().contains(&cwd.display().to_string()), "{e}");
        let e = load_mnist("data/no-such-mnist", Split::Test).unwrap_err();
        assert!(e.to_string().contains("`data/` folder"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn mnist_test_split_from_the_repository() {
        let ds = load_mnist(repo_data().join("mnist"), Split::Test).unwrap();
        assert_eq!((ds.len(), ds.sample_len(), ds.num_classes()), (10000, 784, 10));
        assert_eq!(
            ds.class_counts(),
            vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        let mean = ds.data().iter().map(|&v| v as f64).sum::<f64>() / ds.data().len() as f64;
        assert!((mean - 33.791 / 255.0).abs() < 1e-4, "{mean}");
        assert!(ds.data().iter().all(|v| (0.0..=1.0).contains(v)));
        let n = load_mnist_with(
            repo_data().join("mnist"),
            Split::Test,
            MnistOptions {
                normalize: true,
                limit: Some(100),
            },
        )
        .unwrap();
        assert_eq!(n.len(), 100);
        assert_eq!(n.labels(), &ds.labels()[..100]);
        let want = (ds.data()[300] - MNIST_MEAN) / MNIST_STD;
        assert!((n.data()[300] - want).abs() < 1e-6);
    }

    #[test]
    #[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
    fn mnist_train_prefix_from_the_repository() {
        let opts = MnistOptions {
            normalize: false,
            limit: Some(500),
        };
        let ds = load_mnist_with(repo_data().join("mnist"), Split::Train, opts).unwrap();
        assert_eq!(ds.len(), 500);
        // The first training label of MNIST is a 5.
        assert_eq!(&ds.labels()[..4], &[5, 0, 4, 1]);
    }
}

#[cfg(test)]
mod write_tests {
    use super::tests::{images_bytes, labels_bytes, temp_dir};
    use super::*;
    use crate::data::Dataset;

    /// What `write_mnist` writes is what `load_mnist` reads, byte for byte
    /// and value for value; the header bytes are those of a reference file.
    #[test]
    fn written_files_read_back_identically() {
        let pixels: Vec<u8> = (0..3 * 4 * 5).map(|i| (i * 37 % 256) as u8).collect();
        let labels = [0u8, 9, 4];
        assert_eq!(
            idx_images_bytes(4, 5, &pixels).unwrap()[..16],
            images_bytes(3, 4, 5)[..16]
        );
        assert_eq!(idx_labels_bytes(&labels).unwrap(), labels_bytes(&labels));
        let d = temp_dir("write_mnist");
        for split in [Split::Train, Split::Test] {
            write_mnist(&d, split, 4, 5, &pixels, &labels).unwrap();
            let back = load_mnist(&d, split).unwrap();
            assert_eq!((back.len(), back.sample_len()), (3, 20));
            let want: Vec<f32> = pixels.iter().map(|&v| v as f32 / 255.0).collect();
            assert_eq!(back.data(), &want[..]);
            assert_eq!(back.labels().iter().map(|&l| l as u8).collect::<Vec<_>>(), labels);
        }
        let img = read_idx_images(d.join("train-images-idx3-ubyte"), None).unwrap();
        assert_eq!((img.dims, img.data), (vec![3, 4, 5], pixels.clone()));
        // Bad input: typed errors, nothing written.
        let e = write_mnist(d.join("x"), Split::Train, 4, 5, &pixels, &[1, 2]).unwrap_err();
        assert!(matches!(e, DataError::InvalidDataset { .. }), "{e}");
        assert!(!d.join("x").exists());
        let e = write_mnist(&d, Split::Train, 4, 5, &pixels, &[1, 2, 10]).unwrap_err();
        assert!(e.to_string().contains("label 10"), "{e}");
        assert!(idx_images_bytes(4, 5, &pixels[1..]).is_err());
        std::fs::remove_dir_all(&d).ok();
    }
}
