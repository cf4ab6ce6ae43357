// Reductions over the middle axis of [outer, axis, inner]; one thread per
// output (o, i), summing in axis order like the CPU. r: 0 sum, 1 mean, 2 max.
// Max: the first NaN wins, else the first maximum; -inf over an empty axis.
template <typename T> __device__ __forceinline__ long long reduce_argmax(const T* x, u64 axis, u64 inner) {
    long long best = -1;
    T bv = (T)0;
    for (u64 a = 0; a < axis; a++) {
        T v = x[a * inner];
        if (v != v) return (long long)a;
        if (best < 0 || v > bv) { best = (long long)a; bv = v; }
    }
    return best;
}
template <typename T> __device__ void reduce_fwd_impl(int r, const T* x, T* y, u64 outer, u64 axis, u64 inner) {
    GRID_STRIDE(k, outer * inner) {
        u64 o = k / inner, i = k % inner;
        const T* xs = x + o * axis * inner + i;
        if (r == 2) {
            long long a = reduce_argmax(xs, axis, inner);
            y[k] = a < 0 ? (T)-INFINITY : xs[a * inner];
        } else {
            T s = (T)0;
            for (u64 a = 0; a < axis; a++) s += xs[a * inner];
            y[k] = r == 1 ? s / (T)axis : s;
        }
    }
}
// One thread per (o, i) column writes all of dx[o, :, i].
template <typename T> __device__ void reduce_bwd_impl(int r, const T* x, const T* dy, T* dx, u64 outer, u64 axis, u64 inner) {
    GRID_STRIDE(k, outer * inner) {
        u64 o = k / inner, i = k % inner;
        u64 base = o * axis * inner + i;
        T g = dy[k];
        if (r == 2) {
            long long am = reduce_argmax(x + base, axis, inner);
            for (u64 a = 0; a < axis; a++) dx[base + a * inner] = (long long)a == am ? g : (T)0;
        } else {
            T v = r == 1 ? g * ((T)1 / (T)axis) : g;
            for (u64 a = 0; a < axis; a++) dx[base + a * inner] = v;
        }
    }
}
#define REDUCE(T, S) \
    DL_KERNEL_T(reduce_fwd, T, S, (int r, const T* x, T* y, u64 outer, u64 axis, u64 inner), (r, x, y, outer, axis, inner)) \
    DL_KERNEL_T(reduce_bwd, T, S, (int r, const T* x, const T* dy, T* dx, u64 outer, u64 axis, u64 inner), \
                (r, x, dy, dx, outer, axis, inner))
REDUCE(float, f32)
REDUCE(double, f64)
