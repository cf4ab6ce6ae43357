// Layer normalisation over rows of `dim`, statistics in double; one block
// per row for the forward and the input gradient, one thread per column for
// the parameter gradients (rows summed in order, as the CPU).
template <typename T> __device__ void ln_fwd_impl(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, u64 dim,
                                                  double eps) {
    __shared__ double sh[BLOCK];
    u64 off = (u64)blockIdx.x * dim;
    double mu, var;
    block_mean_var(dim, [&](u64 j) { return (double)x[off + j]; }, sh, &mu, &var);
    double rs = 1.0 / sqrt(var + eps);
    if (threadIdx.x == 0) {
        mean[blockIdx.x] = (T)mu;
        rstd[blockIdx.x] = (T)rs;
    }
    for (u64 j = threadIdx.x; j < dim; j += BLOCK) y[off + j] = (T)(((double)x[off + j] - mu) * rs) * gamma[j] + beta[j];
}
// dx = rstd (g dy - mean(g dy) - xhat mean(g dy xhat)), block per row.
template <typename T> __device__ void ln_bwd_dx_impl(const T* x, const T* gamma, const T* mean, const T* rstd, const T* dy, T* dx,
                                                     u64 dim) {
    __shared__ double sh[BLOCK];
    u64 r = blockIdx.x, off = r * dim;
    double mu = (double)mean[r], rs = (double)rstd[r];
    double a = 0.0, b = 0.0;
    for (u64 j = threadIdx.x; j < dim; j += BLOCK) {
        double gd = (double)gamma[j] * (double)dy[off + j];
        a += gd;
        b += gd * (((double)x[off + j] - mu) * rs);
    }
    a = block_sum(a, sh) / (double)dim;
    b = block_sum(b, sh) / (double)dim;
    for (u64 j = threadIdx.x; j < dim; j += BLOCK) {
        double gd = (double)gamma[j] * (double)dy[off + j];
        double xhat = ((double)x[off + j] - mu) * rs;
        dx[off + j] = (T)(rs * (gd - a - xhat * b));
    }
}
// dgamma[j] += sum_r dy xhat, dbeta[j] += sum_r dy; one thread per column.
template <typename T> __device__ void ln_bwd_params_impl(const T* x, const T* mean, const T* rstd, const T* dy, T* dgamma, T* dbeta,
                                                         u64 rows, u64 dim) {
    GRID_STRIDE(j, dim) {
        double sg = 0.0, sb = 0.0;
        for (u64 r = 0; r < rows; r++) {
            double g = (double)dy[r * dim + j];
            sb += g;
            sg += g * (((double)x[r * dim + j] - (double)mean[r]) * (double)rstd[r]);
        }
        dgamma[j] += (T)sg;
        dbeta[j] += (T)sb;
    }
}
#define LAYERNORM(T, S) \
    DL_KERNEL_T(ln_fwd, T, S, (const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, u64 dim, double eps), \
                (x, gamma, beta, y, mean, rstd, dim, eps)) \
    DL_KERNEL_T(ln_bwd_dx, T, S, (const T* x, const T* gamma, const T* mean, const T* rstd, const T* dy, T* dx, u64 dim), \
                (x, gamma, mean, rstd, dy, dx, dim)) \
    DL_KERNEL_T(ln_bwd_params, T, S, (const T* x, const T* mean, const T* rstd, const T* dy, T* dgamma, T* dbeta, u64 rows, \
                                      u64 dim), \
                (x, mean, rstd, dy, dgamma, dbeta, rows, dim))
LAYERNORM(float, f32)
LAYERNORM(double, f64)
