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

// Sum of `v` over the block; every thread gets the result. `sh` holds BLOCK values.
template <typename T> __device__ __forceinline__ T block_sum(T v, T* sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = BLOCK / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    T r = sh[0];
    __syncthreads();
    return r;
}

// NaN-propagating max (a NaN anywhere gives NaN).
template <typename T> __device__ __forceinline__ T nan_max(T a, T b) {
    return (a != a || b != b) ? (a != a ? a : b) : (a > b ? a : b);
}

// Max of `v` over the block (NaN-propagating); every thread gets the result.
template <typename T> __device__ __forceinline__ T block_max(T v, T* sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = BLOCK / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = nan_max(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    T r = sh[0];
    __syncthreads();
    return r;
}

// Instantiates an extern "C" kernel for float (suffix f32) and double (f64):
// the op file defines `template <typename T> __device__ void NAME##_impl(ARGS)`
// and DL_FLOAT_KERNELS(NAME, PARAMS, CALL) writes NAME_f32 / NAME_f64.
#define DL_KERNEL_T(NAME, T, S, PARAMS, CALL) \
    extern "C" __global__ void NAME##_##S PARAMS { NAME##_impl<T> CALL; }
