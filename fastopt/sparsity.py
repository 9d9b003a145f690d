"""Sparse models: pruning schedules, magnitude pruning, sparsity counts, scipy.sparse export.

Gradual magnitude pruning (Zhu & Gupta 2017, with TensorFlow Model Optimization's semantics)
keeps, at a pruning step t, the k largest-magnitude parameters and pins the others to 0::

    should_prune(t) = begin_step <= t and (end_step == -1 or t <= end_step)
                      and (t - begin_step) % frequency == 0          (end_step is inclusive)
    PolynomialDecay:  s_t = s_f + (s_i - s_f) * (1 - p)**power,
                      p = clip((t - begin_step) / (end_step - begin_step), 0, 1)
    ConstantSparsity: s_t = target_sparsity
    kept count:       k = max(round(n * (1 - s_t)), 1)   (round half to even; k = 0 when n = 0)

Steps count from 0 at the first optimizer update.  ``n`` is the size of each array
(``scope="per_array"``, TF-MOT's behaviour) or of all arrays together (``scope="global"``:
one threshold over every array).  A mask is a uint8 array of the parameter's shape, 1 = keep.

Where fastopt differs from TF-MOT, on purpose:

* The kept count is exact.  TF-MOT keeps every ``|w|`` >= the k-th largest, so ties at the
  threshold keep more than k; here, among equal magnitudes the lower flat (C-order) index is
  kept, and with ``scope="global"`` the earlier array in the list comes first.
* With ``masks=`` (the current masks), already-pruned entries rank below every other entry,
  so masks only grow as the sparsity grows, even when many weights tie at 0.
* NaN magnitudes rank as +inf (NaN weights are kept, so a divergence stays visible instead
  of being zeroed away).  Magnitudes are compared in float64 (exact for float32 inputs).
* Sparsities are Python floats (float64), not float32; ``PolynomialDecay`` needs
  ``end_step > begin_step`` (TF-MOT divides by zero when they are equal) and ``power > 0``.

>>> from fastopt.sparsity import PolynomialDecay, prune_magnitude
>>> PolynomialDecay(0.0, 0.5, begin_step=0, end_step=100)(50)
(False, 0.4375)
>>> prune_magnitude([np.array([3.0, -1.0]), np.array([0.5, 2.0])], 0.5, scope="global")
[array([1, 0], dtype=uint8), array([0, 1], dtype=uint8)]
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse

from fastopt._validation import check_fraction

__all__ = ["PruningSchedule", "PolynomialDecay", "ConstantSparsity", "prune_magnitude",
           "nnz", "sparsity", "to_csr", "from_csr", "SCOPES"]

# prune_magnitude's scopes, and so the optimizers' pruning_scope: one threshold per array,
# or one over all arrays.
SCOPES = ("per_array", "global")

Array = npt.NDArray[Any]


# ------------------------------------------------------------------------------ checks
def _integer(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def _as_list(arrays: Any, name: str) -> list[Array]:
    """One array-like, or a list/tuple of them (each one array) -> a list of ndarrays."""
    items = list(arrays) if isinstance(arrays, (list, tuple)) else [arrays]
    out = []
    for i, item in enumerate(items):
        a = np.asarray(item)
        if a.dtype.kind not in "biuf":
            label = f"{name}[{i}]" if isinstance(arrays, (list, tuple)) else name
            raise TypeError(f"'{label}' has dtype {a.dtype}; expected real numbers")
        out.append(a)
    return out


# ------------------------------------------------------------------------------ schedules
class PruningSchedule:
    """Base class: when to prune (``should_prune``) and to what sparsity (``sparsity_at``).

    ``schedule(step)`` returns ``(should_prune(step), sparsity_at(step))``, as in TF-MOT.
    Pruning happens at begin_step, begin_step + frequency, ... up to and including end_step
    (for ever when end_step == -1).  Subclasses define ``sparsity_at`` and ``get_config``.

    >>> s = PolynomialDecay(0.0, 0.5, begin_step=0, end_step=10, frequency=5)
    >>> [t for t in range(30) if s.should_prune(t)], isinstance(s, PruningSchedule)
    ([0, 5, 10], True)
    """

    def __init__(self, begin_step: int, end_step: int, frequency: int,
                 allow_forever: bool) -> None:
        self.begin_step = _integer(begin_step, "begin_step")
        self.end_step = _integer(end_step, "end_step")
        self.frequency = _integer(frequency, "frequency")
        if self.begin_step < 0:
            raise ValueError(f"begin_step should be >= 0, got {begin_step}")
        if self.end_step == -1 and not allow_forever:
            raise ValueError("end_step cannot be -1 for PolynomialDecay (it needs an end to "
                             "decay the sparsity)")
        if self.end_step != -1:
            if self.end_step < 0:
                raise ValueError(f"end_step can be -1 or >= 0, got {end_step}")
            if self.end_step < self.begin_step:
                raise ValueError(f"begin_step should be <= end_step if end_step != -1, got "
                                 f"begin_step={begin_step}, end_step={end_step}")
        if self.frequency <= 0:
            raise ValueError(f"frequency should be > 0, got {frequency}")

    def should_prune(self, step: int) -> bool:
        """True when masks are recomputed at ``step``:
        ``begin <= step and (end == -1 or step <= end) and (step - begin) % frequency == 0``.

        >>> s = ConstantSparsity(0.5, begin_step=10, frequency=5)
        >>> [s.should_prune(t) for t in (9, 10, 12, 15)]
        [False, True, False, True]
        """
        step = _integer(step, "step")
        in_range = self.begin_step <= step and (self.end_step == -1 or step <= self.end_step)
        return in_range and (step - self.begin_step) % self.frequency == 0

    def sparsity_at(self, step: int) -> float:
        """The target sparsity at ``step`` (a float in [0, 1))."""
        raise NotImplementedError

    def __call__(self, step: int) -> tuple[bool, float]:
        """``(should_prune(step), sparsity_at(step))``, like a TF-MOT schedule.

        >>> ConstantSparsity(0.75, begin_step=0)(200)
        (True, 0.75)
        """
        return self.should_prune(step), self.sparsity_at(step)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return (type(self) is type(other) and isinstance(other, PruningSchedule)
                and self.get_config() == other.get_config())

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments as a dict: ``type(s)(**s.get_config())`` rebuilds s.

        >>> s = ConstantSparsity(0.5, begin_step=3)
        >>> ConstantSparsity(**s.get_config()) == s
        True
        """
        raise NotImplementedError


