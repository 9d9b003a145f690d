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
from fastopt._settings import (OPTIONS, PER_ARRAY, Settings, box_bounds, check_masks,
                               collapse, kernel_options, l1_strengths, option_doc, per_array,
                               with_entries)
from fastopt._validation import (EMPTY, EMPTY_MASK, Array, as_grad, as_param_list,
                                 check_bool, check_grads, check_nonnegative, check_range, flat)
from fastopt.schedules import momentum_cyclers

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "Adamax", "Nadam"]

CONVENTIONS = ("torch", "keras")

# One array, or a list with one array per parameter array.
Arrays = Array | Sequence[Array]
# A constant learning rate, or a schedule: a callable of the step (fastopt.schedules).
LearningRate = float | Callable[[int], float]
# A group key or set_hyper change that was not given.
_UNSET: Any = object()
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


class _Group:
    """One parameter group: its arrays (indices into ``params``), its hyperparameters (the
    dict the kernel plan reads), its learning rate (a float or a schedule), its base rate
    (its last float rate: what a schedule without a base of its own scales), whether its
    schedule is such a schedule evaluated over the base (``free``, with several groups),
    and whether its schedule cycles the momentum."""

    __slots__ = ("indices", "hyper", "rate", "base", "free", "cycles")

    def __init__(self, indices: tuple[int, ...], hyper: dict[str, Any], rate: LearningRate,
                 base: float) -> None:
        self.indices, self.hyper, self.rate, self.base = indices, hyper, rate, base
        self.free = self.cycles = False

    def copy(self) -> _Group:
        g = _Group(self.indices, dict(self.hyper), self.rate, self.base)
        g.free, g.cycles = self.free, self.cycles
        return g


def _without_base(schedule: Any) -> bool:
    """Whether ``schedule`` has no base rate of its own (``ReduceLROnPlateau()``): it
    scales the rate of the optimizer that uses it (``bind_default``, or ``scaled(base)``
    for each of several groups)."""
    return hasattr(schedule, "bind_default") and getattr(schedule, "learning_rate", 0) is None


def _split_groups(params: Any) -> tuple[list[Any], list[tuple[tuple[int, ...], dict[str, Any]]]]:
    """``params`` as (every array, in order; per group (its arrays' indices, its other
    keys)): one group for arrays, one per dict for a list of ``{"params": ..., **keys}``."""
    if not (isinstance(params, (list, tuple)) and any(isinstance(p, dict) for p in params)):
        return params, [(tuple(range(len(as_param_list(params)))), {})]
    arrays: list[Any] = []
    specs = []
    for g, group in enumerate(params):
        if not isinstance(group, dict):
            raise TypeError(f"'params' mixes parameter groups (dicts) and arrays: params[{g}] "
                            f"is a {type(group).__name__}; give every group as a dict "
                            "{'params': ..., ...}")
        if "params" not in group:
            raise ValueError(f"param_groups[{g}] lacks 'params' (its arrays)")
        given = as_param_list(group["params"], f"param_groups[{g}]['params']")
        specs.append((tuple(range(len(arrays), len(arrays) + len(given))),
                      {k: v for k, v in group.items() if k != "params"}))
        arrays += given
    return arrays, specs


