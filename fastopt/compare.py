"""``fastopt compare`` (or ``python -m fastopt compare``): the book's optimizer table, measured.

Géron's *Hands-On Machine Learning* (ch. 11, "Optimizer comparison") rates each optimizer's
convergence speed and quality with one to three stars.  This module runs every fastopt
method on the built-in problems (:mod:`fastopt.problems`) and prints the same table from
measurements, next to the book's ratings.

What is measured, per method and problem (stochastic problems: per seed, then the median):

- speed: the number of optimizer steps (and the seconds, excluding the time spent
  evaluating the full objective for the learning curve) until the objective gap
  ``f(x) - f_opt`` first drops to the problem's ``tol``.  Deterministic runs are checked
  after every step, minibatch runs twice per epoch on the whole data set.
- quality: the final gap after the problem's budget (``maxiter`` or ``epochs``), or the
  problem's metric (test accuracy for ``digits-mlp``) when it has one.

Stars (the thresholds are constants below, so the mapping is part of the code):

- speed, per problem: steps to tol relative to the fastest method on that problem;
  ``***`` within SPEED_STARS[0] = 4x, ``**`` within SPEED_STARS[1] = 32x, ``*`` slower or
  never.
- quality, per problem: ``***`` if the final gap <= tol, ``**`` if <= QUALITY_GAP_FACTOR *
  tol (100), ``*`` otherwise; with a metric (higher is better): ``***`` within 1
  percentage point of the best method, ``**`` within 3, ``*`` below.
- the summary row of a method is the mean of its per-problem stars, rounded (x.5 up).

Learning rates: :data:`HYPERPARAMS`, found by experiment (see its comment); ``--tune``
re-runs a small sweep around them, ``--tune wide`` the full sweep that chose them.
"""

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

import fastopt
from fastopt import _minimize
from fastopt.problems import DEFAULT_PROBLEMS, PROBLEMS, get_problem

__all__ = ["main", "run", "compare", "tune", "rate", "format_table", "plot", "HYPERPARAMS",
           "BOOK", "METHODS"]

# Every method of fastopt.minimize, in its method table's order.
METHODS = list(_minimize.METHODS)


def _row(*rates):
    """One row of HYPERPARAMS: learning rates in METHODS order."""
    return dict(zip(METHODS, rates))


# The book's table (3rd edition, ch. 11): method -> (convergence speed, convergence quality).
# AMSGrad is not in it.
BOOK = {
    "sgd": ("*", "***"),
    "momentum": ("**", "***"),
    "nesterov": ("**", "***"),
    "adagrad": ("***", "* (stops too early)"),
    "rmsprop": ("***", "** or ***"),
    "adam": ("***", "** or ***"),
    "amsgrad": ("-", "- (not in the table)"),
    "adamax": ("***", "** or ***"),
    "nadam": ("***", "** or ***"),
}

# Learning rates per problem and method (torch convention, every other hyperparameter at its
# default: momentum 0.9, beta_1 0.9, beta_2 0.999, rho 0.99, ...).
# How they were chosen: `fastopt compare --tune wide --seeds 1` (fastopt 0.1.0,
# 2-core x86-64): for every problem and method, each rate of WIDE_GRID (1e-4 .. 1 in 1-2-5
# steps) on seed 0 with the problem's full budget, keeping the best by `_tune_key`: fewest
# steps to tol among the rates that also ended within tol, else fewest steps to tol, else the
# smallest final gap.  Where the best rate is the grid's edge (1.0), larger rates were not
# tried.  Problems without an entry use the method's library default (DEFAULT_LR).
HYPERPARAMS = {
    #              sgd     momentum nesterov adagrad rmsprop  adam  amsgrad adamax  nadam
    "bowl-100":  _row(1e-2,   1e-2,    1e-2,    1.0,    1.0,    1.0,   1.0,   1.0,   0.5),
    "bowl-1e4":  _row(1e-4,   2e-4,    1e-4,    1.0,    1.0,    1.0,   1.0,   1.0,   0.5),
    "rosen-2":   _row(1e-3,   2e-3,    1e-3,    0.5,    2e-4,   0.5,   0.5,   1.0,   5e-4),
    "rosen-100": _row(1e-3,   1e-3,    5e-4,    1.0,    2e-3,   0.1,   0.5,   1e-2,  1e-2),
    "logreg-l1": _row(0.5,    0.2,     0.2,     0.5,    1e-2,   0.1,   0.1,   0.2,   5e-2),
    "digits-mlp": _row(1.0,   0.2,     0.2,     0.2,    2e-2,   2e-2,  5e-2,  0.1,   5e-2),
    # tuned with --scale 0.2 (40000 x 20000)
    "sparse-regression": _row(5e-2, 2e-3,  2e-3,    1e-2,   2e-4,   5e-4,  5e-4,  5e-3,  5e-4),
}
DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.01, "adam": 1e-3, "amsgrad": 1e-3, "adamax": 2e-3, "nadam": 2e-3}

