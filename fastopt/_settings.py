"""The options every optimizer takes besides its rule's hyperparameters.

``Settings`` declares each option once, as a field: its default, its check and its
documentation.  From the fields follow the optimizer's constructor keywords, its settable
attributes (``opt.l1 = 0.1``), its ``repr`` (which shows the options that differ from their
defaults) and the options' entries in ``Optimizer``'s docstring.  An optimizer holds one
frozen ``Settings``; setting an option replaces it with ``dataclasses.replace``, which runs
the checks again, so an invalid value raises before anything changes.

The per-array options (``PER_ARRAY``: weight_decay, l2, l1, clipvalue, clipnorm, maximize,
bounds, pruning) follow one rule: one value for every parameter array, or a list or tuple
with one entry per array, None meaning off for that array (``per_array`` expands a value,
``collapse`` gives one back, ``with_entries`` replaces some arrays' entries, as parameter
groups do).  Their entries are checked here; ``l1`` and ``bounds`` are also checked against
the arrays: ``l1_strengths`` and ``box_bounds`` turn them into the arrays the kernel plan
binds, as ``check_masks`` does for ``set_masks``; ``kernel_options`` gives each array's
fused kernel options.
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
            repr: bool = True, per_array: bool = False) -> Any:
    """A field of Settings: its default, ``check(value, name)`` returning the value to keep
    (None for the options checked against the parameter arrays: l1_strengths,
    box_bounds), and its numpydoc Parameters entry.  ``repr=False`` leaves it out of the
    optimizer's repr; ``per_array=True`` makes it a per-array option (see the module)."""
    return field(default=default, repr=repr,
                 metadata={"check": check, "doc": textwrap.dedent(doc).strip("\n"),
                           "per_array": per_array})


def _derived() -> Any:
    """A field of Settings computed from the options (not an option itself)."""
    return field(init=False, repr=False, compare=False)


