//! Runtime checks that run with or without CUDA: the probe never panics, and
//! NVRTC (when its library loads) compiles a kernel.

use dl_cuda::{compile_ptx, probe, CudaDevice, CudaError};

#[test]
fn probe_and_open_never_panic() {
    match probe(0) {
        Ok(n) => {
            let dev = CudaDevice::new(0).expect("probe passed, so the device opens");
            println!("cuda: {n} device(s); cuda:0 = {dev:?}");
            assert!(matches!(probe(n), Err(CudaError::NoDevice { .. })));
        }
        Err(e) => {
            dl_cuda::skip_test(&format!("device part: no CUDA driver/GPU ({e})"));
            assert!(CudaDevice::new(0).is_err(), "open must fail like the probe");
        }
    }
}

#[test]
fn nvrtc_compiles_a_kernel() {
    if !dl_cuda::nvrtc_present() {
        dl_cuda::skip_test("NVRTC library not found (set LD_LIBRARY_PATH to a folder with libnvrtc.so.13 or .so.12)");
        return;
    }
    let src = r#"extern "C" __global__ void axpy(float a, const float* x, float* y, unsigned n) {
        unsigned i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] += a * x[i]; }"#;
    let ptx = compile_ptx("axpy_test", src, Some((9, 0))).unwrap();
    assert!(ptx.contains(".entry axpy"), "{ptx}");
    let err = compile_ptx("broken", "this is not CUDA", None).unwrap_err();
    assert!(
        matches!(err, CudaError::Compile { ref log, .. } if !log.is_empty()),
        "{err}"
    );
}
