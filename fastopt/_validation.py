"""Checks that run before any array reaches the compiled kernels.

Kernels run with bounds checks off, so everything about an array's memory is verified here:
parameters updated in place must be float32/float64 NumPy arrays that are writable and
C-contiguous (anything else would force a silent copy that loses the update); gradients may
have any layout, any real dtype and may be read-only (they are cast or copied as needed).
Hyperparameters are range-checked with torch.optim's wording.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Any NumPy array; parameters are float32 or float64, which the checks below enforce.
Array = npt.NDArray[Any]

EMPTY: dict[np.dtype[Any], Array] = {dt: np.empty(0, dt) for dt in FLOAT_DTYPES}
EMPTY_MASK = np.empty(0, np.uint8)


def as_param_list(params: Any, name: str = "params") -> list[Array]:
    """One array or a sequence of arrays -> a list of validated arrays (never copied)."""
    if isinstance(params, np.ndarray):
        arrays, names = [params], [name]
    elif isinstance(params, (list, tuple)):
        if len(params) == 0:
            raise ValueError(f"'{name}' is an empty list: give at least one array")
        arrays, names = list(params), [f"{name}[{i}]" for i in range(len(params))]
    else:
        raise TypeError(f"'{name}' must be a numpy.ndarray or a list of them, "
                        f"got {type(params).__name__}")
    for a, n in zip(arrays, names):
        check_param(a, n)
    # C-contiguous arrays, each at [start, start + nbytes): sorted by start, one overlaps an
    # earlier one exactly when it starts below the furthest end so far (n log n, not n^2)
    spans = sorted((a.__array_interface__["data"][0], a.nbytes, i)
                   for i, a in enumerate(arrays) if a.nbytes)
    reach, last = 0, -1
    for start, nbytes, i in spans:
        if start < reach:
            i, j = sorted((last, i))
            raise ValueError(f"'{names[i]}' and '{names[j]}' share memory: each parameter "
                             "array must be updated through one entry only")
        if start + nbytes > reach:
            reach, last = start + nbytes, i
    return arrays


def check_param(a: Any, name: str) -> None:
    """A parameter array that a kernel may update in place."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"'{name}' must be a numpy.ndarray updated in place, "
                        f"got {type(a).__name__}")
    if isinstance(a, np.matrix):        # stays 2-D when flattened: kernels need 1-D views
        raise TypeError(f"'{name}' is a numpy.matrix; pass np.asarray(x), a view of it, so "
                        "that the updates still reach it")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"'{name}' has dtype {a.dtype}; fastopt updates float32 or float64 "
                        f"arrays (in native byte order) in place: convert it first, e.g. "
                        f"x = x.astype(np.float64)")
    if not a.flags.writeable:
        raise ValueError(f"'{name}' is read-only; parameters are updated in place, so pass a "
                         "writable array (e.g. x.copy())")
    if not a.flags.c_contiguous:
        raise ValueError(f"'{name}' is not C-contiguous; parameters are updated in place, so "
                         "pass a C-contiguous array (e.g. x = np.ascontiguousarray(x)) and "
                         "keep using that array")
    if not a.flags.aligned:
        raise ValueError(f"'{name}' is not aligned to its dtype (e.g. a view at an odd byte "
                         "offset of a buffer); the kernels need aligned arrays: pass an "
                         "aligned copy (x = x.copy()) and keep using that array")


def flat(a: Array) -> Array:
    """A 1-D view of a C-contiguous array (no copy)."""
    return a.reshape(-1)


