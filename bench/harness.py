"""What the benchmarks share: the machine description, the timing harness, and the helpers
of their tables and command lines.

Machine
    ``machine()`` describes the CPU (model, last-level cache, the speed of each usable CPU
    now, relative to the fastest) and the software (Python, NumPy, fastopt's OpenMP and
    kernel build); ``describe_cpu``, ``describe_software`` and ``describe_speeds`` turn it
    into the lines the scripts print.  ``bandwidth_callables`` gives a copy and a triad,
    whose bytes moved per second, timed beside a kernel, are the memory bandwidth it can use.

Timing
    Every callable is warmed up, then timed in batches of calls with ``time.perf_counter``:
    one call per batch where the plan's minimum batch time is 0 (large arrays), otherwise
    enough calls to fill it at the median time of a few single calls (a median, so that one
    stalled probe call does not shrink every batch to one call).  Every batch starts with
    one untimed call, so that batches time steady-state calls, not the wake-up of idle
    OpenMP threads or caches refilled after the other callables ran.  Several callables are
    timed in interleaved rounds, one batch of each per round, so that a slow spell of the
    (virtual) machine hits them alike; each reports the median over its batches.

    One lead-in call is not always steady state: where the last-level cache holds a large
    part of the arrays (a Xeon with a 480 MB L3 at 10^7 elements), it fills over several
    calls, and a callable timed right after another one on the same arrays starts warmer.
    ``cold=True`` times every call alone right after ``evict_caches()`` instead: each reads
    its arrays from memory, whatever ran before it.
"""

import json
import math
import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field

import numpy as np

import fastopt
from fastopt import _dispatch

DTYPES = (np.float32, np.float64)
PROBE_CALLS = 15        # single calls whose median sizes a batch
MIN_ROUNDS = 5          # rounds taken even past a time budget


# ---------------------------------------------------------------------------------------
# The machine.

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _last_level():
    """(level, size as sysfs writes it, e.g. "491520K") of the last-level cache, or None."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    best = None
    try:
        for entry in sorted(os.listdir(base)):
            if entry.startswith("index"):
                with open(f"{base}/{entry}/level") as f, open(f"{base}/{entry}/size") as s:
                    level, size = int(f.read()), s.read().strip()
                if best is None or level >= best[0]:
                    best = (level, size)
    except OSError:
        return None
    return best


def last_level_cache():
    best = _last_level()
    return None if best is None else f"L{best[0]} {best[1]}"


def last_level_cache_bytes():
    """The last-level cache's size in bytes, or None where sysfs does not say."""
    best = _last_level()
    if best is None:
        return None
    size = best[1].upper()
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(size[-1:], 1)
    try:
        return int(size.rstrip("KMG")) * scale
    except ValueError:
        return None


def python_loop_ms(loops=300_000):
    """Milliseconds of a pure-Python counting loop."""
    start = time.perf_counter()
    total = 0
    for i in range(loops):
        total += i
    return (time.perf_counter() - start) * 1e3


def cpu_speeds():
    """Relative speed of each usable CPU on a pure-Python loop (1.00 = fastest), pinned in
    turn; on a shared virtual machine a slow CPU makes 2-thread timings unreliable."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    usable = sorted(os.sched_getaffinity(0))
    times = {}
    try:
        for cpu in usable:
            os.sched_setaffinity(0, {cpu})
            times[cpu] = min(python_loop_ms() for _ in range(5))
    finally:
        os.sched_setaffinity(0, usable)
    best = min(times.values())
    return {cpu: best / t for cpu, t in times.items()}


def memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def openmp_runtimes():
    """The OpenMP runtime libraries mapped into this process (one is expected: torch and
    fastopt then share a thread pool)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f
                    if any(k in line for k in ("libgomp", "libiomp", "libomp"))}
    except OSError:
        return None
    return sorted(libs)


