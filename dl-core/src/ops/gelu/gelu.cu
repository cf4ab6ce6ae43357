// Element-wise gelu for the CUDA backend (see ops/util/unary.cuh).
// Exact GELU (erf) and its tanh approximation.
template <typename T> __device__ __forceinline__ T gelu_f(T x, T) {
    return (T)0.5 * x * ((T)1 + erf(x * (T)0.70710678118654752440));
}
template <typename T> __device__ __forceinline__ T gelu_df(T x, T, T) {
    T cdf = (T)0.5 * ((T)1 + erf(x * (T)0.70710678118654752440));
    T pdf = (T)0.3989422804014327 * exp((T)-0.5 * x * x);
    return cdf + x * pdf;
}
UNARY_OP(gelu)
template <typename T> __device__ __forceinline__ T gelu_tanh_f(T x, T) {
    T u = (T)0.7978845608028654 * (x + (T)0.044715 * x * x * x);
    return (T)0.5 * x * ((T)1 + tanh(u));
}
template <typename T> __device__ __forceinline__ T gelu_tanh_df(T x, T, T) {
    T k = (T)0.7978845608028654;
    T t = tanh(k * (x + (T)0.044715 * x * x * x));
    T du = k * ((T)1 + (T)(3.0 * 0.044715) * x * x);
    return (T)0.5 * ((T)1 + t) + (T)0.5 * x * ((T)1 - t * t) * du;
}
UNARY_OP(gelu_tanh)
