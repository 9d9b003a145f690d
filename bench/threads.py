"""Threads benchmark: when do 2 threads pay, and do they ever stall on a busy machine.

What is measured, for Adam and plain SGD (no momentum), float32 and
float64, through the optimizer objects (``fastopt.Adam([p], num_threads=k)``,
``fastopt.SGD([p], learning_rate=0.01, num_threads=k)``, ``opt.step(g)``):

1. Crossover sweep.  Sizes 2^10 .. 2^20 (every factor 2), then 2^22 and 2^24;
   ``num_threads=1`` against ``num_threads=2`` with threads forced at every size
   (``fastopt._dispatch.set_parallel_threshold(0)``, restored afterwards).  Time per step of
   each and the ratio t1/t2 (> 1: 2 threads faster).  From it, the smallest sweep size
   from which 2 threads are never slower than 1 at any larger size, for every rule and
   dtype: the candidate ``PARALLEL_THRESHOLD``.
2. Default threshold.  The same ratio with the installed threshold
   (``fastopt._dispatch.PARALLEL_THRESHOLD``): below it ``num_threads=2`` runs on the
   calling thread, so this is what a user gets.  Sizes where 2 threads are more than 5%
   slower than 1 are flagged.  Below the threshold "2 threads" is timed on its own, in the
   same rounds as part 1; at and above it the configuration is exactly part 1's forced
   one (same code path, same team), so part 1's timing is reused.
3. Other core busy.  A busy-loop process (``python -c "while True: pass"``) runs for the
   whole part; part 2 is repeated at 2^14, 2^17, 2^20 and 2^23 elements, 1 against 2
   threads, once per ``OMP_WAIT_POLICY`` (unset = libgomp's default, ``passive``,
   ``active``).  The policy is read when libgomp initialises, so each runs in a child
   process of this script (``--part busy``) that prints its results as JSON.  Every step
   is timed on its own here, to catch stalls: per policy, the worst slowdown (max t2/t1 of
   medians), the 99th percentile and the worst single step (max over all steps) of each
   thread count, and the worst step relative to the median 1-thread step of the same
   configuration ("stall x"; an OpenMP barrier waiting on a descheduled thread shows up
   as 100x or more).  With 3 runnable threads on 2 CPUs a single thread is preempted too,
   so the 1-thread worst step is the yardstick a 2-thread stall must exceed.

Timing: bench/harness.py's interleaved rounds.  Every callable is warmed up, then timed in
batches of steps (``time.perf_counter``; one step per batch at large sizes, enough to fill a
few milliseconds at small ones, sized from the median of 15 single steps), one batch of
each callable per round so that a slow spell of the machine hits all alike, each reporting
the median of its batches.  Every batch starts with one untimed step (wakes idle OpenMP
threads, refills caches).  The threshold a callable needs is set before each of its
batches.  Gradients are fixed N(0, 1) * 1e-3.

Usage: python bench/threads.py [--quick] [--json FILE] [--skip sweep,busy]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness          # noqa: E402  (bench/harness.py: machine, timing)

import fastopt          # noqa: E402
from fastopt import _dispatch  # noqa: E402

CONFIGS = (("adam", np.float32), ("adam", np.float64), ("sgd", np.float32),
           ("sgd", np.float64))
MAKERS = {
    "adam": lambda params, k: fastopt.Adam(params, num_threads=k),
    "sgd": lambda params, k: fastopt.SGD(params, learning_rate=0.01, num_threads=k),
}

FULL_SWEEP = tuple(2**e for e in range(10, 21)) + (2**22, 2**24)
QUICK_SWEEP = (2**10, 2**14, 2**17, 2**20)
FULL_BUSY = (2**14, 2**17, 2**20, 2**23)
QUICK_BUSY = (2**14, 2**20)
POLICIES = ("default", "passive", "active")

SLOWER = 1.05           # the target: 2 threads never slower than 1 by more than 5%
MARGIN = 1.10           # the recommended threshold: 2 threads >= 10% faster from there up
STALL = 100.0           # a step this many times the median 1-thread step is a stall
P99_MIN_STEPS = 200     # a p99 over fewer steps is just the max: not used as a criterion
CHILD_TIMEOUT_S = 300


def default_threshold():
    return _dispatch.PARALLEL_THRESHOLD


def max_threads():
    return getattr(fastopt, "max_threads", _dispatch.max_threads)()


# ---------------------------------------------------------------------------------------
# Timing.

def sweep_plan(n, quick):
    """(repeats, minimum seconds per timed batch) in parts 1 and 2."""
    if n >= 2**21:
        return (5, 0.0) if quick else (21, 0.0)
    if n >= 2**17:
        return (9, 0.002) if quick else (41, 0.004)
    return (11, 0.001) if quick else (61, 0.003)


def busy_plan(n, quick):
    """(repeats, minimum seconds per timed batch, time budget of the block) in part 3."""
    if n >= 2**21:
        return (5, 0.0, 2.0) if quick else (21, 0.0, 10.0)
    return (11, 0.002, 1.0) if quick else (81, 0.005, 5.0)


def sample(callables, repeats, min_batch_s, budget_s=None, per_step=False):
    """Time callables ({key: (fn, threshold)}) in interleaved rounds, with the parallel
    threshold of each set before its warm-up and each of its batches.

    Returns {key: {"median": median seconds per step over batches, "batches": count,
    "steps": count, and with per_step "mean", "p99" and "max" over single steps}}.  Rounds stop
    early once budget_s has passed (after harness.MIN_ROUNDS)."""
    fns = {key: fn for key, (fn, _) in callables.items()}
    thresholds = {key: (lambda t=threshold: _dispatch.set_parallel_threshold(t))
                  for key, (_, threshold) in callables.items()}
    timed = harness.interleaved_rounds(fns, (repeats, min_batch_s), before_batch=thresholds,
                                       budget_s=budget_s, time_each_call=per_step)
    out = {}
    for key, s in timed.items():
        res = {"median": s.median, "batches": len(s.batches),
               "steps": len(s.batches) * s.calls}
        if per_step:
            res["mean"] = statistics.fmean(s.single_calls)
            res["p99"] = float(np.percentile(s.single_calls, 99))
            res["max"] = max(s.single_calls)
        out[key] = res
    return out


def problem(rule, dtype, n):
    """Optimizers for 1 and 2 threads on copies of one array, and its gradient."""
    rng = np.random.default_rng(n)
    p0 = rng.standard_normal(n).astype(dtype)
    g = (rng.standard_normal(n) * 1e-3).astype(dtype)
    opts = {k: MAKERS[rule]([p0.copy()], k) for k in (1, 2)}
    return opts, g


def team(n, threshold):
    old = _dispatch.set_parallel_threshold(threshold)
    try:
        return _dispatch.team_size(n, 2)
    finally:
        _dispatch.set_parallel_threshold(old)


# ---------------------------------------------------------------------------------------
# Parts 1 and 2: one set of interleaved rounds per size, rule and dtype.

def sweep_block(rule, dtype, n, quick):
    threshold = default_threshold()
    opts, g = problem(rule, dtype, n)
    callables = {"1": (lambda: opts[1].step(g), threshold),
                 "2 forced": (lambda: opts[2].step(g), 0)}
    own_default = n < threshold
    if own_default:
        callables["2 default"] = (lambda: opts[2].step(g), threshold)
    t = sample(callables, *sweep_plan(n, quick))
    t1, t2 = t["1"]["median"], t["2 forced"]["median"]
    t2d = t["2 default"]["median"] if own_default else t2
    return {"rule": rule, "dtype": np.dtype(dtype).name, "n": n, "t1": t1, "t2_forced": t2,
            "t2_default": t2d, "t2_default_own": own_default,
            "ratio_forced": t1 / t2, "ratio_default": t1 / t2d,
            "team_forced": team(n, 0), "team_default": team(n, threshold),
            "batches": t["1"]["batches"]}


def config_label(rule, dtype):
    return f"{rule} {np.dtype(dtype).name}"


def pow2_label(n):
    e = math.log2(n)
    return f"2^{int(e)}" if e == int(e) else str(n)


def fmt_us(seconds):
    us = seconds * 1e6
    return f"{us:.4g}" if us < 1e4 else f"{us:.0f}"


def sweep_header():
    groups = "".join(f"  {config_label(r, d):>22}" for r, d in CONFIGS)
    cols = "".join(f"  {'1T us':>8}{'2T us':>8}{'1T/2T':>6}" for _ in CONFIGS)
    head = f"{'n':<6}{cols}"
    return f"{'':<6}{groups}\n{head}\n" + "-" * len(head)


def sweep_line(rows_at_n):
    cells = "".join(f"  {fmt_us(r['t1']):>8}{fmt_us(r['t2_forced']):>8}"
                    f"{r['ratio_forced']:>6.2f}" for r in rows_at_n)
    return f"{pow2_label(rows_at_n[0]['n']):<6}{cells}"


def default_table(rows, sizes):
    threshold = default_threshold()
    lines = [f"{'n':<6}{'team':>5}{'2T timed':>10}"
             + "".join(f"{config_label(r, d):>16}" for r, d in CONFIGS) + "   flags"]
    lines.append("-" * len(lines[0]))
    flagged = []
    for n in sizes:
        at_n = [r for r in rows if r["n"] == n]
        if not at_n:
            continue
        flags = []
        cells = ""
        for r in at_n:
            slow = r["ratio_default"] < 1 / SLOWER
            cells += f"{r['ratio_default']:>15.2f}{'!' if slow else ' '}"
            if slow:
                flags.append(f"{r['rule']} {r['dtype']} 2T {1 / r['ratio_default']:.2f}x"
                             + ("" if r["team_default"] > 1 else " (same serial code)"))
                flagged.append(r)
        timed = "own" if at_n[0]["t2_default_own"] else "=part 1"
        lines.append(f"{pow2_label(n):<6}{at_n[0]['team_default']:>5}{timed:>10}{cells}   "
                     + ", ".join(flags))
    lines.append(f"1T/2T, median t1 / median t2 with the default threshold ({threshold}); "
                 f"team: threads a 2-thread step uses;\n! = 2 threads more than "
                 f"{(SLOWER - 1) * 100:.0f}% slower than 1.  '2T timed own': below the "
                 "threshold, num_threads=2 timed on its own\n(it runs on the calling "
                 "thread); '=part 1': the forced configuration of part 1, which is the "
                 "same code path.\nTeam-1 rows run the identical serial code for 1T and 2T: "
                 "their spread is this machine's noise (and array placement), not threads.")
    return "\n".join(lines), flagged


def crossover(rows, sizes, min_ratio):
    """Per configuration, the smallest sweep size from which every larger size has
    t1/t2 >= min_ratio (None when the largest does not); and the max over configurations."""
    per = {}
    for rule, dtype in CONFIGS:
        label = config_label(rule, dtype)
        ratios = {r["n"]: r["ratio_forced"] for r in rows
                  if r["rule"] == rule and r["dtype"] == np.dtype(dtype).name}
        found = None
        for n in sorted((n for n in sizes if n in ratios), reverse=True):
            if ratios[n] < min_ratio:
                break
            found = n
        per[label] = found
    overall = None if any(v is None for v in per.values()) else max(per.values())
    return per, overall


def crossover_text(per):
    """crossover's per-configuration sizes, as "label 2^k" (or "never") joined by commas."""
    return ", ".join(f"{k} {pow2_label(v) if v else 'never'}" for k, v in per.items())


