// Batch normalisation over [outer, channels, inner]; statistics per
// channel in double, one block per channel (fixed strided subsets and a
// fixed-order tree: deterministic).
// Training statistics: mean, rstd; running stats updated when m >= 2.
template <typename T> __device__ void bn_stats_impl(const T* x, T* mean, T* rstd, T* rmean, T* rvar, u64 outer,
                                                    u64 channels, u64 inner, double eps, double momentum) {
    __shared__ double sh[BLOCK];
    u64 c = blockIdx.x, m = outer * inner;
    double mu, var;
    block_mean_var(m, [&](u64 k) { return (double)x[((k / inner) * channels + c) * inner + k % inner]; }, sh, &mu, &var);
    if (threadIdx.x == 0) {
        mean[c] = (T)mu;
        rstd[c] = m == 0 ? (T)0 : (T)(1.0 / sqrt(var + eps));
        if (m >= 2) {
            double unbiased = var * (double)m / (double)(m - 1);
            rmean[c] = (T)((1.0 - momentum) * (double)rmean[c] + momentum * mu);
            rvar[c] = (T)((1.0 - momentum) * (double)rvar[c] + momentum * unbiased);
        }
    }
}
// Evaluation statistics from the running ones.
template <typename T> __device__ void bn_eval_stats_impl(const T* rmean, const T* rvar, T* mean, T* rstd, u64 channels, double eps) {
    GRID_STRIDE(c, channels) {
        mean[c] = rmean[c];
        rstd[c] = (T)(1.0 / sqrt((double)rvar[c] + eps));
    }
}
// y = (x - mean_c) * rstd_c * gamma_c + beta_c, one thread per element.
template <typename T> __device__ void bn_apply_impl(const T* x, const T* mean, const T* rstd, const T* gamma, const T* beta, T* y,
                                                    u64 n, u64 channels, u64 inner) {
    GRID_STRIDE(e, n) {
        u64 c = (e / inner) % channels;
        y[e] = (x[e] - mean[c]) * rstd[c] * gamma[c] + beta[c];
    }
}
// Backward sums per channel (block per channel): dbeta += sum dy, dgamma +=
// sum dy xhat; coef[3c..3c+3] = (gamma rstd, s/m, sx/m) (training) or
// (gamma rstd, 0, 0) (evaluation).
template <typename T> __device__ void bn_bwd_sums_impl(const T* x, const T* dy, const T* gamma, const T* mean, const T* rstd,
                                                       T* dgamma, T* dbeta, T* coef, u64 outer, u64 channels, u64 inner,
                                                       int batch_stats) {
    __shared__ double sh[BLOCK];
    u64 c = blockIdx.x, m = outer * inner;
    double mu = (double)mean[c], r = (double)rstd[c];
    double s = 0.0, sx = 0.0;
    for (u64 k = threadIdx.x; k < m; k += BLOCK) {
        u64 idx = ((k / inner) * channels + c) * inner + k % inner;
        double g = (double)dy[idx];
        s += g;
        sx += g * ((double)x[idx] - mu) * r;
    }
    s = block_sum(s, sh);
    sx = block_sum(sx, sh);
    if (threadIdx.x == 0) {
        dbeta[c] += (T)s;
        dgamma[c] += (T)sx;
        coef[3 * c] = (T)((double)gamma[c] * r);
        bool train = batch_stats && m > 0;
        coef[3 * c + 1] = train ? (T)(s / (double)m) : (T)0;
        coef[3 * c + 2] = train ? (T)(sx / (double)m) : (T)0;
    }
}
// dx = gr (dy - a - xhat b), one thread per element.
template <typename T> __device__ void bn_bwd_apply_impl(const T* x, const T* dy, const T* mean, const T* rstd, const T* coef, T* dx,
                                                        u64 n, u64 channels, u64 inner) {
    GRID_STRIDE(e, n) {
        u64 c = (e / inner) % channels;
        T xhat = (x[e] - mean[c]) * rstd[c];
        dx[e] = coef[3 * c] * (dy[e] - coef[3 * c + 1] - xhat * coef[3 * c + 2]);
    }
}
#define BATCHNORM(T, S) \
    DL_KERNEL_T(bn_stats, T, S, (const T* x, T* mean, T* rstd, T* rmean, T* rvar, u64 outer, u64 channels, u64 inner, \
                                 double eps, double momentum), \
                (x, mean, rstd, rmean, rvar, outer, channels, inner, eps, momentum)) \
    DL_KERNEL_T(bn_eval_stats, T, S, (const T* rmean, const T* rvar, T* mean, T* rstd, u64 channels, double eps), \
                (rmean, rvar, mean, rstd, channels, eps)) \
    DL_KERNEL_T(bn_apply, T, S, (const T* x, const T* mean, const T* rstd, const T* gamma, const T* beta, T* y, u64 n, \
                                 u64 channels, u64 inner), \
                (x, mean, rstd, gamma, beta, y, n, channels, inner)) \
    DL_KERNEL_T(bn_bwd_sums, T, S, (const T* x, const T* dy, const T* gamma, const T* mean, const T* rstd, T* dgamma, \
                                    T* dbeta, T* coef, u64 outer, u64 channels, u64 inner, int batch_stats), \
                (x, dy, gamma, mean, rstd, dgamma, dbeta, coef, outer, channels, inner, batch_stats)) \
    DL_KERNEL_T(bn_bwd_apply, T, S, (const T* x, const T* dy, const T* mean, const T* rstd, const T* coef, T* dx, u64 n, \
                                     u64 channels, u64 inner), \
                (x, dy, mean, rstd, coef, dx, n, channels, inner))
BATCHNORM(float, f32)
BATCHNORM(double, f64)
