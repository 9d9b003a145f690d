"""The compiled kernels, in the build this CPU runs fastest (runtime instruction-set dispatch).

The kernel source (_kernels.pyx) is compiled into one extension per instruction set:
``_kernels_baseline`` (any CPU of the platform) and, on x86-64, ``_kernels_avx2`` and
``_kernels_avx512`` (AVX-512 F/CD/BW/DQ/VL, NumPy's "AVX512_SKX" feature group).  This
module imports the best one the CPU supports and re-exports its names, so the rest of
fastopt sees one module, ``fastopt._dispatch``, whichever build it is.  ``ISA`` names the
build in use and ``ISAS`` every build this installation can run here.

The builds agree bit for bit (no FMA contraction, no fast-math; tested), so the choice
changes speed only.  ``FASTOPT_ISA=baseline`` (or ``avx2``, ``avx512``) in the environment
forces one, e.g. to compare them (bench/builds.py times them side by side); forcing a
build this CPU cannot run, or that was not compiled, is an ImportError naming what is
available, never an illegal-instruction crash.
"""

import importlib
import os
from pathlib import Path
from types import ModuleType

# Best first: (build name, the numpy CPU feature it needs, or None for the baseline).
_BUILDS = (("avx512", "AVX512_SKX"), ("avx2", "AVX2"), ("baseline", None))


def _cpu_features() -> dict[str, bool]:
    """NumPy's runtime CPU feature table (it checks OS support too, e.g. AVX state saving)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:                                   # NumPy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return dict(__cpu_features__)


def _not_compiled(package: Path) -> str:
    """The message for a package folder without compiled kernels: the repository's
    ``fastopt/`` (found first because Python puts the current folder on its path for
    ``python -m``, ``python -c`` and the interactive prompt), or an incomplete copy."""
    if not (package.parent / "setup.py").is_file():
        return (f"fastopt was imported from {package}, which has no compiled kernels "
                "(fastopt._kernels_baseline): the installation is incomplete; reinstall "
                "fastopt (`pip install --force-reinstall fastopt`).")
    return (f"fastopt was imported from the source tree at {package}, which has no compiled "
            "kernels (fastopt._kernels_baseline). To use the installed fastopt, run from "
            "another folder than the repository's root, or use the `fastopt` command "
            "(`fastopt compare`), which does not look in the current folder; to work on the "
            "sources, compile the kernels in place: `pip install -e .` or "
            "`python setup.py build_ext --inplace`.")


def _importable() -> dict[str, ModuleType]:
    """The builds compiled into this installation that this CPU can run, best first."""
    features = _cpu_features()
    found = {}
    for name, feature in _BUILDS:
        if feature is not None and not features.get(feature, False):
            continue
        module = f"fastopt._kernels_{name}"
        try:
            found[name] = importlib.import_module(module)
        except ImportError as e:
            if feature is not None:
                continue
            if isinstance(e, ModuleNotFoundError) and e.name == module:
                raise ImportError(_not_compiled(Path(__file__).resolve().parent)) from None
            raise
    return found


def _select(builds: dict[str, ModuleType]) -> ModuleType:
    """The best build, or the one FASTOPT_ISA names."""
    forced = os.environ.get("FASTOPT_ISA", "").strip().lower()
    if not forced:
        return next(iter(builds.values()))
    if forced not in builds:
        raise ImportError(f"FASTOPT_ISA={forced!r}: this CPU and installation can run "
                          f"{', '.join(map(repr, builds))}")
    return builds[forced]


_builds = _importable()
_impl = _select(_builds)
ISAS: tuple[str, ...] = tuple(_builds)

MAX_THREADS: int = _impl.MAX_THREADS
RULES = _impl.RULES
ISA: str = _impl.ISA
Slot = _impl.Slot
Plan = _impl.Plan
Progress = _impl.Progress
Snapshot = _impl.Snapshot
step_numbers = _impl.step_numbers
sum_squares = _impl.sum_squares
count_nonfinite = _impl.count_nonfinite
max_abs = _impl.max_abs
openmp_enabled = _impl.openmp_enabled
max_threads = _impl.max_threads
resolve_threads = _impl.resolve_threads
team_size = _impl.team_size

# What every build shares (the parallel threshold, the after-fork flag) lives in one module,
# which every build imported already: setting it here reaches them all.
_shared = importlib.import_module("fastopt._kernel_state")
PARALLEL_THRESHOLD: int = _shared.PARALLEL_THRESHOLD
set_parallel_threshold = _shared.set_parallel_threshold
after_fork_in_child = _shared.after_fork_in_child
