"""The options every optimizer takes besides its rule's hyperparameters.

``Settings`` declares each option once, as a field: its default, its check and its
documentation.  From the fields follow the optimizer's constructor keywords, its settable
attributes (``opt.l1 = 0.1``), its ``repr`` (which shows the options that differ from their
defaults) and the options' entries in ``Optimizer``'s docstring.  An optimizer holds one
frozen ``Settings``; setting an option replaces it with ``dataclasses.replace``, which runs
the checks again, so an invalid value raises before anything changes.

``l1`` and ``bounds`` are given per parameter array, so they are checked against the arrays:
``l1_strengths`` and ``box_bounds`` turn them into the arrays the kernel plan binds, as
``check_masks`` does for ``set_masks``.
"""

from __future__ import annotations

import math
import numbers
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any

import numpy as np

from fastopt._threads import check_num_threads
from fastopt._validation import (EMPTY, Array, check_bool, check_nonnegative, check_range,
                                 coordinate_array, one_per_array)
from fastopt.sparsity import SCOPES as PRUNING_SCOPES

NAN_POLICIES = ("propagate", "skip", "raise")
CLIPPINGS = ("clipvalue", "clipnorm", "global_clipnorm")


def _check_clip(value: Any, name: str) -> float | None:
    """A clipping threshold > 0, or None for no clipping (+inf clips nothing either)."""
    return None if value is None else check_range(value, name, low_open=True)


def _check_nan_policy(value: Any, name: str) -> str:
    if value not in NAN_POLICIES:
        raise ValueError(f"Invalid {name}: {value!r} (expected one of {', '.join(NAN_POLICIES)})")
    return str(value)


def _check_pruning(value: Any, name: str) -> Any:
    if isinstance(value, type):
        raise TypeError(f"'{name}' must be a pruning schedule, got the class "
                        f"{value.__name__}: pass an instance, {value.__name__}(...)")
    if value is not None and not (hasattr(value, "should_prune")
                                  and hasattr(value, "sparsity_at")):
        raise TypeError(f"'{name}' must be a pruning schedule such as "
                        f"fastopt.sparsity.PolynomialDecay, got {type(value).__name__}")
    return value


def _check_pruning_scope(value: Any, name: str) -> str:
    if value not in PRUNING_SCOPES:
        raise ValueError(f"Invalid {name}: {value!r} (expected 'per_array' or 'global')")
    return str(value)


def _check_threads(value: Any, name: str) -> int | None:
    return check_num_threads(value)


def _option(default: Any, check: Callable[[Any, str], Any] | None, doc: str, *,
            repr: bool = True) -> Any:
    """A field of Settings: its default, ``check(value, name)`` returning the value to keep
    (None for the per-array options, checked against the parameter arrays: l1_strengths,
    box_bounds), and its numpydoc Parameters entry.  ``repr=False`` leaves it out of the
    optimizer's repr."""
    return field(default=default, repr=repr,
                 metadata={"check": check, "doc": textwrap.dedent(doc).strip("\n")})


def _derived() -> Any:
    """A field of Settings computed from the options (not an option itself)."""
    return field(init=False, repr=False, compare=False)


