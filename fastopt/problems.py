"""Built-in test problems for comparing optimizers (``fastopt compare``).

A problem is a :class:`Problem`: an objective that returns ``(f, gradient)``, a default
start, and the optimum (known exactly, or an oracle value from a long, certified run), plus
what the comparison needs to judge a run: a tolerance for "converged", a budget, and, for
minibatch problems, the data arrays that ``fastopt.minimize`` slices into batches.

>>> from fastopt.problems import get_problem
>>> p = get_problem("bowl-100")
>>> res = fastopt.minimize(p.fun, p.x0, jac=True, method="adam", **p.minimize_kwargs())

Adding a problem takes a factory and one line in the registry::

    def sphere(name="sphere", dim=5):
        return Problem(name, lambda x: (0.5 * x @ x, x.copy()), x0=np.ones(dim), f_opt=0.0,
                       tol=1e-10, budget=200, description="0.5 ||x||^2")

    register("sphere", sphere, default=False)   # default=True: part of `compare`'s default set

The datasets (breast cancer, digits) ship in ``fastopt/data`` as .npz files (see the README
there) and are read with NumPy only; nothing here needs scikit-learn or a network.
"""

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from collections.abc import Callable

import numpy as np
from scipy.optimize import rosen, rosen_der

from fastopt._loop import BatchPlan

__all__ = ["Problem", "PROBLEMS", "DEFAULT_PROBLEMS", "register", "get_problem",
           "elongated_bowl", "rosenbrock", "logistic_l1", "digits_mlp", "sparse_regression",
           "load_breast_cancer", "load_digits", "logistic_l1_oracle"]

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass
class Problem:
    """One optimization problem.

    Parameters
    ----------
    fun
        ``fun(x, *args) -> (f, gradient)``, the smooth part of the objective; with
        minibatches it is called on row slices of the arrays in ``args``.
    x0
        The default start (float64, 1-D).
    f_opt
        The minimum of :meth:`value` (exact, or an oracle value); None if unknown, in
        which case the gap is the objective itself (a loss that is >= 0).
    kind
        "deterministic" (full batch, ``budget`` = maxiter) or "stochastic" (minibatches
        of ``batch_size`` rows, ``budget`` = epochs).
    tol
        The run counts as converged at the first evaluation with gap <= tol.
    floor
        Deterministic runs stop once gap <= floor (nothing left to measure).
    l1
        The l1 strength passed to fastopt's ``l1`` option (a float, or one value per
        coordinate, e.g. 0 for an unpenalized bias); :meth:`value` includes the penalty.
    fun_value
        Optional ``fun_value(x, *args) -> f`` without the gradient, used by
        :meth:`value` when evaluating on all the data is costly (default: fun's f).
    metric
        Optional ``metric(x) -> float``, higher is better (e.g. test accuracy).
    default
        Part of ``fastopt compare``'s default problem set.
    """

    name: str
    fun: Callable
    x0: np.ndarray
    f_opt: float | None
    args: tuple = ()
    kind: str = "deterministic"
    batch_size: int | None = None
    tol: float = 1e-6
    floor: float = 0.0
    budget: int = 1000
    l1: object = 0.0
    fun_value: Callable | None = None
    metric: Callable | None = None
    metric_name: str | None = None
    description: str = ""
    default: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.x0 = np.ascontiguousarray(self.x0, dtype=np.float64)
        if self.kind not in ("deterministic", "stochastic"):
            raise ValueError(f"kind must be 'deterministic' or 'stochastic', not {self.kind!r}")
        if self.kind == "stochastic" and not self.batch_size:
            raise ValueError(f"stochastic problem {self.name!r} needs a batch_size")

    @property
    def n_rows(self):
        """Rows of the data arrays in ``args`` (minibatch problems); None without data."""
        rows = [a.shape[0] for a in self.args if hasattr(a, "shape") and len(a.shape) >= 1]
        return rows[0] if rows else None

    @property
    def steps_per_epoch(self):
        """Minimize's steps per epoch (1 for full-batch problems)."""
        if self.kind != "stochastic":
            return 1
        return BatchPlan(self.n_rows, self.batch_size, drop_last=False).steps

    def penalty(self, x):
        """The l1 term l1 * ||x||_1 (per-coordinate weights allowed)."""
        if np.all(np.asarray(self.l1) == 0):
            return 0.0
        return float(np.sum(np.asarray(self.l1) * np.abs(x)))

    def value(self, x):
        """The full objective on all the data: fun's value plus the l1 penalty."""
        f = (self.fun_value(x, *self.args) if self.fun_value is not None
             else self.fun(x, *self.args)[0])
        return float(f) + self.penalty(x)

    def gap(self, value):
        """value - f_opt (the value itself when f_opt is unknown)."""
        return value - (self.f_opt if self.f_opt is not None else 0.0)

    def minimize_kwargs(self, **options):
        """``args`` and ``options`` for ``fastopt.minimize``: batch_size/epochs or maxiter
        from the problem's budget, its l1, then ``options`` on top."""
        opts = {}
        if self.kind == "stochastic":
            opts.update(batch_size=self.batch_size, epochs=self.budget)
        else:
            opts.update(maxiter=self.budget, gtol=0.0)
        if not np.all(np.asarray(self.l1) == 0):
            opts["l1"] = self.l1
        opts.update(options)
        return {"args": self.args, "options": opts}


