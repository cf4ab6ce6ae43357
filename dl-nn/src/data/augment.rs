//! Seeded, composable transforms on batches of images `[N, C, H, W]`.
//!
//! A [`Transform`] works on a host `f32` slice with runtime [`ImageDims`],
//! drawing its random numbers from a [`dl_core::Rng`], so the same seed
//! gives the same augmented batch. [`Transform::apply_tensor`] is the typed
//! convenience over `Tensor<S3<C, H, W>, Cpu, f32>`; a
//! [`DataLoader`](super::DataLoader) runs one on its background thread
//! (see [`DataLoader::transform`](super::DataLoader::transform)).
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::data::augment::*;
//! let aug = Compose::new()
//!     .then(RandomCrop { padding: 2 })
//!     .then(RandomHorizontalFlip { p: 0.5 })
//!     .then(Normalize::mnist());
//! let mut x = Tensor::<S3<1, 28, 28>>::zeros(&Cpu, 4);
//! aug.apply_tensor(&mut x, &mut Rng::new(0)).unwrap();
//! assert!((x.to_vec()[0] - (0.0 - 0.1307) / 0.3081).abs() < 1e-6);
//! ```
//!
//! | dl | torchvision |
//! |---|---|
//! | `RandomHorizontalFlip { p }` | `RandomHorizontalFlip(p)` |
//! | `RandomCrop { padding }` | `RandomCrop(size, padding)` with `size` the input size |
//! | `RandomTranslate { max_dx, max_dy }` | `RandomAffine(0, translate=..)` in whole pixels |
//! | `RandomRotation { max_degrees }` | `RandomRotation(max_degrees)` (bilinear, zero fill) |
//! | `ColorJitter { brightness, contrast }` | `ColorJitter(brightness, contrast)` |
//! | `Normalize { mean, std }` | `Normalize(mean, std)` |

use super::DataError;
use dl_core::{Cpu, Rng, Tensor, S3};

/// Runtime dimensions of a batch of images: `N` samples of `C` channels of
/// `H x W` pixels, NCHW row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageDims {
    /// Samples.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl ImageDims {
    /// Elements of one image (`C * H * W`).
    pub fn sample_len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Elements of the batch (`N * C * H * W`).
    pub fn numel(&self) -> usize {
        self.n * self.sample_len()
    }
}

/// A random (or fixed) transformation of a batch of images, in place.
///
/// Implementations draw per-sample random numbers from `rng` in a fixed
/// order, so the output depends only on the input and the generator state.
pub trait Transform: Send + Sync {
    /// Transforms `batch` (`dims.numel()` values, NCHW) in place.
    ///
    /// # Panics
    /// When `batch.len() != dims.numel()` or [`Transform::check`] rejects
    /// `dims`: both are bugs of the caller, which checks first.
    fn apply(&self, batch: &mut [f32], dims: ImageDims, rng: &mut Rng);

    /// Whether the transform can run on images of `dims` (the channel count
    /// of a [`Normalize`], valid probabilities), with a message if not.
    fn check(&self, _dims: ImageDims) -> Result<(), String> {
        Ok(())
    }

    /// Typed convenience: transforms a CPU image batch in place.
    ///
    /// # Errors
    /// [`DataError::Transform`] when [`Transform::check`] rejects the shape.
    fn apply_tensor<const C: usize, const H: usize, const W: usize>(
        &self,
        x: &mut Tensor<S3<C, H, W>, Cpu, f32>,
        rng: &mut Rng,
    ) -> Result<(), DataError>
    where
        Self: Sized,
    {
        apply_to_tensor(self, x, rng)
    }
}

/// [`Transform::apply_tensor`] for any transform, trait objects included.
///
/// # Errors
/// [`DataError::Transform`] when [`Transform::check`] rejects the shape.
pub fn apply_to_tensor<T: Transform + ?Sized, const C: usize, const H: usize, const W: usize>(
    t: &T,
    x: &mut Tensor<S3<C, H, W>, Cpu, f32>,
    rng: &mut Rng,
) -> Result<(), DataError> {
    let dims = ImageDims {
        n: x.batch(),
        c: C,
        h: H,
        w: W,
    };
    t.check(dims)
        .map_err(|msg| DataError::Transform { dims: [C, H, W], msg })?;
    t.apply(x.as_mut_slice(), dims, rng);
    Ok(())
}

