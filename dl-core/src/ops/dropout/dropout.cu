// Dropout keep-mask: a counter-based hash of (seed, index), the exact
// SplitMix64 finaliser of `ops::dropout::keep`, so masks match the CPU's bit
// for bit. u is the top 53 bits times 2^-53 (exact in double).
__device__ __forceinline__ bool dl_keep(u64 seed, u64 i, double p) {
    u64 z = seed ^ (i * 0x9E3779B97F4A7C15ULL + 0x6A09E667F3BCC909ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    double u = (double)(z >> 11) * (1.0 / 9007199254740992.0);
    return u >= p;
}
// mask[i] = scale when kept, else 0; p <= 0 keeps all, p >= 1 drops all.
template <typename T> __device__ void dropout_mask_impl(T* mask, u64 n, u64 seed, double p, double scale) {
    GRID_STRIDE(i, n) mask[i] = (p <= 0.0 || (p < 1.0 && dl_keep(seed, i, p))) ? (T)scale : (T)0;
}
#define DROPOUT(T, S) \
    DL_KERNEL_T(dropout_mask, T, S, (T* mask, u64 n, u64 seed, double p, double scale), (mask, n, seed, p, scale))
DROPOUT(float, f32)
DROPOUT(double, f64)
