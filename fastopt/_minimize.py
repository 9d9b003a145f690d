"""minimize(): the scipy-shaped front end, and the scipy custom-method adapters.

One loop (``_run``) serves ``fastopt.minimize(fun, x0, method="nadam", ...)`` and
``scipy.optimize.minimize(fun, x0, method=fastopt.nadam, ...)``: it evaluates ``fun``,
steps an optimizer object, checks the stopping rules and builds the OptimizeResult.
"""

import inspect
import math
import numbers
import time
import warnings

import numpy as np
from scipy.optimize import Bounds, OptimizeResult, OptimizeWarning

from fastopt import _kernels
from fastopt._validation import check_bool
from fastopt.optimizers import SGD, Adagrad, Adam, Adamax, Nadam, RMSprop

__all__ = ["minimize", "show_options", "METHODS", "sgd", "momentum", "nesterov", "adagrad",
           "rmsprop", "adam", "amsgrad", "adamax", "nadam"]

# method name -> (optimizer class, hyperparameters it fixes unless the user overrides them)
METHODS = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adam": (Adam, {}),
    "amsgrad": (Adam, {"amsgrad": True}),
    "adamax": (Adamax, {}),
    "nadam": (Nadam, {}),
}

DEFAULT_METHOD = "adam"        # method=None: the usual first choice for a first-order method

COMMON_OPTIONS = ("learning_rate", "lr", "convention", "weight_decay", "l2", "l1",
                  "clipvalue", "clipnorm", "global_clipnorm", "maximize", "pruning",
                  "pruning_scope", "num_threads")

# loop options and their defaults
LOOP_OPTIONS = {
    "maxiter": None,        # 1000 full-batch, unlimited with minibatches (epochs bind)
    "maxfev": None,
    "gtol": 1e-5,           # infinity norm of the gradient (full batch only; with l1,
                            # pruning or bounds, of the projected gradient: _stationarity)
    "ftol": None,           # relative decrease of f (or of the epoch-mean loss)
    "patience": 1,          # consecutive ftol checks that must hold
    "max_time": None,       # seconds
    "batch_size": None,
    "epochs": 10,
    "shuffle": True,
    "drop_last": False,     # False: the rows left over join the epoch's last batch
    "seed": None,
    "disp": False,
    "disp_every": 100,
    "return_best": False,
    "opt_state": None,
    "nan_policy": "raise",
    "max_skips": 10,
    "tol": None,
    "eps": None,            # absolute finite-difference step (jac=None, '2-point', ...)
    "monitor": None,        # callable(x) -> float fed to ReduceLROnPlateau (default: the loss)
    "monitor_every": 1,     # iterations (full batch) or epochs (minibatches)
}

STATUS = {
    0: "Optimization terminated successfully.",
    1: "Maximum number of iterations has been exceeded.",
    2: "Maximum number of function evaluations has been exceeded.",
    3: "NaN result encountered.",
    5: "Time limit reached (max_time).",
    6: "Interrupted by the user (KeyboardInterrupt); returning the last good point.",
    7: "Too many non-finite steps skipped (max_skips).",
    8: "A Dask task failed; returning the last good point.",     # fastopt.distributed
    99: "`callback` raised `StopIteration`.",
}
ABNORMAL = (3, 6, 7, 8)   # stops that return the last good point
EPOCHS_DONE = "Requested number of epochs completed."
FTOL_MET = "Optimization terminated successfully (relative reduction of f <= ftol)."


class _Stop(Exception):
    """Ends a loop with a status (and a message other than STATUS[status], if any)."""

    def __init__(self, status, message=None):
        self.status, self.message = status, message


def _hyper_names(cls):
    params = inspect.signature(cls.__init__).parameters
    return {n for n, p in params.items()
            if n not in ("self", "params", "common") and p.kind != p.VAR_KEYWORD}


def _split_options(method, options, stacklevel=4):
    cls, fixed = METHODS[method]
    names = _hyper_names(cls) | set(COMMON_OPTIONS)
    hyper = dict(fixed)
    loop = dict(LOOP_OPTIONS)
    unknown = []
    for k, v in options.items():
        if k in names:
            hyper[k] = v
        elif k in loop:
            loop[k] = v
        else:
            unknown.append(k)
    if unknown:
        warnings.warn(f"Unknown solver options: {', '.join(sorted(unknown))}",
                      OptimizeWarning, stacklevel=stacklevel)
    return cls, hyper, loop


def _as_x0(x0):
    x = np.atleast_1d(np.asarray(x0))
    if x.ndim != 1:
        raise ValueError("'x0' must only have one dimension.")
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    elif x.dtype.kind == "c" or x.dtype.kind not in "f":
        raise TypeError(f"'x0' has dtype {x.dtype}; expected real numbers")
    elif x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return np.array(x, dtype=x.dtype, copy=True, order="C")