@dataclass(frozen=True, eq=False)
class Settings:
    """An optimizer's options, checked; see each field's documentation.

    The options mirror the kernel's per-element extras: ``maximize`` is its sign,
    ``clipvalue`` its clip, ``clipnorm`` and ``global_clipnorm`` its scale (computed per step
    from the gradients' norms), ``l2`` and ``weight_decay`` its l2 and decay, ``l1`` its l1
    step (``kernel_options`` gives them per array, kept in the plan; per-coordinate
    strengths and the ``bounds`` are bound into the plan's slots).
    ``nan_policy``, ``pruning``, ``pruning_scope`` and ``num_threads`` act in Python around
    the kernels' call.  The fields after the options are what every step reads.
    """

    weight_decay: Any = _option(0.0, check_nonnegative, """
        weight_decay : float, or a list with one float or None per parameter array
            Decoupled weight decay: ``param -= learning_rate * weight_decay * param``.
            Like every per-array option (``l2``, ``l1``, ``clipvalue``, ``clipnorm``,
            ``maximize``, ``bounds``, ``pruning``): one value for every array, or one entry
            per array, None meaning off for that array.""", per_array=True)
    l2: Any = _option(0.0, check_nonnegative, """
        l2 : float, or a list with one float or None per parameter array
            Coupled L2: ``grad += l2 * param`` (torch.optim's ``weight_decay``).""",
                      per_array=True)
    l1: Any = _option(0.0, None, """
        l1 : float, or a list with one float, array or None per parameter array
            Proximal l1 step after the update, ``param = sign(param) * max(|param| - tau, 0)``
            with ``tau = learning_rate * l1 / D`` (D: the rule's per-coordinate denominator,
            times 1 - momentum for SGD and RMSprop momentum, whose steps are 1 / (1 - momentum)
            longer at a fixed point; so the fixed points solve the problem with this l1);
            gives exact zeros.""", per_array=True)
    clipvalue: Any = _option(None, _check_clip, """
        clipvalue : float or None, or a list with one per parameter array
            Clip each gradient entry to [-clipvalue, clipvalue].  At most one of
            ``clipvalue``, ``clipnorm`` and ``global_clipnorm`` is set (None: off).""",
                             per_array=True)
    clipnorm: Any = _option(None, _check_clip, """
        clipnorm : float or None, or a list with one per parameter array
            Clip each array's gradient norm (Keras' meaning:
            ``g *= clipnorm / max(norm, clipnorm)``).""", per_array=True)
    global_clipnorm: float | None = _option(None, _check_clip, """
        global_clipnorm : float or None
            Clip the norm of all the arrays' gradients together, as ``clipnorm`` clips
            each array's.""")
    maximize: Any = _option(False, check_bool, """
        maximize : bool, or a list with one per parameter array
            Ascend instead of descend.""", per_array=True)
    bounds: Any = _option(None, None, """
        bounds : (lower, upper) or a list of them (or None), one per parameter array
            Project onto the box after every step; each bound is a scalar or an array that
            broadcasts to the parameter's shape (+-inf for none).""", repr=False,
                          per_array=True)
    nan_policy: str = _option("propagate", _check_nan_policy, """
        nan_policy : {"propagate", "skip", "raise"}
            What a non-finite gradient entry does: flow into the update (like torch and
            Keras), skip the whole step leaving params and state bit-identical
            (``skipped_steps`` counts them), or raise ``FloatingPointError`` with params
            untouched.""")
    pruning: Any = _option(None, _check_pruning, """
        pruning : PolynomialDecay or ConstantSparsity, or a list with one (or None) per array
            Gradual magnitude pruning (``fastopt.sparsity``): at each step the schedule marks
            for pruning, the masks are recomputed so that the largest ``|param|`` are kept,
            then the step applies them (pruned entries and their state become exactly 0).
            Arrays given None are never pruned; the arrays sharing one schedule are pruned
            together by it (``pruning_scope="global"``: one threshold over those arrays).""",
                          per_array=True)
    pruning_scope: str = _option("per_array", _check_pruning_scope, """
        pruning_scope : {"per_array", "global"}
            Keep the target fraction in every array (TF-MOT's behaviour), or over all the
            arrays a schedule prunes together with one magnitude threshold.""")
    num_threads: int | None = _option(None, _check_threads, """
        num_threads : int or None
            OpenMP threads for large arrays (steps of 65,536 elements or more over all the
            arrays; smaller ones run on the calling thread): an int from 1 to 4 times the
            number of CPUs (at least 64, within ``OMP_THREAD_LIMIT``; more is a ValueError),
            or None for OpenMP's current maximum, read at each step and capped the same way
            (``OMP_NUM_THREADS``, ``threadpoolctl.threadpool_limits``; libgomp keeps that
            maximum per thread, so a limit set in one thread does not reach a step taken in
            another).  Results are the same for any number of threads.""")

    # any parameter array has an l1 step (a nonzero strength, or per-coordinate strengths)
    uses_l1: bool = _derived()
    # any parameter array is pruned; any gradient's norm is clipped
    prunes: bool = _derived()
    clips_norm: bool = _derived()
    # nothing for the step to do in Python: no non-finite check first, no pruning, no norm
    # clipping
    plain: bool = _derived()

    def __post_init__(self) -> None:
        given = [name for name in CLIPPINGS
                 if any(v is not None for v in _entries(getattr(self, name)))]
        if len(given) > 1:
            raise ValueError(f"Only one of clipvalue, clipnorm and global_clipnorm can be set; "
                             f"got {' and '.join(given)}")
        for f in OPTIONS:
            object.__setattr__(self, f.name, check_option(f.name, getattr(self, f.name)))
        uses_l1 = any(v is not None and (_coordinates(v) or v != 0)
                      for v in _entries(self.l1))
        prunes = any(v is not None for v in _entries(self.pruning))
        clips_norm = (any(v is not None for v in _entries(self.clipnorm))
                      or self.global_clipnorm is not None)
        object.__setattr__(self, "uses_l1", uses_l1)
        object.__setattr__(self, "prunes", prunes)
        object.__setattr__(self, "clips_norm", clips_norm)
        object.__setattr__(self, "plain", (self.nan_policy == "propagate" and not prunes
                                           and not clips_norm))