WIDE_GRID = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0]
SMALL_FACTORS = [0.1, 10 ** -0.5, 1.0, 10 ** 0.5, 10.0]      # --tune: around the table value

SPEED_STARS = (4.0, 32.0)
QUALITY_GAP_FACTOR = 100.0
METRIC_STARS = (0.01, 0.03)
EVALS_PER_EPOCH = 2            # learning-curve points per epoch on minibatch problems
DIVERGED = 1e6                 # a gap above DIVERGED * max(initial gap, 1) stops the run
QUICK_BUDGET = {"deterministic": 1000, "stochastic": 2}
CURVE_POINTS = 200             # points kept per learning curve in --json


def learning_rate(problem, method):
    """The table's learning rate for a problem and method (DEFAULT_LR when absent)."""
    return HYPERPARAMS.get(problem, {}).get(method, DEFAULT_LR[method])


# ---------------------------------------------------------------------------- one run
class _CurveRecorder:
    """The callback: records the learning curve, the first step with gap <= tol, and stops
    deterministic runs that reached the problem's floor or diverged."""

    def __init__(self, problem, record_x=False):
        self.p = problem
        self.every = (max(1, problem.steps_per_epoch // EVALS_PER_EPOCH)
                      if problem.kind == "stochastic" else 1)
        self.steps, self.values, self.xs = [], [], ([] if record_x else None)
        self.eval_time = 0.0
        self.hit_step = self.hit_seconds = None
        self.t0 = time.perf_counter()
        self.limit = math.inf

    def add(self, step, value, x):
        self.steps.append(step)
        self.values.append(value)
        if self.xs is not None:
            self.xs.append(x.copy())
        gap = self.p.gap(value)
        if self.hit_step is None and gap <= self.p.tol:
            self.hit_step = step
            self.hit_seconds = time.perf_counter() - self.t0 - self.eval_time
        return gap

    def start(self, x0):
        t = time.perf_counter()
        gap0 = self.add(0, self.p.value(x0), x0)
        self.limit = DIVERGED * max(gap0, 1.0)
        self.eval_time += time.perf_counter() - t

    def __call__(self, intermediate_result):
        r = intermediate_result
        if self.p.kind == "deterministic":      # r.fun is f at r.x (full batch)
            gap = self.add(r.nit, r.fun, r.x)          # fun includes the l1 penalty
            if gap <= self.p.floor:
                raise StopIteration
        else:                                   # r.fun is a minibatch loss: evaluate
            if r.nit % self.every:
                return
            t = time.perf_counter()
            value = self.p.value(r.x)
            self.eval_time += time.perf_counter() - t
            gap = self.add(r.nit, value, r.x)
        if not gap <= self.limit:                # also NaN
            raise StopIteration


def run(problem, method, seed=0, budget=None, record_x=False, **options):
    """Run ``method`` on ``problem`` (a Problem) once; returns a dict of measurements:
    steps_to_tol, seconds_to_tol (None if never reached), final_value, final_gap, metric,
    nit, seconds (whole run), status, message, curve (steps, values), lr_search when
    minimize searched the rate (no learning_rate given) and, with ``record_x``, the
    iterates.  ``options`` go to fastopt.minimize (learning_rate ...)."""
    p = problem
    kw = p.minimize_kwargs(**options)
    opts = kw["options"]
    if p.kind == "stochastic":
        opts["seed"] = seed
        if budget is not None:
            opts["epochs"] = budget
    elif budget is not None:
        opts["maxiter"] = budget
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rec = _CurveRecorder(p, record_x)
        rec.start(p.x0)
        res = fastopt.minimize(p.fun, p.x0, method=method, jac=True, callback=rec, **kw)
        seconds = time.perf_counter() - rec.t0
        final = p.value(res.x)
        if rec.steps[-1] != res.nit:
            rec.add(res.nit, final, res.x)
        metric = p.metric(res.x) if p.metric is not None else None
    out = {
        "seed": seed if p.kind == "stochastic" else None,
        "steps_to_tol": rec.hit_step,
        "seconds_to_tol": rec.hit_seconds,
        "final_value": final,
        "final_gap": p.gap(final),
        "metric": metric,
        "nit": int(res.nit),
        "seconds": seconds - rec.eval_time,
        "status": int(res.status),
        "message": res.message,
        "curve": {"steps": rec.steps, "values": rec.values},
    }
    if "nnz" in res:
        out["nnz"] = int(res.nnz)
    if "lr_search" in res:
        out["lr_search"] = res.lr_search
    if record_x:
        out["xs"] = np.array(rec.xs)
    return out


def _median(values):
    """Median where None means 'never' (+inf); None if more than half never got there."""
    v = sorted(math.inf if x is None else x for x in values)
    m = v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])
    return None if math.isinf(m) or math.isnan(m) else m


