// Storage::fill: dst[i] = v for i < n.
template <typename T> __device__ void fill_impl(T* dst, u64 n, double v) {
    GRID_STRIDE(i, n) dst[i] = (T)v;
}
#define FILL(T, S) DL_KERNEL_T(fill, T, S, (T* dst, u64 n, double v), (dst, n, v))
FILL(float, f32)
FILL(double, f64)
FILL(unsigned int, u32)
