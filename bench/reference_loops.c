/* The reference loops for the benchmarks: the simplest C loops that do the work of fastopt's
 * step for the three rules torch has fused CPU kernels for (SGD with momentum, AdaGrad,
 * Adam) and for plain SGD (the cheapest step), in float32 and float64, plain or with a
 * pruning mask and/or the l1 proximal step, and a loop that moves the same bytes as a plain
 * float32 step and does nothing else.
 * bench/reference_loops.py compiles this file with the flags of fastopt's kernel build and
 * calls it with ctypes on the optimizer's own arrays.
 *
 * The rule loops follow fastopt's loops operation for operation (torch convention, no other
 * option, the numbers from fastopt._dispatch.step_numbers), so they compute the same bits;
 * what they leave out is fastopt's machinery around the loop (blocks, the Python call,
 * option handling).  A mask is read as bytes (nonzero = keep) and pruned elements and their
 * state are written as 0; the l1 step is the soft threshold at tau / D (tau: the kernel's
 * learning rate times the l1 strength, D the rule's denominator, 1 for SGD), and with it
 * the update and the threshold multiply by r = 1 / D instead of dividing, as the kernels'
 * l1 steps do.
 *
 * The file is its own template: it includes itself once with T = float (functions ending in
 * _f32) and once with T = double (_f64).  Each step function takes `count` arrays:
 * parameters p, gradients g, state arrays s1 and s2 (unused by rules with fewer), masks
 * (NULL: no mask), their lengths n, x, the step numbers in step_numbers' order, tau (0: no
 * l1 step) and the number of OpenMP threads, which split each array into equal contiguous
 * parts.  Each returns the number of non-finite gradients (pruned ones excluded). */

#ifndef T

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef long long i64;

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* This thread's part [lo, hi) of n elements: equal contiguous parts, whole vectors. */
static void share(i64 n, i64 *lo, i64 *hi)
{
#ifdef _OPENMP
    i64 t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    i64 t = 0, nt = 1;
#endif
    i64 part = ((n + nt - 1) / nt + 63) / 64 * 64;
    *lo = t * part < n ? t * part : n;
    *hi = *lo + part < n ? *lo + part : n;
}

#define T float
#define SUFFIX(name) name##_f32
#define SQRT sqrtf
#define FABS fabsf
#define COPYSIGN copysignf
#include "reference_loops.c"
#undef T
#undef SUFFIX
#undef SQRT
#undef FABS
#undef COPYSIGN

#define T double
#define SUFFIX(name) name##_f64
#define SQRT sqrt
#define FABS fabs
#define COPYSIGN copysign
#include "reference_loops.c"

/* The same loads and stores as a plain float32 step of a rule with `states` state arrays
 * (1 or 2), and no other work: every array read and written gets zero * g added (zero is 0
 * at run time, so the values stay as they are, but the compiler cannot drop the loads or
 * stores). */
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

#else   /* the loops for one element type T */

/* The l1 proximal step: soft threshold at t (a zero it makes is +0.0). */
ALWAYS_INLINE T SUFFIX(soft)(T x, T t)
{
    T r = FABS(x) - t;
    r = r < 0 ? 0 : r;
    return COPYSIGN(r, x) + 0;
}

/* Counts are int per part, as the kernels' are per block (an i64 sum would widen every
 * vector lane); the benchmark's arrays are far below 2**31 elements.  `masked` and `prox`
 * are constants at every call, so each variant is a loop of its own. */

/* plain SGD (no momentum):  p -= lr g;  D = 1 */
ALWAYS_INLINE int SUFFIX(sgd)(T *restrict p, const T *restrict g, T *restrict unused1,
                              T *restrict unused2, const unsigned char *restrict mask,
                              i64 lo, i64 hi, const double *x, T tau, int masked, int prox)
{
    T lr = (T)x[0];
    int bad = 0;
    (void)unused1;
    (void)unused2;
    for (i64 i = lo; i < hi; i++) {
        int keep = !masked || mask[i] != 0;
        T gi = g[i], xi = p[i];
        bad += keep & ((float)(gi * 0) != 0);
        xi = xi - lr * gi;
        if (prox)
            xi = SUFFIX(soft)(xi, tau);
        p[i] = keep ? xi : 0;
    }
    return bad;
}

/* torch SGD with momentum after its first step: b = mu b + g, computed as
 * b + (g - (1 - mu) b);  p -= lr b;  D = 1 */
ALWAYS_INLINE int SUFFIX(sgd_momentum)(T *restrict p, const T *restrict g, T *restrict b,
                                       T *restrict unused, const unsigned char *restrict mask,
                                       i64 lo, i64 hi, const double *x, T tau, int masked,
                                       int prox)
{
    T lr = (T)x[0], cmu = (T)x[4];   /* 1 - mu, computed in double */
    int bad = 0;
    (void)unused;
    for (i64 i = lo; i < hi; i++) {
        int keep = !masked || mask[i] != 0;
        T gi = g[i], xi = p[i], bi;
        bad += keep & ((float)(gi * 0) != 0);
        bi = b[i];
        bi = bi + (gi - cmu * bi);
        xi = xi - lr * bi;
        if (prox)
            xi = SUFFIX(soft)(xi, tau);
        b[i] = keep ? bi : 0;
        p[i] = keep ? xi : 0;
    }
    return bad;
}