class ConstantSparsity(PruningSchedule):
    """Prune to a constant sparsity every ``frequency`` steps from ``begin_step`` to
    ``end_step`` inclusive (for ever when ``end_step == -1``).

    sparsity_t = target_sparsity;  target_sparsity in [0, 1), begin_step >= 0,
    end_step == -1 or end_step >= begin_step, frequency >= 1.

    Parameters
    ----------
    target_sparsity : float
        The fraction of entries pruned, in [0, 1).
    begin_step : int
        The first pruning step, >= 0.
    end_step : int
        The last pruning step (inclusive), or -1 for no end.
    frequency : int
        Steps between pruning steps, >= 1.

    Examples
    --------
    >>> s = ConstantSparsity(0.9, begin_step=100, end_step=300, frequency=100)
    >>> [s(t) for t in (99, 100, 150, 300, 400)]
    [(False, 0.9), (True, 0.9), (False, 0.9), (True, 0.9), (False, 0.9)]
    """

    def __init__(self, target_sparsity: float, begin_step: int, end_step: int = -1,
                 frequency: int = 100) -> None:
        super().__init__(begin_step, end_step, frequency, allow_forever=True)
        self.target_sparsity = check_fraction(target_sparsity, "target_sparsity", high_open=True)

    def sparsity_at(self, step: int) -> float:
        """``target_sparsity`` at every step.

        >>> ConstantSparsity(0.5, begin_step=0).sparsity_at(12345)
        0.5
        """
        _integer(step, "step")
        return self.target_sparsity

    def get_config(self) -> dict[str, Any]:
        return {"target_sparsity": self.target_sparsity, "begin_step": self.begin_step,
                "end_step": self.end_step, "frequency": self.frequency}


