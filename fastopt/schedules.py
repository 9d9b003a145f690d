"""Learning-rate schedules.

A schedule is a small object called with the number of updates already taken (``step``,
0 at the first update) that returns the learning rate of that update; any optimizer takes
one in place of a constant::

    >>> import numpy as np, fastopt
    >>> w = np.zeros(3)
    >>> opt = fastopt.SGD(w, learning_rate=ExponentialDecay(0.1, decay_steps=100))

The schedules (t = step, eta0 = initial rate):

===================  ==================================================================
PowerDecay           eta0 / (1 + t/s)^c
ExponentialDecay     eta0 * r^(t/s), staircase: eta0 * r^floor(t/s)            (Keras)
PiecewiseConstant    v[0] for t <= b[0], v[i] for b[i-1] < t <= b[i], v[-1] after  (Keras)
CosineDecay          linear warm-up eta0 -> peak over w steps, then
                     peak * ((1 - alpha) * (1 + cos(pi * min(t - w, s) / s)) / 2 + alpha)  (Keras)
OneCycle             torch's OneCycleLR: warm up max/div -> max, anneal down to
                     max/div/final_div (linear or cosine), momentum moving inversely
LinearWarmup         base(t) * (f0 + (1 - f0) * min(t, w) / w)
Sequential           S_i(t - b[i-1]) for b[i-1] <= t < b[i]                  (optax join)
ReduceLROnPlateau    base(t) times factor (down to min_lr) after each plateau of the
                     monitored value (torch's ReduceLROnPlateau)
Constant             eta0
===================  ==================================================================

Every schedule except ReduceLROnPlateau is a pure function of the step, so resuming from a
saved step count gives the same rate.  All of them have ``state_dict()`` and
``load_state_dict(d)`` (an empty dict for the pure ones), ``momentum_at(step)`` (None
except for OneCycle and the schedules that wrap one) and a ``repr`` that rebuilds them.

How an optimizer uses one: at construction, ``bind_default(default_lr)`` if the schedule
has it; before update number ``step``, ``lr = schedule(step)`` and, when
``schedule.momentum_at(step)`` is not None, that value as the step's momentum (SGD,
RMSprop) or beta_1 (Adam, AdaMax, Nadam); after each evaluation of the monitored loss,
``schedule.update(loss)`` if the schedule has ``update`` (ReduceLROnPlateau, which must
therefore be the outermost schedule).
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from fastopt._validation import (check_bool, check_fraction, check_int, check_range,
                                 real_number)

# What a schedule wraps or composes: another schedule (any callable of the step), or, where
# the docstring says so, a constant rate.
ScheduleLike = Callable[[int], float]

__all__ = ["Schedule", "Constant", "PowerDecay", "ExponentialDecay", "PiecewiseConstant",
           "CosineDecay", "OneCycle", "LinearWarmup", "Sequential", "ReduceLROnPlateau"]


# ---------------------------------------------------------------- argument checks
def _check_step(step: Any) -> int:
    """The step as a Python int >= 0 (numpy integers accepted; no overflow for big ints)."""
    if type(step) is int and step >= 0:     # the common case, without the ABC checks
        return step
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"Invalid step: {step!r} (expected an int >= 0, the number of "
                        "updates already taken)")
    n = int(step)
    if n < 0:
        raise ValueError(f"Invalid step: {n} (expected an int >= 0, the number of updates "
                         "already taken)")
    return n


def _rate(value: Any, name: str) -> float:
    """A finite learning rate >= 0."""
    return check_range(value, name, high_open=True)


def _positive(value: Any, name: str) -> float:
    """A finite number > 0."""
    return check_range(value, name, low_open=True, high_open=True)


def _as_schedule(value: ScheduleLike | float, name: str) -> ScheduleLike:
    """A schedule (any callable of the step) or a constant rate."""
    if callable(value):
        return value
    return Constant(_rate(value, name))


def _check_state(state_dict: Any, keys: Sequence[str]) -> None:
    if not isinstance(state_dict, dict):
        raise TypeError(f"'state_dict' must be a dict, got {type(state_dict).__name__}")
    if set(state_dict) != set(keys):
        raise ValueError(f"'state_dict' has keys {sorted(state_dict)}, expected {sorted(keys)}")


def _state_of(schedule: object) -> dict[str, Any]:
    state: dict[str, Any] = getattr(schedule, "state_dict", dict)()
    return state


def _load_state_of(schedule: object, state_dict: dict[str, Any]) -> None:
    load = getattr(schedule, "load_state_dict", None)
    if load is not None:
        load(state_dict)
    else:
        _check_state(state_dict, ())


def _momentum_of(schedule: object, step: int) -> float | None:
    momentum_at = getattr(schedule, "momentum_at", None)
    return None if momentum_at is None else momentum_at(step)


def momentum_cyclers(schedule: object) -> list[object]:
    """The schedules that cycle momentum within ``schedule``: it and every schedule the
    wrappers here hold (LinearWarmup, Sequential, ReduceLROnPlateau), nested or not, whose
    ``momentum_at`` returns a value at their own step 0.  A momentum cycle that starts
    later (``Sequential([0.1, OneCycle(...)], [k])``) is found too."""
    found, todo = [], [schedule]
    while todo:
        s = todo.pop()
        if _momentum_of(s, 0) is not None:
            found.append(s)
        if isinstance(s, Schedule):
            inner = [getattr(s, "schedule", None), getattr(s, "learning_rate", None),
                     *getattr(s, "schedules", ())]
            todo += [t for t in inner if callable(t)]
    return found


def _sequence(value: Any, name: str) -> list[Any]:
    """A sequence argument (list, tuple, range, 1-D array ...) as a list; a number or a
    string is a TypeError naming the argument."""
    if not isinstance(value, (str, bytes)):
        try:
            return list(value)
        except TypeError:
            pass
    raise TypeError(f"Invalid {name}: {value!r} (expected a sequence)")


def _ratio(step: int, steps: float) -> float:
    """step / steps for a step of any size (inf instead of OverflowError)."""
    try:
        return step / steps
    except OverflowError:
        return math.inf


def _pow(base: float, exponent: float) -> float:
    """base ** exponent for base > 0, with inf instead of OverflowError."""
    try:
        return float(base ** exponent)
    except OverflowError:
        return math.inf


# ---------------------------------------------------------------- schedules
class Schedule:
    """Base class: ``schedule(step) -> float``, the rate of update number ``step`` (from 0).

    Subclasses list their constructor arguments in ``_fields`` (for ``repr``) and implement
    ``_value(step)`` for a validated Python int ``step >= 0``.

    >>> class Halving(Schedule):
    ...     def _value(self, step: int) -> float: return 0.5 ** step
    >>> Halving()(3)
    0.125
    """

    _fields: ClassVar[tuple[str, ...]] = ()

    def __call__(self, step: int) -> float:
        return self._value(_check_step(step))

    def _value(self, step: int) -> float:
        raise NotImplementedError

    def momentum_at(self, step: int) -> float | None:
        """The momentum (or Adam's beta_1) for update ``step``; None: leave it alone."""
        _check_step(step)
        return None

    def state_dict(self) -> dict[str, Any]:
        """The schedule's mutable state (empty for pure schedules)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``."""
        _check_state(state_dict, ())

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """A constant rate: eta(t) = eta0.

    Parameters
    ----------
    learning_rate : float
        The rate, finite and >= 0.

    Examples
    --------
    >>> lr = Constant(0.01)
    >>> lr(0), lr(10**10)
    (0.01, 0.01)
    """

    _fields = ("learning_rate",)

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = _rate(learning_rate, "learning_rate")

    def _value(self, step: int) -> float:
        return self.learning_rate


class PowerDecay(Schedule):
    """Power scheduling: eta(t) = eta0 / (1 + t/s)^c.

    The rate halves after s steps when c = 1, then falls ever more slowly.

    Parameters
    ----------
    initial_learning_rate : float
        eta0, finite and >= 0.
    decay_steps : float
        s > 0.
    power : float
        c >= 0 (default 1).

    Examples
    --------
    >>> lr = PowerDecay(0.1, decay_steps=100)
    >>> lr(0), lr(100), lr(300)
    (0.1, 0.05, 0.025)
    """

    _fields = ("initial_learning_rate", "decay_steps", "power")

    def __init__(self, initial_learning_rate: float, decay_steps: float,
                 power: float = 1.0) -> None:
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.power = check_range(power, "power", high_open=True)

    def _value(self, step: int) -> float:
        return self.initial_learning_rate / _pow(1.0 + _ratio(step, self.decay_steps),
                                                 self.power)


class ExponentialDecay(Schedule):
    """Exponential scheduling: eta(t) = eta0 * r^(t/s); with ``staircase``, r^floor(t/s).

    Keras' ExponentialDecay.  ``decay_rate > 1`` grows the rate (as the LR finder does);
    a rate that overflows is inf.

    Parameters
    ----------
    initial_learning_rate : float
        eta0, finite and >= 0.
    decay_steps : float
        s > 0: the rate is multiplied by ``decay_rate`` every s steps.
    decay_rate : float
        r > 0 (default 0.1, the book's exponential scheduling).
    staircase : bool
        Decay in steps (floor(t/s)) instead of continuously.

    Examples
    --------
    >>> lr = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    >>> lr(0), lr(100), lr(200)
    (0.1, 0.05, 0.025)
    """

    _fields = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase")

    def __init__(self, initial_learning_rate: float, decay_steps: float,
                 decay_rate: float = 0.1, staircase: bool = False) -> None:
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.decay_rate = _positive(decay_rate, "decay_rate")
        self.staircase = check_bool(staircase, "staircase")

    def _value(self, step: int) -> float:
        p = _ratio(step, self.decay_steps)
        if self.staircase and math.isfinite(p):
            p = math.floor(p)
        if self.initial_learning_rate == 0.0:
            return 0.0
        return self.initial_learning_rate * _pow(self.decay_rate, p)


class PiecewiseConstant(Schedule):
    """Piecewise constant rates: v[0] while t <= b[0], v[i] while b[i-1] < t <= b[i], v[-1]
    once t > b[-1].  Keras' PiecewiseConstantDecay (the boundary step still gets the earlier
    value).

    Parameters
    ----------
    boundaries : sequence of float
        Finite, strictly increasing steps b.
    values : sequence of float
        The rates v, one more than the boundaries.

    Examples
    --------
    >>> lr = PiecewiseConstant([5, 10], [0.1, 0.01, 0.001])
    >>> lr(5), lr(6), lr(11)
    (0.1, 0.01, 0.001)
    """

    _fields = ("boundaries", "values")

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]) -> None:
        boundaries = [real_number(b, "boundaries") for b in _sequence(boundaries, "boundaries")]
        values = [_rate(v, "values") for v in _sequence(values, "values")]
        if not all(math.isfinite(b) for b in boundaries):
            raise ValueError(f"Invalid boundaries: {boundaries} (must be finite)")
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"Invalid boundaries: {boundaries} (must be strictly increasing)")
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"'values' has {len(values)} entries; it needs one more than "
                             f"'boundaries' ({len(boundaries) + 1})")
        self.boundaries, self.values = boundaries, values

    def _value(self, step: int) -> float:
        return self.values[bisect.bisect_left(self.boundaries, step)]


