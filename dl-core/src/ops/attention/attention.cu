// Attention plumbing: masked softmax in place over rows of [count, tq, tk]
// (one block per row, fixed-order reductions) and the head permutations.
// Allowed keys of query i: AttnMask::key_range (causal: j <= i; window w:
// |i - j| <= w), computed with saturating arithmetic.
__device__ __forceinline__ void attn_key_range(u64 i, u64 tk, int causal, int has_window, u64 wnd, u64* lo, u64* hi) {
    u64 l = 0, h = tk;
    if (causal && i + 1 < h) h = i + 1;
    if (has_window) {
        l = i > wnd ? i - wnd : 0;
        u64 up = wnd > ~0ULL - i - 1 ? ~0ULL : i + wnd + 1;
        if (up < h) h = up;
    }
    *lo = l < h ? l : h;
    *hi = h;
}
template <typename T> __device__ void masked_softmax_fwd_impl(T* s, u64 tq, u64 tk, int causal, int has_window, u64 wnd) {
    __shared__ T sh[BLOCK];
    u64 row = blockIdx.x;
    T* r = s + row * tk;
    u64 lo, hi;
    attn_key_range(row % tq, tk, causal, has_window, wnd, &lo, &hi);
    if (lo >= hi) {
        for (u64 j = threadIdx.x; j < tk; j += BLOCK) r[j] = (T)0;
        return;
    }
    // fmax skips NaN like the CPU's max; a NaN still reaches the sum.
    T m = -INFINITY;
    for (u64 j = lo + threadIdx.x; j < hi; j += BLOCK) m = fmax(m, r[j]);
    m = block_fmax(m, sh);
    T acc = (T)0;
    for (u64 j = lo + threadIdx.x; j < hi; j += BLOCK) acc += exp(r[j] - m);
    T inv = (T)1 / block_sum(acc, sh);
    // The reads above ended at block_sum's barrier; each element is now read and written by one thread.
    for (u64 j = threadIdx.x; j < tk; j += BLOCK) r[j] = (j >= lo && j < hi) ? exp(r[j] - m) * inv : (T)0;
}
// dp <- p (dp - sum_k p dp) on allowed keys, 0 elsewhere.
template <typename T> __device__ void masked_softmax_bwd_impl(const T* p, T* dp, u64 tq, u64 tk, int causal, int has_window,
                                                              u64 wnd) {
    __shared__ T sh[BLOCK];
    u64 row = blockIdx.x, off = row * tk;
    u64 lo, hi;
    attn_key_range(row % tq, tk, causal, has_window, wnd, &lo, &hi);
    T acc = (T)0;
    for (u64 j = lo + threadIdx.x; j < hi; j += BLOCK) acc += p[off + j] * dp[off + j];
    T dot = block_sum(acc, sh);
    for (u64 j = threadIdx.x; j < tk; j += BLOCK)
        dp[off + j] = (j >= lo && j < hi) ? p[off + j] * (dp[off + j] - dot) : (T)0;
}
// dst[h, n, t, j] = src[n, t, (chunk * heads + h) * dh + j], one thread per dst element.
template <typename T> __device__ void split_heads_impl(const T* src, T* dst, u64 n, u64 t, u64 heads, u64 dh, u64 chunks,
                                                       u64 chunk) {
    u64 width = chunks * heads * dh;
    GRID_STRIDE(e, heads * n * t * dh) {
        u64 j = e % dh, tt = (e / dh) % t, nn = (e / (dh * t)) % n, h = e / (dh * t * n);
        dst[e] = src[(nn * t + tt) * width + (chunk * heads + h) * dh + j];
    }
}
// The inverse: chunk `chunk` of the packed dst from the head-major src.
template <typename T> __device__ void merge_heads_impl(const T* src, T* dst, u64 n, u64 t, u64 heads, u64 dh, u64 chunks,
                                                       u64 chunk) {
    u64 width = chunks * heads * dh;
    GRID_STRIDE(e, heads * n * t * dh) {
        u64 j = e % dh, tt = (e / dh) % t, nn = (e / (dh * t)) % n, h = e / (dh * t * n);
        dst[(nn * t + tt) * width + (chunk * heads + h) * dh + j] = src[e];
    }
}
#define HEAD_ARGS u64 n, u64 t, u64 heads, u64 dh, u64 chunks, u64 chunk
#define HEAD_CALL n, t, heads, dh, chunks, chunk
#define ATTENTION(T, S) \
    DL_KERNEL_T(masked_softmax_fwd, T, S, (T* s, u64 tq, u64 tk, int causal, int has_window, u64 wnd), \
                (s, tq, tk, causal, has_window, wnd)) \
    DL_KERNEL_T(masked_softmax_bwd, T, S, (const T* p, T* dp, u64 tq, u64 tk, int causal, int has_window, u64 wnd), \
                (p, dp, tq, tk, causal, has_window, wnd)) \
    DL_KERNEL_T(split_heads, T, S, (const T* src, T* dst, HEAD_ARGS), (src, dst, HEAD_CALL)) \
    DL_KERNEL_T(merge_heads, T, S, (const T* src, T* dst, HEAD_ARGS), (src, dst, HEAD_CALL))
ATTENTION(float, f32)
ATTENTION(double, f64)