# ---------------------------------------------------------------------------- registry
PROBLEMS = {}          # name -> factory(**overrides) -> Problem


def register(name, factory, default=True, summary=None, **fixed):
    """Add a problem: ``get_problem(name, **kw)`` calls ``factory(name=name, **fixed, **kw)``.

    ``default`` marks it as part of ``compare``'s default set (keep those small: the whole
    default run should take about a minute on two cores).  ``summary``: a one-line
    description for ``compare --list`` of a problem too costly to build just to list it.
    """
    def make(**kw):
        p = factory(name=name, **{**fixed, **kw})
        p.default = default
        return p
    make.__doc__ = factory.__doc__
    make.default = default
    make.summary = summary
    PROBLEMS[name] = make
    return make


def get_problem(name, **kw):
    """Build the registered problem ``name``; keyword arguments override its factory's."""
    try:
        factory = PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}") from None
    return factory(**kw)


def _default_problems():
    return [n for n, make in PROBLEMS.items() if getattr(make, "default", False)]


# ---------------------------------------------------------------------------- data
@cache
def _load(name):
    with np.load(DATA_DIR / name, allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


def load_breast_cancer(standardize=True):
    """Wisconsin diagnostic breast cancer: X (569, 30) float64, y (569,) uint8 (1 = benign).

    ``standardize``: zero mean, unit variance per feature (over all 569 rows).
    """
    d = _load("breast_cancer.npz")
    X, y = d["X"].copy(), d["y"].copy()
    if standardize:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, y


def load_digits():
    """8x8 handwritten digits: X (1797, 64) uint8 with values 0..16, y (1797,) uint8."""
    d = _load("digits.npz")
    return d["X"].copy(), d["y"].copy()


# ---------------------------------------------------------------------------- problems
def elongated_bowl(name="bowl", dim=10, cond=100.0, x0=None, tol=None, budget=None):
    """The book's elongated bowl: f(x) = 0.5 * sum_i c_i x_i^2 with c_i log-spaced from 1 to
    ``cond`` (the condition number); minimum 0 at x = 0.  Default start: x_i = +-(1 + i/(dim-1))
    (2-D: (-4, 1), the corner used in the trajectory figures)."""
    c = np.logspace(0.0, np.log10(cond), dim)

    def fun(x):
        cx = c * x
        return 0.5 * float(x @ cx), cx

    if x0 is None:     # magnitudes 1..2 with alternating signs: no single step size lands
        x0 = (-1.0) ** np.arange(dim) * np.linspace(1.0, 2.0, dim)    # on 0 in one step
        if dim == 2:
            x0 = np.array([-4.0, 1.0])
    return Problem(name, fun, x0=x0, f_opt=0.0, tol=tol or 1e-6, floor=1e-14,
                   budget=budget or 20000,
                   description=f"{dim}-D quadratic 0.5*sum c_i x_i^2, condition number {cond:g}",
                   extra={"c": c})


def _rosen(x):
    return float(rosen(x)), rosen_der(x)


def rosenbrock(name="rosen", dim=2, tol=1e-6, budget=None):
    """Rosenbrock's banana function (scipy.optimize.rosen) in ``dim`` dimensions from
    (-1.2, 1, -1.2, 1, ...); minimum 0 at all ones."""
    x0 = np.resize([-1.2, 1.0], dim)
    return Problem(name, _rosen, x0=x0, f_opt=0.0, tol=tol, floor=1e-14,
                   budget=budget or 20000,
                   description=f"{dim}-D Rosenbrock from (-1.2, 1, ...)")


def _logistic(x, X, y):
    """Mean log-loss of a logistic model with weights x[:-1] and bias x[-1], and gradient."""
    z = X @ x[:-1] + x[-1]
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    r = (0.5 * (1.0 + np.tanh(0.5 * z)) - y) / len(y)         # sigmoid(z) - y, stably
    return loss, np.append(X.T @ r, r.sum())


# The oracle of logistic_l1 at the default lam, from logistic_l1_oracle() (FISTA, 2000
# iterations, KKT residual 1.4e-9, 9 of 30 weights nonzero); tests/test_problems.py
# recomputes it and checks the optimality conditions.
_LOGREG_F_OPT = {0.01: 0.15930738045800164}


def logistic_l1_oracle(lam=0.01, iters=2000):
    """Minimize mean log-loss + lam * ||w||_1 (bias unpenalized) on the standardized breast
    cancer data by FISTA with restarts (Beck & Teboulle 2009; O'Donoghue & Candes 2015),
    step 1/L with L = ||[X 1]||_2^2 / (4n).  Returns (x, f)."""
    X, y = load_breast_cancer()
    y = y.astype(np.float64)
    lam_w = np.append(np.full(X.shape[1], lam), 0.0)
    L = np.linalg.norm(np.column_stack([X, np.ones(len(y))]), 2) ** 2 / (4 * len(y))
    step = 1.0 / L
    x = np.zeros(X.shape[1] + 1)
    z, t, f_prev = x.copy(), 1.0, np.inf
    for _ in range(iters):
        _, g = _logistic(z, X, y)
        u = z - step * g
        x_new = np.sign(u) * np.maximum(np.abs(u) - step * lam_w, 0.0)
        f = _logistic(x_new, X, y)[0] + float(lam_w @ np.abs(x_new))
        if f > f_prev:                                   # restart the momentum
            t, z = 1.0, x.copy()
            continue
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        z = x_new + ((t - 1.0) / t_new) * (x_new - x)
        x, t, f_prev = x_new, t_new, f
    return x, _logistic(x, X, y)[0] + float(lam_w @ np.abs(x))


def logistic_l1(name="logreg-l1", lam=0.01, batch_size=32, tol=1e-3, budget=100):
    """l1-regularized logistic regression on the Wisconsin breast-cancer data (569 x 30,
    standardized): mean log-loss + lam * ||w||_1, bias unpenalized, minibatches of
    ``batch_size`` rows; the l1 term goes through fastopt's ``l1`` option (proximal step,
    exact zeros).  f_opt is the FISTA oracle value.  Start: zeros."""
    X, y = load_breast_cancer()
    l1 = np.append(np.full(X.shape[1], lam), 0.0)
    f_opt = _LOGREG_F_OPT.get(lam)
    if f_opt is None:
        f_opt = logistic_l1_oracle(lam)[1]
    return Problem(name, _logistic, x0=np.zeros(X.shape[1] + 1), f_opt=f_opt,
                   args=(X, y.astype(np.float64)), kind="stochastic", batch_size=batch_size,
                   tol=tol, budget=budget, l1=l1,
                   description=f"l1 logistic regression, breast cancer 569x30, lam={lam:g}")


class MLP:
    """A one-hidden-layer softmax network, parameters flattened into one vector x:
    x = [W1 (n_in x n_hidden, row-major), b1, W2 (n_hidden x n_out), b2].

    loss = mean cross-entropy of softmax(tanh(X W1 + b1) W2 + b2); the gradient is the
    hand-written backward pass.
    """

    def __init__(self, n_in, n_hidden, n_out):
        self.shapes = [(n_in, n_hidden), (n_hidden,), (n_hidden, n_out), (n_out,)]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.size = sum(self.sizes)

    def unpack(self, x):
        parts, i = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            parts.append(x[i:i + size].reshape(shape))
            i += size
        return parts

    def init(self, seed=0):
        """LeCun-normal weights (variance 1/fan_in), zero biases."""
        rng = np.random.default_rng(seed)
        (n_in, n_hidden), _, (_, n_out), _ = self.shapes
        return np.concatenate([rng.standard_normal(n_in * n_hidden) / np.sqrt(n_in),
                               np.zeros(n_hidden),
                               rng.standard_normal(n_hidden * n_out) / np.sqrt(n_hidden),
                               np.zeros(n_out)])

    def logits(self, x, X):
        W1, b1, W2, b2 = self.unpack(x)
        return np.tanh(X @ W1 + b1) @ W2 + b2

    def loss(self, x, X, y):
        """The mean cross-entropy alone (no backward pass)."""
        z = self.logits(x, X)
        zmax = z.max(axis=1)
        return float(np.mean(zmax + np.log(np.exp(z - zmax[:, None]).sum(axis=1))
                             - z[np.arange(len(y)), y]))

    def loss_grad(self, x, X, y):
        W1, b1, W2, b2 = self.unpack(x)
        h = np.tanh(X @ W1 + b1)
        z = h @ W2 + b2
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        n = len(y)
        rows = np.arange(n)
        loss = -float(logp[rows, y].mean())
        dz = np.exp(logp)                  # softmax - onehot, averaged over the batch
        dz[rows, y] -= 1.0
        dz /= n
        dh = (dz @ W2.T) * (1.0 - h * h)   # tanh' = 1 - tanh^2
        return loss, np.concatenate([(X.T @ dh).ravel(), dh.sum(axis=0),
                                     (h.T @ dz).ravel(), dz.sum(axis=0)])

    def accuracy(self, x, X, y):
        return float(np.mean(self.logits(x, X).argmax(axis=1) == y))


def digits_mlp(name="digits-mlp", hidden=32, batch_size=32, tol=0.05, budget=20,
               test_fraction=0.25, seed=0):
    """A softmax network with one hidden layer of ``hidden`` tanh units on the 8x8 digits
    (1797 x 64, pixels / 16), a fixed random train/test split (75/25, ``seed``), minibatches;
    the objective is the training cross-entropy (f_opt unknown: the gap is the loss itself),
    the metric is test accuracy.  Start: LeCun-normal weights from ``seed``."""
    X, y = load_digits()
    X = X.astype(np.float64) / 16.0
    y = y.astype(np.intp)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    net = MLP(X.shape[1], hidden, 10)
    Xte, yte = X[test], y[test]
    return Problem(name, net.loss_grad, x0=net.init(seed), f_opt=None,
                   args=(X[train], y[train]), kind="stochastic", batch_size=batch_size,
                   tol=tol, budget=budget, fun_value=net.loss,
                   metric=lambda x: net.accuracy(x, Xte, yte), metric_name="test accuracy",
                   description=f"64-{hidden}-10 tanh softmax net, digits {len(train)} train / "
                               f"{n_test} test",
                   extra={"net": net, "test": (Xte, yte)})


def _least_squares(x, X, y):
    r = X @ x - y
    return 0.5 * float(r @ r) / len(y), X.T @ r / len(y)


def sparse_regression(name="sparse-regression", n_features=100_000, n_samples=None,
                      nnz_per_row=10, scale=1.0, batch_size=1000, tol=1e-3, budget=10, seed=0):
    """Large synthetic least squares for multicore runs: 0.5 * mean((X x - y)^2) with a
    random CSR design X (``nnz_per_row`` entries per row in uniform columns, N(0, d/k) with
    d = n_features, k = nnz_per_row, so that the Hessian X^T X / n has a unit diagonal on
    average), y = X w* for a fixed w* ~ N(0, 1/d) (y has unit variance), so the minimum is
    exactly 0 at w*.  Sizes are multiplied by ``scale`` (n_samples defaults to
    2 * n_features).  Start: zeros."""
    from scipy import sparse

    d = max(1, int(round(n_features * scale)))
    n = max(1, int(round((n_samples or 2 * n_features) * scale)))
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, d, size=(n, nnz_per_row))
    vals = rng.standard_normal((n, nnz_per_row)) * np.sqrt(d / nnz_per_row)
    X = sparse.csr_matrix((vals.ravel(), cols.ravel(),
                           np.arange(0, n * nnz_per_row + 1, nnz_per_row)), shape=(n, d))
    X.sum_duplicates()
    w_star = rng.standard_normal(d) / np.sqrt(d)
    y = X @ w_star
    return Problem(name, _least_squares, x0=np.zeros(d), f_opt=0.0, args=(X, y),
                   kind="stochastic", batch_size=batch_size, tol=tol, budget=budget,
                   description=f"sparse least squares, CSR {n} x {d}, {X.nnz} nonzeros",
                   extra={"w_star": w_star})


register("bowl-100", elongated_bowl, cond=100.0, budget=5000)
register("bowl-1e4", elongated_bowl, cond=1e4)
register("rosen-2", rosenbrock, dim=2)
register("rosen-100", rosenbrock, dim=100, budget=10000)
register("logreg-l1", logistic_l1)
register("digits-mlp", digits_mlp)
register("bowl-2d", elongated_bowl, default=False, dim=2, cond=10.0)
register("sparse-regression", sparse_regression, default=False,
         summary="sparse least squares, CSR 200000 x 100000 times --scale, 10 nonzeros a row")

DEFAULT_PROBLEMS = _default_problems()