class CosineDecay(Schedule):
    """Cosine decay with optional linear warm-up (Keras' CosineDecay).

    Without ``warmup_target``: eta(t) = eta0 * d(min(t, s)) with
    d(u) = (1 - alpha) * (1 + cos(pi * u / s)) / 2 + alpha.  With it: eta rises linearly
    from eta0 to the target over ``warmup_steps`` = w steps, eta(t) = eta0 + (target - eta0)
    * t / w, then eta(t) = target * d(min(t - w, s)).  Either way the rate holds at
    alpha * peak after the decay.

    Parameters
    ----------
    initial_learning_rate : float
        eta0: the peak without warm-up, the warm-up's start with it.
    decay_steps : float
        s > 0, the length of the cosine decay.
    alpha : float
        The final rate as a fraction of the peak, in [0, 1].
    warmup_steps : int
        w >= 0 steps of linear warm-up (needs ``warmup_target``).
    warmup_target : float, optional
        The peak rate reached at the end of the warm-up.

    Examples
    --------
    >>> lr = CosineDecay(0.0, decay_steps=100, warmup_steps=10, warmup_target=0.1)
    >>> lr(5), lr(10), lr(60), lr(500)
    (0.05, 0.1, 0.05, 0.0)
    """

    _fields = ("initial_learning_rate", "decay_steps", "alpha", "warmup_steps",
               "warmup_target")

    def __init__(self, initial_learning_rate: float, decay_steps: float, alpha: float = 0.0,
                 warmup_steps: int = 0, warmup_target: float | None = None) -> None:
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.alpha = check_fraction(alpha, "alpha")
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", 0)
        if warmup_target is None and self.warmup_steps:
            raise ValueError("warmup_steps > 0 needs warmup_target, the rate reached at the "
                             "end of the warm-up")
        self.warmup_target = None if warmup_target is None else _rate(warmup_target,
                                                                     "warmup_target")

    def _decay(self, peak: float, t: int) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(t, self.decay_steps) / self.decay_steps))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def _value(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decay(self.initial_learning_rate, step)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decay(self.warmup_target, step - self.warmup_steps)


class OneCycle(Schedule):
    """The 1cycle policy with torch's OneCycleLR semantics, and its momentum cycle.

    With eta_max = ``max_learning_rate``, eta_0 = eta_max / div_factor and
    eta_min = eta_0 / final_div_factor, T = total_steps and p = pct_start, the phases end at
    steps (p*T - 1, T - 1) for two phases, (p*T - 1, 2*p*T - 2, T - 1) for three; within a
    phase from step a to step b the rate goes from u to v as

        linear: u + (v - u) * q        cos: v + (u - v) / 2 * (cos(pi * q) + 1)

    with q = (t - a) / (b - a).  Two phases: eta_0 -> eta_max -> eta_min; three phases:
    eta_0 -> eta_max -> eta_0 -> eta_min.  ``momentum_at(step)`` follows the same phases
    inversely: max_momentum -> base_momentum -> max_momentum (held in the third phase).
    torch raises beyond T steps; this schedule holds the values of step T - 1 for every
    later step.  Phases must be non-empty: p*T > 1, and for three phases 2*p*T - 2 < T - 1.

    Parameters
    ----------
    max_learning_rate : float
        eta_max, the peak rate.
    total_steps : int
        T >= 2, the length of the cycle.
    pct_start : float
        p in (0, 1): the fraction of T spent rising.
    div_factor, final_div_factor : float
        eta_0 = eta_max / div_factor; eta_min = eta_0 / final_div_factor.
    anneal : {"cos", "linear"}
        The interpolation within a phase.
    three_phase : bool
        Come back down to eta_0 before the final annealing (torch's ``three_phase``).
    base_momentum, max_momentum : float
        The momentum (or beta_1) range, in [0, 1), base <= max.  SGD and RMSprop need
        base_momentum > 0 (momentum 0 would leave their momentum buffer undefined).
    cycle_momentum : bool
        Whether ``momentum_at`` cycles the momentum (False: it returns None).

    Examples
    --------
    >>> lr = OneCycle(1.0, total_steps=100, anneal="linear", div_factor=10.0)
    >>> lr(0), lr(29), round(lr.momentum_at(29), 2)
    (0.1, 1.0, 0.85)
    """

    _fields = ("max_learning_rate", "total_steps", "pct_start", "div_factor",
               "final_div_factor", "anneal", "three_phase", "base_momentum", "max_momentum",
               "cycle_momentum")

    def __init__(self, max_learning_rate: float, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, anneal: str = "cos",
                 three_phase: bool = False, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, cycle_momentum: bool = True) -> None:
        self.max_learning_rate = _rate(max_learning_rate, "max_learning_rate")
        self.total_steps = check_int(total_steps, "total_steps", 2)
        self.pct_start = check_fraction(pct_start, "pct_start", low_open=True, high_open=True)
        self.div_factor = _positive(div_factor, "div_factor")
        self.final_div_factor = _positive(final_div_factor, "final_div_factor")
        if anneal not in ("linear", "cos"):
            raise ValueError(f"Invalid anneal: {anneal!r} (expected 'linear' or 'cos')")
        self.anneal = anneal
        self.three_phase = check_bool(three_phase, "three_phase")
        self.base_momentum = check_fraction(base_momentum, "base_momentum", high_open=True)
        self.max_momentum = check_fraction(max_momentum, "max_momentum", high_open=True)
        if self.base_momentum > self.max_momentum:
            raise ValueError(f"Invalid base_momentum value: {base_momentum} (must not exceed "
                             f"max_momentum={max_momentum})")
        self.cycle_momentum = check_bool(cycle_momentum, "cycle_momentum")

        initial = self.max_learning_rate / self.div_factor
        final = initial / self.final_div_factor
        peak, low, high = self.max_learning_rate, self.base_momentum, self.max_momentum
        T, p = self.total_steps, self.pct_start
        self._ends: tuple[float, ...]
        self._rates: tuple[float, ...]
        self._momenta: tuple[float, ...]
        if self.three_phase:
            self._ends = (p * T - 1, 2 * p * T - 2, T - 1)
            self._rates = (initial, peak, initial, final)
            self._momenta = (high, low, high, high)
        else:
            self._ends = (p * T - 1, T - 1)
            self._rates = (initial, peak, final)
            self._momenta = (high, low, high)
        starts = (0.0,) + self._ends[:-1]
        if any(end <= start for start, end in zip(starts, self._ends)):
            raise ValueError(f"pct_start={pct_start} with total_steps={total_steps} gives an "
                             f"empty phase (phase ends {self._ends}); each must be longer than "
                             "one step")

    def _interpolate(self, points: tuple[float, ...], step: int) -> float:
        step = min(step, self.total_steps - 1)
        start = 0.0
        for i, end in enumerate(self._ends):
            if step <= end or i == len(self._ends) - 1:
                break
            start = end
        q = (step - start) / (end - start)
        u, v = points[i], points[i + 1]
        if self.anneal == "cos":
            return v + (u - v) / 2.0 * (math.cos(math.pi * q) + 1)
        return (v - u) * q + u

    def _value(self, step: int) -> float:
        return self._interpolate(self._rates, step)

    def momentum_at(self, step: int) -> float | None:
        """The momentum (SGD, RMSprop) or beta_1 (Adam, AdaMax, Nadam) for update ``step``,
        or None when ``cycle_momentum`` is False."""
        step = _check_step(step)
        return self._interpolate(self._momenta, step) if self.cycle_momentum else None


class LinearWarmup(Schedule):
    """A linear warm-up into any schedule or constant:
    eta(t) = base(t) * (f0 + (1 - f0) * t / w) for t < w, and base(t) from t = w on.

    The base schedule sees the same step (it is scaled, not delayed; to start it after the
    warm-up, use ``Sequential``).  ``momentum_at`` is the base's.

    Parameters
    ----------
    schedule : float or callable
        The base: a constant rate or any schedule.
    warmup_steps : int
        w >= 1.
    start_factor : float
        f0 in [0, 1]: the fraction of the base rate at step 0.

    Examples
    --------
    >>> lr = LinearWarmup(0.1, warmup_steps=10)
    >>> lr(0), lr(5), lr(10)
    (0.0, 0.05, 0.1)
    """

    _fields = ("schedule", "warmup_steps", "start_factor")

    def __init__(self, schedule: ScheduleLike | float, warmup_steps: int,
                 start_factor: float = 0.0) -> None:
        self.schedule = _as_schedule(schedule, "schedule")
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", 1)
        self.start_factor = check_fraction(start_factor, "start_factor")

    def _value(self, step: int) -> float:
        lr = self.schedule(step)
        if step >= self.warmup_steps:
            return lr
        f0 = self.start_factor
        return lr * (f0 + (1.0 - f0) * step / self.warmup_steps)

    def momentum_at(self, step: int) -> float | None:
        return _momentum_of(self.schedule, _check_step(step))

    def state_dict(self) -> dict[str, Any]:
        return {"schedule": _state_of(self.schedule)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _check_state(state_dict, ("schedule",))
        _load_state_of(self.schedule, state_dict["schedule"])


class Sequential(Schedule):
    """Schedules one after another (optax's join_schedules): schedule i runs from step
    b[i-1] (0 for the first) until b[i], and is called with the steps since its start,
    eta(t) = S_i(t - b[i-1]).  Unlike PiecewiseConstant, boundary step b[i] already belongs
    to schedule i + 1.  ``momentum_at`` is the running schedule's.

    Parameters
    ----------
    schedules : sequence of float or callable
        The schedules (or constant rates), in order.
    boundaries : sequence of int
        Strictly increasing steps >= 0, one fewer than the schedules.

    Examples
    --------
    >>> lr = Sequential([LinearWarmup(0.1, 10), ExponentialDecay(0.1, 100, 0.5)], [10])
    >>> lr(5), lr(10), lr(110)
    (0.05, 0.1, 0.05)
    """

    _fields = ("schedules", "boundaries")

    def __init__(self, schedules: Sequence[ScheduleLike | float],
                 boundaries: Sequence[int]) -> None:
        self.schedules = [_as_schedule(s, f"schedules[{i}]")
                          for i, s in enumerate(_sequence(schedules, "schedules"))]
        self.boundaries = [check_int(b, "boundaries", 0)
                           for b in _sequence(boundaries, "boundaries")]
        n, bounds = len(self.schedules), self.boundaries
        if not n:
            raise ValueError("'schedules' is empty: give at least one schedule")
        if len(bounds) != n - 1:
            raise ValueError(f"'boundaries' has {len(bounds)} entries; {n} "
                             f"schedules need {n - 1}")
        if any(b >= c for b, c in zip(bounds, bounds[1:])):
            raise ValueError(f"Invalid boundaries: {bounds} (must be strictly increasing)")

    def _locate(self, step: int) -> tuple[ScheduleLike, int]:
        """(running schedule, steps since its start)."""
        i = bisect.bisect_right(self.boundaries, step)
        return self.schedules[i], step - (self.boundaries[i - 1] if i else 0)

    def _value(self, step: int) -> float:
        schedule, local = self._locate(step)
        return schedule(local)

    def momentum_at(self, step: int) -> float | None:
        return _momentum_of(*self._locate(_check_step(step)))

    def state_dict(self) -> dict[str, Any]:
        return {"schedules": [_state_of(s) for s in self.schedules]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _check_state(state_dict, ("schedules",))
        states = state_dict["schedules"]
        if not isinstance(states, (list, tuple)):
            raise TypeError(f"'state_dict' schedules must be a list, got {type(states).__name__}")
        if len(states) != len(self.schedules):
            raise ValueError(f"'state_dict' holds {len(states)} schedules, this one has "
                             f"{len(self.schedules)}")
        for s, st in zip(self.schedules, states):
            _load_state_of(s, st)


class ReduceLROnPlateau(Schedule):
    """Performance scheduling (torch's ReduceLROnPlateau): lower the rate by ``factor``
    when the monitored value has not improved for more than ``patience`` evaluations.

    ``update(value)`` is told each evaluation:

    - improvement, with best the best value so far (+inf to start in mode "min", -inf in
      mode "max") and d = ``min_delta``: in mode "min", value < best * (1 - d)
      (threshold_mode "rel") or value < best - d ("abs"); in mode "max",
      value > best * (1 + d) ("rel") or value > best + d ("abs");
      a NaN never improves;
    - otherwise the bad-evaluation counter grows; during a cooldown (the ``cooldown``
      evaluations after a reduction) it is held at 0;
    - when the counter exceeds ``patience`` the rate is reduced, the counter reset and the
      cooldown started.

    A reduction takes a rate r to max(r * factor, min_lr), and is not made when that lowers
    r by ``eps`` or less (so the rate stops near eps, and min_lr never raises a rate).  The
    rate of update t is base(t) with the reductions so far applied one after the other,
    where base is ``learning_rate`` (a float or a schedule; None: the optimizer's default,
    set by ``bind_default``): torch's arithmetic, so a constant base gives torch's rates
    exactly.  With a constant base, a reduction that lowers nothing is not counted.

    ``update`` returns True when it reduced the rate.  ``momentum_at`` is the base's.

    Parameters
    ----------
    learning_rate : float or callable, optional
        The base rate or schedule; None: the optimizer's default (``bind_default``).
    mode : {"min", "max"}
        Whether lower ("min", a loss) or higher ("max", an accuracy) values are better.
    factor : float
        The multiplier of each reduction, in (0, 1).
    patience : int
        Evaluations without improvement tolerated before a reduction.
    min_delta : float
        The improvement threshold (torch's ``threshold``), relative or absolute.
    threshold_mode : {"rel", "abs"}
        Whether ``min_delta`` is relative to the best value or absolute.
    cooldown : int
        Evaluations after a reduction during which bad evaluations are not counted.
    min_lr : float or sequence of float
        The floor of a reduction; or one floor per parameter group of the optimizer whose
        groups' rates this schedule scales (a schedule without a base rate of its own, as
        torch's ``min_lr`` list).
    eps : float
        The smallest change of the rate a reduction makes (torch's default 1e-8).

    Examples
    --------
    >>> lr = ReduceLROnPlateau(1.0, factor=0.5, patience=1)
    >>> [lr.update(v) for v in (3.0, 3.0, 3.0)], lr(0)
    ([False, False, True], 0.5)
    >>> accuracy = ReduceLROnPlateau(1.0, mode="max", factor=0.5, patience=0)
    >>> [accuracy.update(v) for v in (0.5, 0.7, 0.6)], accuracy(0)
    ([False, False, True], 0.5)
    """

    _fields = ("learning_rate", "mode", "factor", "patience", "min_delta", "threshold_mode",
               "cooldown", "min_lr", "eps")
    _state_keys: ClassVar[tuple[str, ...]] = ("best", "bad_evaluations", "cooldown_counter",
                                              "num_reductions", "schedule")

    def __init__(self, learning_rate: ScheduleLike | float | None = None, *,
                 mode: str = "min", factor: float = 0.1, patience: int = 10,
                 min_delta: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8) -> None:
        self.learning_rate: ScheduleLike | None = (None if learning_rate is None
                              else _as_schedule(learning_rate, "learning_rate"))
        if mode in ("rel", "abs"):
            raise ValueError(f"Invalid mode: {mode!r} is a threshold mode: pass "
                             f"threshold_mode={mode!r} (mode is 'min' or 'max': whether "
                             "lower or higher values are better)")
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r} (expected 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"Invalid threshold_mode: {threshold_mode!r} (expected 'rel' "
                             "or 'abs')")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = check_fraction(factor, "factor", low_open=True, high_open=True)
        self.patience = check_int(patience, "patience", 0)
        self.min_delta = check_range(min_delta, "min_delta", high_open=True)
        self.cooldown = check_int(cooldown, "cooldown", 0)
        self.min_lr = (tuple(_rate(v, f"min_lr[{i}]") for i, v in enumerate(min_lr))
                       if isinstance(min_lr, (list, tuple)) else _rate(min_lr, "min_lr"))
        if isinstance(self.min_lr, tuple) and not self.min_lr:
            raise ValueError("'min_lr' must be a rate or one rate per parameter group, got []")
        self.eps = check_range(eps, "eps", high_open=True)
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_evaluations = 0
        self.cooldown_counter = 0
        self.num_reductions = 0
        # (base rate, reductions, rate): the last rate computed, for the next step's base
        self._last = (math.nan, 0, 0, math.nan)

    def bind_default(self, learning_rate: ScheduleLike | float) -> None:
        """Use ``learning_rate`` (float or schedule) as the base if none was given."""
        if self.learning_rate is None:
            self.learning_rate = _as_schedule(learning_rate, "learning_rate")

    def _value(self, step: int) -> float:
        if self.learning_rate is None:
            raise RuntimeError("ReduceLROnPlateau has no base learning rate: pass "
                               "learning_rate, or give it to an optimizer (which binds its "
                               "default)")
        return self.scaled(self.learning_rate(step))

    def scaled(self, base: float, group: int = 0) -> float:
        """The rate over the base rate ``base`` after this schedule's reductions, with the
        floor of parameter group ``group`` (how one schedule without a base of its own
        scales each of an optimizer's parameter groups' base rates)."""
        n = self.num_reductions
        if not n:
            return base
        last = self._last
        if last[0] == base and last[1] == n and last[2] == group:
            return last[3]
        rate = self._reduce(base, n, self.floor(group))
        self._last = (base, n, group, rate)
        return rate

    def floor(self, group: int = 0) -> float:
        """``min_lr`` of parameter group ``group`` (the one ``min_lr`` when it is a float)."""
        if not isinstance(self.min_lr, tuple):
            return self.min_lr
        if not 0 <= group < len(self.min_lr):
            raise ValueError(f"ReduceLROnPlateau's min_lr has {len(self.min_lr)} entries, one "
                             f"per parameter group: none for group {group}")
        return self.min_lr[group]

    def _reduce(self, rate: float, n: int, floor: float) -> float:
        """``rate`` after n reductions, one after the other as torch makes them: each takes
        r to max(r * factor, min_lr) unless that lowers r by eps or less (then neither
        that reduction nor any after it changes r)."""
        factor, eps = self.factor, self.eps
        for _ in range(n):
            new = rate * factor
            if new < floor:
                new = floor
            if not rate - new > eps:
                break
            rate = new
        return rate

    def _improves(self, value: float) -> bool:
        d, best = self.min_delta, self.best
        if self.mode == "min":
            return value < (best * (1.0 - d) if self.threshold_mode == "rel" else best - d)
        return value > (best * (1.0 + d) if self.threshold_mode == "rel" else best + d)

    def _can_lower(self) -> bool:
        """Whether one more reduction lowers the rate (always, for a scheduled base)."""
        base = self.learning_rate
        if not isinstance(base, Constant):
            return True
        floor = self.floor()
        rate = self._reduce(base.learning_rate, self.num_reductions, floor)
        return self._reduce(rate, 1, floor) < rate

    def update(self, value: float) -> bool:
        """Record one evaluation of the monitored value; True if the rate was reduced."""
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"update() needs a real number, got {value!r}") from None
        if self._improves(value):
            self.best = value
            self.bad_evaluations = 0
        else:
            self.bad_evaluations += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.bad_evaluations = 0
        if self.bad_evaluations <= self.patience:
            return False
        self.bad_evaluations = 0
        self.cooldown_counter = self.cooldown
        if not self._can_lower():
            return False
        self.num_reductions += 1
        return True

    def momentum_at(self, step: int) -> float | None:
        return _momentum_of(self.learning_rate, _check_step(step))

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_evaluations": self.bad_evaluations,
                "cooldown_counter": self.cooldown_counter,
                "num_reductions": self.num_reductions,
                "schedule": {} if self.learning_rate is None else _state_of(self.learning_rate)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        sd = state_dict
        _check_state(sd, self._state_keys)
        best = real_number(sd["best"], "best")
        if math.isnan(best):
            raise ValueError("Invalid best value: nan")
        counters = [check_int(sd[k], k, 0)
                    for k in ("bad_evaluations", "cooldown_counter", "num_reductions")]
        if self.learning_rate is not None:
            _load_state_of(self.learning_rate, sd["schedule"])
        self.best = best
        self.bad_evaluations, self.cooldown_counter, self.num_reductions = counters
