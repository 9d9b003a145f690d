"""A reference for fastopt's fused-trio steps: how fast the simplest C loop goes here.

bench/vs_torch.py times, beside fastopt and torch, two loops from bench/reference_loops.c
on the optimizer's own arrays (same memory, same alignment, 1 thread), and bench/sparse.py
times the C loop beside fastopt's plain, masked and l1 steps (float32 and float64, 1 or 2
threads):

    C loop    the rule's update written as a plain C loop, compiled with the flags of
              fastopt's kernel build: what fastopt would cost with none of its machinery
              (Python call, blocks, options); it computes the same bits (checked here)
    traffic   the same loads and stores, with one multiply-add by zero per stored element
              and none of the rule's arithmetic: what the memory system allows

So "torch / C loop" and "torch / traffic" show what an implementation of the rule can
reach against torch on this machine and these arrays, and fastopt's own ratio is read
against them.  They are measurements, not bounds: where the arrays partly fit in the
caches (1e6 elements, the 20 arrays, or 1e7 in a last-level cache of hundreds of MB), the
traffic the previous callable left moves any of the three by 10% or so, and a C loop timed
warm right after fastopt on the same arrays starts warmer (up to 1.4x faster at 1e7 on a
Xeon with a 480 MB L3; bench/sparse.py therefore times every call cold).  Only Adam,
SGD-momentum and AdaGrad (torch convention, default options besides a mask and l1), the
rules with a torch fused kernel, and plain SGD, the cheapest step (bench/sparse.py), have
a C loop.  The traffic loop is float32, unmasked and for rules with state arrays only.

The C file is compiled once per process into a temporary directory with the C compiler
Python was built with (``CC`` overrides it), with OpenMP where the compiler has it; without
a compiler, ``load()`` returns None and the columns are left out.  Not a library
dependency: the benchmarks only.
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
# vectorizable sqrt; its alias-check budget is moot for loops over restrict pointers), the
# flags of the build fastopt runs (ISA_FLAGS), and -fopenmp where it compiles
FLAGS = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-shared",
         "-fPIC"]
# setup.py's flags of each instruction-set build (the baseline adds none)
ISA_FLAGS = {"avx2": ["-mavx2"],
             "avx512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512cd",
                        "-mprefer-vector-width=512"]}
# bench rule -> (the kernel's rule, the C loop's rule number, state arrays in the order the
# C loop takes them)
STATES = {"sgd": ("sgd", 3, ()),
          "sgd_momentum": ("sgd", 0, ("momentum_buffer",)),
          "adagrad": ("adagrad", 1, ("sum",)),
          "adam": ("adam", 2, ("exp_avg", "exp_avg_sq"))}
CHECK_STEP = 5          # the step number whose numbers the C loops use
_lib = None
_flags = None           # the flags it was compiled with


def load():
    """The compiled reference_loops.c (ctypes.CDLL), or None when no C compiler works."""
    global _lib, _flags
    if _lib is None:
        cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
        isa = ISA_FLAGS.get(_dispatch.ISA, [])
        folder = tempfile.mkdtemp(prefix="fastopt-reference-loops-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        out = os.path.join(folder, "reference_loops"
                           + (sysconfig.get_config_var("SHLIB_SUFFIX") or ".so"))
        _lib = False
        for extra in (["-fopenmp"], []):
            try:
                subprocess.run(cc[:1] + FLAGS + isa + extra + [SOURCE, "-o", out, "-lm"],
                               check=True, capture_output=True, timeout=120)
                _lib, _flags = ctypes.CDLL(out), FLAGS + isa + extra
                break
            except (OSError, subprocess.SubprocessError):
                continue
    return _lib or None


def describe():
    lib = load()
    if lib is None:
        return "reference loops: not built (no working C compiler)"
    return (f"reference loops: bench/reference_loops.c compiled with {' '.join(_flags)} "
            f"on {platform.machine()}")


def _pointers(arrays):
    return (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])


def loops(rule, opt, grads, threads=1):
    """{"C loop": callable, "traffic": callable} stepping ``opt``'s own arrays with
    ``grads`` (a list, one per parameter) on ``threads`` threads (the C loop with opt's
    masks and l1 strength; the traffic loop only for unmasked float32 arrays on one thread),
    or {} where the rule has no C loop or the library is unavailable.  The callables keep
    the arrays alive."""
    lib = load()
    if lib is None or rule not in STATES:
        return {}
    keys = STATES[rule][2]
    params = list(opt.params)
    state = [[st[k] for st in opt.state] for k in keys]
    arrays = [params, list(grads)] + state
    dtype = params[0].dtype
    if any(a.dtype != dtype or dtype not in (np.float32, np.float64)
           or not a.flags.c_contiguous for group in arrays for a in group):
        raise ValueError("the reference loops take C-contiguous arrays, all float32 or all "
                         "float64")
    if len({np.ndim(s) or float(s) for s in map(opt.l1_strength, range(len(params)))}) > 1:
        raise ValueError("the reference loops take one l1 strength for every array")
    ptrs = [_pointers(group) for group in arrays]
    # the state arrays a rule does not have: the parameters' pointers, never read
    s1 = ptrs[2] if len(ptrs) > 2 else ptrs[0]
    s2 = ptrs[3] if len(ptrs) > 3 else s1
    masks = list(opt.masks)
    if all(m is None for m in masks):
        mask_ptrs = None
    elif any(m is None for m in masks):
        raise ValueError("the reference loops take a mask for every array or for none")
    else:
        mask_ptrs = _pointers(masks)
    sizes = (ctypes.c_longlong * len(params))(*[a.size for a in params])
    values = numbers(rule, opt)
    x = (ctypes.c_double * len(values))(*values)
    tau = ctypes.c_double(threshold(rule, opt))
    single = dtype == np.float32
    step_fn, traffic_fn = (lib.step_f32 if single else lib.step_f64), lib.traffic
    step_fn.restype = traffic_fn.restype = ctypes.c_longlong
    number, count, states = STATES[rule][1], len(params), len(keys)
    keep = (arrays, masks)

    def c_loop(_keep=keep):
        return step_fn(number, ptrs[0], ptrs[1], s1, s2, mask_ptrs, sizes, count, x,
                       tau, threads)

    def traffic(_keep=keep):
        return traffic_fn(ptrs[0], ptrs[1], s1, s2, sizes, count, states,
                          ctypes.c_float(0.0))

    out = {"C loop": c_loop}
    if single and mask_ptrs is None and threads == 1 and states:
        out["traffic"] = traffic
    return out


def numbers(rule, opt):
    """The kernel's step numbers (``fastopt._dispatch.step_numbers``) for ``opt`` at step
    CHECK_STEP, in the order of the rule's fields, which the C loops take them in."""
    named, _ = _dispatch.step_numbers(STATES[rule][0], opt.convention == "keras",
                                      dict(opt.hyper), opt.learning_rate, CHECK_STEP)
    return list(named.values())


