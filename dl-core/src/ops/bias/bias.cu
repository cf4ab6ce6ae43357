// Per-channel bias over [outer, channels, inner].
// bias_add: y[o, c, i] += b[c], one thread per element of y (n = outer * channels * inner).
template <typename T> __device__ void bias_add_impl(const T* b, T* y, u64 n, u64 channels, u64 inner) {
    GRID_STRIDE(j, n) y[j] += b[(j / inner) % channels];
}
// bias_grad: db[c] += sum over o, i of dy[o, c, i]; one block per channel,
// each thread a fixed strided subset, then a fixed-order tree: deterministic.
template <typename T> __device__ void bias_grad_impl(const T* dy, T* db, u64 outer, u64 channels, u64 inner) {
    __shared__ T sh[BLOCK];
    u64 c = blockIdx.x;
    u64 m = outer * inner;
    T acc = (T)0;
    for (u64 k = threadIdx.x; k < m; k += BLOCK) {
        u64 o = k / inner, i = k % inner;
        acc += dy[(o * channels + c) * inner + i];
    }
    T s = block_sum(acc, sh);
    if (threadIdx.x == 0) db[c] += s;
}
#define BIAS(T, S) \
    DL_KERNEL_T(bias_add, T, S, (const T* b, T* y, u64 n, u64 channels, u64 inner), (b, y, n, channels, inner)) \
    DL_KERNEL_T(bias_grad, T, S, (const T* dy, T* db, u64 outer, u64 channels, u64 inner), (dy, db, outer, channels, inner))
BIAS(float, f32)
BIAS(double, f64)