def summarize(runs):
    """Median steps/seconds to tol and final gap over seeds; mean and std of the metric."""
    metrics = [r["metric"] for r in runs if r["metric"] is not None]
    s = {
        "steps_to_tol": _median([r["steps_to_tol"] for r in runs]),
        "seconds_to_tol": _median([r["seconds_to_tol"] for r in runs]),
        "final_gap": _median([r["final_gap"] if math.isfinite(r["final_gap"]) else None
                              for r in runs]),
        "metric": float(np.mean(metrics)) if metrics else None,
        "metric_std": float(np.std(metrics)) if metrics else None,
        "reached": sum(r["steps_to_tol"] is not None for r in runs),
        "runs": len(runs),
    }
    if s["final_gap"] is None:
        s["final_gap"] = math.inf
    return s


def _tune_key(summary, tol):
    """Smaller is better: first the rates that reached tol and ended within it (fewest
    steps first), then those that reached tol but drifted away again (Adam-type methods
    with a large rate on Rosenbrock do), then by the final gap."""
    steps, gap = summary["steps_to_tol"], summary["final_gap"]
    if steps is not None:
        return (0 if gap <= tol else 1, steps, gap)
    return (2, gap, 0)


def tune(problem, method, grid, seeds=(0,), budget=None):
    """Try each learning rate in ``grid``; returns (best_lr, [(lr, summary), ...])."""
    trials = []
    for lr in grid:
        runs = [run(problem, method, seed=s, budget=budget, learning_rate=lr) for s in seeds]
        trials.append((lr, summarize(runs)))
    best = min(trials, key=lambda t: _tune_key(t[1], problem.tol))[0]
    return best, trials


# ---------------------------------------------------------------------------- the table
def _stars(n):
    return "*" * n