class PolynomialDecay(PruningSchedule):
    """Sparsity rising from ``initial_sparsity`` to ``final_sparsity`` along a polynomial,
    pruning every ``frequency`` steps from ``begin_step`` to ``end_step`` inclusive.

    s_t = s_f + (s_i - s_f) * (1 - p)**power,  p = clip((t - begin_step) /
    (end_step - begin_step), 0, 1);  sparsities in [0, 1), 0 <= begin_step < end_step,
    frequency >= 1, power > 0 (3, the default, is Zhu & Gupta's cubic).

    Parameters
    ----------
    initial_sparsity, final_sparsity : float
        s_i and s_f, in [0, 1).
    begin_step, end_step : int
        The first and last (inclusive) pruning steps, 0 <= begin_step < end_step.
    power : float
        The exponent of the decay, > 0.
    frequency : int
        Steps between pruning steps, >= 1.

    Examples
    --------
    >>> s = PolynomialDecay(0.0, 0.5, begin_step=0, end_step=1000, frequency=500)
    >>> [s(t) for t in (0, 500, 1000, 1500)]
    [(True, 0.0), (True, 0.4375), (True, 0.5), (False, 0.5)]
    """

    def __init__(self, initial_sparsity: float, final_sparsity: float, begin_step: int,
                 end_step: int, power: float = 3, frequency: int = 100) -> None:
        super().__init__(begin_step, end_step, frequency, allow_forever=False)
        if self.end_step == self.begin_step:
            raise ValueError(f"end_step should be > begin_step for PolynomialDecay, got "
                             f"begin_step=end_step={end_step}; to prune once, use "
                             f"ConstantSparsity(final_sparsity, {end_step}, {end_step})")
        self.initial_sparsity = check_fraction(initial_sparsity, "initial_sparsity", high_open=True)
        self.final_sparsity = check_fraction(final_sparsity, "final_sparsity", high_open=True)
        if isinstance(power, (bool, np.bool_)) or not isinstance(power, numbers.Real):
            raise TypeError(f"power must be a real number, got {power!r}")
        if not (0 < power < math.inf):
            raise ValueError(f"power should be > 0 and finite, got {power!r}")
        self.power: float = power

    def sparsity_at(self, step: int) -> float:
        """s_f + (s_i - s_f) * (1 - p)**power with p = clip((step - begin) / (end - begin), 0, 1).

        >>> s = PolynomialDecay(0.5, 0.9, begin_step=10, end_step=20)
        >>> s.sparsity_at(0), s.sparsity_at(20), s.sparsity_at(10**100)
        (0.5, 0.9, 0.9)
        """
        step = _integer(step, "step")
        if step <= self.begin_step:        # clip in integers first: steps may be huge
            p = 0.0
        elif step >= self.end_step:
            p = 1.0
        else:
            p = (step - self.begin_step) / (self.end_step - self.begin_step)
        s_i, s_f = self.initial_sparsity, self.final_sparsity
        return float(s_f + (s_i - s_f) * (1.0 - p) ** self.power)

    def get_config(self) -> dict[str, Any]:
        return {"initial_sparsity": self.initial_sparsity,
                "final_sparsity": self.final_sparsity, "begin_step": self.begin_step,
                "end_step": self.end_step, "power": self.power, "frequency": self.frequency}


# ------------------------------------------------------------------------------ pruning
def _kept_count(n: int, s: float) -> int:
    """k = max(round(n * (1 - s)), 1) for n > 0, else 0 (round() is round-half-even)."""
    return 0 if n == 0 else max(round(n * (1.0 - s)), 1)


def _keep_largest(key: Array, k: int) -> Array:
    """Boolean mask of the k largest entries of the 1-D float64 ``key`` (no NaN), ties
    broken towards the lower index.  O(n): one partition, one comparison, one scan."""
    n = key.size
    keep = np.ones(n, dtype=bool)
    if k >= n:
        return keep
    v = np.partition(key, n - k)[n - k]          # the k-th largest value
    np.greater(key, v, out=keep)                 # everything strictly above it is kept
    ties = np.flatnonzero(key == v)              # then the first of those equal to it
    keep[ties[:k - np.count_nonzero(keep)]] = True
    return keep


def prune_magnitude(arrays: Any, sparsity: float, scope: str = "per_array",
                    masks: Any = None) -> list[Array]:
    """Masks keeping the largest-magnitude entries: 1 = keep, 0 = prune.

    k = max(round(n * (1 - sparsity)), 1) entries with the largest ``|w|`` are kept, n being each
    array's size (``scope="per_array"``) or the total size (``scope="global"``, one threshold
    over all arrays); an empty array keeps nothing.  Exactly k are kept: among equal
    magnitudes the lower flat (C-order) index wins, and with ``"global"`` the earlier array.
    Entries that ``masks`` (the current masks, one per array or None) already prune rank
    below all others, so masks are nested as the sparsity grows.  NaN ranks as +inf.

    Parameters
    ----------
    arrays : array_like or list of array_like
        Real-valued weights; each mask has its array's shape.
    sparsity : float in [0, 1]
    scope : {"per_array", "global"}
    masks : array_like, or a list with one array_like or None per array, optional

    Returns
    -------
    list of numpy.ndarray (uint8), one per array (a list of one for a single array).

    >>> w = np.array([[0.5, -2.0], [0.1, 1.0]])
    >>> prune_magnitude(w, 0.5)[0]
    array([[0, 1],
           [0, 1]], dtype=uint8)
    """
    arrays_list = _as_list(arrays, "arrays")
    s = check_fraction(sparsity, "sparsity")
    if scope not in SCOPES:
        raise ValueError(f"Invalid scope: {scope!r} (expected 'per_array' or 'global')")
    n = len(arrays_list)
    if masks is None:
        masks = [None] * n
    elif not isinstance(masks, (list, tuple)):
        masks = [masks]
    if len(masks) != n:
        raise ValueError(f"'masks' has {len(masks)} entries, expected {n} (one per array)")
    keys = []
    for i, (a, m) in enumerate(zip(arrays_list, masks)):
        key = np.abs(a, dtype=np.float64, order="C").reshape(-1)    # a new array: editable
        key[np.isnan(key)] = np.inf
        if m is not None:
            m = np.asarray(m)
            if m.shape != a.shape:
                raise ValueError(f"'masks[{i}]' has shape {m.shape}, expected {a.shape}")
            key[m.reshape(-1) == 0] = -np.inf
        keys.append(key)
    if scope == "global":
        total = np.concatenate(keys) if keys else np.empty(0)
        flat_keep = np.split(_keep_largest(total, _kept_count(total.size, s)),
                             np.cumsum([k.size for k in keys])[:-1])
    else:
        flat_keep = [_keep_largest(key, _kept_count(key.size, s)) for key in keys]
    return [keep.astype(np.uint8).reshape(a.shape) for keep, a in zip(flat_keep, arrays_list)]


