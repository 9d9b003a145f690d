# The loss kernels of linear models: one call computes sum_i w_i * loss_i over the rows of X
# (a dense C-contiguous array or a CSR matrix) and its gradient in coef and the intercept.
#
# One pass over X: each row's margin (X coef + intercept), its loss and residual r_i (w_i
# times the loss's derivative in the margin), and at once, while the row is in cache, its
# share of the gradient X.T @ r.  Rows are cut into chunks whose number and bounds depend on
# the problem's shape only (count_chunks, chunk_start), never on the number of threads;
# each chunk sums its rows in row order into partial sums of its own (in double), and the
# partials are summed in chunk order, so the result is bit-identical for any number of
# threads.  Threads take whole chunks; the final sums over the chunks split the gradient's
# coordinates among them.
#
# Margins, losses and every sum are computed in double for float32 data too; only the
# gradient written back is rounded to float32.  Compiled once (the platform's baseline
# instruction set, with OpenMP): the work is bound by memory and by the gathers of a sparse
# row, not by the width of its arithmetic.
#
# Bounds checks are off.  value_and_grad checks every array before the kernel runs, except
# the column indices of a CSR matrix, which the kernel checks as it reads them (a separate
# min/max over them would cost about as much as the kernel itself): a chunk stops at an
# index out of range, and the call raises before anything is written.

from libc.math cimport exp, log, log1p, fabs
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from cython.parallel cimport prange
cimport numpy as cnp

import numpy as np

from fastopt import _dispatch
from fastopt._threads import check_num_threads
from fastopt._kernel_state cimport SharedState, shared_state

cnp.import_array()

ctypedef fused floating:
    float
    double

ctypedef fused index_t:
    int32_t
    int64_t

cdef enum Loss:
    LOGISTIC, SOFTMAX, SQUARED

LOSSES = {"logistic": LOGISTIC, "softmax": SOFTMAX, "squared": SQUARED}

cdef enum:
    # Work (entries of X read, plus one per row, times k) from which a problem is cut into
    # more than one chunk, and the most chunks: enough for a few threads to balance.
    CHUNK_WORK = 65536
    MAX_CHUNKS = 8
    # The partial gradients of all chunks together hold at most this many doubles (64 MiB).
    PARTIAL_LIMIT = 1 << 23
    # The interleaved sums of a dense row's dot products (dot_dense adds eight).
    LANES = 8
    # What a chunk's run reports (or-ed over the chunks).
    BAD_INDEX = 1
    NO_MEMORY = 2

# The parallel threshold and the after-fork flag (fastopt._kernel_state), shared with the
# update kernels.
cdef SharedState* shared = shared_state()


cdef struct Problem:
    int loss
    Py_ssize_t n, d, k, nnz
    const void* x               # dense: n * d entries; CSR: the data
    const void* indices         # CSR column indices (NULL: X is dense)
    const void* indptr          # CSR row pointers, n + 1 of them, of the indices' type
    const void* y               # targets of X's dtype, or int64 labels (softmax)
    const void* w               # sample weights
    const void* coef            # d * k; for a dense X, k * d (coef.T: each class's row)
    const void* intercept       # k
    void* grad_coef             # d * k
    void* grad_intercept        # k
    Py_ssize_t chunks
    # chunks * (d * k): each chunk's share of X.T @ r (dense X: of r.T @ X, class by class)
    double* partial
    double* sums                # chunks * (1 + k): each chunk's loss and intercept gradient
    double value                # the loss, once summed


