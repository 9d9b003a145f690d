"""Step-kernel benchmark: fastopt against the memory bandwidth and against NumPy.

What is compared
    One ``opt.step(grad)`` of each fastopt optimizer (torch convention, default
    hyperparameters, no extras) for eight rules: sgd, sgd_momentum (0.9), sgd_nesterov,
    adagrad, rmsprop, adam, adamax and nadam.  Each is timed at every requested size
    (default 10^4, 10^6, 10^7 elements), dtype (float32, float64) and thread count
    (``num_threads`` 1 and 2), and compared with

    * the memory limit: the best bandwidth of a copy (``np.copyto(y, x)``, 2 arrays moved)
      and a triad (``np.add(x, y, out=z)``, 3 arrays moved) on arrays of the same length
      and dtype, measured in this run together with each rule's timings.  The fraction
      of that limit is the kernel's bytes moved per second divided by it;
    * an efficient NumPy implementation of the same rule (written below from the torch
      formulas: in-place ufuncs with ``out=``, temporaries allocated once, no allocation
      per step), at the same size and dtype;
    * the same kernel on one thread (the "x 1T" column).

NumPy (baselines, copy and triad) runs on one thread, so with 2 threads the fraction of
the limit can exceed 1: it then says the kernel outruns one core's copy.

Bytes moved per step are counted from the arrays themselves: param and every state array
are read and written, the gradient is read (3 arrays for plain SGD, 5 for SGD with
momentum, AdaGrad and RMSprop, 7 for Adam, AdaMax and Nadam).  GB means 10^9 bytes.

Timing: bench/harness.py's interleaved rounds (warm-up, batches of steps sized to fill a
few milliseconds at small sizes and of one step at large ones, one untimed lead-in step per
batch).  For each rule, the copy, the triad, the NumPy step and the kernel at each thread
count are sampled in turn, one batch each per round, so that a slow spell of the (virtual)
machine hits them alike; each reports the median of its batches.  The gradient is a fixed
N(0, 1) * 1e-3 array, so parameters stay finite; updates accumulate in place across
repetitions.

The last line checks the first target: at 1 thread, 10^7 elements, float32, every rule
reaches >= 0.80 of the memory limit and Adam is >= 5x faster than NumPy.

A second table times the reductions a step may add over the gradient, at the largest
size, 1 and 2 threads: ``sum_squares`` (norm clipping; with a random mask of ~50% zeros
too), ``count_nonfinite`` (``nan_policy`` "skip" and "raise") and ``max_abs``
(``minimize``'s gradient test, one thread), each as GB/s read and against one read of
the array by NumPy (``np.sum``, one thread), in interleaved rounds.

Usage: python bench/kernels.py [--quick] [--sizes 10000,1000000] [--threads 1,2]
                               [--rules adam,sgd] [--json FILE]
"""

import argparse
import math
import sys
import time

import numpy as np

import fastopt
from fastopt import _dispatch

try:
    import harness                   # bench/harness.py: machine, timing, tables
except ImportError:                  # imported as bench.kernels
    from bench import harness

FULL_SIZES = (10**4, 10**6, 10**7)
QUICK_SIZES = (10**4, 10**6)

TARGET_N = 10**7
TARGET_DTYPE = "float32"
TARGET_FRACTION = 0.80
TARGET_ADAM_SPEEDUP = 5.0


# ---------------------------------------------------------------------------------------
# NumPy baselines (torch convention).  Each factory takes the parameter array, allocates
# its state and temporaries once, and returns step(g) that updates the array in place.

def ema(avg, x, beta, tmp):
    """avg = beta * avg + (1 - beta) * x, as avg += (1 - beta) * (x - avg); x may be tmp."""
    np.subtract(x, avg, out=tmp)
    np.multiply(tmp, 1 - beta, out=tmp)
    np.add(avg, tmp, out=avg)


def numpy_sgd(p, lr=0.01):
    tmp = np.empty_like(p)

    def step(g):
        np.multiply(g, lr, out=tmp)
        np.subtract(p, tmp, out=p)
    return step


