// Reductions over the middle axis of [outer, axis, inner]. r: 0 sum, 1 mean,
// 2 max. Max: the first NaN wins, else the first maximum; -inf over an
// empty axis. Two shapes of kernel:
// - reduce_fwd / reduce_bwd: one thread per output (o, i), in axis order
//   like the CPU; for many outputs over a short axis;
// - reduce_block_fwd / reduce_block_bwd: one block per output, its BLOCK
//   threads striding over the axis, then a fixed tree (deterministic); for
//   few outputs over a long axis (a whole weight matrix: one output).
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
// Whether element a (value va) comes before element b (value vb) as the
// maximum: NaN first, then the larger value, then the lower index; an index
// below 0 is "none yet".
template <typename T> __device__ __forceinline__ bool max_before(long long a, T va, long long b, T vb) {
    if (a < 0) return false;
    if (b < 0) return true;
    bool na = va != va, nb = vb != vb;
    if (na || nb) return na && (!nb || a < b);
    return va > vb || (va == vb && a < b);
}
// The position of the first NaN, else of the first maximum, of xs[a * inner]
// (a < axis), by the whole block; every thread gets it (-1 when axis is 0).
template <typename T> __device__ long long block_argmax(const T* xs, u64 axis, u64 inner, long long* sh) {
    long long best = -1;
    T bv = (T)0;
    for (u64 a = threadIdx.x; a < axis; a += BLOCK) {
        T v = xs[a * inner];
        if (max_before((long long)a, v, best, bv)) { best = (long long)a; bv = v; }
    }
    return block_reduce(best, sh, [xs, inner](long long p, long long q) {
        T vp = p < 0 ? (T)0 : xs[(u64)p * inner], vq = q < 0 ? (T)0 : xs[(u64)q * inner];
        return max_before(q, vq, p, vp) ? q : p;
    });
}
// One block per output k = (o, i), blocks striding over the outputs.
template <typename T> __device__ void reduce_block_fwd_impl(int r, const T* x, T* y, u64 outer, u64 axis, u64 inner) {
    __shared__ double shd[BLOCK];
    __shared__ long long shi[BLOCK];
    for (u64 k = blockIdx.x; k < outer * inner; k += gridDim.x) {
        u64 o = k / inner, i = k % inner;
        const T* xs = x + o * axis * inner + i;
        if (r == 2) {
            long long a = block_argmax(xs, axis, inner, shi);
            if (threadIdx.x == 0) y[k] = a < 0 ? (T)-INFINITY : xs[(u64)a * inner];
        } else {
            double s = 0.0;
            for (u64 a = threadIdx.x; a < axis; a += BLOCK) s += (double)xs[a * inner];
            s = block_sum(s, shd);
            if (threadIdx.x == 0) y[k] = (T)(r == 1 ? s / (double)axis : s);
        }
    }
}
// One block per output column writes dx[o, :, i], its threads striding.
template <typename T> __device__ void reduce_block_bwd_impl(int r, const T* x, const T* dy, T* dx, u64 outer, u64 axis, u64 inner) {
    __shared__ long long shi[BLOCK];
    for (u64 k = blockIdx.x; k < outer * inner; k += gridDim.x) {
        u64 o = k / inner, i = k % inner;
        u64 base = o * axis * inner + i;
        T g = dy[k];
        if (r == 2) {
            long long am = block_argmax(x + base, axis, inner, shi);
            for (u64 a = threadIdx.x; a < axis; a += BLOCK) dx[base + a * inner] = (long long)a == am ? g : (T)0;
        } else {
            T v = r == 1 ? g * ((T)1 / (T)axis) : g;
            for (u64 a = threadIdx.x; a < axis; a += BLOCK) dx[base + a * inner] = v;
        }
    }
}
#define REDUCE(T, S) \
    DL_KERNEL_T(reduce_block_fwd, T, S, (int r, const T* x, T* y, u64 outer, u64 axis, u64 inner), (r, x, y, outer, axis, inner)) \
    DL_KERNEL_T(reduce_block_bwd, T, S, (int r, const T* x, const T* dy, T* dx, u64 outer, u64 axis, u64 inner), \
                (r, x, dy, dx, outer, axis, inner)) \
    DL_KERNEL_T(reduce_fwd, T, S, (int r, const T* x, T* y, u64 outer, u64 axis, u64 inner), (r, x, y, outer, axis, inner)) \
    DL_KERNEL_T(reduce_bwd, T, S, (int r, const T* x, const T* dy, T* dx, u64 outer, u64 axis, u64 inner), \
                (r, x, dy, dx, outer, axis, inner))
REDUCE(float, f32)
REDUCE(double, f64)
