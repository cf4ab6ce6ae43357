// Shared device helpers, prepended to every kernel module of dl-core.
// Kernels index with 64-bit counters and grid-stride loops; block
// reductions assume blockDim.x == 256 (BLOCK) and reduce in a fixed
// tree order, so results are deterministic.
typedef unsigned long long u64;
typedef unsigned int u32;
#define BLOCK 256
// NVRTC has no <math.h>: +inf as a float (converts exactly to double).
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#define GRID_STRIDE(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (u64)(n); i += (u64)blockDim.x * gridDim.x)

// Reduces `v` over the block with `op`, in a fixed tree order; every
// thread gets the result. `sh` holds BLOCK values.
template <typename T, typename Op> __device__ __forceinline__ T block_reduce(T v, T* sh, Op op) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = BLOCK / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = op(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    T r = sh[0];
    __syncthreads();
    return r;
}

// Sum of `v` over the block; every thread gets the result.
template <typename T> __device__ __forceinline__ T block_sum(T v, T* sh) {
    return block_reduce(v, sh, [](T a, T b) { return a + b; });
}

// Max of `v` over the block skipping NaN (`fmax`); every thread gets the result.
template <typename T> __device__ __forceinline__ T block_fmax(T v, T* sh) {
    return block_reduce(v, sh, [](T a, T b) { return fmax(a, b); });
}

// Mean and biased variance, in double, of the `m` values `at(k)` (k < m):
// each thread sums a strided subset, then a fixed-order block sum; two
// passes (mean, then squared deviations). Both are 0 when `m` is 0.
template <typename F> __device__ __forceinline__ void block_mean_var(u64 m, F at, double* sh, double* mean, double* var) {
    double s = 0.0;
    for (u64 k = threadIdx.x; k < m; k += BLOCK) s += at(k);
    double mu = m == 0 ? 0.0 : block_sum(s, sh) / (double)m;
    double ss = 0.0;
    for (u64 k = threadIdx.x; k < m; k += BLOCK) {
        double t = at(k) - mu;
        ss += t * t;
    }
    *mean = mu;
    *var = m == 0 ? 0.0 : block_sum(ss, sh) / (double)m;
}

// Instantiates an extern "C" kernel for float (suffix f32) and double (f64):
// the op file defines `template <typename T> __device__ void NAME##_impl(ARGS)`
// and DL_FLOAT_KERNELS(NAME, PARAMS, CALL) writes NAME_f32 / NAME_f64.
#define DL_KERNEL_T(NAME, T, S, PARAMS, CALL) \
    extern "C" __global__ void NAME##_##S PARAMS { NAME##_impl<T> CALL; }