def threshold(rule, opt):
    """tau, the l1 step's threshold before the division by D, as the kernel computes it in
    double: its learning rate (Adam's prox_lr) times opt's l1 strength of the first array,
    times 1 / (1 - momentum) under heavy-ball momentum (Optimizer._prox_scale)."""
    named, _ = _dispatch.step_numbers(STATES[rule][0], opt.convention == "keras",
                                      dict(opt.hyper), opt.learning_rate, CHECK_STEP)
    mu = opt.hyper.get("momentum", 0.0)
    prox = 1.0 / (1.0 - mu) if 0.0 < mu < 1.0 else 1.0
    return named.get("prox_lr", named.get("lr")) * (opt.l1_strength(0) * prox)


def check(rule, make_opt, n=1000, dtype=np.float32, masked=False, threads=1):
    """The C loop computes fastopt's step bit for bit (step CHECK_STEP, two arrays, with a
    mask of ~50% zeros when ``masked``; ``make_opt(params)`` gives the optimizer, its l1
    included); nothing to check where ``loops`` gives none (no C loop for the rule, or no
    library)."""
    if load() is None or rule not in STATES:
        return
    rng = np.random.default_rng(3)
    p0 = [rng.standard_normal(k).astype(dtype) for k in (n, 37)]
    g = [(rng.standard_normal(k) * 1e-2).astype(dtype) for k in (n, 37)]
    masks = [rng.random(k) >= 0.5 for k in (n, 37)]
    a, b = make_opt([p.copy() for p in p0]), make_opt([p.copy() for p in p0])
    if masked:
        a.set_masks(masks)
        b.set_masks(masks)
    for _ in range(CHECK_STEP - 1):
        a.step(g)
        b.step(g)
    a.step(g)
    loops(rule, b, g, threads)["C loop"]()
    for name, x, y in [("params", a.params, b.params)] + [
            (k, [st[k] for st in a.state], [st[k] for st in b.state]) for k in STATES[rule][2]]:
        if not all(np.array_equal(u, v) for u, v in zip(x, y)):
            raise SystemExit(f"bench/reference_loops.c's {rule} loop does not compute "
                             f"fastopt's step ({name} differ, {np.dtype(dtype).name}, "
                             f"mask {masked}, l1 {a.l1_strength(0)}): the reference would "
                             "not be of the same work")

