"""Validate the torch convention of the NumPy oracle (tests/reference.py)
against torch.optim itself, in float64, over 30 steps of random gradients.

Only numpy, torch and the oracle are imported, so this runs whether or not the
fastopt package is built.
"""

import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

N_STEPS = 30
RTOL = 1e-10
SHAPE = (5, 3)


def _grads(seed, n=N_STEPS, shape=SHAPE):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(n)]


def _theta0(seed, shape=SHAPE):
    return np.random.default_rng(seed + 1000).standard_normal(shape)


def _run_torch(cls, theta0, grads, lr_fn=None, **kwargs):
    """Run torch optimizer ``cls`` on one float64 parameter; return (theta, state)."""
    prev = torch.get_default_dtype()
    # float64 default dtype makes torch keep its scalar state (step,
    # mu_product) in float64 too.
    torch.set_default_dtype(torch.float64)
    try:
        p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
        opt = cls([p], **kwargs)
        for i, g in enumerate(grads):
            if lr_fn is not None:
                for group in opt.param_groups:
                    group["lr"] = lr_fn(i)
            p.grad = torch.tensor(g, dtype=torch.float64)
            opt.step()
        state = {
            k: (v.item() if v.ndim == 0 else v.detach().numpy().copy())
            for k, v in opt.state[p].items()
            if torch.is_tensor(v)
        }
        return p.detach().numpy().copy(), state
    finally:
        torch.set_default_dtype(prev)


def _compare(rule, torch_cls, torch_kw, ref_kw, seed=0, lr_fn=None):
    theta0 = _theta0(seed)
    grads = _grads(seed)
    t_theta, t_state = _run_torch(torch_cls, theta0, grads, lr_fn=lr_fn, **torch_kw)
    kw = dict(ref_kw)
    if lr_fn is not None:
        kw["learning_rate"] = lr_fn
    r_theta, r_state, n_bad = reference.trajectory(rule, theta0, grads, convention="torch", **kw)
    assert n_bad == 0
    assert r_theta.dtype == np.float64
    np.testing.assert_allclose(r_theta, t_theta, rtol=RTOL, atol=0)
    # every state entry of the oracle exists in torch under the same name
    for key, value in r_state.items():
        assert key in t_state, f"torch state has no {key!r}: {sorted(t_state)}"
        np.testing.assert_allclose(value, t_state[key], rtol=RTOL, atol=0, err_msg=key)
    # the reverse: every torch array state is in the oracle's state
    for key in t_state:
        if key == "step":
            continue
        assert key in r_state, f"oracle state has no {key!r}: {sorted(r_state)}"
    # the parameters moved (the comparison is not vacuous)
    assert not np.allclose(r_theta, theta0)


O = torch.optim