# ------------------------------------------------------------------------------ counts
def nnz(arrays: Any) -> int:
    """Number of entries that are not exactly zero (-0.0 is zero, NaN is not), over one
    array or a list of arrays.

    >>> nnz([np.array([0.0, -0.0, 2.0]), np.array([[np.nan, 0.0]])])
    2
    """
    return int(sum(np.count_nonzero(a) for a in _as_list(arrays, "arrays")))


def sparsity(arrays: Any) -> float:
    """Fraction of entries that are exactly zero: 1 - nnz / size (0.0 when size is 0).

    >>> sparsity([np.array([0.0, 1.0]), np.zeros((2, 3))])
    0.875
    """
    arrays_list = _as_list(arrays, "arrays")
    size = sum(a.size for a in arrays_list)
    return 0.0 if size == 0 else 1.0 - nnz(arrays_list) / size


# ------------------------------------------------------------------------------ scipy.sparse
def to_csr(weights: Any) -> scipy.sparse.csr_array:
    """A 2-D weight array as a ``scipy.sparse.csr_array`` holding only its nonzeros.

    Exact zeros (+0.0 and -0.0) are dropped, NaN and inf are stored; the dtype is kept (in
    native byte order; float16, which scipy.sparse does not store, is a TypeError).
    A 1-D array of length n becomes a 1 x n matrix (so ``to_csr(w) @ x`` is ``w @ x`` as a
    length-1 array); other dimensions raise ValueError.

    Parameters
    ----------
    weights : array_like
        A 1-D or 2-D array of numbers.

    Returns
    -------
    scipy.sparse.csr_array

    Raises
    ------
    ValueError
        For an array of another dimension.
    TypeError
        For an array that does not hold numbers.

    Examples
    --------
    >>> m = to_csr(np.array([[0.0, 1.5], [-0.0, 0.0]], dtype=np.float32))
    >>> m.nnz, m.dtype, m.shape
    (1, dtype('float32'), (2, 2))
    """
    w = np.asarray(weights)
    if w.ndim == 1:
        w = w.reshape(1, -1)
    if w.ndim != 2:
        raise ValueError(f"to_csr takes a 1-D or 2-D array, got {w.ndim} dimensions "
                         "in 'weights'")
    if w.dtype.kind not in "biufc":
        raise TypeError(f"'weights' has dtype {w.dtype}; expected numbers")
    if w.dtype == np.float16:
        raise TypeError("'weights' has dtype float16, which scipy.sparse does not store: "
                        "convert it first, e.g. w.astype(np.float32)")
    if not w.dtype.isnative:                # scipy.sparse stores native byte order only
        w = w.astype(w.dtype.newbyteorder("="))
    return scipy.sparse.csr_array(w)       # built from w != 0, so -0.0 is dropped too


def from_csr(matrix: Any) -> Array:
    """A scipy.sparse matrix or array as a dense C-contiguous ndarray of the same dtype
    (missing entries are +0.0): the inverse of ``to_csr`` for 2-D weights.

    Parameters
    ----------
    matrix : scipy.sparse array or matrix

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    TypeError
        When ``matrix`` is not a scipy.sparse object.

    Examples
    --------
    >>> w = np.array([[0.0, 2.0], [3.0, 0.0]])
    >>> np.array_equal(from_csr(to_csr(w)), w)
    True
    """
    if not scipy.sparse.issparse(matrix):
        raise TypeError(f"from_csr takes a scipy.sparse matrix or array, got "
                        f"{type(matrix).__name__}")
    return np.ascontiguousarray(matrix.toarray())
