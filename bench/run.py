"""Every fastopt benchmark in one run, with one consolidated table of medians and ratios.

Sections, in the order they run (each its own script, reused here, never duplicated):

  small steps  opt.step on 10 elements for every rule (float32, float64), and with a float
               learning rate vs a PowerDecay vs a OneCycle schedule (Adam, SGD-momentum);
               all interleaved, medians of batches of steps (bench/harness.py's timing).
  minimize     per-iteration overhead of fastopt.minimize beyond fun (bench/minimize.py).
  kernels      every rule x size x dtype x 1/2 threads against the copy/triad bandwidth
               measured alongside and against NumPy (bench/kernels.py).
  sparse       (a) the fused l1 step and a pruning mask vs the plain step; (c) every rule's
               loops; (b) l1-logistic regression against scikit-learn (bench/sparse.py).
  losses       the loss kernels of linear models (value_and_grad) against NumPy/SciPy on a
               dense and a CSR problem, 1 and 2 threads (bench/losses.py).
  torch        the same steps against torch.optim fused / foreach (bench/vs_torch.py);
               skipped with a message when torch is not installed.

Every comparison is measured side by side in this run (interleaved rounds, medians), so the
ratios hold even on a noisy machine where absolute times drift.  The consolidated table
then gathers, per rule (float32): bandwidth and its fraction of the copy bandwidth at the
largest size, the 2-thread speed-up, the speed-up over NumPy, the 10-element step, and the
ratio to torch; the targets follow, each marked PASS, MISS or not measured.

Usage: python bench/run.py [--quick] [--json FILE] [--write-results [FILE]]
                           [--skip small,minimize,kernels,sparse,losses,torch]
``--write-results`` writes bench/RESULTS.md (machine, command, every table, the targets).
"""

import argparse
import datetime
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness          # noqa: E402  (bench/ modules, importable once the path is set)
import kernels          # noqa: E402
import losses           # noqa: E402
import minimize as minimize_bench  # noqa: E402
import sparse           # noqa: E402
import vs_torch         # noqa: E402

import fastopt          # noqa: E402

SECTIONS = ("small", "minimize", "kernels", "sparse", "losses", "torch")
BUSY_LOAD = 1.5                 # load average above which the results carry a warning
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")

# targets
COPY_FRACTION = 0.80            # = within 1.25x of the memory-traffic time
SMALL_STEP_US = 3.0
FUSED_RULES = ("adam", "sgd_momentum", "adagrad")
FOREACH_RULES = ("nadam", "adamax", "rmsprop")
FOREACH_SPEEDUP = 2.0
SMALL_SIZE_SPEEDUP = 5.0        # at 10^4 elements, vs torch fused
MULTI_SPEEDUP = 3.0             # 20 arrays, vs torch fused


# ---------------------------------------------------------------------------------------
# Small steps and schedule overhead.

SMALL_N = 10


def small_steps(quick):
    """Rows {kind: "rule" | "schedule", rule, dtype, variant, us}: a 10-element step of
    every rule, and Adam / SGD-momentum with a float rate, PowerDecay and OneCycle."""
    plan = harness.repetition_plan(SMALL_N, quick)
    rows = []
    for dtype in harness.DTYPES:
        rng = np.random.default_rng(0)
        p0 = rng.standard_normal(SMALL_N).astype(dtype)
        g = (rng.standard_normal(SMALL_N) * 1e-3).astype(dtype)
        opts = {name: make(p0.copy(), 1) for name, (make, _) in kernels.RULES.items()}
        t = harness.median_seconds({k: (lambda o=o: o.step(g)) for k, o in opts.items()},
                                   plan)
        rows += [{"kind": "rule", "rule": k, "dtype": np.dtype(dtype).name,
                  "variant": "float lr", "us": v * 1e6} for k, v in t.items()]
        schedules = {"float lr": lambda lr: lr,
                     "PowerDecay": lambda lr: fastopt.PowerDecay(lr, 1000),
                     "OneCycle": lambda lr: fastopt.OneCycle(lr, 10**9)}
        for rule, make in (("adam", lambda p, lr: fastopt.Adam(p, learning_rate=lr,
                                                                 num_threads=1)),
                           ("sgd_momentum", lambda p, lr: fastopt.SGD(
                               p, learning_rate=lr, momentum=0.9, num_threads=1))):
            opts = {name: make(p0.copy(), s(1e-3)) for name, s in schedules.items()}
            t = harness.median_seconds({k: (lambda o=o: o.step(g)) for k, o in opts.items()},
                                       plan)
            rows += [{"kind": "schedule", "rule": rule, "dtype": np.dtype(dtype).name,
                      "variant": k, "us": v * 1e6, "x_float": v / t["float lr"]}
                     for k, v in t.items()]
    return rows


