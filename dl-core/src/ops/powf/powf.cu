// Element-wise powf for the CUDA backend (see ops/util/unary.cuh).
// p = exponent; d/dx x^0 = 0 everywhere (PyTorch).
template <typename T> __device__ __forceinline__ T powf_f(T x, T p) { return pow(x, p); }
template <typename T> __device__ __forceinline__ T powf_df(T x, T, T p) { return p == (T)0 ? (T)0 : p * pow(x, p - (T)1); }
UNARY_OP(powf)
