//! [`Tensor`]: a batch of samples whose per-sample shape is a type.

use crate::backend::Storage;
use crate::cpu::Cpu;
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::rng::Rng;
use crate::shape::Shape;
use std::marker::PhantomData;

/// A batch of `batch` samples of shape `S`, elements `E`, on backend `B`.
///
/// Layout is row-major with the batch outermost: `[batch, S::DIMS...]`
/// (NCHW for images). The batch is a runtime size (the last batch of an
/// epoch is smaller); everything else is checked by the compiler.
///
/// ```
/// use dl_core::prelude::*;
/// let x = Tensor::<S3<1, 2, 2>>::from_vec(&Cpu, 2, (0..8).map(|v| v as f32).collect()).unwrap();
/// assert_eq!(x.shape(), vec![2, 1, 2, 2]);
/// assert!(Tensor::<S1<3>>::from_vec(&Cpu, 2, vec![0.0; 5]).is_err());
/// ```
pub struct Tensor<S: Shape, B: Storage = Cpu, E: Float = f32> {
    batch: usize,
    buf: B::Buf<E>,
    dev: B,
    _s: PhantomData<S>,
}

impl<S: Shape, B: Storage, E: Float> Clone for Tensor<S, B, E> {
    fn clone(&self) -> Self {
        Self {
            batch: self.batch,
            buf: self.buf.clone(),
            dev: self.dev.clone(),
            _s: PhantomData,
        }
    }
}

impl<S: Shape, B: Storage, E: Float> std::fmt::Debug for Tensor<S, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("shape", &self.shape())
            .field("dtype", &E::DTYPE)
            .field("device", &self.dev.name())
            .finish()
    }
}

/// `batch * S::NUMEL`, checked.
///
/// # Panics
/// On overflow.
fn numel<S: Shape>(batch: usize) -> usize {
    batch
        .checked_mul(S::NUMEL)
        .unwrap_or_else(|| panic!("tensor: batch {batch} times {} elements overflows usize", S::NUMEL))
}