def compiler():
    try:
        out = subprocess.run(["cc", "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine():
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable,
        "last_level_cache": last_level_cache(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "fastopt": getattr(fastopt, "__version__", "?"), "openmp": fastopt.openmp_enabled(),
        "openmp_max_threads": _dispatch.max_threads(),
        "parallel_threshold": _dispatch.PARALLEL_THRESHOLD, "cpu_speeds": cpu_speeds(),
        "kernel_build": _dispatch.ISA, "kernel_builds": list(_dispatch.ISAS),
    }


def describe_cpu(m):
    return (f"CPU: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable), "
            f"last-level cache {m['last_level_cache']}")


def describe_software(m):
    return (f"{m['platform']}, Python {m['python']}, NumPy {m['numpy']}, fastopt "
            f"{m['fastopt']}, OpenMP {m['openmp']} (max {m['openmp_max_threads']} threads, "
            f"threads from {m['parallel_threshold']} elements)")


def describe_speeds(speeds):
    return ", ".join(f"cpu{c} {v:.2f}" for c, v in speeds.items())


def bandwidth_callables(n, dtype, rng):
    """{"copy": (callable, bytes per call), "triad": (...)} on arrays of n elements: the copy
    ``np.copyto(y, x)`` moves 2 arrays, the triad ``np.add(x, y, out=z)`` 3."""
    x, y, z = rng.standard_normal(n).astype(dtype), np.ones(n, dtype), np.empty(n, dtype)
    return {"copy": (lambda: np.copyto(y, x), 2 * x.nbytes),
            "triad": (lambda: np.add(x, y, out=z), 3 * x.nbytes)}


def bytes_per_step(opt):
    """Bytes one step of ``opt`` moves: parameters and state read and written, gradients
    (one of each parameter's size and dtype) read."""
    params = sum(p.nbytes for p in opt.params)
    state = sum(a.nbytes for st in opt.state for a in st.values())
    return 3 * params + 2 * state


# ---------------------------------------------------------------------------------------
# Timing.

def repetition_plan(n, quick):
    """(rounds, minimum seconds per timed batch) for a step on an array of n elements."""
    if n >= 5 * 10**6:
        return (7, 0.0) if quick else (11, 0.0)
    if n >= 10**5:
        return (7, 0.002) if quick else (31, 0.005)
    return (11, 0.001) if quick else (41, 0.002)


def timed_batch(fn, calls):
    """Seconds per call over a batch of calls, after one untimed lead-in call."""
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def timed_calls(fn, calls, lead_in=True):
    """Seconds of each of ``calls`` calls, after one untimed lead-in call (unless not
    ``lead_in``)."""
    clock = time.perf_counter
    if lead_in:
        fn()
    times = []
    for _ in range(calls):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def calls_per_batch(fn, min_batch_s):
    """Calls per timed batch: enough to last min_batch_s at the median of PROBE_CALLS single
    calls; 1 when min_batch_s is 0."""
    if min_batch_s <= 0:
        return 1
    call_s = statistics.median(timed_calls(fn, PROBE_CALLS))
    return max(1, math.ceil(min_batch_s / max(call_s, 1e-9)))


@dataclass
class Samples:
    """One callable's timings: seconds per call of each batch, the calls per batch, and,
    when every call was timed on its own, each call's seconds."""
    batches: list = field(default_factory=list)
    calls: int = 1
    single_calls: list = field(default_factory=list)

    @property
    def median(self):
        return statistics.median(self.batches)


EVICT_MIN_BYTES = 256 * 2**20  # the eviction buffer where sysfs gives no cache size
_evict_buffer = None


def evict_caches():
    """Reads one number in every 64-byte line of a buffer twice the last-level cache (at
    least EVICT_MIN_BYTES), so that the next call finds none of its data in the caches and
    no dirty lines of another callable's to write back."""
    global _evict_buffer
    if _evict_buffer is None:       # the cache's size is the machine's: read sysfs once
        _evict_buffer = np.ones(max(2 * (last_level_cache_bytes() or 0), EVICT_MIN_BYTES) // 8)
    _evict_buffer[::8].sum()


def interleaved_rounds(fns, plan, warmup=2, before_batch=None, budget_s=None,
                       time_each_call=False, cold=False):
    """{key: Samples} of the callables in ``fns`` (a dict), timed in interleaved rounds.

    ``plan`` is (rounds, minimum seconds per batch).  ``before_batch`` (a dict with the
    same keys, optional) holds an untimed callable run before each callable's warm-up and
    each of its batches.  Rounds stop early once budget_s has passed (after MIN_ROUNDS).
    With ``time_each_call`` every call is timed on its own, to see single slow calls; a
    batch's seconds per call is then the mean of its calls.  With ``cold`` every batch is
    one call right after ``evict_caches()`` (the plan's batch time is ignored): each call
    reads its arrays from memory, whatever ran before it."""
    rounds, min_batch_s = plan
    prepare = before_batch or {}
    samples = {}
    for key, fn in fns.items():
        if key in prepare:
            prepare[key]()
        for _ in range(warmup):
            fn()
        samples[key] = Samples(calls=1 if cold else calls_per_batch(fn, min_batch_s))
    start = time.perf_counter()
    for r in range(rounds):
        if budget_s is not None and r >= MIN_ROUNDS and time.perf_counter() - start > budget_s:
            break
        for key, fn in fns.items():
            if key in prepare:
                prepare[key]()
            s = samples[key]
            if cold:
                evict_caches()
                s.batches.append(timed_calls(fn, 1, lead_in=False)[0])
            elif time_each_call:
                times = timed_calls(fn, s.calls)
                s.batches.append(sum(times) / len(times))
                s.single_calls += times
            else:
                s.batches.append(timed_batch(fn, s.calls))
    return samples


def median_seconds(fns, plan, warmup=2, cold=False):
    """{key: median seconds per call} of the callables in ``fns``, timed in interleaved
    rounds (``cold``: as ``interleaved_rounds``)."""
    return {key: s.median
            for key, s in interleaved_rounds(fns, plan, warmup, cold=cold).items()}


# ---------------------------------------------------------------------------------------
# Tables and command lines.

def size_label(n):
    e = round(math.log10(n)) if n > 0 else 0
    return f"1e{e}" if 10**e == n else str(n)


def fmt_ms(ms):
    return f"{ms:.4g}" if ms < 1000 else f"{ms:.0f}"


def table_row(cells, columns):
    """The cells padded to the widths of ``columns`` ((title, width) pairs): the first
    left-aligned, the others right-aligned."""
    return "  ".join(c.rjust(w) if i else c.ljust(w)
                     for i, (c, (_, w)) in enumerate(zip(cells, columns)))


def table_header(columns):
    """The titles of ``columns`` as a table row, and a rule under them."""
    head = table_row([title for title, _ in columns], columns)
    return head + "\n" + "-" * len(head)


def int_list(text):
    """Comma-separated whole numbers (1e4 allowed)."""
    return [int(float(v)) for v in text.split(",") if v.strip()]


def name_list(text):
    """Comma-separated names."""
    return [v.strip() for v in text.split(",") if v.strip()]


def write_json(path, data, default=None):
    """Writes data to path as indented JSON; nothing when path is None."""
    if path:
        with open(path, "w") as f:
            json.dump(data, f, indent=1, default=default)
