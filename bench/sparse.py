"""Sparsity benchmarks: what the fused l1 step and pruning masks cost, and l1-logistic
regression end to end against scikit-learn.

(a) Cost of the fused extras
    One ``opt.step(grad)`` at 10^7 elements (``--quick``: 10^6), float32 and float64, on 1
    and 2 threads, for Adam, AdaGrad, plain SGD and SGD with momentum 0.9, in five
    variants: plain; with the l1 proximal step (``l1=1e-4``); with a pruning mask
    (``opt.set_masks``, a fixed random mask with ~50% zeros); with both; and with both and
    ``weight_decay=1e-2``, which the kernels' sparse loops leave out (the decay loop, shown
    without a target).  Beside each of the first four (Adam, AdaGrad, SGD-momentum),
    bench/reference_loops.c's plain C loop of the same variant steps the same optimizer's
    arrays, after a check that it computes the same bits, and a copy (``np.copyto``, 1
    thread) gives the memory bandwidth.  The optimizers (each on its own copy of the same
    parameters), the C loops and the copy are timed in 15 interleaved rounds (``--quick``:
    7) with bench/harness.py's ``median_seconds``, one cold call each per round: every
    call follows ``evict_caches()`` and reads its arrays from memory, as a step does after
    the gradient's computation has filled the caches with other data.  (Timed warm, one
    call after another, a last-level cache of hundreds of MB holds much of the arrays at
    10^7 and fills over several calls, so a callable that runs right after another on the
    same arrays, as each C loop after its optimizer, finds them cached and is favoured by
    up to 1.4x on a Xeon with a 480 MB L3.)  "x plain" is the variant's median time over
    the plain step's, "x C" over the C loop's of the same variant.  The l1 step adds
    arithmetic only and the mask one byte read per element (versus 12 to 28 bytes per
    element moved by the plain step), so the targets are x plain <= 1.1 for l1 and for the
    mask, <= 1.15 for both, and x C <= 1.05.

(c) Every rule's loops
    One step at 10^7 elements on 1 thread, float32 and float64, for every rule and
    structural variant (SGD plain, momentum, Nesterov; AdaGrad; RMSprop plain and
    centered with momentum; Adam, AMSGrad, AdaMax, Nadam), in nine variants: one for each
    loop of the kernels (``Plan.step_kinds``): plain, l1, mask, l1 and mask, those with
    weight decay (the decay loop) and box bounds (the full loop); ``clipvalue`` (1e-3,
    the decay loop); and ``global_clipnorm`` (1e-3, so every step clips), without a mask
    (the plain loop after the norm's pass over the gradient) and with one (the decay loop
    after it); timed in 7 interleaved rounds
    against the rule's plain step.  A guard, not a target: no loop may cost more
    than 4x its rule's plain step (a loop the compiler fails to vectorize costs 7-25x; the
    full loop of the cheapest step, plain float32 SGD with bounds, measures 2.2-3.2x here).

(b) l1-regularized logistic regression, end to end
    A synthetic problem generated with a fixed seed: X is CSR, 200,000 x 100,000 with
    density 1e-3 (about 100 N(0, 1) entries per row at uniformly random columns; ``--quick``:
    20,000 x 10,000 at density 1e-2, the same ~100 per row), a truth w* with 1% nonzeros
    (+-U(1, 3)), labels y ~ Bernoulli(sigmoid(X w*)); the last 20% of the rows are held out.
    Every solver minimizes the same objective on the training rows, without intercept,

        F(w) = mean_i log(1 + exp(-s_i x_i.w)) + lam ||w||_1,    s_i = 2 y_i - 1,

    with lam = 0.3 * lam_max (lam_max = ||X'(y - 1/2)||_inf / n, the smallest lam whose
    solution is w = 0):

    * fastopt: ``fastopt.minimize(fun, zeros, method="adam", jac=True, args=(X, y),
      options={"l1": lam, "batch_size": n/10, "epochs": 30, "learning_rate":
      ExponentialDecay(0.3, total_steps, decay_rate=3e-4), "seed": 0, "num_threads": 1})``
      where fun returns the minibatch's mean log-loss and its gradient (two CSR
      mat-vecs).  One thread, as the scikit-learn solvers use.  Chosen by a small sweep
      on the default problem (learning rate 0.05-0.3, batch n/160-n/5, 3-40 epochs,
      constant or exponentially decaying rate): larger batches and a rate decaying to
      ~1e-4 of its start gave the lowest objective and fewest nonzeros per second.
    * ``SGDClassifier(loss="log_loss", penalty="l1", alpha=lam, fit_intercept=False,
      random_state=0)`` with scikit-learn's default ("optimal") learning-rate schedule,
      and once more with ``learning_rate="adaptive", eta0=0.1`` (its best setting in the
      same sweep; its default schedule, eta = 1 / (alpha (t + t0)), takes very large steps
      when alpha is small);
    * ``LogisticRegression(l1_ratio=1, solver="saga", C=1 / (lam n), fit_intercept=False)``
      (scikit-learn >= 1.8 spells penalty="l1" as l1_ratio=1), default tol and max_iter.

    Reported per solver: wall time of the fit, F(w) computed by this script for all of
    them, the gap (F - F_best) / F_best to the best F found in the run, nnz(w), held-out
    accuracy, and the extra peak resident memory of the fit (VmHWM reset before each fit
    through /proc/self/clear_refs; "-" where the kernel does not allow it).

Usage: python bench/sparse.py [--quick] [--part prox|loops|e2e|all] [--rows N] [--features D]
                              [--density P] [--json FILE]
"""

