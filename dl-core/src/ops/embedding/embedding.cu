// Embedding lookup over float-typed token ids (as `token_index`: an id is
// valid when 0 <= v < vocab and v is an integer).
__device__ __forceinline__ long long emb_index(double v, u64 vocab) {
    return (v >= 0.0 && v < (double)vocab && trunc(v) == v) ? (long long)v : -1;
}
// y[t, j] = w[ids[t], j] (NaN for an invalid id); one thread per element of y.
template <typename T> __device__ void embedding_fwd_impl(const T* ids, const T* w, T* y, u64 tokens, u64 vocab, u64 dim) {
    GRID_STRIDE(e, tokens * dim) {
        u64 t = e / dim, j = e % dim;
        long long r = emb_index((double)ids[t], vocab);
        y[e] = r < 0 ? (T)nan("") : w[(u64)r * dim + j];
    }
}
// Number of invalid ids into *bad (integer atomics: exact and order-free).
template <typename T> __device__ void embedding_invalid_impl(const T* ids, u64 tokens, u64 vocab, u32* bad) {
    GRID_STRIDE(t, tokens) {
        if (emb_index((double)ids[t], vocab) < 0) atomicAdd(bad, 1u);
    }
}
// dw[ids[t], j] += dy[t, j]: one thread per column j walks the tokens in
// order, so repeated ids add in token order exactly as on the CPU.
template <typename T> __device__ void embedding_bwd_impl(const T* ids, const T* dy, T* dw, u64 tokens, u64 vocab, u64 dim) {
    GRID_STRIDE(j, dim) {
        for (u64 t = 0; t < tokens; t++) {
            long long r = emb_index((double)ids[t], vocab);
            if (r >= 0) dw[(u64)r * dim + j] += dy[t * dim + j];
        }
    }
}
#define EMBEDDING(T, S) \
    DL_KERNEL_T(embedding_fwd, T, S, (const T* ids, const T* w, T* y, u64 tokens, u64 vocab, u64 dim), \
                (ids, w, y, tokens, vocab, dim)) \
    DL_KERNEL_T(embedding_invalid, T, S, (const T* ids, u64 tokens, u64 vocab, u32* bad), (ids, tokens, vocab, bad)) \
    DL_KERNEL_T(embedding_bwd, T, S, (const T* ids, const T* dy, T* dw, u64 tokens, u64 vocab, u64 dim), \
                (ids, dy, dw, tokens, vocab, dim))
EMBEDDING(float, f32)
EMBEDDING(double, f64)