def _as_bounds(bounds, x):
    """scipy Bounds or a sequence of (lo, hi) pairs (None = unbounded) -> (lo, hi)."""
    if bounds is None:
        return None
    if isinstance(bounds, Bounds):
        lo, hi = bounds.lb, bounds.ub
    else:
        try:
            pairs = list(bounds)
        except TypeError:
            raise TypeError("'bounds' must be a scipy.optimize.Bounds or a sequence of "
                            f"(min, max) pairs, got {bounds!r}") from None
        if len(pairs) != x.size:
            raise ValueError(f"'bounds' has {len(pairs)} pairs, but x0 has {x.size} entries")
        try:
            lo = [-np.inf if p[0] is None else p[0] for p in pairs]
            hi = [np.inf if p[1] is None else p[1] for p in pairs]
        except (TypeError, IndexError):
            raise ValueError("'bounds' must be a scipy.optimize.Bounds or a sequence of "
                             "(min, max) pairs") from None
    return lo, hi           # validated (NaN, lo > hi, shape) by the optimizer


def _wrap_callback(callback):
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


class _Objective:
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
        return _scalar(fx)

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
            return _scalar(fx), self._grad(g, x)
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
                g[i] = _scalar(fx if fx is None else np.imag(fx)) / h[i]
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


def _scalar(fx):
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


def _gmax(g):
    """max |g_i| (0 for an empty gradient): NaN or inf exactly when some entry is; used both
    for the finiteness check and for gtol, so the gradient is reduced once per point."""
    return _kernels.max_abs(g)


def _stationarity(x, g, lam, mask, box):
    """max |r_i| of the gradient projected onto what the constraints allow, the measure
    gtol tests with l1, pruning or bounds; NaN or inf when g has one.

    With l1, r is the minimum-norm subgradient of f + sum(lam_i |x_i|) (r = g + lam sign(x)
    off zero, soft-threshold(g, lam) at zero); with bounds (lo, hi), L-BFGS-B's projected
    gradient of it, r = x - clip(x - r, lo, hi): a component that pushes out of the box
    at an active bound counts as zero.  Pruned coordinates are excluded."""
    size = _gmax(g)
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


def _finite(f, gmax):
    return math.isfinite(f) and math.isfinite(gmax)


def _bind(f, args):
    """f with its trailing arguments bound: ``_bind(f, args)(x) == f(x, *args)``."""
    def bound(x):
        return f(x, *args)
    return bound


def _rows(args):
    """The number of rows of the array arguments that minibatches slice (axis 0)."""
    sizes = {a.shape[0] for a in args if hasattr(a, "shape") and len(a.shape) >= 1}
    if not sizes:
        raise ValueError("minibatches need at least one array in 'args' to slice along axis 0")
    if len(sizes) > 1:
        raise ValueError(f"the arrays in 'args' have different numbers of rows: {sorted(sizes)}")
    return sizes.pop()


def _take_rows(a, idx):
    """The rows of ``a`` at the positions ``idx`` (an integer array or a slice), along axis
    0, as the same kind of object: ``a[idx]`` for NumPy arrays and scipy.sparse CSR, and
    ``a.iloc[idx]`` for pandas objects, whose ``a[idx]`` looks up labels (a Series) or
    columns (a DataFrame).  Every front end's minibatches take their rows here."""
    iloc = getattr(a, "iloc", None)
    return a[idx] if iloc is None else iloc[idx]


def _take(args, idx):
    return tuple(_take_rows(a, idx) if hasattr(a, "shape") and len(a.shape) >= 1 else a
                 for a in args)


class _BatchPlan:
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
        if not isinstance(drop_last, (bool, np.bool_)):
            raise TypeError(f"Invalid drop_last: {drop_last!r} (options['drop_last'] must be "
                            "True or False)")
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


class _Slices:
    """minimize's minibatches: each epoch one (seeded) permutation of the rows of ``args``,
    cut as _BatchPlan says.

    ``batches(epoch, first, stream)`` yields (the batch's args, its number of rows) for
    batches ``first, first + 1, ...`` of an epoch whose permutation is drawn from the
    random stream in state ``stream`` (``state()`` at the epoch's start), so that a run can
    be resumed inside an epoch."""

    def __init__(self, args, batch_size, shuffle, seed, drop_last):
        self.args, self.shuffle = args, shuffle
        self.n = _rows(args)
        self.plan = _BatchPlan(self.n, batch_size, drop_last)
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


def _method_name(method):
    """The method's name: a name (any case) or one of the fastopt callables (fastopt.adam,
    ...) that scipy.optimize.minimize takes, or None for DEFAULT_METHOD; else ValueError
    listing the valid ones."""
    if method is None:
        return DEFAULT_METHOD
    if isinstance(method, str):
        name = method.lower()
        if name in METHODS:
            return name
    else:
        for name, fn in _CALLABLES.items():
            if method is fn:
                return name
    raise ValueError(f"Unknown solver {method!r}; fastopt methods are: {', '.join(METHODS)} "
                     "(a name, or the callable fastopt.adam etc.)")


