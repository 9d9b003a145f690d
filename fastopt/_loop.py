"""The loop engine behind every front end: ``Loop`` evaluates the objective, steps an
optimizer, checks the stopping rules and builds the ``OptimizeResult``.

``fastopt.minimize`` and the scipy method callables (fastopt/_minimize.py) and the Dask
front end (fastopt/distributed.py) set an optimizer up and hand it to a ``Loop`` with an
``Objective``: the full-batch loop (``Loop.full_batch``) or epochs of minibatches
(``Loop.minibatch``, over ``Slices`` of the rows of ``args`` cut as ``BatchPlan`` says).
A stop is a ``Status``; one that returns the last good point rewinds x, the iteration
count and the optimizer to the ``Checkpoint`` taken there, so that a run resumed from
the result repeats the run that was not stopped.
"""

import enum
import inspect
import math
import time

import numpy as np
from scipy.optimize import OptimizeResult

from fastopt import _dispatch


class Status(enum.IntEnum):
    """How a run ended: ``res.status``, with scipy's numbers where scipy has them."""

    SUCCESS = 0
    MAXITER = 1
    MAXFEV = 2
    NAN = 3
    MAX_TIME = 5
    INTERRUPTED = 6
    MAX_SKIPS = 7
    TASK_FAILED = 8             # fastopt.distributed
    CALLBACK = 99

    @property
    def message(self):
        """The result's message for this status."""
        return _MESSAGES[self]

    @property
    def returns_last_good(self):
        """Whether the run returns its last good point (x, fun, nit and opt_state all of
        the last x whose f and gradient were finite), not where it stopped."""
        return self in (Status.NAN, Status.INTERRUPTED, Status.MAX_SKIPS, Status.TASK_FAILED)


_MESSAGES = {
    Status.SUCCESS: "Optimization terminated successfully.",
    Status.MAXITER: "Maximum number of iterations has been exceeded.",
    Status.MAXFEV: "Maximum number of function evaluations has been exceeded.",
    Status.NAN: "NaN result encountered.",
    Status.MAX_TIME: "Time limit reached (max_time).",
    Status.INTERRUPTED: "Interrupted by the user (KeyboardInterrupt); returning the last "
                        "good point.",
    Status.MAX_SKIPS: "Too many non-finite steps skipped (max_skips).",
    Status.TASK_FAILED: "A Dask task failed; returning the last good point.",
    Status.CALLBACK: "`callback` raised `StopIteration`.",
}
# the messages of a success other than gtol's
EPOCHS_DONE = "Requested number of epochs completed."
POLISH_MAXITER = 1000           # the polish's proximal-gradient steps at most (Loop.polish)
FTOL_MET = "Optimization terminated successfully (relative reduction of f <= ftol)."


class Stop(Exception):
    """Ends a loop with a status (and a message other than the status's own, if any)."""

    def __init__(self, status, message=None):
        self.status, self.message = status, message


def wrap_callback(callback):
    """callback(xk) or callback(intermediate_result), chosen as scipy chooses."""
    if callback is None:
        return None
    try:
        params = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = set()
    if params == {"intermediate_result"}:
        return lambda res: callback(intermediate_result=res)
    return lambda res: callback(res.x)


FD_SCHEMES = ("2-point", "3-point", "cs")     # jac's finite-difference schemes, as scipy's