def as_grad(g: Any, param: Array, name: str) -> Array:
    """A gradient as a 1-D C-contiguous array of param's dtype, copied only when needed.
    (A gradient sharing memory with an array the kernel writes is copied by the kernel.)"""
    if not (type(g) is np.ndarray and g.dtype == param.dtype and g.shape == param.shape
            and g.flags.c_contiguous and g.flags.aligned):
        g = np.asarray(g)
        if g.shape != param.shape:
            raise ValueError(f"'{name}' has shape {g.shape}, but the parameter it updates "
                             f"has shape {param.shape}")
        if g.dtype.kind not in "biuf":
            raise TypeError(f"'{name}' has dtype {g.dtype}; gradients must be real numbers")
        g = np.require(g, dtype=param.dtype, requirements=["C", "A"])  # contiguous, aligned
    a: Array = g
    return a if a.ndim == 1 else a.reshape(-1)


def check_grads(grads: Any, n: int) -> Sequence[Any]:
    if isinstance(grads, np.ndarray) and n == 1:
        return [grads]
    if not isinstance(grads, (list, tuple)):
        if n == 1:
            return [grads]
        raise TypeError(f"'grads' must be a list of {n} arrays (one per parameter array), "
                        f"got {type(grads).__name__}")
    if len(grads) != n:
        raise ValueError(f"'grads' has {len(grads)} arrays, expected {n} "
                         "(one per parameter array)")
    return grads


def real_number(value: Any, name: str) -> float:
    """A finite-or-infinite real Python float (NaN and non-numbers rejected by callers)."""
    if type(value) is float:                # the common case, without the ABC checks
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {name}: {value!r} (expected a real number)")
    return float(value)


def check_bool(value: Any, name: str) -> bool:
    """A flag: Python's or NumPy's bool as a Python bool; anything else (the string
    "False" would be truthy, 0 and 1 are easily meant otherwise) is a TypeError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"Invalid {name}: {value!r} (expected True or False)")


def check_range(value: Any, name: str, low: float = 0.0, high: float = math.inf,
                low_open: bool = False, high_open: bool = False,
                label: str | None = None) -> float:
    """float(value) if low <= value <= high (NaN never passes), else torch's wording."""
    v = real_number(value, name)
    ok = (low < v if low_open else low <= v) and (v < high if high_open else v <= high)
    if not ok:
        raise ValueError(f"Invalid {label or name + ' value'}: {value}")
    return v


def check_nonnegative(value: Any, name: str, label: str | None = None) -> float:
    """A finite number >= 0, as ``check_range`` words it: +inf is rejected too (torch
    accepts it), because an infinite rate, decay or penalty turns finite inputs into NaN
    (0 * inf) silently."""
    if type(value) is float and 0.0 <= value < math.inf:    # the common case, fast (NaN fails)
        return value
    return check_range(value, name, high_open=True, label=label)


def check_fraction(value: Any, name: str, low_open: bool = False,
                   high_open: bool = False) -> float:
    """A number in [0, 1] (ends excluded on request), as ``check_range`` words it."""
    return check_range(value, name, high=1.0, low_open=low_open, high_open=high_open)


def check_int(value: Any, name: str, low: int) -> int:
    """An int >= ``low`` (NumPy integers accepted, bools rejected) as a Python int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"Invalid {name}: {value!r} (expected an int >= {low})")
    if value < low:
        raise ValueError(f"Invalid {name} value: {value} (expected an int >= {low})")
    return int(value)


def one_per_array(value: Any, n: int, name: str) -> list[Any]:
    """A scalar, or a list with one entry per parameter array -> a list of n entries."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"'{name}' has {len(value)} entries, expected {n} "
                             "(one per parameter array)")
        return list(value)
    return [value] * n


def coordinate_array(value: Any, param: Array, name: str) -> Array:
    """A per-coordinate array (e.g. bounds, l1 strengths) as a flat array of param's dtype,
    always a new array: it is validated once, so later changes to the caller's array (or
    to the parameter, when it is one) must not reach it."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"'{name}' has dtype {a.dtype}; expected real numbers")
    try:
        a = np.broadcast_to(a, param.shape)
    except ValueError:
        raise ValueError(f"'{name}' has shape {a.shape}, which does not broadcast to the "
                         f"parameter's shape {param.shape}") from None
    return np.array(a, dtype=param.dtype, order="C", copy=True).reshape(-1)
