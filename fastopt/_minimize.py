"""minimize(): the scipy-shaped front end, and the scipy custom-method adapters.

The method table (METHODS), the loop options (LOOP_OPTIONS, each declared once with its
default, its check and its doc), and ``prepare``, which turns minimize's arguments into an
optimizer holding x and the checked options.  ``_run`` hands them to the loop engine
(fastopt/_loop.py) for ``fastopt.minimize(fun, x0, method="nadam", ...)`` and
``scipy.optimize.minimize(fun, x0, method=fastopt.nadam, ...)`` alike; the Dask front end
(fastopt/distributed.py) uses ``prepare`` and the engine too.
"""

import inspect
import math
import numbers
import warnings
from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import Bounds, OptimizeWarning

from fastopt._loop import Loop, Objective, Status, box_of, wrap_callback
from fastopt._settings import PER_ARRAY
from fastopt._sweep import sweep
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

class Option(NamedTuple):
    """A loop option, declared once: its default, what values it takes (checked by
    check_loop_options) and what it does (show_options prints it).

    kind: "int" (Python and NumPy integers, and integral floats: 1e4 is 10000, as scipy's
    own loops take a float maxiter; never bool, NaN or a fractional float), "real" (any
    real number, never bool or NaN), "bool" (True or False), "choice" (one of
    ``choices``), or "any" (checked where it is used).  Numbers are >= ``low``; None and
    inf (no limit) only where allowed."""

    default: Any
    kind: str
    doc: str
    low: float = 0
    none_ok: bool = False
    inf_ok: bool = False
    choices: tuple[str, ...] = ()


LOOP_OPTIONS = {
    "maxiter": Option(None, "int", "iterations; None: 1000 in full batch, no limit with "
                      "minibatches (epochs bind)", 0, none_ok=True, inf_ok=True),
    "maxfev": Option(None, "int", "evaluations of fun", 0, none_ok=True, inf_ok=True),
    "gtol": Option(1e-5, "real", "stop when max |g_i| <= gtol (full batch; with l1, "
                   "pruning or bounds, of the projected gradient)", 0, inf_ok=True),
    "ftol": Option(None, "real", "stop when the relative decrease of f (minibatches: of "
                   "the epoch-mean loss) is <= ftol", 0, none_ok=True, inf_ok=True),
    "patience": Option(1, "int", "consecutive ftol tests that must hold", 1),
    "max_time": Option(None, "real", "seconds", 0, none_ok=True, inf_ok=True),
    "batch_size": Option(None, "int", "rows of args per minibatch (None: full batch)", 1,
                         none_ok=True),
    "epochs": Option(10, "int", "passes over the rows, with batch_size", 1),
    "shuffle": Option(True, "bool", "a new permutation of the rows each epoch"),
    "drop_last": Option(False, "bool", "leave the rows left over out of each epoch (False: "
                        "they join its last batch)"),
    "seed": Option(None, "any", "the shuffling's seed (default_rng's)"),
    "disp": Option(False, "bool", "print progress"),
    "disp_every": Option(100, "int", "iterations between progress lines", 1),
    "return_best": Option(False, "bool", "return the best point seen (full batch)"),
    "opt_state": Option(None, "any", "a result's opt_state, to resume from it"),
    "nan_policy": Option("raise", "choice", "a non-finite f or gradient stops the run "
                         "('raise', status 3) or is skipped ('skip')",
                         choices=("raise", "skip")),
    "max_skips": Option(10, "int", "skipped points before the run stops (status 7)", 0),
    "tol": Option(None, "real", "sets gtol (minimize's tol)", 0, none_ok=True, inf_ok=True),
    "eps": Option(None, "any", "absolute finite-difference step (jac=None, '2-point', "
                  "'3-point', 'cs')"),
    "monitor": Option(None, "any", "callable(x) -> float told to ReduceLROnPlateau "
                      "(default: the loss)"),
    "monitor_every": Option(1, "int", "iterations (full batch) or epochs between "
                            "ReduceLROnPlateau's evaluations", 1),
    "polish": Option(True, "bool", "minibatches with l1: after the epochs, full-batch "
                     "proximal-gradient steps until gtol's l1 test holds (ignored "
                     "otherwise)"),
}

# learning_rate="auto" (minimize's default): the sweep from x0 (see _search_rate)
AUTO = "auto"
AUTO_SWEEP = {"lr_min": 1e-6, "lr_max": 10.0, "num_steps": 100, "diverge_factor": 4.0}
AUTO_SMOOTHING = 0.9            # minibatch losses only (full-batch ones are not noisy)
# the divergence rate's divisor for momentum methods, the largest rate a run with it may try,
# and the run's restarts at half the rate after a divergence (see _search_rate)
AUTO_MOMENTUM_DIVISOR = 4.0
AUTO_NADAM_MAX = 0.3
AUTO_RESTARTS = 4
# the options a sweep leaves out: it sets its own rate and limits, runs quietly, from x0
NOT_IN_SWEEP = {"learning_rate", "lr", "maxiter", "maxfev", "max_time", "gtol", "tol", "ftol",
                "patience", "epochs", "disp", "return_best", "opt_state", "nan_policy",
                "max_skips", "monitor", "monitor_every", "polish"}