impl<S: Shape, B: Storage, E: Float> Tensor<S, B, E> {
    /// A zero tensor of `batch` samples.
    ///
    /// # Panics
    /// When `batch * S::NUMEL` overflows `usize` (no buffer could hold it).
    pub fn zeros(dev: &B, batch: usize) -> Self {
        Self {
            batch,
            buf: dev.zeros(numel::<S>(batch)),
            dev: dev.clone(),
            _s: PhantomData,
        }
    }
    /// An empty tensor (batch 0): a buffer to be filled by a kernel later.
    pub fn empty(dev: &B) -> Self {
        Self::zeros(dev, 0)
    }
    /// A tensor from host data in `[batch, S...]` row-major order.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `data.len() != batch * S::NUMEL`.
    pub fn from_slice(dev: &B, batch: usize, data: &[E]) -> Result<Self> {
        Self::check_len(batch, data.len())?;
        Ok(Self {
            batch,
            buf: dev.from_slice(data),
            dev: dev.clone(),
            _s: PhantomData,
        })
    }
    /// Like [`Tensor::from_slice`], taking a `Vec`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `data.len() != batch * S::NUMEL`.
    pub fn from_vec(dev: &B, batch: usize, data: Vec<E>) -> Result<Self> {
        Self::from_slice(dev, batch, &data)
    }
    /// Wraps a device buffer.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when the buffer length is not `batch * S::NUMEL`.
    pub fn from_buf(dev: &B, batch: usize, buf: B::Buf<E>) -> Result<Self> {
        Self::check_len(batch, dev.len(&buf))?;
        Ok(Self {
            batch,
            buf,
            dev: dev.clone(),
            _s: PhantomData,
        })
    }
    fn check_len(batch: usize, got: usize) -> Result<()> {
        let expected = batch.checked_mul(S::NUMEL).ok_or_else(|| Error::InvalidArgument {
            op: "Tensor::from_slice",
            msg: format!("batch {batch} times {} elements overflows", S::NUMEL),
        })?;
        if expected != got {
            return Err(Error::LengthMismatch {
                shape: S::dims(),
                batch,
                expected,
                got,
            });
        }
        Ok(())
    }
    /// A tensor drawn from an initialiser.
    pub fn init(dev: &B, batch: usize, init: Init, rng: &mut Rng) -> Self {
        let v: Vec<E> = init
            .sample(rng, numel::<S>(batch))
            .into_iter()
            .map(E::from_f64)
            .collect();
        Self {
            batch,
            buf: dev.from_slice(&v),
            dev: dev.clone(),
            _s: PhantomData,
        }
    }
    /// Standard-normal samples.
    pub fn randn(dev: &B, batch: usize, rng: &mut Rng) -> Self {
        Self::init(dev, batch, Init::Normal { mean: 0.0, std: 1.0 }, rng)
    }
    /// The data in host memory, `[batch, S...]` row-major.
    pub fn to_vec(&self) -> Vec<E> {
        self.dev.to_vec(&self.buf)
    }
    /// Number of samples.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Total number of elements.
    pub fn len(&self) -> usize {
        self.batch * S::NUMEL
    }
    /// Whether the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Full runtime shape `[batch, S...]`.
    pub fn shape(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(S::RANK + 1);
        v.push(self.batch);
        v.extend_from_slice(S::DIMS);
        v
    }
    /// The device.
    pub fn device(&self) -> &B {
        &self.dev
    }
    /// The flat device buffer.
    pub fn buf(&self) -> &B::Buf<E> {
        &self.buf
    }
    /// The flat device buffer, mutable. Its length must stay `len()`.
    pub fn buf_mut(&mut self) -> &mut B::Buf<E> {
        &mut self.buf
    }
    /// The flat device buffer, by value.
    pub fn into_buf(self) -> B::Buf<E> {
        self.buf
    }
    /// Changes the batch size, reusing the allocation where it can. The
    /// contents are unspecified afterwards (kernels overwrite them).
    ///
    /// # Panics
    /// When `batch * S::NUMEL` overflows `usize`.
    pub fn set_batch(&mut self, batch: usize) {
        if batch != self.batch {
            self.dev.resize(&mut self.buf, numel::<S>(batch));
            self.batch = batch;
        }
    }
    /// Copies `src` into `self`, resizing to its batch.
    pub fn copy_from(&mut self, src: &Self) {
        self.batch = src.batch;
        self.dev.copy(&src.buf, &mut self.buf);
    }
    /// Sets every element to `v`.
    pub fn fill(&mut self, v: E) {
        self.dev.fill(&mut self.buf, v);
    }
    /// Reinterprets each sample as shape `S2` (same element count: checked at
    /// compile time). This is how `Flatten` works: no copy.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S3<2, 3, 4>>::zeros(&Cpu, 5);
    /// let y: Tensor<S1<24>> = x.reshape();
    /// assert_eq!(y.shape(), vec![5, 24]);
    /// ```
    pub fn reshape<S2: Shape>(self) -> Tensor<S2, B, E> {
        const { assert!(S::NUMEL == S2::NUMEL, "reshape: the per-sample element counts differ") };
        Tensor {
            batch: self.batch,
            buf: self.buf,
            dev: self.dev,
            _s: PhantomData,
        }
    }
    /// Whether every element is finite.
    pub fn all_finite(&self) -> bool {
        self.to_vec().iter().all(|v| v.is_finite())
    }
}

impl<S: Shape, E: Float> Tensor<S, Cpu, E> {
    /// The data as a slice (CPU only).
    pub fn as_slice(&self) -> &[E] {
        &self.buf
    }
    /// The data as a mutable slice (CPU only).
    pub fn as_mut_slice(&mut self) -> &mut [E] {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::*;

    #[test]
    fn wrong_length_is_a_typed_error() {
        let e = Tensor::<S2<2, 3>>::from_vec(&Cpu, 2, vec![0.0; 11]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::LengthMismatch {
                    expected: 12,
                    got: 11,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("needs 12 elements, got 11"));
    }
    #[test]
    fn empty_batch_is_allowed() {
        let t = Tensor::<S1<4>>::from_vec(&Cpu, 0, vec![]).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.shape(), vec![0, 4]);
    }
    #[test]
    #[should_panic(expected = "overflows usize")]
    fn zeros_with_an_overflowing_size_panics() {
        let _ = Tensor::<S1<4>>::zeros(&Cpu, usize::MAX / 2);
    }
    #[test]
    #[should_panic(expected = "overflows usize")]
    fn set_batch_with_an_overflowing_size_panics() {
        Tensor::<S1<4>>::zeros(&Cpu, 1).set_batch(usize::MAX / 2);
    }
    #[test]
    fn set_batch_keeps_capacity() {
        let mut t = Tensor::<S1<4>>::zeros(&Cpu, 8);
        let cap = t.buf().capacity();
        t.set_batch(3);
        t.set_batch(8);
        assert_eq!(t.buf().capacity(), cap);
        assert_eq!(t.len(), 32);
    }
    #[test]
    fn seeded_init_is_deterministic() {
        let a = Tensor::<S1<16>>::randn(&Cpu, 2, &mut Rng::new(4));
        let b = Tensor::<S1<16>>::randn(&Cpu, 2, &mut Rng::new(4));
        assert_eq!(a.to_vec(), b.to_vec());
    }
}