fn check_len(batch: &[f32], dims: ImageDims) {
    assert_eq!(
        batch.len(),
        dims.numel(),
        "transform: batch of {} values does not match dims {dims:?}",
        batch.len()
    );
}

/// The images of `batch`, one `[c, h, w]` slice each, after checking the
/// batch's length against `dims` (none when the images are empty).
fn images(batch: &mut [f32], dims: ImageDims) -> std::slice::ChunksExactMut<'_, f32> {
    check_len(batch, dims);
    batch.chunks_exact_mut(dims.sample_len().max(1))
}

/// Applies `flip` to each image of `batch` with probability `p`.
fn flip_each(batch: &mut [f32], dims: ImageDims, p: f64, rng: &mut Rng, flip: impl Fn(&mut [f32])) {
    for img in images(batch, dims) {
        if rng.uniform() < p {
            flip(img);
        }
    }
}

fn check_p(p: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("probability {p} is not in [0, 1]"))
    }
}

/// Transforms applied one after the other.
#[derive(Default)]
pub struct Compose {
    /// The transforms, first applied first.
    pub transforms: Vec<Box<dyn Transform>>,
}

impl Compose {
    /// An empty composition (the identity).
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends `t`.
    pub fn then(mut self, t: impl Transform + 'static) -> Self {
        self.transforms.push(Box::new(t));
        self
    }
}

impl std::fmt::Debug for Compose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Compose({} transforms)", self.transforms.len())
    }
}

impl Transform for Compose {
    fn apply(&self, batch: &mut [f32], dims: ImageDims, rng: &mut Rng) {
        for t in &self.transforms {
            t.apply(batch, dims, rng);
        }
    }
    fn check(&self, dims: ImageDims) -> Result<(), String> {
        self.transforms.iter().try_for_each(|t| t.check(dims))
    }
}

/// Mirrors each image left-right with probability `p`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomHorizontalFlip {
    /// Probability of a flip.
    pub p: f64,
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, batch: &mut [f32], dims: ImageDims, rng: &mut Rng) {
        flip_each(batch, dims, self.p, rng, |img| {
            img.chunks_exact_mut(dims.w).for_each(|row| row.reverse())
        });
    }
    fn check(&self, _dims: ImageDims) -> Result<(), String> {
        check_p(self.p)
    }
}

/// Mirrors each image top-bottom with probability `p`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomVerticalFlip {
    /// Probability of a flip.
    pub p: f64,
}

impl Transform for RandomVerticalFlip {
    fn apply(&self, batch: &mut [f32], dims: ImageDims, rng: &mut Rng) {
        let (h, w) = (dims.h, dims.w);
        flip_each(batch, dims, self.p, rng, |img| {
            for plane in img.chunks_exact_mut(h * w) {
                for y in 0..h / 2 {
                    let (top, bottom) = plane.split_at_mut((h - 1 - y) * w);
                    top[y * w..(y + 1) * w].swap_with_slice(&mut bottom[..w]);
                }
            }
        });
    }
    fn check(&self, _dims: ImageDims) -> Result<(), String> {
        check_p(self.p)
    }
}