/* torch AdaGrad: s += g^2;  D = sqrt(s + eps_in) + eps_out;  p -= lr g / D */
ALWAYS_INLINE int SUFFIX(adagrad)(T *restrict p, const T *restrict g, T *restrict acc,
                                  T *restrict unused, const unsigned char *restrict mask,
                                  i64 lo, i64 hi, const double *x, T tau, int masked,
                                  int prox)
{
    T lr = (T)x[0], ein = (T)x[1], eout = (T)x[2];
    int bad = 0;
    (void)unused;
    for (i64 i = lo; i < hi; i++) {
        int keep = !masked || mask[i] != 0;
        T gi = g[i], xi = p[i], s, d;
        bad += keep & ((float)(gi * 0) != 0);
        s = acc[i] + gi * gi;
        d = SQRT(s + ein) + eout;
        if (prox) {
            T r = 1 / d;
            xi = SUFFIX(soft)(xi - lr * gi * r, tau * r);
        } else {
            xi = xi - lr * gi / d;
        }
        acc[i] = keep ? s : 0;
        p[i] = keep ? xi : 0;
    }
    return bad;
}

/* torch Adam: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2, each computed as
 * a + (1 - b)(y - a) (an overflowed v stays inf);  D = sqrt(v) sqrt_scale + eps;
 * p -= step m / D */
ALWAYS_INLINE int SUFFIX(adam)(T *restrict p, const T *restrict g, T *restrict m,
                               T *restrict v, const unsigned char *restrict mask, i64 lo,
                               i64 hi, const double *x, T tau, int masked, int prox)
{
    T ss = (T)x[2], eps = (T)x[3], step = (T)x[4];
    T c1 = (T)x[6], c2 = (T)x[7];   /* 1 - b1 and 1 - b2, computed in double */
    int bad = 0;
    for (i64 i = lo; i < hi; i++) {
        int keep = !masked || mask[i] != 0;
        T gi = g[i], xi = p[i], mi, vi, q, d;
        bad += keep & ((float)(gi * 0) != 0);
        mi = m[i];
        mi = mi + c1 * (gi - mi);
        vi = v[i];
        q = vi + c2 * (gi * gi - vi);
        vi = q == q ? q : vi + gi * gi;
        d = SQRT(vi) * ss + eps;
        if (prox) {
            T r = 1 / d;
            xi = SUFFIX(soft)(xi - step * mi * r, tau * r);
        } else {
            xi = xi - step * mi / d;
        }
        m[i] = keep ? mi : 0;
        v[i] = keep ? vi : 0;
        p[i] = keep ? xi : 0;
    }
    return bad;
}

/* Rule 0 (SGD with momentum), 1 (AdaGrad), 2 (Adam) or 3 (plain SGD) on elements [lo, hi). */
ALWAYS_INLINE int SUFFIX(part)(int rule, T *p, const T *g, T *s1, T *s2,
                               const unsigned char *mask, i64 lo, i64 hi, const double *x,
                               T tau, int masked, int prox)
{
    if (rule == 0)
        return SUFFIX(sgd_momentum)(p, g, s1, s2, mask, lo, hi, x, tau, masked, prox);
    if (rule == 1)
        return SUFFIX(adagrad)(p, g, s1, s2, mask, lo, hi, x, tau, masked, prox);
    if (rule == 3)
        return SUFFIX(sgd)(p, g, s1, s2, mask, lo, hi, x, tau, masked, prox);
    return SUFFIX(adam)(p, g, s1, s2, mask, lo, hi, x, tau, masked, prox);
}

/* part with the variant (a mask or not, an l1 step or not) as constants. */
ALWAYS_INLINE int SUFFIX(variant)(int rule, T *p, const T *g, T *s1, T *s2,
                                  const unsigned char *mask, i64 lo, i64 hi,
                                  const double *x, T tau)
{
    if (mask && tau != 0)
        return SUFFIX(part)(rule, p, g, s1, s2, mask, lo, hi, x, tau, 1, 1);
    if (mask)
        return SUFFIX(part)(rule, p, g, s1, s2, mask, lo, hi, x, tau, 1, 0);
    if (tau != 0)
        return SUFFIX(part)(rule, p, g, s1, s2, mask, lo, hi, x, tau, 0, 1);
    return SUFFIX(part)(rule, p, g, s1, s2, mask, lo, hi, x, tau, 0, 0);
}

/* One step of rule 0, 1, 2 or 3 (see part) over `count` arrays; on one thread, no OpenMP
 * region is entered. */
i64 SUFFIX(step)(int rule, T **p, T **g, T **s1, T **s2, const unsigned char **mask,
                 const i64 *n, int count, const double *x, double tau, int threads)
{
    i64 bad = 0;
    T t = (T)tau;
    for (int a = 0; a < count; a++) {
        T *pa = p[a], *u = s1[a], *w = s2[a];
        const T *ga = g[a];
        const unsigned char *ma = mask ? mask[a] : 0;
        i64 na = n[a];
        if (threads <= 1) {
            bad += SUFFIX(variant)(rule, pa, ga, u, w, ma, 0, na, x, t);
            continue;
        }
#pragma omp parallel num_threads(threads) reduction(+:bad)
        {
            i64 lo, hi;
            share(na, &lo, &hi);
            bad += SUFFIX(variant)(rule, pa, ga, u, w, ma, lo, hi, x, t);
        }
    }
    return bad;
}

#endif