import argparse
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

import fastopt

try:
    import harness                   # bench/harness.py: machine, timing, tables
    import reference_loops           # bench/reference_loops.py: the rules as plain C loops
except ImportError:                  # imported as bench.sparse
    from bench import harness, reference_loops

# ---------------------------------------------------------------------------------------
# (a) The cost of the fused l1 step and of a pruning mask.

PROX_N, PROX_N_QUICK = 10**7, 10**6
PROX_L1 = 1e-4
PROX_WEIGHT_DECAY = 1e-2
PROX_CLIPNORM = 1e-3                   # below the gradient's norm: every step is clipped
PROX_CLIPVALUE = 1e-3                  # the gradient's scale: clips about a third
# the rules of part (c), every structural variant; (a) takes four of them
LOOP_RULES = {
    "sgd": lambda p, **kw: fastopt.SGD(p, learning_rate=0.01, **kw),
    "sgd_momentum": lambda p, **kw: fastopt.SGD(p, learning_rate=0.01, momentum=0.9, **kw),
    "sgd_nesterov": lambda p, **kw: fastopt.SGD(p, learning_rate=0.01, momentum=0.9,
                                                nesterov=True, **kw),
    "adagrad": lambda p, **kw: fastopt.Adagrad(p, **kw),
    "rmsprop": lambda p, **kw: fastopt.RMSprop(p, **kw),
    "rmsprop_cm": lambda p, **kw: fastopt.RMSprop(p, centered=True, momentum=0.9, **kw),
    "adam": lambda p, **kw: fastopt.Adam(p, **kw),
    "amsgrad": lambda p, **kw: fastopt.Adam(p, amsgrad=True, **kw),
    "adamax": lambda p, **kw: fastopt.Adamax(p, **kw),
    "nadam": lambda p, **kw: fastopt.Nadam(p, **kw),
}
PROX_RULES = {rule: LOOP_RULES[rule] for rule in ("adam", "adagrad", "sgd", "sgd_momentum")}
PROX_THREADS = (1, 2)
# "+wd" adds weight decay, which the sparse loops leave out: the decay loop (no target, no C
# loop; it shows what a step pays beyond the sparse kinds)
VARIANTS = ("plain", "l1", "mask", "l1+mask", "l1+mask+wd")
# the most a variant may cost over the plain step, and fastopt over the C loop
TARGET_RATIO = {"l1": 1.10, "mask": 1.10, "l1+mask": 1.15}
TARGET_OF_C = 1.05