/// Moves the content of one image by `(dx, dy)` pixels (right, down),
/// filling with zeros. `scratch` holds a copy of the image.
fn shift(img: &mut [f32], dims: ImageDims, dx: isize, dy: isize, scratch: &mut Vec<f32>) {
    if dx == 0 && dy == 0 {
        return;
    }
    let (h, w) = (dims.h as isize, dims.w as isize);
    scratch.clear();
    scratch.extend_from_slice(img);
    let plane = (h * w) as usize;
    for (out, src) in img.chunks_exact_mut(plane).zip(scratch.chunks_exact(plane)) {
        for y in 0..h {
            let sy = y - dy;
            for x in 0..w {
                let sx = x - dx;
                out[(y * w + x) as usize] = if (0..h).contains(&sy) && (0..w).contains(&sx) {
                    src[(sy * w + sx) as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// Pads each image with `padding` zeros on every side and crops a random
/// window of the original size back out (torchvision's
/// `RandomCrop(size, padding)` with `size` the input size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomCrop {
    /// Zeros added on each side before cropping.
    pub padding: usize,
}

impl Transform for RandomCrop {
    fn apply(&self, batch: &mut [f32], dims: ImageDims, rng: &mut Rng) {
        RandomTranslate {
            max_dx: self.padding,
            max_dy: self.padding,
        }
        .apply(batch, dims, rng);
    }
}

/// Moves each image by a random whole number of pixels, uniform in
/// `-max_dx..=max_dx` horizontally and `-max_dy..=max_dy` vertically,
/// filling with zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomTranslate {
    /// Largest horizontal shift.
    pub max_dx: usize,
    /// Largest vertical shift.
    pub max_dy: usize,
}

impl Transform for RandomTranslate {
    fn apply(&self, batch: &mut [f32], dims: ImageDims, rng: &mut Rng) {
        let mut scratch = Vec::new();
        for img in images(batch, dims) {
            let dx = rng.below(2 * self.max_dx + 1) as isize - self.max_dx as isize;
            let dy = rng.below(2 * self.max_dy + 1) as isize - self.max_dy as isize;
            shift(img, dims, dx, dy, &mut scratch);
        }
    }
}

/// Rotates each image about its centre by an angle uniform in
/// `[-max_degrees, max_degrees]` (positive: counter-clockwise), bilinear
/// interpolation, zero fill.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomRotation {
    /// Largest rotation, in degrees.
    pub max_degrees: f64,
}

/// Rotates one image by `degrees` counter-clockwise.
fn rotate(img: &mut [f32], dims: ImageDims, degrees: f64, scratch: &mut Vec<f32>) {
    if degrees == 0.0 {
        return;
    }
    let (h, w) = (dims.h, dims.w);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    scratch.clear();
    scratch.extend_from_slice(img);
    let at = |src: &[f32], x: isize, y: isize| -> f64 {
        if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
            src[y as usize * w + x as usize] as f64
        } else {
            0.0
        }
    };
    for (out, src) in img.chunks_exact_mut(h * w).zip(scratch.chunks_exact(h * w)) {
        for y in 0..h {
            let dy = y as f64 - cy;
            for x in 0..w {
                let dx = x as f64 - cx;
                // Inverse mapping: the source pixel that lands on (x, y).
                let sx = cos * dx - sin * dy + cx;
                let sy = sin * dx + cos * dy + cy;
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as isize, y0 as isize);
                let v = at(src, x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + at(src, x0 + 1, y0) * fx * (1.0 - fy)
                    + at(src, x0, y0 + 1) * (1.0 - fx) * fy
                    + at(src, x0 + 1, y0 + 1) * fx * fy;
                out[y * w + x] = v as f32;
            }
        }
    }
}

impl Transform for RandomRotation {
    fn apply(&self, batch: &mut [f32], dims: ImageDims, rng: &mut Rng) {
        let mut scratch = Vec::new();
        for img in images(batch, dims) {
            let deg = rng.uniform_range(-self.max_degrees, self.max_degrees);
            rotate(img, dims, deg, &mut scratch);
        }
    }
    fn check(&self, _dims: ImageDims) -> Result<(), String> {
        if self.max_degrees.is_finite() && self.max_degrees >= 0.0 {
            Ok(())
        } else {
            Err(format!("max_degrees {} must be finite and >= 0", self.max_degrees))
        }
    }
}

/// Random brightness and contrast changes for images with values in
/// `[0, 1]` (apply it before [`Normalize`]).
///
/// Brightness multiplies by a factor uniform in
/// `[max(0, 1 - brightness), 1 + brightness]`; contrast blends with the
/// image's mean by a factor drawn the same way from `contrast`:
/// `(x - mean) * f + mean`. Results are clamped to `[0, 1]` as in
/// torchvision; a factor of exactly 1 leaves the image untouched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorJitter {
    /// Brightness jitter (0: none).
    pub brightness: f64,
    /// Contrast jitter (0: none).
    pub contrast: f64,
}

impl Transform for ColorJitter {
    fn apply(&self, batch: &mut [f32], dims: ImageDims, rng: &mut Rng) {
        let factor = |rng: &mut Rng, j: f64| {
            if j == 0.0 {
                1.0
            } else {
                rng.uniform_range((1.0 - j).max(0.0), 1.0 + j)
            }
        };
        for img in images(batch, dims) {
            let b = factor(rng, self.brightness);
            let c = factor(rng, self.contrast);
            if b != 1.0 {
                img.iter_mut().for_each(|v| *v = (*v as f64 * b).clamp(0.0, 1.0) as f32);
            }
            if c != 1.0 {
                let mean = img.iter().map(|&v| v as f64).sum::<f64>() / img.len() as f64;
                img.iter_mut()
                    .for_each(|v| *v = ((*v as f64 - mean) * c + mean).clamp(0.0, 1.0) as f32);
            }
        }
    }
    fn check(&self, _dims: ImageDims) -> Result<(), String> {
        for (name, v) in [("brightness", self.brightness), ("contrast", self.contrast)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} {v} must be finite and >= 0"));
            }
        }
        Ok(())
    }
}