def rate(results):
    """Per-problem and summary stars for every method in ``results`` (see the module
    docstring for the thresholds).  Returns {method: {"speed": {problem: n}, "quality":
    {problem: n}, "speed_mean", "quality_mean", "speed_stars", "quality_stars"}}."""
    ratings = {}
    for pname, entry in results["problems"].items():
        methods = entry["methods"]
        steps = {m: r["summary"]["steps_to_tol"] for m, r in methods.items()}
        reached = [s for s in steps.values() if s is not None]
        fastest = max(min(reached), 1) if reached else None
        metrics = {m: r["summary"]["metric"] for m, r in methods.items()}
        best_metric = max((v for v in metrics.values() if v is not None), default=None)
        tol = entry["tol"]
        for m, r in methods.items():
            rm = ratings.setdefault(m, {"speed": {}, "quality": {}})
            s = steps[m]
            if s is None:
                rm["speed"][pname] = 1
            else:
                ratio = max(s, 1) / fastest
                rm["speed"][pname] = 3 if ratio <= SPEED_STARS[0] else (
                    2 if ratio <= SPEED_STARS[1] else 1)
            if best_metric is not None and metrics[m] is not None:
                d = best_metric - metrics[m]
                rm["quality"][pname] = 3 if d <= METRIC_STARS[0] + 1e-12 else (
                    2 if d <= METRIC_STARS[1] + 1e-12 else 1)
            else:
                gap = r["summary"]["final_gap"]
                rm["quality"][pname] = 3 if gap <= tol else (
                    2 if gap <= QUALITY_GAP_FACTOR * tol else 1)
    for rm in ratings.values():
        for k in ("speed", "quality"):
            mean = float(np.mean(list(rm[k].values())))
            rm[k + "_mean"] = mean
            rm[k + "_stars"] = _stars(int(math.floor(mean + 0.5)))
    return ratings


def _fmt(v, fmt):
    """format(v, fmt), or a dash of the same width for None/inf ("never")."""
    if v is None or (isinstance(v, float) and math.isinf(v)):
        return "-".rjust(int(fmt.split(".")[0]))
    return format(v, fmt)


def format_table(results, ratings):
    """The per-problem measurements and the book's table, as text."""
    lines = []
    for pname, entry in results["problems"].items():
        kind = entry["kind"]
        seeds = f", median of {entry['seeds']} seeds" if kind == "stochastic" else ""
        lines.append(f"{pname}: {entry['description']}")
        on = "f - f_opt" if entry["f_opt"] is not None else "f (f_opt unknown: gap = f)"
        lines.append(f"  tol {entry['tol']:g} on {on}, budget {entry['budget']} "
                     f"{'epochs' if kind == 'stochastic' else 'steps'}{seeds}")
        metric = entry.get("metric_name")
        head = (f"  {'method':9s} {'lr':>8s} {'steps':>7s} {'seconds':>8s} {'final gap':>10s}"
                + (f" {metric:>15s}" if metric else "") + "  speed quality")
        lines.append(head)
        for m, r in entry["methods"].items():
            s = r["summary"]
            line = (f"  {m:9s} {r['learning_rate']:8.3g} {_fmt(s['steps_to_tol'], '7.0f')} "
                    f"{_fmt(s['seconds_to_tol'], '8.3f')} {_fmt(s['final_gap'], '10.2e')}")
            if metric:
                line += f" {s['metric']:9.4f}±{s['metric_std']:.3f}"
            line += (f"  {_stars(ratings[m]['speed'][pname]):5s} "
                     f"{_stars(ratings[m]['quality'][pname])}")
            lines.append(line)
        lines.append("")
    lines.append("Optimizer comparison (Geron, Hands-On ML, ch. 11): measured (mean stars over "
                 f"{len(results['problems'])} problems) vs the book")
    lines.append(f"  {'method':9s} {'speed':12s} {'book':6s} {'quality':12s} book")
    for m in results["methods"]:
        rm = ratings[m]
        book_speed, book_quality = BOOK.get(m, ("-", "-"))
        lines.append(f"  {m:9s} {rm['speed_stars']:3s} ({rm['speed_mean']:.2f})  "
                     f"{book_speed:6s} {rm['quality_stars']:3s} ({rm['quality_mean']:.2f})  "
                     f"{book_quality}")
    lines.append("")
    lines.append(f"speed: steps to tol vs the fastest method, *** <= {SPEED_STARS[0]:g}x, "
                 f"** <= {SPEED_STARS[1]:g}x, * slower or never; quality: final gap *** <= "
                 f"tol, ** <= {QUALITY_GAP_FACTOR:g} tol, * above (with a metric: *** within "
                 f"{METRIC_STARS[0] * 100:g} point of the best, ** within "
                 f"{METRIC_STARS[1] * 100:g})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the driver
class _Progress:
    """A progress line on stderr (tqdm when it is installed); silent when disabled."""

    def __init__(self, total, enabled=True):
        self.total, self.done, self.enabled = total, 0, enabled
        self.bar = None
        self.t0 = time.perf_counter()
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, file=sys.stderr, leave=False)
            except ImportError:
                pass

    def update(self, label):
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_description(label)
            self.bar.update(1)
            return
        end = "\r" if sys.stderr.isatty() else "\n"
        sys.stderr.write(f"[{self.done:4d}/{self.total}] {time.perf_counter() - self.t0:6.1f}s "
                         f"{label:40s}{end}")
        sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and sys.stderr.isatty():
            sys.stderr.write(" " * 60 + "\r")


