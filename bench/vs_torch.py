"""fastopt against torch.optim, side by side, on the same arrays and thread counts.

What is compared
    One ``opt.step(grad)`` of a fastopt optimizer against one ``opt.step()`` of the
    torch.optim optimizer with the same rule and hyperparameters (torch convention,
    float32, default hyperparameters of both except SGD: lr 0.01, momentum 0.9):

        fastopt              torch.optim (implementation)
        Adam                 Adam(fused=True)
        SGD(momentum=0.9)    SGD(momentum=0.9, fused=True)
        Adagrad              Adagrad(fused=True)
        Nadam                NAdam(foreach=True)      (no fused CPU kernel in torch)
        Adamax               Adamax(foreach=True)     (no fused CPU kernel in torch)
        RMSprop              RMSprop(foreach=True)    (no fused CPU kernel in torch)

    Whether torch accepts ``fused=True`` on CPU is probed at run time; where it does not,
    foreach is used instead and the table says so.  Sizes: one array of 10, 10^4, 10^6 and
    10^7 elements (``--quick``: 10, 10^4, 10^5), and "20 arrays": 20 arrays whose sizes
    are log-uniform in 10^3..10^5 (fixed seed), like the layers of a small network, updated
    by one step over all of them.  Thread counts 1 and 2: ``torch.set_num_threads(k)``
    and fastopt ``num_threads=k`` (fastopt runs arrays under 65,536 elements on the
    calling thread whatever k is).

Protocol
    Both optimizers update their own copies of the same initial parameters; torch's
    parameters are ``torch.from_numpy`` views of NumPy arrays (no copy) and its gradient,
    also a view of the same fixed N(0, 1) * 1e-3 NumPy gradient, is set once
    (``p.grad = ...``), so both time the update only.  The two steps are timed in
    interleaved rounds with bench/harness.py's ``median_seconds`` (warm-up, batches of
    steps sized to fill a few milliseconds at small sizes, one untimed lead-in step per
    batch), per thread count after ``torch.set_num_threads(k)``; each reports the median
    over rounds.  "x torch" is torch's median time divided by fastopt's: > 1 means fastopt
    is faster.  Before timing, a 3-step run from the same start checks that both compute
    the same parameters (float32 tolerance), so the comparison is of equal work.
    "GB/s" is the bytes a fastopt step moves (parameters and state read and written,
    gradients read) over its time: far above the copy bandwidth of main memory where the
    arrays stay in cache between steps (10^4 and "20 arrays").

Reference loops (bench/reference_loops.py)
    For Adam, SGD-momentum and AdaGrad, from 10^5 elements at 1 thread, the same rounds
    also time two C loops on fastopt's own arrays: the rule as a plain C loop ("C loop x":
    torch time / its time) and the same loads and stores without the rule's arithmetic
    ("traffic x").  They show how far an implementation of the rule gets ahead of torch on
    this machine: fastopt's "x torch" is read against them (measurements, not bounds; see
    bench/reference_loops.py).  The columns show "-" elsewhere, and without a C compiler.

Usage: python bench/vs_torch.py [--quick] [--sizes 10,10000] [--threads 1,2]
                                [--rules adam,nadam] [--json FILE]
Skips with a message (exit status 0) when torch is not installed.
"""

import argparse
import sys
import time

import numpy as np

import fastopt

try:
    import harness                   # bench/harness.py: machine, timing, tables
    import reference_loops           # bench/reference_loops.py: the rules as plain C loops
except ImportError:                  # imported as bench.vs_torch
    from bench import harness, reference_loops

FULL_SIZES = (10, 10**4, 10**6, 10**7)
QUICK_SIZES = (10, 10**4, 10**5)
MULTI = "20 arrays"
MULTI_COUNT, MULTI_LOW, MULTI_HIGH = 20, 10**3, 10**5
REFERENCE_FROM = 10**5  # the reference loops are timed from this many elements on, at 1
                        # thread (below, the ctypes call costs more than the loop)
DTYPE = np.float32