/// Per-channel normalisation `(x - mean[c]) / std[c]` (deterministic).
/// `mean` and `std` hold one value per channel, or one value for all.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    /// Per-channel means.
    pub mean: Vec<f32>,
    /// Per-channel standard deviations (> 0).
    pub std: Vec<f32>,
}

impl Normalize {
    /// Normalisation with the given statistics.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Self {
        Self { mean, std }
    }
    /// MNIST's statistics: mean 0.1307, std 0.3081.
    pub fn mnist() -> Self {
        Self::new(vec![0.1307], vec![0.3081])
    }
}

impl Transform for Normalize {
    fn apply(&self, batch: &mut [f32], dims: ImageDims, _rng: &mut Rng) {
        let images = images(batch, dims);
        if let Err(e) = self.check(dims) {
            panic!("Normalize: {e}");
        }
        let plane = dims.h * dims.w;
        for img in images {
            for (ch, p) in img.chunks_exact_mut(plane).enumerate() {
                let m = self.mean[if self.mean.len() == 1 { 0 } else { ch }];
                let s = self.std[if self.std.len() == 1 { 0 } else { ch }];
                p.iter_mut().for_each(|v| *v = (*v - m) / s);
            }
        }
    }
    fn check(&self, dims: ImageDims) -> Result<(), String> {
        for (name, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != 1 && v.len() != dims.c {
                return Err(format!("{name} has {} values for {} channels", v.len(), dims.c));
            }
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("std {s} must be finite and > 0"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(n: usize, c: usize, h: usize, w: usize) -> ImageDims {
        ImageDims { n, c, h, w }
    }
    fn ramp(d: ImageDims) -> Vec<f32> {
        (0..d.numel()).map(|i| (i as f32 * 0.37).sin() * 0.5 + 0.5).collect()
    }

    #[test]
    fn flips_are_involutions_and_flip() {
        let d = dims(3, 2, 3, 4);
        let x = ramp(d);
        for t in [
            &RandomHorizontalFlip { p: 1.0 } as &dyn Transform,
            &RandomVerticalFlip { p: 1.0 },
        ] {
            let mut y = x.clone();
            t.apply(&mut y, d, &mut Rng::new(0));
            assert_ne!(y, x);
            t.apply(&mut y, d, &mut Rng::new(1));
            assert_eq!(y, x);
        }
        let mut y = vec![1., 2., 3., 4., 5., 6.];
        RandomHorizontalFlip { p: 1.0 }.apply(&mut y, dims(1, 1, 2, 3), &mut Rng::new(0));
        assert_eq!(y, vec![3., 2., 1., 6., 5., 4.]);
        let mut y = vec![1., 2., 3., 4., 5., 6.];
        RandomVerticalFlip { p: 1.0 }.apply(&mut y, dims(1, 1, 3, 2), &mut Rng::new(0));
        assert_eq!(y, vec![5., 6., 3., 4., 1., 2.]);
        // p = 0 never flips.
        let mut y = x.clone();
        RandomHorizontalFlip { p: 0.0 }.apply(&mut y, d, &mut Rng::new(0));
        assert_eq!(y, x);
    }

    #[test]
    fn zero_rotation_and_translation_are_identity() {
        let d = dims(4, 3, 5, 6);
        let x = ramp(d);
        let id = Compose::new()
            .then(RandomRotation { max_degrees: 0.0 })
            .then(RandomTranslate { max_dx: 0, max_dy: 0 })
            .then(RandomCrop { padding: 0 })
            .then(ColorJitter {
                brightness: 0.0,
                contrast: 0.0,
            });
        let mut y = x.clone();
        id.apply(&mut y, d, &mut Rng::new(9));
        assert_eq!(y, x);
    }

    #[test]
    fn rotation_by_90_degrees_moves_corners() {
        // 3x3, counter-clockwise by exactly 90 degrees: top-right -> top-left.
        let mut x = vec![0., 0., 1., 0., 0., 0., 0., 0., 0.];
        rotate(&mut x, dims(1, 1, 3, 3), 90.0, &mut Vec::new());
        let want = [1., 0., 0., 0., 0., 0., 0., 0., 0.];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{x:?}");
        }
        // Random rotations keep the mass of a centred blob roughly.
        let d = dims(2, 1, 9, 9);
        let mut x = vec![0.0; 162];
        x[40] = 1.0;
        x[81 + 40] = 1.0;
        RandomRotation { max_degrees: 30.0 }.apply(&mut x, d, &mut Rng::new(3));
        assert!((x[40] - 1.0).abs() < 1e-6, "the centre pixel is the rotation centre");
    }

    #[test]
    fn translate_shifts_with_zero_fill() {
        let d = dims(1, 1, 2, 3);
        let mut x = vec![1., 2., 3., 4., 5., 6.];
        shift(&mut x, d, 1, 0, &mut Vec::new());
        assert_eq!(x, vec![0., 1., 2., 0., 4., 5.]);
        let mut x = vec![1., 2., 3., 4., 5., 6.];
        shift(&mut x, d, -1, 1, &mut Vec::new());
        assert_eq!(x, vec![0., 0., 0., 2., 3., 0.]);
        // A crop with padding keeps the size and every shift stays within it.
        let d = dims(16, 1, 4, 4);
        let mut x = vec![1.0; d.numel()];
        RandomCrop { padding: 1 }.apply(&mut x, d, &mut Rng::new(5));
        assert_eq!(x.len(), d.numel());
        for img in x.chunks(16) {
            let ones = img.iter().filter(|&&v| v == 1.0).count();
            assert!(ones == 16 || ones == 12 || ones == 9, "{ones}");
        }
        assert!(x.contains(&0.0), "some of 16 crops move");
    }

    #[test]
    fn same_seed_same_output() {
        let d = dims(8, 3, 7, 7);
        let aug = Compose::new()
            .then(RandomCrop { padding: 2 })
            .then(RandomHorizontalFlip { p: 0.5 })
            .then(RandomVerticalFlip { p: 0.5 })
            .then(RandomRotation { max_degrees: 20.0 })
            .then(ColorJitter {
                brightness: 0.3,
                contrast: 0.3,
            })
            .then(Normalize::new(vec![0.5, 0.4, 0.3], vec![0.2, 0.25, 0.3]));
        let run = |seed| {
            let mut x = ramp(d);
            aug.apply(&mut x, d, &mut Rng::new(seed));
            x
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        assert!(run(1).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn normalize_values_and_checks() {
        let d = dims(2, 2, 1, 2);
        let mut x = vec![0.5, 1.0, 0.2, 0.4, 0.0, 0.1, 0.6, 0.8];
        let n = Normalize::new(vec![0.5, 0.2], vec![0.5, 0.1]);
        n.apply(&mut x, d, &mut Rng::new(0));
        let want = [0.0, 1.0, 0.0, 2.0, -1.0, -0.8, 4.0, 6.0];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{x:?}");
        }
        assert!(n.check(dims(1, 3, 1, 1)).is_err());
        assert!(Normalize::new(vec![0.0], vec![0.0]).check(d).is_err());
        assert!(RandomHorizontalFlip { p: 1.5 }.check(d).is_err());
        let mut t = Tensor::<S3<3, 1, 1>>::zeros(&Cpu, 1);
        let e = n.apply_tensor(&mut t, &mut Rng::new(0)).unwrap_err();
        assert!(e.to_string().contains("mean has 2 values for 3 channels"), "{e}");
    }

    #[test]
    fn color_jitter_stays_in_range() {
        let d = dims(5, 1, 4, 4);
        let mut x = ramp(d);
        ColorJitter {
            brightness: 0.9,
            contrast: 0.9,
        }
        .apply(&mut x, d, &mut Rng::new(2));
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_ne!(x, ramp(d));
        // Brightness alone scales.
        let mut y = vec![0.5; 4];
        let mut r = Rng::new(4);
        let f = r.clone().uniform_range(0.8, 1.2);
        ColorJitter {
            brightness: 0.2,
            contrast: 0.0,
        }
        .apply(&mut y, dims(1, 1, 2, 2), &mut r);
        assert!((y[0] as f64 - 0.5 * f).abs() < 1e-6);
    }
}