# The loop options that take numbers: name -> (kind, minimum, None allowed, inf allowed).
# "int" accepts Python and NumPy integers and integral floats (10.0, 1e4 become int, as
# scipy's own loops accept a float maxiter); never bool, NaN or a non-integral float.
# "real" accepts any real number (float() of it), never bool or NaN.  inf, where allowed,
# means no limit.
NUMERIC_OPTIONS = {
    "maxiter": ("int", 0, True, True),
    "maxfev": ("int", 0, True, True),
    "tol": ("real", 0, True, True),
    "gtol": ("real", 0, False, True),
    "ftol": ("real", 0, True, True),
    "patience": ("int", 1, False, False),
    "max_time": ("real", 0, True, True),
    "batch_size": ("int", 1, True, False),
    "epochs": ("int", 1, False, False),
    "disp_every": ("int", 1, False, False),
    "max_skips": ("int", 0, False, False),
    "monitor_every": ("int", 1, False, False),
}


def _check_numeric_options(o):
    """Validate (and normalize: int or float) the numeric loop options in ``o`` in place.
    TypeError for a non-number (str, bool, None where not allowed), ValueError for a value
    out of range (NaN, negative, non-integral, inf where not allowed); the message names
    the option: "Invalid maxiter: 'a' (options['maxiter'] must be an integer >= 0, inf or
    None)"."""
    for name, (kind, low, none_ok, inf_ok) in NUMERIC_OPTIONS.items():
        v = o[name]
        if v is None and none_ok:
            continue
        also = [x for x, ok in (("inf", inf_ok), ("None", none_ok)) if ok]
        what = (f"{'an integer' if kind == 'int' else 'a real number'} >= {low}"
                + "".join(", " + a for a in also[:-1]) + "".join(" or " + a for a in also[-1:]))
        where = "tol" if name == "tol" else f"options[{name!r}]"
        problem = f"Invalid {name}: {v!r} ({where} must be {what})"
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(problem)
        if isinstance(v, numbers.Integral):
            num = int(v)                        # exact, however large
        else:
            num = float(v)
            if kind == "int" and num != math.inf:
                if not num.is_integer():        # (NaN included)
                    raise ValueError(problem)
                num = int(num)
        if not num >= low or (num == math.inf and not inf_ok):
            raise ValueError(problem)
        if kind == "real":
            try:
                num = float(num)
            except OverflowError:               # an int beyond the float range
                num = math.inf
        o[name] = num


def _prepare(method, x0, bounds, options, stacklevel=5):
    """What every loop sets up from minimize's arguments: the optimizer (holding x, inside
    the bounds, loaded from opt_state), the loop options and the limits (maxiter, maxfev,
    max_time).  Shared by _run and fastopt.distributed."""
    method = _method_name(method)
    cls, hyper, o = _split_options(method, dict(options or {}), stacklevel)
    _check_numeric_options(o)
    for name in ("shuffle", "disp", "return_best"):
        o[name] = check_bool(o[name], name)
    if o["tol"] is not None:
        o["gtol"] = o["tol"]
    if o["nan_policy"] not in ("raise", "skip"):
        raise ValueError(f"Invalid nan_policy: {o['nan_policy']!r} (expected 'raise' or 'skip')")
    minibatch = o["batch_size"] is not None
    if minibatch and o["return_best"]:
        raise ValueError("return_best is for full-batch runs (minibatch losses are noisy)")
    maxiter = o["maxiter"] if o["maxiter"] is not None else (math.inf if minibatch else 1000)
    maxfev = o["maxfev"] if o["maxfev"] is not None else math.inf
    max_time = o["max_time"] if o["max_time"] is not None else math.inf
    x = _as_x0(x0)
    box = _as_bounds(bounds, x)
    if box is not None:
        hyper["bounds"] = box
    opt = cls(x, **hyper)
    if box is not None:
        opt.project()                   # start inside the box, as L-BFGS-B does
    if o["opt_state"] is not None:
        opt.load_state_dict(_resumed_state(o["opt_state"], hyper))
    return opt, x, o, (maxiter, maxfev, max_time)


def _resumed_state(sd, hyper):
    """The state dict to resume from, with the learning rate the caller asked for: a
    ``learning_rate`` given in the options wins over the saved one (a saved schedule's
    position is still restored onto a schedule of the same type); without one, the saved
    constant rate is restored, and a saved schedule must be given again."""
    if not isinstance(sd, dict):
        return sd                                   # load_state_dict says what is wrong
    given = hyper.get("learning_rate", hyper.get("lr"))
    kind = sd.get("schedule_kind")
    if given is None:
        if kind is not None:
            raise ValueError(f"'opt_state' was saved with a {kind} learning-rate schedule: "
                             "pass it again as options['learning_rate'] to resume it (its "
                             "position is restored)")
        return sd
    if callable(given) and kind == type(given).__name__:
        return sd
    return {k: v for k, v in sd.items() if k not in ("schedule", "schedule_kind")} | {
        "learning_rate": None}