@dataclass(frozen=True, eq=False)
class Settings:
    """An optimizer's options, checked; see each field's documentation.

    The options mirror the kernel's per-element extras: ``maximize`` is its sign,
    ``clipvalue`` its clip, ``clipnorm`` and ``global_clipnorm`` its scale (computed per step
    from the gradients' norms), ``l2`` and ``weight_decay`` its l2 and decay, ``l1`` its l1
    step (per-coordinate strengths and the ``bounds`` are bound into the plan's slots).
    ``nan_policy``, ``pruning``, ``pruning_scope`` and ``num_threads`` act in Python around
    the kernels' call.  The fields after the options are what every step reads.
    """

    weight_decay: float = _option(0.0, check_nonnegative, """
        weight_decay : float
            Decoupled weight decay: ``param -= learning_rate * weight_decay * param``.""")
    l2: float = _option(0.0, check_nonnegative, """
        l2 : float
            Coupled L2: ``grad += l2 * param`` (torch.optim's ``weight_decay``).""")
    l1: Any = _option(0.0, None, """
        l1 : float, or a list with one float or array per parameter array
            Proximal l1 step after the update, ``param = sign(param) * max(|param| - tau, 0)``
            with ``tau = learning_rate * l1 / D`` (D: the rule's per-coordinate denominator,
            times 1 - momentum for SGD and RMSprop momentum, whose steps are 1 / (1 - momentum)
            longer at a fixed point; so the fixed points solve the problem with this l1);
            gives exact zeros.""")
    clipvalue: float | None = _option(None, _check_clip, """
        clipvalue : float or None
            Clip each gradient entry to [-clipvalue, clipvalue].  At most one of
            ``clipvalue``, ``clipnorm`` and ``global_clipnorm`` is set (None: off).""")
    clipnorm: float | None = _option(None, _check_clip, """
        clipnorm : float or None
            Clip each array's gradient norm (Keras' meaning:
            ``g *= clipnorm / max(norm, clipnorm)``).""")
    global_clipnorm: float | None = _option(None, _check_clip, """
        global_clipnorm : float or None
            Clip the norm of all the arrays' gradients together, as ``clipnorm`` clips
            each array's.""")
    maximize: bool = _option(False, check_bool, """
        maximize : bool
            Ascend instead of descend.""")
    bounds: Any = _option(None, None, """
        bounds : (lower, upper) or a list of them, one per parameter array
            Project onto the box after every step; each bound is a scalar or an array that
            broadcasts to the parameter's shape (+-inf for none).""", repr=False)
    nan_policy: str = _option("propagate", _check_nan_policy, """
        nan_policy : {"propagate", "skip", "raise"}
            What a non-finite gradient entry does: flow into the update (like torch and
            Keras), skip the whole step leaving params and state bit-identical
            (``skipped_steps`` counts them), or raise ``FloatingPointError`` with params
            untouched.""")
    pruning: Any = _option(None, _check_pruning, """
        pruning : PolynomialDecay or ConstantSparsity
            Gradual magnitude pruning (``fastopt.sparsity``): at each step the schedule marks
            for pruning, the masks are recomputed so that the largest ``|param|`` are kept,
            then the step applies them (pruned entries and their state become exactly 0).""")
    pruning_scope: str = _option("per_array", _check_pruning_scope, """
        pruning_scope : {"per_array", "global"}
            Keep the target fraction in every array (TF-MOT's behaviour), or over all arrays
            together with one magnitude threshold.""")
    num_threads: int | None = _option(None, _check_threads, """
        num_threads : int or None
            OpenMP threads for large arrays (steps of 65,536 elements or more over all the
            arrays; smaller ones run on the calling thread): an int from 1 to 4 times the
            number of CPUs (at least 64, within ``OMP_THREAD_LIMIT``; more is a ValueError),
            or None for OpenMP's current maximum, read at each step and capped the same way
            (``OMP_NUM_THREADS``, ``threadpoolctl.threadpool_limits``; libgomp keeps that
            maximum per thread, so a limit set in one thread does not reach a step taken in
            another).  Results are the same for any number of threads.""")

    # (sign, clip, l2, weight_decay): the kernel's extras shared by every array
    extras: tuple[float, float, float, float] = _derived()
    # any parameter array has an l1 step (a nonzero strength, or per-coordinate strengths)
    uses_l1: bool = _derived()
    # nothing for the step to do in Python: no non-finite check first, no pruning, no norm
    # clipping, no l1 (whose thresholds depend on the momentum)
    plain: bool = _derived()

    def __post_init__(self) -> None:
        given = [name for name in CLIPPINGS if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"Only one of clipvalue, clipnorm and global_clipnorm can be set; "
                             f"got {' and '.join(given)}")
        for f in OPTIONS:
            check = f.metadata["check"]
            if check is not None:
                object.__setattr__(self, f.name, check(getattr(self, f.name), f.name))
        entries = self.l1 if isinstance(self.l1, (list, tuple)) else [self.l1]
        uses_l1 = any(_coordinates(v) or v != 0 for v in entries)
        object.__setattr__(self, "extras", (
            -1.0 if self.maximize else 1.0,
            math.inf if self.clipvalue is None else self.clipvalue, self.l2, self.weight_decay))
        object.__setattr__(self, "uses_l1", uses_l1)
        object.__setattr__(self, "plain", (
            self.nan_policy == "propagate" and self.pruning is None and self.clipnorm is None
            and self.global_clipnorm is None and not uses_l1))


