// Fused optimizer updates, element-wise in T with the CPU's operations in
// the CPU's order (constants arrive as double and are rounded to T, as the
// CPU's E::from_f64). Unused state pointers are never dereferenced.
template <typename T> __device__ void sgd_update_impl(T* p, const T* g, T* buf, u64 n, double lr_, double m_, double damp_,
                                                      double wd_, int use_m, int use_wd, int first, int nesterov) {
    T lr = (T)lr_, m = (T)m_, damp = (T)damp_, wd = (T)wd_;
    GRID_STRIDE(i, n) {
        T d = use_wd ? g[i] + wd * p[i] : g[i];
        if (use_m) {
            T b = first ? d : m * buf[i] + damp * d;
            buf[i] = b;
            d = nesterov ? d + m * b : b;
        }
        p[i] -= lr * d;
    }
}
template <typename T> __device__ void adagrad_update_impl(T* p, const T* g, T* sum, u64 n, double clr_, double eps_, double wd_,
                                                          int use_wd) {
    T clr = (T)clr_, eps = (T)eps_, wd = (T)wd_;
    GRID_STRIDE(i, n) {
        T d = use_wd ? g[i] + wd * p[i] : g[i];
        T s = sum[i] + d * d;
        sum[i] = s;
        T sd = sqrt(s) + eps;
        p[i] -= clr * (d / sd);
    }
}
template <typename T> __device__ void rmsprop_update_impl(T* p, const T* g, T* sq, T* buf, T* ga, u64 n, double lr_, double alpha_,
                                                          double oma_, double eps_, double wd_, double m_, int use_m,
                                                          int centered, int use_wd) {
    T lr = (T)lr_, alpha = (T)alpha_, oma = (T)oma_, eps = (T)eps_, wd = (T)wd_, m = (T)m_;
    GRID_STRIDE(i, n) {
        T d = use_wd ? g[i] + wd * p[i] : g[i];
        T s = alpha * sq[i] + oma * d * d;
        sq[i] = s;
        T avg;
        if (centered) {
            T a = ga[i];
            a += oma * (d - a);
            ga[i] = a;
            avg = sqrt(s - a * a) + eps;
        } else {
            avg = sqrt(s) + eps;
        }
        if (use_m) {
            T b = m * buf[i] + d / avg;
            buf[i] = b;
            p[i] -= lr * b;
        } else {
            p[i] -= lr * (d / avg);
        }
    }
}
template <typename T> __device__ void adam_update_impl(T* p, const T* g, T* m, T* v, T* vmax, u64 n, double step_size_,
                                                       double bc2_sqrt_, double shrink_, double eps_, double wd_, double b1c_,
                                                       double b2_, double b2c_, int use_wd, int decoupled, int amsgrad) {
    T step_size = (T)step_size_, bc2_sqrt = (T)bc2_sqrt_, shrink = (T)shrink_, eps = (T)eps_, wd = (T)wd_;
    T b1c = (T)b1c_, b2 = (T)b2_, b2c = (T)b2c_;
    GRID_STRIDE(i, n) {
        T d = g[i], pi = p[i];
        if (use_wd) {
            if (decoupled) pi *= shrink;
            else d = g[i] + wd * pi;
        }
        T mi = m[i];
        mi += b1c * (d - mi);
        m[i] = mi;
        T vi = b2 * v[i] + b2c * d * d;
        v[i] = vi;
        if (amsgrad) {
            vi = fmax(vmax[i], vi);
            vmax[i] = vi;
        }
        T denom = sqrt(vi) / bc2_sqrt + eps;
        p[i] = pi - step_size * (mi / denom);
    }
}
// part[block] = fixed-order sum of x^2 (abs = 0) or |x| (abs = 1), in double.
template <typename T> __device__ void sum_sq_abs_impl(const T* x, u64 n, int absolute, double* part) {
    __shared__ double sh[BLOCK];
    double acc = 0.0;
    GRID_STRIDE(i, n) {
        double v = (double)x[i];
        acc += absolute ? fabs(v) : v * v;
    }
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}
template <typename T> __device__ void scale_impl(T* x, u64 n, double s_) {
    T s = (T)s_;
    GRID_STRIDE(i, n) x[i] *= s;
}
// g += lambda sign(w) (kind 0, sign(0) = 0) or lambda w (kind 1).
template <typename T> __device__ void penalty_grad_impl(const T* w, T* g, u64 n, int kind, double lambda_) {
    T l = (T)lambda_;
    GRID_STRIDE(i, n) {
        T wi = w[i];
        g[i] += kind == 0 ? (wi > (T)0 ? l : (wi < (T)0 ? -l : (T)0)) : l * wi;
    }
}
#define OPTIM(T, S) \
    DL_KERNEL_T(sgd_update, T, S, (T* p, const T* g, T* buf, u64 n, double lr, double m, double damp, double wd, int use_m, \
                                   int use_wd, int first, int nesterov), \
                (p, g, buf, n, lr, m, damp, wd, use_m, use_wd, first, nesterov)) \
    DL_KERNEL_T(adagrad_update, T, S, (T* p, const T* g, T* sum, u64 n, double clr, double eps, double wd, int use_wd), \
                (p, g, sum, n, clr, eps, wd, use_wd)) \
    DL_KERNEL_T(rmsprop_update, T, S, (T* p, const T* g, T* sq, T* buf, T* ga, u64 n, double lr, double alpha, double oma, \
                                       double eps, double wd, double m, int use_m, int centered, int use_wd), \
                (p, g, sq, buf, ga, n, lr, alpha, oma, eps, wd, m, use_m, centered, use_wd)) \
    DL_KERNEL_T(adam_update, T, S, (T* p, const T* g, T* m, T* v, T* vmax, u64 n, double step_size, double bc2_sqrt, \
                                    double shrink, double eps, double wd, double b1c, double b2, double b2c, int use_wd, \
                                    int decoupled, int amsgrad), \
                (p, g, m, v, vmax, n, step_size, bc2_sqrt, shrink, eps, wd, b1c, b2, b2c, use_wd, decoupled, amsgrad)) \
    DL_KERNEL_T(sum_sq_abs, T, S, (const T* x, u64 n, int absolute, double* part), (x, n, absolute, part)) \
    DL_KERNEL_T(scale, T, S, (T* x, u64 n, double s), (x, n, s)) \
    DL_KERNEL_T(penalty_grad, T, S, (const T* w, T* g, u64 n, int kind, double lambda), (w, g, n, kind, lambda))
OPTIM(float, f32)
OPTIM(double, f64)