def recommend(rows, sizes, crossover_n):
    """The crossover if every configuration gains >= MARGIN there, else the next sweep size
    up (a factor of 2 or 4 of margin against noise), else None."""
    if crossover_n is None:
        return None
    if min(r["ratio_forced"] for r in rows if r["n"] == crossover_n) >= MARGIN:
        return crossover_n
    above = [n for n in sizes if n > crossover_n]
    return above[0] if above else crossover_n


def run_sweep(sizes, quick):
    print("PART 1: crossover sweep, 2 threads forced at every size "
          "(set_parallel_threshold(0)); microseconds per step (medians), "
          "1T/2T = t1/t2 (> 1: 2 threads faster)\n")
    print(sweep_header(), flush=True)
    original = _dispatch.set_parallel_threshold(default_threshold())
    rows = []
    started = time.perf_counter()
    try:
        for n in sizes:
            at_n = [sweep_block(rule, dtype, n, quick) for rule, dtype in CONFIGS]
            rows += at_n
            print(sweep_line(at_n), flush=True)
    finally:
        _dispatch.set_parallel_threshold(original)
    print(f"({time.perf_counter() - started:.0f} s; threshold restored to {original})\n")
    strict_per, strict = crossover(rows, sizes, 1.0)
    tol_per, tolerant = crossover(rows, sizes, 1 / SLOWER)
    margin_per, margin = crossover(rows, sizes, MARGIN)
    print("2 threads never slower than 1 (t1/t2 >= 1.00 here and at every larger size) "
          "from: " + crossover_text(strict_per))
    print(f"never more than {(SLOWER - 1) * 100:.0f}% slower (t1/t2 >= {1 / SLOWER:.3f}) "
          "from: " + crossover_text(tol_per))
    print(f"2 threads at least {(MARGIN - 1) * 100:.0f}% faster (t1/t2 >= {MARGIN:.2f}) from: "
          + crossover_text(margin_per))
    print()
    print(f"PART 2: default threshold ({default_threshold()} elements): t1/t2 per size\n")
    table, flagged = default_table(rows, sizes)
    print(table + "\n", flush=True)
    return {"rows": rows, "crossover_strict": strict, "crossover_strict_per": strict_per,
            "crossover_5pct": tolerant, "crossover_5pct_per": tol_per,
            "crossover_margin": margin, "crossover_margin_per": margin_per,
            "default_flagged": flagged}


