"""The learning-rate finder: the exponential learning-rate sweep (Smith, "Cyclical Learning
Rates for Training Neural Networks", 2017) through ``fastopt.minimize``.

``find_learning_rate`` runs the sweep of fastopt/_sweep.py (an ``ExponentialDecay`` that
grows the rate from ``lr_min`` to ``lr_max``, the loss after each update recorded through
minimize's callback, a suggested rate); ``plot_lr_finder`` draws its result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fastopt._minimize import minimize
from fastopt._sweep import sweep
from fastopt._validation import check_fraction, check_int, check_range

__all__ = ["find_learning_rate", "plot_lr_finder"]


def find_learning_rate(fun: Callable[..., Any], x0: Any, method: Any = "adam", jac: Any = None,
                       args: tuple[Any, ...] = (), lr_min: float = 1e-7, lr_max: float = 10.0,
                       num_steps: int = 200, options: dict[str, Any] | None = None,
                       smoothing: float = 0.9, diverge_factor: float = 4.0) -> Any:
    """The learning-rate range test: train with a rate growing exponentially from ``lr_min``
    to ``lr_max`` and watch the loss.

    Update k (k = 0 ... num_steps - 1) uses lr_k = lr_min * (lr_max / lr_min)^(k /
    (num_steps - 1)), through ``fastopt.minimize(fun, x0, method, jac=jac, args=args,
    options=...)``; ``losses[k]`` is the loss measured after that update (the full loss, or
    with ``batch_size`` in ``options`` the loss of the next minibatch).  The smoothed loss
    is the bias-corrected exponential average a_k = beta * a_(k-1) + (1 - beta) * loss_k,
    smoothed_k = a_k / (1 - beta^(k+1)), beta = ``smoothing``.  The sweep stops early once
    the smoothed loss is not finite or exceeds ``diverge_factor`` times its minimum m (for
    m < 0: exceeds m + (diverge_factor - 1) * ``|m|``), or once a loss is not finite.

    Suggestion rule: the rate at the minimum of the smoothed loss, divided by 10 (a rate
    safely below the one where the loss turns up; fastai's "minimum/10").  If the smoothed
    loss is still falling at the last rate, the suggestion is lr_max/10 and the message says
    to raise ``lr_max``; if its minimum is at the first rate, lower ``lr_min``.  The
    smoothing delays the curve by about 1/(1 - beta) steps, so keep
    ``num_steps / log10(lr_max / lr_min)`` (steps per decade) well above that.

    Parameters
    ----------
    fun, x0, method, jac, args
        As for ``fastopt.minimize`` (``jac=True``: ``fun`` returns (f, gradient); None, the
        default: finite differences).
    lr_min, lr_max : float
        The sweep's first and last rate, 0 < lr_min < lr_max.
    num_steps : int
        Number of updates (>= 2).
    options : dict
        Further ``minimize`` options (hyperparameters, ``batch_size``, ``shuffle``, ``seed``
        ...); the finder sets learning_rate, maxiter and epochs itself, and gtol to 0
        unless given.
    smoothing : float in [0, 1)
        beta of the exponential average (0: no smoothing).
    diverge_factor : float > 1

    Returns
    -------
    scipy.optimize.OptimizeResult
        learning_rates, losses, smoothed_losses (arrays, one entry per recorded update),
        suggestion (float, NaN if nothing was recorded), stop_reason ("completed",
        "diverged", "non-finite" or "other"), message, nit (updates taken).

    Examples
    --------
    >>> c = np.logspace(0, 2, 10)          # an elongated bowl; SGD diverges for lr > 2/100
    >>> res = find_learning_rate(lambda x: (0.5 * c @ x**2, c * x), np.ones(10), method="sgd",
    ...                          jac=True)
    >>> res.stop_reason, 0.002 < res.suggestion < 0.02
    ('diverged', True)
    """
    lr_min = check_range(lr_min, "lr_min", low_open=True, high_open=True)
    lr_max = check_range(lr_max, "lr_max", low_open=True, high_open=True)
    if lr_max <= lr_min:
        raise ValueError(f"Invalid lr_max value: {lr_max} (must exceed lr_min={lr_min})")
    if not math.isfinite(lr_max / lr_min):
        raise ValueError(f"Invalid lr_max value: {lr_max} (lr_max / lr_min={lr_min} "
                         "overflows)")
    num_steps = check_int(num_steps, "num_steps", 2)
    smoothing = check_fraction(smoothing, "smoothing", high_open=True)
    diverge_factor = check_range(diverge_factor, "diverge_factor", low=1.0, low_open=True,
                                 high_open=True)
    options = dict(options or {})
    clash = {"learning_rate", "lr", "maxiter", "epochs"} & set(options)
    if clash:
        raise ValueError(f"find_learning_rate sets {', '.join(sorted(clash))} itself; remove "
                         "it from 'options'")
    minibatch = options.get("batch_size") is not None
    options.setdefault("gtol", 0.0)

    def run(rates: Any, callback: Any, maxiter: int) -> Any:
        return minimize(fun, x0, args=args, method=method, jac=jac, callback=callback,
                        options={**options, "learning_rate": rates, "maxiter": maxiter,
                                 "epochs": maxiter, "polish": False})

    res = sweep(run, minibatch, lr_min, lr_max, num_steps, smoothing, diverge_factor)
    del res["nfev"], res["njev"]
    return res


def plot_lr_finder(result: Any, ax: Any = None, filename: Any = None) -> Any:
    """Plot a ``find_learning_rate`` result: loss and smoothed loss against the learning
    rate on a log axis, with the suggestion marked; the y-range runs from the lowest loss to
    the first one, so a divergence does not flatten the curve.

    Uses ``matplotlib.figure.Figure`` (no pyplot state) when ``ax`` is None; saves the
    figure to ``filename`` when given.

    Parameters
    ----------
    result : scipy.optimize.OptimizeResult
        What ``find_learning_rate`` returned.
    ax : matplotlib.axes.Axes, optional
        Where to draw; None: a new figure.
    filename : str or path-like, optional
        Save the figure there.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        Without matplotlib (``pip install fastopt[plot]``).

    Examples
    --------
    >>> res = find_learning_rate(lambda x: (0.5 * x @ x, x), np.ones(3), method="sgd",
    ...                          jac=True)
    >>> ax = plot_lr_finder(res, filename="lr_finder.png")  # doctest: +SKIP
    >>> ax.get_xscale()  # doctest: +SKIP
    'log'
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plot_lr_finder needs matplotlib: pip install matplotlib "
                          "(or fastopt[plot])") from err
    if ax is None:
        ax = Figure(figsize=(6.4, 4.0), layout="constrained").add_subplot()
    lrs, losses = result.learning_rates, result.losses
    ax.plot(lrs, losses, color="0.75", label="loss")
    ax.plot(lrs, result.smoothed_losses, color="C0", label="smoothed loss")
    if math.isfinite(result.suggestion):
        ax.axvline(result.suggestion, color="C3", linestyle="--",
                   label=f"suggestion {result.suggestion:.3g}")
    ax.set_xscale("log")
    if len(losses) > 1 and np.min(losses) < losses[0]:
        low, high = float(np.min(losses)), float(losses[0])
        pad = 0.05 * (high - low)
        ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title(f"learning-rate finder ({result.stop_reason})")
    ax.legend()
    if filename is not None:
        ax.figure.savefig(filename)
    return ax