cdef Py_ssize_t count_chunks(const Problem* p) noexcept nogil:
    """The number of chunks, from the problem's shape only: one per CHUNK_WORK of work, at
    most MAX_CHUNKS and the number of rows, and few enough that zeroing and summing the
    partial gradients costs no more than the chunks' work and fits in PARTIAL_LIMIT."""
    cdef Py_ssize_t dk = p.d * p.k
    cdef Py_ssize_t work = ((p.nnz if p.indices != NULL else p.n * p.d) + p.n) * p.k
    cdef Py_ssize_t c = min(work // CHUNK_WORK, <Py_ssize_t>MAX_CHUNKS, p.n)
    if dk > 0:
        c = min(c, work // dk, PARTIAL_LIMIT // dk)
    return max(c, 1)


cdef Py_ssize_t chunk_start(const Problem* p, Py_ssize_t c, index_t dummy) noexcept nogil:
    """The first row of chunk c (c == chunks: n).  Dense rows are split evenly; CSR rows so
    that each chunk holds about the same number of entries plus rows (the first row i with
    indptr[i] + i >= c / chunks of nnz + n: a binary search on an increasing sequence)."""
    if c >= p.chunks:
        return p.n
    if p.indices == NULL:
        return p.n * c // p.chunks
    cdef const index_t* ptr = <const index_t*>p.indptr
    cdef Py_ssize_t target = (p.nnz + p.n) * c // p.chunks
    cdef Py_ssize_t lo = 0, hi = p.n, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if ptr[mid] + mid < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline double dot_dense(const floating* x, const floating* v, Py_ssize_t m) noexcept nogil:
    """sum_j x[j] * v[j] in double: LANES interleaved sums (element-wise, so the compiler
    vectorizes them without reordering any sum), added in a fixed order."""
    cdef double acc[LANES]
    cdef double s
    cdef Py_ssize_t j = 0, lane
    for lane in range(LANES):
        acc[lane] = 0.0
    while j + LANES <= m:
        for lane in range(LANES):
            acc[lane] = acc[lane] + <double>x[j + lane] * <double>v[j + lane]
        j += LANES
    s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    while j < m:
        s = s + <double>x[j] * <double>v[j]
        j += 1
    return s


cdef inline void axpy(double* g, double r, const floating* x, Py_ssize_t m) noexcept nogil:
    """g += r * x, in double."""
    cdef Py_ssize_t j
    for j in range(m):
        g[j] = g[j] + r * <double>x[j]


cdef inline double dot_sparse(const floating* x, const index_t* ind, const floating* v,
                              Py_ssize_t m, Py_ssize_t stride) noexcept nogil:
    """sum_q x[q] * v[ind[q] * stride] in double, in four interleaved sums (added in a fixed
    order), so that the gathers overlap."""
    cdef double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
    cdef Py_ssize_t q = 0
    while q + 4 <= m:
        a0 = a0 + <double>x[q] * <double>v[ind[q] * stride]
        a1 = a1 + <double>x[q + 1] * <double>v[ind[q + 1] * stride]
        a2 = a2 + <double>x[q + 2] * <double>v[ind[q + 2] * stride]
        a3 = a3 + <double>x[q + 3] * <double>v[ind[q + 3] * stride]
        q += 4
    while q < m:
        a0 = a0 + <double>x[q] * <double>v[ind[q] * stride]
        q += 1
    return (a0 + a1) + (a2 + a3)


cdef inline void scatter(double* g, double r, const floating* x, const index_t* ind,
                         Py_ssize_t m, Py_ssize_t stride) noexcept nogil:
    """g[ind[q] * stride] += r * x[q], in double."""
    cdef Py_ssize_t q
    for q in range(m):
        g[ind[q] * stride] = g[ind[q] * stride] + r * <double>x[q]


cdef inline double logistic(double* z, double y) noexcept nogil:
    """log(1 + exp(z)) - y z, the binary log-loss of margin z; z becomes its derivative
    sigmoid(z) - y.  Written with e = exp(-|z|) <= 1 so that nothing overflows, and the
    linear part taken apart exactly (y = 1, z > 0 and y = 0, z < 0 leave log1p(e))."""
    cdef double t = z[0], e = exp(-fabs(t))
    cdef double sig = 1.0 / (1.0 + e) if t >= 0 else e / (1.0 + e)
    z[0] = sig - y
    return log1p(e) + ((1.0 - y) * t if t > 0 else -y * t)


cdef inline double softmax(double* z, Py_ssize_t k, int64_t label) noexcept nogil:
    """log sum_c exp(z_c) - z_label, the multinomial log-loss of margins z (computed from the
    largest margin); z becomes its derivative softmax(z) - onehot(label)."""
    cdef Py_ssize_t c
    cdef double m = z[0], s = 0.0, zl = z[label]
    for c in range(1, k):
        if z[c] > m:
            m = z[c]
    for c in range(k):
        z[c] = exp(z[c] - m)
        s = s + z[c]
    for c in range(k):
        z[c] = z[c] / s
    z[label] = z[label] - 1.0
    return (m + log(s)) - zl


cdef int run_chunk(Problem* p, Py_ssize_t chunk, floating fdummy, index_t idummy) noexcept nogil:
    """The rows of one chunk: their margins, losses and residuals, summed in row order into
    the chunk's loss and intercept gradient (p.sums) and its share of X.T @ r (p.partial).
    Returns BAD_INDEX when a column index is outside [0, d) (the chunk stops there),
    NO_MEMORY, or 0."""
    cdef Py_ssize_t d = p.d, k = p.k, i, q, c, m
    cdef Py_ssize_t lo = chunk_start(p, chunk, idummy), hi = chunk_start(p, chunk + 1, idummy)
    cdef const floating* X = <const floating*>p.x
    cdef const index_t* ind = <const index_t*>p.indices
    cdef const index_t* ptr = <const index_t*>p.indptr
    cdef const floating* y = <const floating*>p.y
    cdef const int64_t* labels = <const int64_t*>p.y
    cdef const floating* w = <const floating*>p.w
    cdef const floating* coef = <const floating*>p.coef
    cdef const floating* b = <const floating*>p.intercept
    cdef double* G = p.partial + chunk * (d * k)
    cdef double* out = p.sums + chunk * (1 + k)
    cdef const floating* row
    cdef const index_t* cols = NULL
    cdef double total = 0.0, r, wi
    cdef int bad = 0
    # this row's margins (then residuals) and the chunk's intercept gradient
    cdef double* z = <double*>malloc((2 * k + 1) * sizeof(double))
    if z == NULL:
        return NO_MEMORY
    cdef double* gb = z + k
    memset(G, 0, d * k * sizeof(double))
    memset(gb, 0, k * sizeof(double))
    for i in range(lo, hi):
        if ind == NULL:
            row = X + i * d
            m = d
        else:
            row = X + ptr[i]
            cols = ind + ptr[i]
            m = ptr[i + 1] - ptr[i]
            for q in range(m):
                bad = bad | (<size_t>cols[q] >= <size_t>d)
            if bad:
                break
        # margins
        # (class by class: a sparse row's entries of coef are in cache after the first)
        for c in range(k):
            z[c] = <double>b[c] + (dot_dense(row, coef + c * d, d) if ind == NULL
                                   else dot_sparse(row, cols, coef + c, m, k))
        # the loss, and its derivative in the margins times the weight
        wi = w[i]
        if p.loss == LOGISTIC:
            total = total + wi * logistic(z, y[i])
        elif p.loss == SQUARED:
            r = z[0] - <double>y[i]
            z[0] = r
            total = total + wi * (0.5 * r * r)
        else:
            total = total + wi * softmax(z, k, labels[i])
        for c in range(k):
            z[c] = wi * z[c]
            gb[c] = gb[c] + z[c]
        # the row's share of X.T @ r
        for c in range(k):
            if ind == NULL:
                axpy(G + c * d, z[c], row, d)
            else:
                scatter(G + c, z[c], row, cols, m, k)
    out[0] = total
    for c in range(k):
        out[1 + c] = gb[c]
    free(z)
    return BAD_INDEX if bad else 0


cdef inline void sum_partials(const Problem* p, Py_ssize_t j, floating* gc) noexcept nogil:
    """The chunks' partial gradients at j summed in chunk order, into its place in gc (for
    a dense X, partial j = c * d + i is the gradient's (i, c))."""
    cdef Py_ssize_t dk = p.d * p.k, c
    cdef double s = p.partial[j]
    for c in range(1, p.chunks):
        s = s + p.partial[c * dk + j]
    gc[j if p.indices != NULL or p.k == 1 else (j % p.d) * p.k + j // p.d] = <floating>s


cdef int run(Problem* p, int threads, floating fdummy, index_t idummy) noexcept nogil:
    """Every chunk (on threads when the problem is large enough), then, when all went well,
    the sums over the chunks in chunk order into the value and the outputs.  Returns the
    chunks' reports or-ed; nothing is written on a report."""
    cdef Py_ssize_t dk = p.d * p.k, j, c, chunk
    cdef Py_ssize_t chunks = count_chunks(p)
    cdef int flags = 0
    cdef bint parallel = threads > 1 and chunks > 1 and (
        (p.nnz if p.indices != NULL else p.n * p.d) + p.n) * p.k >= shared.parallel_threshold
    cdef double s
    cdef floating* gc = <floating*>p.grad_coef
    cdef floating* gi = <floating*>p.grad_intercept
    p.chunks = chunks
    p.partial = <double*>malloc(max(chunks * dk, 1) * sizeof(double))
    p.sums = <double*>malloc(chunks * (1 + p.k) * sizeof(double))
    if p.partial == NULL or p.sums == NULL:
        free(p.partial)
        free(p.sums)
        return NO_MEMORY
    if parallel:
        for chunk in prange(chunks, schedule='dynamic', num_threads=threads):
            flags |= run_chunk(p, chunk, fdummy, idummy)
    else:
        for chunk in range(chunks):
            flags |= run_chunk(p, chunk, fdummy, idummy)
    if flags == 0:
        p.value = 0.0
        for c in range(chunks):
            p.value = p.value + p.sums[c * (1 + p.k)]
        for j in range(p.k):
            s = 0.0
            for c in range(chunks):
                s = s + p.sums[c * (1 + p.k) + 1 + j]
            gi[j] = <floating>s
        if parallel and dk * chunks >= shared.parallel_threshold:
            for j in prange(dk, schedule='static', num_threads=threads):
                sum_partials(p, j, gc)
        else:
            for j in range(dk):
                sum_partials(p, j, gc)
    free(p.partial)
    free(p.sums)
    return flags


# ---------------------------------------------------------------------------------------
# The checks, then the call.

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


cdef object check_array(object a, str name, object dtype, tuple shape, bint output):
    """An aligned C-contiguous ndarray of this dtype and shape (and writable for an
    output): the kernel reads and writes it through a pointer."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"'{name}' must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"'{name}' has dtype {a.dtype}, expected {np.dtype(dtype)}"
                        + (" (X's dtype)" if dtype in FLOAT_DTYPES and name != "X" else ""))
    if a.shape != shape:
        raise ValueError(f"'{name}' has shape {a.shape}, expected {shape}")
    if not (a.flags.c_contiguous and a.flags.aligned):
        raise ValueError(f"'{name}' must be C-contiguous and aligned (np.ascontiguousarray "
                         "makes such a copy)")
    if output and not a.flags.writeable:
        raise ValueError(f"'{name}' is read-only: the gradient is written into it")
    return a


cdef tuple check_X(object X):
    """(data, indices or None, indptr or None, n, d) of a dense array or a CSR matrix,
    every array checked (the column indices excepted: see the header)."""
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ValueError(f"'X' must be 2-D, got {X.ndim}-D")
        if X.dtype not in FLOAT_DTYPES:
            raise TypeError(f"'X' has dtype {X.dtype}, expected float32 or float64")
        check_array(X, "X", X.dtype, X.shape, False)
        return X, None, None, X.shape[0], X.shape[1]
    fmt = getattr(X, "format", None)
    if fmt != "csr":
        raise TypeError("'X' must be a C-contiguous numpy.ndarray or a scipy.sparse CSR "
                        f"matrix, got {type(X).__name__}"
                        + (f" in {fmt!r} format (X.tocsr() converts it)" if fmt else ""))
    n, d = X.shape
    data, indices, indptr = X.data, X.indices, X.indptr
    if not isinstance(data, np.ndarray) or data.dtype not in FLOAT_DTYPES:
        raise TypeError(f"'X.data' has dtype {getattr(data, 'dtype', type(data).__name__)}, "
                        "expected float32 or float64")
    for a, name in ((indices, "X.indices"), (indptr, "X.indptr")):
        if not isinstance(a, np.ndarray) or a.dtype not in INDEX_DTYPES:
            raise TypeError(f"'{name}' has dtype {getattr(a, 'dtype', type(a).__name__)}, "
                            "expected int32 or int64")
    check_array(data, "X.data", data.dtype, (data.shape[0],), False)
    check_array(indices, "X.indices", indices.dtype, (indices.shape[0],), False)
    check_array(indptr, "X.indptr", indptr.dtype, (n + 1,), False)
    nnz = int(indptr[n])
    if indptr[0] != 0 or nnz > min(data.shape[0], indices.shape[0]):
        raise ValueError(f"'X.indptr' must start at 0 and end at most at the length of X.data "
                         f"and X.indices ({min(data.shape[0], indices.shape[0])}), "
                         f"got {int(indptr[0])}..{nnz}")
    if (indptr[1:] < indptr[:n]).any():
        raise ValueError("'X.indptr' must be non-decreasing")
    if indptr.dtype != indices.dtype:        # the kernel reads both as one type
        indptr, indices = indptr.astype(np.int64), indices.astype(np.int64)
    return data, indices, indptr, n, d


cdef inline const void* data_of(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a) if a is not None else NULL


def value_and_grad(loss, X, y, sample_weight, coef, intercept, grad_coef, grad_intercept,
                   num_threads=None):
    """The weighted loss of a linear model and its gradient, in one pass over X.

    Parameters
    ----------
    loss : {"logistic", "softmax", "squared"}
        "logistic": binary log-loss log(1 + exp(z)) - y z, y in {0, 1} (as floats);
        "softmax": multinomial log-loss log sum_c exp(z_c) - z_y, y the class index;
        "squared": 0.5 (z - y)**2.  z = X @ coef + intercept, row by row.
    X : ndarray (n, d), C-contiguous, or scipy.sparse CSR matrix/array (n, d)
        float32 or float64 (every other float array takes X's dtype); a CSR matrix may
        have unsorted or duplicate column indices, of type int32 or int64.
    y : ndarray (n,)
        Targets of X's dtype, or int64 class indices in [0, k) for "softmax".
    sample_weight : ndarray (n,) of X's dtype
    coef : ndarray (d,), or (d, k) for "softmax", C-contiguous
    intercept : ndarray (1,), or (k,) for "softmax" (zeros for a model without one)
    grad_coef, grad_intercept : writable C-contiguous ndarrays shaped like coef, intercept
        Receive the gradient (never reallocated: they may be views into one vector).
    num_threads : int or None
        As fastopt's optimizers take it (None: OpenMP's current maximum); small problems
        run on the calling thread.  The results do not depend on it.

    Returns
    -------
    float
        sum_i sample_weight_i * loss_i, summed in double (float32 data too).

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [0.0, -1.0]]); y = np.array([1.0, 0.0])
    >>> coef, b = np.zeros(2), np.zeros(1); g, gb = np.empty(2), np.empty(1)
    >>> round(value_and_grad("logistic", X, y, np.ones(2), coef, b, g, gb), 6)
    1.386294
    >>> g, gb
    (array([-0.5, -1.5]), array([0.]))
    """
    code = LOSSES.get(loss) if isinstance(loss, str) else None
    if code is None:
        raise ValueError(f"Invalid loss: {loss!r} (expected one of {', '.join(LOSSES)})")
    cdef int threads = _dispatch.resolve_threads(check_num_threads(num_threads))
    data, indices, indptr, n, d = check_X(X)
    dtype = data.dtype
    if code == SOFTMAX:
        if not isinstance(coef, np.ndarray) or coef.ndim != 2:
            raise ValueError("'coef' must be a 2-D ndarray (d, k) for the softmax loss, got "
                             + (f"{coef.ndim}-D" if isinstance(coef, np.ndarray)
                                else type(coef).__name__))
        k = coef.shape[1]
        check_array(y, "y", np.int64, (n,), False)
    else:
        k = 1
        check_array(y, "y", dtype, (n,), False)
    cshape = (d, k) if code == SOFTMAX else (d,)
    check_array(sample_weight, "sample_weight", dtype, (n,), False)
    check_array(coef, "coef", dtype, cshape, False)
    check_array(intercept, "intercept", dtype, (k,), False)
    check_array(grad_coef, "grad_coef", dtype, cshape, True)
    check_array(grad_intercept, "grad_intercept", dtype, (k,), True)
    if np.may_share_memory(grad_coef, grad_intercept):
        raise ValueError("'grad_coef' and 'grad_intercept' share memory")
    if code == SOFTMAX and n > 0 and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"'y' holds class indices outside [0, {k}) (k = coef.shape[1]): "
                         f"min {y.min()}, max {y.max()}")
    cdef Problem p
    p.loss = code
    p.n, p.d, p.k = n, d, k
    p.nnz = int(indptr[n]) if indptr is not None else 0
    p.x, p.indices, p.indptr = data_of(data), data_of(indices), data_of(indptr)
    p.y, p.w = data_of(y), data_of(sample_weight)
    if indices is None and k > 1:
        coef = np.ascontiguousarray(coef.T)         # the kernel's layout: see Problem.coef
    p.coef, p.intercept = data_of(coef), data_of(intercept)
    p.grad_coef, p.grad_intercept = <void*>data_of(grad_coef), <void*>data_of(grad_intercept)
    cdef bint single = dtype == np.float32
    cdef bint wide = indices is not None and indices.dtype == np.int64
    cdef int flags
    with nogil:
        if single:
            flags = run(&p, threads, <float>0, <int64_t>0) if wide else \
                run(&p, threads, <float>0, <int32_t>0)
        else:
            flags = run(&p, threads, <double>0, <int64_t>0) if wide else \
                run(&p, threads, <double>0, <int32_t>0)
    if flags & NO_MEMORY:
        raise MemoryError("value_and_grad: no memory for the partial sums")
    if flags & BAD_INDEX:
        raise ValueError(f"'X.indices' holds a column index outside [0, {d})")
    return p.value
