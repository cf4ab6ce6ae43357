//! Runtime checks that run with or without CUDA: the probe never panics, and
//! NVRTC (when its library loads) compiles a kernel.

use cudarc::driver::PushKernelArg;
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
        dl_cuda::skip_nvrtc_test("NVRTC library not found: put libnvrtc.so.13 or .so.12 on LD_LIBRARY_PATH (scripts/install-nvrtc.sh installs it and prints the folder)");
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

/// Two modules with the same name and different sources are two modules:
/// a caller that names its module like a built-in one (`"fill"`) still runs
/// its own kernel. The module cache is keyed by source, not by name.
#[test]
fn same_module_name_different_source_runs_each_source() {
    let dev = match CudaDevice::new(0) {
        Ok(d) => d,
        Err(e) => {
            dl_cuda::skip_test(&format!("needs a GPU ({e})"));
            return;
        }
    };
    const ONE: &str = r#"extern "C" __global__ void k(float* y) { y[0] = 1.0f; }"#;
    const TWO: &str = r#"extern "C" __global__ void k(float* y) { y[0] = 2.0f; }"#;
    let mut seen = Vec::new();
    for src in [ONE, TWO, ONE] {
        let f = dev.function("fill", src, "k").expect("compiles and loads");
        let stream = dev.stream();
        let mut y = stream.alloc_zeros::<f32>(1).unwrap();
        let mut launch = stream.launch_builder(&f);
        launch.arg(&mut y);
        // SAFETY: `k` takes one float pointer and writes its first element.
        unsafe { launch.launch(cudarc::driver::LaunchConfig::for_num_elems(1)) }.unwrap();
        seen.push(stream.clone_dtoh(&y).unwrap()[0]);
    }
    assert_eq!(seen, vec![1.0, 2.0, 1.0]);
}