def _hyper_names(cls):
    params = inspect.signature(cls.__init__).parameters
    return {n for n, p in params.items()
            if n not in ("self", "params", "common") and p.kind != p.VAR_KEYWORD}


def _split_options(method, options, stacklevel=4):
    cls, fixed = METHODS[method]
    names = _hyper_names(cls) | set(COMMON_OPTIONS)
    hyper = dict(fixed)
    loop = {k: opt.default for k, opt in LOOP_OPTIONS.items()}
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
    if isinstance(x0, (list, tuple)) and any(isinstance(v, dict) for v in x0):
        raise TypeError("'x0' is a list of dicts: parameter groups are for the optimizer "
                        "classes (fastopt.Adam([{'params': ...}, ...])); minimize optimizes "
                        "one flat x0")
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


def _as_eps(eps, x):
    """options['eps'], the absolute finite-difference step, as float64: one number, or one
    per coordinate of x; finite and > 0."""
    what = ("options['eps'] must be a finite number > 0, or an array of them with x0's "
            f"shape {x.shape}")
    e = np.asarray(eps)
    if e.dtype.kind not in "iuf":
        raise TypeError(f"Invalid eps: {eps!r} ({what})")
    e = e.astype(np.float64)
    if e.ndim and e.shape != x.shape:
        raise ValueError(f"Invalid eps: an array of shape {e.shape} ({what})")
    if not np.all(np.isfinite(e) & (e > 0)):
        raise ValueError(f"Invalid eps: {eps!r} ({what})")
    return e


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


def method_name(method):
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


def check_loop_options(o):
    """Validate (and normalize) the loop options in ``o`` in place, as LOOP_OPTIONS declares
    them.  TypeError for a value of the wrong type (str, bool where a number is due, None
    where not allowed), ValueError for one out of range (NaN, negative, non-integral, inf
    where not allowed, an unknown choice); the message names the option: "Invalid maxiter:
    'a' (options['maxiter'] must be an integer >= 0, inf or None)"."""
    for name, opt in LOOP_OPTIONS.items():
        v = o[name]
        if opt.kind == "bool":
            o[name] = check_bool(v, name)
        elif opt.kind == "choice" and v not in opt.choices:
            raise ValueError(f"Invalid {name}: {v!r} (expected "
                             f"{' or '.join(map(repr, opt.choices))})")
        elif opt.kind in ("int", "real") and not (v is None and opt.none_ok):
            o[name] = _number(name, v, opt)


def _number(name, v, opt):
    """An "int" or "real" option's value, checked (see Option)."""
    also = [x for x, ok in (("inf", opt.inf_ok), ("None", opt.none_ok)) if ok]
    what = (f"{'an integer' if opt.kind == 'int' else 'a real number'} >= {opt.low}"
            + "".join(", " + a for a in also[:-1]) + "".join(" or " + a for a in also[-1:]))
    where = "tol" if name == "tol" else f"options[{name!r}]"
    problem = f"Invalid {name}: {v!r} ({where} must be {what})"
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(problem)
    if isinstance(v, numbers.Integral):
        num = int(v)                        # exact, however large
    else:
        num = float(v)
        if opt.kind == "int" and num != math.inf:
            if not num.is_integer():        # (NaN included)
                raise ValueError(problem)
            num = int(num)
    if not num >= opt.low or (num == math.inf and not opt.inf_ok):
        raise ValueError(problem)
    if opt.kind == "real":
        try:
            num = float(num)
        except OverflowError:               # an int beyond the float range
            num = math.inf
    return num


def prepare(method, x0, bounds, options, stacklevel=5):
    """What every loop sets up from minimize's arguments: the optimizer (holding x, inside
    the bounds, loaded from opt_state), the loop options and the limits (maxiter, maxfev,
    max_time).  Shared by _run and fastopt.distributed."""
    method = method_name(method)
    cls, hyper, o = _split_options(method, dict(options or {}), stacklevel)
    for name in PER_ARRAY:
        if name not in ("l1", "bounds") and isinstance(hyper.get(name), (list, tuple)):
            raise ValueError(f"'{name}' is a list, one entry per parameter array: minimize "
                             "optimizes one flat x, give it one value")
    check_loop_options(o)
    if o["tol"] is not None:
        o["gtol"] = o["tol"]
    minibatch = o["batch_size"] is not None
    if minibatch and o["return_best"]:
        raise ValueError("return_best is for full-batch runs (minibatch losses are noisy)")
    maxiter = o["maxiter"] if o["maxiter"] is not None else (math.inf if minibatch else 1000)
    maxfev = o["maxfev"] if o["maxfev"] is not None else math.inf
    max_time = o["max_time"] if o["max_time"] is not None else math.inf
    x = _as_x0(x0)
    if o["eps"] is not None:
        o["eps"] = _as_eps(o["eps"], x)
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


