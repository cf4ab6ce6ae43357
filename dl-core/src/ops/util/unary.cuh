// Element-wise unary ops: an op file defines
//   template <typename T> __device__ T NAME_f(T x, T p);        // y = f(x)
//   template <typename T> __device__ T NAME_df(T x, T y, T p);  // f'(x)
// (`p` is the op's scalar parameter, UnaryOp::param) and writes UNARY_OP(NAME),
// which instantiates NAME_fwd_{f32,f64}(x, y, n, p) and
// NAME_bwd_{f32,f64}(x, y, dy, dx, n, p) with dx = dy * f'(x).
#define UNARY_OP_T(NAME, T, S) \
    extern "C" __global__ void NAME##_fwd_##S(const T* x, T* y, u64 n, double p) { \
        GRID_STRIDE(i, n) y[i] = NAME##_f<T>(x[i], (T)p); \
    } \
    extern "C" __global__ void NAME##_bwd_##S(const T* x, const T* y, const T* dy, T* dx, u64 n, double p) { \
        GRID_STRIDE(i, n) dx[i] = dy[i] * NAME##_df<T>(x[i], y[i], (T)p); \
    }
#define UNARY_OP(NAME) UNARY_OP_T(NAME, float, f32) UNARY_OP_T(NAME, double, f64)