OPTIONS: tuple[Field[Any], ...] = tuple(f for f in fields(Settings) if f.init)
# the options given per parameter array (one value for all, or one entry per array)
PER_ARRAY: tuple[str, ...] = tuple(f.name for f in OPTIONS if f.metadata["per_array"])
_FIELDS = {f.name: f for f in OPTIONS}


def _entries(value: Any) -> list[Any]:
    """The entries of a per-array option as given (a list or tuple), or [value]."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_option(name: str, value: Any, label: str | None = None) -> Any:
    """Option ``name``'s value, checked (``label`` names it in errors, default ``name``): a
    per-array option's None and None entries stay None (off), its list entries are checked
    one by one (``bounds`` and ``l1`` are checked against the arrays, later)."""
    f, label = _FIELDS[name], label or name
    check = f.metadata["check"]
    if not f.metadata["per_array"]:
        return value if check is None else check(value, label)
    if check is None or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [None if v is None else check(v, f"{label}[{i}]") for i, v in enumerate(value)]
    return check(value, label)


def per_array(name: str, value: Any, n: int, label: str | None = None) -> list[Any]:
    """Per-array option ``name``'s entries for n parameter arrays: ``value`` is one value
    for every array or a list or tuple of n entries (a ValueError naming ``label``
    otherwise); a single (lower, upper) pair of ``bounds`` is one value for one array."""
    if name == "bounds" and n == 1 and isinstance(value, tuple) and len(value) == 2:
        return [value]
    return one_per_array(value, n, label or name)


def collapse(name: str, entries: Sequence[Any]) -> Any:
    """One value for per-array option ``name`` whose entries are ``entries``: the common
    value when every entry is the same (equal numbers, flags or None, or one object), else
    the list (bounds: a pair is one value for a single array only)."""
    first = entries[0]
    scalar = first is None or isinstance(first, (numbers.Real, np.bool_))
    same = all(e is first or (scalar and type(e) is type(first) and e == first)
               for e in entries)
    if same and (name != "bounds" or len(entries) == 1 or first is None):
        return first
    return list(entries)


def with_entries(name: str, value: Any, n: int, indices: Sequence[int], new: Any,
                 label: str) -> Any:
    """Per-array option ``name`` (``value``, over n arrays) with the entries of arrays
    ``indices`` replaced by ``new`` (one value for all of them, or one entry each; ``label``
    names it in errors), checked."""
    entries = per_array(name, value, n)
    for i, v in zip(indices, per_array(name, check_option(name, new, label), len(indices),
                                       label)):
        entries[i] = v
    return collapse(name, entries)


def kernel_options(s: Settings, l1: Sequence[tuple[float, Array]]
                   ) -> list[tuple[float, float, float, float, float]]:
    """Per parameter array, the kernel plan's fused options (sign, clip, l2, weight_decay,
    l1 strength); ``l1`` as ``l1_strengths`` gives it."""
    n = len(l1)
    return [(-1.0 if maximize else 1.0, math.inf if clip is None else clip, l2 or 0.0,
             decay or 0.0, strength)
            for maximize, clip, l2, decay, (strength, _) in zip(
                per_array("maximize", s.maximize, n), per_array("clipvalue", s.clipvalue, n),
                per_array("l2", s.l2, n), per_array("weight_decay", s.weight_decay, n), l1)]


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
    for i, (v, p) in enumerate(zip(per_array("l1", l1, len(params)), params)):
        name = f"l1[{i}]" if isinstance(l1, (list, tuple)) else "l1"
        if v is None:
            strengths.append((0.0, EMPTY[p.dtype]))
        elif not _coordinates(v):
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
    checked = []
    for i, (b, p) in enumerate(zip(per_array("bounds", bounds, len(params)), params)):
        if b is None:
            checked.append((EMPTY[p.dtype], EMPTY[p.dtype]))
            continue
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
