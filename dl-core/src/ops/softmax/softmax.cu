// Row-wise softmax / log-softmax over rows of `cols`; one block per row,
// fixed-order block reductions (deterministic). fmax ignores NaN like the
// CPU's max; a NaN then still reaches every output through exp(x - m).
template <typename T> __device__ void softmax_fwd_impl(const T* x, T* y, u64 cols, int lg) {
    __shared__ T sh[BLOCK];
    const T* xr = x + blockIdx.x * cols;
    T* yr = y + blockIdx.x * cols;
    T m = -INFINITY;
    for (u64 j = threadIdx.x; j < cols; j += BLOCK) m = fmax(m, xr[j]);
    m = block_fmax(m, sh);
    T acc = (T)0;
    for (u64 j = threadIdx.x; j < cols; j += BLOCK) acc += exp(xr[j] - m);
    T s = block_sum(acc, sh);
    if (lg) {
        T ls = log(s);
        for (u64 j = threadIdx.x; j < cols; j += BLOCK) yr[j] = xr[j] - m - ls;
    } else {
        T inv = (T)1 / s;
        for (u64 j = threadIdx.x; j < cols; j += BLOCK) yr[j] = exp(xr[j] - m) * inv;
    }
}
// softmax: dx = y (dy - sum(dy y)); log-softmax: dx = dy - e^y sum(dy).
template <typename T> __device__ void softmax_bwd_impl(const T* y, const T* dy, T* dx, u64 cols, int lg) {
    __shared__ T sh[BLOCK];
    u64 off = blockIdx.x * cols;
    T acc = (T)0;
    for (u64 j = threadIdx.x; j < cols; j += BLOCK) acc += lg ? dy[off + j] : dy[off + j] * y[off + j];
    T s = block_sum(acc, sh);
    for (u64 j = threadIdx.x; j < cols; j += BLOCK) {
        u64 i = off + j;
        dx[i] = lg ? dy[i] - exp(y[i]) * s : y[i] * (dy[i] - s);
    }
}
#define SOFTMAX(T, S) \
    DL_KERNEL_T(softmax_fwd, T, S, (const T* x, T* y, u64 cols, int lg), (x, y, cols, lg)) \
    DL_KERNEL_T(softmax_bwd, T, S, (const T* y, const T* dy, T* dx, u64 cols, int lg), (y, dy, dx, cols, lg))
SOFTMAX(float, f32)
SOFTMAX(double, f64)
