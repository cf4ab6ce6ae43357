// y[i] += alpha * x[i] for i < n.
template <typename T> __device__ void axpy_impl(double alpha, const T* x, T* y, u64 n) {
    T a = (T)alpha;
    GRID_STRIDE(i, n) y[i] += a * x[i];
}
DL_KERNEL_T(axpy, float, f32, (double alpha, const float* x, float* y, u64 n), (alpha, x, y, n))
DL_KERNEL_T(axpy, double, f64, (double alpha, const double* x, double* y, u64 n), (alpha, x, y, n))