def _box(opt):
    """The optimizer's bounds as (lo, hi) arrays like x, or None without bounds."""
    lo, hi = opt._bounds[0]
    return (lo, hi) if lo.size else None


def _check_unused(method, hess, hessp, constraints, stacklevel=3):
    """What a first-order method without constraints does with the rest of scipy's
    arguments: None (or no constraints) is fine; hess and hessp get scipy's own warning for
    a method that does not use them, constraints a ValueError."""
    if hess is not None:
        warnings.warn(f"Method {method} does not use Hessian information (hess).",
                      RuntimeWarning, stacklevel=stacklevel)
    if hessp is not None:
        warnings.warn(f"Method {method} does not use Hessian-vector product information "
                      "(hessp).", RuntimeWarning, stacklevel=stacklevel)
    if not (constraints is None or (isinstance(constraints, (list, tuple)) and not constraints)):
        raise ValueError(f"fastopt.{method} handles bounds only, not constraints "
                         f"(got {constraints!r})")


def _run(fun, x0, args, method, jac, bounds, callback, options):
    """The one loop behind minimize() and the scipy custom-method callables."""
    if not isinstance(args, tuple):
        args = (args,)
    opt, x, o, limits = _prepare(method, x0, bounds, options)
    objective = _Objective(fun, jac, o["eps"], opt.l1_strength(0) if opt.uses_l1 else None,
                           _box(opt))
    cb = _wrap_callback(callback)
    loop = _Loop(opt, objective, x, args, cb, o, *limits)
    if o["batch_size"] is not None:
        res = loop.minibatch(int(o["batch_size"]), int(o["epochs"]), bool(o["shuffle"]),
                             o["seed"])
    else:
        res = loop.full_batch()
    return _add_sparsity(res, opt)


def _add_sparsity(res, opt):
    if opt.uses_l1 or opt.pruning is not None:
        res.nnz = opt.nnz()
        res.sparsity = opt.sparsity()
    return res


class _Checkpoint:
    """The run as it stood at its last good point (the last x whose f and gradient were
    finite): x, f, g, the iteration count, the optimizer's state arrays and counters, its
    masks and its schedule's state, and the loop's own position (``where``, minibatches).

    An abnormal stop (``Status`` 3, 6, 7, 8) returns this point, so that ``x``, ``fun``,
    ``nit`` and ``opt_state`` describe one point and resuming from them repeats the run.
    ``save`` copies into buffers allocated once, into the spare of two slots, and makes it
    the current one last: a KeyboardInterrupt in the middle of a save leaves the previous
    checkpoint whole."""

    def __init__(self, opt, x):
        self.opt = opt
        arrays = [a for st in opt.state for a in st.values()]
        self.pruning = opt.pruning is not None
        self.schedule = (opt.learning_rate
                         if getattr(opt.learning_rate, "update", None) is not None else None)
        self.current, self.spare = (_Slot(x, arrays) for _ in range(2))
        self.save(x, math.nan, np.full_like(x, np.nan), 0)

    def save(self, x, f, g, nit, where=None):
        """x (with f and g at it) is good: remember the run as it stands."""
        slot, opt = self.spare, self.opt
        slot.x[...] = x
        for buf, a in slot.pairs:
            buf[...] = a
        slot.point = (f, g, nit, where)
        slot.counters = (opt.step_count, opt.skipped_steps, opt._carry)
        if self.pruning:
            slot.masks = list(opt.masks)
        if self.schedule is not None:
            slot.schedule = self.schedule.state_dict()
        self.spare, self.current = self.current, slot

    def restore(self, x):
        """Put x back to the checkpoint's point (the optimizer is left as it is)."""
        x[...] = self.current.x

    def rewind(self, x):
        """Put x and the optimizer back to the checkpoint: its state arrays, counters,
        masks and schedule state; returns (f, g, nit, where) there."""
        slot, opt = self.current, self.opt
        x[...] = slot.x
        sd = opt.state_dict()
        arrays = iter(buf for buf, _ in slot.pairs)
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
    """One of a checkpoint's two copies of the run: buffers for x and the optimizer's state
    arrays (``pairs``: buffer, array), and what ``_Checkpoint.save`` records."""

    def __init__(self, x, arrays):
        self.x = x.copy()
        self.pairs = [(np.empty_like(a), a) for a in arrays]
        self.point = self.counters = self.masks = self.schedule = None