def format_small(rows):
    lines = [f"opt.step on {SMALL_N} elements, 1 thread, median us per step",
             f"{'rule':<14}{'float32':>9}{'float64':>9}"]
    by = {(r["rule"], r["dtype"]): r["us"] for r in rows if r["kind"] == "rule"}
    for rule in kernels.RULES:
        lines.append(f"{rule:<14}{by.get((rule, 'float32'), float('nan')):>9.2f}"
                     f"{by.get((rule, 'float64'), float('nan')):>9.2f}")
    lines += ["", "learning-rate schedule overhead (same step, interleaved): us per step "
              "(x float lr)",
              f"{'rule':<14}{'dtype':<9}{'float lr':>10}{'PowerDecay':>18}{'OneCycle':>18}"]
    sched = [r for r in rows if r["kind"] == "schedule"]
    for rule in dict.fromkeys(r["rule"] for r in sched):
        for dtype in dict.fromkeys(r["dtype"] for r in sched):
            cell = {r["variant"]: r for r in sched if r["rule"] == rule and r["dtype"] == dtype}
            parts = [f"{cell['float lr']['us']:>10.2f}"]
            for v in ("PowerDecay", "OneCycle"):
                parts.append(f"{cell[v]['us']:>11.2f} ({cell[v]['x_float']:.2f})")
            lines.append(f"{rule:<14}{dtype:<9}" + "".join(parts))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Machine description.

