"""fastopt against torch.optim itself (torch convention): SGD's dampening step by step.
Skipped where torch is not installed (tests/reference.py carries the same checks without
torch)."""

import numpy as np
import pytest
from conftest import CLASSES

torch = pytest.importorskip("torch")

STEPS = 100


def _run_torch(cls, x0, gradient, steps, **kw):
    """torch.optim's ``cls`` from x0 (its dtype, torch's default dtype set to it); the
    gradient of each step is ``gradient(x)`` in float64, rounded to x0's dtype.  Returns
    the points after each step."""
    dtype = x0.dtype
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32 if dtype == np.float32 else torch.float64)
    try:
        x = x0.copy()
        p = torch.nn.Parameter(torch.from_numpy(x))
        opt = getattr(torch.optim, cls)([p], **kw)
        out = []
        for _ in range(steps):
            p.grad = torch.from_numpy(gradient(x).astype(dtype))
            opt.step()
            out.append(x.copy())
        return out
    finally:
        torch.set_default_dtype(previous)


def _run_fastopt(rule, x0, gradient, steps, **kw):
    x = x0.copy()
    opt = CLASSES[rule](x, **kw)
    out = []
    for _ in range(steps):
        opt.step(gradient(x).astype(x0.dtype))
        out.append(x.copy())
    return out


def _logistic(seed, n=1000, rows=500):
    """A logistic regression's gradient (float64, from any point) with a small l2 term."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((rows, n)) / np.sqrt(n)
    y = (a @ rng.standard_normal(n) > 0).astype(np.float64)

    def gradient(x):
        x = np.asarray(x, dtype=np.float64)
        return a.T @ (1.0 / (1.0 + np.exp(-(a @ x))) - y) / rows + 1e-3 * x

    return gradient


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [dict(momentum=0.9, dampening=0.3),
                                dict(momentum=0.5, dampening=1.0),
                                dict(momentum=0.9, dampening=0.3, weight_decay=0.1)],
                         ids=["dampening", "dampening-1", "dampening-l2"])
def test_sgd_dampening_matches_torch(dtype, kw):
    gradient = _logistic(0, n=200, rows=100)
    x0 = np.random.default_rng(1).standard_normal(200).astype(dtype)
    ours = dict(kw)
    if "weight_decay" in ours:
        ours["l2"] = ours.pop("weight_decay")
    got = _run_fastopt("sgd", x0, gradient, 30, learning_rate=0.1, **ours)
    expect = _run_torch("SGD", x0, gradient, 30, lr=0.1, **kw)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for t, (u, v) in enumerate(zip(got, expect)):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=rtol, err_msg=f"step {t + 1}")
    assert not np.allclose(got[-1], x0)


def _float32_error(run, seed):
    """max over the steps of ||x32 - x64||_inf / ||x64||_inf: a float32 run from x = 0 against
    the same run in float64, on the logistic regression of ``seed``."""
    gradient = _logistic(seed)
    x0 = np.zeros(1000)
    exact = run(x0, gradient)
    single = run(x0.astype(np.float32), gradient)
    return max(float(np.max(np.abs(u - v)) / np.max(np.abs(v))) for u, v in zip(single, exact))


# (fastopt rule, its keywords, torch class, its keywords): every torch rule and variant.
# RMSprop without momentum runs at a rate that keeps it out of the regime where it hops
# around the minimum and the trajectories (torch's too) amplify rounding differences.
FLOAT32_CASES = {
    "sgd": ("sgd", dict(learning_rate=0.5), "SGD", dict(lr=0.5)),
    "sgd-momentum": ("sgd", dict(learning_rate=0.1, momentum=0.9),
                     "SGD", dict(lr=0.1, momentum=0.9)),
    "sgd-nesterov": ("sgd", dict(learning_rate=0.1, momentum=0.9, nesterov=True),
                     "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    "sgd-dampening": ("sgd", dict(learning_rate=0.1, momentum=0.9, dampening=0.3),
                      "SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    "adagrad": ("adagrad", dict(learning_rate=0.05), "Adagrad", dict(lr=0.05)),
    "rmsprop": ("rmsprop", dict(learning_rate=0.001), "RMSprop", dict(lr=0.001)),
    "rmsprop-centered": ("rmsprop", dict(learning_rate=0.001, centered=True),
                         "RMSprop", dict(lr=0.001, centered=True)),
    "rmsprop-momentum": ("rmsprop", dict(learning_rate=0.001, momentum=0.9),
                         "RMSprop", dict(lr=0.001, momentum=0.9)),
    "adam": ("adam", dict(learning_rate=0.01), "Adam", dict(lr=0.01)),
    "amsgrad": ("adam", dict(learning_rate=0.01, amsgrad=True),
                "Adam", dict(lr=0.01, amsgrad=True)),
    "adamw": ("adam", dict(learning_rate=0.01, weight_decay=0.01),
              "AdamW", dict(lr=0.01, weight_decay=0.01)),
    "adamax": ("adamax", dict(learning_rate=0.01), "Adamax", dict(lr=0.01)),
    "nadam": ("nadam", dict(learning_rate=0.01), "NAdam", dict(lr=0.01)),
}
# torch's CPU kernels round differently on different CPUs (their fused multiply-adds)
FLOAT32_SLACK = 1.1


@pytest.mark.parametrize("case", FLOAT32_CASES)
def test_float32_is_as_close_to_float64_as_torchs(case):
    """A float32 run strays from its float64 run no further than torch's float32 run strays
    from torch's float64 one (100 steps, the largest error over three problems)."""
    rule, ours, cls, theirs = FLOAT32_CASES[case]
    seeds = range(3)
    mine = max(_float32_error(lambda x0, gradient: _run_fastopt(
        rule, x0, gradient, STEPS, **ours), s) for s in seeds)
    peer = max(_float32_error(lambda x0, gradient: _run_torch(
        cls, x0, gradient, STEPS, **theirs), s) for s in seeds)
    assert 1e-8 < mine <= FLOAT32_SLACK * peer, (mine, peer)
