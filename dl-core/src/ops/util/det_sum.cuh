// Deterministic sums to one f64 (included by loss.cu and optim.cu).
// Stage 1: a grid of DET_BLOCKS(n) blocks (a function of n only); thread
// (b, t) sums, in order, the terms i = b * BLOCK + t + k * BLOCK * grid,
// then each block reduces in a fixed tree into part[b]. Stage 2:
// det_sum_finish adds the partials in a fixed order with one block.
// No atomics: the result depends on n and the data only.
extern "C" __global__ void det_sum_finish(const double* part, u64 parts, double* out) {
    __shared__ double sh[BLOCK];
    double acc = 0.0;
    for (u64 j = threadIdx.x; j < parts; j += BLOCK) acc += part[j];
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) out[0] = s;
}
