/* The reference loops for bench/vs_torch.py: the simplest C loops that do the work of
 * fastopt's plain float32 step for the three rules torch has fused CPU kernels for, and a
 * loop that moves the same bytes and does nothing else.  bench/reference_loops.py compiles
 * this file with the flags of fastopt's kernel build and calls it with ctypes on the
 * optimizer's own arrays.
 *
 * The rule loops follow the plain loops of fastopt's kernels operation for operation (torch
 * convention, no options, the numbers from fastopt._dispatch.step_numbers), so they compute
 * the same bits; what they leave out is fastopt's machinery around the loop (blocks, the
 * Python call, option handling).  Each takes `count` arrays: parameters p, gradients g,
 * state arrays s1 and s2 (s2 unused by one-state rules), their lengths n, and x, the step
 * numbers in step_numbers' order.  Each returns the number of non-finite gradients. */

#include <math.h>

typedef long long i64;

static inline int nonfinite(float g) { return (float)(g * 0.0f) != 0.0f; }

/* Counts are int per array, as the kernels' are per block (an i64 sum would widen every
 * vector lane); the benchmark's arrays are far below 2**31 elements. */

/* torch SGD with momentum after its first step: b = mu b + g;  p -= lr b */
i64 sgd_momentum(float **p, float **g, float **s1, float **s2, const i64 *n, int count,
                 const double *x)
{
    float lr = (float)x[0], mu = (float)x[1];
    i64 bad = 0;
    (void)s2;
    for (int a = 0; a < count; a++) {
        float *restrict pa = p[a], *restrict b = s1[a];
        const float *restrict ga = g[a];
        int nbad = 0;
        for (i64 i = 0; i < n[a]; i++) {
            float gi = ga[i], bi;
            nbad += nonfinite(gi);
            bi = mu * b[i] + gi;
            pa[i] = pa[i] - lr * bi;
            b[i] = bi;
        }
        bad += nbad;
    }
    return bad;
}

/* torch AdaGrad: s += g^2;  p -= lr g / (sqrt(s + eps_in) + eps_out) */
i64 adagrad(float **p, float **g, float **s1, float **s2, const i64 *n, int count,
            const double *x)
{
    float lr = (float)x[0], ein = (float)x[1], eout = (float)x[2], one = 1;
    i64 bad = 0;
    (void)s2;
    for (int a = 0; a < count; a++) {
        float *restrict pa = p[a], *restrict acc = s1[a];
        const float *restrict ga = g[a];
        int nbad = 0;
        for (i64 i = 0; i < n[a]; i++) {
            float gi = ga[i], s, r;
            nbad += nonfinite(gi);
            s = acc[i] + gi * gi;
            r = one / (sqrtf(s + ein) + eout);
            pa[i] = pa[i] - lr * gi * r;
            acc[i] = s;
        }
        bad += nbad;
    }
    return bad;
}

/* torch Adam: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 * p -= step m / (sqrt(v) sqrt_scale + eps) */
i64 adam(float **p, float **g, float **s1, float **s2, const i64 *n, int count,
         const double *x)
{
    float b1 = (float)x[0], b2 = (float)x[1], ss = (float)x[2], eps = (float)x[3];
    float step = (float)x[4], one = 1, c1 = (float)x[6], c2 = (float)x[7];
    i64 bad = 0;
    for (int a = 0; a < count; a++) {
        float *restrict pa = p[a], *restrict m = s1[a], *restrict v = s2[a];
        const float *restrict ga = g[a];
        int nbad = 0;
        for (i64 i = 0; i < n[a]; i++) {
            float gi = ga[i], mi, vi, r;
            nbad += nonfinite(gi);
            mi = b1 * m[i] + c1 * gi;
            vi = b2 * v[i] + c2 * gi * gi;
            r = one / (sqrtf(vi) * ss + eps);
            pa[i] = pa[i] - step * mi * r;
            m[i] = mi;
            v[i] = vi;
        }
        bad += nbad;
    }
    return bad;
}

/* The same loads and stores as a rule with `states` state arrays (1 or 2), and no other
 * work: every array read and written gets zero * g added (zero is 0 at run time, so the
 * values stay as they are, but the compiler cannot drop the loads or stores). */
i64 traffic(float **p, float **g, float **s1, float **s2, const i64 *n, int count,
            int states, float zero)
{
    for (int a = 0; a < count; a++) {
        float *restrict pa = p[a], *restrict u = s1[a], *restrict w = s2[a];
        const float *restrict ga = g[a];
        if (states == 1) {
            for (i64 i = 0; i < n[a]; i++) {
                float d = zero * ga[i];
                pa[i] = pa[i] + d;
                u[i] = u[i] + d;
            }
        } else {
            for (i64 i = 0; i < n[a]; i++) {
                float d = zero * ga[i];
                pa[i] = pa[i] + d;
                u[i] = u[i] + d;
                w[i] = w[i] + d;
            }
        }
    }
    return 0;
}
