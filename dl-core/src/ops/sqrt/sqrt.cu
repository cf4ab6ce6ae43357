// Element-wise sqrt for the CUDA backend (see ops/util/unary.cuh).
template <typename T> __device__ __forceinline__ T sqrt_f(T x, T) { return sqrt(x); }
template <typename T> __device__ __forceinline__ T sqrt_df(T, T y, T) { return (T)0.5 / y; }
UNARY_OP(sqrt)
