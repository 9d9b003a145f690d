"""Type stubs for ``fastopt._dispatch``: the kernel build in use (see _dispatch.py), whose
source is _kernels.pyx.

Kernel arrays are 1-D and C-contiguous: parameters and state of one dtype (float32 or
float64), writable; gradients, per-coordinate l1 strengths and bounds of the same dtype,
read-only allowed; masks uint8.  An absent optional array is an empty array.
"""

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

_FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]
_Mask = npt.NDArray[np.uint8]

PARALLEL_THRESHOLD: Final[int]
MAX_THREADS: Final[int]
ISA: Final[str]
ISAS: Final[tuple[str, ...]]
# name -> (the kernel's rule number, {state array: the option it is kept for, or None})
RULES: Final[dict[str, tuple[int, dict[str, str | None]]]]

def openmp_enabled() -> bool: ...
def max_threads() -> int: ...
def resolve_threads(num_threads: int | None) -> int: ...
def after_fork_in_child() -> None: ...
def team_size(n: int, num_threads: int) -> int: ...
def set_parallel_threshold(n: int) -> int: ...

class Slot:
    @property
    def rule(self) -> str: ...
    @property
    def single(self) -> bool: ...
    @property
    def size(self) -> int: ...
    def __init__(
        self,
        rule: str,
        param: _FloatArray,
        s1: _FloatArray,
        s2: _FloatArray,
        s3: _FloatArray,
        mask: _Mask,
        l1w: _FloatArray,
        lower: _FloatArray,
        upper: _FloatArray,
        *,
        momentum: bool = False,
        nesterov: bool = False,
        keras: bool = False,
        centered: bool = False,
        amsgrad: bool = False,
    ) -> None: ...

class Progress:
    step: int
    carry: float
    steps: tuple[int, ...]
    carries: tuple[float, ...]
    @property
    def n_groups(self) -> int: ...
    def __init__(self, n_groups: int = 1) -> None: ...
    def enter(self) -> int: ...
    def leave(self) -> None: ...

class Snapshot:
    sources: list[npt.NDArray[Any]]
    copies: list[npt.NDArray[Any]]
    def __init__(self, arrays: Sequence[npt.NDArray[Any]]) -> None: ...
    def save(self) -> None: ...

class Plan:
    @property
    def size(self) -> int: ...
    @property
    def n_groups(self) -> int: ...
    def step_kinds(self) -> list[str]: ...
    def __init__(
        self,
        slots: Sequence[Slot],
        shapes: Sequence[tuple[int, ...]],
        hypers: Sequence[dict[str, Any]],
        groups: Sequence[int] | None = None,
    ) -> None: ...
    def set_options(self, options: Sequence[tuple[float, float, float, float, float]]) -> None: ...
    def fits(self, grads: object) -> bool: ...
    def step(
        self,
        grads: Sequence[_FloatArray],
        lr: float | Sequence[float],
        scales: Sequence[float] | None,
        threads: int | None,
        progress: Progress,
    ) -> int: ...

def step_numbers(
    rule: str, keras: bool, hyper: dict[str, Any], lr: float, t: int, carry: float = 1.0
) -> tuple[dict[str, float], float]: ...
def sum_squares(x: _FloatArray, mask: _Mask, num_threads: int) -> float: ...
def max_abs(x: _FloatArray) -> float: ...
def count_nonfinite(x: _FloatArray, mask: _Mask, num_threads: int) -> int: ...