def _decimate(steps, values, n=CURVE_POINTS):
    """At most ~2n points of a curve: n log-spaced and n evenly spaced indices."""
    k = len(steps)
    if k <= 2 * n:
        return list(steps), list(values)
    idx = np.unique(np.concatenate([np.geomspace(1, k, n).astype(int) - 1,
                                    np.linspace(0, k - 1, n).astype(int)]))
    return [steps[i] for i in idx], [values[i] for i in idx]


def compare(problems=None, methods=None, seeds=3, tune_grid=None, quick=False,
            progress=True, problem_kw=None):
    """Run every method on every problem; returns the results dict that --json writes."""
    problems = list(problems or DEFAULT_PROBLEMS)
    methods = list(methods or METHODS)
    built = [get_problem(name, **(problem_kw or {}).get(name, {})) for name in problems]
    n_runs = sum(len(methods) * (seeds if p.kind == "stochastic" else 1) for p in built)
    if tune_grid is not None:
        n_runs += sum(len(methods) * len(tune_grid if tune_grid != "small" else SMALL_FACTORS)
                      for p in built)
    bar = _Progress(n_runs, progress)
    t_start = time.perf_counter()
    out = {"fastopt_version": fastopt.__version__, "methods": methods, "problems": {},
           "seeds": seeds, "quick": quick, "tuned": tune_grid is not None}
    try:
        for p in built:
            budget = QUICK_BUDGET[p.kind] if quick else p.budget
            seed_list = list(range(seeds)) if p.kind == "stochastic" else [None]
            entry = {"description": p.description, "kind": p.kind, "tol": p.tol,
                     "budget": budget, "f_opt": p.f_opt, "seeds": len(seed_list),
                     "metric_name": p.metric_name, "batch_size": p.batch_size,
                     "methods": {}}
            for m in methods:
                lr = learning_rate(p.name, m)
                trials = None
                if tune_grid is not None:
                    grid = (tune_grid if tune_grid != "small"
                            else [float(f"{lr * f:.3g}") for f in SMALL_FACTORS])
                    trials = []
                    for g in grid:
                        s = summarize([run(p, m, seed=0, budget=budget, learning_rate=g)])
                        trials.append((g, s))
                        bar.update(f"tune {p.name} {m} lr={g:g}")
                    lr = min(trials, key=lambda t: _tune_key(t[1], p.tol))[0]
                runs = []
                for s in seed_list:
                    r = run(p, m, seed=s or 0, budget=budget, learning_rate=lr)
                    r["curve"]["steps"], r["curve"]["values"] = _decimate(
                        r["curve"]["steps"], r["curve"]["values"])
                    runs.append(r)
                    bar.update(f"{p.name} {m}" + (f" seed {s}" if s is not None else ""))
                entry["methods"][m] = {
                    "learning_rate": lr, "summary": summarize(runs), "runs": runs,
                    "tuning": None if trials is None else
                    [{"learning_rate": g, **s} for g, s in trials]}
            out["problems"][p.name] = entry
    finally:
        bar.close()
    out["seconds"] = time.perf_counter() - t_start
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else str(v)      # JSON has no inf/NaN
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ---------------------------------------------------------------------------- figures
# learning rates of the trajectory figures on bowl-2d (0.5 x^2 + 5 y^2 from (-4, 1))
TRAJECTORY_LR = {"sgd": 0.05, "momentum": 0.03, "nesterov": 0.03, "adagrad": 0.7}
TRAJECTORY_STEPS = 60