def numpy_sgd_momentum(p, lr=0.01, momentum=0.9, nesterov=False):
    buf = np.zeros_like(p)          # b = g at the first step, i.e. mu * 0 + g
    tmp = np.empty_like(p)

    def step(g):
        np.multiply(buf, momentum, out=buf)
        np.add(buf, g, out=buf)                     # b = mu b + g
        if nesterov:                                # p -= lr g + lr mu b
            np.multiply(g, lr, out=tmp)
            np.subtract(p, tmp, out=p)
            np.multiply(buf, lr * momentum, out=tmp)
        else:                                       # p -= lr b
            np.multiply(buf, lr, out=tmp)
        np.subtract(p, tmp, out=p)
    return step


def numpy_sgd_nesterov(p, lr=0.01, momentum=0.9):
    return numpy_sgd_momentum(p, lr, momentum, nesterov=True)


def numpy_adagrad(p, lr=0.01, eps=1e-10):
    acc = np.zeros_like(p)
    tmp = np.empty_like(p)

    def step(g):
        np.multiply(g, g, out=tmp)
        np.add(acc, tmp, out=acc)                   # s += g^2
        np.sqrt(acc, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(g, tmp, out=tmp)
        np.multiply(tmp, lr, out=tmp)
        np.subtract(p, tmp, out=p)                  # p -= lr g / (sqrt(s) + eps)
    return step


def numpy_rmsprop(p, lr=0.01, rho=0.99, eps=1e-8):
    sq = np.zeros_like(p)
    tmp = np.empty_like(p)

    def step(g):
        np.multiply(g, g, out=tmp)
        ema(sq, tmp, rho, tmp)                      # s = rho s + (1 - rho) g^2
        np.sqrt(sq, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(g, tmp, out=tmp)
        np.multiply(tmp, lr, out=tmp)
        np.subtract(p, tmp, out=p)                  # p -= lr g / (sqrt(s) + eps)
    return step


def numpy_adam(p, lr=1e-3, beta_1=0.9, beta_2=0.999, eps=1e-8):
    m, v, tmp = np.zeros_like(p), np.zeros_like(p), np.empty_like(p)
    t = 0

    def step(g):
        nonlocal t
        t += 1
        root_bc2 = math.sqrt(1 - beta_2 ** t)
        ema(m, g, beta_1, tmp)
        np.multiply(g, g, out=tmp)
        ema(v, tmp, beta_2, tmp)
        # lr/bc1 * m / (sqrt(v)/root_bc2 + eps), with root_bc2 folded into the scalars
        np.sqrt(v, out=tmp)
        np.add(tmp, eps * root_bc2, out=tmp)
        np.divide(m, tmp, out=tmp)
        np.multiply(tmp, lr * root_bc2 / (1 - beta_1 ** t), out=tmp)
        np.subtract(p, tmp, out=p)
    return step


def numpy_adamax(p, lr=2e-3, beta_1=0.9, beta_2=0.999, eps=1e-8):
    m, u, tmp = np.zeros_like(p), np.zeros_like(p), np.empty_like(p)
    t = 0

    def step(g):
        nonlocal t
        t += 1
        ema(m, g, beta_1, tmp)
        np.multiply(u, beta_2, out=u)
        np.abs(g, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.maximum(u, tmp, out=u)                   # u = max(beta_2 u, |g| + eps)
        np.divide(m, u, out=tmp)
        np.multiply(tmp, lr / (1 - beta_1 ** t), out=tmp)
        np.subtract(p, tmp, out=p)
    return step


def numpy_nadam(p, lr=2e-3, beta_1=0.9, beta_2=0.999, eps=1e-8, momentum_decay=0.004):
    m, v = np.zeros_like(p), np.zeros_like(p)
    tmp, den = np.empty_like(p), np.empty_like(p)
    t = 0
    mu_product = 1.0

    def mu(k):
        return beta_1 * (1 - 0.5 * 0.96 ** (k * momentum_decay))

    def step(g):
        nonlocal t, mu_product
        t += 1
        mu_t, mu_next = mu(t), mu(t + 1)
        mu_product *= mu_t
        root_bc2 = math.sqrt(1 - beta_2 ** t)
        c_g = lr * (1 - mu_t) / (1 - mu_product)
        c_m = lr * mu_next / (1 - mu_product * mu_next)
        ema(m, g, beta_1, tmp)
        np.multiply(g, g, out=tmp)
        ema(v, tmp, beta_2, tmp)
        # p -= (c_g g + c_m m) / (sqrt(v)/root_bc2 + eps), as one division
        np.sqrt(v, out=den)
        np.add(den, eps * root_bc2, out=den)
        np.multiply(m, c_m / c_g, out=tmp)
        np.add(tmp, g, out=tmp)
        np.divide(tmp, den, out=tmp)
        np.multiply(tmp, c_g * root_bc2, out=tmp)
        np.subtract(p, tmp, out=p)
    return step


# ---------------------------------------------------------------------------------------
# The rules: fastopt optimizer factory and NumPy baseline.

RULES = {
    "sgd": (lambda p, k: fastopt.SGD(p, learning_rate=0.01, num_threads=k), numpy_sgd),
    "sgd_momentum": (lambda p, k: fastopt.SGD(p, learning_rate=0.01, momentum=0.9,
                                              num_threads=k), numpy_sgd_momentum),
    "sgd_nesterov": (lambda p, k: fastopt.SGD(p, learning_rate=0.01, momentum=0.9,
                                              nesterov=True, num_threads=k),
                     numpy_sgd_nesterov),
    "adagrad": (lambda p, k: fastopt.Adagrad(p, num_threads=k), numpy_adagrad),
    "rmsprop": (lambda p, k: fastopt.RMSprop(p, num_threads=k), numpy_rmsprop),
    "adam": (lambda p, k: fastopt.Adam(p, num_threads=k), numpy_adam),
    "adamax": (lambda p, k: fastopt.Adamax(p, num_threads=k), numpy_adamax),
    "nadam": (lambda p, k: fastopt.Nadam(p, num_threads=k), numpy_nadam),
}


def check_baselines(n=1000, steps=3):
    """The NumPy baselines must compute what fastopt computes (float64, a few steps)."""
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(n)
    g = rng.standard_normal(n)
    bad = []
    for name, (make_opt, make_numpy) in RULES.items():
        a, b = p0.copy(), p0.copy()
        opt, step = make_opt(a, 1), make_numpy(b)
        for _ in range(steps):
            opt.step(g)
            step(g)
        if not np.allclose(a, b, rtol=1e-9, atol=1e-12):
            bad.append(name)
    if bad:
        raise SystemExit(f"NumPy baseline disagrees with fastopt for: {', '.join(bad)}")


# ---------------------------------------------------------------------------------------
# One block: a size and a dtype, every rule and thread count.

def time_rule(name, p0, g, threads, plan, bandwidth):
    """Rows for one rule: copy, triad, NumPy and the kernel at each thread count, timed
    in interleaved rounds (bandwidth: harness.bandwidth_callables on arrays like p0)."""
    make_opt, make_numpy = RULES[name]
    numpy_step = make_numpy(p0.copy())
    opts = {k: make_opt(p0.copy(), k) for k in threads}
    fns = {key: fn for key, (fn, _) in bandwidth.items()}
    fns["numpy"] = lambda: numpy_step(g)
    fns.update({k: (lambda opt=opt: opt.step(g)) for k, opt in opts.items()})
    t = harness.median_seconds(fns, plan)

    copy_bw, triad_bw = (bandwidth[key][1] / t[key] for key in ("copy", "triad"))
    limit = max(copy_bw, triad_bw)
    rows = []
    for k, opt in opts.items():
        seconds, moved = t[k], harness.bytes_per_step(opt)
        rows.append({
            "rule": name, "n": p0.size, "dtype": p0.dtype.name, "threads": k,
            "team": _dispatch.team_size(p0.size, k),
            "ms": seconds * 1e3, "bytes": moved, "gbps": moved / seconds / 1e9,
            "copy_gbps": copy_bw / 1e9, "triad_gbps": triad_bw / 1e9,
            "limit_gbps": limit / 1e9, "limit_kind": "copy" if copy_bw >= triad_bw else "triad",
            "fraction": moved / seconds / limit,
            "numpy_ms": t["numpy"] * 1e3, "vs_numpy": t["numpy"] / seconds,
            "vs_1t": t[1] / seconds if 1 in t else None,
        })
    return rows


def run_block(n, dtype, rules, threads, quick, report):
    rng = np.random.default_rng(n)
    p0 = rng.standard_normal(n).astype(dtype)
    g = (rng.standard_normal(n) * 1e-3).astype(dtype)
    bandwidth = harness.bandwidth_callables(n, dtype, rng)
    plan = harness.repetition_plan(n, quick)
    rows = []
    for name in rules:
        for row in time_rule(name, p0, g, threads, plan, bandwidth):
            report(row)
            rows.append(row)
    return rows


def measure(sizes=FULL_SIZES, dtypes=harness.DTYPES, rules=None, threads=(1, 2), quick=False,
            report=None, block_done=None):
    """Rows (dicts, see time_rule) for every size x dtype x rule x thread count; report(row)
    is called as each row is measured, block_done() after each size-and-dtype block.  This
    is the entry point bench/run.py uses."""
    rules = list(RULES) if rules is None else list(rules)
    rows = []
    for n in sizes:
        for dtype in dtypes:
            rows += run_block(n, dtype, rules, list(threads), quick, report or (lambda r: None))
            if block_done is not None:
                block_done()
    return rows


# ---------------------------------------------------------------------------------------
# Reporting.

COLUMNS = (("rule", 13), ("n", 5), ("dtype", 8), ("thr", 5), ("ms/step", 9), ("GB/s", 7),
           ("limit GB/s", 12), ("of limit", 9), ("numpy ms", 10), ("x numpy", 8),
           ("x 1T", 6))


def format_row(r):
    thr = str(r["threads"]) + ("" if r["team"] == r["threads"] else f"({r['team']})")
    cells = (r["rule"], harness.size_label(r["n"]), r["dtype"], thr, harness.fmt_ms(r["ms"]),
             f"{r['gbps']:.2f}", f"{r['limit_gbps']:.2f} {r['limit_kind'][0]}",
             f"{r['fraction']:.2f}", harness.fmt_ms(r["numpy_ms"]), f"{r['vs_numpy']:.2f}",
             "-" if r["vs_1t"] is None else f"{r['vs_1t']:.2f}")
    return harness.table_row(cells, COLUMNS)


def header():
    return harness.table_header(COLUMNS)


def print_machine(m):
    print(harness.describe_cpu(m))
    print(f"{harness.describe_software(m)}, kernels: the {m['kernel_build']} build (this CPU "
          f"runs: {', '.join(m['kernel_builds'])})")
    if m["cpu_speeds"]:
        print("relative CPU speeds now: " + harness.describe_speeds(m["cpu_speeds"]))


LEGEND = ("ms/step: median; GB/s: bytes moved per step / time; limit: best of copy (c) and "
          "triad (t) measured\nalongside each rule; of limit: GB/s / limit; x numpy: NumPy "
          "time / fastopt time; x 1T: 1-thread time / this time;\nthr(k): k threads were "
          "actually used (below the parallel threshold).")


def legend():
    print(LEGEND + "\n")


def first_target(rows):
    """The first target (every rule's fraction of the memory limit and Adam's speed-up over
    NumPy at TARGET_N, TARGET_DTYPE, 1 thread), or None when its configuration was not measured."""
    picked = {r["rule"]: r for r in rows
              if r["n"] == TARGET_N and r["dtype"] == TARGET_DTYPE and r["threads"] == 1}
    if not picked:
        return None
    fractions = {name: r["fraction"] for name, r in picked.items()}
    result = {"fractions": fractions,
              "fractions_pass": all(f >= TARGET_FRACTION for f in fractions.values()),
              "rules_missing": [name for name in RULES if name not in picked]}
    if "adam" in picked:
        result["adam_vs_numpy"] = picked["adam"]["vs_numpy"]
        result["adam_pass"] = result["adam_vs_numpy"] >= TARGET_ADAM_SPEEDUP
    return result


def summary_line(target):
    if target is None:
        return (f"FIRST TARGET: not measured (needs n={harness.size_label(TARGET_N)} "
                f"{TARGET_DTYPE} at 1 thread)")
    parts = [f"{name} {f:.2f} {'PASS' if f >= TARGET_FRACTION else 'MISS'}"
             for name, f in target["fractions"].items()]
    line = (f"FIRST TARGET (1 thread, n={harness.size_label(TARGET_N)}, {TARGET_DTYPE}): "
            f"fraction of copy/triad bandwidth >= {TARGET_FRACTION:.2f}: " + ", ".join(parts))
    if "adam_vs_numpy" in target:
        line += (f" | adam vs NumPy >= {TARGET_ADAM_SPEEDUP:g}x: "
                 f"{target['adam_vs_numpy']:.2f}x {'PASS' if target['adam_pass'] else 'MISS'}")
    if target["rules_missing"]:
        line += f" | not measured: {', '.join(target['rules_missing'])}"
    return line


# ---------------------------------------------------------------------------------------
# Command line.

def reductions(n, threads, quick=False):
    """Rows {dtype, threads, ms {name: median ms}} of the reductions over one gradient of n
    elements (see the module docstring)."""
    rows = []
    rng = np.random.default_rng(1)
    keep_all = np.zeros(0, np.uint8)
    for dtype in harness.DTYPES:
        g = rng.standard_normal(n).astype(dtype)
        mask = (rng.random(n) >= 0.5).astype(np.uint8)
        for t in threads:
            fns = {"np.sum": g.sum,
                   "sum_squares": lambda t=t: _dispatch.sum_squares(g, keep_all, t),
                   "+mask": lambda t=t: _dispatch.sum_squares(g, mask, t),
                   "count_nonfinite": lambda t=t: _dispatch.count_nonfinite(g, keep_all, t),
                   "max_abs": lambda: _dispatch.max_abs(g)}
            ms = harness.median_seconds(fns, (5 if quick else 11, 0.0))
            rows.append({"dtype": np.dtype(dtype).name, "threads": t, "n": n,
                         "ms": {k: v * 1e3 for k, v in ms.items()}})
    return rows


def format_reductions(rows):
    names = ("sum_squares", "+mask", "count_nonfinite", "max_abs")
    lines = [f"{'dtype':<8}{'thr':>4}{'np.sum ms':>11}"
             + "".join(f"{k:>17}" for k in names),
             "-" * (23 + 17 * len(names))]
    for r in rows:
        gb = r["n"] * np.dtype(r["dtype"]).itemsize / 1e9
        cells = "".join(f"{harness.fmt_ms(r['ms'][k]):>7} {gb / r['ms'][k] * 1e3:>5.1f} "
                        f"{r['ms'][k] / r['ms']['np.sum']:>3.1f}" for k in names)
        lines.append(f"{r['dtype']:<8}{r['threads']:>4}{harness.fmt_ms(r['ms']['np.sum']):>11}"
                     f"{cells}")
    lines.append("each: ms, GB/s read, x np.sum (one thread); max_abs always on one thread")
    return "\n".join(lines)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true",
                    help="sizes 1e4 and 1e6 only, fewer repeats (under a minute)")
    ap.add_argument("--sizes", type=harness.int_list, help="comma-separated element counts")
    ap.add_argument("--threads", type=harness.int_list, default=[1, 2],
                    help="comma-separated num_threads values (default 1,2)")
    ap.add_argument("--rules", type=harness.name_list, default=list(RULES),
                    help=f"comma-separated, from {','.join(RULES)}")
    ap.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    args = ap.parse_args(argv)
    unknown = [r for r in args.rules if r not in RULES]
    if unknown:
        ap.error(f"unknown rules {unknown}; choose from {', '.join(RULES)}")
    args.threads = list(dict.fromkeys(args.threads))
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    if any(n < 1 for n in args.sizes) or any(k < 1 for k in args.threads):
        ap.error("sizes and threads must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    info = harness.machine()
    print_machine(info)
    check_baselines()
    print("NumPy baselines agree with fastopt (float64, 3 steps).\n")
    legend()
    print(header())
    started = time.perf_counter()

    def report(row):
        print(format_row(row), flush=True)

    rows = measure(args.sizes, harness.DTYPES, args.rules, args.threads, args.quick, report,
                   block_done=print)
    target = first_target(rows)
    print(f"({time.perf_counter() - started:.0f} s)")
    print(summary_line(target))
    red = reductions(max(args.sizes), args.threads, args.quick)
    print(f"\nReductions over one gradient of {harness.size_label(max(args.sizes))} "
          "elements")
    print(format_reductions(red))
    harness.write_json(args.json, {"machine": info, "rows": rows, "first_target": target,
                                   "reductions": red})


if __name__ == "__main__":
    sys.exit(main())
