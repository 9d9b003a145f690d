"""python -m fastopt compare: end to end (--quick), JSON, figures, error paths, ratings."""

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from fastopt import compare as C
from fastopt.problems import DEFAULT_PROBLEMS, get_problem


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One --quick run for the whole module: (exit code, seconds, JSON, stdout)."""
    path = tmp_path_factory.mktemp("compare") / "results.json"
    t = time.perf_counter()
    code = C.main(["compare", "--quick", "--quiet", "--json", str(path)])
    seconds = time.perf_counter() - t
    with open(path) as fh:
        return code, seconds, json.load(fh)


def test_quick_run_end_to_end(quick):
    code, seconds, data = quick
    assert code == 0
    assert seconds < 20
    assert list(data["problems"]) == DEFAULT_PROBLEMS
    assert data["methods"] == C.METHODS
    for pname, entry in data["problems"].items():
        assert set(entry["methods"]) == set(C.METHODS)
        for m, r in entry["methods"].items():
            assert r["learning_rate"] == C.learning_rate(pname, m)
            assert len(r["runs"]) == 1
            run = r["runs"][0]
            curve = run["curve"]
            assert curve["steps"][0] == 0 and len(curve["steps"]) == len(curve["values"]) > 1
            assert curve["steps"][-1] == run["nit"]
            assert {"steps_to_tol", "seconds_to_tol", "final_gap", "metric"} <= set(run)
        assert (entry["kind"] == "stochastic") == (pname in ("logreg-l1", "digits-mlp"))
    assert set(data["ratings"]) == set(C.METHODS)
    assert data["problems"]["digits-mlp"]["methods"]["adam"]["summary"]["metric"] > 0.1
    assert data["problems"]["logreg-l1"]["methods"]["adam"]["runs"][0]["nnz"] <= 31


def test_printed_table(capsys):
    code = C.main(["compare", "--quick", "--quiet", "--problems", "bowl-100",
                   "--methods", "sgd,adagrad"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Optimizer comparison" in out
    assert "sgd" in out and "adagrad" in out and "* (stops too early)" in out
    assert "adam " not in out


@pytest.mark.parametrize("argv,message", [
    (["--problems", "nope"], "unknown problem 'nope'; choose from: bowl-100"),
    (["--problems", "bowl-100,nope,zilch"], "unknown problems 'nope', 'zilch'"),
    (["--methods", "adamw"], "unknown method 'adamw'; choose from: sgd, momentum"),
    (["--seeds", "0"], "--seeds: must be >= 1"),
    (["--tune", "huge"], "expected 'small' or 'wide'"),
])
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        C.main(["compare"] + argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("usage: fastopt compare")


def test_plot_without_matplotlib_is_a_clean_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # import fails
    with pytest.raises(SystemExit) as exc:
        C.main(["compare", "--quick", "--plot", str(tmp_path)])
    assert exc.value.code == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_plot_writes_pngs(quick, tmp_path):
    pytest.importorskip("matplotlib")
    _, _, data = quick
    written = C.plot(data, str(tmp_path), quick=True)
    names = {os.path.basename(p) for p in written}
    expected = {f"curves-{p}.png" for p in DEFAULT_PROBLEMS}
    expected |= {"trajectories-bowl-2d.png", "learning-rates.png"}
    assert expected <= names
    for p in written:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_help_via_python_m():
    out = subprocess.run([sys.executable, "-m", "fastopt", "compare", "--help"],
                         capture_output=True, text=True, cwd="/")
    assert out.returncode == 0
    assert "--problems" in out.stdout and "--tune" in out.stdout
    out = subprocess.run([sys.executable, "-m", "fastopt"], capture_output=True, text=True,
                         cwd="/")
    assert out.returncode == 2 and "required" in out.stderr


def test_run_records_first_step_within_tol():
    p = get_problem("bowl-100")
    r = C.run(p, "nesterov", learning_rate=0.01)
    steps, values = r["curve"]["steps"], r["curve"]["values"]
    assert steps == list(range(len(steps)))                    # every step recorded
    first = next(s for s, v in zip(steps, values) if v - p.f_opt <= p.tol)
    assert r["steps_to_tol"] == first and r["seconds_to_tol"] > 0
    assert r["final_gap"] <= p.floor                            # stopped at the floor
    assert r["status"] == 99


def test_run_stops_a_diverging_run():
    p = get_problem("bowl-100")
    r = C.run(p, "sgd", learning_rate=1.0)
    assert r["steps_to_tol"] is None and r["nit"] < 50


def test_tune_picks_the_fastest_rate():
    p = get_problem("bowl-100", budget=2000)
    best, trials = C.tune(p, "sgd", [1e-3, 1e-2, 1.0])
    assert best == 1e-2
    assert [t[0] for t in trials] == [1e-3, 1e-2, 1.0]


def _results(speed_steps, gaps, tol=1e-6, metric=None):
    def summary(s, g, m):
        return {"steps_to_tol": s, "final_gap": g, "metric": m}
    methods = {k: {"summary": summary(speed_steps[k], gaps[k],
                                      None if metric is None else metric[k])}
               for k in speed_steps}
    return {"problems": {"p": {"tol": tol, "methods": methods}}}


def test_rating_thresholds():
    steps = {"a": 100, "b": 400, "c": 401, "d": 3200, "e": 3201, "f": None}
    gaps = {"a": 1e-6, "b": 9e-5, "c": 1.1e-4, "d": 0.0, "e": math.inf, "f": 1.0}
    r = C.rate(_results(steps, gaps))
    assert {m: r[m]["speed"]["p"] for m in steps} == dict(a=3, b=3, c=2, d=2, e=1, f=1)
    assert {m: r[m]["quality"]["p"] for m in steps} == dict(a=3, b=2, c=1, d=3, e=1, f=1)
    assert r["a"]["speed_stars"] == "***" and r["f"]["quality_stars"] == "*"


def test_rating_with_a_metric_uses_the_metric():
    steps = {"a": 10, "b": 10, "c": 10}
    gaps = {"a": 1.0, "b": 1.0, "c": 1.0}
    r = C.rate(_results(steps, gaps, metric={"a": 0.97, "b": 0.955, "c": 0.93}))
    assert [r[m]["quality"]["p"] for m in "abc"] == [3, 2, 1]


def test_summary_rounds_half_up():
    r = C.rate({"problems": {
        "p": {"tol": 1.0, "methods": {"a": {"summary": {"steps_to_tol": 1, "final_gap": 0,
                                                         "metric": None}}}},
        "q": {"tol": 1.0, "methods": {"a": {"summary": {"steps_to_tol": None,
                                                         "final_gap": 5.0, "metric": None}}}},
    }})
    assert r["a"]["speed_mean"] == 2.0 and r["a"]["speed_stars"] == "**"
    assert r["a"]["quality_mean"] == 2.5 and r["a"]["quality_stars"] == "***"


def test_hyperparameter_table_covers_the_default_set():
    for p in DEFAULT_PROBLEMS:
        assert set(C.HYPERPARAMS[p]) == set(C.METHODS), p
        assert all(0 < lr <= 1 for lr in C.HYPERPARAMS[p].values())


def test_decimate_keeps_ends():
    steps = list(range(10000))
    s, v = C._decimate(steps, [float(i) for i in steps])
    assert s[0] == 0 and s[-1] == 9999 and len(s) <= 2 * C.CURVE_POINTS
    assert np.all(np.diff(s) > 0)


def test_list(capsys):
    assert C.main(["compare", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("bowl-100", "digits-mlp", "bowl-2d", "sparse-regression"):
        assert name in out


def test_minibatch_curves_are_read_at_epoch_boundaries():
    """A minibatch problem's steps per epoch are minimize's (the rows left over join the
    last batch: no short batch at an epoch's end), so its learning curve is read twice per
    epoch, the last point at the end of the last epoch."""
    p = get_problem("digits-mlp")
    assert p.steps_per_epoch == p.n_rows // p.batch_size == 1348 // 32
    r = C.run(p, "adam", budget=2, learning_rate=0.05)
    assert r["nit"] == 2 * p.steps_per_epoch
    assert r["curve"]["steps"] == [0, 21, 42, 63, 84]
