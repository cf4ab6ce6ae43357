//! [`CudaDevice`]: context, stream, allocator, cuBLAS handle, kernel modules.

use crate::buf::CachingAllocator;
use crate::error::{CudaError, Result};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Whether the CUDA driver library can be loaded (never panics).
pub fn driver_present() -> bool {
    // SAFETY: only tries to `dlopen` the candidate library names; no symbol is called.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether the NVRTC library can be loaded (never panics).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to `dlopen` the candidate library names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Whether the cuBLAS library can be loaded (never panics).
pub fn cublas_present() -> bool {
    // SAFETY: only tries to `dlopen` the candidate library names.
    unsafe { cudarc::cublas::sys::is_culib_present() }
}

/// Checks that device `ordinal` can be used: driver, device, NVRTC and
/// cuBLAS present. Never panics.
///
/// # Errors
/// [`CudaError::NoDriver`], [`CudaError::NoDevice`],
/// [`CudaError::MissingLibrary`] or the driver's error.
pub fn probe(ordinal: usize) -> Result<usize> {
    if !driver_present() {
        return Err(CudaError::NoDriver(
            "libcuda.so could not be loaded (no NVIDIA driver installed, or not on the loader path)".into(),
        ));
    }
    let count = CudaContext::device_count().map_err(CudaError::from)?;
    let count = usize::try_from(count).unwrap_or(0);
    if ordinal >= count {
        return Err(CudaError::NoDevice { ordinal, count });
    }
    if !nvrtc_present() {
        return Err(CudaError::MissingLibrary { lib: "nvrtc" });
    }
    if !cublas_present() {
        return Err(CudaError::MissingLibrary { lib: "cublas" });
    }
    Ok(count)
}

/// Whether CUDA device 0 is usable (see [`probe`]).
pub fn is_available() -> bool {
    probe(0).is_ok()
}

/// NVRTC options for a target: `--gpu-architecture=compute_XY` when given.
fn compile_options(arch: Option<(i32, i32)>) -> cudarc::nvrtc::CompileOptions {
    let mut options = Vec::new();
    if let Some((ma, mi)) = arch {
        options.push(format!("--gpu-architecture=compute_{ma}{mi}"));
    }
    cudarc::nvrtc::CompileOptions {
        options,
        ..Default::default()
    }
}

/// Compiles CUDA C source to PTX with NVRTC (no device needed), for a
/// compute capability or NVRTC's default architecture.
///
/// # Errors
/// [`CudaError::MissingLibrary`] without NVRTC, [`CudaError::Compile`] with
/// the compiler log.
pub fn compile_ptx(module: &str, src: &str, arch: Option<(i32, i32)>) -> Result<String> {
    if !nvrtc_present() {
        return Err(CudaError::MissingLibrary { lib: "nvrtc" });
    }
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(src, compile_options(arch))
        .map_err(|e| CudaError::from_compile(module, e))?;
    Ok(ptx.to_src())
}

/// A module's identity: the address and length of its `'static` source.
///
/// Modules are cached by their source, not by their name, so a caller that
/// picks the name of a built-in module (`"relu"`) still gets its own source
/// compiled and run; the name is only a label in errors. A `'static` source
/// is never freed, so no other source can ever take its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SourceKey {
    addr: usize,
    len: usize,
}

impl SourceKey {
    fn of(src: &'static str) -> Self {
        Self {
            addr: src.as_ptr() as usize,
            len: src.len(),
        }
    }
}

/// PTX compiled in this process, by (source, compute capability): each
/// module is compiled once per process however many devices load it.
type PtxCache = Mutex<HashMap<(SourceKey, (i32, i32)), String>>;

fn ptx_cache() -> &'static PtxCache {
    static CACHE: OnceLock<PtxCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// One CUDA device: its primary context, one stream that all work runs on,
/// a caching allocator, a cuBLAS handle and the loaded kernel modules.
pub struct CudaDevice {
    ordinal: usize,
    name: String,
    cc: (i32, i32),
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    alloc: Arc<CachingAllocator>,
    blas: CudaBlas,
    modules: Mutex<HashMap<SourceKey, Arc<CudaModule>>>,
    funcs: Mutex<HashMap<(SourceKey, String), CudaFunction>>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CudaDevice(cuda:{} {}, sm_{}{})",
            self.ordinal, self.name, self.cc.0, self.cc.1
        )
    }
}