# ---------------------------------------------------------------------------------------
# Part 3: the other core busy, one child process per OMP_WAIT_POLICY.

def busy_child(quick):
    """Runs in the child: part 2's 1-vs-2 threads at the busy sizes, each step timed."""
    threshold = default_threshold()
    rows = []
    for n in (QUICK_BUSY if quick else FULL_BUSY):
        for rule, dtype in CONFIGS:
            opts, g = problem(rule, dtype, n)
            repeats, min_batch_s, budget_s = busy_plan(n, quick)
            t = sample({"1": (lambda: opts[1].step(g), threshold),
                        "2": (lambda: opts[2].step(g), threshold)},
                       repeats, min_batch_s, budget_s, per_step=True)
            rows.append({"rule": rule, "dtype": np.dtype(dtype).name, "n": n,
                         "team": team(n, threshold), **{
                             f"{stat}{k}": t[k][stat]
                             for k in ("1", "2")
                             for stat in ("median", "mean", "p99", "max", "steps")}})
    return {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
            "max_threads": max_threads(), "threshold": threshold, "rows": rows}


def cpu_seconds(pid):
    """User + system CPU seconds of a process (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def busy_header():
    head = (f"{'n':<6}{'config':<14}{'team':>5}{'1T us':>9}{'2T us':>9}{'2T/1T':>7}{'mean':>7}"
            f"{'1T p99':>9}{'2T p99':>9}{'1T max':>9}{'2T max':>9}{'1T stall':>10}"
            f"{'2T stall':>10}{'steps 1T/2T':>14}")
    return head + "\n" + "-" * len(head)


def busy_line(r):
    flag = "!" if r["median2"] > SLOWER * r["median1"] else " "
    return (f"{pow2_label(r['n']):<6}{r['rule'] + ' ' + r['dtype']:<14}{r['team']:>5}"
            f"{fmt_us(r['median1']):>9}{fmt_us(r['median2']):>9}"
            f"{r['median2'] / r['median1']:>6.2f}{flag}{r['mean2'] / r['mean1']:>7.2f}"
            f"{fmt_us(r['p991']):>9}{fmt_us(r['p992']):>9}"
            f"{fmt_us(r['max1']):>9}{fmt_us(r['max2']):>9}"
            f"{r['max1'] / r['median1']:>9.0f}x{r['max2'] / r['median1']:>9.0f}x"
            f"{r['steps1']:>8}/{r['steps2']}")


def where(r):
    return f"{pow2_label(r['n'])} {r['rule']} {r['dtype']}"


def policy_summary(data):
    """Worst figures of one policy.  A stall: a 2-thread step >= STALL times the median
    1-thread step and > 3x the worst 1-thread step of the same configuration (preemption
    alone hits both).  Frequent stalls: 2-thread p99 > 2x the 1-thread p99 (rows with at
    least P99_MIN_STEPS steps of each)."""
    control = [r for r in data["rows"] if r["team"] < 2]
    rows = [r for r in data["rows"] if r["team"] >= 2] or data["rows"]
    worst = max(rows, key=lambda r: r["median2"] / r["median1"])
    worst_mean = max(rows, key=lambda r: r["mean2"] / r["mean1"])
    enough = [r for r in rows if min(r["steps1"], r["steps2"]) >= P99_MIN_STEPS]
    step = max(rows, key=lambda r: r["max2"])
    stall = max(rows, key=lambda r: r["max2"] / r["median1"])
    p99 = max(rows, key=lambda r: r["p992"] / r["p991"])
    return {
        "worst_slowdown": worst["median2"] / worst["median1"], "worst_slowdown_at": where(worst),
        "worst_step_2t_s": step["max2"], "worst_step_2t_at": where(step),
        "worst_step_2t_x": step["max2"] / step["median1"], "same_row_1t_max_s": step["max1"],
        "worst_step_1t_s": max(r["max1"] for r in rows),
        "worst_stall_2t": stall["max2"] / stall["median1"], "worst_stall_2t_at": where(stall),
        "worst_stall_1t": max(r["max1"] / r["median1"] for r in rows),
        "worst_mean_ratio": worst_mean["mean2"] / worst_mean["mean1"],
        "worst_mean_at": where(worst_mean),
        "worst_p99_ratio": p99["p992"] / p99["p991"], "worst_p99_at": where(p99),
        "stalls": [where(r) for r in rows if r["max2"] >= STALL * r["median1"]
                   and r["max2"] > 3 * r["max1"]],
        "frequent_stalls": [where(r) for r in enough if r["p992"] > 2 * r["p991"]],
        "slower_than_5pct": [f"{where(r)} {r['median2'] / r['median1']:.2f}x" for r in rows
                             if r["median2"] > SLOWER * r["median1"]],
        "t1_geomean_s": math.exp(statistics.fmean(math.log(r["median1"]) for r in rows)),
        "t2_geomean_s": math.exp(statistics.fmean(math.log(r["median2"]) for r in rows)),
        "control_spread": max((max(r["median2"] / r["median1"], r["median1"] / r["median2"])
                               for r in control), default=None),
        "control_worst_step_x": max((max(r["max1"], r["max2"]) / r["median1"]
                                     for r in control), default=None),
    }


def run_busy(quick):
    print("PART 3: other core busy (a `while True: pass` process), default threshold, "
          "each step timed; one child process per OMP_WAIT_POLICY\n")
    print("1T us, 2T us: medians; 2T/1T: of the medians (! > 1.05); mean: 2T/1T of the "
          "mean step (total time / steps,\nstalls included); p99, max: over single steps; "
          "stall = max step / median 1-thread step (same\nconfiguration).  Times in us.  "
          "Rows with team 1 (below the threshold) are controls: 1T and 2T run the\nsame "
          "serial code there, so they show what preemption alone does; the summary's "
          "criteria use team-2\nrows.  A spinning idle OpenMP worker (active, or libgomp's "
          "default for a while after each parallel\nregion) also slows the interleaved 1T "
          "batches: compare the 1T columns across policies (summary: geomeans).\n")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    busy_started = time.perf_counter()
    results = {}
    try:
        for policy in POLICIES:
            env = dict(os.environ)
            env.pop("OMP_WAIT_POLICY", None)
            if policy != "default":
                env["OMP_WAIT_POLICY"] = policy
            cmd = [sys.executable, os.path.abspath(__file__), "--part", "busy"]
            if quick:
                cmd.append("--quick")
            started = time.perf_counter()
            try:
                done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True,
                                      timeout=CHILD_TIMEOUT_S, check=True)
                data = json.loads(done.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                print(f"[OMP_WAIT_POLICY={policy}] child TIMED OUT after {CHILD_TIMEOUT_S} s "
                      "(itself a stall)\n", flush=True)
                results[policy] = {"timed_out": True}
                continue
            except (subprocess.CalledProcessError, ValueError, IndexError) as exc:
                print(f"[OMP_WAIT_POLICY={policy}] child failed: {exc}\n", flush=True)
                results[policy] = {"failed": str(exc)}
                continue
            data["seconds"] = time.perf_counter() - started
            data["summary"] = policy_summary(data)
            results[policy] = data
            label = "unset (libgomp default)" if policy == "default" else policy
            print(f"[OMP_WAIT_POLICY={label}] fastopt max_threads() = {data['max_threads']}, "
                  f"{data['seconds']:.0f} s")
            print(busy_header())
            for r in data["rows"]:
                print(busy_line(r))
            print(flush=True)
    finally:
        busy_cpu = cpu_seconds(busy.pid)
        busy.terminate()
        busy.wait()
    wall = time.perf_counter() - busy_started
    share = None if busy_cpu is None else busy_cpu / wall
    if share is not None:
        print(f"(the busy loop used {share:.2f} of a CPU over the {wall:.0f} s of part 3)\n")
    return {"policies": results, "busy_cpu_share": share}


# ---------------------------------------------------------------------------------------
# Summary.

def summarize(sweep, busy):
    lines = ["SUMMARY"]
    if sweep is not None:
        current = default_threshold()
        strict, margin = sweep["crossover_strict"], sweep["crossover_margin"]
        rows = sweep["rows"]

        def weakest(n):
            r = min((r for r in rows if r["n"] == n), key=lambda r: r["ratio_forced"])
            return f"t1/t2 {r['ratio_forced']:.2f}, {r['rule']} {r['dtype']}"

        sizes = sorted({r["n"] for r in rows})
        if strict is None:
            lines.append("threads forced: at the largest size some configuration ran slower "
                         "on 2 threads than on 1; no threshold found (keep threads off).")
        else:
            below = [n for n in sizes if n < strict]
            lines.append(f"crossover (threads forced, all 4 rule/dtype configurations): 2 "
                         f"threads never slower than 1 from {pow2_label(strict)} = {strict} "
                         f"elements up (weakest there: {weakest(strict)}); below it, at "
                         f"{pow2_label(below[-1]) if below else '-'}, "
                         f"{weakest(below[-1]) if below else '-'}.")
        rec = recommend(rows, sizes, strict)
        if rec is not None:
            if rec == strict:
                why = (f"the crossover itself: every configuration gains at least "
                       f"{(MARGIN - 1) * 100:.0f}% there")
            else:
                why = (f"one sweep size above the crossover, whose weakest gain "
                       f"({weakest(strict)}) is within this machine's noise; weakest gain "
                       f"here: {weakest(rec)}")
            lines.append(f"recommended PARALLEL_THRESHOLD: {rec} ({pow2_label(rec)}): {why}.  One "
                         "threshold serves every rule and dtype, so the weakest (plain SGD) "
                         f"sets it.  Current default {current} ({pow2_label(current)})"
                         + (": keep it." if rec == current else "."))
        if margin is not None:
            lines.append(f"  (every configuration >= {(MARGIN - 1) * 100:.0f}% faster on 2 threads "
                         f"from {pow2_label(margin)} up: {weakest(margin)})")
        flagged = sweep["default_flagged"]
        threaded = [r for r in flagged if r["team_default"] > 1]
        control = [r for r in flagged if r["team_default"] <= 1]

        def listed(rs):
            return ", ".join(f"{pow2_label(r['n'])} {r['rule']} {r['dtype']} "
                             f"({1 / r['ratio_default']:.2f}x)" for r in rs)

        used = [r for r in rows if r["team_default"] > 1]
        if threaded:
            lines.append("with the default threshold, where 2 threads are used, they were >5% "
                         "slower than 1 at: " + listed(threaded))
        elif used:
            worst = min(used, key=lambda r: r["ratio_default"])
            lines.append("with the default threshold, where 2 threads are used, they were "
                         f"never >5% slower than 1 (worst t2/t1 {1 / worst['ratio_default']:.2f}"
                         f" at {pow2_label(worst['n'])} {worst['rule']} {worst['dtype']}).")
        if control:
            lines.append("  below the threshold (identical serial code for both, i.e. noise) "
                         "t2 > 1.05 t1 at: " + listed(control))
    if busy is not None:
        lines.append(f"other core busy (busy loop at {busy['busy_cpu_share'] or 0:.2f} CPU):")
        fails = {}
        for policy, data in busy["policies"].items():
            if "summary" not in data:
                why = "timed out" if data.get("timed_out") else "failed"
                lines.append(f"  {policy:<8} no result ({why})")
                continue
            s = data["summary"]
            fails[policy] = ([name for name, bad in (
                ("median >5% slower", s["slower_than_5pct"]), ("p99 stalls", s["frequent_stalls"]),
                ("stalls", s["stalls"])) if bad], s["worst_mean_ratio"])
            lines.append(
                f"  {policy:<8} max_threads {data['max_threads']}: worst t2/t1 of medians "
                f"{s['worst_slowdown']:.2f} ({s['worst_slowdown_at']}), of means (stalls "
                f"included) {s['worst_mean_ratio']:.2f} ({s['worst_mean_at']}); worst p99 2T/1T "
                f"{s['worst_p99_ratio']:.2f} ({s['worst_p99_at']}); worst 2T step "
                f"{fmt_us(s['worst_step_2t_s'])} us ({s['worst_step_2t_at']}: "
                f"{s['worst_step_2t_x']:.0f}x its median 1T step, 1T worst there "
                f"{fmt_us(s['same_row_1t_max_s'])} us); worst 2T stall factor "
                f"{s['worst_stall_2t']:.0f}x ({s['worst_stall_2t_at']}), 1T "
                f"{s['worst_stall_1t']:.0f}x")
            lines.append(f"    geometric mean over the team-2 rows: 1T "
                         f"{fmt_us(s['t1_geomean_s'])} us, 2T {fmt_us(s['t2_geomean_s'])} us")
            if s["control_spread"] is not None:
                lines.append(f"    control rows (team 1, same serial code): median spread "
                             f"{s['control_spread']:.2f}x, worst step "
                             f"{s['control_worst_step_x']:.0f}x the median (preemption)")
            for name, key in (("  >5% slower", "slower_than_5pct"),
                              ("  p99 2T > 2x 1T", "frequent_stalls"),
                              ("  stalls (>=100x median, >3x 1T worst)", "stalls")):
                if s[key]:
                    lines.append(f"  {name}: {', '.join(s[key])}")
        if fails:
            # the mean step (stalls included) is what a training loop pays; ties: stalls
            best = min(fails, key=lambda p: (round(fails[p][1], 1), "stalls" in fails[p][0]))
            lines.append("  wait-policy conclusion: " + "; ".join(
                f"{p}: worst mean 2T/1T {m:.2f}, {', '.join(f) if f else 'clean'}"
                for p, (f, m) in fails.items())
                + f" -> best here (smallest worst mean 2T/1T): {best}")
            lines.append("  geometric means of the team-2 medians, 1T / 2T (absolute; the "
                         "policies ran one after another): " + ", ".join(
                             f"{p} {fmt_us(d['summary']['t1_geomean_s'])} / "
                             f"{fmt_us(d['summary']['t2_geomean_s'])} us"
                             for p, d in busy["policies"].items() if "summary" in d))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Command line.

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true",
                    help="4 sweep sizes, 2 busy sizes, fewer repeats (under a minute)")
    ap.add_argument("--skip", type=harness.name_list, default=[],
                    help="comma-separated parts to skip: sweep, busy")
    ap.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    ap.add_argument("--part", choices=("busy",), help=argparse.SUPPRESS)   # child process
    args = ap.parse_args(argv)
    unknown = set(args.skip) - {"sweep", "busy"}
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; choose from sweep, busy")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.part == "busy":
        print(json.dumps(busy_child(args.quick)))
        return 0
    started = time.perf_counter()
    load_start = os.getloadavg()
    info = harness.machine()
    speeds = info["cpu_speeds"]
    print(harness.describe_cpu(info))
    print(f"fastopt {info['fastopt']} ({info['kernel_build']} build), OpenMP "
          f"{info['openmp']}, max_threads() = {max_threads()}, PARALLEL_THRESHOLD "
          f"= {default_threshold()}, OMP_WAIT_POLICY = {os.environ.get('OMP_WAIT_POLICY')}")
    if speeds:
        print("relative CPU speeds at start: " + harness.describe_speeds(speeds))
    print("load average (1, 5, 15 min) at start: " + " ".join(f"{x:.2f}" for x in load_start))
    if max_threads() < 2 or not fastopt.openmp_enabled():
        print("WARNING: fewer than 2 OpenMP threads available; 2-thread timings are 1-thread")
    print()
    sweep = None if "sweep" in args.skip else run_sweep(
        QUICK_SWEEP if args.quick else FULL_SWEEP, args.quick)
    busy = None if "busy" in args.skip else run_busy(args.quick)
    load_end = os.getloadavg()
    print(summarize(sweep, busy))
    print("load average at end: " + " ".join(f"{x:.2f}" for x in load_end)
          + f"; total {time.perf_counter() - started:.0f} s")
    harness.write_json(args.json, {
        "machine": {"cpu": info["cpu"], "cpu_speeds": speeds, "max_threads": max_threads(),
                    "isa": info["kernel_build"], "parallel_threshold": default_threshold(),
                    "load_start": load_start, "load_end": load_end},
        "sweep": sweep, "busy": busy}, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