class Objective:
    """Evaluates (f, g) at a copy of x, so a fun that mutates its argument cannot corrupt
    the run; counts nfev/njev the way scipy does (a finite-difference gradient is one
    gradient evaluation, and its calls of fun count in nfev)."""

    def __init__(self, fun, jac, eps, l1=None, bounds=None):
        self.fun, self.jac, self.eps = fun, jac, eps
        self.l1 = l1                # l1 strengths (float or array): f includes l1 * |x|
        self.bounds = bounds        # (lo, hi) arrays like x: finite differences stay inside
        self.nfev = self.njev = 0
        if not (jac is True or callable(jac) or jac in (None, False) + FD_SCHEMES):
            raise ValueError(f"Invalid jac: {jac!r} (expected True, a callable, None, "
                             "'2-point', '3-point' or 'cs')")
        # where the gradient comes from, for its error messages
        self.source = "'fun' (jac=True)" if jac is True else "'jac'"
        # the finite-difference scheme, when fun gives no gradient (None: forward)
        self.scheme = jac if jac in FD_SCHEMES else "2-point"

    def value(self, x, args):
        fx = self.fun(x.copy(), *args)
        self.nfev += 1
        return scalar(fx)

    def __call__(self, x, args):
        """(f, g) at x: f is the objective (fun's value plus the l1 penalty), g the smooth
        part's gradient (the l1 part is the kernel's proximal step)."""
        f, g = self.smooth(x, args)
        if self.l1 is not None:
            f += float(np.sum(self.l1 * np.abs(x)))
        return f, g

    def smooth(self, x, args):
        if self.jac is True:
            out = self.fun(x.copy(), *args)
            self.nfev += 1
            self.njev += 1
            try:
                fx, g = out
            except (TypeError, ValueError):
                raise ValueError("with jac=True, 'fun' must return (f, gradient)") from None
            return scalar(fx), self._grad(g, x)
        f = self.value(x, args)
        self.njev += 1
        if callable(self.jac):
            return f, self._grad(self.jac(x.copy(), *args), x)
        return f, self._finite_difference(x, f, args)

    def _grad(self, g, x):
        """The gradient as a C-contiguous array of x's dtype and shape; TypeError for one
        that is not real numbers (strings, complex, ...), ValueError for one that is not an
        array (ragged lists, objects that are not numbers), naming where it came from."""
        if not (type(g) is np.ndarray and g.dtype == x.dtype and g.flags.c_contiguous
                and g.flags.aligned):
            if g is None:                       # (numpy would make it NaN)
                raise TypeError(f"the gradient returned by {self.source} is None; expected "
                                "an array of real numbers")
            try:
                dtype = (g if isinstance(g, np.ndarray) else np.asarray(g)).dtype
                if dtype.kind in "biufO":
                    g = np.require(g, dtype=x.dtype, requirements=["C", "A"])
            except (TypeError, ValueError) as e:
                raise ValueError(f"the gradient returned by {self.source} is not an array of "
                                 f"real numbers ({e})") from None
            if dtype.kind not in "biufO":
                raise TypeError(f"the gradient returned by {self.source} has dtype {dtype}; "
                                "expected real numbers")
        if g.shape != x.shape:
            g = g.reshape(-1) if g.size == x.size else g
            if g.shape != x.shape:
                raise ValueError(f"the gradient has shape {np.shape(g)}, expected {x.shape}")
        return g

    def _steps(self, x):
        """scipy's finite-difference steps at x (float64, signed) and, for '3-point', where
        the one-sided formula is used.  The step is ``eps`` (absolute) or sqrt(macheps)
        (cube root for '3-point') times max(1, |x|), taken towards x's sign.  Within the
        bounds, as scipy's approx_derivative: '2-point' turns the step around where it
        would leave the box and it fits on the other side, else takes the longer side's
        whole width; '3-point' stays central where x +- h fit, else goes one-sided
        (x + h, x + 2h) into the longer side, or central with the shorter side's width
        where that is no shorter.  'cs' steps off the real line only (so not at all
        where the bounds fix x)."""
        central = self.scheme == "3-point"
        xd = x.astype(np.float64)
        h = (np.finfo(x.dtype).eps ** (1 / 3 if central else 1 / 2)
             * np.where(xd >= 0, 1.0, -1.0) * np.maximum(1.0, np.abs(xd)))
        if self.eps is not None:                # an absolute step, unless lost in rounding
            eps = np.broadcast_to(np.asarray(self.eps, dtype=np.float64), x.shape)
            h = np.where((x + eps.astype(x.dtype)) - x == 0, h, eps)
        one_sided = np.zeros(x.shape, bool)
        if self.bounds is None:
            return h, one_sided
        lo, hi = self.bounds
        if self.scheme == "cs":
            return np.where(lo == hi, 0.0, h), one_sided
        lower, upper = xd - lo, hi - xd
        if not central:
            fits = np.abs(h) <= np.maximum(lower, upper)
            h = np.where(((xd + h < lo) | (xd + h > hi)) & fits, -h, h)
            return np.where(fits, h, np.where(upper >= lower, upper, -lower)), one_sided
        h = np.abs(h)
        inside = (lower >= h) & (upper >= h)
        side = np.where(upper >= lower, np.minimum(h, upper / 2), -np.minimum(h, lower / 2))
        shortest = np.minimum(lower, upper)
        narrow = ~inside & (np.abs(side) <= shortest)
        return np.where(inside, h, np.where(narrow, shortest, side)), ~inside & ~narrow

    def _finite_difference(self, x, f, args):
        """The gradient by finite differences (``self.scheme``) at x, f = fun(x), with
        fun called only inside the bounds; a coordinate with no room to step (fixed by its
        bounds) gets 0."""
        h, one_sided = self._steps(x)
        g = np.zeros_like(x)
        if self.scheme == "cs":
            xc = x.astype(np.complex128)
            for i in np.flatnonzero(h):
                xc[i] = x[i] + 1j * h[i]
                fx = self.fun(xc.copy(), *args)
                self.nfev += 1
                g[i] = scalar(fx if fx is None else np.imag(fx)) / h[i]
                xc[i] = x[i]
            return g
        # the points: x + h ('2-point'); x - h, x + h (central) or x + h, x + 2h (one-sided)
        xd = x.astype(np.float64)
        near = np.where(one_sided, xd + h, xd - h)
        far = np.where(one_sided, xd + 2 * h, xd + h)
        if self.bounds is not None:             # (against rounding past a bound)
            near, far = (np.clip(p, *self.bounds) for p in (near, far))
        near, far = near.astype(x.dtype), far.astype(x.dtype)
        xp = x.copy()
        for i in range(x.size):
            if far[i] == x[i]:
                continue
            xp[i] = far[i]
            f_far = self.value(xp, args)
            if self.scheme == "2-point":
                g[i] = (f_far - f) / (float(far[i]) - float(x[i]))
            else:
                xp[i] = near[i]
                f_near = self.value(xp, args)
                if one_sided[i]:
                    g[i] = (4 * f_near - 3 * f - f_far) / (float(far[i]) - float(x[i]))
                else:
                    g[i] = (f_far - f_near) / (float(far[i]) - float(near[i]))
            xp[i] = x[i]
        return g