impl CudaDevice {
    /// Opens device `ordinal` after [`probe`] (so a missing driver or device
    /// is an error, not a panic).
    ///
    /// # Errors
    /// See [`probe`]; driver or cuBLAS errors while creating the context.
    pub fn new(ordinal: usize) -> Result<Arc<Self>> {
        probe(ordinal)?;
        let ctx = CudaContext::new(ordinal)?;
        // SAFETY: all work of this device (kernels, copies, cuBLAS, frees)
        // runs on the one stream created below, so stream order alone keeps
        // every use of a buffer before its reuse or free; cudarc's per-buffer
        // events (which synchronise between streams) are not needed.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream()?;
        let blas = CudaBlas::new(stream.clone())?;
        let name = ctx.name()?;
        let cc = ctx.compute_capability()?;
        Ok(Arc::new(Self {
            ordinal,
            name,
            cc,
            alloc: Arc::new(CachingAllocator::new(stream.clone())),
            ctx,
            stream,
            blas,
            modules: Mutex::default(),
            funcs: Mutex::default(),
        }))
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }
    /// The device's name, such as `NVIDIA H200`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Compute capability `(major, minor)`, such as `(9, 0)`.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.cc
    }
    /// The context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }
    /// The stream all work runs on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
    /// The caching allocator.
    pub fn allocator(&self) -> &Arc<CachingAllocator> {
        &self.alloc
    }
    /// The cuBLAS handle (bound to [`CudaDevice::stream`]).
    pub fn blas(&self) -> &CudaBlas {
        &self.blas
    }
    /// Waits for all queued work.
    ///
    /// # Errors
    /// A driver error, including one from an earlier asynchronous launch.
    pub fn synchronize(&self) -> Result<()> {
        Ok(self.stream.synchronize()?)
    }

    /// Kernel `func` of the module whose CUDA C source is `src`, compiling
    /// it with NVRTC for this device's architecture the first time the
    /// process asks for that source and loading it the first time this
    /// device does.
    ///
    /// Modules are cached by source (`src`'s address), not by `module`,
    /// which names the module in errors only: two modules of the same name
    /// with different sources are two modules, so a user's module can never
    /// be served a built-in module's kernels.
    ///
    /// # Errors
    /// [`CudaError::Compile`] (with the log), a driver error loading the
    /// PTX, or [`CudaError::MissingKernel`].
    pub fn function(&self, module: &str, src: &'static str, func: &str) -> Result<CudaFunction> {
        let source = SourceKey::of(src);
        let key = (source, func.to_string());
        if let Some(f) = lock(&self.funcs).get(&key) {
            return Ok(f.clone());
        }
        let m = self.module(module, source, src)?;
        let f = m.load_function(func).map_err(|_| CudaError::MissingKernel {
            module: module.to_string(),
            func: func.to_string(),
        })?;
        lock(&self.funcs).insert(key, f.clone());
        Ok(f)
    }

    fn module(&self, module: &str, source: SourceKey, src: &str) -> Result<Arc<CudaModule>> {
        if let Some(m) = lock(&self.modules).get(&source) {
            return Ok(m.clone());
        }
        let key = (source, self.cc);
        let cached = lock(ptx_cache()).get(&key).cloned();
        let ptx = match cached {
            Some(p) => p,
            None => {
                let p = compile_ptx(module, src, Some(self.cc))?;
                lock(ptx_cache()).insert(key, p.clone());
                p
            }
        };
        let m = self.ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx))?;
        lock(&self.modules).insert(source, m.clone());
        Ok(m)
    }
}

/// Locks a cache; a poisoned lock still holds a consistent map (inserts are atomic).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::SourceKey;

    /// Two sources of the same length (a user's module in place of a
    /// built-in one) have different keys; one source always has the same.
    #[test]
    fn modules_are_keyed_by_source_not_name() {
        const BUILT_IN: &str = "extern \"C\" __global__ void relu_f32(float* y) { y[0] = 1.0f; }";
        const USERS: &str = "extern \"C\" __global__ void relu_f32(float* y) { y[0] = 2.0f; }";
        assert_eq!(BUILT_IN.len(), USERS.len());
        assert_ne!(SourceKey::of(BUILT_IN), SourceKey::of(USERS));
        assert_eq!(SourceKey::of(BUILT_IN), SourceKey::of(BUILT_IN));
    }
}