def check_unused(method, hess, hessp, constraints, stacklevel=3):
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
    options, auto = _auto_requested(options)
    opt, x, o, limits = prepare(method, x0, bounds, options)
    search = None
    if auto and min(limits) > 0:            # (a run that takes no step needs no rate)
        search, ceiling = _search_rate(fun, x0, args, method, jac, bounds, options, opt)
        opt.learning_rate = search["learning_rate"]
    while True:
        objective = Objective(fun, jac, o["eps"],
                              opt.l1_strength(0) if opt.uses_l1 else None, box_of(opt))
        loop = Loop(opt, objective, x, args, wrap_callback(callback), o, *limits)
        if o["batch_size"] is not None:
            res = loop.minibatch(o["batch_size"], o["epochs"], o["shuffle"], o["seed"])
        else:
            res = loop.full_batch()
        if search is None or search["restarts"] == AUTO_RESTARTS or res.nit == 0 or not (
                res.status == Status.NAN
                or res.status != Status.INTERRUPTED and not res.fun <= ceiling):
            break
        # the searched rate diverged: again from x0 at half the rate (the abandoned run's
        # cost counts in the search's)
        for k in ("nit", "nfev", "njev"):
            search[k] += int(res[k])
        search["restarts"] += 1
        search["learning_rate"] /= 2.0
        opt, x, o, limits = prepare(method, x0, bounds, options)
        opt.learning_rate = search["learning_rate"]
    if search is not None:
        res.lr_search = search
    return res


def _auto_requested(options):
    """(options without a learning_rate of "auto", whether the run searches its rate): it
    does for learning_rate="auto" and when no rate is given, unless it resumes from an
    opt_state (whose saved rate it keeps).  A string other than "auto" is a ValueError."""
    keys = [k for k in ("learning_rate", "lr") if k in options]
    for k in keys:
        v = options[k]
        if isinstance(v, str) and v != AUTO:
            raise ValueError(f"Invalid {k}: {v!r} (options[{k!r}] must be a number >= 0, a "
                             "schedule or 'auto')")
    if len(keys) > 1:
        return options, False           # the optimizer refuses both
    if keys and not isinstance(options[keys[0]], str):
        return options, False
    options = {k: v for k, v in options.items() if k not in keys}
    return options, options.get("opt_state") is None


