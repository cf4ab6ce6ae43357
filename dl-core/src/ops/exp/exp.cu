// Element-wise exp for the CUDA backend (see ops/util/unary.cuh).
template <typename T> __device__ __forceinline__ T exp_f(T x, T) { return exp(x); }
template <typename T> __device__ __forceinline__ T exp_df(T, T y, T) { return y; }
UNARY_OP(exp)