class Optimizer:
    """Base class: owns the parameter arrays, their state and the counters, and takes the
    step (one kernel call; the kernel computes the rule's numbers of the step).

    Subclasses define ``rule`` (the kernel's, which also computes the step's numbers from
    ``hyper``), ``defaults`` (per convention), ``_state_names(h)``, ``_check_hyper(h)``,
    ``state_slots`` (state names in the kernel's order), ``_slot_flags(h)`` and, for
    torch's hyperparameters that Keras lacks, ``torch_only``; their
    docstrings take the shared fragments (``{params}``, ``{common}``, ``{raises}`` alone
    on a line).

    Parameters
    ----------
    params : numpy.ndarray, list of numpy.ndarray, or list of dict
        The arrays to update in place: float32 or float64, writable and C-contiguous (any
        other array is a ValueError or TypeError, never a silent copy). Each keeps its dtype.
        Parameter groups (torch's shape): a list of dicts ``{"params": array or arrays,
        **overrides}``, where an override is a learning rate (``learning_rate`` or ``lr``,
        a float or a schedule), a hyperparameter of the rule or a per-array option
        (``weight_decay``, ``l2``, ``l1``, ``clipvalue``, ``clipnorm``, ``maximize``,
        ``bounds``, ``pruning``); a key a group leaves out takes the constructor's value.
        Groups may differ in every hyperparameter, also those that shape the state
        (``amsgrad``, ``centered``, momentum 0 or not).  ``param_groups`` shows them;
        ``set_hyper(group=i, ...)`` changes one.
    learning_rate : float or callable
        A constant, or a callable ``schedule(step) -> float`` called once per step with the
        number of steps already taken (0 at the first update).  ``lr`` is an alias.  A
        schedule with ``momentum_at(step)`` (``OneCycle``) also sets the momentum (SGD,
        RMSprop) or ``beta_1`` (Adam, Adamax, Nadam) of each step of the groups it drives;
        one with ``update(value)`` (``ReduceLROnPlateau``) is told the monitored loss
        through ``report(value)``.  With groups, it is the rate of the groups that set none;
        a schedule with no base rate of its own (``ReduceLROnPlateau()``) scales each
        group's base rate (the group's float rate, or the convention's default), as
        torch's schedulers scale each group's ``lr``.
    {options}
    convention : {"torch", "keras"}
        Whose formulas and defaults to follow (see the rule's class).
    **hyper
        The rule's hyperparameters (see each subclass); None takes the default.  Every
        hyperparameter is a finite number in its range (torch.optim's checks, and +inf is
        rejected too: it turns finite inputs into NaN); only the clipping thresholds take
        +inf, meaning no clipping.  An unknown name is a TypeError.  Under
        ``convention="keras"`` a torch-only hyperparameter (the class's ``torch_only``,
        e.g. Adagrad's ``lr_decay``) other than its default is a ValueError: Keras's
        formulas have no place for it.

    Examples
    --------
    >>> w = [np.zeros(3), np.zeros(2)]                   # weights and biases
    >>> opt = Adam(w, learning_rate=0.1, l1=[1e-3, 0.0], clipnorm=1.0)
    >>> opt.step([np.ones(3), np.ones(2)]), opt.step_count
    (0, 1)

    Weights and biases in two groups: decay and prune the weights only, and give the biases
    a smaller rate:

    >>> W, b = np.ones((4, 3)), np.zeros(3)
    >>> prune = fastopt.sparsity.ConstantSparsity(0.5, begin_step=0, frequency=1)
    >>> opt = Adam([{"params": W, "weight_decay": 0.01, "pruning": prune},
    ...             {"params": b, "lr": 1e-3}], learning_rate=0.1)
    >>> opt.step([np.ones((4, 3)), np.ones(3)])
    0
    >>> int((W == 0).sum()), int((b == 0).sum()), opt.param_groups[1]["learning_rate"]
    (6, 0, 0.001)

    Every parameter after ``learning_rate`` (which is one too) except ``lr``,
    ``convention`` and the hyperparameters is also an attribute that can be set between
    steps (``set_hyper`` changes hyperparameters); it is checked as here (an invalid value
    raises and changes nothing) and used from the next step on; a per-array option set so
    is set for every array, and reads back as one value when every array has the same,
    else as the list of them:

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
    # torch's hyperparameters that Keras lacks: convention="keras" keeps them at its default
    torch_only: ClassVar[tuple[str, ...]] = ()
    # the hyperparameter a momentum-cycling schedule sets
    momentum_name: ClassVar[str | None] = None
    # state array names in the kernel slot's order (s1, s2, s3)
    state_slots: ClassVar[tuple[str, ...]] = ()
    # the state arrays that are >= 0 by construction (second moments, accumulators, norms)
    nonnegative_state: ClassVar[tuple[str, ...]] = ()
    # the state dict's name of the number the rule carries from step to step (Nadam's
    # product of momenta), if it has one
    carry_name: ClassVar[str | None] = None
    # per parameter array, as the plan binds them: (l1 strength, per-coordinate strengths
    # or empty), (lower, upper) or empty arrays
    _l1: list[tuple[float, Array]]
    _bounds: list[tuple[Array, Array]]
    # per parameter array, the kernel's fused options (kernel_options); the kernel plan
    _options: list[tuple[float, float, float, float, float]]
    _plan: _dispatch.Plan

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__doc__ = _with_fragments(cls.__doc__)

    def __init__(self, params: Arrays | Sequence[dict[str, Any]],
                 learning_rate: LearningRate | None = None, *,
                 convention: str = "torch", lr: LearningRate | None = None,
                 **hyper: Any) -> None:
        if lr is not None:
            if learning_rate is not None:
                raise TypeError("give either 'learning_rate' or its alias 'lr', not both")
            learning_rate = lr
        if convention not in CONVENTIONS:
            raise ValueError(f"Invalid convention: {convention!r} (expected 'torch' or 'keras')")
        self._convention = convention
        arrays, specs = _split_groups(params)
        self._params = tuple(as_param_list(arrays))
        n = len(self._params)
        # the options come as keywords too: those named as a Settings field
        settings = Settings(**{f.name: hyper.pop(f.name) for f in OPTIONS if f.name in hyper})
        h = {k: v for k, v in self.defaults[convention].items() if k != "learning_rate"}
        unknown = sorted(set(hyper) - set(h))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{unknown[0]!r} (its hyperparameters: {', '.join(h)})")
        h.update({k: v for k, v in hyper.items() if v is not None})
        default = self.defaults[convention]["learning_rate"]
        rate = self._check_rate(learning_rate)
        base = rate if not callable(rate) else default
        self._groups: list[_Group] = []
        rates = []
        for g, (indices, keys) in enumerate(specs):
            where = f"param_groups[{g}]"
            changes, group_rate, options = self._sort_keys(where, keys)
            hyper_g = self._group_hyper(where if len(specs) > 1 else "", h, changes)
            for name, value in options.items():
                settings = replace(settings, **{name: with_entries(
                    name, getattr(settings, name), n, indices, value, f"{where}[{name!r}]")})
            if group_rate is _UNSET:
                group_rate, group_base = rate, base
            else:
                group_rate = self._check_rate(group_rate)
                group_base = group_rate if not callable(group_rate) else base
                if not callable(group_rate) and callable(rate) and _without_base(rate):
                    group_rate = rate   # it scales the group's rate, as torch's schedulers
            self._groups.append(_Group(indices, hyper_g, group_rate, group_base))
            rates.append(group_rate)
        for group, value in zip(self._groups, rates):
            self._set_rate([group], value)
        self._progress = _dispatch.Progress(len(self._groups))  # step_count, carried numbers
        self.skipped_steps = 0
        self.last_nonfinite = 0
        self._masks: tuple[Array | None, ...] = (None,) * n
        hyper_of = [self._groups[0].hyper] * n          # each array's group's
        for group in self._groups:
            for i in group.indices:
                hyper_of[i] = group.hyper
        self._state = tuple(MappingProxyType(self._fresh_state(p, h))
                            for p, h in zip(self._params, hyper_of))
        self._apply(settings, rebuild=True)

    def _sort_keys(self, where: str, keys: Mapping[str, Any]
                   ) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        """A group's keys (or set_hyper's) sorted into (hyperparameters, learning rate or
        _UNSET, per-array options); an optimizer-wide option or an unknown key raises,
        naming ``where`` and the key."""
        hyper, options, rate = {}, {}, _UNSET
        if "lr" in keys and "learning_rate" in keys:
            raise TypeError(f"{where}: give either 'learning_rate' or its alias 'lr', not both")
        names = [k for k in self.defaults[self.convention] if k != "learning_rate"]
        for key, value in keys.items():
            if key in ("lr", "learning_rate"):
                rate = value
            elif key in names:
                hyper[key] = value
            elif key in PER_ARRAY:
                options[key] = value
            elif key == "convention" or any(f.name == key for f in OPTIONS):
                raise ValueError(f"{where}: {key!r} is an optimizer-wide option, the same for "
                                 "every parameter group: give it to the constructor (or set "
                                 "the attribute)")
            else:
                what = "keyword argument" if where.endswith(")") else "key"
                raise TypeError(f"{where} got an unexpected {what} {key!r} (it takes "
                                f"'learning_rate' or 'lr', the hyperparameters "
                                f"{', '.join(names)}, and the per-array options "
                                f"{', '.join(PER_ARRAY)})")
        return hyper, rate, options

    def _group_hyper(self, where: str, h: dict[str, Any], changes: dict[str, Any]
                     ) -> dict[str, Any]:
        """``h`` with ``changes`` (None: the default), checked; errors name ``where``."""
        defaults = self.defaults[self.convention]
        try:
            return self._checked_hyper({**h, **{k: defaults[k] if v is None else v
                                              for k, v in changes.items()}})
        except (TypeError, ValueError) as e:
            if not where:
                raise
            raise type(e)(f"{where}: {e}") from None

    # ---------------------------------------------------------------- arrays and counters
    @property
    def params(self) -> tuple[Array, ...]:
        """The parameter arrays, updated in place (the caller's own arrays), the groups'
        one after the other."""
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

    @property
    def param_groups(self) -> tuple[Mapping[str, Any], ...]:
        """Per parameter group, a read-only mapping of its ``params`` (its arrays) and every
        value it uses: ``learning_rate``, the hyperparameters and the per-array options (one
        value, or a list with one per array of the group).  A snapshot: change them with
        ``set_hyper(group=i, ...)``."""
        s = self._settings
        n = len(self._params)
        out = []
        for g in self._groups:
            options = {name: collapse(name, [per_array(name, getattr(s, name), n)[i]
                                             for i in g.indices]) for name in PER_ARRAY}
            out.append(MappingProxyType({"params": [self._params[i] for i in g.indices],
                                         "learning_rate": g.rate, **g.hyper, **options}))
        return tuple(out)

    # ---------------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> LearningRate:
        """The learning rate: a float or a schedule (callable of the step).  Setting it sets
        every group's; with groups whose rates differ, reading it is a ValueError (see
        ``param_groups``)."""
        rates = [g.rate for g in self._groups]
        if any(r is not rates[0] and (callable(r) or callable(rates[0]) or r != rates[0])
               for r in rates):
            raise ValueError("the parameter groups have different learning rates: read "
                             "each group's from param_groups")
        return rates[0]

    @learning_rate.setter
    def learning_rate(self, value: LearningRate | None) -> None:
        self._set_rate(self._groups, self._check_rate(value))

    def _check_rate(self, value: LearningRate | None) -> LearningRate:
        """A learning rate: None (the convention's default), a float >= 0 or a schedule."""
        if value is None:
            value = self.defaults[self.convention]["learning_rate"]
        if isinstance(value, type):
            raise TypeError(f"Invalid learning_rate: the class {value.__name__}; pass a float "
                            f"or a schedule (an instance, e.g. {value.__name__}(...))")
        if not callable(value):
            value = check_nonnegative(value, "learning_rate", label="learning rate")
        return value

    def _set_rate(self, groups: Sequence[_Group], value: LearningRate,
                  hypers: Sequence[dict[str, Any]] | None = None) -> None:
        """Give ``groups`` the checked rate ``value`` (their hyperparameters ``hypers``,
        default their own, for the momentum-cycling checks, made first)."""
        cyclers = momentum_cyclers(value) if callable(value) else []
        if cyclers:
            for h in hypers or [g.hyper for g in groups]:
                self._check_momentum_cycling(value, cyclers, h)
        schedule: Any = value
        free = callable(value) and _without_base(value)
        floors = getattr(value, "min_lr", None)
        if free and isinstance(floors, tuple) and len(floors) != len(self._groups):
            raise ValueError(f"{value!r} has {len(floors)} min_lr entries for "
                             f"{len(self._groups)} parameter groups")
        for g in groups:
            if not callable(value):
                g.base = value
            elif free and len(self._groups) == 1:
                schedule.bind_default(g.base)   # e.g. ReduceLROnPlateau() scales the base
            g.rate, g.free, g.cycles = value, free and len(self._groups) > 1, bool(cyclers)
        # the one group's rate and cycling, as the step reads them (None: several groups)
        self._learning_rate = self._groups[0].rate if len(self._groups) == 1 else None
        self._cycles_momentum = any(g.cycles for g in self._groups)

    def _check_momentum_cycling(self, schedule: object, cyclers: list[object],
                                h: Mapping[str, Any]) -> None:
        name = self.momentum_name
        if name is None:
            raise ValueError(f"{schedule!r} cycles momentum, but {type(self).__name__} has no "
                             "momentum: pass cycle_momentum=False")
        if name == "momentum" and h["momentum"] == 0:
            raise ValueError(f"{schedule!r} cycles momentum, but this {type(self).__name__} "
                             "has momentum=0: give it momentum > 0 (e.g. 0.9) or pass "
                             "cycle_momentum=False")
        low = [c for c in cyclers if getattr(c, "base_momentum", None) == 0]
        if name == "momentum" and low:
            raise ValueError(f"{low[0]!r} cycles momentum down to base_momentum=0, but "
                             f"{type(self).__name__}'s momentum buffer needs momentum > 0: "
                             "give it base_momentum > 0 or pass cycle_momentum=False")

    def _cycle_momentum(self, group: _Group, step: int) -> None:
        """Set this step's momentum / beta_1 of ``group`` from its schedule (OneCycle), if it
        cycles it (checked like the hyperparameter itself, before anything changes).  SGD's
        and RMSprop's momentum must stay > 0: their momentum buffer exists, and momentum 0
        would mean no buffer to a state dict or to the kernel's loop choice."""
        schedule: Any = group.rate
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
            group.hyper[name] = v

    def report(self, value: float) -> bool:
        """Tell a performance schedule (``ReduceLROnPlateau``) the monitored value, e.g. a
        validation loss once per epoch; returns True when it lowered the learning rate.
        Each schedule hears it once, however many groups share it."""
        updates = list({id(g.rate): u for g in self._groups
                        if (u := getattr(g.rate, "update", None)) is not None}.values())
        if not updates:
            raise TypeError(f"the learning rate {self._groups[0].rate!r} does not monitor a "
                            "value; report() is for ReduceLROnPlateau")
        return any([bool(update(value)) for update in updates])

    def _rate_at(self, index: int, step: int) -> float:
        """The learning rate of group number ``index`` at update number ``step``, checked."""
        group = self._groups[index]
        lr: Any = group.rate
        if not callable(lr):
            return float(lr)
        value = lr.scaled(group.base, index) if group.free else lr(step)
        try:
            return check_nonnegative(value, "learning_rate", label="learning rate")
        except (TypeError, ValueError):
            raise ValueError(f"the learning-rate schedule {lr!r} returned {value!r} at step "
                             f"{step}; expected a finite number >= 0") from None

    def learning_rate_at(self, step: int, group: int | None = None) -> float:
        """The learning rate used by update number ``step`` (counting from 0): that of
        parameter group ``group``, or with None the one of every group (a ValueError when
        the groups' rates differ there)."""
        if group is not None:
            if not (isinstance(group, numbers.Integral) and 0 <= group < len(self._groups)):
                raise ValueError(f"'group' must be an index from 0 to {len(self._groups) - 1}, "
                                 f"got {group!r}")
            return self._rate_at(int(group), step)
        rates = [self._rate_at(i, step) for i in range(len(self._groups))]
        if any(r != rates[0] for r in rates):
            raise ValueError(f"the parameter groups' learning rates differ at step {step}: "
                             "read each group's schedule from param_groups")
        return rates[0]

    @property
    def learning_rate_now(self) -> float:
        """The learning rate the next step will use."""
        return self.learning_rate_at(self.step_count)

    # ---------------------------------------------------------------- hyperparameters
    @property
    def hyper(self) -> Mapping[str, Any]:
        """The rule's hyperparameters, read-only (``set_hyper`` changes them); with groups
        whose hyperparameters differ, a ValueError (see ``param_groups``)."""
        h = self._groups[0].hyper
        if any(g.hyper != h for g in self._groups):
            raise ValueError("the parameter groups have different hyperparameters: read "
                             "each group's from param_groups")
        return MappingProxyType(h)

    def set_hyper(self, group: int | None = None, **changes: Any) -> None:
        """Change hyperparameters between steps, e.g. ``opt.set_hyper(beta_1=0.8)``.

        ``group``: None changes every parameter group, ``i`` group i only; besides the
        hyperparameters, the learning rate (``learning_rate`` or ``lr``) and the per-array
        options (``weight_decay``, ``l1``, ...) can be changed so, for the group's arrays.
        They are checked as the constructor checks them (None takes the default); an
        unknown name or an invalid value raises and changes nothing.  The new values are
        used from the next step on.  A change that the state arrays depend on (``amsgrad``,
        ``centered``, SGD's or RMSprop's momentum between 0 and nonzero, AdaGrad's
        ``initial_accumulator_value``) is refused, and so is the momentum or beta_1 that a
        schedule cycles (``OneCycle``).
        """
        if group is None:
            groups, where = self._groups, f"{type(self).__name__}.set_hyper()"
        else:
            if isinstance(group, bool) or not isinstance(group, numbers.Integral) or not (
                    0 <= group < len(self._groups)):
                raise ValueError(f"Invalid group: {group!r} (expected None or an int from 0 "
                                 f"to {len(self._groups) - 1}, an index of param_groups)")
            groups, where = [self._groups[group]], f"set_hyper(group={group})"
        hyper, rate, options = self._sort_keys(where, changes)
        if rate is not _UNSET:
            rate = self._check_rate(rate)
        cycles = [(g.cycles if rate is _UNSET else bool(
            callable(rate) and momentum_cyclers(rate))) for g in groups]
        if self.momentum_name in hyper and any(cycles):
            raise ValueError(f"{self.momentum_name} is cycled by the learning-rate schedule "
                             f"{next(g.rate for g in groups if g.cycles)!r}; pass "
                             "cycle_momentum=False to it to set it yourself")
        hypers = [self._group_hyper(where if len(self._groups) > 1 else "", g.hyper, hyper)
                  for g in groups]
        for g, h in zip(groups, hypers):
            if (set(self._state_names(h)) != set(self.state[g.indices[0]])
                    or any(h[k] != g.hyper[k] for k in self.state_hyper)):
                raise ValueError(f"set_hyper({', '.join(f'{k}={v!r}' for k, v in hyper.items())}) "
                                 "would change the optimizer's state arrays; build a new "
                                 "optimizer with it")
        settings, n = self._settings, len(self._params)
        indices = [i for g in groups for i in g.indices]
        for name, value in options.items():
            settings = replace(settings, **{name: with_entries(
                name, getattr(settings, name), n, indices, value, f"{where}[{name!r}]")})
        derived = self._derived(settings) if options else None
        if rate is not _UNSET:
            self._set_rate(groups, rate, hypers)    # checks first, then sets the rate
        # everything is valid: commit
        flags = [self._slot_flags(g.hyper) for g in groups]
        old = [dict(g.hyper) for g in groups]
        for g, h in zip(groups, hypers):
            g.hyper.update(h)           # in place: the plan and opt.hyper read these dicts
        rebuild = flags != [self._slot_flags(g.hyper) for g in groups]
        try:
            if options or rebuild:      # e.g. nesterov: another loop for the same state
                self._apply(settings, rebuild, derived)
        except BaseException:
            for g, h in zip(groups, old):
                g.hyper.update(h)
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
        """Set one option (for every array): everything is checked before anything
        changes."""
        self._apply(replace(self._settings, **{name: value}), name in ("l1", "bounds"))

    def _derived(self, settings: Settings) -> tuple[Any, Any, Any]:
        """What the arrays take from ``settings``, checked against them: (l1 strengths,
        bounds, the kernel's per-array options); every per-array option's length too."""
        n = len(self._params)
        for name in PER_ARRAY:
            per_array(name, getattr(settings, name), n)
        l1 = l1_strengths(settings.l1, self._params)
        return l1, box_bounds(settings.bounds, self._params), kernel_options(settings, l1)

    def _apply(self, settings: Settings, rebuild: bool = False,
               derived: tuple[Any, Any, Any] | None = None) -> None:
        """Make ``settings`` the optimizer's options, rebuilding the plan when ``rebuild``
        (per-coordinate l1 strengths or bounds, structural options); checked first."""
        l1, bounds, options = self._derived(settings) if derived is None else derived
        if rebuild:
            self._build_plan(l1, bounds, options)
        else:
            self._plan.set_options(options)
            self._options = options     # what a rebuilt plan takes (masks, pickles)
        self._settings = settings

    def _prune(self, step: int) -> None:
        """Recompute the masks from the current magnitudes of the arrays whose pruning
        schedule says so (already-pruned entries stay pruned, so the masks are nested); the
        arrays sharing a schedule are pruned together, arrays without one never."""
        s, params = self._settings, self.params
        entries = per_array("pruning", s.pruning, len(params))
        masks: list[Array | None] = list(self._masks)
        pruned = False
        for schedule in {id(e): e for e in entries if e is not None}.values():
            if not schedule.should_prune(step):
                continue
            idx = [i for i, e in enumerate(entries) if e is schedule]
            current = [None if (m := masks[i]) is None else m.reshape(params[i].shape)
                       for i in idx]
            new = _sparsity.prune_magnitude([params[i] for i in idx],
                                            schedule.sparsity_at(step),
                                            scope=s.pruning_scope, masks=current)
            for i, m in zip(idx, new):
                masks[i] = np.ascontiguousarray(m, dtype=np.uint8).reshape(-1)
            pruned = True
        if pruned:
            self._masks = tuple(masks)
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

    def _fresh_state(self, p: Array, h: dict[str, Any]) -> dict[str, Array]:
        return {name: np.zeros_like(p) for name in self._state_names(h)}

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _checked_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        """``h`` checked by the rule (``_check_hyper``), then refused if the convention is
        "keras" and a torch-only hyperparameter (``torch_only``) is not at its default:
        Keras's formulas have no place for it, so it would be silently ignored."""
        h = self._check_hyper(h)
        if self.convention == "keras":
            default = self.defaults["keras"]
            for name in self.torch_only:
                if h[name] != default[name]:
                    raise ValueError(f"Invalid {name}: {h[name]!r} ({name} is torch's; "
                                     f"convention='keras' has no {name} and takes only "
                                     f"{default[name]!r}: use convention='torch')")
        return h

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as plain Python/NumPy data (arrays are copies).
        With several parameter groups, ``param_groups`` holds each group's arrays (their
        indices), hyperparameters, learning rate (or schedule state) and per-array options
        (all but ``pruning``) in place of the one ``hyper`` and learning rate."""
        sd: dict[str, Any] = {
            "rule": self.rule,
            "convention": self.convention,
            "step": self.step_count,
            "skipped_steps": self.skipped_steps,
            "state": [{k: v.copy() for k, v in st.items()} for st in self.state],
            "masks": [None if m is None else m.reshape(p.shape).copy()
                      for m, p in zip(self.masks, self.params)],
        }
        carries = self._progress.carries
        if len(self._groups) == 1:
            sd.update(self._group_state(self._groups[0], carries[0]))
            return sd
        groups = self.param_groups
        sd["param_groups"] = [
            {"params": list(g.indices), **self._group_state(g, carry),
             "options": {name: groups[k][name] for name in PER_ARRAY if name != "pruning"}}
            for k, (g, carry) in enumerate(zip(self._groups, carries))]
        return sd

    def _group_state(self, g: _Group, carry: float) -> dict[str, Any]:
        """A group's hyperparameters, learning rate or schedule state, carried number."""
        lr: Any = g.rate
        sd: dict[str, Any] = {"hyper": dict(g.hyper),
                              "learning_rate": lr if not callable(lr) else None}
        if callable(lr):
            sd["schedule_kind"] = type(lr).__name__
            if hasattr(lr, "state_dict"):
                sd["schedule"] = lr.state_dict()
        if self.carry_name is not None:
            sd[self.carry_name] = carry
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` exactly; validates all of it before changing anything
        (a bad state dict raises and leaves the optimizer as it was) and never mutates it.
        Its parameter groups must be this optimizer's (the same arrays in each).

        The learning rate: a state dict saved with a constant rate restores that rate (onto
        an optimizer with a constant rate); one saved with a schedule restores the
        schedule's position onto the optimizer's own schedule, which must be of the same
        type (build the optimizer with it).  A mismatch is a ValueError."""
        saved = _check_state_dict(self, state_dict)
        entries = state_dict.get("param_groups", [state_dict])
        for g, entry in zip(self._groups, entries):
            schedule: Any = g.rate
            if "schedule" in entry and hasattr(schedule, "load_state_dict"):
                schedule.load_state_dict(entry["schedule"])  # validates before it changes
        # everything is valid: commit
        for g, h in zip(self._groups, saved.hypers):
            g.hyper.update(h)           # in place: the plan and opt.hyper read these dicts
        self._state, self._masks = saved.state, saved.masks
        self._apply(saved.settings, rebuild=True)   # the plan, with the new state and masks
        self.step_count, self.skipped_steps = saved.step, saved.skipped_steps
        if saved.carries is not None:
            self._progress.carries = tuple(saved.carries)
        for g, lr in zip(self._groups, saved.rates):
            if lr is not None:
                self._set_rate([g], lr)

    def _build_plan(self, l1: list[tuple[float, Array]] | None = None,
                    bounds: list[tuple[Array, Array]] | None = None,
                    options: list[tuple[float, float, float, float, float]] | None = None
                    ) -> None:
        """Build the kernel plan: every parameter array bound with its state, mask, l1
        strengths and bounds into a kernel slot (checked once, so a step passes only the
        gradient), tagged with its group, whose hyperparameters the plan reads.  Rebuilt
        whenever the masks, the state arrays, or (given here) the l1 strengths or bounds
        change; nothing is changed if building it fails."""
        l1 = self._l1 if l1 is None else l1
        bounds = self._bounds if bounds is None else bounds
        options = self._options if options is None else options
        flats = [flat(p) for p in self.params]
        keras = self.convention == "keras"
        group_of = [0] * len(flats)
        for k, g in enumerate(self._groups):
            for i in g.indices:
                group_of[i] = k
        slots = []
        for p, st, mask, (_, l1w), (lo, hi), k in zip(flats, self.state, self.masks, l1,
                                                      bounds, group_of):
            arrays = [flat(st[k]) if k in st else EMPTY[p.dtype] for k in self.state_slots]
            s1, s2, s3 = arrays + [EMPTY[p.dtype]] * (3 - len(arrays))
            slots.append(_dispatch.Slot(self.rule, p, s1, s2, s3,
                                        EMPTY_MASK if mask is None else mask, l1w, lo, hi,
                                        keras=keras, **self._slot_flags(self._groups[k].hyper)))
        plan = _dispatch.Plan(slots, [p.shape for p in self.params],
                              [g.hyper for g in self._groups], group_of)
        plan.set_options(options)
        self._flat, self._l1, self._bounds, self._options = flats, l1, bounds, options
        self._plan = plan

    def __getstate__(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        del d["_flat"], d["_plan"], d["_progress"]  # views and pointers: rebuilt on unpickling
        d["_groups"] = [g.copy() for g in self._groups]     # a copy's own hyperparameters
        # plain containers (a mapping proxy does not pickle) and the counters' values
        d["params"], d["masks"] = list(d.pop("_params")), list(d.pop("_masks"))
        d["state"] = [dict(st) for st in d.pop("_state")]
        # (the number the rule carries from step to step is Nadam's product of momenta)
        d["step_count"], d["carries"] = self._progress.step, self._progress.carries
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        d = dict(d)
        self._params, self._masks = tuple(d.pop("params")), tuple(d.pop("masks"))
        self._state = tuple(MappingProxyType(dict(st)) for st in d.pop("state"))
        carries = d.pop("carries")
        self._progress = _dispatch.Progress(len(carries))
        self._progress.step, self._progress.carries = d.pop("step_count"), carries
        self.__dict__.update(d)
        self._build_plan()

    def __repr__(self) -> str:
        """The rule, its learning rate and hyperparameters (or the number of groups), the
        convention, and the options that differ from their defaults."""
        if len(self._groups) == 1:
            parts = [f"learning_rate={self._groups[0].rate!r}"]
            parts += [f"{k}={v!r}" for k, v in self._groups[0].hyper.items()]
        else:
            parts = [f"<{len(self._groups)} parameter groups>"]
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
        n = len(grads)
        limits = ([s.global_clipnorm] * n if s.global_clipnorm is not None
                  else per_array("clipnorm", s.clipnorm, n))
        threads = _dispatch.resolve_threads(s.num_threads)
        sq = [_dispatch.sum_squares(flat(g), m if m is not None else EMPTY_MASK, threads)
              if c is not None else 0.0 for g, m, c in zip(grads, self.masks, limits)]
        # c / max(norm, c), written so that c = inf (no clipping) gives 1, not inf / inf
        if s.global_clipnorm is None:
            return [1.0 if c is None or math.sqrt(q) <= c else c / math.sqrt(q)
                    for q, c in zip(sq, limits)]
        c = s.global_clipnorm
        norm = math.sqrt(math.fsum(sq))
        return [1.0 if norm <= c else c / norm] * n

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
            lr: Any = self._learning_rate   # the one group's rate (None: several groups)
            if lr is None:
                lr = [self._rate_at(i, step) for i in range(len(self._groups))]
                for g in self._groups:
                    if g.cycles:
                        self._cycle_momentum(g, step)
            elif callable(lr):
                lr = self._rate_at(0, step)
                if self._cycles_momentum:
                    self._cycle_momentum(self._groups[0], step)
            scales = None                   # per array, the norm-clipping scale: 1
            if not plain:
                if s.prunes:
                    self._prune(step)
                if s.clips_norm:
                    scales = self._grad_scales(grads)
            # advances step_count (and the carried numbers) right after the kernels
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

    def _slot_flags(self, h: Mapping[str, Any]) -> dict[str, bool]:
        """The rule's structural options for hyperparameters ``h``, fixed for the kernel
        slot (see _dispatch.Slot)."""
        return {}

    def _prox_scale(self) -> float:
        """Factor on the l1 threshold lr * l1 / D (the kernel plan's, for the first group):
        1, or (1 - dampening) / (1 - momentum) for heavy-ball momentum, whose steps are that
        much longer at a fixed point; so that fixed points solve the l1-penalized problem with
        the l1 given, momentum or not."""
        h = self._groups[0].hyper
        mu: float = h.get("momentum", 0.0)
        if not 0.0 < mu < 1.0:
            return 1.0
        damp: float = h.get("dampening", 0.0)
        return (1.0 - damp) / (1.0 - mu)

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
    hypers: list[dict[str, Any]]    # per group
    state: tuple[MappingProxyType[str, Array], ...]
    masks: tuple[Array | None, ...]
    step: int
    skipped_steps: int
    rates: list[float | None]       # per group, a constant rate to restore, or None
    carries: list[float] | None     # per group, the rule's carried number (carry_name)
    settings: Settings              # the options (a group layout's per-array options)


def _check_state_dict(opt: Optimizer, sd: Any) -> _Saved:
    """``load_state_dict``'s checks: ``sd`` against ``opt`` (its rule, convention, groups,
    hyperparameters, state arrays, masks, counters and learning rates), without changing
    either; its state arrays are copied."""
    if not isinstance(sd, dict):
        raise TypeError(f"'state_dict' must be a dict, got {type(sd).__name__}")
    groups = opt._groups
    layout = "hyper" if len(groups) == 1 else "param_groups"
    missing = {"rule", "convention", "step", layout, "state", "masks"} - set(sd)
    if len(groups) == 1 and "param_groups" in sd:
        raise ValueError(f"'state_dict' holds {len(sd['param_groups'])} parameter groups, "
                         "this optimizer has 1")
    if layout in missing and {"hyper", "param_groups"} & set(sd):
        raise ValueError(f"'state_dict' holds one parameter group, this optimizer has "
                         f"{len(groups)}")
    if missing:
        raise ValueError(f"'state_dict' lacks {sorted(missing)}")
    if sd["rule"] != opt.rule:
        raise ValueError(f"'state_dict' is for rule {sd['rule']!r}, not {opt.rule!r}")
    if sd["convention"] != opt.convention:
        raise ValueError(f"'state_dict' uses convention {sd['convention']!r}, this optimizer "
                         f"{opt.convention!r}")
    entries = [sd] if len(groups) == 1 else sd["param_groups"]
    if len(groups) > 1 and (not isinstance(entries, (list, tuple)) or len(entries) != len(
            groups) or any(not isinstance(e, dict) or e.get("params") != list(g.indices)
                           for e, g in zip(entries, groups))):
        raise ValueError(f"'state_dict' param_groups must be this optimizer's groups: "
                         f"{len(groups)} dicts whose 'params' are "
                         f"{[list(g.indices) for g in groups]}")
    expected = [k for k in opt.defaults[opt.convention] if k != "learning_rate"]
    hypers, rates, carries = [], [], []
    settings, n = opt._settings, len(opt.params)
    for k, (e, g) in enumerate(zip(entries, groups)):
        where = "'state_dict'" if len(groups) == 1 else f"'state_dict' param_groups[{k}]"
        if not isinstance(e.get("hyper"), dict):
            raise TypeError(f"{where} hyper must be a dict, got {type(e.get('hyper')).__name__}")
        if set(e["hyper"]) != set(expected):
            raise ValueError(f"{where} hyper has {sorted(e['hyper'])}, expected "
                             f"{sorted(expected)}")
        hypers.append(opt._checked_hyper(dict(e["hyper"])))
        rates.append(_saved_learning_rate(e, g.rate))
        if opt.carry_name is not None:
            if opt.carry_name not in e:
                raise ValueError(f"{where} lacks {opt.carry_name!r}")
            carries.append(check_range(e[opt.carry_name], opt.carry_name, high=1.0))
        if len(groups) > 1:
            options = e.get("options")
            names = [name for name in PER_ARRAY if name != "pruning"]
            if not isinstance(options, dict) or set(options) != set(names):
                raise ValueError(f"{where} options must be a dict of {names}")
            for name in names:
                settings = replace(settings, **{name: with_entries(
                    name, getattr(settings, name), n, g.indices, options[name],
                    f"{where}['options'][{name!r}]")})
    params = opt.params
    for key in ("state", "masks"):
        if not isinstance(sd[key], (list, tuple)):
            raise TypeError(f"'state_dict' {key} must be a list with one entry per "
                            f"parameter array, got {type(sd[key]).__name__}")
        if len(sd[key]) != len(params):
            raise ValueError(f"'state_dict' holds {key} for {len(sd[key])} arrays, this "
                             f"optimizer has {len(params)}")
    for i, (st, p) in enumerate(zip(sd["state"], params)):
        names = opt._state_names(next(h for h, g in zip(hypers, groups) if i in g.indices))
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
        count = sd.get(key, 0)
        if not _is_count(count):
            raise ValueError(f"'state_dict' {key} must be an int >= 0 (and < 2**63 - 1), "
                             f"got {count!r}")
        counts.append(int(count))
    masks = check_masks(sd["masks"], params)
    opt._derived(settings)              # the options fit the arrays
    state = tuple(MappingProxyType({k: np.array(v, copy=True, order="C") for k, v in st.items()})
                  for st in sd["state"])
    return _Saved(hypers, state, masks, counts[0], counts[1], rates,
                  carries if opt.carry_name is not None else None, settings)


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

    ::

        torch:  b = momentum * b + (1 - dampening) * g  (b = g at the first step);
                param -= lr * (g + momentum * b if nesterov else b)
        keras:  v = momentum * v - lr * g;  param += momentum * v - lr * g if nesterov else v

    Defaults (both conventions): learning_rate=0.01, momentum=0, nesterov=False,
    dampening=0.
    (torch >= 2 itself defaults SGD's lr to 1e-3; fastopt keeps the book's 0.01.)

    Parameters
    ----------
    {params}
    momentum : float, optional
        Momentum factor mu (0: plain SGD): >= 0 for torch, in [0, 1] for keras (Keras's
        own check).
    nesterov : bool, optional
        Nesterov momentum (torch: needs momentum > 0 and dampening 0).  Keras takes it
        with momentum 0, and then it is plain SGD (both formulas above reduce to
        param -= lr * g).
    dampening : float, optional
        torch's dampening in [0, 1] of the gradient added to the momentum buffer (torch
        convention only).
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
    torch_only = ("dampening",)
    defaults = {c: {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False,
                    "dampening": 0.0} for c in CONVENTIONS}

    def __init__(self, params: Arrays, learning_rate: LearningRate | None = None,
                 momentum: float | None = None, nesterov: bool | None = None,
                 dampening: float | None = None, **common: Any) -> None:
        super().__init__(params, learning_rate, momentum=momentum, nesterov=nesterov,
                         dampening=dampening, **common)

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        h["momentum"] = check_nonnegative(h["momentum"], "momentum")
        h["nesterov"] = check_bool(h["nesterov"], "nesterov")
        h["dampening"] = check_range(h["dampening"], "dampening", high=1.0)
        if self.convention == "keras":
            if h["momentum"] > 1:
                raise ValueError(f"Invalid momentum value: {h['momentum']} (convention="
                                 "'keras' takes a momentum in [0, 1], as Keras does)")
        elif h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        return h

    def _state_names(self, h: dict[str, Any]) -> list[str]:
        return ["momentum_buffer"] if h["momentum"] != 0 else []

    def _slot_flags(self, h: Mapping[str, Any]) -> dict[str, bool]:
        return {"momentum": h["momentum"] != 0, "nesterov": h["nesterov"]}


class Adagrad(Optimizer):
    """AdaGrad: per-coordinate learning rates from the sum of squared gradients.

    ::

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
        torch's learning-rate decay: convention="torch" only (under "keras" anything but
        0 is a ValueError, since Keras's formula has no such decay).
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
    torch_only = ("lr_decay",)
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

    def _fresh_state(self, p: Array, h: dict[str, Any]) -> dict[str, Array]:
        return {"sum": np.full_like(p, h["initial_accumulator_value"])}


class RMSprop(Optimizer):
    """RMSprop: divide by a running root mean square of the gradients.

    ::

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

    def _slot_flags(self, h: Mapping[str, Any]) -> dict[str, bool]:
        return {"centered": h["centered"], "momentum": h["momentum"] != 0}


def _check_betas(h: dict[str, Any]) -> dict[str, Any]:
    h["beta_1"] = check_range(h["beta_1"], "beta_1", high=1.0, high_open=True,
                              label="beta parameter at index 0")
    h["beta_2"] = check_range(h["beta_2"], "beta_2", high=1.0, high_open=True,
                              label="beta parameter at index 1")
    h["epsilon"] = check_nonnegative(h["epsilon"], "epsilon")
    return h


class Adam(Optimizer):
    """Adam (and AMSGrad with ``amsgrad=True``).

    ::

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

    def _slot_flags(self, h: Mapping[str, Any]) -> dict[str, bool]:
        return {"amsgrad": h["amsgrad"]}


class Adamax(Optimizer):
    """AdaMax: Adam with the infinity norm.

    ::

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

    ::

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

    carry_name = "mu_product"

    @property
    def mu_product(self) -> float | tuple[float, ...]:
        """The product of the momenta mu_1 ... mu_t of the steps taken (1.0 before the
        first); it advances with ``step_count``.  Each parameter group has its own (it
        depends on beta_1 and momentum_decay): with several, a tuple of one per group
        unless they are equal.  Setting it (a float) sets every group's."""
        carries = self._progress.carries
        return carries[0] if len(set(carries)) == 1 else carries

    @mu_product.setter
    def mu_product(self, value: float) -> None:
        self._progress.carry = check_range(value, "mu_product", high=1.0)

    def _check_hyper(self, h: dict[str, Any]) -> dict[str, Any]:
        h = _check_betas(h)
        h["momentum_decay"] = check_nonnegative(h["momentum_decay"], "momentum_decay")
        return h

    def _state_names(self, h: dict[str, Any]) -> list[str]:
        return ["exp_avg", "exp_avg_sq"]
