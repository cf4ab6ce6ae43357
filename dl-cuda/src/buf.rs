//! Device buffers from the caching allocator: [`CudaBuf`], [`Elem`].

use crate::alloc::{Pool, PoolStats, RawAlloc};
use crate::error::{CudaError, Result};
use cudarc::cublas::{CudaBlas, Gemm, StridedBatchedConfig};
use cudarc::driver::{CudaSlice, CudaStream, CudaView, CudaViewMut, DeviceRepr, ValidAsZeroBits};
use std::sync::{Arc, Mutex};

/// An element type that device buffers hold: `f32`, `f64`, `u32`, and
/// `u16` (the bits of bf16/f16 operands of a mixed-precision product).
pub trait Elem: DeviceRepr + ValidAsZeroBits + Copy + Default + std::fmt::Debug + Send + Sync + 'static {
    /// Suffix of kernel names for this type (`f32`, `f64`, `u32`, `u16`).
    const NAME: &'static str;
}
impl Elem for f32 {
    const NAME: &'static str = "f32";
}
impl Elem for f64 {
    const NAME: &'static str = "f64";
}
impl Elem for u32 {
    const NAME: &'static str = "u32";
}
impl Elem for u16 {
    const NAME: &'static str = "u16";
}

/// A floating-point [`Elem`] that cuBLAS multiplies: `f32`, `f64`.
pub trait FloatElem: Elem {
    /// Calls cuBLAS `<t>gemmStridedBatched` (column-major).
    ///
    /// # Safety
    /// Every matrix the configuration addresses must lie inside its view.
    unsafe fn gemm_strided_batched(
        blas: &CudaBlas,
        cfg: StridedBatchedConfig<Self>,
        a: &CudaView<'_, Self>,
        b: &CudaView<'_, Self>,
        c: &mut CudaViewMut<'_, Self>,
    ) -> Result<()>;
}
macro_rules! float_elem {
    ($t:ty) => {
        impl FloatElem for $t {
            unsafe fn gemm_strided_batched(
                blas: &CudaBlas,
                cfg: StridedBatchedConfig<Self>,
                a: &CudaView<'_, Self>,
                b: &CudaView<'_, Self>,
                c: &mut CudaViewMut<'_, Self>,
            ) -> Result<()> {
                // SAFETY: the caller guarantees that all matrices lie inside the views.
                unsafe { blas.gemm_strided_batched(cfg, a, b, c) }?;
                Ok(())
            }
        }
    };
}
float_elem!(f32);
float_elem!(f64);

/// Blocks come from the driver on the device's stream.
#[derive(Debug)]
pub(crate) struct DriverAlloc {
    stream: Arc<CudaStream>,
}

impl RawAlloc for DriverAlloc {
    fn alloc(&mut self, bytes: usize) -> Result<u64> {
        // SAFETY: the memory is uninitialised; it is leaked at once into a raw
        // address that the pool owns, and every buffer made from it zeroes or
        // overwrites the elements it exposes before they are read.
        match unsafe { self.stream.alloc::<u8>(bytes) } {
            Ok(s) => Ok(s.leak()),
            Err(e) => Err(match CudaError::from(e) {
                CudaError::Driver { name, .. } if name.contains("OUT_OF_MEMORY") => {
                    let (free, total) = self.stream.context().mem_get_info().unwrap_or((0, 0));
                    CudaError::OutOfMemory { bytes, free, total }
                }
                other => other,
            }),
        }
    }
    fn free(&mut self, ptr: u64, bytes: usize) {
        // SAFETY: `ptr` came from `alloc` with `bytes` bytes and sits on a
        // free list, so no buffer uses it; dropping the slice frees it in
        // stream order, after every kernel that used it.
        drop(unsafe { self.stream.upgrade_device_ptr::<u8>(ptr, bytes) });
    }
}

/// The caching allocator of one device (see [`crate::alloc`]).
#[derive(Debug)]
pub struct CachingAllocator {
    pool: Mutex<Pool<DriverAlloc>>,
    stream: Arc<CudaStream>,
}