def _problem(n, dtype):
    """(rng, parameters, gradient, a mask with ~50% zeros) of n elements, seeded by n."""
    rng = np.random.default_rng(n)
    p0 = rng.standard_normal(n).astype(dtype)
    g = (rng.standard_normal(n) * 1e-3).astype(dtype)
    return rng, p0, g, rng.random(n) >= 0.5


def prox_mask_cost(n=PROX_N, dtypes=harness.DTYPES, rules=None, quick=False, report=None,
                   threads=PROX_THREADS):
    """Rows {rule, n, dtype, threads, variant, kind, ms, x_plain, c_ms, c_x_plain, x_c, gbs,
    of_copy}, one per rule x dtype x thread count x variant (c_*, x_c None where the rule has
    no C loop)."""
    rows = []
    for dtype in dtypes:
        rng, p0, g, mask = _problem(n, dtype)
        copy, copy_bytes = harness.bandwidth_callables(n, dtype, rng)["copy"]
        plan = (7 if quick else 15, 0.0)    # rounds of cold calls
        for rule in (list(PROX_RULES) if rules is None else rules):
            for num_threads in threads:
                rows += _variants(rule, num_threads, p0, g, mask, (copy, copy_bytes), plan,
                                  report)
    return rows


def _variants(rule, num_threads, p0, g, mask, copy, plan, report):
    """The rows of one rule at one thread count: its four variants, each beside its C loop,
    and the copy, timed in the same rounds."""
    fns, opts = {"copy": copy[0]}, {}
    for variant in VARIANTS:
        l1 = PROX_L1 if "l1" in variant else 0.0
        wd = PROX_WEIGHT_DECAY if "wd" in variant else 0.0
        opt = PROX_RULES[rule](p0.copy(), l1=l1, weight_decay=wd, num_threads=num_threads)
        if "mask" in variant:
            opt.set_masks([mask])
        opts[variant] = opt
        fns[variant] = lambda o=opt: o.step(g)
        if wd:
            continue
        # the C loop must compute this variant's step bit for bit (SystemExit otherwise)
        reference_loops.check(rule, lambda p, l1=l1: PROX_RULES[rule](
            p, l1=l1, num_threads=num_threads), dtype=p0.dtype, masked="mask" in variant,
            threads=num_threads)
        c_loop = reference_loops.loops(rule, opt, [g], num_threads).get("C loop")
        if c_loop is not None:
            fns["C " + variant] = c_loop
    t = harness.median_seconds(fns, plan, cold=True)
    copy_gbs = copy[1] / t["copy"] / 1e9
    rows = []
    for variant in VARIANTS:
        nbytes = harness.bytes_per_step(opts[variant]) + ("mask" in variant) * mask.size
        c_s = t.get("C " + variant)
        row = {"rule": rule, "n": p0.size, "dtype": p0.dtype.name, "threads": num_threads,
               "variant": variant, "kind": opts[variant]._plan.step_kinds()[0],
               "ms": t[variant] * 1e3,
               "x_plain": t[variant] / t["plain"],
               "c_ms": None if c_s is None else c_s * 1e3,
               "c_x_plain": None if c_s is None else c_s / t["C plain"],
               "x_c": None if c_s is None else t[variant] / c_s,
               "gbs": nbytes / t[variant] / 1e9, "copy_gbs": copy_gbs,
               "of_copy": nbytes / t[variant] / 1e9 / copy_gbs}
        if report is not None:
            report(row)
        rows.append(row)
    return rows


def target_lines(rows, verdict):
    """The targets of (a): each variant's worst x plain, and the worst x C."""
    lines = []
    for variant, limit in TARGET_RATIO.items():
        w = max((r for r in rows if r["variant"] == variant), key=lambda r: r["x_plain"])
        lines.append(f"[{verdict(w['x_plain'] <= limit)}] {variant} <= {limit:.2f}x the plain "
                     f"step at {harness.size_label(w['n'])} (worst: {w['rule']} {w['dtype']} "
                     f"{w['threads']}T {w['x_plain']:.2f}x)")
    with_c = [r for r in rows if r["x_c"] is not None]
    if with_c:
        w = max(with_c, key=lambda r: r["x_c"])
        lines.append(f"[{verdict(w['x_c'] <= TARGET_OF_C)}] every variant <= {TARGET_OF_C:.2f}x "
                     f"the C loop of the same arithmetic (worst: {w['rule']} {w['dtype']} "
                     f"{w['threads']}T {w['variant']} {w['x_c']:.2f}x)")
    return lines


