// Element-wise relu for the CUDA backend (see ops/util/unary.cuh).
template <typename T> __device__ __forceinline__ T relu_f(T x, T) { return (x > (T)0 || x != x) ? x : (T)0; }
template <typename T> __device__ __forceinline__ T relu_df(T x, T, T) { return x > (T)0 ? (T)1 : (T)0; }
UNARY_OP(relu)