# name -> (fastopt factory(params, k), torch class name, torch kwargs, torch fused capable)
RULES = {
    "adam": (lambda p, k: fastopt.Adam(p, num_threads=k), "Adam", {"lr": 1e-3}, True),
    "sgd_momentum": (lambda p, k: fastopt.SGD(p, learning_rate=0.01, momentum=0.9,
                                              num_threads=k),
                     "SGD", {"lr": 0.01, "momentum": 0.9}, True),
    "adagrad": (lambda p, k: fastopt.Adagrad(p, num_threads=k), "Adagrad", {"lr": 0.01},
                True),
    "nadam": (lambda p, k: fastopt.Nadam(p, num_threads=k), "NAdam", {"lr": 2e-3}, False),
    "adamax": (lambda p, k: fastopt.Adamax(p, num_threads=k), "Adamax", {"lr": 2e-3}, False),
    "rmsprop": (lambda p, k: fastopt.RMSprop(p, num_threads=k), "RMSprop",
                {"lr": 0.01, "alpha": 0.99}, False),
}


def load_torch():
    """The torch module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def multi_sizes(seed=0):
    rng = np.random.default_rng(seed)
    return [int(v) for v in np.round(10 ** rng.uniform(np.log10(MULTI_LOW),
                                                         np.log10(MULTI_HIGH), MULTI_COUNT))]


def implementation(torch, rule):
    """'fused' or 'foreach': what torch.optim offers this rule on CPU (probed)."""
    _, cls_name, kw, fused_capable = RULES[rule]
    if not fused_capable:
        return "foreach"
    p = torch.zeros(4, requires_grad=True)
    p.grad = torch.ones(4)
    try:
        getattr(torch.optim, cls_name)([p], **kw, fused=True).step()
    except (TypeError, RuntimeError, ValueError):
        return "foreach"
    return "fused"


def make_pair(torch, rule, arrays, grads, k, impl):
    """(fastopt optimizer, torch optimizer) over separate copies of ``arrays``."""
    make_fast, cls_name, kw, _ = RULES[rule]
    fast_params = [a.copy() for a in arrays]
    fast = make_fast(fast_params if len(arrays) > 1 else fast_params[0], k)
    torch_params = []
    for a, g in zip(arrays, grads):
        t = torch.from_numpy(a.copy()).requires_grad_(True)   # a view of a NumPy array
        t.grad = torch.from_numpy(g)
        torch_params.append(t)
    topt = getattr(torch.optim, cls_name)(torch_params, **kw, **{impl: True})
    return fast, fast_params, topt, torch_params


def check_agreement(torch, rule, impl, steps=3):
    """Both libraries compute the same update (float32 tolerance, 3 steps, 2 arrays)."""
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(n).astype(DTYPE) for n in (1000, 37)]
    grads = [rng.standard_normal(a.size).astype(DTYPE) for a in arrays]
    fast, fast_params, topt, torch_params = make_pair(torch, rule, arrays, grads, 1, impl)
    for _ in range(steps):
        fast.step(grads)
        topt.step()
    for a, t in zip(fast_params, torch_params):
        if not np.allclose(a, t.detach().numpy(), rtol=1e-5, atol=1e-6):
            diff = np.abs(a - t.detach().numpy()).max()
            raise SystemExit(f"fastopt and torch disagree for {rule} ({impl}): max "
                             f"difference {diff:g} after {steps} steps")


def time_case(torch, rule, impl, sizes, threads, quick, label):
    """Rows for one rule and one case (a single size, or the list of 20 sizes)."""
    rng = np.random.default_rng(sum(sizes))
    arrays = [rng.standard_normal(n).astype(DTYPE) for n in sizes]
    grads = [(rng.standard_normal(n) * 1e-3).astype(DTYPE) for n in sizes]
    total = sum(sizes)
    plan = harness.repetition_plan(max(sizes) if len(sizes) > 1 else total, quick)
    rows = []
    for k in threads:
        torch.set_num_threads(k)
        fast, _, topt, _ = make_pair(torch, rule, arrays, grads, k, impl)
        g = grads if len(grads) > 1 else grads[0]
        fns = {"fastopt": lambda: fast.step(g), "torch": topt.step}
        if total >= REFERENCE_FROM and k == 1:     # the C loops run on one thread
            fns.update(reference_loops.loops(rule, fast, grads))
        t = harness.median_seconds(fns, plan)
        row = {"rule": rule, "case": label, "n": total, "arrays": len(sizes),
               "dtype": np.dtype(DTYPE).name, "threads": k, "torch_impl": impl,
               "fastopt_us": t["fastopt"] * 1e6, "torch_us": t["torch"] * 1e6,
               "x_torch": t["torch"] / t["fastopt"],
               "gbps": harness.bytes_per_step(fast) / t["fastopt"] / 1e9}
        for key in ("C loop", "traffic"):
            if key in t:
                row[f"{key}_x_torch"] = t["torch"] / t[key]
        rows.append(row)
    return rows


def measure(sizes=FULL_SIZES, threads=(1, 2), rules=None, quick=False, multi=True,
            report=None):
    """All rows, or None when torch is not installed."""
    torch = load_torch()
    if torch is None:
        return None
    before = torch.get_num_threads()
    rows = []
    try:
        for rule in (list(RULES) if rules is None else rules):
            impl = implementation(torch, rule)
            check_agreement(torch, rule, impl)
            reference_loops.check(rule, lambda p, make=RULES[rule][0]: make(p, 1))
            cases = [([n], harness.size_label(n)) for n in sizes]
            if multi:
                cases.append((multi_sizes(), MULTI))
            for case_sizes, label in cases:
                for row in time_case(torch, rule, impl, case_sizes, threads, quick, label):
                    if report is not None:
                        report(row)
                    rows.append(row)
    finally:
        torch.set_num_threads(before)
    return rows


COLUMNS = (("rule", 13), ("size", 9), ("thr", 4), ("torch impl", 10), ("fastopt us", 11),
           ("torch us", 11), ("x torch", 8), ("GB/s", 6), ("C loop x", 9), ("traffic x", 10))


def header():
    return harness.table_header(COLUMNS)


def fmt_us(us):
    return f"{us:.3g}" if us < 100 else f"{us:.0f}"


def format_row(r):
    cells = (r["rule"], r["case"], str(r["threads"]), r["torch_impl"], fmt_us(r["fastopt_us"]),
             fmt_us(r["torch_us"]), f"{r['x_torch']:.2f}", f"{r['gbps']:.1f}",
             *(f"{r[k]:.2f}" if k in r else "-" for k in ("C loop_x_torch", "traffic_x_torch")))
    return harness.table_row(cells, COLUMNS)


def describe(torch):
    sizes = multi_sizes()
    return (f"torch {torch.__version__}, float32; '{MULTI}': {MULTI_COUNT} arrays of "
            f"{min(sizes)}..{max(sizes)} elements ({sum(sizes)} in all); us: median per step; "
            "x torch: torch time / fastopt time (> 1: fastopt faster); C loop x, traffic x: "
            "torch time / the time of bench/reference_loops.c's plain C loop of the rule, and "
            "of its "
            "loads and stores alone, on fastopt's arrays (from "
            f"{REFERENCE_FROM:.0e} elements, Adam/SGD-momentum/Adagrad); "
            f"{reference_loops.describe()}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="sizes 10, 1e4, 1e5; fewer repeats")
    ap.add_argument("--sizes", type=harness.int_list, help="comma-separated element counts")
    ap.add_argument("--threads", type=harness.int_list, default=[1, 2])
    ap.add_argument("--rules", type=harness.name_list, default=list(RULES),
                    help=f"comma-separated, from {','.join(RULES)}")
    ap.add_argument("--no-multi", action="store_true", help="skip the 20-array case")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    a = ap.parse_args(argv)
    unknown = [r for r in a.rules if r not in RULES]
    if unknown:
        ap.error(f"unknown rules {unknown}; choose from {', '.join(RULES)}")
    torch = load_torch()
    if torch is None:
        print("vs_torch: torch is not installed; skipped (pip install torch to run it).")
        return 0
    sizes = a.sizes or list(QUICK_SIZES if a.quick else FULL_SIZES)
    print(describe(torch) + "\n")
    print(header())
    started = time.perf_counter()
    rows = measure(sizes, a.threads, a.rules, a.quick, not a.no_multi,
                   report=lambda r: print(format_row(r), flush=True))
    print(f"({time.perf_counter() - started:.0f} s)")
    harness.write_json(a.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
