"""Optimizer objects for hand-written training loops.

Each optimizer updates NumPy arrays in place with one fused compiled kernel call per array
per step::

    >>> import numpy as np, fastopt
    >>> w = np.zeros(3)
    >>> opt = fastopt.Adam(w, learning_rate=0.1)
    >>> opt.step(2 * (w - 1.0))          # gradient of ||w - 1||^2; returns the non-finite count
    0
    >>> w
    array([0.1, 0.1, 0.1])

Two numeric conventions are offered because the reference libraries differ:
``convention="torch"`` (default) is the algorithm as torch.optim implements it and
``convention="keras"`` reproduces Keras 3.  A hyperparameter left as ``None`` takes the
convention's default.  ``weight_decay`` is decoupled (AdamW), ``l2`` is coupled (added to
the gradient, torch's ``weight_decay``), ``l1`` is an exact proximal step.

``Optimizer`` holds the arrays, the counters and the step; the options every rule takes
are its ``Settings`` (fastopt/_settings.py); each rule class adds its hyperparameters.
"""

from __future__ import annotations

import math
import numbers
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import numpy as np

from fastopt import _dispatch
from fastopt import sparsity as _sparsity
from fastopt._settings import (OPTIONS, Settings, box_bounds, check_masks, l1_strengths,
                               option_doc)
from fastopt._validation import (EMPTY, EMPTY_MASK, Array, as_grad, as_param_list,
                                 check_bool, check_grads, check_nonnegative, check_range, flat)
from fastopt.schedules import momentum_cyclers

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "Adamax", "Nadam"]

CONVENTIONS = ("torch", "keras")

# One array, or a list with one array per parameter array.
Arrays = Array | Sequence[Array]
# A constant learning rate, or a schedule: a callable of the step (fastopt.schedules).
LearningRate = float | Callable[[int], float]
# Steps are counted in Python ints and reach the kernel as the 64-bit step number t = step + 1:
# a state dict's step is at most this, so that its next step's number fits.
MAX_STEP = 2**63 - 2


def _is_count(n: Any) -> bool:
    """Whether n is a step count: an int (not a bool) from 0 to MAX_STEP."""
    return (not isinstance(n, (bool, np.bool_)) and isinstance(n, numbers.Integral)
            and 0 <= int(n) <= MAX_STEP)


def _setting(name: str) -> Any:
    """The attribute of option ``name`` (a Settings field): reading it gives the value as
    given to the constructor, setting it checks the value as the constructor does."""
    def get(self: Optimizer) -> Any:
        return getattr(self._settings, name)

    def set(self: Optimizer, value: Any) -> None:
        self._set_option(name, value)
    return property(get, set, doc=option_doc(name) + "\n\nSettable between steps: checked "
                    "as in the constructor (an invalid value raises\nand changes nothing), "
                    "used from the next step on.")


# Docstring entries shared by the classes: a line holding only ``{name}`` is replaced by
# fragment ``name``, at the line's indentation, when the class is created.
_FRAGMENTS = {
    "options": "\n".join(f.metadata["doc"] for f in OPTIONS),
    "params": """\
params : numpy.ndarray or list of numpy.ndarray
    The arrays updated in place: float32 or float64, writable, C-contiguous.
learning_rate : float or callable, optional
    A constant, or a schedule ``f(step) -> float`` (:mod:`fastopt.schedules`); None:
    the convention's default.""",
    "common": "**common\n" + textwrap.fill(
        "The options every optimizer takes ("
        + ", ".join(f"``{name}``" for name in [f.name for f in OPTIONS] + ["convention", "lr"])
        + "): see :class:`Optimizer`.", width=88, initial_indent="    ",
        subsequent_indent="    "),
    "raises": """\
Raises
------
ValueError, TypeError
    For an invalid hyperparameter (torch's wording, e.g. "Invalid learning rate: -1")
    or a parameter array that cannot be updated in place.""",
}
_PLACEHOLDER = re.compile(r"^( *)\{(" + "|".join(_FRAGMENTS) + r")\}$", re.MULTILINE)


def _with_fragments(doc: str | None) -> str | None:
    """``doc`` with its placeholder lines replaced by the shared fragments."""
    if doc is None:
        return None
    return _PLACEHOLDER.sub(lambda m: textwrap.indent(_FRAGMENTS[m[2]], m[1]), doc)


