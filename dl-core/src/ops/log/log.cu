// Element-wise log for the CUDA backend (see ops/util/unary.cuh).
template <typename T> __device__ __forceinline__ T log_f(T x, T) { return log(x); }
template <typename T> __device__ __forceinline__ T log_df(T x, T, T) { return (T)1 / x; }
UNARY_OP(log)