def _search_rate(fun, x0, args, method, jac, bounds, options, opt):
    """learning_rate="auto": the rate of a short exponential sweep from x0 with the method
    itself (AUTO_SWEEP: 100 updates from 1e-6 to 10; fastopt._sweep), on minibatches when
    the run has them.  Full batch, the rate at which the loss first rose above 4 times its
    start, / 10 (/ AUTO_MOMENTUM_DIVISOR with momentum: its divergence shows within its
    1/(1 - momentum) memory, close to the stability limit, and its best rate is near half
    that limit), or the minimum's rate / 10 when it never did; minibatches, the rate at the
    minimum of the smoothed loss / 10, as find_learning_rate suggests.  Nadam's rate is at
    most AUTO_NADAM_MAX (above it, it circles the minimum of the sweep's problems without
    reaching it, while the sweep's loss stays low).  The method's default rate if the sweep
    recorded nothing.

    Returns (minimize's ``lr_search``: the rate, the sweep's nit, nfev and njev (not counted
    in the run's), its stop_reason, restarts 0; the ceiling): _run starts again from x0 at
    half the rate, at most AUTO_RESTARTS times, when the run's loss ends above the ceiling
    (4 times the sweep's first loss) or non-finite, and adds the abandoned run's counts to
    the search's."""
    cls = METHODS[method_name(method)][0]
    known = _hyper_names(cls) | set(COMMON_OPTIONS) | set(LOOP_OPTIONS)
    kept = {k: v for k, v in options.items() if k in known and k not in NOT_IN_SWEEP}
    minibatch = kept.get("batch_size") is not None

    def run(rates, callback, maxiter):
        return _run(fun, x0, args, method, jac, bounds, callback,
                    {**kept, "learning_rate": rates, "maxiter": maxiter, "epochs": maxiter,
                     "gtol": 0.0, "polish": False})

    factor = AUTO_SWEEP["diverge_factor"]
    with np.errstate(all="ignore"):         # the sweep ends by overshooting on purpose
        found = sweep(run, minibatch, **AUTO_SWEEP,
                      smoothing=AUTO_SMOOTHING if minibatch else 0.0,
                      reference="minimum" if minibatch else "start")
    lr = found.suggestion
    if not lr > 0:                          # (NaN: nothing recorded)
        lr = cls.defaults[opt.convention]["learning_rate"]
    elif found.stop_reason == "diverged" and not minibatch and opt.hyper.get("momentum"):
        lr = lr * 10.0 / AUTO_MOMENTUM_DIVISOR
    if cls is Nadam:
        lr = min(lr, AUTO_NADAM_MAX)
    start = found.smoothed_losses[0] if len(found.smoothed_losses) else math.inf
    return ({"learning_rate": lr, "nit": found.nit, "nfev": found.nfev, "njev": found.njev,
             "stop_reason": found.stop_reason, "restarts": 0},
            start + (factor - 1.0) * abs(start))


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
        root for '3-point', times ``max(1, |x|)``).  With bounds, fun is only called inside
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
        return_best, opt_state, nan_policy, max_skips, eps, monitor, monitor_every,
        polish.
        Minibatches: each epoch a permutation of the rows (``shuffle``, ``seed``) cut into
        n // batch_size batches of batch_size rows; the n % batch_size rows left over join
        the last batch (every row once per epoch), or with ``drop_last=True`` are left out
        of that epoch, as torch's DataLoader does.
        ``learning_rate``: a number, a schedule, or "auto", the default when no rate (and
        no ``opt_state`` to resume) is given: a short sweep from x0 with the method itself
        (100 updates at rates growing from 1e-6 to 10, on minibatches when the run has
        them, with the run's bounds, l1 and jac) picks the rate, then the run starts from
        x0 (full batch: the rate at which the loss first rose above 4 times its start, /
        10, or the rate at its minimum / 10 if it never did; minibatches: the rate at the
        minimum of the smoothed loss / 10, as ``find_learning_rate`` suggests; with
        momentum, full batch, the divergence rate / 4; Nadam's at most 0.3).  A run whose
        loss ends non-finite or above 4 times the sweep's first loss starts again from x0
        at half the rate (at most 4 times; the callback sees the abandoned runs too).  The
        sweep's cost, and the abandoned runs', is reported apart, in ``res.lr_search``, not
        in nit, nfev or njev, and not bound by maxiter, maxfev or max_time (a run they
        allow no step does not sweep, and keeps the method's default rate); a schedule is
        used as given
        (ReduceLROnPlateau() without a base takes the method's default rate).
        ``polish`` (default True): a minibatch run with ``l1`` that completed its epochs
        (or met ftol or maxiter) ends with full-batch proximal-gradient steps (ISTA with
        backtracking) from its last iterate until gtol's l1 optimality test holds (at most
        1000 steps): the exact support of the full-batch optimum.  Ignored for full-batch
        runs (their gtol test is that test already) and without l1.
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
        jac is the gradient of fun's part.  With learning_rate "auto", ``lr_search``:
        learning_rate (the rate used), nit, nfev and njev (the sweep's and the abandoned
        runs'), stop_reason (the sweep's), restarts (the abandoned runs).
        After a polish, ``polish``: nit (its steps, not in the run's nit), nfev (its
        evaluations, also counted in nfev and njev), success (the l1 test met) and
        stationarity (the measure gtol tests); fun and jac are then the full objective's at
        x.  A full-batch run stopped by maxiter says in its message how far the (projected)
        gradient is from gtol.

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
    check_unused(method_name(method), hess, hessp, constraints)
    options = dict(options or {})
    if tol is not None:
        options.setdefault("tol", tol)
    return _run(fun, x0, args, method, jac, bounds, callback, options)


def _custom_method(name):
    def method(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
               constraints=(), callback=None, **options):
        check_unused(name, hess, hessp, constraints)
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
    methods = list(METHODS) if method is None else [method_name(method)]
    lines = []
    for m in methods:
        cls, fixed = METHODS[m]
        lines.append(f"{m}: {cls.__name__}{' with ' + str(fixed) if fixed else ''}")
        for conv in ("torch", "keras"):
            d = cls.defaults[conv]
            lines.append(f"  {conv} defaults: " + ", ".join(f"{k}={v!r}" for k, v in d.items()))
        names = sorted(_hyper_names(cls) | set(COMMON_OPTIONS))
        lines.append("  optimizer options: " + ", ".join(names))
        lines.append("  loop options:")
        lines += [f"    {k}={o.default!r}: {o.doc}" for k, o in LOOP_OPTIONS.items()]
    text = "\n".join(lines)
    if disp:
        print(text)
        return None
    return text