CASES = [
    # id, rule, torch class, torch kwargs, oracle kwargs
    ("sgd-plain", "sgd", O.SGD, dict(lr=0.05), dict(learning_rate=0.05)),
    ("sgd-momentum", "sgd", O.SGD, dict(lr=0.05, momentum=0.9),
     dict(learning_rate=0.05, momentum=0.9)),
    (
        "sgd-nesterov",
        "sgd",
        O.SGD,
        dict(lr=0.05, momentum=0.8, nesterov=True),
        dict(learning_rate=0.05, momentum=0.8, nesterov=True),
    ),
    (
        "sgd-momentum-l2",
        "sgd",
        O.SGD,
        dict(lr=0.05, momentum=0.9, weight_decay=0.1),
        dict(learning_rate=0.05, momentum=0.9, l2=0.1),
    ),
    (
        "sgd-dampening",
        "sgd",
        O.SGD,
        dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1),
        dict(learning_rate=0.05, momentum=0.9, dampening=0.3, l2=0.1),
    ),
    ("adagrad", "adagrad", O.Adagrad, dict(lr=0.1), dict(learning_rate=0.1)),
    (
        "adagrad-lr_decay-init",
        "adagrad",
        O.Adagrad,
        dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.3, eps=1e-6),
        dict(learning_rate=0.1, lr_decay=0.05, initial_accumulator_value=0.3, epsilon=1e-6),
    ),
    ("adagrad-l2", "adagrad", O.Adagrad, dict(lr=0.1, weight_decay=0.2),
     dict(learning_rate=0.1, l2=0.2)),
    ("rmsprop", "rmsprop", O.RMSprop, dict(lr=0.01), dict(learning_rate=0.01)),
    (
        "rmsprop-centered",
        "rmsprop",
        O.RMSprop,
        dict(lr=0.01, alpha=0.9, centered=True),
        dict(learning_rate=0.01, rho=0.9, centered=True),
    ),
    (
        "rmsprop-momentum",
        "rmsprop",
        O.RMSprop,
        dict(lr=0.01, momentum=0.7),
        dict(learning_rate=0.01, momentum=0.7),
    ),
    (
        "rmsprop-centered-momentum-l2",
        "rmsprop",
        O.RMSprop,
        dict(lr=0.01, momentum=0.7, centered=True, weight_decay=0.05, eps=1e-6),
        dict(learning_rate=0.01, momentum=0.7, centered=True, l2=0.05, epsilon=1e-6),
    ),
    ("adam", "adam", O.Adam, dict(lr=0.01), dict(learning_rate=0.01)),
    (
        "adam-betas-eps",
        "adam",
        O.Adam,
        dict(lr=0.01, betas=(0.8, 0.95), eps=1e-3),
        dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
    ),
    ("adam-amsgrad", "adam", O.Adam, dict(lr=0.01, amsgrad=True),
     dict(learning_rate=0.01, amsgrad=True)),
    ("adam-l2", "adam", O.Adam, dict(lr=0.01, weight_decay=0.1), dict(learning_rate=0.01, l2=0.1)),
    ("adamw", "adam", O.AdamW, dict(lr=0.01, weight_decay=0.1),
     dict(learning_rate=0.01, weight_decay=0.1)),
    (
        "adamw-amsgrad",
        "adam",
        O.AdamW,
        dict(lr=0.01, weight_decay=0.3, amsgrad=True),
        dict(learning_rate=0.01, weight_decay=0.3, amsgrad=True),
    ),
    ("adamax", "adamax", O.Adamax, dict(lr=0.01), dict(learning_rate=0.01)),
    (
        "adamax-l2-eps",
        "adamax",
        O.Adamax,
        dict(lr=0.01, weight_decay=0.1, eps=1e-3),
        dict(learning_rate=0.01, l2=0.1, epsilon=1e-3),
    ),
    ("nadam", "nadam", O.NAdam, dict(lr=0.01), dict(learning_rate=0.01)),
    (
        "nadam-momentum_decay",
        "nadam",
        O.NAdam,
        dict(lr=0.01, momentum_decay=0.1, betas=(0.85, 0.99)),
        dict(learning_rate=0.01, momentum_decay=0.1, beta_1=0.85, beta_2=0.99),
    ),
    ("nadam-l2", "nadam", O.NAdam, dict(lr=0.01, weight_decay=0.1),
     dict(learning_rate=0.01, l2=0.1)),
    (
        "nadam-decoupled",
        "nadam",
        O.NAdam,
        dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
        dict(learning_rate=0.01, weight_decay=0.1),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(case):
    _, rule, cls, torch_kw, ref_kw = case
    _compare(rule, cls, torch_kw, ref_kw)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_maximize(case):
    _, rule, cls, torch_kw, ref_kw = case
    _compare(rule, cls, dict(torch_kw, maximize=True), dict(ref_kw, maximize=True), seed=1)


@pytest.mark.parametrize(
    "rule, cls, torch_kw, ref_kw",
    [
        ("sgd", O.SGD, dict(momentum=0.9), dict(momentum=0.9)),
        ("adagrad", O.Adagrad, dict(lr_decay=0.01), dict(lr_decay=0.01)),
        ("adam", O.Adam, {}, {}),
        ("nadam", O.NAdam, {}, {}),
    ],
)
def test_matches_torch_scheduled_lr(rule, cls, torch_kw, ref_kw):
    def lr_fn(i):
        return 0.05 * 0.9**i

    _compare(rule, cls, dict(torch_kw, lr=lr_fn(0)), ref_kw, seed=2, lr_fn=lr_fn)


@pytest.mark.parametrize(
    "rule, cls",
    [("sgd", O.SGD), ("adagrad", O.Adagrad), ("rmsprop", O.RMSprop), ("adam", O.Adam),
     ("adamax", O.Adamax), ("nadam", O.NAdam)],
)
def test_torch_defaults(rule, cls):
    """The oracle's torch defaults are torch.optim's constructor defaults."""
    import inspect

    sig = inspect.signature(cls.__init__).parameters
    d = reference.defaults(rule, "torch")
    names = {"learning_rate": "lr", "epsilon": "eps", "rho": "alpha"}
    for ours, value in d.items():
        if ours in ("beta_1", "beta_2"):
            assert sig["betas"].default[int(ours[-1]) - 1] == value
        else:
            assert sig[names.get(ours, ours)].default == value, ours


def test_defaults_run_like_torch():
    """With every hyperparameter left at its default the trajectories agree."""
    for rule, cls in [("sgd", O.SGD), ("adagrad", O.Adagrad), ("rmsprop", O.RMSprop),
                      ("adam", O.Adam), ("adamax", O.Adamax), ("nadam", O.NAdam)]:
        _compare(rule, cls, {}, {}, seed=3)


def test_clipvalue_matches_torch_clip_grad_value():
    theta0 = _theta0(4)
    grads = [3 * g for g in _grads(4)]
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        p = torch.nn.Parameter(torch.tensor(theta0))
        opt = O.Adam([p], lr=0.01)
        for g in grads:
            p.grad = torch.tensor(g)
            torch.nn.utils.clip_grad_value_([p], 0.5)
            opt.step()
    finally:
        torch.set_default_dtype(prev)
    r_theta, _, _ = reference.trajectory("adam", theta0, grads, learning_rate=0.01, clipvalue=0.5)
    np.testing.assert_allclose(r_theta, p.detach().numpy(), rtol=RTOL, atol=0)


def test_clip_scale_close_to_torch_clip_grad_norm():
    # torch divides by (norm + 1e-6); the oracle by max(norm, clipnorm), so
    # they agree to ~1e-6 relative when the norm exceeds the threshold.
    gs = _grads(5, n=3)
    s = reference.clip_scale(gs, 1.0)
    ts = [torch.tensor(g) for g in gs]
    for t_ in ts:
        t_.grad = t_.clone()
    torch.nn.utils.clip_grad_norm_(ts, 1.0)
    for g, t_ in zip(gs, ts):
        np.testing.assert_allclose(g * s, t_.grad.numpy(), rtol=1e-5)
    assert reference.clip_scale(gs, 1e9) == 1.0


# --------------------------------------------------------------------------
# The oracle's own conventions (no torch counterpart): mask, l1 prox,
# bounds, non-finite count, no mutation, shapes.
# --------------------------------------------------------------------------


def test_step_does_not_mutate_and_counts_unmasked_nonfinite():
    theta = np.array([1.0, -2.0, 0.5, 3.0])
    grad = np.array([np.nan, 1.0, np.inf, -1.0])
    state = reference.init_state("adam", theta)
    copies = (theta.copy(), grad.copy(), {k: v.copy() for k, v in state.items()})
    mask = np.array([0, 1, 1, 1], dtype=np.uint8)
    new_theta, new_state, n_bad = reference.step("adam", theta, grad, state, 1, mask=mask)
    assert n_bad == 1  # the NaN sits in the pruned coordinate
    assert reference.step("adam", theta, grad, state, 1)[2] == 2
    np.testing.assert_array_equal(theta, copies[0])
    np.testing.assert_array_equal(grad, copies[1])
    for key, value in state.items():
        np.testing.assert_array_equal(value, copies[2][key])
    assert new_theta[0] == 0.0 and all(v[0] == 0.0 for v in new_state.values())
    assert np.isnan(new_theta[2])


def test_l1_prox_gives_positive_zeros_and_keeps_nan():
    theta = np.array([-0.01, 0.01, -1.0, 1.0, np.nan])
    out, _, _ = reference.step("sgd", theta, np.zeros(5), {}, 1, learning_rate=0.1, l1=1.0)
    np.testing.assert_array_equal(out[:4], [0.0, 0.0, -0.9, 0.9])
    assert not np.signbit(out[0]) and np.isnan(out[4])


def test_bounds_and_weight_decay_order():
    theta = np.array([1.0, -1.0])
    out, _, _ = reference.step(
        "sgd", theta, np.array([-10.0, 10.0]), {}, 1, learning_rate=0.1, weight_decay=0.5,
        lower=np.array([-np.inf, -1.5]), upper=np.array([1.5, np.inf]),
    )
    # theta*(1 - 0.05) - 0.1*g, then the box
    np.testing.assert_allclose(out, [1.5, -1.5])


def test_state_keys_and_shapes():
    x = np.zeros((2, 3), dtype=np.float32)
    assert set(reference.init_state("sgd", x)) == set()
    assert set(reference.init_state("sgd", x, momentum=0.9)) == {"momentum_buffer"}
    assert set(reference.init_state("rmsprop", x, centered=True, momentum=0.5)) == {
        "square_avg", "grad_avg", "momentum_buffer"}
    assert set(reference.init_state("adam", x, amsgrad=True)) == {
        "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert reference.init_state("nadam", x)["mu_product"] == 1.0
    np.testing.assert_array_equal(reference.init_state("adagrad", x, "keras")["sum"], 0.1)
    for rule in reference.RULES:
        for conv in ("torch", "keras"):
            for shape in [(0,), (), (7,)]:
                th = np.ones(shape)
                st = reference.init_state(rule, th, conv)
                out, new_st, _ = reference.step(rule, th, np.ones(shape), st, 1, convention=conv)
                assert out.shape == shape and out.dtype == np.float64
                assert set(new_st) == set(st)