class Optimizer:
    """Base class: owns the parameter arrays, their state and the counters, and takes the
    step (one kernel call; the kernel computes the rule's numbers of the step).

    Subclasses define ``rule`` (the kernel's, which also computes the step's numbers from
    ``hyper``), ``defaults`` (per convention), ``_state_names(h)``, ``_check_hyper(h)``,
    ``state_slots`` (state names in the kernel's order) and ``_slot_flags()``; their
    docstrings take the shared fragments (``{params}``, ``{common}``, ``{raises}`` alone
    on a line).

    Parameters
    ----------
    params : numpy.ndarray or list of numpy.ndarray
        The arrays to update in place: float32 or float64, writable and C-contiguous (any
        other array is a ValueError or TypeError, never a silent copy). Each keeps its dtype.
    learning_rate : float or callable
        A constant, or a callable ``schedule(step) -> float`` called once per step with the
        number of steps already taken (0 at the first update).  ``lr`` is an alias.  A
        schedule with ``momentum_at(step)`` (``OneCycle``) also sets the momentum (SGD,
        RMSprop) or ``beta_1`` (Adam, Adamax, Nadam) of each step; one with ``update(value)``
        (``ReduceLROnPlateau``) is told the monitored loss through ``report(value)``.
    {options}
    convention : {"torch", "keras"}
        Whose formulas and defaults to follow (see the rule's class).
    **hyper
        The rule's hyperparameters (see each subclass); None takes the default.  Every
        hyperparameter is a finite number in its range (torch.optim's checks, and +inf is
        rejected too: it turns finite inputs into NaN); only the clipping thresholds take
        +inf, meaning no clipping.  An unknown name is a TypeError.

    Examples
    --------
    >>> w = [np.zeros(3), np.zeros(2)]                   # weights and biases
    >>> opt = Adam(w, learning_rate=0.1, l1=[1e-3, 0.0], clipnorm=1.0)
    >>> opt.step([np.ones(3), np.ones(2)]), opt.step_count
    (0, 1)

    Every parameter after ``learning_rate`` (which is one too) except ``lr``,
    ``convention`` and the hyperparameters is also an attribute that can be set between
    steps (``set_hyper`` changes hyperparameters); it is checked as here (an invalid value
    raises and changes nothing) and used from the next step on:

    >>> opt.clipnorm = None; opt.global_clipnorm = 1.0

    ``params``, ``state`` (one read-only mapping of state arrays per parameter array) and
    ``masks`` are tuples of the very arrays the kernels update: change their values in
    place (``opt.state[0]["exp_avg"][:] = 0``), or with ``load_state_dict`` and
    ``set_masks``; they cannot be replaced.

    One optimizer takes one step at a time: stepping it from two threads at once raises
    RuntimeError in the second (different optimizers in different threads are fine, and
    their steps run in parallel).  ``step_count`` advances in the call that runs the
    kernels: a step interrupted by KeyboardInterrupt leaves the arrays and the counters
    both before the step or both after it.
    """

    # the kernel's rule name (a key of _dispatch.RULES); hyperparameter defaults per convention
    rule: ClassVar[str] = ""
    defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    # hyperparameters that only shape the state when it is created (see set_hyper)
    state_hyper: ClassVar[tuple[str, ...]] = ()
    # the hyperparameter a momentum-cycling schedule sets
    momentum_name: ClassVar[str | None] = None
    # state array names in the kernel slot's order (s1, s2, s3)
    state_slots: ClassVar[tuple[str, ...]] = ()
    # the state arrays that are >= 0 by construction (second moments, accumulators, norms)
    nonnegative_state: ClassVar[tuple[str, ...]] = ()
    # per parameter array, as the plan binds them: (l1 strength, per-coordinate strengths
    # or empty), (lower, upper) or empty arrays
    _l1: list[tuple[float, Array]]
    _bounds: list[tuple[Array, Array]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__doc__ = _with_fragments(cls.__doc__)

    def __init__(self, params: Arrays, learning_rate: LearningRate | None = None, *,
                 convention: str = "torch", lr: LearningRate | None = None,
                 **hyper: Any) -> None:
        if lr is not None:
            if learning_rate is not None:
                raise TypeError("give either 'learning_rate' or its alias 'lr', not both")
            learning_rate = lr
        if convention not in CONVENTIONS:
            raise ValueError(f"Invalid convention: {convention!r} (expected 'torch' or 'keras')")
        self._params = tuple(as_param_list(params))
        self._progress = _dispatch.Progress()    # step_count, and Nadam's product of momenta
        self._convention = convention
        # the options come as keywords too: those named as a Settings field
        self._settings = Settings(**{f.name: hyper.pop(f.name) for f in OPTIONS
                                     if f.name in hyper})
        l1 = l1_strengths(self._settings.l1, self._params)
        bounds = box_bounds(self._settings.bounds, self._params)
        h = {k: v for k, v in self.defaults[convention].items() if k != "learning_rate"}
        unknown = sorted(set(hyper) - set(h))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{unknown[0]!r} (its hyperparameters: {', '.join(h)})")
        h.update({k: v for k, v in hyper.items() if v is not None})
        self._hyper = self._check_hyper(h)
        self.learning_rate = learning_rate
        self.skipped_steps = 0
        self.last_nonfinite = 0
        self._masks: tuple[Array | None, ...] = (None,) * len(self._params)
        self._state = tuple(MappingProxyType(self._fresh_state(p)) for p in self._params)
        self._build_plan(l1, bounds)

    # ---------------------------------------------------------------- arrays and counters
    @property
    def params(self) -> tuple[Array, ...]:
        """The parameter arrays, updated in place (the caller's own arrays)."""
        return self._params

    @property
    def state(self) -> tuple[Mapping[str, Array], ...]:
        """Per parameter array, its state arrays by name (read-only mappings; the arrays
        can be changed in place, or through ``load_state_dict``)."""
        return self._state

    @property
    def masks(self) -> tuple[Array | None, ...]:
        """Per parameter array, its pruning mask as a flat uint8 array (0 = pruned), or
        None (``set_masks`` and pruning set them)."""
        return self._masks

    @property
    def step_count(self) -> int:
        """Steps taken: the next step is number ``step_count + 1``, at the schedule's
        ``step_count``.  It advances with the arrays, in the kernels' call; it can be set
        (an int from 0 to 2**63 - 2), e.g. to resume a schedule."""
        return self._progress.step

    @step_count.setter
    def step_count(self, value: int) -> None:
        if not _is_count(value):
            raise ValueError(f"Invalid step_count: {value!r} (expected an int >= 0 and "
                             "< 2**63 - 1)")
        self._progress.step = int(value)

    # ---------------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> LearningRate:
        """The learning rate: a float or a schedule (callable of the step)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: LearningRate | None) -> None:
        default = self.defaults[self.convention]["learning_rate"]
        if value is None:
            value = default
        if isinstance(value, type):
            raise TypeError(f"Invalid learning_rate: the class {value.__name__}; pass a float "
                            f"or a schedule (an instance, e.g. {value.__name__}(...))")
        if not callable(value):
            value = check_nonnegative(value, "learning_rate", label="learning rate")
        cycles = False
        if callable(value):
            schedule: Any = value
            if hasattr(schedule, "bind_default"):
                schedule.bind_default(default)  # e.g. ReduceLROnPlateau() scales the default
            cyclers = momentum_cyclers(value)  # OneCycle, also when wrapped
            cycles = bool(cyclers)
            if cycles:
                self._check_momentum_cycling(value, cyclers)
        self._learning_rate: LearningRate = value
        self._cycles_momentum = cycles

    def _check_momentum_cycling(self, schedule: object, cyclers: list[object]) -> None:
        name = self.momentum_name
        if name is None:
            raise ValueError(f"{schedule!r} cycles momentum, but {type(self).__name__} has no "
                             "momentum: pass cycle_momentum=False")
        if name == "momentum" and self._hyper["momentum"] == 0:
            raise ValueError(f"{schedule!r} cycles momentum, but this {type(self).__name__} "
                             "has momentum=0: give it momentum > 0 (e.g. 0.9) or pass "
                             "cycle_momentum=False")
        low = [c for c in cyclers if getattr(c, "base_momentum", None) == 0]
        if name == "momentum" and low:
            raise ValueError(f"{low[0]!r} cycles momentum down to base_momentum=0, but "
                             f"{type(self).__name__}'s momentum buffer needs momentum > 0: "
                             "give it base_momentum > 0 or pass cycle_momentum=False")

    def _cycle_momentum(self, step: int) -> None:
        """Set this step's momentum / beta_1 from the schedule (OneCycle), if it cycles it
        (checked like the hyperparameter itself, before anything changes).  SGD's and
        RMSprop's momentum must stay > 0: their momentum buffer exists, and momentum 0 would
        mean no buffer to a state dict or to the kernel's loop choice."""
        schedule: Any = self._learning_rate
        value = schedule.momentum_at(step)
        name = self.momentum_name
        if value is not None and name is not None:
            beta = name == "beta_1"
            try:
                v = check_range(value, name, high=1.0 if beta else math.inf, low_open=not beta,
                                high_open=True)
            except (TypeError, ValueError):
                raise ValueError(f"the learning-rate schedule {schedule!r} returned {name} "
                                 f"{value!r} at step {step}; expected a finite number "
                                 + (">= 0 and < 1" if beta else "> 0")) from None
            self._hyper[name] = v

    def report(self, value: float) -> bool:
        """Tell a performance schedule (``ReduceLROnPlateau``) the monitored value, e.g. a
        validation loss once per epoch; returns True when it lowered the learning rate."""
        update = getattr(self._learning_rate, "update", None)
        if update is None:
            raise TypeError(f"the learning rate {self._learning_rate!r} does not monitor a "
                            "value; report() is for ReduceLROnPlateau")
        return bool(update(value))

    def learning_rate_at(self, step: int) -> float:
        """The learning rate used by update number ``step`` (counting from 0)."""
        lr = self._learning_rate
        if not callable(lr):
            return lr
        value = lr(step)
        try:
            return check_nonnegative(value, "learning_rate", label="learning rate")
        except (TypeError, ValueError):
            raise ValueError(f"the learning-rate schedule {lr!r} returned {value!r} at step "
                             f"{step}; expected a finite number >= 0") from None

    @property
    def learning_rate_now(self) -> float:
        """The learning rate the next step will use."""
        return self.learning_rate_at(self.step_count)

    # ---------------------------------------------------------------- hyperparameters
    @property
    def hyper(self) -> Mapping[str, Any]:
        """The rule's hyperparameters, read-only (``set_hyper`` changes them)."""
        return MappingProxyType(self._hyper)

    def set_hyper(self, **changes: Any) -> None:
        """Change hyperparameters between steps, e.g. ``opt.set_hyper(beta_1=0.8)``.

        They are checked as the constructor checks them (None takes the default); an
        unknown name or an invalid value raises and changes nothing.  The new values are
        used from the next step on.  A change that the state arrays depend on (``amsgrad``,
        ``centered``, SGD's or RMSprop's momentum between 0 and nonzero, AdaGrad's
        ``initial_accumulator_value``) is refused, and so is the momentum or beta_1 that a
        schedule cycles (``OneCycle``).
        """
        unknown = sorted(set(changes) - set(self._hyper))
        if unknown:
            raise TypeError(f"{type(self).__name__}.set_hyper() got an unexpected keyword "
                            f"argument {unknown[0]!r} (its hyperparameters: "
                            f"{', '.join(self._hyper)}; the learning rate is the attribute "
                            "learning_rate)")
        if self._cycles_momentum and self.momentum_name in changes:
            raise ValueError(f"{self.momentum_name} is cycled by the learning-rate schedule "
                             f"{self._learning_rate!r}; pass cycle_momentum=False to it to "
                             "set it yourself")
        defaults = self.defaults[self.convention]
        old = dict(self._hyper)
        h = self._check_hyper({**old, **{k: defaults[k] if v is None else v
                                         for k, v in changes.items()}})
        if (set(self._state_names(h)) != set(self.state[0])
                or any(h[k] != old[k] for k in self.state_hyper)):
            raise ValueError(f"set_hyper({', '.join(f'{k}={v!r}' for k, v in changes.items())}) "
                             "would change the optimizer's state arrays; build a new optimizer "
                             "with it")
        flags = self._slot_flags()
        self._hyper.update(h)           # in place: views from opt.hyper stay current
        if self._slot_flags() != flags:
            try:
                self._build_plan()      # e.g. nesterov: another loop for the same state
            except BaseException:
                self._hyper.update(old)
                raise

    # ---------------------------------------------------------------- options
    @property
    def convention(self) -> str:
        """"torch" or "keras" (fixed at construction: the defaults and state follow it)."""
        return self._convention

    # one attribute per option (a Settings field)
    weight_decay = _setting("weight_decay")
    l2 = _setting("l2")
    l1 = _setting("l1")
    clipvalue = _setting("clipvalue")
    clipnorm = _setting("clipnorm")
    global_clipnorm = _setting("global_clipnorm")
    maximize = _setting("maximize")
    bounds = _setting("bounds")
    nan_policy = _setting("nan_policy")
    pruning = _setting("pruning")
    pruning_scope = _setting("pruning_scope")
    num_threads = _setting("num_threads")

    def _set_option(self, name: str, value: Any) -> None:
        """Set one option: everything is checked before anything changes."""
        settings = replace(self._settings, **{name: value})
        if name == "l1":
            self._build_plan(l1=l1_strengths(settings.l1, self.params))
        elif name == "bounds":
            self._build_plan(bounds=box_bounds(settings.bounds, self.params))
        self._plan.set_options(self._slot_options(settings, self._l1))
        self._settings = settings

    def _prune(self, step: int) -> None:
        """Recompute the masks from the current magnitudes when the pruning schedule says so
        (already-pruned entries stay pruned, so the masks are nested)."""
        s = self._settings
        if not s.pruning.should_prune(step):
            return
        current = [None if m is None else m.reshape(p.shape)
                   for m, p in zip(self.masks, self.params)]
        masks = _sparsity.prune_magnitude(self.params, s.pruning.sparsity_at(step),
                                          scope=s.pruning_scope, masks=current)
        self._masks = tuple(np.ascontiguousarray(m, dtype=np.uint8).reshape(-1) for m in masks)
        self._build_plan()

    def project(self) -> None:
        """Clip every parameter array into its bounds, in place (steps do this themselves;
        call it once to start inside the box)."""
        for p, (lo, hi) in zip(self._flat, self._bounds):
            if lo.size:
                np.clip(p, lo, hi, out=p)

    def set_masks(self, masks: Any) -> None:
        """Pin coordinates to zero: ``masks`` is one array (or None) per parameter array,
        of bools or real numbers, nonzero = keep.  Pruned coordinates are set to exactly 0
        with their optimizer state at the next step, and stay there; their gradients are
        ignored."""
        self._masks = check_masks(masks, self.params)
        self._build_plan()

    # ---------------------------------------------------------------- state
    def _state_names(self, h: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def _fresh_state(self, p: Array) -> dict[str, Array]:
        return {name: np.zeros_like(p) for name in self._state_names(self._hyper)}

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as plain Python/NumPy data (arrays are copies)."""
        lr: Any = self._learning_rate
        sd: dict[str, Any] = {
            "rule": self.rule,
            "convention": self.convention,
            "step": self.step_count,
            "skipped_steps": self.skipped_steps,
            "hyper": dict(self._hyper),
            "learning_rate": lr if not callable(lr) else None,
            "state": [{k: v.copy() for k, v in st.items()} for st in self.state],
            "masks": [None if m is None else m.reshape(p.shape).copy()
                      for m, p in zip(self.masks, self.params)],
        }
        if callable(lr):
            sd["schedule_kind"] = type(lr).__name__
            if hasattr(lr, "state_dict"):
                sd["schedule"] = lr.state_dict()
        sd.update(self._extra_state())
        return sd

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` exactly; validates all of it before changing anything
        (a bad state dict raises and leaves the optimizer as it was) and never mutates it.

        The learning rate: a state dict saved with a constant rate restores that rate (onto
        an optimizer with a constant rate); one saved with a schedule restores the
        schedule's position onto the optimizer's own schedule, which must be of the same
        type (build the optimizer with it).  A mismatch is a ValueError."""
        saved = _check_state_dict(self, state_dict)
        schedule: Any = self._learning_rate
        if "schedule" in state_dict and hasattr(schedule, "load_state_dict"):
            schedule.load_state_dict(state_dict["schedule"])    # validates before it changes
        # everything is valid: commit
        for k, v in saved.extra.items():
            setattr(self, k, v)
        self._hyper.update(saved.hyper)     # in place: views from opt.hyper stay current
        self._state, self._masks = saved.state, saved.masks
        self._build_plan()                  # the kernel plan, with the new state and masks
        self.step_count, self.skipped_steps = saved.step, saved.skipped_steps
        if saved.learning_rate is not None:
            self.learning_rate = saved.learning_rate

    def _load_extra_state(self, sd: dict[str, Any]) -> dict[str, Any]:
        """A subclass's own entries of a state dict, validated: attribute -> value."""
        return {}

    def _build_plan(self, l1: list[tuple[float, Array]] | None = None,
                    bounds: list[tuple[Array, Array]] | None = None) -> None:
        """Build the kernel plan: every parameter array bound with its state, mask, l1
        strengths and bounds into a kernel slot (checked once, so a step passes only the
        gradient).  Rebuilt whenever the masks, the state arrays, or (given here) the l1
        strengths or bounds change; nothing is changed if building it fails."""
        l1 = self._l1 if l1 is None else l1
        bounds = self._bounds if bounds is None else bounds
        flats = [flat(p) for p in self.params]
        flags = {"keras": self.convention == "keras", **self._slot_flags()}
        slots = []
        for p, st, mask, (_, l1w), (lo, hi) in zip(flats, self.state, self.masks, l1, bounds):
            arrays = [flat(st[k]) if k in st else EMPTY[p.dtype] for k in self.state_slots]
            s1, s2, s3 = arrays + [EMPTY[p.dtype]] * (3 - len(arrays))
            slots.append(_dispatch.Slot(self.rule, p, s1, s2, s3,
                                        EMPTY_MASK if mask is None else mask, l1w, lo, hi,
                                        **flags))
        plan = _dispatch.Plan(slots, [p.shape for p in self.params], [self._hyper])
        plan.set_options(self._slot_options(self._settings, l1))
        self._flat, self._l1, self._bounds, self._plan = flats, l1, bounds, plan

    @staticmethod
    def _slot_options(s: Settings, l1: list[tuple[float, Array]]) -> list[tuple[float, ...]]:
        """Per parameter array, the kernel's (sign, clip, l2, weight_decay, l1)."""
        return [s.extras + (strength,) for strength, _ in l1]

    def __getstate__(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        del d["_flat"], d["_plan"], d["_progress"]  # views and pointers: rebuilt on unpickling
        d["_hyper"] = dict(self._hyper)             # a copy's own (schedules change it)
        # plain containers (a mapping proxy does not pickle) and the counters' values
        d["params"], d["masks"] = list(d.pop("_params")), list(d.pop("_masks"))
        d["state"] = [dict(st) for st in d.pop("_state")]
        # (the number the rule carries from step to step is Nadam's product of momenta)
        d["step_count"], d["mu_product"] = self._progress.step, self._progress.carry
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        d = dict(d)
        self._params, self._masks = tuple(d.pop("params")), tuple(d.pop("masks"))
        self._state = tuple(MappingProxyType(dict(st)) for st in d.pop("state"))
        self._progress = _dispatch.Progress()
        self._progress.step, self._progress.carry = d.pop("step_count"), d.pop("mu_product")
        self.__dict__.update(d)
        self._build_plan()

    def __repr__(self) -> str:
        """The rule, its learning rate and hyperparameters, the convention, and the options
        that differ from their defaults."""
        lr = self._learning_rate
        parts = [f"learning_rate={lr!r}"]
        parts += [f"{k}={v!r}" for k, v in self.hyper.items()]
        parts.append(f"convention={self.convention!r}")
        for f in OPTIONS:
            value = getattr(self._settings, f.name)
            if f.repr and not (value is f.default or (
                    not isinstance(value, (list, tuple, np.ndarray)) and value == f.default)):
                parts.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ---------------------------------------------------------------- the step
    def _grad_scales(self, grads: Sequence[Array]) -> list[float]:
        """Norm-clipping factors per array, from deterministic reductions."""
        s = self._settings
        c = s.clipnorm if s.clipnorm is not None else s.global_clipnorm
        assert c is not None
        threads = _dispatch.resolve_threads(s.num_threads)
        sq = [_dispatch.sum_squares(flat(g), m if m is not None else EMPTY_MASK, threads)
              for g, m in zip(grads, self.masks)]
        # c / max(norm, c), written so that c = inf (no clipping) gives 1, not inf / inf
        if s.clipnorm is not None:
            return [1.0 if math.sqrt(q) <= c else c / math.sqrt(q) for q in sq]
        norm = math.sqrt(math.fsum(sq))
        return [1.0 if norm <= c else c / norm] * len(grads)

    def step(self, grads: Any) -> int:
        """Apply one update to every parameter array, in place.

        Parameters
        ----------
        grads : array_like or list of array_like
            One array (a single parameter array) or a list with one array per parameter
            array, each of the parameter's shape; any real dtype or layout, read-only
            allowed.

        Returns
        -------
        int
            The number of non-finite gradient entries seen (0 normally; with
            ``nan_policy="skip"`` a nonzero count means the step was skipped).

        Raises
        ------
        FloatingPointError
            With ``nan_policy="raise"`` when a gradient entry is inf or NaN (parameters
            untouched).
        ValueError, TypeError
            For gradients of the wrong number, shape or dtype.
        """
        if not self._plan.fits(grads):
            params = self.params
            given = check_grads(grads, len(params))
            grads = [as_grad(g, p, f"grads[{i}]" if len(given) > 1 else "grads")
                     for i, (g, p) in enumerate(zip(given, params))]
        elif type(grads) is np.ndarray:     # the common case: usable as they are
            grads = (grads,)
        return self._step_checked(grads)

    def _step_checked(self, grads: Sequence[Array]) -> int:
        """step() for gradients already checked: one per parameter array, each C-contiguous,
        aligned, of its parameter's dtype and size (minimize's loop, which checks them
        itself, calls this).  A gradient sharing memory with a parameter or state array is
        copied by the kernels' plan."""
        progress = self._progress
        try:
            step = progress.enter()         # RuntimeError while another thread is stepping
            s = self._settings
            plain = s.plain
            if not plain and s.nan_policy != "propagate" and self._skips(grads):
                return self.last_nonfinite
            lr = self._learning_rate
            if callable(lr):
                lr = self.learning_rate_at(step)
                if self._cycles_momentum:
                    self._cycle_momentum(step)
            scales = None                   # per array, the norm-clipping scale: 1
            if not plain:
                if s.pruning is not None:
                    self._prune(step)
                if s.clipnorm or s.global_clipnorm:
                    scales = self._grad_scales(grads)
            # advances step_count (and the carried number) right after the kernels
            bad = self._plan.step(grads, lr, scales, s.num_threads, progress)
        finally:
            progress.leave()
        self.last_nonfinite = bad
        return bad

    def _skips(self, grads: Sequence[Array]) -> bool:
        """nan_policy "skip" or "raise": count the gradients' non-finite entries first; when
        there are some, raise (parameters untouched) or count a skipped step."""
        threads = _dispatch.resolve_threads(self._settings.num_threads)
        counts = [_dispatch.count_nonfinite(flat(g), m if m is not None else EMPTY_MASK,
                                            threads)
                  for g, m in zip(grads, self.masks)]
        bad = sum(counts)
        if not bad:
            return False
        self.last_nonfinite = bad
        if self._settings.nan_policy == "raise":
            i = next(i for i, c in enumerate(counts) if c)
            raise FloatingPointError(
                f"non-finite gradient at step {self.step_count + 1}: {counts[i]} "
                f"entries of grads[{i}] are inf or NaN; parameters left untouched")
        self.skipped_steps += 1
        return True

    def _slot_flags(self) -> dict[str, bool]:
        """The rule's structural options, fixed for the kernel slot (see _dispatch.Slot)."""
        return {}

    def _prox_scale(self) -> float:
        """Factor on the l1 threshold lr * l1 / D: 1, or 1 / (1 - momentum) for heavy-ball
        momentum, whose steps are that much longer at a fixed point; so that fixed points
        solve the l1-penalized problem with the l1 given, momentum or not."""
        mu: float = self._hyper.get("momentum", 0.0)
        return 1.0 / (1.0 - mu) if 0.0 < mu < 1.0 else 1.0

    # ---------------------------------------------------------------- reporting
    @property
    def uses_l1(self) -> bool:
        """True when any parameter array has an l1 penalty (scalar or per coordinate)."""
        return self._settings.uses_l1

    def l1_strength(self, i: int = 0) -> float | Array:
        """The l1 strength of parameter array ``i``: a float, or a flat array of per-coordinate
        strengths."""
        l1, w = self._l1[i]
        return w if w.size else l1

    def nnz(self) -> int:
        """Number of nonzero parameters over all arrays."""
        return _sparsity.nnz(self.params)

    def sparsity(self) -> float:
        """Fraction of parameters that are exactly zero."""
        return _sparsity.sparsity(self.params)


Optimizer.__doc__ = _with_fragments(Optimizer.__doc__)


# ---------------------------------------------------------------- state dicts
class _Saved(NamedTuple):
    """A state dict's contents, checked against an optimizer (load_state_dict commits them)."""
    hyper: dict[str, Any]
    state: tuple[MappingProxyType[str, Array], ...]
    masks: tuple[Array | None, ...]
    step: int
    skipped_steps: int
    learning_rate: float | None     # a constant rate to restore, or None (a schedule's)
    extra: dict[str, Any]           # the rule's own entries (_load_extra_state)


def _check_state_dict(opt: Optimizer, sd: Any) -> _Saved:
    """``load_state_dict``'s checks: ``sd`` against ``opt`` (its rule, convention,
    hyperparameters, state arrays, masks, counters and learning rate), without changing
    either; its state arrays are copied."""
    if not isinstance(sd, dict):
        raise TypeError(f"'state_dict' must be a dict, got {type(sd).__name__}")
    missing = {"rule", "convention", "step", "hyper", "state", "masks"} - set(sd)
    if missing:
        raise ValueError(f"'state_dict' lacks {sorted(missing)}")
    if sd["rule"] != opt.rule:
        raise ValueError(f"'state_dict' is for rule {sd['rule']!r}, not {opt.rule!r}")
    if sd["convention"] != opt.convention:
        raise ValueError(f"'state_dict' uses convention {sd['convention']!r}, this optimizer "
                         f"{opt.convention!r}")
    if not isinstance(sd["hyper"], dict):
        raise TypeError(f"'state_dict' hyper must be a dict, got {type(sd['hyper']).__name__}")
    expected = [k for k in opt.defaults[opt.convention] if k != "learning_rate"]
    if set(sd["hyper"]) != set(expected):
        raise ValueError(f"'state_dict' hyper has {sorted(sd['hyper'])}, expected "
                         f"{sorted(expected)}")
    hyper = opt._check_hyper(dict(sd["hyper"]))
    names = opt._state_names(hyper)
    params = opt.params
    for key in ("state", "masks"):
        if not isinstance(sd[key], (list, tuple)):
            raise TypeError(f"'state_dict' {key} must be a list with one entry per "
                            f"parameter array, got {type(sd[key]).__name__}")
        if len(sd[key]) != len(params):
            raise ValueError(f"'state_dict' holds {key} for {len(sd[key])} arrays, this "
                             f"optimizer has {len(params)}")
    for i, (st, p) in enumerate(zip(sd["state"], params)):
        if not isinstance(st, dict):
            raise TypeError(f"'state_dict' state[{i}] must be a dict of arrays, got "
                            f"{type(st).__name__}")
        if set(st) != set(names):
            raise ValueError(f"'state_dict' state[{i}] has {sorted(st)}, "
                             f"expected {sorted(names)}")
        for k, v in st.items():
            if not isinstance(v, np.ndarray) or v.shape != p.shape or v.dtype != p.dtype:
                raise ValueError(f"'state_dict' state[{i}][{k!r}] must be a {p.dtype} array "
                                 f"of shape {p.shape}")
            # what no step can produce, and the next step would turn into NaN parameters
            # (+-inf can come from an overflow, and a saved state always loads back)
            if k in opt.nonnegative_state:
                if not np.all(v >= 0):
                    raise ValueError(f"'state_dict' state[{i}][{k!r}] must be >= 0 "
                                     "everywhere (no NaN): it is a sum or average of "
                                     "squares, or a maximum of magnitudes")
            elif np.isnan(v).any():
                raise ValueError(f"'state_dict' state[{i}][{k!r}] contains NaN")
    counts = []
    for key in ("step", "skipped_steps"):
        n = sd.get(key, 0)
        if not _is_count(n):
            raise ValueError(f"'state_dict' {key} must be an int >= 0 (and < 2**63 - 1), "
                             f"got {n!r}")
        counts.append(int(n))
    masks = check_masks(sd["masks"], params)
    lr = _saved_learning_rate(sd, opt.learning_rate)
    extra = opt._load_extra_state(sd)
    state = tuple(MappingProxyType({k: np.array(v, copy=True, order="C") for k, v in st.items()})
                  for st in sd["state"])
    return _Saved(hyper, state, masks, counts[0], counts[1], lr, extra)


def _saved_learning_rate(sd: dict[str, Any], current: LearningRate) -> float | None:
    """The constant rate a state dict restores, or None when it was saved with a schedule.
    The kinds must agree with the optimizer's ``current`` rate: a constant onto a constant
    rate, a schedule's position onto a schedule of the same type; anything else is a
    ValueError, never a silent change of the rate."""
    lr, kind = sd.get("learning_rate"), sd.get("schedule_kind")
    if lr is not None:
        lr = check_nonnegative(lr, "learning_rate", label="learning rate")
        if callable(current):
            raise ValueError(f"'state_dict' was saved with the constant learning rate "
                             f"{lr!r}, but this optimizer's learning rate is the schedule "
                             f"{current!r}: load it with a constant rate, then set "
                             "learning_rate")
    elif kind is not None and type(current).__name__ != kind:
        raise ValueError(f"'state_dict' was saved with a {kind} learning-rate schedule, "
                         f"but this optimizer's learning rate is {current!r}: give it "
                         f"the {kind} to resume (its position is restored)")
    return lr


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    torch:  b = momentum * b + g  (b = g at the first step);
            param -= lr * (g + momentum * b if nesterov else b)
    keras:  v = momentum * v - lr * g;  param += momentum * v - lr * g if nesterov else v

    Defaults (both conventions): learning_rate=0.01, momentum=0, nesterov=False.
    (torch >= 2 itself defaults SGD's lr to 1e-3; fastopt keeps the book's 0.01.)

    Parameters
    ----------
    {params}
    momentum : float, optional
        Momentum factor mu >= 0 (0: plain SGD).
    nesterov : bool, optional
        Nesterov momentum (needs momentum > 0).
    {common}

    {raises}

    Examples
    --------
    >>> w = np.ones(2); opt = SGD(w, learning_rate=0.1, momentum=0.9)
    >>> opt.step(w.copy()); w
    0
    array([0.9, 0.9])
    """

    rule = "sgd"
    state_slots = ("momentum_buffer",)
    momentum_name = "momentum"
    defaults = {c: {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}
                for c in CONVENTIONS}

    def __init__(self, params: Arrays, learning_rate: LearningRate | None = None,
                 momentum: float | None = None, nesterov: bool | None = None,
                 **common: Any) -> None:
        super().__init__(params, learning_rate, momentum=momentum, nesterov=nesterov, **common)

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        h["momentum"] = check_nonnegative(h["momentum"], "momentum")
        h["nesterov"] = check_bool(h["nesterov"], "nesterov")
        if h["nesterov"] and h["momentum"] == 0:
            raise ValueError("Nesterov momentum requires a momentum")
        return h

    def _state_names(self, h: dict[str, Any]) -> list[str]:
        return ["momentum_buffer"] if h["momentum"] != 0 else []

    def _slot_flags(self) -> dict[str, bool]:
        h = self.hyper
        return {"momentum": h["momentum"] != 0, "nesterov": h["nesterov"]}


class Adagrad(Optimizer):
    """AdaGrad: per-coordinate learning rates from the sum of squared gradients.

    s += g**2
    torch:  param -= lr' * g / (sqrt(s) + epsilon),  lr' = lr / (1 + (t - 1) * lr_decay)
    keras:  param -= lr * g / sqrt(s + epsilon)

    Defaults: torch learning_rate=1e-2, epsilon=1e-10, initial_accumulator_value=0,
    lr_decay=0; keras learning_rate=1e-3, epsilon=1e-7, initial_accumulator_value=0.1.

    Parameters
    ----------
    {params}
    epsilon : float, optional
        Added to the denominator (outside the root for torch, inside for keras).
    initial_accumulator_value : float, optional
        Starting value of the sum of squares s.
    lr_decay : float, optional
        torch's learning-rate decay (torch convention only).
    {common}

    {raises}

    Examples
    --------
    >>> w = np.ones(2); opt = Adagrad(w, learning_rate=0.5)
    >>> opt.step(np.array([1.0, -2.0])); w
    0
    array([0.5, 1.5])
    """

    rule = "adagrad"
    state_slots = ("sum",)
    nonnegative_state = ("sum",)
    state_hyper = ("initial_accumulator_value",)
    defaults = {
        "torch": {"learning_rate": 1e-2, "epsilon": 1e-10, "initial_accumulator_value": 0.0,
                  "lr_decay": 0.0},
        "keras": {"learning_rate": 1e-3, "epsilon": 1e-7, "initial_accumulator_value": 0.1,
                  "lr_decay": 0.0},
    }

    def __init__(self, params: Arrays, learning_rate: LearningRate | None = None,
                 epsilon: float | None = None, initial_accumulator_value: float | None = None,
                 lr_decay: float | None = None, **common: Any) -> None:
        super().__init__(params, learning_rate, epsilon=epsilon, lr_decay=lr_decay,
                         initial_accumulator_value=initial_accumulator_value, **common)

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        h["epsilon"] = check_nonnegative(h["epsilon"], "epsilon")
        h["lr_decay"] = check_nonnegative(h["lr_decay"], "lr_decay")
        h["initial_accumulator_value"] = check_nonnegative(h["initial_accumulator_value"],
                                                 "initial_accumulator_value")
        return h

    def _state_names(self, h: dict[str, Any]) -> list[str]:
        return ["sum"]

    def _fresh_state(self, p: Array) -> dict[str, Array]:
        return {"sum": np.full_like(p, self.hyper["initial_accumulator_value"])}


class RMSprop(Optimizer):
    """RMSprop: divide by a running root mean square of the gradients.

    s = rho * s + (1 - rho) * g**2;   centered: a = rho * a + (1 - rho) * g, s -> s - a**2
    torch:  D = sqrt(s) + epsilon;  param -= lr * g / D,  or with momentum
            B = momentum * B + g / D;  param -= lr * B
    keras:  D = sqrt(s + epsilon);  inc = lr * g / D;  param -= inc,  or with momentum
            M = momentum * M + inc;  param -= M

    Defaults: torch learning_rate=1e-2, rho=0.99, epsilon=1e-8; keras learning_rate=1e-3,
    rho=0.9, epsilon=1e-7; momentum=0, centered=False.  (rho is torch's ``alpha``.)

    Parameters
    ----------
    {params}
    rho : float, optional
        Decay of the running average of g**2 (torch's ``alpha``).
    momentum : float, optional
        Momentum factor (0: none).
    epsilon : float, optional
        Added to the denominator (see the formulas above).
    centered : bool, optional
        Divide by the estimated variance (s - a**2) instead of the second moment.
    {common}

    {raises}

    Examples
    --------
    >>> w = np.ones(2); opt = RMSprop(w, learning_rate=0.01)
    >>> opt.step(np.ones(2)); w.round(3)
    0
    array([0.9, 0.9])
    """

    rule = "rmsprop"
    state_slots = ("square_avg", "grad_avg", "momentum_buffer")
    nonnegative_state = ("square_avg",)
    momentum_name = "momentum"
    defaults = {
        "torch": {"learning_rate": 1e-2, "rho": 0.99, "epsilon": 1e-8, "momentum": 0.0,
                  "centered": False},
        "keras": {"learning_rate": 1e-3, "rho": 0.9, "epsilon": 1e-7, "momentum": 0.0,
                  "centered": False},
    }

    def __init__(self, params: Arrays, learning_rate: LearningRate | None = None,
                 rho: float | None = None, momentum: float | None = None,
                 epsilon: float | None = None, centered: bool | None = None,
                 **common: Any) -> None:
        super().__init__(params, learning_rate, rho=rho, momentum=momentum, epsilon=epsilon,
                         centered=centered, **common)

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        h["rho"] = check_nonnegative(h["rho"], "rho")
        h["momentum"] = check_nonnegative(h["momentum"], "momentum")
        h["epsilon"] = check_nonnegative(h["epsilon"], "epsilon")
        h["centered"] = check_bool(h["centered"], "centered")
        return h

    def _state_names(self, h: dict[str, Any]) -> list[str]:
        return (["square_avg"] + (["grad_avg"] if h["centered"] else [])
                + (["momentum_buffer"] if h["momentum"] != 0 else []))

    def _slot_flags(self) -> dict[str, bool]:
        return {"centered": self.hyper["centered"], "momentum": self.hyper["momentum"] != 0}


def _check_betas(h: dict[str, Any]) -> dict[str, Any]:
    h["beta_1"] = check_range(h["beta_1"], "beta_1", high=1.0, high_open=True,
                              label="beta parameter at index 0")
    h["beta_2"] = check_range(h["beta_2"], "beta_2", high=1.0, high_open=True,
                              label="beta parameter at index 1")
    h["epsilon"] = check_nonnegative(h["epsilon"], "epsilon")
    return h


class Adam(Optimizer):
    """Adam (and AMSGrad with ``amsgrad=True``).

    m = beta_1 * m + (1 - beta_1) * g;   v = beta_2 * v + (1 - beta_2) * g**2
    (amsgrad: vmax = max(vmax, v), used in place of v)
    torch:  param -= lr * m_hat / (sqrt(v_hat) + epsilon),  m_hat = m / (1 - beta_1**t),
            v_hat = v / (1 - beta_2**t)
    keras:  alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t);
            param -= alpha * m / (sqrt(v) + epsilon)

    Defaults: learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon 1e-8 (torch) or 1e-7
    (keras).  ``weight_decay`` gives AdamW; ``l2`` gives torch's Adam(weight_decay=...).

    Parameters
    ----------
    {params}
    beta_1, beta_2 : float, optional
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, optional
        Added to the denominator.
    amsgrad : bool, optional
        Use the running maximum of v (AMSGrad).
    {common}

    {raises}

    Examples
    --------
    >>> w = np.zeros(2); opt = Adam(w, learning_rate=0.1)
    >>> opt.step(np.array([1.0, -1.0])); w
    0
    array([-0.1,  0.1])
    """

    rule = "adam"
    state_slots = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    nonnegative_state = ("exp_avg_sq", "max_exp_avg_sq")
    momentum_name = "beta_1"
    defaults = {
        "torch": {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
                  "amsgrad": False},
        "keras": {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                  "amsgrad": False},
    }

    def __init__(self, params: Arrays, learning_rate: LearningRate | None = None,
                 beta_1: float | None = None, beta_2: float | None = None,
                 epsilon: float | None = None, amsgrad: bool | None = None,
                 **common: Any) -> None:
        super().__init__(params, learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, **common)

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        h = _check_betas(h)
        h["amsgrad"] = check_bool(h["amsgrad"], "amsgrad")
        return h

    def _state_names(self, h: dict[str, Any]) -> list[str]:
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if h["amsgrad"] else [])

    def _slot_flags(self) -> dict[str, bool]:
        return {"amsgrad": self.hyper["amsgrad"]}


class Adamax(Optimizer):
    """AdaMax: Adam with the infinity norm.

    m = beta_1 * m + (1 - beta_1) * g
    torch:  u = max(beta_2 * u, |g| + epsilon);  param -= lr / (1 - beta_1**t) * m / u
    keras:  u = max(beta_2 * u, |g|);  param -= lr / (1 - beta_1**t) * m / (u + epsilon)

    Defaults: beta_1=0.9, beta_2=0.999; torch learning_rate=2e-3, epsilon=1e-8; keras
    learning_rate=1e-3, epsilon=1e-7.

    Parameters
    ----------
    {params}
    beta_1, beta_2 : float, optional
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, optional
        Added to the denominator.
    {common}

    {raises}

    Examples
    --------
    >>> w = np.zeros(2); opt = Adamax(w, learning_rate=0.1)
    >>> opt.step(np.array([1.0, -1.0])); w.round(6)
    0
    array([-0.1,  0.1])
    """

    rule = "adamax"
    state_slots = ("exp_avg", "exp_inf")
    nonnegative_state = ("exp_inf",)
    momentum_name = "beta_1"
    defaults = {
        "torch": {"learning_rate": 2e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
        "keras": {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    }

    def __init__(self, params: Arrays, learning_rate: LearningRate | None = None,
                 beta_1: float | None = None, beta_2: float | None = None,
                 epsilon: float | None = None, **common: Any) -> None:
        super().__init__(params, learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, **common)

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        return _check_betas(h)

    def _state_names(self, h: dict[str, Any]) -> list[str]:
        return ["exp_avg", "exp_inf"]


class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum (Dozat 2016), with the momentum schedule

    mu_t = beta_1 * (1 - 0.5 * 0.96**(t * momentum_decay)),  prod_t = prod_{t-1} * mu_t
    m = beta_1 * m + (1 - beta_1) * g;   v = beta_2 * v + (1 - beta_2) * g**2
    param -= lr * ((1 - mu_t) / (1 - prod_t) * g
                   + mu_{t+1} / (1 - prod_t * mu_{t+1}) * m) / (sqrt(v / (1 - beta_2**t)) + eps)

    Defaults: beta_1=0.9, beta_2=0.999; torch learning_rate=2e-3, epsilon=1e-8,
    momentum_decay=0.004; keras learning_rate=1e-3, epsilon=1e-7, momentum_decay=1 (Keras
    uses 0.96**t).

    Parameters
    ----------
    {params}
    beta_1, beta_2 : float, optional
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, optional
        Added to the denominator.
    momentum_decay : float, optional
        psi in the momentum schedule mu_t (torch's ``momentum_decay``; 1 for keras).
    {common}

    {raises}

    Examples
    --------
    >>> w = np.zeros(2); opt = Nadam(w, learning_rate=0.1)
    >>> opt.step(np.array([1.0, -1.0])); (w < 0).tolist()
    0
    [True, False]
    """

    rule = "nadam"
    state_slots = ("exp_avg", "exp_avg_sq")
    nonnegative_state = ("exp_avg_sq",)
    momentum_name = "beta_1"
    defaults = {
        "torch": {"learning_rate": 2e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
                  "momentum_decay": 0.004},
        "keras": {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                  "momentum_decay": 1.0},
    }

    def __init__(self, params: Arrays, learning_rate: LearningRate | None = None,
                 beta_1: float | None = None, beta_2: float | None = None,
                 epsilon: float | None = None, momentum_decay: float | None = None,
                 **common: Any) -> None:
        super().__init__(params, learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, momentum_decay=momentum_decay, **common)

    @property
    def mu_product(self) -> float:
        """The product of the momenta mu_1 ... mu_t of the steps taken (1.0 before the
        first); it advances with ``step_count``."""
        return self._progress.carry

    @mu_product.setter
    def mu_product(self, value: float) -> None:
        self._progress.carry = check_range(value, "mu_product", high=1.0)

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        h = _check_betas(h)
        h["momentum_decay"] = check_nonnegative(h["momentum_decay"], "momentum_decay")
        return h

    def _state_names(self, h: dict[str, Any]) -> list[str]:
        return ["exp_avg", "exp_avg_sq"]

    def _extra_state(self) -> dict[str, Any]:
        return {"mu_product": self.mu_product}

    def _load_extra_state(self, sd: dict[str, Any]) -> dict[str, Any]:
        if "mu_product" not in sd:
            raise ValueError("'state_dict' lacks 'mu_product'")
        return {"mu_product": check_range(sd["mu_product"], "mu_product", high=1.0)}
