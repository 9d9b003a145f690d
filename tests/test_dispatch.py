"""Runtime instruction-set dispatch: every kernel build this CPU can run, against the oracle
and against each other bit for bit; the plain, sparse and full loop copies; FASTOPT_ISA."""

import importlib
import math
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_problem
from test_optimizers import check_against_oracle, run_fastopt

import fastopt
from fastopt import _dispatch

EXPORTED = ("Slot", "Plan", "Progress", "Snapshot", "sum_squares", "count_nonfinite", "max_abs",
            "team_size", "max_threads", "openmp_enabled")


@pytest.fixture(params=_dispatch.ISAS)
def build(request, monkeypatch):
    """Run the optimizers on one build: fastopt._dispatch's names point at it."""
    module = importlib.import_module(f"fastopt._kernels_{request.param}")
    for name in EXPORTED:
        monkeypatch.setattr(_dispatch, name, getattr(module, name))
    return request.param


@pytest.mark.parametrize("option", ["none", "all", "l1", "clipnorm"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_every_build_matches_the_oracle(build, config, convention, dtype, option):
    rule, hyper = config
    check_against_oracle(rule, hyper, convention, dtype, 1000, option)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_builds_agree_bit_for_bit(config, dtype, monkeypatch):
    """The same steps on every build, 1 and 2 threads, plain, sparse and full loops: one
    result per kind."""
    rule, hyper = config
    n = 5003                                         # odd: vector loops plus a remainder
    theta, grads = make_problem(n, 8, 11, dtype)
    rng = np.random.default_rng(5)
    mask = (rng.random(n) > 0.2).astype(np.uint8)
    variants = {"plain": {}, "sparse": {"l1": 0.3, "weight_decay": 0.1},
                "full": {"l1": 0.3, "clipvalue": 0.9, "weight_decay": 0.1,
                         "bounds": (-1.5 * np.ones(n), 1.5 * np.ones(n))}}
    old = _dispatch.set_parallel_threshold(0)                # every build's
    try:
        for kind, opts in variants.items():
            results = {}
            for isa in _dispatch.ISAS:
                module = importlib.import_module(f"fastopt._kernels_{isa}")
                for name in EXPORTED:
                    monkeypatch.setattr(_dispatch, name, getattr(module, name))
                for threads in (1, 2):
                    w, opt, _ = run_fastopt(rule, hyper, np.clip(theta, -1.5, 1.5), grads,
                                            "torch", threads,
                                            None if kind == "plain" else mask, **opts)
                    results[isa, threads] = (w, opt.state[0])
            (w0, s0), *others = results.values()
            for w, s in others:
                np.testing.assert_array_equal(w, w0)
                for k in s0:
                    np.testing.assert_array_equal(s[k], s0[k])
    finally:
        _dispatch.set_parallel_threshold(old)


def test_the_parallel_threshold_reaches_every_build():
    """One threshold for the process: set through fastopt._dispatch, every build reads it
    (a step on a build that kept its own would still take threads at the old one)."""
    builds = [importlib.import_module(f"fastopt._kernels_{isa}") for isa in _dispatch.ISAS]
    team = 2 if fastopt.openmp_enabled() else 1
    old = _dispatch.set_parallel_threshold(0)
    try:
        assert [build.team_size(100, 2) for build in builds] == [team] * len(builds)
        _dispatch.set_parallel_threshold(101)
        assert [build.team_size(100, 2) for build in builds] == [1] * len(builds)
        assert [build.team_size(101, 2) for build in builds] == [team] * len(builds)
    finally:
        _dispatch.set_parallel_threshold(old)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reductions_skip_pruned_entries_and_ignore_the_thread_count(build, dtype):
    """sum_squares (norm clipping) and count_nonfinite (nan_policy) on every build, over
    lengths around their runs and blocks: the sum against math.fsum of the kept squares (a
    different order of additions, so to rounding), the count exactly; a pruned entry counts
    for nothing even when it is NaN or inf, a kept one makes the sum NaN or inf; 1 and 2
    threads give the same bits."""
    rng = np.random.default_rng(3)
    old = _dispatch.set_parallel_threshold(0)
    try:
        for n in (0, 1, 15, 16, 17, 255, 257, 2048, 2049, 3 * 2048 + 300):
            x = rng.standard_normal(n).astype(dtype)
            mask = (rng.random(n) > 0.4).astype(np.uint8)
            if n > 2:                            # non-finite entries that the mask prunes
                mask[:2] = 0
                x[:2] = [np.nan, np.inf]
            for m in (mask, np.ones(n, np.uint8)):
                kept = x.astype(np.float64)[m != 0]
                sums = [_dispatch.sum_squares(x, m, t) for t in (1, 2)]
                np.testing.assert_array_equal(sums[0], sums[1])          # NaN == NaN
                if np.all(np.isfinite(kept)):
                    assert sums[0] == pytest.approx(math.fsum(kept ** 2), rel=1e-13, abs=0)
                else:
                    assert np.isnan(sums[0])
                counts = [_dispatch.count_nonfinite(x, m, t) for t in (1, 2)]
                assert counts == [np.count_nonzero(~np.isfinite(kept))] * 2
            if n > 2:
                x[n // 2], mask[n // 2] = np.inf, 1                      # kept
                assert _dispatch.sum_squares(x, mask, 2) == np.inf
                assert np.isnan(_dispatch.sum_squares(x, np.zeros(0, np.uint8), 1))
    finally:
        _dispatch.set_parallel_threshold(old)


@pytest.mark.parametrize("options", [{}, {"maximize": True, "clipnorm": 0.05}],
                         ids=["none", "maximize+clipnorm"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plain_sparse_and_full_loops_agree(config, dtype, options):
    """A mask of all ones, infinite bounds and an infinite clipvalue change nothing, but send
    the step through the sparse loop (mask) or the full one (bounds, clipvalue) instead of
    the plain one: results are bit-identical.  With maximize and norm clipping, the plain
    loop multiplies by sign * scale once where the full and decay loops (the mask's)
    multiply by each (clipvalue comes between them; sign is +-1, so the same bits); the
    decay loop divides by D through its reciprocal (for its l1 threshold), one rounding
    more, so it agrees to a few units in the last place of the largest entry (entries
    near zero, after cancellations, differ more in relative terms)."""
    rule, hyper = config
    n = 1001
    theta, grads = make_problem(n, 10, 2, dtype)
    ones = np.ones(n, np.uint8)
    plain, _, _ = run_fastopt(rule, hyper, theta, grads, "torch", 1, None, **options)
    sparse, _, _ = run_fastopt(rule, hyper, theta, grads, "torch", 1, ones, **options)
    unclipped = {} if "clipnorm" in options else {"clipvalue": np.inf}  # one clip at a time
    full, _, _ = run_fastopt(rule, hyper, theta, grads, "torch", 1, ones,
                             bounds=(-np.inf, np.inf), **unclipped, **options)
    if options:
        scale = np.abs(plain).max()
        np.testing.assert_allclose(sparse, plain, rtol=0, atol=8 * np.finfo(dtype).eps * scale)
    else:
        np.testing.assert_array_equal(plain, sparse)
    np.testing.assert_array_equal(plain, full)


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=os.path.dirname(__file__))


@pytest.mark.parametrize("isa", _dispatch.ISAS)
def test_fastopt_isa_forces_a_build(isa):
    out = run_python("import fastopt._dispatch as k; print(k.ISA)", FASTOPT_ISA=isa)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == isa


def test_fastopt_isa_refuses_what_it_cannot_run():
    out = run_python("import fastopt", FASTOPT_ISA="avx9000")
    assert out.returncode != 0
    assert "FASTOPT_ISA='avx9000'" in out.stderr and "'baseline'" in out.stderr


def test_best_build_is_the_default():
    assert _dispatch.ISA == _dispatch.ISAS[0]
    assert _dispatch.ISAS[-1] == "baseline"


def test_a_cpu_without_avx2_gets_the_baseline(monkeypatch):
    monkeypatch.setattr(_dispatch, "_cpu_features", lambda: {"SSE2": True})
    assert list(_dispatch._importable()) == ["baseline"]


def test_a_cpu_without_avx512_gets_avx2(monkeypatch):
    """AVX-512 without all of F/CD/BW/DQ/VL (NumPy's AVX512_SKX), e.g. a Xeon Phi's, is not
    enough for the AVX-512 build."""
    if "avx2" not in _dispatch.ISAS:
        pytest.skip("no AVX2 build here")
    monkeypatch.setattr(_dispatch, "_cpu_features",
                        lambda: {"SSE2": True, "AVX2": True, "AVX512F": True,
                                 "AVX512_SKX": False})
    assert list(_dispatch._importable()) == ["avx2", "baseline"]


@pytest.mark.parametrize("isa, feature", [("avx2", "AVX2"), ("avx512", "AVX512_SKX")])
def test_x86_64_installs_have_the_vector_builds(isa, feature):
    """On x86-64 with gcc/clang, setup.py builds the AVX2 and AVX-512 copies; if the CPU has
    the instructions the build runs, and the best one is the default."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the AVX2 and AVX-512 builds exist only on x86-64")
    if not _dispatch._cpu_features().get(feature):
        pytest.skip(f"this CPU has no {feature}")
    assert isa in _dispatch.ISAS
    if feature == "AVX512_SKX":
        assert _dispatch.ISA == "avx512" or os.environ.get("FASTOPT_ISA")
