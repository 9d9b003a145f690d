"""A reference for fastopt's fused-trio steps: how fast the simplest C loop goes here.

bench/vs_torch.py times, beside fastopt and torch, two loops from bench/reference_loops.c
on the optimizer's own arrays (same memory, same alignment, 1 thread):

    C loop    the rule's update written as a plain C loop, compiled with the flags of
              fastopt's kernel build: what fastopt would cost with none of its machinery
              (Python call, blocks, options); it computes the same bits (checked here)
    traffic   the same loads and stores, with one multiply-add by zero per stored element
              and none of the rule's arithmetic: what the memory system allows

So "torch / C loop" and "torch / traffic" show what an implementation of the rule can
reach against torch on this machine and these arrays, and fastopt's own ratio is read
against them.  They are measurements, not bounds: where the arrays partly fit in the
caches (1e6 elements, the 20 arrays), the traffic the previous callable left moves any of
the three by 10% or so.  Only Adam, SGD-momentum and AdaGrad (torch convention, float32,
default options) have a C loop; the other rules have no torch fused kernel to compare with.

The C file is compiled once per process into a temporary directory with the C compiler
Python was built with (``CC`` overrides it); without one, ``load()`` returns None and the
columns are left out.  Not a library dependency: the benchmarks only.
"""

import atexit
import ctypes
import os
import platform
import shlex
import shutil
import subprocess
import sysconfig
import tempfile

import numpy as np

from fastopt import _dispatch

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_loops.c")
# setup.py's optimization flags for gcc/clang that matter here (no FMA contraction,
# vectorizable sqrt; its alias-check budget is moot for loops over restrict pointers); the
# AVX2 build adds -mavx2
FLAGS = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-shared",
         "-fPIC"]
# bench rule (also the C loop's name) -> (the kernel's rule, state arrays in the order the
# C loop takes them)
STATES = {"sgd_momentum": ("sgd", ("momentum_buffer",)),
          "adagrad": ("adagrad", ("sum",)),
          "adam": ("adam", ("exp_avg", "exp_avg_sq"))}
CHECK_STEP = 5          # the step number whose numbers the C loops use
_lib = None


def load():
    """The compiled reference_loops.c (ctypes.CDLL), or None when no C compiler works."""
    global _lib
    if _lib is None:
        cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
        isa = ["-mavx2"] if _dispatch.ISA == "avx2" else []
        folder = tempfile.mkdtemp(prefix="fastopt-reference-loops-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        out = os.path.join(folder, "reference_loops"
                           + (sysconfig.get_config_var("SHLIB_SUFFIX") or ".so"))
        try:
            subprocess.run(cc[:1] + FLAGS + isa + [SOURCE, "-o", out, "-lm"], check=True,
                           capture_output=True, timeout=120)
            _lib = ctypes.CDLL(out)
        except (OSError, subprocess.SubprocessError):
            _lib = False
    return _lib or None


def describe():
    lib = load()
    if lib is None:
        return "reference loops: not built (no working C compiler)"
    return (f"reference loops: bench/reference_loops.c compiled with {' '.join(FLAGS)}"
            f"{' -mavx2' if _dispatch.ISA == 'avx2' else ''} on {platform.machine()}")


def _pointers(arrays):
    return (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])


def loops(rule, opt, grads):
    """{"C loop": callable, "traffic": callable} stepping ``opt``'s own float32 arrays with
    ``grads`` (a list, one per parameter), or {} where the rule has no C loop or the
    library is unavailable.  The callables keep the arrays alive."""
    lib = load()
    if lib is None or rule not in STATES:
        return {}
    keys = STATES[rule][1]
    params = list(opt.params)
    state = [[st[k] for st in opt.state] for k in keys]
    arrays = [params, list(grads)] + state
    if any(a.dtype != np.float32 or not a.flags.c_contiguous for group in arrays for a in group):
        raise ValueError("the reference loops take C-contiguous float32 arrays")
    ptrs = [_pointers(group) for group in arrays]
    s2 = ptrs[3] if len(ptrs) > 3 else ptrs[2]
    sizes = (ctypes.c_longlong * len(params))(*[a.size for a in params])
    values = numbers(rule, opt)
    x = (ctypes.c_double * len(values))(*values)
    rule_fn, traffic_fn = getattr(lib, rule), lib.traffic
    rule_fn.restype = traffic_fn.restype = ctypes.c_longlong
    count, states = len(params), len(keys)

    def c_loop(_keep=arrays):
        return rule_fn(ptrs[0], ptrs[1], ptrs[2], s2, sizes, count, x)

    def traffic(_keep=arrays):
        return traffic_fn(ptrs[0], ptrs[1], ptrs[2], s2, sizes, count, states,
                          ctypes.c_float(0.0))

    return {"C loop": c_loop, "traffic": traffic}


def numbers(rule, opt):
    """The kernel's step numbers (``fastopt._dispatch.step_numbers``) for ``opt`` at step
    CHECK_STEP, in the order of the rule's fields, which the C loops take them in."""
    named, _ = _dispatch.step_numbers(STATES[rule][0], opt.convention == "keras",
                                      dict(opt.hyper), opt.learning_rate, CHECK_STEP)
    return list(named.values())


def check(rule, make_opt, n=1000):
    """The C loop computes fastopt's step bit for bit (step CHECK_STEP, two arrays); nothing
    to check where ``loops`` gives none (no C loop for the rule, or no library)."""
    if load() is None or rule not in STATES:
        return
    rng = np.random.default_rng(3)
    p0 = [rng.standard_normal(k).astype(np.float32) for k in (n, 37)]
    g = [(rng.standard_normal(k) * 1e-2).astype(np.float32) for k in (n, 37)]
    a, b = make_opt([p.copy() for p in p0]), make_opt([p.copy() for p in p0])
    for _ in range(CHECK_STEP - 1):
        a.step(g)
        b.step(g)
    a.step(g)
    loops(rule, b, g)["C loop"]()
    for name, x, y in [("params", a.params, b.params)] + [
            (k, [st[k] for st in a.state], [st[k] for st in b.state]) for k in STATES[rule][1]]:
        if not all(np.array_equal(u, v) for u, v in zip(x, y)):
            raise SystemExit(f"bench/reference_loops.c's {rule} loop does not compute "
                             f"fastopt's step ({name} differ): the reference would not be of "
                             "the same work")