OPTIONS: tuple[Field[Any], ...] = tuple(f for f in fields(Settings) if f.init)


def option_doc(name: str) -> str:
    """The documentation of option ``name``: its Parameters entry without the first line."""
    doc: str = next(f for f in OPTIONS if f.name == name).metadata["doc"]
    return textwrap.dedent(doc.split("\n", 1)[1])


def _coordinates(l1: Any) -> bool:
    """Whether an entry of ``l1`` gives per-coordinate strengths (an array), not one."""
    return not isinstance(l1, numbers.Real)


def l1_strengths(l1: Any, params: Sequence[Array]) -> list[tuple[float, Array]]:
    """Per parameter array: (scalar strength, per-coordinate strengths or an empty array)."""
    strengths: list[tuple[float, Array]] = []
    for i, (v, p) in enumerate(zip(one_per_array(l1, len(params), "l1"), params)):
        name = f"l1[{i}]" if isinstance(l1, (list, tuple)) else "l1"
        if not _coordinates(v):
            strengths.append((check_nonnegative(v, name, label="l1 value"), EMPTY[p.dtype]))
        else:
            w = coordinate_array(v, p, name)
            if not np.all((w >= 0) & (w < np.inf)):      # also rejects NaN
                raise ValueError(f"Invalid l1 value: '{name}' must be finite and >= 0 "
                                 "everywhere")
            strengths.append((1.0, w))
    return strengths


def box_bounds(bounds: Any, params: Sequence[Array]) -> list[tuple[Array, Array]]:
    """Per parameter array: (lower, upper) as flat arrays of its size, or empty arrays when
    unbounded."""
    if bounds is None:
        return [(EMPTY[p.dtype], EMPTY[p.dtype]) for p in params]
    n = len(params)
    if n == 1 and isinstance(bounds, tuple) and len(bounds) == 2:
        bounds = [bounds]
    checked = []
    for i, (b, p) in enumerate(zip(one_per_array(bounds, n, "bounds"), params)):
        if not (isinstance(b, (tuple, list)) and len(b) == 2):
            raise ValueError(f"'bounds[{i}]' must be a (lower, upper) pair")
        lo = coordinate_array(-np.inf if b[0] is None else b[0], p, f"bounds[{i}][0]")
        hi = coordinate_array(np.inf if b[1] is None else b[1], p, f"bounds[{i}][1]")
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
            raise ValueError(f"'bounds[{i}]' contains NaN")
        if np.any(lo > hi):
            raise ValueError(f"'bounds[{i}]' is infeasible: an upper bound is less than "
                             "the corresponding lower bound")
        checked.append((lo, hi))
    return checked


def check_masks(masks: Any, params: Sequence[Array]) -> tuple[Array | None, ...]:
    """Pruning masks (None, or one array or None per parameter array, of bools or real
    numbers, nonzero = keep) as flat uint8 arrays (or None)."""
    n = len(params)
    masks = one_per_array(masks, n, "masks") if masks is not None else [None] * n
    out: list[Array | None] = []
    for i, (m, p) in enumerate(zip(masks, params)):
        if m is None:
            out.append(None)
            continue
        m = np.asarray(m)
        if m.dtype.kind not in "biuf":
            raise TypeError(f"'masks[{i}]' has dtype {m.dtype}; a mask holds bools or "
                            "real numbers (nonzero = keep)")
        if m.shape != p.shape:
            raise ValueError(f"'masks[{i}]' has shape {m.shape}, expected {p.shape}")
        out.append(np.ascontiguousarray(m != 0, dtype=np.uint8).reshape(-1))
    return tuple(out)