impl CachingAllocator {
    pub(crate) fn new(stream: Arc<CudaStream>) -> Self {
        Self {
            pool: Mutex::new(Pool::new(DriverAlloc { stream: stream.clone() })),
            stream,
        }
    }
    fn pool(&self) -> std::sync::MutexGuard<'_, Pool<DriverAlloc>> {
        // A panic while holding the lock leaves the pool consistent (every
        // operation updates it in one step), so a poisoned lock is usable.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The pool's counters.
    pub fn stats(&self) -> PoolStats {
        self.pool().stats()
    }
    /// Waits for the stream, then returns every cached block to the driver.
    ///
    /// # Errors
    /// A driver error from the synchronisation.
    pub fn empty_cache(&self) -> Result<()> {
        self.stream.synchronize()?;
        self.pool().empty_cache();
        Ok(())
    }
    /// The stream that all buffers of this allocator are used on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
}

/// A flat device buffer of `len` elements in a block of the caching
/// allocator; dropping it returns the block to its free list.
///
/// Its capacity (the block's size) may exceed `len`; [`CudaBuf::resize`]
/// within the capacity does not allocate.
pub struct CudaBuf<T: Elem> {
    slice: Option<CudaSlice<T>>,
    len: usize,
    alloc: Arc<CachingAllocator>,
}

impl<T: Elem> CudaBuf<T> {
    /// A zero-filled buffer of `len` elements.
    ///
    /// # Errors
    /// Out of device memory, or another driver error.
    pub fn zeros(alloc: &Arc<CachingAllocator>, len: usize) -> Result<Self> {
        let mut b = Self::with_capacity(alloc, len)?;
        b.len = len;
        b.zero_range(0, len)?;
        Ok(b)
    }

    /// A buffer of `len` elements whose contents are unspecified (whatever
    /// the block held last): scratch that a kernel writes before anything
    /// reads it, without [`CudaBuf::zeros`]'s memset.
    ///
    /// # Errors
    /// Out of device memory, or another driver error.
    pub fn scratch(alloc: &Arc<CachingAllocator>, len: usize) -> Result<Self> {
        let mut b = Self::with_capacity(alloc, len)?;
        b.len = len;
        Ok(b)
    }

    /// An empty buffer whose block holds at least `cap` elements.
    fn with_capacity(alloc: &Arc<CachingAllocator>, cap: usize) -> Result<Self> {
        let size = std::mem::size_of::<T>();
        let bytes = cap.checked_mul(size).ok_or_else(|| crate::CudaError::InvalidArgument {
            op: "alloc",
            msg: format!("{cap} elements of {} overflow usize", T::NAME),
        })?;
        let (ptr, class) = alloc.pool().take(bytes)?;
        // SAFETY: `ptr` is a block of `class` bytes (a multiple of 256, so of
        // `size`) that the pool handed to this buffer alone; the elements
        // past `len` are never read before being written or zeroed.
        let slice = unsafe { alloc.stream.upgrade_device_ptr::<T>(ptr, class / size) };
        Ok(Self {
            slice: Some(slice),
            len: 0,
            alloc: alloc.clone(),
        })
    }

    /// Uploads `data` into a new buffer.
    ///
    /// # Errors
    /// A driver error.
    pub fn from_host(alloc: &Arc<CachingAllocator>, data: &[T]) -> Result<Self> {
        let mut b = Self::with_capacity(alloc, data.len())?;
        b.len = data.len();
        b.write(data)?;
        Ok(b)
    }

    fn slice(&self) -> &CudaSlice<T> {
        self.slice.as_ref().expect("CudaBuf: block taken before drop")
    }
    fn slice_mut(&mut self) -> &mut CudaSlice<T> {
        self.slice.as_mut().expect("CudaBuf: block taken before drop")
    }

