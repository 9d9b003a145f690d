"""OpenMP runtime behaviour users hit: threadpoolctl limits, and fork after OpenMP use."""

import subprocess
import sys
import textwrap

import pytest

import fastopt
from fastopt import _dispatch

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.mark.skipif(not fastopt.openmp_enabled(), reason="serial build")
def test_threadpool_limits_makes_kernels_single_threaded():
    n = 4 * _dispatch.PARALLEL_THRESHOLD
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _dispatch.resolve_threads(None) == 1
        assert _dispatch.team_size(n, _dispatch.resolve_threads(None)) == 1
    with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
        assert _dispatch.team_size(n, _dispatch.resolve_threads(None)) == 2


FORK_AFTER_OPENMP = textwrap.dedent("""
    import importlib
    import multiprocessing as mp
    import numpy as np
    import fastopt
    from fastopt import _dispatch

    n = 4 * _dispatch.PARALLEL_THRESHOLD

    def work(seed):
        x = np.zeros(n)
        opt = fastopt.Adam(x, num_threads=2, clipnorm=1.0, nan_policy="skip")
        opt.step(np.full(n, 1.0 + seed))
        return float(x[0])

    def teams(_):
        return [importlib.import_module(f"fastopt._kernels_{isa}").resolve_threads(2)
                for isa in _dispatch.ISAS]

    work(0)                                   # the parent runs OpenMP teams first
    with mp.get_context("fork").Pool(2) as pool:
        print(pool.map(work, range(3)))
        print("teams", pool.map(teams, range(2)))
""")


def test_fork_after_openmp_does_not_hang(tmp_path):
    """libgomp cannot start a team in a child forked after the parent used one; fastopt
    runs a forked child's kernels, on every build, on the calling thread instead of
    hanging."""
    script = tmp_path / "fork_after_openmp.py"
    script.write_text(FORK_AFTER_OPENMP)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("-0.00099") == 3
    assert f"teams {[[1] * len(_dispatch.ISAS)] * 2}" in out.stdout      # every build's
