# The fused one-pass update kernels: the one source of every update rule.  setup.py compiles
# this file once per instruction set, each build a module of its own: fastopt._kernels_baseline
# for any CPU of the platform and, on x86-64, fastopt._kernels_avx2 (-mavx2) and
# fastopt._kernels_avx512 (AVX-512 F/CD/BW/DQ/VL, 512-bit vectors); FASTOPT_ISA, a C macro,
# names the build, and fastopt/_dispatch.py imports the best one this CPU can run.  Every
# build is compiled with -ffp-contract=off and no fast-math, so they agree bit for bit.
#
# Every kernel updates ``param`` and its state arrays in place, in one pass over memory, and
# returns the number of non-finite gradient entries it saw (pruned coordinates excluded).
# For each element, in this order:
#
#     g = sign * g                      maximize (sign = -1)
#     g = clip(g, -clip, clip)          clipvalue (clip = +inf when off)
#     g = scale * g                     norm clipping (scale computed by sum_squares beforehand)
#     g = g + l2 * param                coupled L2
#     pruned (mask == 0): param = 0, state = 0, g ignored
#     param = param - decay * param     decoupled weight decay (decay = lr * weight_decay)
#     the update rule, which also gives D, the per-coordinate denominator
#     param = sign(param) * max(|param| - prox_scale * l1_i / D, 0)   l1 proximal step
#     param = min(max(param, lower), upper)                          box bounds
#
# The loops know nothing about Python objects: arrays in, doubles in, a count out (the entry
# points read the arrays through NumPy's C API and check them first).  Numbers that
# depend on the step (bias corrections, Nadam's momentum products, the effective learning rate)
# are computed once per step and parameter group by compute_step_numbers, from the
# hyperparameters that the optimizer objects validate.  Convention differences between torch
# and Keras are folded into those numbers (e.g. Adam's D = sqrt(v) * sqrt_scale + epsilon);
# only structural options (momentum, nesterov, centered, amsgrad) select a code path, and
# they do so per loop call, so
# each path is a branch-free loop the compiler vectorizes.  A step with no mask, l1, bounds
# or clipvalue (the common case) runs a "plain" copy of its loop that leaves those
# operations out, and one with a mask or l1 but no bounds or clipvalue a
# "sparse" copy (the Kind fused type below): each does only the work its step needs.
#
# Arrays are processed in blocks of BLOCK elements.  Absent optional arrays (mask, per-
# coordinate l1, bounds) are replaced by constant blocks that live in cache, so one loop serves
# every combination without extra memory traffic.  A step on one thread goes by chunks of
# CHUNK_BLOCKS blocks, and every step but a full one, which reads the one-block stand-ins, runs
# a chunk as one loop call (each call of a loop costs its set-up: alias checks, constants, the
# count's reduction); inside it, a step with a mask goes by runs of MASK_RUN elements, each
# run's mask first copied as numbers (run_end; the AVX-512 build reads the bytes instead);
# threads split a step by blocks, the finer unit.  Elements are independent, so results are
# bit-identical for any number of threads; reductions sum fixed-size blocks in block order.
#
# Bounds checks are off: the Python layer validates arrays, and every kernel checks lengths at
# entry so that a direct call with mismatched arrays raises instead of writing out of bounds.

cimport cython
from cython.parallel cimport prange
from libc.math cimport pow, sqrt, sqrtf, fabs, fabsf, copysign, copysignf, INFINITY, NAN
from libc.stdlib cimport malloc, calloc, free, qsort
from libc.limits cimport LLONG_MAX
from libc.string cimport memcpy
from libc.stdint cimport uint32_t, int64_t, UINT32_MAX, INT64_MAX
cimport numpy as cnp

import os as _os

import numpy as _np

cnp.import_array()

from fastopt._openmp cimport (FASTOPT_OPENMP, omp_get_max_threads, omp_get_num_threads,
                              omp_get_thread_limit)
from fastopt._kernel_state cimport SharedState, shared_state

cdef extern from *:
    """
    #ifndef FASTOPT_ISA
    #error "FASTOPT_ISA names the instruction set of the build (setup.py defines it)"
    #endif
    #define FASTOPT_STRING_(x) #x
    #define FASTOPT_STRING(x) FASTOPT_STRING_(x)
    #define FASTOPT_ISA_NAME FASTOPT_STRING(FASTOPT_ISA)
    """
    const char* FASTOPT_ISA_NAME

cdef extern from *:
    """
    #if defined(__AVX512BW__)
    #define FASTOPT_MASK_BYTES 1
    #else
    #define FASTOPT_MASK_BYTES 0
    #endif
    """
    # 1 where the rule loops read a mask's bytes themselves (run_end): with AVX-512BW a
    # vector of bytes tests into a mask register, which selects among vectors of any width
    bint MASK_BYTES "FASTOPT_MASK_BYTES"

# The instruction set this build is compiled for ("baseline", "avx2", "avx512").
ISA = FASTOPT_ISA_NAME.decode("ascii")


ctypedef fused floating:
    float
    double

cdef enum:
    BLOCK = 2048
    # 8192 elements: one-thread plain steps measured 3-5% faster than with one loop call
    # per block (1e5..1e6 elements, and 20 arrays of 1e3..1e5)
    CHUNK_BLOCKS = 4
    # elements of a masked step's run (run_end): its mask's copy (2 KiB of float64) stays in
    # the first-level cache while the loop reads it; with whole blocks (16 KiB), the streams
    # evicted it, measured 1.3x the plain step against 1.1x
    MASK_RUN = 256
    # independent partial sums of a sum of squares (squares_in)
    LANES = 16

# The kinds of step, as types so that Cython writes a separate copy of every loop for each
# (a compile-time switch, like the dtype).  A plain step (no mask, no l1 prox, no bounds, no
# clipvalue: the common case) skips those per-element operations entirely.  The sparse
# kinds do the mask and l1 with one strength per array, and nothing else (no maximize,
# norm clipping, L2 or weight decay: the compiler gives a plain loop a copy without each
# of those, but not a loop this long, so each kind leaves them out): a prox step (l1) adds
# the soft threshold to a plain step, a mask step the mask, a mask-prox step both.  A
# decay step is a sparse step (a mask, l1 or both) with any of L2, weight decay, maximize,
# clipvalue and norm clipping besides, or a step with clipvalue: the common sparse
# training step (pruning with weight decay or gradient clipping), whose full loop cost
# 2-3.7x the plain step.  A full step does everything (bounds, per-coordinate l1).
cdef struct PlainStep:
    char unused
cdef struct ProxStep:
    char unused
cdef struct MaskStep:
    char unused
cdef struct MaskProxStep:
    char unused
cdef struct DecayStep:
    char unused
cdef struct FullStep:
    char unused
ctypedef fused Kind:
    PlainStep
    ProxStep
    MaskStep
    MaskProxStep
    DecayStep
    FullStep
cdef PlainStep PLAIN
cdef ProxStep PROX
cdef MaskStep MASK
cdef MaskProxStep MASK_PROX
cdef DecayStep DECAY
cdef FullStep FULL

cdef enum StepKind:
    # which of the types above an array's step runs (step_kind)
    PLAIN_STEP, PROX_STEP, MASK_STEP, MASK_PROX_STEP, DECAY_STEP, FULL_STEP

# The parallel threshold and the after-fork flag, one copy for every build.
cdef SharedState* shared = shared_state()

# Constant blocks standing in for absent optional arrays (ones: an absent mask keeps every
# element, an absent per-coordinate l1 weighs each by 1); written once, at import.
cdef float ONES_F[BLOCK]
cdef float NEG_INF_F[BLOCK]
cdef float POS_INF_F[BLOCK]
cdef double ONES_D[BLOCK]
cdef unsigned char ONES_B[BLOCK]
cdef double NEG_INF_D[BLOCK]
cdef double POS_INF_D[BLOCK]

cdef Py_ssize_t _k
for _k in range(BLOCK):
    ONES_F[_k] = 1.0
    ONES_D[_k] = 1.0
    ONES_B[_k] = 1
    NEG_INF_F[_k] = -INFINITY
    NEG_INF_D[_k] = -INFINITY
    POS_INF_F[_k] = INFINITY
    POS_INF_D[_k] = INFINITY


def openmp_enabled():
    """Whether the extension was compiled with OpenMP.

    Parameters
    ----------
    None

    Returns
    -------
    bool
        True for a threaded build; False for a serial one (``FASTOPT_USE_OPENMP=0``, or a
        compiler without OpenMP), where ``num_threads`` has no effect.

    Examples
    --------
    >>> fastopt.openmp_enabled() in (True, False)
    True
    """
    return bool(FASTOPT_OPENMP)


def max_threads():
    """OpenMP's current maximum team size (honours OMP_NUM_THREADS and threadpoolctl)."""
    return omp_get_max_threads()


# The largest team a kernel requests: 4 threads per CPU, but 64 on any machine, and never
# more than OpenMP's thread limit (OMP_THREAD_LIMIT).  More only costs (each thread is an OS
# thread with its own stack), and libgomp aborts the process from 32768 threads and crashes
# it from 65536; fastopt._threads refuses a larger num_threads, and an OpenMP maximum above
# it (OMP_NUM_THREADS) is capped to it.
MAX_THREADS = min(omp_get_thread_limit(), max(64, 4 * (_os.cpu_count() or 1)))
cdef int _max_team = MAX_THREADS


cdef int threads_for(object num_threads) except -1:
    """The team size to request for a validated ``num_threads`` (None: OpenMP's current
    maximum, read at each call; 1 in a forked child), at most MAX_THREADS."""
    if shared.forked:
        return 1
    cdef int n = omp_get_max_threads() if num_threads is None else num_threads
    return n if n <= _max_team else _max_team


def resolve_threads(num_threads):
    """The team size to request from a kernel for a validated ``num_threads`` (None:
    OpenMP's current maximum, read at each call, so that OMP_NUM_THREADS and threadpoolctl
    are honoured; 1 in a forked child process), at most MAX_THREADS."""
    return threads_for(num_threads)


def team_size(Py_ssize_t n, int num_threads):
    """Number of threads a kernel would use for ``n`` elements with ``num_threads``."""
    cdef Py_ssize_t _b
    cdef int size = 1
    for _b in prange(1, nogil=True, schedule='static', num_threads=num_threads,
                     use_threads_if=n >= shared.parallel_threshold):
        size = omp_get_num_threads()
    return size