def machine():
    info = harness.machine()
    info.update({"memory_gib": harness.memory_gib(), "compiler": harness.compiler(),
                 "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None})
    return info


def describe_machine(info, kernel_rows):
    memory = "?" if info["memory_gib"] is None else f"{info['memory_gib']:.1f} GiB"
    lines = [f"{harness.describe_cpu(info)}, memory {memory}",
             f"{harness.describe_software(info)}, compiler {info['compiler']}, kernels: the "
             f"{info.get('kernel_build', '?')} build"]
    if info.get("cpu_speeds"):
        lines.append("relative CPU speeds at start: " + harness.describe_speeds(info["cpu_speeds"]))
    bw = copy_bandwidth(kernel_rows)
    if bw:
        lines.append("measured copy bandwidth (np.copyto, 1 thread, median over the rule "
                     "blocks): " + ", ".join(f"{harness.size_label(n)} {dt} {v:.1f} GB/s"
                                            for (n, dt), v in bw.items()))
    if info.get("openmp_runtimes") is not None:
        lines.append("OpenMP runtimes loaded: " + (", ".join(info["openmp_runtimes"]) or
                                                   "none"))
    load = [info.get("loadavg_start"), info.get("loadavg_end")]
    if load[0]:
        lines.append("load average (1, 5, 15 min) at start: "
                     + " ".join(f"{v:.2f}" for v in load[0])
                     + ("; at end: " + " ".join(f"{v:.2f}" for v in load[1]) if load[1] else ""))
    busy = [v[0] for v in load if v]
    if busy and max(busy) > BUSY_LOAD:
        lines.append(f"WARNING: the 1-minute load average reached {max(busy):.2f} on "
                     f"{info['usable_cpus']} CPUs during this run (other work was running): "
                     "absolute times are inflated and 2-thread timings (which need both CPUs) "
                     "are unreliable; 1-thread ratios measured side by side hold best.")
    return "\n".join(line for line in lines if line)


def copy_bandwidth(rows):
    """{(n, dtype): median copy GB/s} at the largest measured size."""
    if not rows:
        return {}
    n = max(r["n"] for r in rows)
    out = {}
    for dt in ("float32", "float64"):
        v = [r["copy_gbps"] for r in rows if r["n"] == n and r["dtype"] == dt]
        if v:
            out[(n, dt)] = statistics.median(v)
    return out


# ---------------------------------------------------------------------------------------
# The consolidated table and the targets.

def pick(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def consolidated(res):
    """(text, rows) of the per-rule summary, float32."""
    krows, small, trows = res.get("kernels") or [], res.get("small") or [], res.get("torch")
    n_max = max((r["n"] for r in krows), default=None)
    cases = []
    if trows:
        cases = list(dict.fromkeys(r["case"] for r in trows))
    out = []
    for rule in kernels.RULES:
        row = {"rule": rule}
        if n_max:
            k1 = pick(krows, rule=rule, n=n_max, dtype="float32", threads=1)
            k2 = pick(krows, rule=rule, n=n_max, dtype="float32", threads=2)
            if k1:
                row.update(gbps=k1[0]["gbps"], of_copy=k1[0]["gbps"] / k1[0]["copy_gbps"],
                           of_best=k1[0]["fraction"], vs_numpy=k1[0]["vs_numpy"])
            if k2:
                row["x2t"] = k2[0]["vs_1t"]
        s = pick(small, kind="rule", rule=rule, dtype="float32")
        if s:
            row["us10"] = s[0]["us"]
        if trows:
            for case in cases:
                for k in (1, 2):
                    t = pick(trows, rule=rule, case=case, threads=k)
                    if t:
                        row[f"torch {case} {k}"] = t[0]["x_torch"]
                        row["torch_impl"] = t[0]["torch_impl"]
        out.append(row)

    def cell(v, fmt):
        return "-" if v is None else format(v, fmt)

    size = harness.size_label(n_max) if n_max else "?"
    head = [("rule", 13, "<"), (f"GB/s {size}", 10, ">"), ("of copy", 8, ">"),
            ("of best", 8, ">"), ("x 2T", 6, ">"), ("x numpy", 8, ">"), ("us @10", 7, ">")]
    # torch: every case at 1 thread; the largest single size and the 20 arrays at 2 too
    singles = [c for c in cases if c != vs_torch.MULTI]
    two = ([singles[-1]] if singles else []) + [c for c in cases if c == vs_torch.MULTI]
    torch_cols = [f"torch {c} {k}" for c in cases for k in (1, 2) if k == 1 or c in two]
    labels = ["t " + c[6:].replace(" arrays", "arr").replace(" 1", "").replace(" 2", "/2T")
              for c in torch_cols]
    head += [(label, max(8, len(label)), ">") for label in labels]
    if trows:
        head.append(("torch impl", 11, ">"))
    lines = ["  ".join(format(h, f"{a}{w}") for h, w, a in head)]
    lines.append("-" * len(lines[0]))
    for r in out:
        cells = [r["rule"], cell(r.get("gbps"), ".2f"), cell(r.get("of_copy"), ".2f"),
                 cell(r.get("of_best"), ".2f"), cell(r.get("x2t"), ".2f"),
                 cell(r.get("vs_numpy"), ".2f"), cell(r.get("us10"), ".2f")]
        cells += [cell(r.get(c), ".2f") for c in torch_cols]
        if trows:
            cells.append(r.get("torch_impl", "-"))
        lines.append("  ".join(format(c, f"{a}{w}") for c, (_, w, a) in zip(cells, head)))
    legend = (f"float32. GB/s, of copy (GB/s / copy bandwidth measured alongside), of best "
              f"(GB/s / the better of copy and triad),\nx numpy (NumPy time / fastopt time): 1 "
              f"thread at {size}; x 2T: 1-thread time "
              f"/ 2-thread time at {size};\nus @10: 1-thread step on 10 elements; t SIZE: "
              "torch.optim time / fastopt time at that size, 1 thread (/2T: 2 threads), > 1 = "
              "fastopt faster;\nt 20arr: one step over 20 arrays of 1e3..1e5 elements.")
    return "\n".join(lines) + "\n" + legend, out


def verdict(ok):
    return "PASS" if ok else "MISS"


def reference_lines(rows):
    """The reference loops under a torch target (bench/reference_loops.py): per fused rule at 1
    thread, torch time over fastopt's, over the plain C loop's and over the traffic-only
    loop's."""
    rows = [r for r in rows if r["rule"] in FUSED_RULES and "C loop_x_torch" in r]
    if not rows:
        return []
    return [f"     ... reference, {rows[0]['case']} 1T, x torch of fastopt / plain C loop / "
            "loads and stores alone: " + ", ".join(
                f"{r['rule']} {r['x_torch']:.2f} / {r['C loop_x_torch']:.2f} / "
                f"{r['traffic_x_torch']:.2f}" for r in rows)]


def targets(res):
    """Lines, one per target: PASS / MISS / not measured, with the numbers behind it."""
    lines = []
    krows = res.get("kernels") or []
    big = [r for r in krows if r["n"] == 10**7 and r["threads"] == 1]
    if big:
        # the memory-traffic time is bytes / the best bandwidth measured alongside (copy or
        # triad, whichever was faster), so a fraction of it can never exceed 1 legitimately
        fractions = {}
        for dt in ("float32", "float64"):
            fr = {r["rule"]: r["fraction"] for r in big if r["dtype"] == dt}
            if fr:
                fractions[dt] = fr
        ok = all(v >= COPY_FRACTION for fr in fractions.values() for v in fr.values())
        detail = "; ".join(f"{dt}: " + ", ".join(f"{k} {v:.2f}" for k, v in fr.items())
                           for dt, fr in fractions.items())
        lines.append(f"[{verdict(ok)}] every rule >= {COPY_FRACTION:.2f} of the best of copy/"
                     f"triad bandwidth (within {1 / COPY_FRACTION:.2f}x of the memory-traffic "
                     f"time) at 1e7, 1 thread ({detail})")
    else:
        lines.append("[not measured] bandwidth at 1e7 (needs the full kernels run)")

    trows = res.get("torch")
    if trows:
        single = [r for r in trows if r["case"] != vs_torch.MULTI]

        def worst(rules, rows):
            sel = [r for r in rows if r["rule"] in rules]
            return min(sel, key=lambda r: r["x_torch"]) if sel else None

        def where(r):
            return f"{r['rule']} {r['case']} {r['threads']}T {r['x_torch']:.2f}x"

        w = worst(FUSED_RULES, single)
        lines.append(f"[{verdict(w['x_torch'] >= 1.0)}] Adam/SGD-momentum/Adagrad no slower "
                     f"than torch fused at every size and thread count (worst: {where(w)})")
        big_sizes = [r for r in single if r["n"] >= 10**6]
        if big_sizes:
            w = worst(FUSED_RULES, big_sizes)
            lines.append(f"     ... at >= 1e6 elements only: worst {where(w)}")
        largest = max(r["n"] for r in single)
        lines += reference_lines([r for r in single if r["n"] == largest])
        w = worst(FOREACH_RULES, single)
        lines.append(f"[{verdict(w['x_torch'] >= FOREACH_SPEEDUP)}] Nadam/AdaMax/RMSprop >= "
                     f"{FOREACH_SPEEDUP:g}x faster than torch foreach (worst: {where(w)})")
        at4 = [r for r in single if r["n"] == 10**4]
        if at4:
            w = worst(FUSED_RULES, at4)
            lines.append(f"[{verdict(w['x_torch'] >= SMALL_SIZE_SPEEDUP)}] at 1e4 elements >= "
                         f"{SMALL_SIZE_SPEEDUP:g}x faster than torch fused (worst: {where(w)})")
        multi = [r for r in trows if r["case"] == vs_torch.MULTI]
        if multi:
            w = worst(FUSED_RULES, multi)
            lines.append(f"[{verdict(w['x_torch'] >= MULTI_SPEEDUP)}] 20-array step >= "
                         f"{MULTI_SPEEDUP:g}x faster than torch fused (worst: {where(w)}, "
                         f"fastopt moving {w['gbps']:.0f} GB/s); foreach rules: worst "
                         + where(worst(FOREACH_RULES, multi)))
            lines += reference_lines([r for r in multi if r["threads"] == 1])
    else:
        lines.append("[not measured] torch targets (torch not installed or skipped)")

    small = [r for r in res.get("small") or [] if r["kind"] == "rule"]
    if small:
        w = max(small, key=lambda r: r["us"])
        lines.append(f"[{verdict(w['us'] < SMALL_STEP_US)}] opt.step on 10 elements < "
                     f"{SMALL_STEP_US:g} us (slowest: {w['rule']} {w['dtype']} "
                     f"{w['us']:.2f} us)")
    prox = (res.get("sparse") or {}).get("prox")
    if prox:
        lines += sparse.target_lines(prox, verdict)
    mrows = res.get("minimize")
    if mrows:
        w = max((r for r in mrows if r["loop"].startswith("minimize")),
                key=lambda r: r["overhead_us"])
        lines.append(f"[{verdict(w['overhead_us'] < minimize_bench.TARGET_OVERHEAD_US)}] "
                     f"minimize overhead < {minimize_bench.TARGET_OVERHEAD_US:g} us per "
                     f"iteration beyond fun (worst: {w['loop']} {w['overhead_us']:.2f} us)")
    e2e = (res.get("sparse") or {}).get("e2e")
    if e2e:
        rows = {r["solver"]: r for r in e2e["rows"]}
        f, s = rows.get("fastopt adam"), rows.get("SGDClassifier")
        if f and s:
            ok = f["seconds"] < s["seconds"] and f["F"] <= s["F"] and f["nnz"] <= s["nnz"]
            line = (f"[{verdict(ok)}] l1-logistic: fastopt faster than SGDClassifier at equal "
                    f"or better objective and sparsity ({f['seconds']:.2f} s vs "
                    f"{s['seconds']:.2f} s, F {f['F']:.6f} vs {s['F']:.6f}, nnz {f['nnz']} vs "
                    f"{s['nnz']})")
            t = rows.get("SGDClassifier tuned")
            if t:
                line += (f"; tuned SGDClassifier: {t['seconds']:.2f} s, F {t['F']:.6f}, nnz "
                         f"{t['nnz']}")
            lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------
# Running and writing.

class Log:
    """Prints and keeps every section's text for RESULTS.md."""

    def __init__(self):
        self.blocks = []

    def section(self, title):
        print(f"\n=== {title} ===", flush=True)
        self.blocks.append([title, []])

    def out(self, text=""):
        print(text, flush=True)
        self.blocks[-1][1].append(text)


def run(args, log):
    res = {}
    info = machine()
    res["machine"] = info
    skip = set(args.skip)

    if "small" not in skip:
        log.section("small steps and schedule overhead")
        res["small"] = small_steps(args.quick)
        log.out(format_small(res["small"]))

    if "minimize" not in skip:
        log.section("minimize overhead (bench/minimize.py)")
        iters, repeats = (500, 3) if args.quick else (2000, 7)
        res["minimize"] = minimize_bench.measure(iters, repeats)
        log.out(minimize_bench.format_table(res["minimize"], iters, repeats))

    if "kernels" not in skip:
        log.section("kernels vs memory bandwidth and NumPy (bench/kernels.py)")
        kernels.check_baselines()
        log.out("NumPy baselines agree with fastopt (float64, 3 steps).")
        log.out(kernels.LEGEND)
        log.out(kernels.header())
        sizes = kernels.QUICK_SIZES if args.quick else kernels.FULL_SIZES
        res["kernels"] = kernels.measure(sizes, harness.DTYPES, None, (1, 2), args.quick,
                                         report=lambda r: log.out(kernels.format_row(r)),
                                         block_done=log.out)

    if "sparse" not in skip:
        log.section("sparse (a): fused l1 step and pruning mask vs plain step "
                    "(bench/sparse.py)")
        n = sparse.PROX_N_QUICK if args.quick else sparse.PROX_N
        log.out(sparse.prox_header())
        res["sparse"] = {"prox": sparse.prox_mask_cost(n, quick=args.quick)}
        log.out(sparse.format_prox(res["sparse"]["prox"]))
        log.section("sparse (c): every rule's loops, 1 thread (bench/sparse.py)")
        res["sparse"]["loops"] = sparse.loop_costs(n, quick=args.quick)
        log.out(sparse.format_loops(res["sparse"]["loops"]))
        log.section("sparse (b): l1-logistic regression end to end (bench/sparse.py)")
        res["sparse"]["e2e"] = sparse.end_to_end(quick=args.quick)
        log.out(sparse.format_e2e(res["sparse"]["e2e"]))

    if "losses" not in skip:
        log.section("loss kernels of linear models vs NumPy/SciPy (bench/losses.py)")
        log.out(losses.LEGEND)
        log.out(losses.header())
        res["losses"] = losses.measure(args.quick, report=lambda r: log.out(losses.format_row(r)))

    if "torch" not in skip:
        log.section("fastopt vs torch.optim (bench/vs_torch.py)")
        torch = vs_torch.load_torch()
        if torch is None:
            log.out("torch is not installed: skipped.")
        else:
            log.out(vs_torch.describe(torch))
            log.out(vs_torch.header())
            sizes = vs_torch.QUICK_SIZES if args.quick else vs_torch.FULL_SIZES
            res["torch"] = vs_torch.measure(sizes, (1, 2), quick=args.quick,
                                            report=lambda r: log.out(vs_torch.format_row(r)))

    info["openmp_runtimes"] = harness.openmp_runtimes()
    info["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return res


def write_results(path, command, res, log, summary, target_lines, seconds):
    info = res["machine"]
    today = datetime.date.today().isoformat()
    parts = [
        "# Benchmark results",
        "",
        f"Measured {today} with `{command}` ({seconds / 60:.1f} minutes), written by "
        "`--write-results`. Every ratio below compares timings taken side by side in that "
        "one run (interleaved rounds, medians); absolute times on a shared virtual machine "
        "drift from run to run, the ratios much less.",
        "",
        "## Machine",
        "",
        "```",
        describe_machine(info, res.get("kernels")),
        "```",
        "",
        "## Summary (float32)",
        "",
        "```",
        summary,
        "```",
        "",
        "## Targets",
        "",
        "```",
        "\n".join(target_lines),
        "```",
    ]
    for title, texts in log.blocks:
        parts += ["", f"## {title[0].upper() + title[1:]}", "", "```",
                  "\n".join(texts).strip("\n"), "```"]
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes and few repeats: a check that everything runs")
    ap.add_argument("--json", metavar="FILE", help="also write every result as JSON")
    ap.add_argument("--write-results", nargs="?", const=RESULTS, metavar="FILE",
                    help="write the results as Markdown to FILE (default bench/RESULTS.md)")
    ap.add_argument("--skip", type=harness.name_list, default=[],
                    help=f"comma-separated sections to skip: {','.join(SECTIONS)}")
    args = ap.parse_args(argv)
    unknown = [s for s in args.skip if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    command = "python bench/run.py" + "".join(f" {a}" for a in (argv if argv is not None
                                                               else sys.argv[1:]))
    log = Log()
    started = time.perf_counter()
    res = run(args, log)
    seconds = time.perf_counter() - started
    summary, summary_rows = consolidated(res)
    target_lines = targets(res)
    print("\n=== machine ===")
    print(describe_machine(res["machine"], res.get("kernels")))
    print("\n=== consolidated (medians and ratios from this run) ===")
    print(summary)
    print("\n=== targets ===")
    print("\n".join(target_lines))
    print(f"\n({seconds:.0f} s)")
    res["summary"], res["targets"] = summary_rows, target_lines
    harness.write_json(args.json, res, default=str)
    if args.write_results:
        write_results(args.write_results, command, res, log, summary, target_lines, seconds)
        print(f"wrote {args.write_results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
