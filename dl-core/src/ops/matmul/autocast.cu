// The CUDA side of autocast (dl_core::amp): the roundings of the CPU's
// emulation (ops/matmul/autocast.rs, dl_core::amp), to nearest, ties to
// even, written on the bits so that both backends round alike. p: 1 bf16,
// 2 f16. The products themselves are cuBLAS's (dl_cuda::blas::gemm_low):
// 16-bit operands, f32 accumulation, f32 results.

// x rounded to bf16, in f32 (the low 16 bits rounded away; NaN kept).
__device__ __forceinline__ float amp_round_bf16(float x) {
    if (x != x) return x;
    u32 b = __float_as_uint(x);
    return __uint_as_float((b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u);
}

// x rounded to f16, in f32: 10 of the 23 mantissa bits in the normal range,
// multiples of 2^-24 below it, infinity from 65504 + half an ulp (65520).
__device__ __forceinline__ float amp_round_f16(float x) {
    if (x != x) return x;
    u32 b = __float_as_uint(x);
    u32 sign = b & 0x80000000u;
    float a = fabsf(x);
    if (a >= 65520.0f) return __uint_as_float(sign | 0x7F800000u);
    if (a >= 6.103515625e-5f) return __uint_as_float((b + 0xFFFu + ((b >> 13) & 1u)) & ~0x1FFFu);
    // The ulp of 0.5 + a is 2^-24: the addition rounds a (ties to even),
    // the subtraction is exact. __fadd_rn: never contracted or reassociated.
    float s = __fadd_rn(__fadd_rn(a, 0.5f), -0.5f);
    return __uint_as_float(__float_as_uint(s) | sign);
}

__device__ __forceinline__ float amp_round(int p, float x) {
    return p == 1 ? amp_round_bf16(x) : amp_round_f16(x);
}

// The bf16 bits of x (a NaN stays a quiet NaN of the same sign).
__device__ __forceinline__ unsigned short amp_bf16_bits(float x) {
    u32 b = __float_as_uint(amp_round_bf16(x));
    return (unsigned short)(x != x ? ((b >> 16) | 0x0040u) : (b >> 16));
}

// The f16 bits of x.
__device__ __forceinline__ unsigned short amp_f16_bits(float x) {
    u32 b = __float_as_uint(x);
    unsigned short sign = (unsigned short)((b >> 16) & 0x8000u);
    if (x != x) return sign | 0x7E00u;
    float r = fabsf(amp_round_f16(x));
    if (r == INFINITY) return sign | 0x7C00u;
    // A subnormal: r is a multiple of 2^-24 below 2^-14, so r * 2^24 is an
    // integer below 1024, converted exactly.
    if (r < 6.103515625e-5f) return sign | (unsigned short)(r * 16777216.0f);
    u32 rb = __float_as_uint(r);
    u32 e = (rb >> 23) - 127u + 15u;
    return sign | (unsigned short)((e << 10) | ((rb >> 13) & 0x3FFu));
}

// y[i] = the 16-bit bits of x[i] (p = 1 bf16, 2 f16), i < n.
extern "C" __global__ void amp_to_low(int p, const float* x, unsigned short* y, u64 n) {
    GRID_STRIDE(i, n) y[i] = p == 1 ? amp_bf16_bits(x[i]) : amp_f16_bits(x[i]);
}

// c[i * stride + j] rounded in place, for the `count` products of `size`
// elements (i < count, j < size).
extern "C" __global__ void amp_round_inplace(int p, float* c, u64 stride, u64 count, u64 size) {
    GRID_STRIDE(k, count * size) {
        u64 i = k / size, j = k % size;
        float* d = c + i * stride + j;
        *d = amp_round(p, *d);
    }
}

// dst[i * stride + j] = beta * dst[...] + round(src[i * size + j]) when
// accumulate is 1, round(src[...]) when 0 (dst is not read then: it may be
// uninitialised scratch). The same f32 operations as the CPU, unfused.
extern "C" __global__ void amp_round_into(int p, const float* src, float* dst, u64 stride, u64 count, u64 size,
                                          float beta, int accumulate) {
    GRID_STRIDE(k, count * size) {
        u64 i = k / size, j = k % size;
        float v = amp_round(p, src[k]);
        float* d = dst + i * stride + j;
        *d = accumulate ? __fadd_rn(__fmul_rn(beta, *d), v) : v;
    }
}
