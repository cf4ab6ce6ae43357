// 2-D pooling over planes of h x w; windows start at o * stride - pad and
// are clipped to the plane (as the CPU's `window`).
__device__ __forceinline__ void pool_window(u64 o, u64 len, u64 k, u64 stride, u64 pad, u64* lo, u64* hi) {
    u64 start = o * stride;
    u64 l = start > pad ? start - pad : 0;
    u64 e = start + k > pad ? start + k - pad : 0;
    if (e > len) e = len;
    *lo = l;
    *hi = e > l ? e : l;
}
// Outputs o (0 <= o < out) whose window holds input position i: o in [lo, hi).
__device__ __forceinline__ void pool_covering(u64 i, u64 out, u64 k, u64 stride, u64 pad, u64* lo, u64* hi) {
    u64 t = i + pad;
    u64 l = t + 1 > k ? (t + 1 - k + stride - 1) / stride : 0;
    u64 e = t / stride + 1;
    if (e > out) e = out;
    *lo = l;
    *hi = e > l ? e : l;
}
// Max pooling, one thread per output: the first maximum, or the last NaN
// (the CPU's `v > best || isnan(v)`); argmax = iy * w + ix in the plane.
template <typename T> __device__ void maxpool_fwd_impl(const T* x, T* y, u32* argmax, u64 planes, u64 h, u64 w, u64 k, u64 stride,
                                                       u64 pad, u64 oh, u64 ow) {
    GRID_STRIDE(e, planes * oh * ow) {
        u64 ox = e % ow, oy = (e / ow) % oh, p = e / (ow * oh);
        u64 ylo, yhi, xlo, xhi;
        pool_window(oy, h, k, stride, pad, &ylo, &yhi);
        pool_window(ox, w, k, stride, pad, &xlo, &xhi);
        const T* xp = x + p * h * w;
        T best = (T)-INFINITY;
        u64 at = ylo * w + xlo;
        for (u64 iy = ylo; iy < yhi; iy++)
            for (u64 ix = xlo; ix < xhi; ix++) {
                T v = xp[iy * w + ix];
                if (v > best || v != v) {
                    best = v;
                    at = iy * w + ix;
                }
            }
        y[e] = best;
        argmax[e] = (u32)at;
    }
}
// dx[p, i] = sum of dy over the outputs (in output order) whose argmax is i:
// a gather over the covering windows, the CPU's per-element order.
template <typename T> __device__ void maxpool_bwd_impl(const u32* argmax, const T* dy, T* dx, u64 planes, u64 h, u64 w, u64 k,
                                                       u64 stride, u64 pad, u64 oh, u64 ow) {
    GRID_STRIDE(e, planes * h * w) {
        u64 ix = e % w, iy = (e / w) % h, p = e / (w * h);
        u64 ylo, yhi, xlo, xhi;
        pool_covering(iy, oh, k, stride, pad, &ylo, &yhi);
        pool_covering(ix, ow, k, stride, pad, &xlo, &xhi);
        u32 me = (u32)(iy * w + ix);
        T acc = (T)0;
        for (u64 oy = ylo; oy < yhi; oy++)
            for (u64 ox = xlo; ox < xhi; ox++) {
                u64 o = (p * oh + oy) * ow + ox;
                if (argmax[o] == me) acc += dy[o];
            }
        dx[e] = acc;
    }
}
// Average pooling (count_include_pad): window sum in row order times 1/(k*k).
template <typename T> __device__ void avgpool_fwd_impl(const T* x, T* y, u64 planes, u64 h, u64 w, u64 k, u64 stride, u64 pad,
                                                       u64 oh, u64 ow) {
    T inv = (T)1 / (T)(k * k);
    GRID_STRIDE(e, planes * oh * ow) {
        u64 ox = e % ow, oy = (e / ow) % oh, p = e / (ow * oh);
        u64 ylo, yhi, xlo, xhi;
        pool_window(oy, h, k, stride, pad, &ylo, &yhi);
        pool_window(ox, w, k, stride, pad, &xlo, &xhi);
        const T* xp = x + p * h * w;
        T acc = (T)0;
        for (u64 iy = ylo; iy < yhi; iy++)
            for (u64 ix = xlo; ix < xhi; ix++) acc += xp[iy * w + ix];
        y[e] = acc * inv;
    }
}
// dx[p, i] = sum over covering outputs (output order) of dy / (k*k).
template <typename T> __device__ void avgpool_bwd_impl(const T* dy, T* dx, u64 planes, u64 h, u64 w, u64 k, u64 stride, u64 pad,
                                                       u64 oh, u64 ow) {
    T inv = (T)1 / (T)(k * k);
    GRID_STRIDE(e, planes * h * w) {
        u64 ix = e % w, iy = (e / w) % h, p = e / (w * h);
        u64 ylo, yhi, xlo, xhi;
        pool_covering(iy, oh, k, stride, pad, &ylo, &yhi);
        pool_covering(ix, ow, k, stride, pad, &xlo, &xhi);
        T acc = (T)0;
        for (u64 oy = ylo; oy < yhi; oy++)
            for (u64 ox = xlo; ox < xhi; ox++) {
                T g = dy[(p * oh + oy) * ow + ox] * inv;
                acc += g;
            }
        dx[e] = acc;
    }
}
// Global average: one block per plane, fixed-order tree sum.
template <typename T> __device__ void gap_fwd_impl(const T* x, T* y, u64 hw) {
    __shared__ T sh[BLOCK];
    const T* xp = x + (u64)blockIdx.x * hw;
    T acc = (T)0;
    for (u64 j = threadIdx.x; j < hw; j += BLOCK) acc += xp[j];
    T s = block_sum(acc, sh);
    if (threadIdx.x == 0) y[blockIdx.x] = hw == 0 ? (T)0 : s * ((T)1 / (T)hw);
}
template <typename T> __device__ void gap_bwd_impl(const T* dy, T* dx, u64 planes, u64 hw) {
    T inv = (T)1 / (T)hw;
    GRID_STRIDE(e, planes * hw) dx[e] = dy[e / hw] * inv;
}
#define POOL_ARGS u64 planes, u64 h, u64 w, u64 k, u64 stride, u64 pad, u64 oh, u64 ow
#define POOL_CALL planes, h, w, k, stride, pad, oh, ow
#define POOL2D(T, S) \
    DL_KERNEL_T(maxpool_fwd, T, S, (const T* x, T* y, u32* argmax, POOL_ARGS), (x, y, argmax, POOL_CALL)) \
    DL_KERNEL_T(maxpool_bwd, T, S, (const u32* argmax, const T* dy, T* dx, POOL_ARGS), (argmax, dy, dx, POOL_CALL)) \
    DL_KERNEL_T(avgpool_fwd, T, S, (const T* x, T* y, POOL_ARGS), (x, y, POOL_CALL)) \
    DL_KERNEL_T(avgpool_bwd, T, S, (const T* dy, T* dx, POOL_ARGS), (dy, dx, POOL_CALL)) \
    DL_KERNEL_T(gap_fwd, T, S, (const T* x, T* y, u64 hw), (x, y, hw)) \
    DL_KERNEL_T(gap_bwd, T, S, (const T* dy, T* dx, u64 planes, u64 hw), (dy, dx, planes, hw))
POOL2D(float, f32)
POOL2D(double, f64)
