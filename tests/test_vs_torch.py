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