# ---------------------------------------------------------------------------------------
# Element helpers.  Comparisons are written so that NaN propagates.

cdef inline floating f_sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating f_abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating f_copysign(floating x, floating y) noexcept nogil:
    if floating is float:
        return copysignf(x, y)
    else:
        return copysign(x, y)


cdef inline floating f_max(floating a, floating b) noexcept nogil:
    """max(a, b) that returns NaN when either argument is NaN (like torch.maximum)."""
    cdef floating r = a if a > b else b
    return a if a != a else r


cdef inline int nonfinite(floating g) noexcept nogil:
    """1 for +-inf or NaN: g * 0 is NaN exactly then.  (The float cast lets SSE2 builds
    vectorize the double case too.)"""
    return (<float>(g * 0)) != 0


cdef struct Extras:
    # the fused per-element options shared by every rule (module docstring)
    double sign
    double clip
    double scale
    double l2
    double decay
    double l1
    bint prox


cdef inline floating prepare(floating g, floating x, floating sign, floating clip,
                             floating scale, floating l2, Kind kind) noexcept nogil:
    """maximize, clipvalue (full and decay steps only), norm-clipping scale and coupled L2,
    in that order."""
    if Kind is FullStep or Kind is DecayStep:
        # the decay loop does all three at every element, unused ones too (sign 1, clip
        # inf and scale 1 leave g as it is), rather than get a copy without them: it is
        # long already
        g = g * sign
        g = clip if g > clip else g
        g = -clip if g < -clip else g
        g = g * scale
    elif sign * scale != 1:
        # without clipping in between, g * (sign * scale) is (g * sign) * scale exactly
        # (sign is +-1); the test is loop-invariant, so the compiler gives the common
        # case (neither) a loop without the multiply (measured 5-9% of an Adam step)
        g = g * (sign * scale)
    return g + l2 * x if l2 != 0 else g


cdef inline bint l1_kind(Kind kind) noexcept nogil:
    """The kinds whose loops take the l1 step with one strength per array (prox, mask-prox
    and decay steps): they divide by D once (reciprocal, over)."""
    return Kind is ProxStep or Kind is MaskProxStep or Kind is DecayStep


cdef inline floating reciprocal(floating d, Kind kind) noexcept nogil:
    """1 / D in the l1 kinds, whose update and threshold both divide by D: one division and
    two products instead of two divisions (the divider bounds a one-thread float64 step:
    measured 1.18-1.28x the plain step with two).  The other kinds divide by D once or not
    at all; they get D back, unused."""
    return 1 / d if l1_kind(kind) else d


cdef inline floating over(floating num, floating d, floating r, Kind kind) noexcept nogil:
    """num / D, as num times r = reciprocal(D) in the l1 kinds (within an ulp of the
    quotient)."""
    return num * r if l1_kind(kind) else num / d


cdef inline floating finish(floating x, floating tau, floating d, floating r, Block k,
                            Py_ssize_t i, bint prox, Kind kind) noexcept nogil:
    """Element i of block k: the l1 proximal step at threshold t = tau * l1_i / D (l1_i = 1
    except in a full step, the only one that reads per-coordinate strengths; the l1 kinds
    multiply by r = reciprocal(D)), then box bounds (full steps only).  The soft threshold
    sign(x) max(|x| - t, 0) is computed as x minus x clamped to [-t, t], the same number
    (x - t or x + t rounded, or x - x = +0.0 for |x| <= t; NaN stays NaN) in fewer
    operations."""
    cdef floating t, c, lo, hi
    if Kind is not MaskStep:
        t = tau * (<const floating*>k.l1w)[i] / d if Kind is FullStep else tau * r
        c = -t if x < -t else x
        c = t if c > t else c
        x = x - c if prox else x
    if Kind is FullStep:
        lo, hi = (<const floating*>k.lower)[i], (<const floating*>k.upper)[i]
        x = lo if x < lo else x
        x = hi if x > hi else x
    return x


cdef struct Arrays:
    # one parameter array's kernel operands as raw pointers (NULL: absent)
    Py_ssize_t n
    void* param
    const void* grad
    void* s1
    void* s2
    void* s3
    const unsigned char* mask
    const void* l1w
    const void* lower
    const void* upper


cdef int check_length(Py_ssize_t n, str name, Py_ssize_t size, bint absent_ok) except -1:
    if size != n and not (absent_ok and size == 0):
        raise ValueError(f"'{name}' has {size} elements, expected {n}"
                         + (" (or 0 when absent)" if absent_ok else ""))
    return 0


cdef int check_aligned(const void* p, Py_ssize_t itemsize, str name) except -1:
    """Kernels read and write whole elements (vectorized): a pointer not aligned to its
    element size is undefined behaviour in C, so it is refused."""
    if <size_t>p % <size_t>itemsize:
        raise ValueError(f"'{name}' is not aligned to its {itemsize}-byte elements")
    return 0


cdef int check_operand(const floating[::1] x, Py_ssize_t n, str name,
                       bint absent_ok) except -1:
    """An array of n elements (or, when absent_ok, none) and aligned (check_aligned)."""
    check_length(n, name, x.shape[0], absent_ok)
    if x.shape[0]:
        check_aligned(&x[0], sizeof(floating), name)
    return 0


cdef Arrays gather(floating[::1] param, floating[::1] s1, bint need1, floating[::1] s2,
                   bint need2, floating[::1] s3, bint need3, const unsigned char[::1] mask,
                   const floating[::1] l1w, const floating[::1] lower,
                   const floating[::1] upper) except *:
    """Check every length against param's (bounds checks are off in the loops) and every
    alignment, and take the data pointers.  The memoryview coercions check dtypes and
    writability."""
    cdef Arrays a
    cdef Py_ssize_t n = param.shape[0]
    check_operand(param, n, "param", False)
    check_operand(s1, n, "state", not need1)
    check_operand(s2, n, "state", not need2)
    check_operand(s3, n, "state", not need3)
    check_length(n, "mask", mask.shape[0], True)
    check_operand(l1w, n, "l1w", True)
    check_operand(lower, n, "lower", True)
    check_operand(upper, n, "upper", True)
    a.n = n
    a.param = &param[0] if n else NULL
    a.grad = NULL
    a.s1 = &s1[0] if need1 and n else NULL
    a.s2 = &s2[0] if need2 and n else NULL
    a.s3 = &s3[0] if need3 and n else NULL
    a.mask = &mask[0] if mask.shape[0] else NULL
    a.l1w = &l1w[0] if l1w.shape[0] else NULL
    a.lower = &lower[0] if lower.shape[0] else NULL
    a.upper = &upper[0] if upper.shape[0] else NULL
    return a


cdef struct Block:
    # one block, or (in a step that reads no per-coordinate l1 or bounds) a run of blocks, of
    # a kernel call: typed pointers are taken from these by the rule; mask is NULL without one
    Py_ssize_t n
    Py_ssize_t start
    const unsigned char* mask
    void* run                   # MASK_RUN numbers of the parameter's type (run_end)
    const void* l1w
    const void* lower
    const void* upper


cdef inline Block block_at(Arrays* a, Py_ssize_t b, Py_ssize_t count,
                           Py_ssize_t itemsize) noexcept nogil:
    """Blocks b to b + count - 1 of the call as one; absent optional arrays other than the
    mask point at their constant stand-ins, which are one block long (so count > 1 only
    where none is read)."""
    cdef Block k
    cdef bint single = itemsize == 4
    k.start = b * BLOCK
    k.n = min(count * BLOCK, a.n - k.start)
    k.mask = a.mask + k.start if a.mask != NULL else NULL
    k.l1w = <const char*>a.l1w + k.start * itemsize if a.l1w != NULL else (
        <const void*>ONES_F if single else <const void*>ONES_D)
    k.lower = <const char*>a.lower + k.start * itemsize if a.lower != NULL else (
        <const void*>NEG_INF_F if single else <const void*>NEG_INF_D)
    k.upper = <const char*>a.upper + k.start * itemsize if a.upper != NULL else (
        <const void*>POS_INF_F if single else <const void*>POS_INF_D)
    return k


cdef inline floating* at(void* base, Py_ssize_t start, floating dummy) noexcept nogil:
    return (<floating*>base) + start if base != NULL else NULL


cdef inline Py_ssize_t n_blocks(Py_ssize_t n) noexcept nogil:
    return (n + BLOCK - 1) // BLOCK


cdef inline Py_ssize_t n_chunks(Py_ssize_t n) noexcept nogil:
    return (n + CHUNK_BLOCKS * BLOCK - 1) // (CHUNK_BLOCKS * BLOCK)


cdef inline bint serial(Py_ssize_t n, int num_threads) noexcept nogil:
    """Run on the calling thread (every loop over an array asks this): entering an OpenMP
    region costs about a microsecond even when it is told to use one thread."""
    return n < shared.parallel_threshold or num_threads <= 1


cdef struct Span:
    # the bytes [lo, hi) of an array a plan writes (a parameter or a state array)
    size_t lo
    size_t hi


cdef inline void add_span(Span* spans, Py_ssize_t* n, const void* p, size_t nbytes) noexcept:
    """Append the span of the array at p (NULL: absent, nothing to add)."""
    if p != NULL:
        spans[n[0]].lo = <size_t>p
        spans[n[0]].hi = <size_t>p + nbytes
        n[0] += 1


cdef int by_start(const void* p, const void* q) noexcept nogil:
    cdef size_t a = (<const Span*>p).lo, b = (<const Span*>q).lo
    return (a > b) - (a < b)


cdef bint overlaps_any(const Span* spans, Py_ssize_t n, const void* p,
                       Py_ssize_t nbytes) noexcept:
    """Whether the bytes [p, p + nbytes) overlap one of ``spans``, sorted by start, each with
    ``hi`` raised to the furthest end of the spans up to it: the spans starting below p's end
    are a prefix (found by bisection), and one of them reaches past p's start exactly when
    the prefix's furthest end does.  Addresses, not owners: a view through any buffer is
    seen."""
    cdef size_t lo = <size_t>p, hi = lo + <size_t>nbytes
    cdef Py_ssize_t a = 0, b = n, mid
    while a < b:
        mid = (a + b) // 2
        if spans[mid].lo < hi:
            a = mid + 1
        else:
            b = mid
    return a > 0 and spans[a - 1].hi > lo


