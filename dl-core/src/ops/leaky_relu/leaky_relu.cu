// Element-wise leaky_relu for the CUDA backend (see ops/util/unary.cuh).
// p = slope.
template <typename T> __device__ __forceinline__ T leaky_relu_f(T x, T p) { return x > (T)0 ? x : x * p; }
template <typename T> __device__ __forceinline__ T leaky_relu_df(T x, T, T p) { return x > (T)0 ? (T)1 : p; }
UNARY_OP(leaky_relu)