    fn zero_range(&mut self, from: usize, to: usize) -> Result<()> {
        if from < to {
            let stream = self.alloc.stream.clone();
            stream.memset_zeros(&mut self.slice_mut().slice_mut(from..to))?;
        }
        Ok(())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Elements the block holds without reallocating.
    pub fn capacity(&self) -> usize {
        self.slice().len()
    }

    /// The `len` elements as a device view (for kernel arguments).
    pub fn view(&self) -> CudaView<'_, T> {
        self.slice().slice(..self.len)
    }
    /// The `len` elements as a mutable device view.
    pub fn view_mut(&mut self) -> CudaViewMut<'_, T> {
        let len = self.len;
        self.slice_mut().slice_mut(..len)
    }

    /// Overwrites the first `data.len()` elements with `data`.
    ///
    /// # Errors
    /// [`crate::CudaError::InvalidArgument`] when `data` is longer than the buffer.
    pub fn write(&mut self, data: &[T]) -> Result<()> {
        if data.len() > self.len {
            return Err(crate::CudaError::InvalidArgument {
                op: "write",
                msg: format!("{} elements into a buffer of {}", data.len(), self.len),
            });
        }
        let stream = self.alloc.stream.clone();
        stream.memcpy_htod(data, &mut self.slice_mut().slice_mut(..data.len()))?;
        Ok(())
    }

    /// Downloads the buffer (waits for the stream).
    ///
    /// # Errors
    /// A driver error, including one left by an earlier asynchronous kernel.
    pub fn to_host(&self) -> Result<Vec<T>> {
        if self.len == 0 {
            self.alloc.stream.synchronize()?;
            return Ok(Vec::new());
        }
        Ok(self.alloc.stream.clone_dtoh(&self.view())?)
    }

    /// Sets the length; grows into the block when it can, else moves to a
    /// larger block keeping the first `len` elements. New elements are zero.
    ///
    /// # Errors
    /// Out of device memory, or another driver error.
    pub fn resize(&mut self, len: usize) -> Result<()> {
        if len <= self.capacity() {
            let old = self.len;
            self.len = len;
            return self.zero_range(old, len);
        }
        let mut bigger = Self::with_capacity(&self.alloc, len)?;
        bigger.len = len;
        let keep = self.len;
        if keep > 0 {
            let stream = self.alloc.stream.clone();
            stream.memcpy_dtod(&self.view(), &mut bigger.slice_mut().slice_mut(..keep))?;
        }
        bigger.zero_range(keep, len)?;
        *self = bigger;
        Ok(())
    }

    /// Copies `src` into `self`, resizing `self` to `src.len()`.
    ///
    /// # Errors
    /// A driver error.
    pub fn copy_from(&mut self, src: &CudaBuf<T>) -> Result<()> {
        if src.len > self.capacity() {
            *self = Self::with_capacity(&self.alloc, src.len)?;
        }
        self.len = src.len;
        if src.len > 0 {
            let stream = self.alloc.stream.clone();
            stream.memcpy_dtod(&src.view(), &mut self.view_mut())?;
        }
        Ok(())
    }

    /// A copy in a new block.
    ///
    /// # Errors
    /// Out of device memory, or another driver error.
    pub fn try_clone(&self) -> Result<Self> {
        let mut b = Self::with_capacity(&self.alloc, self.len)?;
        b.copy_from(self)?;
        Ok(b)
    }

    /// The allocator this buffer's block belongs to.
    pub fn allocator(&self) -> &Arc<CachingAllocator> {
        &self.alloc
    }
}

impl<T: Elem> Clone for CudaBuf<T> {
    /// # Panics
    /// On a CUDA error (out of memory): `Clone` cannot return one; use
    /// [`CudaBuf::try_clone`] to handle it.
    fn clone(&self) -> Self {
        self.try_clone()
            .unwrap_or_else(|e| panic!("CudaBuf::clone of {} elements: {e}", self.len))
    }
}

impl<T: Elem> Drop for CudaBuf<T> {
    fn drop(&mut self) {
        if let Some(s) = self.slice.take() {
            let class = s.num_bytes();
            let ptr = s.leak();
            self.alloc.pool().give(ptr, class);
        }
    }
}

impl<T: Elem> std::fmt::Debug for CudaBuf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CudaBuf<{}>(len {}, capacity {})",
            T::NAME,
            self.len,
            self.capacity()
        )
    }
}