def scalar(fx):
    if type(fx) is float:
        return fx
    if fx is None:                              # (numpy would make it NaN)
        raise TypeError("The user-provided objective function returned None; it must "
                        "return a scalar value.")
    try:
        f = np.asarray(fx, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("The user-provided objective function must return a scalar "
                         "value.") from None
    if f.size != 1:
        raise ValueError("The user-provided objective function must return a scalar value.")
    return float(f.reshape(()))


def _max_abs(g):
    """max |g_i| (0 for an empty gradient): NaN or inf exactly when some entry is; used both
    for the finiteness check and for gtol, so the gradient is reduced once per point."""
    return _dispatch.max_abs(g)


def _stationarity(x, g, lam, mask, box):
    """max |r_i| of the gradient projected onto what the constraints allow, the measure
    gtol tests with l1, pruning or bounds; NaN or inf when g has one.

    With l1, r is the minimum-norm subgradient of f + sum(lam_i |x_i|) (r = g + lam sign(x)
    off zero, soft-threshold(g, lam) at zero); with bounds (lo, hi), L-BFGS-B's projected
    gradient of it, r = x - clip(x - r, lo, hi): a component that pushes out of the box
    at an active bound counts as zero.  Pruned coordinates are excluded."""
    size = _max_abs(g)
    if not math.isfinite(size) or not g.size:
        return size
    r = g
    if lam is not None:
        r = np.where(x != 0, g + lam * np.sign(x), np.maximum(np.abs(g) - lam, 0.0))
    if box is not None:
        r = x - np.clip(x - r, *box)
    if mask is not None:
        r = np.where(mask == 0, 0.0, r)
    return float(np.abs(r).max())


def box_of(opt):
    """The optimizer's bounds as (lo, hi) arrays like x, or None without bounds."""
    lo, hi = opt._bounds[0]
    return (lo, hi) if lo.size else None


def finite_point(f, g):
    """f and every entry of the gradient g are finite."""
    return math.isfinite(f) and math.isfinite(_max_abs(g))


def _bind(f, args):
    """f with its trailing arguments bound: ``_bind(f, args)(x) == f(x, *args)``."""
    def bound(x):
        return f(x, *args)
    return bound


def rows_of(args):
    """The number of rows of the array arguments that minibatches slice (axis 0)."""
    sizes = {a.shape[0] for a in args if hasattr(a, "shape") and len(a.shape) >= 1}
    if not sizes:
        raise ValueError("minibatches need at least one array in 'args' to slice along axis 0")
    if len(sizes) > 1:
        raise ValueError(f"the arrays in 'args' have different numbers of rows: {sorted(sizes)}")
    return sizes.pop()


def take_rows(a, idx):
    """The rows of ``a`` at the positions ``idx`` (an integer array or a slice), along axis
    0, as the same kind of object: ``a[idx]`` for NumPy arrays and scipy.sparse CSR, and
    ``a.iloc[idx]`` for pandas objects, whose ``a[idx]`` looks up labels (a Series) or
    columns (a DataFrame).  Every front end's minibatches take their rows here."""
    iloc = getattr(a, "iloc", None)
    return a[idx] if iloc is None else iloc[idx]


def _take(args, idx):
    return tuple(take_rows(a, idx) if hasattr(a, "shape") and len(a.shape) >= 1 else a
                 for a in args)


class BatchPlan:
    """How an epoch's order of n rows is cut into minibatches (minimize, the Dask front end
    and find_learning_rate): ``steps`` = n // batch_size batches of batch_size consecutive
    positions, batch s from s * batch_size.  The r = n % batch_size rows left over join the
    last batch (batch_size + r rows), so every row is used once per epoch and the epoch
    mean is over all n rows; with ``drop_last`` they are left out of the epoch (torch's
    DataLoader: under shuffling other rows each epoch, without it the same last r rows).
    Merging is the default: a last batch of r rows would take a full step on a gradient
    from a few rows at the end of every epoch (the loss jumps there), and dropping leaves
    rows out of the epoch's mean.  Fewer than batch_size rows make one batch of all of
    them, and are an error with ``drop_last``."""

    def __init__(self, n, batch_size, drop_last):
        self.n, self.batch_size, self.drop_last = n, batch_size, bool(drop_last)
        self.steps = n // batch_size
        if self.steps == 0:
            if self.drop_last:
                raise ValueError(f"drop_last with batch_size={batch_size} and {n} rows leaves "
                                 "no batch")
            self.steps = 1

    def bounds(self, s):
        """The positions [start, stop) of batch s in the epoch's row order."""
        start = s * self.batch_size
        if s == self.steps - 1 and not self.drop_last:
            return start, self.n
        return start, start + self.batch_size


class Slices:
    """minimize's minibatches: each epoch one (seeded) permutation of the rows of ``args``,
    cut as BatchPlan says.

    ``batches(epoch, first, stream)`` yields (the batch's args, its number of rows) for
    batches ``first, first + 1, ...`` of an epoch whose permutation is drawn from the
    random stream in state ``stream`` (``state()`` at the epoch's start), so that a run can
    be resumed inside an epoch."""

    def __init__(self, args, batch_size, shuffle, seed, drop_last):
        self.args, self.shuffle = args, shuffle
        self.n = rows_of(args)
        self.plan = BatchPlan(self.n, batch_size, drop_last)
        self.rng = np.random.default_rng(seed)

    def state(self):
        """The random stream's state (plain data, for a state dict)."""
        return self.rng.bit_generator.state

    def __call__(self, epoch, first=0, stream=None):
        if stream is not None:
            self.rng.bit_generator.state = stream
        plan = self.plan
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for s in range(first, plan.steps):
            start, stop = plan.bounds(s)
            yield _take(self.args, order[start:stop]), stop - start


class Checkpoint:
    """The run as it stood at its last good point (the last x whose f and gradient were
    finite): x, f, g, the iteration count, the optimizer's state arrays and counters, its
    masks and its schedule's state, and the loop's own position (``where``, minibatches).

    An abnormal stop (a ``Status`` that returns the last good point) rewinds to it, so that
    ``x``, ``fun``, ``nit`` and ``opt_state`` describe one point and resuming from them
    repeats the run.  ``save`` copies x and the state arrays into buffers allocated once
    (one C call, ``Snapshot``), into the spare of two slots, and makes it the current one
    last: a KeyboardInterrupt in the middle of a save leaves the previous checkpoint
    whole."""

    def __init__(self, opt, x, schedule=None):
        """``schedule``: the learning-rate schedule whose state changes during a run (the
        one told the monitored value), or None."""
        self.opt = opt
        arrays = [x] + [a for st in opt.state for a in st.values()]
        self.pruning = opt.pruning is not None
        self.schedule = schedule
        self.current, self.spare = (_Slot(arrays) for _ in range(2))
        self.save(x, math.nan, np.full_like(x, np.nan), 0)

    def save(self, x, f, g, nit, where=None):
        """x (with f and g at it) is good: remember the run as it stands."""
        slot, opt = self.spare, self.opt
        slot.snapshot.save()
        progress = opt._progress
        slot.point = (f, g, nit, where)
        slot.counters = (progress.step, opt.skipped_steps, progress.carry)
        if self.pruning:
            slot.masks = opt.masks
        if self.schedule is not None:
            slot.schedule = self.schedule.state_dict()
        self.spare, self.current = self.current, slot

    def restore(self, x):
        """Put x back to the checkpoint's point (the optimizer is left as it is)."""
        x[...] = self.current.snapshot.copies[0]

    def rewind(self, x):
        """Put x and the optimizer back to the checkpoint: its state arrays, counters,
        masks and schedule state; returns (f, g, nit, where) there."""
        slot, opt = self.current, self.opt
        x_copy, *arrays = slot.snapshot.copies
        x[...] = x_copy
        sd = opt.state_dict()
        arrays = iter(arrays)
        sd["state"] = [{k: next(arrays) for k in st} for st in sd["state"]]
        sd["step"], sd["skipped_steps"], carry = slot.counters
        if "mu_product" in sd:
            sd["mu_product"] = carry
        if self.pruning:
            sd["masks"] = [None if m is None else m.reshape(p.shape)
                           for m, p in zip(slot.masks, opt.params)]
        if self.schedule is not None:
            sd["schedule"] = slot.schedule
        opt.load_state_dict(sd)
        return slot.point


class _Slot:
    """One of a checkpoint's two copies of the run: the snapshot of x and the optimizer's
    state arrays, and what ``Checkpoint.save`` records beside them."""

    def __init__(self, arrays):
        self.snapshot = _dispatch.Snapshot(arrays)
        self.point = self.counters = self.masks = self.schedule = None


class Loop:
    """One run: ``opt`` (an optimizer holding x) stepped with the gradients ``objective``
    gives at x, with ``args`` (the full batch) or minibatches of them, ``cb`` the wrapped
    callback (or None), ``options`` the checked loop options (fastopt._minimize.LOOP_OPTIONS)
    and the limits maxiter, maxfev and max_time (inf: none)."""

    def __init__(self, opt, objective, x, args, cb, options, maxiter, maxfev, max_time):
        self.opt, self.objective, self.x, self.args, self.cb = opt, objective, x, args, cb
        self.options, self.maxiter, self.maxfev, self.max_time = (options, maxiter, maxfev,
                                                                  max_time)
        self.plateau = getattr(opt.learning_rate, "update", None)
        self.checkpoint = Checkpoint(opt, x, opt.learning_rate if self.plateau else None)
        self.nit = 0
        self.skips = 0
        self.start = time.perf_counter()
        self.disp = options["disp"]
        self.disp_every = options["disp_every"]
        self.ftol_streak = 0           # consecutive ftol checks that held
        self.best = None               # (f, x, g) of the best point, with return_best
        self.return_best = options["return_best"]
        self.monitor = options["monitor"]
        self.monitor_every = options["monitor_every"]
        if self.monitor is not None and not callable(self.monitor):
            raise TypeError("'monitor' must be a callable monitor(x) -> float")
        if self.monitor is not None and self.plateau is None:
            raise ValueError("'monitor' feeds a performance schedule: give "
                             "learning_rate=fastopt.ReduceLROnPlateau(...) with it")
        self.sparse = opt.uses_l1 or opt.pruning is not None
        # what gtol's stationarity measure depends on beyond g (see _stationarity)
        self.l1 = opt.l1_strength(0) if opt.uses_l1 else None
        self.box = box_of(opt)
        self.constrained = self.sparse or self.box is not None

    # ---------------------------------------------------------------- helpers
    def limits(self):
        if self.nit >= self.maxiter:
            raise Stop(Status.MAXITER)
        if self.objective.nfev >= self.maxfev:
            raise Stop(Status.MAXFEV)
        if self.max_time != math.inf and time.perf_counter() - self.start >= self.max_time:
            raise Stop(Status.MAX_TIME)

    def ftol_check(self, f_old, f_new):
        ftol = self.options["ftol"]
        if ftol is None or not math.isfinite(f_old):
            return False
        rel = (f_old - f_new) / max(abs(f_old), abs(f_new), 1.0)
        self.ftol_streak = self.ftol_streak + 1 if rel <= ftol else 0
        return self.ftol_streak >= self.options["patience"]

    def report(self, f, g, gmax=None):
        if self.cb is not None:
            lr = self.opt.learning_rate_at(max(self.opt.step_count - 1, 0))
            res = OptimizeResult(x=self.x.copy(), fun=f, jac=g.copy(), nit=self.nit,
                                 learning_rate=lr)
            try:
                self.cb(res)
            except StopIteration:
                raise Stop(Status.CALLBACK) from None
        if self.disp and self.nit % self.disp_every == 0:
            nnz = f"  nnz {self.opt.nnz()}" if self.sparse else ""
            gmax = _max_abs(g) if gmax is None else gmax
            print(f"iter {self.nit:7d}  f {f: .8e}  |g|inf {gmax:.3e}  "
                  f"lr {self.opt.learning_rate_now:.3e}{nnz}  "
                  f"{time.perf_counter() - self.start:7.2f}s")

    def gmax(self, g):
        """The gradient's size for gtol and the finiteness test: max |g_i|, or with l1,
        pruning or bounds the size of the gradient projected onto what they allow (the
        smooth gradient of a sparse or bounded solution need not vanish)."""
        if not self.constrained:
            return _max_abs(g)
        return _stationarity(self.x, g, self.l1, self.opt.masks[0], self.box)

    def short_of_gtol(self, gmax):
        """The message of a full-batch run stopped by maxiter: how far its gradient (the
        projected one, with l1, pruning or bounds) is from gtol."""
        what = "projected gradient" if self.constrained else "gradient"
        return (f"{Status.MAXITER.message[:-1]}; {what} norm {gmax:.2g} > gtol "
                f"{self.options['gtol']:.2g}.")

    def end_epoch(self, epoch, loss, last_loss):
        """Close epoch number ``epoch`` (from 1) with its mean loss (NaN if no minibatch
        counted): it feeds ReduceLROnPlateau, then the ftol test against the last epoch's
        may stop the run."""
        self.feed_plateau(epoch, loss)
        if self.ftol_check(last_loss, loss):
            raise Stop(Status.SUCCESS, FTOL_MET)

    def feed_plateau(self, count, loss):
        """Every monitor_every iterations/epochs, tell ReduceLROnPlateau the monitored value
        (``monitor(x)`` when given, else the loss)."""
        if self.plateau is not None and count % self.monitor_every == 0:
            self.plateau(scalar(self.monitor(self.x.copy())) if self.monitor else loss)

    def accept(self, f, g, where=None):
        """f and g are finite at x: x becomes the last good point (the checkpoint)."""
        self.checkpoint.save(self.x, f, g, self.nit, where)
        if self.return_best:
            self.keep_best(f, g)

    def keep_best(self, f, g):
        """With return_best: remember x if f is the lowest seen."""
        if self.best is None or f < self.best[0]:
            self.best = (f, self.x.copy(), g)

    def rewind(self):
        """An abnormal stop: x, the optimizer and nit go back to the last good point;
        returns its (f, g, where)."""
        f, g, self.nit, where = self.checkpoint.rewind(self.x)
        return f, g, where

    def step(self, g):
        self.opt.step(g)
        self.nit += 1

    def bad_point(self):
        """f or the gradient is not finite at x: skip (x goes back to the last good point,
        and the run carries on with the next step or minibatch) or stop."""
        if self.options["nan_policy"] == "skip" and self.nit > 0:
            self.skips += 1
            if self.skips > self.options["max_skips"]:
                raise Stop(Status.MAX_SKIPS)
            self.checkpoint.restore(self.x)
            return
        raise Stop(Status.NAN)

    def result(self, status, f, g, message=None, **extra):
        """The OptimizeResult at x (with fun f and jac g there): scipy's fields, opt_state
        and, with l1 or pruning, nnz and sparsity."""
        status = Status(status)
        message = str(message or status.message)
        if self.disp:
            nnz = (f", nnz {self.opt.nnz()} (sparsity {self.opt.sparsity():.1%})"
                   if self.sparse else "")
            print(f"{message}  iterations {self.nit}, f {f:.8e}, "
                  f"evaluations {self.objective.nfev}{nnz}, "
                  f"{time.perf_counter() - self.start:.2f}s")
        res = OptimizeResult(x=self.x, fun=f, jac=g, nit=self.nit, nfev=self.objective.nfev,
                             njev=self.objective.njev, status=int(status),
                             success=status == Status.SUCCESS, message=message,
                             opt_state=self.opt.state_dict(), **extra)
        if self.sparse:
            res.nnz, res.sparsity = self.opt.nnz(), self.opt.sparsity()
        return res

    def run(self, body):
        """Run ``body()``, a loop that returns (status, message) when it completes or ends
        by raising Stop (a KeyboardInterrupt is Status.INTERRUPTED), and close the run: after
        a stop that returns the last good point, x, nit and the optimizer go back to it.
        Returns (status, message, (f, g, where) at the last good point or None)."""
        try:
            status, message = body()
        except Stop as stop:
            status, message = stop.status, stop.message
        except KeyboardInterrupt:
            status, message = Status.INTERRUPTED, None
        status = Status(status)
        return status, message, self.rewind() if status.returns_last_good else None

    # ---------------------------------------------------------------- full batch
    def evaluator(self):
        """A function ``() -> (f, g, gmax)`` at the current x: ``f, g = objective(x, args)``
        and ``gmax = self.gmax(g)``, the same values and errors.  In the common case (a
        plain Objective, jac=True or a callable jac, no l1, pruning or bounds) it is one
        closure doing the work of Objective.smooth and the gradient test inline: the
        full-batch loop's per-iteration path (bench/minimize.py)."""
        obj, x, args = self.objective, self.x, self.args
        cls = type(obj)
        if (cls.smooth is not Objective.smooth or cls.__call__ is not Objective.__call__
                or obj.l1 is not None or self.constrained
                or not (obj.jac is True or callable(obj.jac))):
            gmax = self.gmax

            def evaluate():
                f, g = obj(x, args)
                return f, g, gmax(g)
            return evaluate

        fun, jac, grad, copy = obj.fun, obj.jac, obj._grad, x.copy
        if args:
            # fun(x, *args) is a CALL_FUNCTION_EX, much slower than a plain call: only pay
            # it when there are args
            fun, jac = _bind(fun, args), (jac if jac is True else _bind(jac, args))
        n, ndarray, dtype, max_abs = x.size, np.ndarray, x.dtype, _dispatch.max_abs
        # the fast path takes exactly what _grad passes through unchanged: a 1-D
        # C-contiguous, aligned ndarray of x's dtype (size and dtype checked here, the rest
        # by max_abs); anything else goes the long way, through _grad (conversion, messages)

        if jac is True:
            def evaluate():
                out = fun(copy())
                obj.nfev += 1
                obj.njev += 1
                try:
                    fx, g = out
                except (TypeError, ValueError):
                    raise ValueError("with jac=True, 'fun' must return (f, gradient)") from None
                if type(fx) is not float:
                    fx = scalar(fx)
                if type(g) is ndarray and g.dtype is dtype and g.size == n:
                    try:
                        return fx, g, max_abs(g)
                    except TypeError:
                        pass
                g = grad(g, x)
                return fx, g, _max_abs(g)
        else:
            def evaluate():
                fx = fun(copy())
                obj.nfev += 1
                if type(fx) is not float:
                    fx = scalar(fx)
                obj.njev += 1
                g = jac(copy())
                if type(g) is ndarray and g.dtype is dtype and g.size == n:
                    try:
                        return fx, g, max_abs(g)
                    except TypeError:
                        pass
                g = grad(g, x)
                return fx, g, _max_abs(g)
        return evaluate

    def full_batch(self):
        """Full-batch steps from x until a stopping rule holds; the OptimizeResult."""
        x = self.x
        # The per-iteration path (bench/minimize.py measures what it adds to fun's cost):
        # the optional parts (callbacks, disp, ftol, plateau, return_best, maxfev, max_time)
        # tested once, not every iteration; limits(), step() and accept() inlined; nit, f
        # and g kept in locals, written back to self before anything that reads nit
        # (report, bad_point) and when the loop ends.
        gtol, ftol = self.options["gtol"], self.options["ftol"]
        reporting = self.cb is not None or self.disp
        plateau = self.plateau is not None
        return_best = self.return_best
        extras = reporting or plateau or return_best or ftol is not None
        maxiter, maxfev, max_time = self.maxiter, self.maxfev, self.max_time
        count_fev, timed = maxfev != math.inf, max_time != math.inf
        objective, start, clock = self.objective, self.start, time.perf_counter
        evaluate, opt_step = self.evaluator(), self.opt._step_checked
        save = self.checkpoint.save
        finite = math.isfinite

        def body():
            nit, f, g = self.nit, math.nan, None
            try:
                f, g, gmax = evaluate()
                if not (finite(f) and finite(gmax)):
                    raise Stop(Status.NAN)
                self.accept(f, g)
                while True:
                    if gmax <= gtol:
                        return Status.SUCCESS, None
                    # self.limits(), inlined
                    if nit >= maxiter:
                        return Status.MAXITER, self.short_of_gtol(gmax)
                    if count_fev and objective.nfev >= maxfev:
                        return Status.MAXFEV, None
                    if timed and clock() - start >= max_time:
                        return Status.MAX_TIME, None
                    # self.step(g), inlined; g is checked (evaluate: 1-D, C-contiguous,
                    # x's dtype and size; or converted by _grad)
                    opt_step((g,))
                    nit += 1
                    f_old, g_old = f, g
                    f, g, gmax = evaluate()
                    if not (finite(f) and finite(gmax)):
                        self.nit = nit
                        self.bad_point()    # raises, or x is back at the last good point
                        f, g = f_old, g_old
                        gmax = self.gmax(g)
                        continue
                    if extras:
                        if return_best:
                            self.keep_best(f, g)
                        if reporting:
                            self.nit = nit
                            self.report(f, g, gmax)
                        if ftol is not None and self.ftol_check(f_old, f):
                            return Status.SUCCESS, FTOL_MET
                        if plateau:
                            self.feed_plateau(nit, f)
                    # self.accept(f, g), inlined; after the plateau schedule has been told
                    # f, as a run resumed from here starts after that
                    save(x, f, g, nit)
            finally:
                self.nit, self.point = nit, (f, g)

        status, message, back = self.run(body)
        f, g = back[:2] if back else self.point
        if self.best is not None and self.best[0] < f:
            f, best_x, g = self.best
            np.copyto(x, best_x)
        return self.result(status, f, g, message)

    # ---------------------------------------------------------------- minibatches
    def minibatch(self, batch_size, epochs, shuffle, seed, batches=None, full=None):
        """Epochs of minibatch steps.  ``batches(epoch, first, stream)`` yields (batch, rows)
        for the steps of an epoch from step ``first`` on, ``batch`` being what the
        objective is called with, and ``batches.state()`` is the stream to pass to resume
        an epoch (see Slices, the default: slices of the rows of ``args``;
        fastopt.distributed passes batches that its objective evaluates on the workers).
        ``full`` is what the objective is called with for all the rows (default ``args``),
        for the polish (see ``polish``): with l1 and the option ``polish``, a run that
        completed its epochs or met ftol or maxiter is polished, and the result's fun and
        jac are the full objective's at the polished x.

        The result's opt_state carries the loop's position (``"loop"``: the epoch, its next
        batch, the stream at its start and its running sums): a run given it back, with
        the same batch_size on the same rows, continues where this one stopped."""
        x = self.x
        if batches is None:
            batches = Slices(self.args, batch_size, shuffle, seed, self.options["drop_last"])
        same = dict(batch_size=batch_size, shuffle=bool(shuffle),
                    drop_last=bool(self.options["drop_last"]), nrows=batches.n)
        saved = self.options["opt_state"]
        resume = saved.get("loop") if isinstance(saved, dict) else None
        if not (isinstance(resume, dict) and all(resume.get(k) == v for k, v in same.items())):
            resume = None
        epoch, epoch_loss = (0, math.nan) if resume is None else (resume["epoch"],
                                                                  resume["epoch_loss"])
        nepochs, g = 0, np.full_like(x, np.nan)
        # (epoch, its next batch, its stream, its sums so far, the last epoch's loss): the
        # position a run resumed from here starts at (None: the next epoch's start)
        where = None

        def body():
            nonlocal epoch, epoch_loss, nepochs, where, g
            for i in range(epochs):
                if i == 0 and resume is not None:
                    where = (epoch, resume["batch"], resume["stream"], resume["total"],
                             resume["rows"], epoch_loss)
                else:
                    where = (epoch, 0, batches.state(), 0.0, 0, epoch_loss)
                _, step, stream, total, rows, _ = where
                for batch, size in batches(epoch, step, stream):
                    self.limits()
                    f, g = self.objective(x, batch)
                    step += 1
                    if not finite_point(f, g):
                        self.bad_point()
                        where = (epoch, step, stream, total, rows, epoch_loss)
                        continue
                    self.accept(f, g, where)
                    total += f * size
                    rows += size
                    self.step(g)
                    where = (epoch, step, stream, total, rows, epoch_loss)
                    self.report(f, g)
                nepochs += 1
                epoch += 1
                where = None
                last, epoch_loss = epoch_loss, (total / rows if rows else math.nan)
                self.end_epoch(epoch, epoch_loss, last)
            return Status.SUCCESS, EPOCHS_DONE

        status, message, back = self.run(body)
        if back is not None:
            _, g, where = back
        if where is None:
            where = (epoch, 0, batches.state(), 0.0, 0, epoch_loss)
        extra, f = {}, epoch_loss
        if (self.options["polish"] and self.opt.uses_l1
                and status in (Status.SUCCESS, Status.MAXITER)):
            polished, extra["polish"] = self.polish(self.args if full is None else full)
            if polished is not None:
                f, g = polished
        res = self.result(status, f, g, message, nepochs=nepochs, **extra)
        res.opt_state["loop"] = dict(zip(("epoch", "batch", "stream", "total", "rows",
                                          "epoch_loss"), where), **same)
        return res

    def polish(self, full):
        """Full-batch proximal-gradient steps from x (ISTA with backtracking: Beck and
        Teboulle 2009): x+ = prox(x - t g), the soft threshold at t * l1, clipped to the
        bounds, pruned coordinates kept at 0; t doubles before each step and halves until
        f(x+) <= f(x) + g.(x+ - x) + |x+ - x|^2 / (2t), a trial point with a non-finite f
        or gradient counting as too long a step.  It stops when gtol's l1 test holds
        (``_stationarity``), after POLISH_MAXITER steps, or when t underflows; x is the
        last point accepted (finite, no worse than where it started), or the start again
        after a KeyboardInterrupt or a non-finite f or gradient at the start.  Its
        evaluations count in nfev and njev.  Returns ((f, g) at x, or None when x is the
        start again; the result's ``polish``: nit, nfev, success and the stationarity
        reached)."""
        x, objective, gtol = self.x, self.objective, self.options["gtol"]
        lam, box, mask = self.l1, self.box, self.opt.masks[0]
        start, nfev = x.copy(), objective.nfev
        nit, t, done = 0, 1.0, False
        f = g = None
        try:
            f, g = objective(x, full)
            if not finite_point(f, g):
                raise FloatingPointError
            smooth = f - float(np.sum(lam * np.abs(x)))
            while nit < POLISH_MAXITER:
                done = _stationarity(x, g, lam, mask, box) <= gtol
                if done:
                    break
                t *= 2.0
                while t > 0.0:
                    u = x - t * g
                    trial = np.sign(u) * np.maximum(np.abs(u) - t * lam, 0.0)
                    if box is not None:
                        trial = np.clip(trial, *box)
                    if mask is not None:
                        trial = np.where(mask == 0, 0.0, trial)
                    trial = trial.astype(x.dtype)
                    f_new, g_new = objective.smooth(trial, full)
                    d = trial - x
                    if finite_point(f_new, g_new) and (
                            f_new <= smooth + float(g @ d) + float(d @ d) / (2.0 * t)):
                        break
                    t *= 0.5
                else:
                    break                           # no step decreases f any more
                x[...] = trial
                smooth, g, nit = f_new, g_new, nit + 1
                f = smooth + float(np.sum(lam * np.abs(x)))
        except (KeyboardInterrupt, FloatingPointError):
            x[...] = start
            f = g = None
        if f is None:
            return None, {"nit": 0, "nfev": objective.nfev - nfev, "success": False,
                          "stationarity": math.nan}
        return (f, g), {"nit": nit, "nfev": objective.nfev - nfev, "success": done,
                        "stationarity": _stationarity(x, g, lam, mask, box)}


