// Element-wise tanh for the CUDA backend (see ops/util/unary.cuh).
template <typename T> __device__ __forceinline__ T tanh_f(T x, T) { return tanh(x); }
template <typename T> __device__ __forceinline__ T tanh_df(T, T y, T) { return (T)1 - y * y; }
UNARY_OP(tanh)