def plot(results, outdir, quick=False):
    """Write the figures (PNG) into ``outdir``; returns the list of files written."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    os.makedirs(outdir, exist_ok=True)
    written = []

    def save(fig, name):
        path = os.path.join(outdir, name)
        fig.savefig(path, dpi=100)
        written.append(path)

    # 1. learning curves per problem
    for pname, entry in results["problems"].items():
        fig = Figure(figsize=(7, 4.5), layout="constrained")
        ax = fig.add_subplot()
        stochastic = entry["kind"] == "stochastic"
        f_opt = entry["f_opt"] or 0.0
        for m, r in entry["methods"].items():
            c = r["runs"][0]["curve"]
            gaps = np.maximum(np.asarray(c["values"], dtype=float) - f_opt, 1e-16)
            x = np.asarray(c["steps"], dtype=float)
            if stochastic:
                x = x / _steps_per_epoch(entry, pname)
            ax.plot(x, gaps, label=f"{m} (lr {r['learning_rate']:g})")
        ax.axhline(entry["tol"], color="k", ls=":", lw=1, label="tol")
        ax.set_yscale("log")
        ax.set_xlabel("epoch" if stochastic else "step")
        ax.set_ylabel("training loss" if entry["f_opt"] is None else "f - f_opt")
        ax.set_title(f"{pname}: {entry['description']}", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
        save(fig, f"curves-{pname}.png")

    # 2. trajectories on the 2-D elongated bowl (the book's figures 11-6 / 11-7 style)
    bowl = get_problem("bowl-2d")
    paths = {m: run(bowl, m, budget=TRAJECTORY_STEPS, record_x=True,
                    learning_rate=lr)["xs"] for m, lr in TRAJECTORY_LR.items()}
    fig = Figure(figsize=(10, 4), layout="constrained")
    c = bowl.extra["c"]
    gx, gy = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-1.5, 1.5, 200))
    zz = 0.5 * (c[0] * gx ** 2 + c[1] * gy ** 2)
    for i, pair in enumerate((("momentum", "nesterov"), ("sgd", "adagrad"))):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.contour(gx, gy, zz, levels=np.geomspace(0.01, 20, 12), colors="0.8",
                   linewidths=0.7)
        for m, style in zip(pair, ("o-", "s-")):
            xs = paths[m]
            label = "gradient descent" if m == "sgd" else m
            ax.plot(xs[:, 0], xs[:, 1], style, ms=2.5, lw=1,
                    label=f"{label} (lr {TRAJECTORY_LR[m]:g})")
        ax.plot([0], [0], "k*", ms=10)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_title(f"{pair[0]} vs {pair[1]}, {TRAJECTORY_STEPS} steps", fontsize=9)
        ax.legend(fontsize=8, loc="lower right")
    save(fig, "trajectories-bowl-2d.png")

    # 3. learning curves for several learning rates (figure 11-8 style)
    lr_problem = get_problem("digits-mlp")
    epochs = 2 if quick else 10
    spe = lr_problem.steps_per_epoch
    curves = {f"lr {lr:g}": lr for lr in (0.01, 0.3, 1.0, 5.0)}
    # high, then divided by 10 for the last quarter: a callable learning rate (a schedule)
    curves["lr 1, then 0.1 for the last quarter"] = (
        lambda step, switch=epochs * spe * 3 // 4: 1.0 if step < switch else 0.1)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for label, lr in curves.items():
        r = run(lr_problem, "sgd", seed=0, budget=epochs, learning_rate=lr)
        ax.plot(np.asarray(r["curve"]["steps"]) / spe, r["curve"]["values"], label=label)
    ax.set_yscale("log")
    ax.set_ylim(top=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title("SGD on digits-mlp: learning curves for several learning rates", fontsize=9)
    ax.legend(fontsize=8)
    save(fig, "learning-rates.png")

    # 4. the learning-rate finder
    p = get_problem("digits-mlp")
    res = fastopt.find_learning_rate(p.fun, p.x0, "sgd", True, p.args, 1e-4, 10.0,
                                     50 if quick else 200, {"batch_size": p.batch_size})
    path = os.path.join(outdir, "lr-finder.png")
    fastopt.plot_lr_finder(res, filename=path)
    written.append(path)
    return written


def _steps_per_epoch(entry, pname):
    return get_problem(pname).steps_per_epoch if entry["kind"] == "stochastic" else 1


# ---------------------------------------------------------------------------- CLI
def _names(kind, valid):
    def parse(text):
        names = [n for n in text.replace(",", " ").split() if n]
        if kind == "problem" and names == ["all"]:
            return list(valid)
        bad = [n for n in names if n not in valid]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {kind}{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
                f"choose from: {', '.join(valid)}" if bad else f"no {kind} given")
        return names
    parse.__name__ = kind
    return parse


def _tune_arg(text):
    if text in ("small", "wide"):
        return text
    raise argparse.ArgumentTypeError("expected 'small' or 'wide'")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastopt", description="fastopt command line: compare optimizers on built-in "
                                    "problems.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    c = sub.add_parser(
        "compare", help="measure the book's optimizer table (speed and quality stars)",
        description="Run every method on the built-in problems and print the book's "
                    "optimizer table (Geron, Hands-On ML, ch. 11) as measured.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    c.add_argument("--problems", type=_names("problem", list(PROBLEMS)), default=None,
                   help="comma-separated problems, or 'all' (default: "
                        f"{','.join(DEFAULT_PROBLEMS)}; also: "
                        f"{','.join(p for p in PROBLEMS if p not in DEFAULT_PROBLEMS)})")
    c.add_argument("--methods", type=_names("method", METHODS), default=None,
                   help=f"comma-separated methods (default: all: {','.join(METHODS)})")
    c.add_argument("--seeds", type=int, default=3,
                   help="seeds (minibatch orders) per stochastic problem")
    c.add_argument("--tune", nargs="?", const="small", default=None, type=_tune_arg,
                   help="sweep the learning rate per method and problem and use the best: "
                        "'small' = 5 rates around the table's, 'wide' = 1e-4..1")
    c.add_argument("--quick", action="store_true",
                   help=f"tiny budgets ({QUICK_BUDGET['deterministic']} steps, "
                        f"{QUICK_BUDGET['stochastic']} epochs) and 1 seed: a smoke test")
    c.add_argument("--scale", type=float, default=1.0,
                   help="size factor for scalable problems (sparse-regression)")
    c.add_argument("--plot", metavar="DIR", default=None,
                   help="write PNG figures into DIR (needs matplotlib)")
    c.add_argument("--json", metavar="FILE", default=None,
                   help="write every measurement (per seed, with learning curves) to FILE")
    c.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    c.add_argument("--list", action="store_true", help="list the problems and exit")
    parser.commands = {"compare": c}
    return parser


def main(argv=None):
    """Entry point of ``python -m fastopt`` and the ``fastopt`` script; returns 0."""
    parser = build_parser()
    args = parser.parse_args(argv)
    parser = parser.commands[args.command]        # errors below print compare's usage
    if args.list:
        for name, make in PROBLEMS.items():
            desc = getattr(make, "summary", None) or get_problem(name).description
            tag = "default" if name in DEFAULT_PROBLEMS else "       "
            print(f"{name:18s} {tag}  {desc}")
        return 0
    if args.seeds < 1:
        parser.error("argument --seeds: must be >= 1")
    if args.scale <= 0:
        parser.error("argument --scale: must be > 0")
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib, which is not installed "
                         "(pip install matplotlib)")
    seeds = 1 if args.quick else args.seeds
    tune_grid = {"small": "small", "wide": WIDE_GRID, None: None}[args.tune]
    problem_kw = {"sparse-regression": {"scale": args.scale}}
    results = compare(args.problems, args.methods, seeds=seeds, tune_grid=tune_grid,
                      quick=args.quick, progress=not args.quiet, problem_kw=problem_kw)
    ratings = rate(results)
    results["ratings"] = ratings
    print(format_table(results, ratings))
    print(f"\n{len(results['methods'])} methods x {len(results['problems'])} problems in "
          f"{results['seconds']:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(_jsonable(results), fh, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        for path in plot(results, args.plot, quick=args.quick):
            print(f"wrote {path}")
    return 0
