"""The exponential learning-rate sweep (Smith, "Cyclical Learning Rates for Training Neural
Networks", 2017) and its suggested rate: the core shared by ``find_learning_rate``
(fastopt/lr_finder.py) and minimize's ``learning_rate="auto"`` (fastopt/_minimize.py).

``sweep(run, ...)`` runs the method once with an ``ExponentialDecay`` growing the rate from
``lr_min`` to ``lr_max``, records the loss after each update through the callback it hands
to ``run`` and returns the curve with its suggestion; ``run(schedule, callback, maxiter)``
is the caller's way to run its method (a minimize call, or minimize's own loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from fastopt.schedules import ExponentialDecay

__all__ = ["sweep", "suggest"]


class SweepRecorder:
    """The callback of the sweep: pairs each loss with the rate of the update before it,
    keeps the bias-corrected exponential average, and stops the run once it diverges:
    above ``diverge_factor`` times its minimum so far (``reference="minimum"``) or its
    first value (``"start"``: a loss that oscillates below where it started, as under
    momentum, is not a divergence)."""

    def __init__(self, minibatch: bool, smoothing: float, diverge_factor: float,
                 reference: str = "minimum") -> None:
        # minimize's callback gets the update's learning_rate and fun: full batch, fun is
        # f(x_k+1) after the update; with minibatches it is the batch loss at x_k before it,
        # so the loss that follows update k arrives with update k + 1
        self.minibatch, self.smoothing, self.diverge_factor = minibatch, smoothing, diverge_factor
        self.reference = reference
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.pending: float | None = None
        self.average = 0.0
        self.best = math.inf
        self.diverged = False

    def __call__(self, intermediate_result: Any) -> None:
        lr, loss = intermediate_result.learning_rate, intermediate_result.fun
        if self.minibatch:
            lr, self.pending = self.pending, lr
            if lr is None:
                return
        beta = self.smoothing
        self.average = beta * self.average + (1.0 - beta) * loss
        smoothed = self.average / (1.0 - beta ** (len(self.losses) + 1))
        self.lrs.append(lr)
        self.losses.append(loss)
        self.smoothed.append(smoothed)
        self.best = min(self.best, smoothed)
        ref = self.best if self.reference == "minimum" else self.smoothed[0]
        if not math.isfinite(smoothed) or smoothed > ref + (self.diverge_factor - 1) * abs(ref):
            self.diverged = True
            raise StopIteration


def suggest(lrs: Any, smoothed: Any) -> float:
    """The rate at the minimum of the smoothed loss, divided by 10 (NaN if nothing was
    recorded)."""
    if not len(smoothed):
        return math.nan
    return float(lrs[int(np.argmin(smoothed))] / 10.0)


def sweep(run: Callable[[Any, Any, int], Any], minibatch: bool, lr_min: float, lr_max: float,
          num_steps: int, smoothing: float, diverge_factor: float,
          reference: str = "minimum") -> Any:
    """Sweep the rate from ``lr_min`` to ``lr_max`` over ``num_steps`` updates through
    ``run(schedule, callback, maxiter)`` (an OptimizeResult) and suggest a rate.

    The suggestion: with ``reference="minimum"``, ``suggest``'s (the smoothed minimum's rate
    / 10); with ``"start"``, the rate at which the loss rose above ``diverge_factor`` times
    its start, / 10, or ``suggest``'s when it never did.  Returns an OptimizeResult:
    learning_rates, losses, smoothed_losses, suggestion, stop_reason ("completed",
    "diverged", "non-finite" or "other"), message, nit (updates taken), nfev and njev."""
    rates = ExponentialDecay(lr_min, decay_steps=num_steps - 1, decay_rate=lr_max / lr_min)
    recorder = SweepRecorder(minibatch, smoothing, diverge_factor, reference)
    # with minibatches, the loss after update k is seen at update k + 1: one more update
    res = run(rates, recorder, num_steps + minibatch)
    lrs, smoothed = np.array(recorder.lrs), np.array(recorder.smoothed)
    suggestion = suggest(lrs, smoothed)
    if recorder.diverged:
        reason = "diverged"
        message = f"The smoothed loss diverged at learning rate {lrs[-1]:.3g}."
        if reference == "start":
            suggestion = float(lrs[-1] / 10.0)
    elif res.status == 3:
        reason = "non-finite"
        message = f"The loss became non-finite after {len(lrs)} recorded updates."
    elif res.status == 1:
        reason, message = "completed", f"Swept up to learning rate {lrs[-1]:.3g}."
        if np.argmin(smoothed) == len(smoothed) - 1:
            message += (" The smoothed loss was still falling: raise lr_max to find where "
                        "it turns up.")
    else:
        reason, message = "other", res.message
    return OptimizeResult(learning_rates=lrs, losses=np.array(recorder.losses),
                          smoothed_losses=smoothed, suggestion=suggestion, stop_reason=reason,
                          message=message, nit=res.nit, nfev=res.nfev, njev=res.njev)
