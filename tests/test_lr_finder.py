"""The learning-rate finder (fastopt.lr_finder): the recorded sweep against the updates
computed here by hand, and its suggestion against the best constant rate of a grid."""

import doctest
import math

import numpy as np
import pytest

import fastopt
from fastopt import lr_finder
from fastopt.lr_finder import find_learning_rate, plot_lr_finder

C = np.logspace(0, 2, 10)             # the book's elongated bowl: condition number 100


def bowl(x):
    return 0.5 * np.sum(C * x * x), C * x


def trajectory_score(method, lr, maxiter):
    """Mean log10 f over a constant-rate run (inf if it diverges): rewards fast progress and
    stability, and is less noisy than the final f for Adam, whose final f is nearly flat
    over two decades of rates on this bowl."""
    fs = []
    res = fastopt.minimize(bowl, np.ones(10), method=method, jac=True,
                           callback=lambda intermediate_result: fs.append(
                               intermediate_result.fun),
                           options={"learning_rate": lr, "maxiter": maxiter, "gtol": 0.0})
    if res.status not in (0, 1) or not np.all(np.isfinite(fs)):
        return math.inf
    return float(np.mean(np.log10(np.maximum(fs, 1e-300))))


@pytest.mark.parametrize("method", ["sgd", "adam"])
def test_finder_suggestion_near_best_constant_rate(method):
    res = find_learning_rate(bowl, np.ones(10), jac=True, method=method)
    sweep = np.logspace(-5, 1, 25)
    with np.errstate(over="ignore", invalid="ignore"):
        scores = [trajectory_score(method, lr, 200) for lr in sweep]
    best = sweep[int(np.argmin(scores))]
    assert best / 10 < res.suggestion < best * 10, (res.suggestion, best)
    if method == "sgd":                       # SGD diverges above lr = 2 / max(C) = 0.02
        assert res.stop_reason == "diverged" and best < 0.02


def test_finder_records_the_sweep_and_the_loss_after_each_update():
    # full batch: losses[k] = f(x_k+1), x_k+1 = x_k - lr_k * grad f(x_k) (plain SGD)
    n, lr_min, lr_max = 12, 1e-4, 1e-2
    res = find_learning_rate(bowl, np.ones(10), jac=True, method="sgd", lr_min=lr_min,
                             lr_max=lr_max, num_steps=n, smoothing=0.0)
    lrs = lr_min * (lr_max / lr_min) ** (np.arange(n) / (n - 1))
    np.testing.assert_allclose(res.learning_rates, lrs, rtol=1e-12)
    x, losses = np.ones(10), []
    for lr in lrs:
        x = x - lr * C * x
        losses.append(bowl(x)[0])
    np.testing.assert_allclose(res.losses, losses, rtol=1e-12)
    np.testing.assert_array_equal(res.smoothed_losses, res.losses)     # smoothing=0
    assert res.stop_reason == "completed" and res.nit == n


def least_squares(x, A, b):
    r = A @ x - b
    return 0.5 * np.mean(r * r), A.T @ r / len(b)


def test_finder_minibatch_pairs_each_loss_with_the_update_before_it():
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((40, 3)), rng.standard_normal(40)
    n, beta = 9, 0.5
    res = find_learning_rate(least_squares, np.zeros(3), jac=True, method="sgd", args=(A, b),
                             lr_min=1e-3, lr_max=1e-1, num_steps=n, smoothing=beta,
                             options={"batch_size": 10, "shuffle": False})
    lrs = 1e-3 * 100.0 ** (np.arange(n) / (n - 1))
    batch = [(A[i:i + 10], b[i:i + 10]) for i in range(0, 40, 10)]
    x, losses = np.zeros(3), []
    for k, lr in enumerate(lrs):          # update k uses batch k, the loss is batch k + 1's
        x = x - lr * least_squares(x, *batch[k % 4])[1]
        losses.append(least_squares(x, *batch[(k + 1) % 4])[0])
    np.testing.assert_allclose(res.learning_rates, lrs, rtol=1e-12)
    np.testing.assert_allclose(res.losses, losses, rtol=1e-12)
    avg, smoothed = 0.0, []
    for k, f in enumerate(losses):
        avg = beta * avg + (1 - beta) * f
        smoothed.append(avg / (1 - beta ** (k + 1)))
    np.testing.assert_allclose(res.smoothed_losses, smoothed, rtol=1e-12)


