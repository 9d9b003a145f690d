"""The kernel builds side by side: one step of each rule in every instruction-set build this
CPU runs (fastopt._dispatch.ISAS), timed in the same interleaved rounds.

setup.py compiles fastopt/_kernels.pyx once per instruction set (baseline, AVX2, AVX-512 on
x86-64) and fastopt imports the best one the CPU runs.  The builds compute the same bits
(tested); this script shows what each one costs, so that the choice of the best is a
measurement, not an assumption.  For every rule, dtype and thread count it times three
variants of the step (plain; a ~50% pruning mask; l1, mask and weight decay, the decay loop)
with an optimizer whose kernel plan was made by each build, and reports each build's median
milliseconds and its time over the AVX2 build's (< 1: faster), one line per rule, dtype and
thread count.

Usage: python bench/builds.py [--quick] [--sizes N,...] [--threads 1,2] [--rules sgd,adam]
                              [--json FILE]
"""

import argparse
import contextlib
import importlib
import sys

import numpy as np

from fastopt import _dispatch

try:
    import harness                   # bench/harness.py: machine, timing, tables
    import sparse                    # bench/sparse.py: the rules and the sparse problem
except ImportError:                  # imported as bench.builds
    from bench import harness, sparse

SIZES, SIZES_QUICK = (10**7,), (10**6,)
THREADS = (1, 2)
RULES = ("sgd", "sgd_momentum", "adagrad", "adam", "nadam")
VARIANTS = {"plain": {}, "mask": {}, "l1+mask+wd": {"l1": sparse.PROX_L1,
                                                    "weight_decay": sparse.PROX_WEIGHT_DECAY}}
REFERENCE = "avx2"                   # the build the others are compared with
# the names fastopt's Python layer takes from the build in use
KERNEL_NAMES = ("Slot", "Plan", "Progress", "step_numbers")


@contextlib.contextmanager
def using(isa):
    """fastopt._dispatch pointing at build isa's kernels for the duration (the optimizers
    made inside keep that build's plan)."""
    module = importlib.import_module(f"fastopt._kernels_{isa}")
    saved = {name: getattr(_dispatch, name) for name in KERNEL_NAMES}
    try:
        for name in KERNEL_NAMES:
            setattr(_dispatch, name, getattr(module, name))
        yield
    finally:
        for name, value in saved.items():
            setattr(_dispatch, name, value)


def optimizer(isa, rule, p0, g, mask, num_threads, options):
    """An optimizer of rule over a copy of p0 whose plan (and so every step) is isa's."""
    with using(isa):
        opt = sparse.LOOP_RULES[rule](p0.copy(), num_threads=num_threads, **options)
        if mask is not None:
            opt.set_masks([mask])
        opt.step(g)                  # builds the plan now, inside the context
        assert type(opt._plan).__module__ == f"fastopt._kernels_{isa}"
    return opt


def compare(sizes=SIZES, dtypes=harness.DTYPES, rules=RULES, threads=THREADS, quick=False,
            report=None):
    """Rows {rule, n, dtype, threads, variant, isa, ms, x_ref}, one per build."""
    isas = list(_dispatch.ISAS)
    rows = []
    for n in sizes:
        plan = harness.repetition_plan(n, quick)
        for dtype in dtypes:
            _, p0, g, mask = sparse._problem(n, dtype)
            for rule in rules:
                for num_threads in threads:
                    for variant, options in VARIANTS.items():
                        m = mask if "mask" in variant else None
                        fns = {}
                        for isa in isas:
                            opt = optimizer(isa, rule, p0, g, m, num_threads, options)
                            fns[isa] = lambda o=opt: o.step(g)
                        t = harness.median_seconds(fns, plan)
                        ref = t.get(REFERENCE)
                        for isa in isas:
                            row = {"rule": rule, "n": n, "dtype": np.dtype(dtype).name,
                                   "threads": num_threads, "variant": variant, "isa": isa,
                                   "ms": t[isa] * 1e3,
                                   "x_ref": None if ref is None else t[isa] / ref}
                            if report is not None:
                                report(row)
                            rows.append(row)
    return rows


def format_rows(rows):
    """One line per rule, size, dtype and thread count: per variant, the reference build's
    milliseconds and every other build's time over it."""
    isas = list(dict.fromkeys(r["isa"] for r in rows))
    others = [isa for isa in isas if isa != REFERENCE]
    columns = [("rule", 13), ("n", 4), ("dtype", 8), ("thr", 3)]
    for variant in VARIANTS:
        columns += [(f"{variant} ms", len(variant) + 3)]
        columns += [(f"x {isa}", max(8, len(isa) + 2)) for isa in others]
    lines = [harness.table_header(columns)]
    by_case = {}
    for r in rows:
        by_case.setdefault((r["rule"], r["n"], r["dtype"], r["threads"]), {})[
            r["variant"], r["isa"]] = r
    for (rule, n, dtype, threads), cell in by_case.items():
        cells = [rule, harness.size_label(n), dtype, str(threads)]
        for variant in VARIANTS:
            ref = cell.get((variant, REFERENCE))
            cells.append("-" if ref is None else harness.fmt_ms(ref["ms"]))
            for isa in others:
                r = cell.get((variant, isa))
                cells.append("-" if r is None or r["x_ref"] is None else f"{r['x_ref']:.2f}")
        lines.append(harness.table_row(cells, columns))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="10^6 elements, fewer rounds")
    ap.add_argument("--sizes", type=harness.int_list)
    ap.add_argument("--threads", type=harness.int_list, default=list(THREADS))
    ap.add_argument("--rules", type=harness.name_list, default=list(RULES))
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = ap.parse_args(argv)
    unknown = sorted(set(a.rules) - set(sparse.LOOP_RULES))
    if unknown:
        ap.error(f"--rules: unknown {', '.join(unknown)}; known: {', '.join(sparse.LOOP_RULES)}")
    m = harness.machine()
    print(harness.describe_cpu(m))
    print(harness.describe_software(m))
    print(f"builds this CPU runs: {', '.join(_dispatch.ISAS)} (fastopt uses {_dispatch.ISA})")
    sizes = a.sizes or (SIZES_QUICK if a.quick else SIZES)
    rows = compare(sizes, rules=a.rules, threads=a.threads, quick=a.quick)
    print(format_rows(rows))
    print(f"VARIANT ms: the {REFERENCE} build's median ms per step; x BUILD: that build's time "
          f"/ the {REFERENCE} build's, same rounds (< 1: faster); variants: plain; a ~50% "
          "pruning mask; l1, mask and weight decay (the decay loop)")
    harness.write_json(a.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