class _Loop:
    def __init__(self, opt, objective, x, args, cb, o, maxiter, maxfev, max_time):
        self.opt, self.objective, self.x, self.args, self.cb = opt, objective, x, args, cb
        self.o, self.maxiter, self.maxfev, self.max_time = o, maxiter, maxfev, max_time
        self.checkpoint = _Checkpoint(opt, x)
        self.nit = 0
        self.skips = 0
        self.start = time.perf_counter()
        self.disp = bool(o["disp"])
        self.disp_every = o["disp_every"]
        self.calm = 0                  # consecutive ftol checks that held
        self.best = None               # (f, x, g) of the best point, with return_best
        self.return_best = bool(o["return_best"])
        self.plateau = getattr(opt.learning_rate, "update", None)
        self.monitor = o["monitor"]
        self.monitor_every = int(o["monitor_every"])
        if self.monitor is not None and not callable(self.monitor):
            raise TypeError("'monitor' must be a callable monitor(x) -> float")
        if self.monitor is not None and self.plateau is None:
            raise ValueError("'monitor' feeds a performance schedule: give "
                             "learning_rate=fastopt.ReduceLROnPlateau(...) with it")
        if self.monitor_every < 1:
            raise ValueError(f"Invalid monitor_every: {o['monitor_every']}")
        self.sparse = opt.uses_l1 or opt.pruning is not None
        # what gtol's stationarity measure depends on beyond g (see _stationarity)
        self.lam = opt.l1_strength(0) if opt.uses_l1 else None
        self.box = _box(opt)
        self.constrained = self.sparse or self.box is not None

    # ---------------------------------------------------------------- helpers
    def limits(self):
        if self.nit >= self.maxiter:
            raise _Stop(1)
        if self.objective.nfev >= self.maxfev:
            raise _Stop(2)
        if self.max_time != math.inf and time.perf_counter() - self.start >= self.max_time:
            raise _Stop(5)

    def ftol_check(self, f_old, f_new):
        ftol = self.o["ftol"]
        if ftol is None or not math.isfinite(f_old):
            return False
        rel = (f_old - f_new) / max(abs(f_old), abs(f_new), 1.0)
        self.calm = self.calm + 1 if rel <= ftol else 0
        return self.calm >= int(self.o["patience"])

    def report(self, f, g, gmax=None):
        if self.cb is not None:
            lr = self.opt.learning_rate_at(max(self.opt.step_count - 1, 0))
            res = OptimizeResult(x=self.x.copy(), fun=f, jac=g.copy(), nit=self.nit,
                                 learning_rate=lr)
            try:
                self.cb(res)
            except StopIteration:
                raise _Stop(99) from None
        if self.disp and self.nit % self.disp_every == 0:
            nnz = f"  nnz {self.opt.nnz()}" if self.sparse else ""
            gmax = _gmax(g) if gmax is None else gmax
            print(f"iter {self.nit:7d}  f {f: .8e}  |g|inf {gmax:.3e}  "
                  f"lr {self.opt.learning_rate_now:.3e}{nnz}  "
                  f"{time.perf_counter() - self.start:7.2f}s")

    def gmax(self, g):
        """The gradient's size for gtol and the finiteness test: max |g_i|, or with l1,
        pruning or bounds the size of the gradient projected onto what they allow (the
        smooth gradient of a sparse or bounded solution need not vanish)."""
        if not self.constrained:
            return _gmax(g)
        return _stationarity(self.x, g, self.lam, self.opt.masks[0], self.box)

    def end_epoch(self, epoch, loss, last_loss):
        """Close epoch number ``epoch`` (from 1) with its mean loss (NaN if no minibatch
        counted): it feeds ReduceLROnPlateau, then the ftol test against the last epoch's
        may stop the run."""
        self.feed_plateau(epoch, loss)
        if self.ftol_check(last_loss, loss):
            raise _Stop(0, FTOL_MET)

    def feed_plateau(self, count, loss):
        """Every monitor_every iterations/epochs, tell ReduceLROnPlateau the monitored value
        (``monitor(x)`` when given, else the loss)."""
        if self.plateau is not None and count % self.monitor_every == 0:
            self.plateau(_scalar(self.monitor(self.x.copy())) if self.monitor else loss)

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
        if self.o["nan_policy"] == "skip" and self.nit > 0:
            self.skips += 1
            if self.skips > int(self.o["max_skips"]):
                raise _Stop(7)
            self.checkpoint.restore(self.x)
            return
        raise _Stop(3)

    def result(self, status, f, g, message=None, **extra):
        success = status == 0
        if self.disp:
            nnz = (f", nnz {self.opt.nnz()} (sparsity {self.opt.sparsity():.1%})"
                   if self.sparse else "")
            print(f"{message or STATUS[status]}  iterations {self.nit}, f {f:.8e}, "
                  f"evaluations {self.objective.nfev}{nnz}, "
                  f"{time.perf_counter() - self.start:.2f}s")
        return OptimizeResult(x=self.x, fun=f, jac=g, nit=self.nit, nfev=self.objective.nfev,
                              njev=self.objective.njev, status=status, success=success,
                              message=str(message or STATUS[status]),
                              opt_state=self.opt.state_dict(), **extra)

    # ---------------------------------------------------------------- full batch
    def evaluator(self):
        """A function ``() -> (f, g, gmax)`` at the current x: ``f, g = objective(x, args)``
        and ``gmax = self.gmax(g)``, the same values and errors.  In the common case (a
        plain _Objective, jac=True or a callable jac, no l1, pruning or bounds) it is one
        closure doing the work of _Objective.smooth and the gradient test inline: the
        full-batch loop's per-iteration path (bench/minimize.py)."""
        obj, x, args = self.objective, self.x, self.args
        cls = type(obj)
        if (cls.smooth is not _Objective.smooth or cls.__call__ is not _Objective.__call__
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
        n, ndarray, dtype, max_abs = x.size, np.ndarray, x.dtype, _kernels.max_abs
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
                    fx = _scalar(fx)
                if type(g) is ndarray and g.dtype is dtype and g.size == n:
                    try:
                        return fx, g, max_abs(g)
                    except TypeError:
                        pass
                g = grad(g, x)
                return fx, g, _gmax(g)
        else:
            def evaluate():
                fx = fun(copy())
                obj.nfev += 1
                if type(fx) is not float:
                    fx = _scalar(fx)
                obj.njev += 1
                g = jac(copy())
                if type(g) is ndarray and g.dtype is dtype and g.size == n:
                    try:
                        return fx, g, max_abs(g)
                    except TypeError:
                        pass
                g = grad(g, x)
                return fx, g, _gmax(g)
        return evaluate

    def full_batch(self):
        x = self.x
        message = None
        # The per-iteration path (bench/minimize.py measures what it adds to fun's cost):
        # the optional parts (callbacks, disp, ftol, plateau, return_best, maxfev, max_time)
        # tested once, not every iteration; limits(), step() and accept() inlined; nit kept
        # in a local, written back to self before anything that reads it (report,
        # bad_point) and when the loop ends.
        gtol, ftol = self.o["gtol"], self.o["ftol"]
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
        nit = self.nit
        try:
            f, g, gmax = evaluate()
            if not (finite(f) and finite(gmax)):
                raise _Stop(3)
            self.accept(f, g)
            while True:
                if gmax <= gtol:
                    raise _Stop(0)
                # self.limits(), inlined
                if nit >= maxiter:
                    raise _Stop(1)
                if count_fev and objective.nfev >= maxfev:
                    raise _Stop(2)
                if timed and clock() - start >= max_time:
                    raise _Stop(5)
                # self.step(g), inlined; g is checked (evaluate: 1-D, C-contiguous,
                # x's dtype and size; or converted by _grad)
                opt_step((g,))
                nit += 1
                f_old, g_old = f, g
                f, g, gmax = evaluate()
                if not (finite(f) and finite(gmax)):
                    self.nit = nit
                    self.bad_point()        # raises, or x is back at the last good point
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
                        raise _Stop(0, FTOL_MET)
                    if plateau:
                        self.feed_plateau(nit, f)
                # self.accept(f, g), inlined; after the plateau schedule has been told f,
                # as a run resumed from here starts after that
                save(x, f, g, nit)
        except _Stop as stop:
            status, message = stop.status, stop.message
        except KeyboardInterrupt:
            status = 6
        self.nit = nit
        if status in ABNORMAL:
            f, g, _ = self.rewind()
        if self.best is not None and self.best[0] < f:
            f, best_x, g = self.best
            np.copyto(x, best_x)
        return self.result(status, f, g, message)

    # ---------------------------------------------------------------- minibatches
    def minibatch(self, batch_size, epochs, shuffle, seed, batches=None):
        """Epochs of minibatch steps.  ``batches(epoch, first, stream)`` yields (batch, rows)
        for the steps of an epoch from step ``first`` on, ``batch`` being what the
        objective is called with, and ``batches.state()`` is the stream to pass to resume
        an epoch (see _Slices, the default: slices of the rows of ``args``;
        fastopt.distributed passes batches that its objective evaluates on the workers).

        The result's opt_state carries the loop's position (``"loop"``: the epoch, its next
        batch, the stream at its start and its running sums): a run given it back, with
        the same batch_size on the same rows, continues where this one stopped."""
        if batch_size < 1:
            raise ValueError(f"Invalid batch_size: {batch_size}")
        if epochs < 1:
            raise ValueError(f"Invalid epochs: {epochs}")
        x = self.x
        if batches is None:
            batches = _Slices(self.args, batch_size, shuffle, seed, self.o["drop_last"])
        same = dict(batch_size=batch_size, shuffle=bool(shuffle),
                    drop_last=bool(self.o["drop_last"]), nrows=batches.n)
        saved = self.o["opt_state"]
        resume = saved.get("loop") if isinstance(saved, dict) else None
        if not (isinstance(resume, dict) and all(resume.get(k) == v for k, v in same.items())):
            resume = None
        status, message = None, None
        epoch, epoch_loss = (0, math.nan) if resume is None else (resume["epoch"],
                                                                  resume["epoch_loss"])
        g = np.full_like(x, np.nan)
        nepochs = 0
        where = None        # (epoch, its next batch, its stream, sums so far, last epoch loss)
        try:
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
                    if not _finite(f, _gmax(g)):
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
            status, message = 0, EPOCHS_DONE
        except _Stop as stop:
            status, message = stop.status, stop.message
        except KeyboardInterrupt:
            status = 6
        if status in ABNORMAL:
            _, g, where = self.rewind()
        if where is None:           # at the start of the next epoch
            where = (epoch, 0, batches.state(), 0.0, 0, epoch_loss)
        res = self.result(status, epoch_loss, g, message, nepochs=nepochs)
        res.opt_state["loop"] = dict(zip(("epoch", "batch", "stream", "total", "rows",
                                          "epoch_loss"), where), **same)
        return res


def minimize(fun, x0, args=(), method=None, jac=None, hess=None, hessp=None, bounds=None,
             constraints=(), tol=None, callback=None, options=None):
    """Minimize a scalar function with a first-order method, like scipy.optimize.minimize
    (and with its signature).

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``, or ``-> (float, gradient)`` with ``jac=True``.
    x0 : array_like, 1-D
        Starting point.  Integers become float64; float32 stays float32 throughout.
    args : tuple
        Extra arguments to ``fun``.  With ``batch_size``, every array among them (NumPy,
        scipy.sparse CSR, pandas Series or DataFrame) is sliced along axis 0 into
        minibatches, by position (pandas: ``.iloc``, whatever the index).
    method : str, callable or None
        One of sgd, momentum, nesterov, adagrad, rmsprop, adam, amsgrad, adamax, nadam (any
        case), or the matching callable (``fastopt.nadam``), as scipy.optimize.minimize
        takes it.  None (the default): "adam", the usual first choice.
    jac : bool, callable, None, '2-point', '3-point' or 'cs'
        How the gradient is obtained: ``True`` (fun returns (f, gradient)), a callable
        ``jac(x, *args)``, or finite differences as scipy takes them (None, the default:
        '2-point').  '2-point' takes forward differences, '3-point' central ones, 'cs' the
        complex step Im f(x + ih) / h (fun must accept complex x).  The step is the option
        ``eps`` (absolute), else scipy's relative step (sqrt of the machine epsilon, cube
        root for '3-point', times max(1, |x|)).  With bounds, fun is only called inside
        the box: near a bound the difference is one-sided into the box (for '3-point' the
        one-sided second-order formula), as scipy does; a coordinate fixed by its bounds
        gets gradient 0.  Each finite-difference gradient counts one in njev and its calls
        of fun (x itself included) in nfev, as scipy counts them.
    hess, hessp : None
        Not used (first-order methods): anything but None gets scipy's RuntimeWarning
        ("Method adam does not use Hessian information (hess).") and is ignored.
    bounds : scipy.optimize.Bounds or sequence of (min, max)
        Box constraints, enforced by projection inside the update kernel.
    constraints : () or None
        fastopt handles bounds only: other constraints are a ValueError.
    tol : float
        Sets ``gtol``.
    callback : callable
        ``callback(xk)`` or ``callback(intermediate_result)``; raise StopIteration to stop.
        ``intermediate_result`` has x (after the update), fun, jac, nit and the
        learning_rate that update used; fun and jac are taken at x in full batch, and are
        the minibatch's, at the point before the update, with minibatches.
    options : dict
        Every hyperparameter of the method's optimizer (``learning_rate``, ``beta_1``, ...,
        ``convention``, ``weight_decay``, ``l1``, ``pruning``, ``clipnorm``,
        ``num_threads``) and the loop options: maxiter, maxfev, gtol, ftol, patience,
        max_time, batch_size, epochs, shuffle, drop_last, seed, disp, disp_every,
        return_best, opt_state, nan_policy, max_skips, eps, monitor, monitor_every.
        Minibatches: each epoch a permutation of the rows (``shuffle``, ``seed``) cut into
        n // batch_size batches of batch_size rows; the n % batch_size rows left over join
        the last batch (every row once per epoch), or with ``drop_last=True`` are left out
        of that epoch, as torch's DataLoader does.
        ``learning_rate`` may be a schedule (``fastopt.schedules``); a ReduceLROnPlateau is
        fed the loss (full batch: every ``monitor_every`` iterations; minibatches: the
        epoch-mean loss every ``monitor_every`` epochs) or ``monitor(x)`` when given, e.g. a
        validation loss.  ``fastopt.show_options(method)`` lists them.

        The numeric loop options are checked before the run (TypeError for a non-number,
        bool included; ValueError for NaN or a value out of range; the message names the
        option).  Integers: ``maxiter``, ``maxfev`` (>= 0; None: the default; inf: no
        limit), ``patience``, ``epochs``, ``disp_every``, ``monitor_every`` (>= 1),
        ``batch_size`` (>= 1 or None), ``max_skips`` (>= 0); an integral float such as
        ``1e4`` is taken as that integer (scipy's loops accept a float ``maxiter`` too), a
        fractional one is an error.  Reals: ``gtol`` (>= 0), ``ftol``, ``max_time`` and
        ``tol`` (>= 0 or None; inf allowed).  ``maxiter=0`` evaluates fun at x0 only and
        returns it with status 1 (status 0 if x0 already meets gtol); ``maxfev=0`` likewise
        with status 2; ``max_time=0`` with status 5.  The flags ``shuffle``, ``disp`` and
        ``return_best`` take True or False (NumPy's too), anything else is a TypeError.

    Returns
    -------
    scipy.optimize.OptimizeResult
        x, fun, jac, nit, nfev, njev, status, success, message, opt_state (pass it back as
        ``options={"opt_state": ...}`` with ``x0=res.x`` to resume exactly), nepochs with
        minibatches, nnz and sparsity with l1 or pruning.  With ``l1``, fun (here, in
        callbacks and for ftol) is the whole objective, fun's value plus the l1 penalty;
        jac is the gradient of fun's part.

    Status: 0 success, 1 maxiter, 2 maxfev, 3 NaN result (x is the last point whose f and
    gradient were finite), 5 max_time, 6 KeyboardInterrupt (last good point), 7 max_skips,
    99 callback raised StopIteration.  fun returning None is a TypeError, as in scipy.

    Examples
    --------
    >>> from scipy.optimize import rosen, rosen_der
    >>> res = fastopt.minimize(rosen, [-1.2, 1.0], method="nadam", jac=rosen_der,
    ...                        options={"learning_rate": 0.01, "maxiter": 20000})
    >>> res.x.round(2)
    array([1., 1.])
    """
    _check_unused(_method_name(method), hess, hessp, constraints)
    options = dict(options or {})
    if tol is not None:
        options.setdefault("tol", tol)
    return _run(fun, x0, args, method, jac, bounds, callback, options)


def _custom_method(name):
    def method(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
               constraints=(), callback=None, **options):
        _check_unused(name, hess, hessp, constraints)
        return _run(fun, x0, args, name, jac, bounds, callback, options)

    cls, fixed = METHODS[name]
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"""The {name!r} method for scipy.optimize.minimize.

    ``scipy.optimize.minimize(..., method=fastopt.{name})`` runs {cls.__name__} with
    {fixed or 'its defaults'} in the loop behind fastopt.minimize.

    Parameters
    ----------
    fun, x0, args, jac, bounds, callback
        As scipy.optimize.minimize passes them (see fastopt.minimize).
    hess, hessp
        Not used (first-order method): anything but None gets scipy's RuntimeWarning.
    constraints
        Must be empty or None: only bounds are supported.
    **options
        fastopt.minimize's options (``fastopt.show_options("{name}")`` lists them).

    Returns
    -------
    scipy.optimize.OptimizeResult
        As fastopt.minimize returns it.

    Examples
    --------
    >>> import scipy.optimize as so
    >>> res = so.minimize(so.rosen, [-1.2, 1.0], method=fastopt.{name}, jac=so.rosen_der,
    ...                   options={{"maxiter": 10, "learning_rate": 1e-4}})
    >>> res.nit
    10
    """
    return method


_CALLABLES = {name: _custom_method(name) for name in METHODS}
sgd, momentum, nesterov, adagrad, rmsprop, adam, amsgrad, adamax, nadam = _CALLABLES.values()


def show_options(method=None, disp=True):
    """Print (or return) the options of a method, or of all methods.

    Parameters
    ----------
    method : str, optional
        A method name (case-insensitive); all methods when omitted.
    disp : bool
        Print the text (and return None), or return it.

    Returns
    -------
    str or None
        The text, when ``disp=False``.

    Examples
    --------
    >>> text = fastopt.show_options("adam", disp=False)
    >>> text.splitlines()[0]
    'adam: Adam'
    """
    methods = list(METHODS) if method is None else [_method_name(method)]
    lines = []
    for m in methods:
        cls, fixed = METHODS[m]
        lines.append(f"{m}: {cls.__name__}{' with ' + str(fixed) if fixed else ''}")
        for conv in ("torch", "keras"):
            d = cls.defaults[conv]
            lines.append(f"  {conv} defaults: " + ", ".join(f"{k}={v!r}" for k, v in d.items()))
        names = sorted(_hyper_names(cls) | set(COMMON_OPTIONS))
        lines.append("  optimizer options: " + ", ".join(names))
        lines.append("  loop options: " + ", ".join(f"{k}={v!r}" for k, v in LOOP_OPTIONS.items()))
    text = "\n".join(lines)
    if disp:
        print(text)
        return None
    return text
