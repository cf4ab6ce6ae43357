// Element-wise sigmoid for the CUDA backend (see ops/util/unary.cuh).
// Two branches so that exp never overflows.
template <typename T> __device__ __forceinline__ T sigmoid_f(T x, T) {
    if (x >= (T)0) return (T)1 / ((T)1 + exp(-x));
    T e = exp(x);
    return e / ((T)1 + e);
}
template <typename T> __device__ __forceinline__ T sigmoid_df(T, T y, T) { return y * ((T)1 - y); }
UNARY_OP(sigmoid)