def prox_header():
    return (f"(a) cost of the fused l1 step (l1={PROX_L1:g}) and of a ~50% pruning mask, "
            f"median ms per step, beside the C loops and a copy; targets: x plain <= "
            f"{', '.join(f'{v} {x:.2f}' for v, x in TARGET_RATIO.items())}, x C <= "
            f"{TARGET_OF_C:.2f}\n{reference_loops.describe()}")


def format_prox(rows):
    def opt(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = [f"{'rule':<13}{'n':>5}{'dtype':>9}{'thr':>4}{'variant':>11}{'loop':>10}"
             f"{'ms/step':>9}"
             f"{'x plain':>9}{'C ms':>8}{'C x plain':>10}{'x C':>6}{'GB/s':>7}{'of copy':>8}",
             "-" * 109]
    for r in rows:
        lines.append(f"{r['rule']:<13}{harness.size_label(r['n']):>5}{r['dtype']:>9}"
                     f"{r['threads']:>4}{r['variant']:>11}{r['kind']:>10}"
                     f"{harness.fmt_ms(r['ms']):>9}"
                     f"{r['x_plain']:>9.2f}{opt(r['c_ms'], '.4g'):>8}"
                     f"{opt(r['c_x_plain'], '.2f'):>10}{opt(r['x_c'], '.2f'):>6}"
                     f"{r['gbs']:>7.1f}{r['of_copy']:>8.2f}")
    lines.append("loop: the kernel loop the step ran (Plan.step_kinds); "
                 "x plain: time / the plain step's (same implementation); x C: fastopt / the "
                 "C loop of the same variant;\nGB/s: bytes moved (parameters, state, gradient, "
                 "mask) per second; of copy: GB/s / the 1-thread copy's, timed alongside")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# (c) Every rule's loops.

# variant: (options, masked); each reaches one loop of the kernels
LOOP_VARIANTS = {
    "plain": ({}, False),
    "l1": ({"l1": PROX_L1}, False),
    "mask": ({}, True),
    "l1+mask": ({"l1": PROX_L1}, True),
    "l1+mask+wd": ({"l1": PROX_L1, "weight_decay": PROX_WEIGHT_DECAY}, True),
    "bounds": ({"bounds": (-10.0, 10.0)}, False),
    "clipvalue": ({"clipvalue": PROX_CLIPVALUE}, False),
    "clipnorm": ({"global_clipnorm": PROX_CLIPNORM}, False),
    "mask+clipnorm": ({"global_clipnorm": PROX_CLIPNORM}, True),
}
LOOP_GUARD = 4.0


def loop_costs(n=PROX_N, dtypes=harness.DTYPES, quick=False):
    """Rows {rule, dtype, ms (the plain step's), x {variant: time / the plain step's},
    kinds {variant: the loop it ran}}, one per rule x dtype, 1 thread."""
    rows = []
    rounds = (5 if quick else 7, 0.0)
    for dtype in dtypes:
        _, p0, g, mask = _problem(n, dtype)
        for rule, make in LOOP_RULES.items():
            fns, kinds = {}, {}
            for variant, (options, masked) in LOOP_VARIANTS.items():
                opt = make(p0.copy(), num_threads=1, **options)
                if masked:
                    opt.set_masks([mask])
                opt.step(g)
                kinds[variant] = opt._plan.step_kinds()[0]
                fns[variant] = lambda o=opt: o.step(g)
            t = harness.median_seconds(fns, rounds)
            rows.append({"rule": rule, "dtype": p0.dtype.name, "ms": t["plain"] * 1e3,
                         "x": {v: t[v] / t["plain"] for v in LOOP_VARIANTS},
                         "kinds": kinds})
    return rows


def format_loops(rows):
    head = "".join(f"{v:>17}" for v in LOOP_VARIANTS if v != "plain")
    lines = [f"{'rule':<14}{'dtype':>8}{'plain ms':>10}{head}",
             "-" * (32 + 17 * (len(LOOP_VARIANTS) - 1))]
    for r in rows:
        cells = "".join(f"{r['x'][v]:>7.2f} {r['kinds'][v]:>9}" for v in LOOP_VARIANTS
                        if v != "plain")
        lines.append(f"{r['rule']:<14}{r['dtype']:>8}{harness.fmt_ms(r['ms']):>10}{cells}")
    lines.append("each variant: its time / the plain step's, 1 thread, and the loop it ran "
                 "(Plan.step_kinds)")
    w = max(((r, v) for r in rows for v in LOOP_VARIANTS), key=lambda rv: rv[0]["x"][rv[1]])
    ok = w[0]["x"][w[1]] <= LOOP_GUARD
    lines.append(f"[{'PASS' if ok else 'MISS'}] every loop <= {LOOP_GUARD:.1f}x its rule's "
                 f"plain step (worst: {w[0]['rule']} {w[0]['dtype']} {w[1]} "
                 f"{w[0]['x'][w[1]]:.2f}x)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# (b) l1-logistic regression end to end.

FULL_PROBLEM = {"rows": 200_000, "features": 100_000, "density": 1e-3}
QUICK_PROBLEM = {"rows": 20_000, "features": 10_000, "density": 1e-2}
TRUTH_FRACTION = 0.01
HOLDOUT = 0.2
LAMBDA_FRACTION = 0.3
SEED = 0
# fastopt's settings (see the module docstring for how they were chosen)
FASTOPT = {"learning_rate": 0.3, "final_fraction": 3e-4, "batch_divisor": 10, "epochs": 30}
SGD_TUNED = {"learning_rate": "adaptive", "eta0": 0.1}


def make_problem(rows, features, density, truth_fraction=TRUTH_FRACTION, seed=SEED):
    """(X CSR float64, y in {0, 1} float64, w_true): see the module docstring."""
    rng = np.random.default_rng(seed)
    per_row = rng.binomial(features, density, size=rows)
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(per_row, out=indptr[1:])
    nnz = int(indptr[-1])
    index_dtype = np.int32 if max(nnz, features) < 2**31 else np.int64
    indptr = indptr.astype(index_dtype)
    indices = rng.integers(0, features, size=nnz, dtype=index_dtype)
    data = rng.standard_normal(nnz)
    X = sp.csr_matrix((data, indices, indptr), shape=(rows, features))
    X.sum_duplicates()               # sorted, unique column indices per row
    k = max(1, round(truth_fraction * features))
    w = np.zeros(features)
    support = rng.choice(features, k, replace=False)
    w[support] = rng.choice([-1.0, 1.0], k) * rng.uniform(1.0, 3.0, k)
    y = (rng.random(rows) < expit(X @ w)).astype(np.float64)
    return X, y, w


def logistic(w, X, y):
    """Mean log-loss of the rows of X (CSR) with labels y in {0, 1}, and its gradient."""
    z = X @ w
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    grad = X.T @ ((expit(z) - y) / y.size)
    return loss, grad


def objective(w, X, y, lam):
    """F(w) = mean log-loss + lam ||w||_1, the same for every solver."""
    return logistic(w, X, y)[0] + lam * float(np.abs(w).sum())


def accuracy(w, X, y):
    return float(np.mean((X @ w > 0) == (y > 0.5)))


def csr_bytes(X):
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


class PeakMemory:
    """Extra peak resident memory of a block, in MB (None when not measurable): resets the
    kernel's high-water mark (VmHWM) through /proc/self/clear_refs first."""

    def __enter__(self):
        self.start = self._rss("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.ok = self.start is not None
        except OSError:
            self.ok = False
        self.mb = None
        return self

    def __exit__(self, *exc):
        peak = self._rss("VmHWM")
        if self.ok and peak is not None:
            self.mb = max(0.0, (peak - self.start) / 1024)
        return False

    @staticmethod
    def _rss(key):
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])      # kB
        except OSError:
            pass
        return None


def fastopt_settings(n_train):
    batch = max(1, n_train // FASTOPT["batch_divisor"])
    steps = FASTOPT["epochs"] * max(n_train // batch, 1)   # the rows left over join the last
    schedule = fastopt.ExponentialDecay(FASTOPT["learning_rate"], steps,
                                        decay_rate=FASTOPT["final_fraction"])
    return batch, steps, schedule


def solvers(lam, n_train):
    """name -> (settings text, fit(X, y) -> (w, iterations text))."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    batch, steps, schedule = fastopt_settings(n_train)

    def fit_fastopt(X, y):
        res = fastopt.minimize(logistic, np.zeros(X.shape[1]), method="adam", jac=True,
                               args=(X, y),
                               options={"l1": lam, "batch_size": batch,
                                        "epochs": FASTOPT["epochs"], "learning_rate": schedule,
                                        "seed": SEED, "num_threads": 1})
        return res.x, f"{res.nepochs} epochs, {res.nit} steps"

    def fit_sgd(**kw):
        def fit(X, y):
            clf = SGDClassifier(loss="log_loss", penalty="l1", alpha=lam, fit_intercept=False,
                                random_state=SEED, **kw).fit(X, y)
            return clf.coef_.ravel().copy(), f"{clf.n_iter_} epochs"
        return fit

    def fit_saga(X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # ConvergenceWarning when max_iter binds
            clf = LogisticRegression(l1_ratio=1.0, solver="saga", C=1.0 / (lam * n_train),
                                     fit_intercept=False).fit(X, y)
        return clf.coef_.ravel().copy(), f"{int(np.max(clf.n_iter_))} epochs"

    return {
        "fastopt adam": (f"l1={lam:.3g}, batch {batch}, {FASTOPT['epochs']} epochs, lr "
                         f"ExponentialDecay({FASTOPT['learning_rate']}, {steps}, "
                         f"decay_rate={FASTOPT['final_fraction']:g}), 1 thread", fit_fastopt),
        "SGDClassifier": (f"alpha={lam:.3g}, default schedule", fit_sgd()),
        "SGDClassifier tuned": (f"alpha={lam:.3g}, learning_rate='adaptive', eta0="
                                f"{SGD_TUNED['eta0']}", fit_sgd(**SGD_TUNED)),
        "LogisticRegression saga": (f"l1_ratio=1, C=1/(lam n)={1.0 / (lam * n_train):.3g}",
                                    fit_saga),
    }


def end_to_end(rows=None, features=None, density=None, quick=False, report=None,
               only=None):
    """{"problem": {...}, "rows": [...]} for the l1-logistic benchmark."""
    problem = dict(QUICK_PROBLEM if quick else FULL_PROBLEM)
    for key, value in (("rows", rows), ("features", features), ("density", density)):
        if value is not None:
            problem[key] = value
    t0 = time.perf_counter()
    X, y, w_true = make_problem(problem["rows"], problem["features"], problem["density"])
    n_train = int(round((1 - HOLDOUT) * problem["rows"]))
    Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    del X
    generated = time.perf_counter() - t0
    lam_max = float(np.abs(Xtr.T @ (0.5 - ytr)).max() / n_train)
    lam = LAMBDA_FRACTION * lam_max
    problem.update({"n_train": n_train, "n_test": Xte.shape[0], "nnz_train": Xtr.nnz,
                    "truth_nnz": int(np.count_nonzero(w_true)), "lam_max": lam_max,
                    "lam": lam, "seed": SEED, "generate_s": generated,
                    "train_mb": csr_bytes(Xtr) / 1e6, "test_mb": csr_bytes(Xte) / 1e6,
                    "F_zero": objective(np.zeros(Xtr.shape[1]), Xtr, ytr, lam),
                    "F_truth": objective(w_true, Xtr, ytr, lam),
                    "truth_accuracy": accuracy(w_true, Xte, yte)})
    out = []
    for name, (settings, fit) in solvers(lam, n_train).items():
        if only is not None and name not in only:
            continue
        with PeakMemory() as mem:
            start = time.perf_counter()
            w, iters = fit(Xtr, ytr)
            seconds = time.perf_counter() - start
        row = {"solver": name, "settings": settings, "iterations": iters, "seconds": seconds,
               "F": objective(w, Xtr, ytr, lam), "nnz": int(np.count_nonzero(w)),
               "accuracy": accuracy(w, Xte, yte), "peak_mb": mem.mb}
        if report is not None:
            report(row)
        out.append(row)
    best = min(r["F"] for r in out)
    for r in out:
        r["gap"] = (r["F"] - best) / abs(best)
    for key, name in (("x_sgd_time", "SGDClassifier"), ("x_tuned_time", "SGDClassifier tuned")):
        ref = next((r for r in out if r["solver"] == name), None)
        for r in out:
            r[key] = ref["seconds"] / r["seconds"] if ref else None
    return {"problem": problem, "rows": out}


def describe_problem(p):
    return (f"{p['rows']} x {p['features']} CSR (density {p['density']:g}, seed {p['seed']}): "
            f"{p['n_train']} training rows ({p['nnz_train']} nonzeros, "
            f"{p['train_mb']:.0f} MB), {p['n_test']} held out; truth {p['truth_nnz']} "
            f"nonzeros; lam = {LAMBDA_FRACTION} lam_max = {p['lam']:.4g}; "
            f"F(0) = {p['F_zero']:.6f}, F(truth) = {p['F_truth']:.6f}, truth's held-out "
            f"accuracy {p['truth_accuracy']:.4f}; generated in {p['generate_s']:.1f} s")


def nan_if_none(v):
    return float("nan") if v is None else v


def format_e2e(result):
    lines = [describe_problem(result["problem"]),
             f"{'solver':<25}{'time s':>8}{'x SGDC':>8}{'x tuned':>8}{'F(w)':>12}{'gap':>10}"
             f"{'nnz':>8}{'accuracy':>10}{'peak MB':>9}  iterations",
             "-" * 112]
    for r in result["rows"]:
        peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
        lines.append(f"{r['solver']:<25}{r['seconds']:>8.2f}"
                     f"{nan_if_none(r['x_sgd_time']):>8.2f}{nan_if_none(r['x_tuned_time']):>8.2f}"
                     f"{r['F']:>12.7f}"
                     f"{r['gap']:>10.2e}{r['nnz']:>8}{r['accuracy']:>10.4f}{peak:>9}  "
                     f"{r['iterations']}")
    lines.append("settings:")
    lines += [f"  {r['solver']}: {r['settings']}" for r in result["rows"]]
    lines.append("x SGDC, x tuned: the default / tuned SGDClassifier's time over this time "
                 "(> 1: this is faster);\ngap: (F - best F) / best F; peak MB: extra peak "
                 "resident memory of the fit (the data set itself excluded)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Command line.

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true",
                    help="10^6 elements for (a), a 20,000 x 10,000 problem for (b)")
    ap.add_argument("--part", choices=("prox", "loops", "e2e", "all"), default="all")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--features", type=int)
    ap.add_argument("--density", type=float)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = ap.parse_args(argv)
    out = {}
    if a.part in ("prox", "all"):
        n = PROX_N_QUICK if a.quick else PROX_N
        print(prox_header())
        out["prox"] = prox_mask_cost(n, quick=a.quick)
        print(format_prox(out["prox"]))
        print("\n".join(target_lines(out["prox"], lambda ok: "PASS" if ok else "MISS")))
        print()
    if a.part in ("loops", "all"):
        print("(c) every rule's loops, 1 thread")
        out["loops"] = loop_costs(PROX_N_QUICK if a.quick else PROX_N, quick=a.quick)
        print(format_loops(out["loops"]))
        print()
    if a.part in ("e2e", "all"):
        print("(b) l1-logistic regression, end to end")
        out["e2e"] = end_to_end(a.rows, a.features, a.density, a.quick)
        print(format_e2e(out["e2e"]))
    harness.write_json(a.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