def test_finder_minibatch_suggestion():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((512, 8))
    b = A @ rng.standard_normal(8) + 0.1 * rng.standard_normal(512)
    res = find_learning_rate(least_squares, np.zeros(8), jac=True, method="sgd", args=(A, b),
                             options={"batch_size": 32, "seed": 0})
    assert res.stop_reason == "diverged" and len(res.losses) < 200
    assert np.all(np.isfinite(res.losses))

    def final_loss(lr):
        with np.errstate(over="ignore", invalid="ignore"):
            r = fastopt.minimize(least_squares, np.zeros(8), method="sgd", jac=True,
                                 args=(A, b), options={"learning_rate": lr, "batch_size": 32,
                                                       "epochs": 5, "seed": 0})
        return least_squares(r.x, A, b)[0] if r.status == 0 else math.inf

    sweep = np.logspace(-4, 1, 21)
    best = sweep[int(np.argmin([final_loss(lr) for lr in sweep]))]
    assert best / 10 < res.suggestion < best * 10, (res.suggestion, best)


def test_finder_stops_early_when_the_loss_explodes():
    res = find_learning_rate(bowl, np.ones(10), jac=True, method="sgd", smoothing=0.9)
    sm = res.smoothed_losses
    assert res.stop_reason == "diverged" and len(sm) < 200 and res.nit == len(sm)
    assert sm[-1] > 4 * sm.min() and np.all(sm[:-1] <= 4 * np.minimum.accumulate(sm)[:-1])
    assert res.learning_rates[-1] > 0.02                 # past the stability limit
    assert res.suggestion == res.learning_rates[np.argmin(sm)] / 10

    def blows_up(x):                                     # inf instead of a big number
        f, g = bowl(x)
        return (math.inf if f > 1e6 else f), g

    res = find_learning_rate(blows_up, np.ones(10), jac=True, method="sgd", diverge_factor=1e300)
    assert res.stop_reason == "non-finite" and np.all(np.isfinite(res.losses))
    assert 0 < len(res.losses) < 200 and "non-finite" in res.message


def test_finder_still_falling_says_so():
    res = find_learning_rate(bowl, np.ones(10), jac=True, method="sgd", lr_max=1e-3, num_steps=50)
    assert res.stop_reason == "completed" and len(res.losses) == 50
    assert res.suggestion == pytest.approx(1e-4)
    assert "raise lr_max" in res.message


@pytest.mark.parametrize("kw,exc,match", [
    ({"lr_min": 0.0}, ValueError, "Invalid lr_min value: 0.0"),
    ({"lr_min": 1.0, "lr_max": 0.5}, ValueError, "must exceed lr_min"),
    ({"num_steps": 1}, ValueError, "Invalid num_steps value: 1"),
    ({"smoothing": 1.0}, ValueError, "Invalid smoothing value: 1.0"),
    ({"diverge_factor": 1.0}, ValueError, "Invalid diverge_factor value: 1.0"),
    ({"options": {"learning_rate": 0.1}}, ValueError, "sets learning_rate itself"),
    ({"options": {"maxiter": 5, "lr": 1}}, ValueError, "sets lr, maxiter itself"),
    ({"method": "lbfgs"}, ValueError, "Unknown solver"),
])
def test_finder_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        find_learning_rate(bowl, np.ones(10), jac=True, **kw)


def test_plot_lr_finder(tmp_path):
    pytest.importorskip("matplotlib")
    res = find_learning_rate(bowl, np.ones(10), jac=True, method="sgd")
    path = tmp_path / "lr_finder.png"
    ax = plot_lr_finder(res, filename=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ax.get_xscale() == "log" and len(ax.get_lines()) == 3
    assert ax.get_lines()[2].get_xdata()[0] == res.suggestion
    from matplotlib.figure import Figure
    given = Figure().add_subplot()
    assert plot_lr_finder(res, ax=given) is given


def test_docstring_examples():
    result = doctest.testmod(lr_finder, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