cdef enum Rule:
    SGD, ADAGRAD, RMSPROP, ADAM, ADAMAX, NADAM


cdef struct Flags:
    # a slot's rule, convention (keras: the plan's step numbers follow it) and structural
    # options
    int rule
    bint momentum, nesterov, keras, centered, amsgrad

# The rules by name: each one's Rule, and its state arrays in a slot's order (s1, s2, s3),
# each with the structural option it is kept for (None: always).
RULES = {
    "sgd": (SGD, {"momentum_buffer": "momentum"}),
    "adagrad": (ADAGRAD, {"sum": None}),
    "rmsprop": (RMSPROP, {"square_avg": None, "grad_avg": "centered",
                          "momentum_buffer": "momentum"}),
    "adam": (ADAM, {"exp_avg": None, "exp_avg_sq": None, "max_exp_avg_sq": "amsgrad"}),
    "adamax": (ADAMAX, {"exp_avg": None, "exp_inf": None}),
    "nadam": (NADAM, {"exp_avg": None, "exp_avg_sq": None}),
}


cdef tuple rule_entry(str rule):
    """A rule's entry in RULES, by name."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
    return RULES[rule]


cdef class Slot:
    """One parameter array bound to everything its kernel reads or writes except the
    gradient: its state arrays, mask, per-coordinate l1 strengths and bounds (each empty when
    absent), and the rule's structural options.  Lengths, dtypes and writability are checked
    here, once; a step then acquires only the gradient (see ``Plan``).  The slot keeps
    references to its arrays, so its pointers stay valid while it lives.

    The state arrays s1, s2, s3 are the rule's, in the order RULES gives them; one that the
    rule does not keep with these options, or does not have, is empty.
    """
    cdef Arrays a
    cdef Flags f
    cdef readonly str rule
    cdef readonly bint single
    cdef object refs

    def __cinit__(self, str rule, param, s1, s2, s3, mask, l1w, lower, upper, *,
                  bint momentum=False, bint nesterov=False, bint keras=False,
                  bint centered=False, bint amsgrad=False):
        number, states = rule_entry(rule)
        self.f.rule = number
        self.rule = rule
        self.f.momentum, self.f.nesterov, self.f.keras = momentum, nesterov, keras
        self.f.centered, self.f.amsgrad = centered, amsgrad
        options = {None: True, "momentum": momentum, "centered": centered, "amsgrad": amsgrad}
        needs = [options[option] for option in states.values()]
        need1, need2, need3 = needs + [False] * (3 - len(needs))
        dtype = getattr(param, "dtype", None)
        if dtype == _np.float32:
            self.single = True
            self.a = gather[float](param, s1, need1, s2, need2, s3, need3, mask, l1w,
                                   lower, upper)
        elif dtype == _np.float64:
            self.single = False
            self.a = gather[double](param, s1, need1, s2, need2, s3, need3, mask, l1w,
                                    lower, upper)
        else:
            raise TypeError(f"'param' must be a float32 or float64 array, got {dtype}")
        self.refs = (param, s1, s2, s3, mask, l1w, lower, upper)

    @property
    def size(self):
        return self.a.n


# Each rule's numbers for one step (the comments above the rules' loops, below, give their
# formulas; mu is the momentum); compute_step_numbers fills the one of the step's rule.

# A complement 1 - beta of a decay rate is computed in double and rounded once for a float32
# loop (as torch and Keras round the Python float 1 - beta): 1 - float(beta) in float32 is
# off by up to 2**-24 / (1 - beta) relative (1.3e-5 for beta = 0.999), a bias that every
# step of a moving average repeats.
#
# MOVING AVERAGES.  The loops update a moving average a = beta a + (1 - beta) y as
# a + (1 - beta) (y - a), Keras's form and torch's lerp_ for 1 - beta < 0.5 (torch's
# squared-gradient averages and SGD's buffer are written beta a + ... in torch): the one
# rounding at a's scale is the final sum's, the others are of the small increment.  beta a
# + (1 - beta) y rounds twice at a's scale, and a float32 run strays 1.2-1.6x as far from
# the float64 one as torch's float32 does (bench/float32_accuracy.py).  SGD's buffer b = mu
# b + w g is b + (w g - (1 - mu) b) for the same reason.  An average of squares that has
# overflowed to +inf would give inf - inf = NaN in that form (beta a + ... keeps inf): where
# the form gives NaN, the loops take a + g^2 instead (inf, or NaN from a NaN gradient or
# state).  The update divides by the denominator D, as torch and Keras do (a multiply by
# 1 / D rounds once more).

cdef struct SgdNumbers:
    double lr, momentum
    bint first              # the first step (torch's momentum buffer starts at g)
    double grad_weight      # 1 - dampening (torch; 1 for keras)
    double one_minus_momentum

cdef struct AdagradNumbers:
    double lr, eps_in, eps_out

cdef struct RmspropNumbers:
    double lr, rho, eps_in, eps_out, lr_in, lr_out, momentum, one_minus_rho

cdef struct AdamNumbers:
    double beta_1, beta_2, sqrt_scale, eps, step, prox_lr, one_minus_beta_1, one_minus_beta_2

cdef struct AdamaxNumbers:
    double lr, beta_1, beta_2, eps_in, eps_out, step, one_minus_beta_1

cdef struct NadamNumbers:
    double lr, beta_1, beta_2, v_scale, eps, c_grad, c_mom, one_minus_beta_1, one_minus_beta_2

cdef union StepNumbers:
    SgdNumbers sgd
    AdagradNumbers adagrad
    RmspropNumbers rmsprop
    AdamNumbers adam
    AdamaxNumbers adamax
    NadamNumbers nadam


cdef struct Work:
    # one array of a step: its rule's flags, operands, dtype, group, fused options (the
    # plan's, set by set_options, completed per step), its group's numbers for the step,
    # loop kind and the numbers of its first block and first chunk in the step's numberings
    Flags f
    Arrays a
    bint single
    Py_ssize_t group
    Extras e
    double weight_decay     # e.decay = lr * weight_decay at each step
    double l1               # e.l1 = l1 * the group's prox scale at each step
    StepNumbers c
    StepKind kind
    Py_ssize_t first_block
    Py_ssize_t first_chunk


cdef enum:
    # arrays (and groups) per step described without a heap allocation
    STACK_WORK = 8
    # elements from which a kernel releases the GIL (other Python threads run meanwhile);
    # below, releasing and retaking it costs more than the work
    GIL_FREE_FROM = BLOCK


cdef class Progress:
    """An optimizer's counts of steps taken and the numbers its rule carries from step to
    step, one of each per group of the plan (``Progress(n_groups)``): ``steps[g]`` and
    ``carries[g]`` (Nadam's product of momenta, 1.0 before the first step).  ``step`` and
    ``carry`` read group 0's and set every group's (an optimizer's groups step together).
    ``Plan.step`` advances them in the call that runs the kernels, right after them, with no
    Python code in between: an exception that Python raises between two bytecodes
    (KeyboardInterrupt) finds the arrays and the counters at the same step.

    ``enter()`` and ``leave()`` bracket a whole optimizer step, ``try: enter() ... finally:
    leave()``: an ``enter()`` while a step is running (the optimizer stepped from two threads
    at once) raises RuntimeError.  Both run under the GIL, so the test and the mark are one
    operation.  They count, a refused ``enter()`` too, so that the refused call's ``leave()``
    never clears the running step's mark; and ``enter()`` is inside the ``try``, so that an
    interrupt raised as it returns still reaches the ``leave()``.
    """
    cdef long long* s
    cdef double* c
    cdef readonly Py_ssize_t n_groups
    cdef int depth

    def __cinit__(self, Py_ssize_t n_groups=1):
        if n_groups < 1:
            raise ValueError(f"a Progress needs at least one group, got {n_groups}")
        self.n_groups = n_groups
        self.s = <long long*>calloc(n_groups, sizeof(long long))
        self.c = <double*>malloc(n_groups * sizeof(double))
        if self.s == NULL or self.c == NULL:
            raise MemoryError()
        cdef Py_ssize_t g
        for g in range(n_groups):
            self.c[g] = 1.0

    def __dealloc__(self):
        free(self.s)
        free(self.c)

    @property
    def step(self):
        """Group 0's steps taken; setting it sets every group's."""
        return self.s[0]

    @step.setter
    def step(self, long long value):
        cdef Py_ssize_t g
        for g in range(self.n_groups):
            self.s[g] = value

    @property
    def carry(self):
        """Group 0's carried number; setting it sets every group's."""
        return self.c[0]

    @carry.setter
    def carry(self, double value):
        cdef Py_ssize_t g
        for g in range(self.n_groups):
            self.c[g] = value

    @property
    def steps(self):
        """Per group, the steps taken (a tuple; set it with one int per group)."""
        return tuple(self.s[g] for g in range(self.n_groups))

    @steps.setter
    def steps(self, values):
        cdef list v = [int(x) for x in values]
        if len(v) != self.n_groups:
            raise ValueError(f"{len(v)} step counts for {self.n_groups} groups")
        cdef Py_ssize_t g
        for g in range(self.n_groups):
            self.s[g] = v[g]

    @property
    def carries(self):
        """Per group, the carried number (a tuple; set it with one float per group)."""
        return tuple(self.c[g] for g in range(self.n_groups))

    @carries.setter
    def carries(self, values):
        cdef list v = [float(x) for x in values]
        if len(v) != self.n_groups:
            raise ValueError(f"{len(v)} carried numbers for {self.n_groups} groups")
        cdef Py_ssize_t g
        for g in range(self.n_groups):
            self.c[g] = v[g]

    def enter(self):
        """Mark a step as running and return ``step``; RuntimeError if one is running."""
        self.depth += 1
        if self.depth > 1:
            raise RuntimeError("this optimizer is already taking a step, in another thread: "
                               "step an optimizer from one thread at a time (different "
                               "optimizers in different threads are fine)")
        return self.s[0]

    def leave(self):
        """End what ``enter()`` began (whether it raised or not)."""
        self.depth -= 1


@cython.cdivision(False)     # a zero denominator (e.g. beta_1 = 1) raises ZeroDivisionError
cdef StepNumbers compute_step_numbers(int rule, bint keras, dict h, double lr, long long t,
                                      double* carry) except *:
    """The rule's numbers for step t (counting from 1) at learning rate lr, from its
    hyperparameters h (validated by the optimizer object): bias corrections, Nadam's momentum
    products, and the convention's differences folded in.  ``carry`` is what a rule carries
    from step to step, Nadam's product of momenta prod_{t-1}, updated to prod_t; the other
    rules leave it.  Every operation is the one Python does on floats (libm pow and sqrt; an
    int step converted to double, rounded to nearest), so these are the numbers the published
    formulas give in Python, bit for bit (tests/test_optimizers.py)."""
    cdef StepNumbers c
    cdef double b1, b2, bc1, root, mu, mu_next, prod, psi
    cdef double t_next = <double>(<unsigned long long>t + 1)    # t + 1 may not fit in t's type
    if rule == SGD:
        c.sgd.lr, c.sgd.momentum, c.sgd.first = lr, h["momentum"], t == 1
        c.sgd.grad_weight = 1 - <double>h["dampening"]
        c.sgd.one_minus_momentum = 1 - c.sgd.momentum
    elif rule == ADAGRAD:
        if keras:
            c.adagrad.lr, c.adagrad.eps_in, c.adagrad.eps_out = lr, h["epsilon"], 0.0
        else:
            c.adagrad.lr = lr / (1 + (t - 1) * <double>h["lr_decay"])
            c.adagrad.eps_in, c.adagrad.eps_out = 0.0, h["epsilon"]
    elif rule == RMSPROP:
        c.rmsprop.lr, c.rmsprop.rho, c.rmsprop.momentum = lr, h["rho"], h["momentum"]
        c.rmsprop.one_minus_rho = 1 - c.rmsprop.rho
        if keras:
            c.rmsprop.eps_in, c.rmsprop.eps_out = h["epsilon"], 0.0
            c.rmsprop.lr_in, c.rmsprop.lr_out = lr, 1.0
        else:
            c.rmsprop.eps_in, c.rmsprop.eps_out = 0.0, h["epsilon"]
            c.rmsprop.lr_in, c.rmsprop.lr_out = 1.0, lr
    elif rule == ADAM:
        b1, b2 = h["beta_1"], h["beta_2"]
        bc1 = 1 - pow(b1, <double>t)
        root = sqrt(1 - pow(b2, <double>t))
        c.adam.beta_1, c.adam.beta_2, c.adam.eps = b1, b2, h["epsilon"]
        c.adam.one_minus_beta_1, c.adam.one_minus_beta_2 = 1 - b1, 1 - b2
        if keras:
            c.adam.sqrt_scale, c.adam.step, c.adam.prox_lr = 1.0, lr * root / bc1, lr * root
        else:
            c.adam.sqrt_scale, c.adam.step, c.adam.prox_lr = 1 / root, lr / bc1, lr
    elif rule == ADAMAX:
        b1 = h["beta_1"]
        c.adamax.lr, c.adamax.beta_1, c.adamax.beta_2 = lr, b1, h["beta_2"]
        c.adamax.one_minus_beta_1 = 1 - b1
        c.adamax.step = lr / (1 - pow(b1, <double>t))
        if keras:
            c.adamax.eps_in, c.adamax.eps_out = 0.0, h["epsilon"]
        else:
            c.adamax.eps_in, c.adamax.eps_out = h["epsilon"], 0.0
    else:
        # the momentum schedule mu_t = beta_1 (1 - 0.96^(t psi) / 2), at t and t + 1
        b1, b2, psi = h["beta_1"], h["beta_2"], h["momentum_decay"]
        mu = b1 * (1 - 0.5 * pow(0.96, t * psi))
        mu_next = b1 * (1 - 0.5 * pow(0.96, t_next * psi))
        prod = carry[0] * mu
        carry[0] = prod
        c.nadam.lr, c.nadam.beta_1, c.nadam.beta_2 = lr, b1, b2
        c.nadam.one_minus_beta_1, c.nadam.one_minus_beta_2 = 1 - b1, 1 - b2
        c.nadam.v_scale, c.nadam.eps = 1 / (1 - pow(b2, <double>t)), h["epsilon"]
        c.nadam.c_grad = lr * (1 - mu) / (1 - prod)
        c.nadam.c_mom = lr * mu_next / (1 - prod * mu_next)
    return c


def step_numbers(str rule, bint keras, dict hyper not None, double lr, long long t,
                 double carry=1.0):
    """compute_step_numbers for Python (tests, the Dask front end's l1 step): the rule's
    numbers for step t as a dict by name (its struct's fields, in their order), and the
    carry after the step."""
    cdef int r = rule_entry(rule)[0]
    cdef StepNumbers c = compute_step_numbers(r, keras, hyper, lr, t, &carry)
    if r == SGD:
        numbers = c.sgd
    elif r == ADAGRAD:
        numbers = c.adagrad
    elif r == RMSPROP:
        numbers = c.rmsprop
    elif r == ADAM:
        numbers = c.adam
    elif r == ADAMAX:
        numbers = c.adamax
    else:
        numbers = c.nadam
    return numbers, carry


cdef bint readable(object g, bint single, Py_ssize_t n, const void** data) noexcept:
    """Whether g is a numpy.ndarray a kernel can read as it is: C-contiguous, aligned, of n
    native float32 (single) or float64 numbers; its data pointer goes to data.  (NumPy's
    C API: the buffer protocol costs several times more for a small array.)"""
    if not cnp.PyArray_Check(g):
        return False
    cdef cnp.ndarray a = <cnp.ndarray>g
    cdef size_t size = 4 if single else 8
    if (cnp.PyArray_ISCARRAY_RO(a) and cnp.PyArray_SIZE(a) == n
            and cnp.PyArray_TYPE(a) == (cnp.NPY_FLOAT if single else cnp.NPY_DOUBLE)
            and <size_t>cnp.PyArray_DATA(a) % size == 0):   # NumPy's ALIGNED may mean less
        data[0] = cnp.PyArray_DATA(a)
        return True
    return False


cdef class Plan:
    """An optimizer's parameter arrays (its slots: one rule and convention, float32 and/or
    float64) laid out once for the kernel loop, so that a step passes only the gradients,
    the learning rates and the counters.  The blocks of all the arrays form one loop (on one
    thread, their chunks), split over the threads as a whole: many small arrays cost one
    call and still use every thread.

    ``Plan(slots, shapes, hypers, groups=None)``

    - ``shapes``: the parameters' shapes, for ``fits``.
    - ``hypers``: one dict of the rule's hyperparameters per group (checked by the caller;
      ``compute_step_numbers`` reads them at every step, so the plan keeps the dicts
      themselves: change them in place between steps, e.g. a cycled momentum).
    - ``groups``: per slot, the index of its group (0 <= index < len(hypers)); None puts
      every slot in group 0.  Each group has its own learning rate, hyperparameters, step
      number t and carried number (``Progress(len(hypers))``); the rule's numbers are
      computed once per group per step.  Slots keep their own structural options (momentum,
      amsgrad, ...: see ``Slot``), so groups may differ in them.  Several groups may share
      one dict: arrays with the same hyperparameters but their own step counts (torch's
      per-parameter ``step``) are each a group of their own.
    - ``set_options(options)``: per slot (sign, clip, l2, weight_decay, l1), the fused
      per-element options (1, inf, 0, 0, 0 until set): kept in the plan, so a step unpacks
      nothing from Python for them.  The step's decay is lr * weight_decay and its l1
      strength l1 * prox, prox the group's 1 / (1 - momentum) for SGD's and RMSprop's
      heavy-ball momentum (0 < momentum < 1; else 1).
    - ``step(grads, lr, scales, threads, progress)``: see its docstring.

    The plan keeps its slots, which keep their arrays, so its pointers stay valid while it
    lives.  It also keeps where the arrays it writes lie in memory, so that a step finds, in
    one place, the gradients that overlap any of them (see ``step``).
    """
    cdef Work* w                # the arrays' descriptions and options, gradient unset
    cdef Py_ssize_t nw, nb, nc, total, ng
    cdef int rule
    cdef bint keras
    cdef tuple slots
    cdef tuple hypers
    cdef Span* spans            # the arrays the plan writes (see overlaps_any)
    cdef Py_ssize_t nspans
    cdef Py_ssize_t* dims       # every parameter's shape, one after the other
    cdef int* ndims

    def __cinit__(self, slots, shapes, hypers, groups=None):
        self.slots = tuple(slots)
        shapes = [tuple(shape) for shape in shapes]
        self.nw = len(self.slots)
        if self.nw == 0 or len(shapes) != self.nw:
            raise ValueError(f"a plan needs one shape per slot and at least one slot, got "
                             f"{self.nw} slots and {len(shapes)} shapes")
        self.hypers = tuple(hypers)
        self.ng = len(self.hypers)
        if self.ng == 0 or not all(type(h) is dict for h in self.hypers):
            raise TypeError("'hypers' must be a list of one dict of hyperparameters per group")
        groups = [0] * self.nw if groups is None else [int(g) for g in groups]
        if len(groups) != self.nw or not all(0 <= g < self.ng for g in groups):
            raise ValueError(f"'groups' must give each of the {self.nw} slots a group index "
                             f"from 0 to {self.ng - 1}")
        self.w = <Work*>calloc(self.nw, sizeof(Work))
        self.ndims = <int*>calloc(self.nw, sizeof(int))
        self.dims = <Py_ssize_t*>calloc(sum(map(len, shapes)) + 1, sizeof(Py_ssize_t))
        self.spans = <Span*>calloc(4 * self.nw, sizeof(Span))
        if self.w == NULL or self.ndims == NULL or self.dims == NULL or self.spans == NULL:
            raise MemoryError()
        cdef Slot s
        cdef Py_ssize_t i, count, nd = 0
        cdef size_t nbytes
        cdef Arrays* a
        for i in range(self.nw):
            if not isinstance(self.slots[i], Slot):
                raise TypeError(f"slot {i} is a {type(self.slots[i]).__name__}, not a Slot")
            s = self.slots[i]
            if (s.f.rule != (<Slot>self.slots[0]).f.rule
                    or s.f.keras != (<Slot>self.slots[0]).f.keras):
                raise ValueError("every slot of a plan must have the same rule and convention")
            count = 1
            self.ndims[i] = len(shapes[i])
            for d in shapes[i]:
                count *= d
                self.dims[nd] = d
                nd += 1
            if count != s.a.n:
                raise ValueError(f"shape {shapes[i]} does not have the {s.a.n} elements "
                                 f"of slot {i}")
            self.w[i].f, self.w[i].a, self.w[i].single = s.f, s.a, s.single
            self.w[i].group = groups[i]
            self.w[i].e.sign, self.w[i].e.clip = 1.0, INFINITY
            self.w[i].first_block, self.w[i].first_chunk = self.nb, self.nc
            self.nb += n_blocks(s.a.n)
            self.nc += n_chunks(s.a.n)
            self.total += s.a.n
        self.rule, self.keras = self.w[0].f.rule, self.w[0].f.keras
        for i in range(self.nw):
            a = &self.w[i].a
            nbytes = a.n * (4 if self.w[i].single else 8)
            add_span(self.spans, &self.nspans, a.param, nbytes)
            add_span(self.spans, &self.nspans, a.s1, nbytes)
            add_span(self.spans, &self.nspans, a.s2, nbytes)
            add_span(self.spans, &self.nspans, a.s3, nbytes)
        qsort(self.spans, self.nspans, sizeof(Span), by_start)
        for i in range(1, self.nspans):
            if self.spans[i].hi < self.spans[i - 1].hi:
                self.spans[i].hi = self.spans[i - 1].hi

    def __dealloc__(self):
        free(self.w)
        free(self.ndims)
        free(self.dims)
        free(self.spans)

    @property
    def size(self):
        """Elements over all arrays."""
        return self.total

    @property
    def n_groups(self):
        """The number of groups (of hyperparameter dicts)."""
        return self.ng

    def step_kinds(self):
        """The copy of the loop (Kind) each slot's last step ran, by name: "plain",
        "prox", "mask", "mask+prox", "decay" or "full" ("plain" before the first step)."""
        names = ("plain", "prox", "mask", "mask+prox", "decay", "full")
        return [names[<int>self.w[i].kind] for i in range(self.nw)]

    def set_options(self, options):
        """Per slot, its fused options (sign, clip, l2, weight_decay, l1): sign +-1
        (maximize), clip the clipvalue (+inf: none), l2 the coupled L2, weight_decay the
        decoupled decay (times the group's rate at each step), l1 the scalar l1 strength
        (times the group's prox scale).  All are checked before any is set."""
        options = [tuple(o) for o in options]
        if len(options) != self.nw:
            raise ValueError(f"{len(options)} options for {self.nw} parameter arrays")
        cdef list values = []
        for o in options:
            if len(o) != 5:
                raise ValueError("each slot's options are (sign, clip, l2, weight_decay, l1)")
            values.append([float(v) for v in o])
        cdef Py_ssize_t i
        for i in range(self.nw):
            self.w[i].e.sign, self.w[i].e.clip, self.w[i].e.l2 = values[i][:3]
            self.w[i].weight_decay, self.w[i].l1 = values[i][3:]

    def fits(self, grads):
        """Whether ``grads`` (one array when the plan has one slot, else a list or tuple
        with one per slot) can go to ``step`` as they are: exactly numpy.ndarray, of each
        parameter's shape and dtype, C-contiguous and aligned.  Anything else is converted
        by the caller (fastopt._validation.as_grad)."""
        cdef Py_ssize_t i, d, nd = 0
        cdef const void* data
        if cnp.PyArray_CheckExact(grads):
            if self.nw != 1:
                return False
            grads = (grads,)
        elif (type(grads) is not list and type(grads) is not tuple) or len(grads) != self.nw:
            return False
        for i in range(self.nw):
            g = grads[i]
            if not (cnp.PyArray_CheckExact(g)
                    and readable(g, self.w[i].single, self.w[i].a.n, &data)
                    and cnp.PyArray_NDIM(<cnp.ndarray>g) == self.ndims[i]):
                return False
            for d in range(self.ndims[i]):
                if cnp.PyArray_DIMS(<cnp.ndarray>g)[d] != self.dims[nd + d]:
                    return False
            nd += self.ndims[i]
        return True

    def step(self, grads, lr, scales, object threads, Progress progress not None):
        """Step number t_g = progress.steps[g] + 1 of every group g (counting from 1): slot i
        is updated with ``grads[i]`` (C-contiguous, aligned, of its parameter's dtype and
        element count, any shape; copied first if it shares memory with any parameter or
        state array of the plan, so that it is read as it was passed although the loop
        writes those arrays in any order).

        ``lr`` is one learning rate for every group (a float) or a list or tuple of one per
        group; ``scales`` None (1 for every slot) or one norm-clipping scale per slot;
        ``threads`` a validated thread count or None (threads_for).  Each group's numbers
        are computed once, from its hyperparameters (the dicts given to the plan), its rate,
        t_g and its carried number (Nadam's product of momenta).  ``progress`` has one step
        count and carried number per group; right after the kernels, before this call
        returns, they hold every t_g and the numbers for the next step.

        Returns the number of non-finite gradient entries (pruned ones excluded).
        """
        cdef Py_ssize_t nw = self.nw, ng = self.ng, i, g, b
        cdef int num_threads = threads_for(threads)
        if type(grads) is not tuple:
            grads = tuple(grads)    # its references keep the arrays alive until the end
        if len(grads) != nw:
            raise ValueError(f"{len(grads)} gradients for {nw} parameter arrays")
        if scales is not None and len(scales) != nw:
            raise ValueError(f"{len(scales)} scales for {nw} parameter arrays")
        if progress.n_groups != ng:
            raise ValueError(f"'progress' counts {progress.n_groups} groups, the plan has {ng}")
        cdef bint one_rate = type(lr) is not tuple and type(lr) is not list
        if not one_rate:
            lr = tuple(lr)
            if len(lr) != ng:
                raise ValueError(f"{len(lr)} learning rates for {ng} groups")
        for g in range(ng):
            if not 0 <= progress.s[g] < LLONG_MAX:
                raise ValueError(f"step count {progress.s[g]} out of range")
        cdef StepNumbers nstack[STACK_WORK]
        cdef double lstack[3 * STACK_WORK]
        cdef StepNumbers* nums = &nstack[0]
        cdef double* rates = &lstack[0]        # per group: lr, prox scale, carry
        cdef Work stack[STACK_WORK]
        cdef Work* w = &stack[0]
        cdef list copies = None     # gradients copied because they alias a written array
        cdef long long bad = 0
        cdef double mu, damped
        if ng > STACK_WORK:
            nums = <StepNumbers*>malloc(ng * sizeof(StepNumbers))
            rates = <double*>malloc(3 * ng * sizeof(double))
        if nw > STACK_WORK:
            w = <Work*>malloc(nw * sizeof(Work))
        try:
            if nums == NULL or rates == NULL or w == NULL:
                raise MemoryError()
            for g in range(ng):
                rates[3 * g] = lr if one_rate else lr[g]
                rates[3 * g + 2] = progress.c[g]
                nums[g] = compute_step_numbers(self.rule, self.keras, self.hypers[g],
                                               rates[3 * g], progress.s[g] + 1,
                                               &rates[3 * g + 2])
                # heavy-ball momentum's steps are (1 - dampening) / (1 - momentum) longer
                # at a fixed point: the l1 threshold follows, so fixed points solve the l1
                # problem
                mu = (nums[g].sgd.momentum if self.rule == SGD else
                      nums[g].rmsprop.momentum if self.rule == RMSPROP else 0.0)
                damped = nums[g].sgd.grad_weight if self.rule == SGD else 1.0
                rates[3 * g + 1] = damped / (1.0 - mu) if 0.0 < mu < 1.0 else 1.0
            # a copy per call: the gradients and options of a step are its own
            memcpy(w, self.w, nw * sizeof(Work))
            for i in range(nw):
                if not readable(grads[i], w[i].single, w[i].a.n, &w[i].a.grad):
                    raise TypeError(
                        f"'grads[{i}]' must be a C-contiguous, aligned "
                        f"{'float32' if w[i].single else 'float64'} numpy array of "
                        f"{w[i].a.n} elements")
                if w[i].a.n and overlaps_any(self.spans, self.nspans, w[i].a.grad,
                                             w[i].a.n * (4 if w[i].single else 8)):
                    grad = _np.array(grads[i])
                    copies = [grad] if copies is None else copies + [grad]
                    readable(grad, w[i].single, w[i].a.n, &w[i].a.grad)
                g = w[i].group
                w[i].c = nums[g]
                w[i].e.decay = rates[3 * g] * w[i].weight_decay
                w[i].e.l1 = w[i].l1 * rates[3 * g + 1]
                w[i].e.scale = 1.0 if scales is None else scales[i]
                w[i].e.prox = w[i].a.l1w != NULL or w[i].e.l1 != 0
                w[i].kind = step_kind(&w[i].a, &w[i].e)
                self.w[i].kind = w[i].kind     # for step_kinds
            if not serial(self.total, num_threads):
                for b in prange(self.nb, nogil=True, schedule='static',
                                num_threads=num_threads):
                    bad += work_unit(w, nw, b, False)
            elif self.total < GIL_FREE_FROM:
                for b in range(self.nc):
                    bad += work_unit(w, nw, b, True)
            else:
                with nogil:
                    for b in range(self.nc):
                        bad += work_unit(w, nw, b, True)
            for g in range(ng):
                progress.s[g] += 1
                progress.c[g] = rates[3 * g + 2]
        finally:
            if w != &stack[0]:
                free(w)
            if nums != &nstack[0]:
                free(nums)
            if rates != &lstack[0]:
                free(rates)
        return bad


cdef StepKind step_kind(Arrays* a, Extras* e) noexcept:
    """Which copy of the loop an array's step needs (see Kind)."""
    if a.lower != NULL or a.upper != NULL or a.l1w != NULL:
        return FULL_STEP
    if a.mask == NULL and not e.prox and e.clip == INFINITY:
        return PLAIN_STEP
    if e.l2 != 0 or e.decay != 0 or e.sign * e.scale != 1 or e.clip != INFINITY:
        return DECAY_STEP
    if a.mask == NULL:
        return PROX_STEP
    return MASK_PROX_STEP if e.prox else MASK_STEP


cdef inline int work_unit(Work* w, Py_ssize_t nw, Py_ssize_t u, bint chunks) noexcept nogil:
    """Unit u of a step's numbering by chunks or by blocks: found by bisection among the
    arrays, then run by the float32 or float64 copy of the rule's loop for its kind of
    step."""
    cdef Py_ssize_t lo = 0, hi = nw - 1, mid, b, count = CHUNK_BLOCKS if chunks else 1
    while lo < hi:                          # the last array whose first unit is <= u
        mid = (lo + hi + 1) // 2
        if (w[mid].first_chunk if chunks else w[mid].first_block) <= u:
            lo = mid
        else:
            hi = mid - 1
    w = w + lo
    b = (u - w.first_chunk) * CHUNK_BLOCKS if chunks else u - w.first_block
    if w.single:
        if w.kind == PLAIN_STEP:
            return blocks_step(w.f, &w.a, b, count, w.e, w.c, <float>0, PLAIN)
        if w.kind == PROX_STEP:
            return blocks_step(w.f, &w.a, b, count, w.e, w.c, <float>0, PROX)
        if w.kind == MASK_STEP:
            return blocks_step(w.f, &w.a, b, count, w.e, w.c, <float>0, MASK)
        if w.kind == MASK_PROX_STEP:
            return blocks_step(w.f, &w.a, b, count, w.e, w.c, <float>0, MASK_PROX)
        if w.kind == DECAY_STEP:
            return blocks_step(w.f, &w.a, b, count, w.e, w.c, <float>0, DECAY)
        return blocks_step(w.f, &w.a, b, count, w.e, w.c, <float>0, FULL)
    if w.kind == PLAIN_STEP:
        return blocks_step(w.f, &w.a, b, count, w.e, w.c, <double>0, PLAIN)
    if w.kind == PROX_STEP:
        return blocks_step(w.f, &w.a, b, count, w.e, w.c, <double>0, PROX)
    if w.kind == MASK_STEP:
        return blocks_step(w.f, &w.a, b, count, w.e, w.c, <double>0, MASK)
    if w.kind == MASK_PROX_STEP:
        return blocks_step(w.f, &w.a, b, count, w.e, w.c, <double>0, MASK_PROX)
    if w.kind == DECAY_STEP:
        return blocks_step(w.f, &w.a, b, count, w.e, w.c, <double>0, DECAY)
    return blocks_step(w.f, &w.a, b, count, w.e, w.c, <double>0, FULL)


cdef inline int blocks_step(Flags f, Arrays* a, Py_ssize_t b, Py_ssize_t count, Extras e,
                            StepNumbers c, floating z, Kind kind) noexcept nogil:
    """Blocks b to b + count - 1 of one array's step (those that exist): one loop call for
    every kind but the full step, which reads the one-block constant stand-ins of absent
    per-coordinate arrays and so goes block by block.  The sparse and decay kinds get the
    options they leave out (step_kind) as constants, so that the compiler drops them from
    their loops."""
    cdef Py_ssize_t end = min(b + count, n_blocks(a.n))
    cdef floating run[MASK_RUN]
    cdef Block k
    cdef int bad = 0
    if Kind is ProxStep or Kind is MaskStep or Kind is MaskProxStep:
        e.sign, e.scale, e.l2, e.decay = 1, 1, 0, 0
        e.prox = Kind is not MaskStep
    while b < end:
        # a full step block by block, every other kind in one call
        k = block_at(a, b, 1 if Kind is FullStep else end - b, sizeof(floating))
        k.run = run
        bad += block_step(f, a, k, e, c, z, kind)
        b += 1 if Kind is FullStep else end - b
    return bad


cdef inline Py_ssize_t run_end(Block* k, Py_ssize_t lo, const floating** kept,
                               const unsigned char** kept_bytes, Kind kind) noexcept nogil:
    """Where the rule loop's run of elements that starts at lo ends: MASK_RUN elements later
    with a mask, their mask first copied into k.run as numbers of the parameter's width (1
    where it is nonzero, else 0); without one, a block later in a decay or full step, whose
    *kept is then the one-block stand-in of ones, and at k's end in a plain or prox step,
    which reads none.  *kept is the run's mask (kept_at reads it).  Builds that read mask
    bytes in the rule loop (MASK_BYTES) get them in *kept_bytes instead, in one run to k's
    end (the stand-in: a block of ones as bytes).

    With AVX2 or less, a mask read as bytes inside the rule loop would make the compiler
    vectorize by 32 elements (a vector of bytes), 4 or 8 vectors of each number, more than
    the registers hold (measured 1.4-1.8x the plain step); read in runs, it stays in the
    first-level cache, and the run's loop starts inside the rule function (a function call
    per run cost masked float32 SGD a fifth of its step).  The run's buffer belongs to the caller
    (blocks_step): an array of the rule function's own would keep the compiler from
    inlining it where its structural options are constants (a 2 KiB stack frame), and a
    loop with a runtime amsgrad writes vmax through masked stores, even to NULL (25x)."""
    cdef Py_ssize_t i, hi = k.n
    cdef const unsigned char* mask = k.mask
    cdef floating* run = <floating*>k.run
    cdef bint reads_mask = (Kind is MaskStep or Kind is MaskProxStep or Kind is DecayStep
                            or Kind is FullStep)
    if MASK_BYTES and reads_mask and mask != NULL:
        kept_bytes[0] = mask + lo
    elif MASK_BYTES and (Kind is DecayStep or Kind is FullStep):
        hi = min(lo + BLOCK, k.n)
        kept_bytes[0] = ONES_B
    elif reads_mask and mask != NULL:
        hi = min(lo + MASK_RUN, k.n)
        for i in range(hi - lo):
            run[i] = 1 if mask[lo + i] != 0 else 0
        kept[0] = run
    elif Kind is DecayStep or Kind is FullStep:
        hi = min(lo + BLOCK, k.n)              # the stand-in's length
        kept[0] = <const floating*>(<const void*>ONES_F if floating is float
                                    else <const void*>ONES_D)
    return hi


cdef inline bint kept_at(const floating* kept, const unsigned char* kept_bytes,
                         Py_ssize_t j, Kind kind) noexcept nogil:
    """Whether element j of a run (run_end) is kept: always in the kinds that read no mask
    (plain and prox steps), else by its mask byte in the builds that read them
    (MASK_BYTES), or by its number in the run's buffer."""
    if Kind is PlainStep or Kind is ProxStep:
        return True
    return kept_bytes[j] != 0 if MASK_BYTES else kept[j] != 0


cdef inline int block_step(Flags f, Arrays* a, Block k, Extras e, StepNumbers c,
                           floating z, Kind kind) noexcept nogil:
    """Block k of one step (one or more blocks of BLOCK elements).  Structural options are
    passed to the rule's block function as constants, so each variant is its own
    branch-free loop that the compiler vectorizes."""
    cdef floating* p = at(a.param, k.start, z)
    cdef const floating* g = <const floating*>a.grad + k.start
    cdef floating* s1 = at(a.s1, k.start, z)
    cdef floating* s2 = at(a.s2, k.start, z)
    cdef floating* s3 = at(a.s3, k.start, z)
    if f.rule == SGD:
        # torch's first momentum step (b = g) is a variant of its own: a runtime choice
        # between b = g and the average kept a full step's loop from being vectorized
        # (measured 10-24x the plain step)
        if not f.momentum:
            return sgd_block(p, g, s1, k, e, c.sgd, False, False, False, False, kind)
        elif f.keras and f.nesterov:
            return sgd_block(p, g, s1, k, e, c.sgd, True, True, True, False, kind)
        elif f.keras:
            return sgd_block(p, g, s1, k, e, c.sgd, True, False, True, False, kind)
        elif f.nesterov and c.sgd.first:
            return sgd_block(p, g, s1, k, e, c.sgd, True, True, False, True, kind)
        elif f.nesterov:
            return sgd_block(p, g, s1, k, e, c.sgd, True, True, False, False, kind)
        elif c.sgd.first:
            return sgd_block(p, g, s1, k, e, c.sgd, True, False, False, True, kind)
        return sgd_block(p, g, s1, k, e, c.sgd, True, False, False, False, kind)
    if f.rule == ADAGRAD:
        return adagrad_block(p, g, s1, k, e, c.adagrad, kind)
    if f.rule == RMSPROP:
        if f.centered and f.momentum:
            return rmsprop_block(p, g, s1, s2, s3, k, e, c.rmsprop, True, True, kind)
        elif f.centered:
            return rmsprop_block(p, g, s1, s2, s3, k, e, c.rmsprop, True, False, kind)
        elif f.momentum:
            return rmsprop_block(p, g, s1, s2, s3, k, e, c.rmsprop, False, True, kind)
        return rmsprop_block(p, g, s1, s2, s3, k, e, c.rmsprop, False, False, kind)
    if f.rule == ADAM:
        if f.amsgrad:
            return adam_block(p, g, s1, s2, s3, k, e, c.adam, True, kind)
        return adam_block(p, g, s1, s2, s3, k, e, c.adam, False, kind)
    if f.rule == ADAMAX:
        return adamax_block(p, g, s1, s2, k, e, c.adamax, kind)
    return nadam_block(p, g, s1, s2, k, e, c.nadam, kind)


# ---------------------------------------------------------------------------------------
# SGD, momentum, Nesterov.                                         D = 1, tau = lr * l1
#   torch:  b = mu b + w g (b = g at the first step; w = 1 - dampening);
#           p -= lr * (g + mu b if nesterov else b)
#   keras:  v = mu v - lr g;  p += mu v - lr g if nesterov else v

cdef inline int sgd_block(floating* p, const floating* g, floating* buf, Block k,
                          Extras e, SgdNumbers nums, bint momentum, bint nesterov,
                          bint keras, bint first, Kind kind) noexcept nogil:
    cdef const floating* kept = NULL
    cdef const unsigned char* kept_bytes = NULL
    cdef floating sign = e.sign, clip = e.clip, scale = e.scale, l2 = e.l2, decay = e.decay
    cdef floating flr = nums.lr, fmu = nums.momentum, tau = nums.lr * e.l1
    cdef floating fw = nums.grad_weight, cmu = nums.one_minus_momentum
    cdef floating gi, x, b
    cdef bint keep, prox = e.prox
    cdef int bad = 0
    cdef Py_ssize_t i, lo = 0, hi
    while lo < k.n:
        hi = run_end(&k, lo, &kept, &kept_bytes, kind)
        for i in range(lo, hi):
            keep = kept_at(kept, kept_bytes, i - lo, kind)
            gi = g[i]
            bad += keep & nonfinite(gi)
            x = p[i]
            gi = prepare(gi, x, sign, clip, scale, l2, kind)
            x = x - decay * x if decay != 0 else x
            if not momentum:
                x = x - flr * gi
            elif keras:
                b = fmu * buf[i] - flr * gi
                x = x + (fmu * b - flr * gi if nesterov else b)
                buf[i] = b if keep else 0
            else:
                # mu b + w g as b + (w g - (1 - mu) b) (see MOVING AVERAGES); fw != 1 is
                # loop-invariant: without dampening the loop has no multiply by fw
                b = buf[i]
                b = gi if first else b + ((fw * gi if fw != 1 else gi) - cmu * b)
                x = x - flr * (gi + fmu * b if nesterov else b)
                buf[i] = b if keep else 0
            if Kind is not PlainStep:
                x = finish(x, tau, 1, 1, k, i, prox, kind)
            p[i] = x if keep else 0
        lo = hi
    return bad


# ---------------------------------------------------------------------------------------
# AdaGrad.      s += g^2;  D = sqrt(s + eps_in) + eps_out;  p -= lr g / D;  tau = lr l1 / D
#   torch: eps_in = 0, eps_out = eps, lr = lr / (1 + (t - 1) lr_decay);   keras: eps_in = eps

cdef inline int adagrad_block(floating* p, const floating* g, floating* acc, Block k,
                              Extras e, AdagradNumbers nums, Kind kind) noexcept nogil:
    cdef const floating* kept = NULL
    cdef const unsigned char* kept_bytes = NULL
    cdef floating sign = e.sign, clip = e.clip, scale = e.scale, l2 = e.l2, decay = e.decay
    cdef floating flr = nums.lr, ein = nums.eps_in, eout = nums.eps_out
    cdef floating tau = nums.lr * e.l1
    cdef floating gi, x, s, d, r
    cdef bint keep, prox = e.prox
    cdef int bad = 0
    cdef Py_ssize_t i, lo = 0, hi
    while lo < k.n:
        hi = run_end(&k, lo, &kept, &kept_bytes, kind)
        for i in range(lo, hi):
            keep = kept_at(kept, kept_bytes, i - lo, kind)
            gi = g[i]
            bad += keep & nonfinite(gi)
            x = p[i]
            gi = prepare(gi, x, sign, clip, scale, l2, kind)
            x = x - decay * x if decay != 0 else x
            s = acc[i] + gi * gi
            d = f_sqrt(s + ein) + eout
            r = reciprocal(d, kind)
            x = x - over(flr * gi, d, r, kind)
            if Kind is not PlainStep:
                x = finish(x, tau, d, r, k, i, prox, kind)
            acc[i] = s if keep else 0
            p[i] = x if keep else 0
        lo = hi
    return bad


# ---------------------------------------------------------------------------------------
# RMSprop.      s = rho s + (1 - rho) g^2;  a = rho a + (1 - rho) g (centered);
#               D = sqrt(s [- a^2] + eps_in) + eps_out;  tau = lr l1 / D
#   plain:     p -= lr g / D
#   momentum:  B = mu B + lr_in g / D;  p -= lr_out B
#   torch: eps_in = 0, eps_out = eps, lr_in = 1, lr_out = lr
#   keras: eps_in = eps, eps_out = 0, lr_in = lr, lr_out = 1

cdef inline int rmsprop_block(floating* p, const floating* g, floating* sq,
                              floating* avg, floating* buf, Block k, Extras e,
                              RmspropNumbers nums, bint centered, bint momentum,
                              Kind kind) noexcept nogil:
    cdef const floating* kept = NULL
    cdef const unsigned char* kept_bytes = NULL
    cdef floating sign = e.sign, clip = e.clip, scale = e.scale, l2 = e.l2, decay = e.decay
    cdef floating flr = nums.lr, ein = nums.eps_in, eout = nums.eps_out
    cdef floating fin = nums.lr_in, fout = nums.lr_out, fmu = nums.momentum
    cdef floating tau = nums.lr * e.l1, crho = nums.one_minus_rho
    cdef floating gi, x, s, a, w, d, r, bb, q
    cdef bint keep, prox = e.prox
    cdef int bad = 0
    cdef Py_ssize_t i, lo = 0, hi
    while lo < k.n:
        hi = run_end(&k, lo, &kept, &kept_bytes, kind)
        for i in range(lo, hi):
            keep = kept_at(kept, kept_bytes, i - lo, kind)
            gi = g[i]
            bad += keep & nonfinite(gi)
            x = p[i]
            gi = prepare(gi, x, sign, clip, scale, l2, kind)
            x = x - decay * x if decay != 0 else x
            s = sq[i]
            q = s + crho * (gi * gi - s)
            # an infinite average stays inf (MOVING AVERAGES)
            s = q if q == q else s + gi * gi
            w = s
            if centered:
                a = avg[i]
                a = a + crho * (gi - a)
                w = s - a * a
                avg[i] = a if keep else 0
            d = f_sqrt(w + ein) + eout
            r = reciprocal(d, kind)
            if momentum:
                bb = fmu * buf[i] + over(fin * gi, d, r, kind)
                x = x - fout * bb
                buf[i] = bb if keep else 0
            else:
                x = x - over(flr * gi, d, r, kind)
            if Kind is not PlainStep:
                x = finish(x, tau, d, r, k, i, prox, kind)
            sq[i] = s if keep else 0
            p[i] = x if keep else 0
        lo = hi
    return bad


# ---------------------------------------------------------------------------------------
# Adam / AMSGrad.   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  w = v, or
#                   vmax = max(vmax, v), w = vmax (amsgrad);
#                   D = sqrt(w) * sqrt_scale + eps;  p -= step m / D;  tau = prox_lr l1 / D
#   torch: sqrt_scale = 1 / sqrt(bc2), step = lr / bc1, prox_lr = lr
#   keras: sqrt_scale = 1, step = lr sqrt(bc2) / bc1, prox_lr = lr sqrt(bc2)

cdef inline int adam_block(floating* p, const floating* g, floating* m, floating* v,
                           floating* vmax, Block k, Extras e, AdamNumbers nums,
                           bint amsgrad, Kind kind) noexcept nogil:
    cdef const floating* kept = NULL
    cdef const unsigned char* kept_bytes = NULL
    cdef floating sign = e.sign, clip = e.clip, scale = e.scale, l2 = e.l2, decay = e.decay
    cdef floating ss = nums.sqrt_scale, feps = nums.eps
    cdef floating fstep = nums.step, tau = nums.prox_lr * e.l1
    cdef floating c1 = nums.one_minus_beta_1, c2 = nums.one_minus_beta_2
    cdef floating gi, x, mi, vi, w, d, r, q
    cdef bint keep, prox = e.prox
    cdef int bad = 0
    cdef Py_ssize_t i, lo = 0, hi
    while lo < k.n:
        hi = run_end(&k, lo, &kept, &kept_bytes, kind)
        for i in range(lo, hi):
            keep = kept_at(kept, kept_bytes, i - lo, kind)
            gi = g[i]
            bad += keep & nonfinite(gi)
            x = p[i]
            gi = prepare(gi, x, sign, clip, scale, l2, kind)
            x = x - decay * x if decay != 0 else x
            mi = m[i]
            mi = mi + c1 * (gi - mi)
            vi = v[i]
            q = vi + c2 * (gi * gi - vi)
            # an infinite average stays inf (MOVING AVERAGES)
            vi = q if q == q else vi + gi * gi
            w = vi
            if amsgrad:
                w = f_max(vmax[i], vi)
                vmax[i] = w if keep else 0
            d = f_sqrt(w) * ss + feps
            r = reciprocal(d, kind)
            x = x - over(fstep * mi, d, r, kind)
            if Kind is not PlainStep:
                x = finish(x, tau, d, r, k, i, prox, kind)
            m[i] = mi if keep else 0
            v[i] = vi if keep else 0
            p[i] = x if keep else 0
        lo = hi
    return bad


# ---------------------------------------------------------------------------------------
# AdaMax.   m = b1 m + (1 - b1) g;  u = max(b2 u, |g| + eps_in);  D = u + eps_out;
#           p -= step m / D;  tau = lr l1 / D;  step = lr / bc1
#   torch: eps_in = eps, eps_out = 0;   keras: eps_in = 0, eps_out = eps

cdef inline int adamax_block(floating* p, const floating* g, floating* m, floating* u,
                             Block k, Extras e, AdamaxNumbers nums, Kind kind) noexcept nogil:
    cdef const floating* kept = NULL
    cdef const unsigned char* kept_bytes = NULL
    cdef floating sign = e.sign, clip = e.clip, scale = e.scale, l2 = e.l2, decay = e.decay
    cdef floating b2 = nums.beta_2, ein = nums.eps_in
    cdef floating eout = nums.eps_out, fstep = nums.step, tau = nums.lr * e.l1
    cdef floating c1 = nums.one_minus_beta_1
    cdef floating gi, x, mi, ui, d, r
    cdef bint keep, prox = e.prox
    cdef int bad = 0
    cdef Py_ssize_t i, lo = 0, hi
    while lo < k.n:
        hi = run_end(&k, lo, &kept, &kept_bytes, kind)
        for i in range(lo, hi):
            keep = kept_at(kept, kept_bytes, i - lo, kind)
            gi = g[i]
            bad += keep & nonfinite(gi)
            x = p[i]
            gi = prepare(gi, x, sign, clip, scale, l2, kind)
            x = x - decay * x if decay != 0 else x
            mi = m[i]
            mi = mi + c1 * (gi - mi)
            ui = f_max(b2 * u[i], f_abs(gi) + ein)
            d = ui + eout
            r = reciprocal(d, kind)
            x = x - over(fstep * mi, d, r, kind)
            if Kind is not PlainStep:
                x = finish(x, tau, d, r, k, i, prox, kind)
            m[i] = mi if keep else 0
            u[i] = ui if keep else 0
            p[i] = x if keep else 0
        lo = hi
    return bad


# ---------------------------------------------------------------------------------------
# Nadam.    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  D = sqrt(v * v_scale) + eps;
#           p -= (c_grad g + c_mom m) / D;  tau = lr l1 / D
#   v_scale = 1 / bc2;  c_grad = lr (1 - mu_t) / (1 - prod_t);
#   c_mom = lr mu_{t+1} / (1 - prod_t mu_{t+1})  (same form in both conventions)

cdef inline int nadam_block(floating* p, const floating* g, floating* m, floating* v,
                            Block k, Extras e, NadamNumbers nums, Kind kind) noexcept nogil:
    cdef const floating* kept = NULL
    cdef const unsigned char* kept_bytes = NULL
    cdef floating sign = e.sign, clip = e.clip, scale = e.scale, l2 = e.l2, decay = e.decay
    cdef floating vs = nums.v_scale, feps = nums.eps
    cdef floating cg = nums.c_grad, cm = nums.c_mom, tau = nums.lr * e.l1
    cdef floating c1 = nums.one_minus_beta_1, c2 = nums.one_minus_beta_2
    cdef floating gi, x, mi, vi, d, r, q
    cdef bint keep, prox = e.prox
    cdef int bad = 0
    cdef Py_ssize_t i, lo = 0, hi
    while lo < k.n:
        hi = run_end(&k, lo, &kept, &kept_bytes, kind)
        for i in range(lo, hi):
            keep = kept_at(kept, kept_bytes, i - lo, kind)
            gi = g[i]
            bad += keep & nonfinite(gi)
            x = p[i]
            gi = prepare(gi, x, sign, clip, scale, l2, kind)
            x = x - decay * x if decay != 0 else x
            mi = m[i]
            mi = mi + c1 * (gi - mi)
            vi = v[i]
            q = vi + c2 * (gi * gi - vi)
            # an infinite average stays inf (MOVING AVERAGES)
            vi = q if q == q else vi + gi * gi
            d = f_sqrt(vi * vs) + feps
            r = reciprocal(d, kind)
            x = x - over(cg * gi + cm * mi, d, r, kind)
            if Kind is not PlainStep:
                x = finish(x, tau, d, r, k, i, prox, kind)
            m[i] = mi if keep else 0
            v[i] = vi if keep else 0
            p[i] = x if keep else 0
        lo = hi
    return bad


# ---------------------------------------------------------------------------------------
# Reductions: fixed blocks summed in block order, so identical for any thread count.

cdef double squares_in(const floating* x, const unsigned char* mask, Py_ssize_t b,
                       Py_ssize_t n) noexcept nogil:
    """Sum of x**2 over block b's unpruned coordinates (mask NULL: all), in LANES partial
    sums (the block's element j goes to sum j % LANES) added in order at the end: a fixed
    order, so the same for any thread count, in independent chains the compiler vectorizes
    (one running sum waits for each addition: 5x slower).  The entries go by runs of
    MASK_RUN through a buffer, where the mask's choice (a pruned entry counts as 0, even a
    NaN) is a vectorized select; inside the summing loop it was a branch (30x slower with a
    random mask).  The buffer's tail is padded with zeros to whole lanes."""
    cdef Py_ssize_t i, j, m, start = b * BLOCK, stop = min(start + BLOCK, n)
    cdef double acc[LANES]
    cdef double run[MASK_RUN]
    cdef double v, total = 0.0
    for j in range(LANES):
        acc[j] = 0.0
    while start < stop:
        m = min(MASK_RUN, stop - start)
        if mask == NULL:
            for j in range(m):
                run[j] = x[start + j]
        else:
            for j in range(m):
                v = x[start + j]
                run[j] = v if mask[start + j] != 0 else 0.0
        for j in range(m, (m + LANES - 1) // LANES * LANES):
            run[j] = 0.0
        i = 0
        while i < m:
            for j in range(LANES):
                acc[j] = acc[j] + run[i + j] * run[i + j]
            i += LANES
        start += m
    for j in range(LANES):
        total = total + acc[j]
    return total


def sum_squares(const floating[::1] x, const unsigned char[::1] mask, int num_threads):
    """Sum of x**2 in float64 over unpruned coordinates (for norm clipping)."""
    cdef Py_ssize_t n = x.shape[0], nb = n_blocks(n), b
    check_length(n, "mask", mask.shape[0], True)
    if n == 0:
        return 0.0
    check_aligned(&x[0], sizeof(floating), "x")
    cdef const floating* px = &x[0]
    cdef const unsigned char* pm = &mask[0] if mask.shape[0] else NULL
    cdef double* part = <double*>malloc(nb * sizeof(double))
    cdef double total = 0.0
    if part == NULL:
        raise MemoryError()
    if serial(n, num_threads):
        with nogil:
            for b in range(nb):
                part[b] = squares_in(px, pm, b, n)
    else:
        for b in prange(nb, nogil=True, schedule='static', num_threads=num_threads):
            part[b] = squares_in(px, pm, b, n)
    for b in range(nb):
        total += part[b]
    free(part)
    return total


cdef class Snapshot:
    """Copies of a fixed list of arrays, refreshed by ``save()`` in one call: the minimize
    loop's checkpoint of x and the optimizer's state arrays at its last good point.  The
    arrays must stay the same objects (their memory is read through pointers taken here)
    and are kept alive by the snapshot; ``copies`` holds the copies, in the same order.
    One C call copies them all, so no Python code (a KeyboardInterrupt) runs between two
    of the copies."""

    cdef readonly list sources, copies
    cdef char** src
    cdef char** dst
    cdef Py_ssize_t* nbytes
    cdef Py_ssize_t n

    def __cinit__(self, arrays):
        self.sources = list(arrays)
        for a in self.sources:
            if not (cnp.PyArray_Check(a) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a)):
                raise TypeError("Snapshot needs C-contiguous numpy arrays")
        self.copies = [_np.array(a, copy=True, order="C") for a in self.sources]
        self.n = len(self.sources)
        self.src = <char**>malloc(max(self.n, 1) * sizeof(char*))
        self.dst = <char**>malloc(max(self.n, 1) * sizeof(char*))
        self.nbytes = <Py_ssize_t*>malloc(max(self.n, 1) * sizeof(Py_ssize_t))
        if self.src == NULL or self.dst == NULL or self.nbytes == NULL:
            raise MemoryError()
        cdef Py_ssize_t i
        for i in range(self.n):
            self.src[i] = <char*>cnp.PyArray_DATA(<cnp.ndarray>self.sources[i])
            self.dst[i] = <char*>cnp.PyArray_DATA(<cnp.ndarray>self.copies[i])
            self.nbytes[i] = cnp.PyArray_NBYTES(<cnp.ndarray>self.sources[i])

    def __dealloc__(self):
        free(self.src)
        free(self.dst)
        free(self.nbytes)

    def save(self):
        """Copy every array into its copy."""
        cdef Py_ssize_t i
        for i in range(self.n):
            memcpy(self.dst[i], self.src[i], self.nbytes[i])


def max_abs(x):
    """max |x_i| (0.0 when empty), NaN when any entry is NaN, of a 1-D C-contiguous, aligned
    float32 or float64 numpy array (TypeError otherwise): one serial pass, for the gradient
    tests of small problems (numpy's reduction costs microseconds there; this a tenth of
    one)."""
    cdef const void* data = NULL
    cdef Py_ssize_t n = 0
    cdef bint single = False
    cdef bint ok = cnp.PyArray_Check(x) and cnp.PyArray_NDIM(<cnp.ndarray>x) == 1
    if ok:
        n = cnp.PyArray_DIMS(<cnp.ndarray>x)[0]
        single = cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_FLOAT
        ok = readable(x, single, n, &data)
    if not ok:
        raise TypeError("max_abs needs a 1-D C-contiguous, aligned float32 or float64 "
                        f"numpy array, got {type(x).__name__}")
    cdef double m
    if n < GIL_FREE_FROM:
        return largest_abs(data, n, single)
    with nogil:
        m = largest_abs(data, n, single)
    return m


cdef double largest_abs(const void* x, Py_ssize_t n, bint single) noexcept nogil:
    """max |x_i|, NaN when an entry is NaN, found among the entries' bits: with the sign bit
    cleared, IEEE numbers order as integers do, every NaN above inf.  An integer maximum
    the compiler vectorizes; a floating-point one it may not reorder (one comparison after
    another: as long as a plain step at 10^7 elements)."""
    cdef Py_ssize_t i
    cdef uint32_t b32, m32 = 0, inf32
    cdef int64_t b64, m64 = 0, inf64
    cdef float f = INFINITY
    cdef double d = INFINITY
    if single:
        memcpy(&inf32, &f, 4)
        for i in range(n):
            b32 = (<const uint32_t*>x)[i] & (UINT32_MAX >> 1)
            m32 = b32 if b32 > m32 else m32
        memcpy(&f, &m32, 4)
        return NAN if m32 > inf32 else f
    memcpy(&inf64, &d, 8)
    for i in range(n):
        b64 = (<const int64_t*>x)[i] & INT64_MAX
        m64 = b64 if b64 > m64 else m64
    memcpy(&d, &m64, 8)
    return NAN if m64 > inf64 else d


cdef inline int nonfinite_in(const floating* x, const unsigned char* mask,
                             Py_ssize_t b, Py_ssize_t n) noexcept nogil:
    """Number of +-inf/NaN entries among block b's unpruned coordinates."""
    cdef Py_ssize_t i, start = b * BLOCK, stop = min(start + BLOCK, n)
    cdef int bad = 0
    for i in range(start, stop):
        bad += nonfinite(x[i]) & (mask == NULL or mask[i] != 0)
    return bad


def count_nonfinite(const floating[::1] x, const unsigned char[::1] mask, int num_threads):
    """Number of +-inf/NaN entries of x over unpruned coordinates."""
    cdef Py_ssize_t n = x.shape[0], nb = n_blocks(n), b
    check_length(n, "mask", mask.shape[0], True)
    if n == 0:
        return 0
    check_aligned(&x[0], sizeof(floating), "x")
    cdef const floating* px = &x[0]
    cdef const unsigned char* pm = &mask[0] if mask.shape[0] else NULL
    cdef long long bad = 0
    if serial(n, num_threads):
        with nogil:
            for b in range(nb):
                bad += nonfinite_in(px, pm, b, n)
    else:
        for b in prange(nb, nogil=True, schedule='static', num_threads=num_threads):
            bad += nonfinite_in(px, pm, b, n)
    return bad
