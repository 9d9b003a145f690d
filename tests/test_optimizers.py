"""The compiled kernels, through the optimizer objects, against the NumPy oracle."""

import copy
import math
import pickle

import numpy as np
import pytest
from conftest import CLASSES, for_convention, make_problem

import fastopt
import reference as ref
from fastopt import _dispatch

STEPS = 50
LR = 0.01

# single options and a combination, each as (fastopt kwargs, oracle kwargs); "mask" and
# "bounds" are expanded per problem by fused_options().
OPTIONS = {
    "none": {},
    "weight_decay": {"weight_decay": 0.1},
    "l2": {"l2": 0.05},
    "l1": {"l1": 0.5},
    "clipvalue": {"clipvalue": 0.7},
    "clipnorm": {"clipnorm": 3.0},
    "maximize": {"maximize": True},
    "mask": {"mask": True},
    "bounds": {"bounds": True},
    "all": {"weight_decay": 0.1, "l2": 0.05, "l1": 0.5, "clipvalue": 0.7, "maximize": True,
            "mask": True, "bounds": True},
}


def fused_options(name, n, seed=1):
    """(optimizer kwargs, oracle kwargs, mask or None) for an OPTIONS entry."""
    opts = dict(OPTIONS[name])
    rng = np.random.default_rng(seed)
    mask = None
    if opts.pop("mask", False):
        mask = (rng.random(n) > 0.3).astype(np.uint8)
    oracle = dict(opts)
    if opts.pop("bounds", False):
        lo, hi = -0.8 - rng.random(n), 0.8 + rng.random(n)
        opts["bounds"] = (lo, hi)
        oracle.pop("bounds")
        oracle.update(lower=lo, upper=hi)
    if mask is not None:
        oracle["mask"] = mask
    return opts, oracle, mask


def run_fastopt(rule, hyper, theta, grads, convention="torch", num_threads=1, mask=None,
                **opts):
    w = theta.copy()
    opt = CLASSES[rule](w, learning_rate=LR, convention=convention, num_threads=num_threads,
                        **for_convention(rule, hyper, convention), **opts)
    if mask is not None:
        opt.set_masks([mask])
    total = 0
    for g in grads:
        total += opt.step(g)
    return w, opt, total


def assert_state_close(opt, state, rtol, atol):
    names = opt._state_names(opt.hyper)
    assert sorted(names) == sorted(k for k in state if k != "mu_product")
    for k in names:
        np.testing.assert_allclose(opt.state[0][k], state[k], rtol=rtol, atol=atol, err_msg=k)


def check_against_oracle(rule, hyper, convention, dtype, n, option, num_threads=1, seed=0):
    hyper = for_convention(rule, hyper, convention)
    theta, grads = make_problem(n, STEPS, seed, dtype)
    opts, oracle, mask = fused_options(option, n)
    if "bounds" in opts:          # start inside the box, as minimize() does
        lo, hi = opts["bounds"]
        theta = np.clip(theta, lo, hi).astype(dtype)
    w, opt, nbad = run_fastopt(rule, hyper, theta, grads, convention, num_threads, mask,
                               **opts)
    # the oracle runs in float64 on the same (float32-representable) inputs
    T, S, obad = ref.trajectory(rule, theta.astype(np.float64),
                                [g.astype(np.float64) for g in grads],
                                convention=convention, learning_rate=LR, **hyper, **oracle)
    # float32: the kernel rounds every step in float32, so errors of a few ulps of |theta|
    # (~1) accumulate over the 50 steps; atol is taken at that scale.
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-5, 1e-5)
    np.testing.assert_allclose(w, T, rtol=rtol, atol=atol)
    assert_state_close(opt, S, rtol, atol)
    assert nbad == obad == 0
    if "l1" in opts:
        # exact zeros where the oracle has them (up to the threshold's rounding)
        assert np.count_nonzero(w == 0) > 0
        assert not np.any(np.signbit(w[w == 0]))      # +0.0, never -0.0
    if mask is not None:
        assert np.all(w[mask == 0] == 0)
    return w


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_matches_oracle(config, convention, dtype, option):
    rule, hyper = config
    check_against_oracle(rule, hyper, convention, dtype, 1000, option)


@pytest.mark.parametrize("n", [0, 1, 7, 100003])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_matches_oracle_sizes(config, convention, dtype, n):
    rule, hyper = config
    option = "all" if n >= 7 else "weight_decay"
    check_against_oracle(rule, hyper, convention, dtype, n, option, num_threads=2)


@pytest.mark.parametrize("num_threads", [2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_bit_identical(config, dtype, num_threads, monkeypatch):
    """Every element-wise result is identical for 1, 2 and 3 threads, also for small arrays
    forced onto threads."""
    rule, hyper = config
    old = _dispatch.set_parallel_threshold(0)
    try:
        for n, option in ((70001, "all"), (5000, "clipnorm"), (3, "none")):
            theta, grads = make_problem(n, 12, 3, dtype)
            opts, _, mask = fused_options(option, n)
            w1, o1, _ = run_fastopt(rule, hyper, theta, grads, "torch", 1, mask, **opts)
            wk, ok, _ = run_fastopt(rule, hyper, theta, grads, "torch", num_threads, mask,
                                    **opts)
            expected_team = num_threads if fastopt.openmp_enabled() else 1
            assert _dispatch.team_size(n, num_threads) == expected_team
            np.testing.assert_array_equal(w1, wk)
            for k in o1.state[0]:
                np.testing.assert_array_equal(o1.state[0][k], ok.state[0][k])
    finally:
        _dispatch.set_parallel_threshold(old)


def test_small_arrays_run_serially():
    assert _dispatch.team_size(10, 2) == 1
    assert _dispatch.team_size(_dispatch.PARALLEL_THRESHOLD, 2) == (
        2 if fastopt.openmp_enabled() else 1)


@pytest.mark.parametrize("dtype", [np.float32])
def test_float32_tracks_float64(config, dtype):
    rule, hyper = config
    theta, grads = make_problem(500, STEPS, 4, np.float32)
    w32, _, _ = run_fastopt(rule, hyper, theta, grads)
    w64, _, _ = run_fastopt(rule, hyper, theta.astype(np.float64),
                            [g.astype(np.float64) for g in grads])
    assert w32.dtype == np.float32
    np.testing.assert_allclose(w32, w64, rtol=1e-5, atol=1e-6)


def test_float32_steps_compute_in_float32():
    """A float32 kernel does float32 arithmetic throughout: Adam's float32 step equals the
    same operations done by NumPy in float32, in the kernel's order, bit for bit.  (A
    double literal such as ``1 - beta`` inside the loop once promoted every float32 element
    to float64 and back: 2.4x slower, and not what torch computes.)  Each constant is
    computed in double and rounded once, as torch and Keras round their Python floats:
    1 - beta_2 is float32(1 - 0.999), not 1 - float32(0.999).  The moving averages are
    m + (1 - beta) (g - m) and the step divides by the denominator, as torch and Keras
    do."""
    f = np.float32
    rng = np.random.default_rng(11)
    theta = rng.standard_normal(1000).astype(f)
    grads = [rng.standard_normal(1000).astype(f) for _ in range(5)]
    w = theta.copy()
    opt = fastopt.Adam(w, learning_rate=0.01)
    x, m, v = theta.copy(), np.zeros(1000, f), np.zeros(1000, f)
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    for t, g in enumerate(grads, 1):
        opt.step(g)
        ss, step = f(1 / (1 - b2 ** t) ** 0.5), f(lr / (1 - b1 ** t))
        m = m + f(1 - b1) * (g - m)
        v = v + f(1 - b2) * (g * g - v)
        x = x - step * m / (np.sqrt(v) * ss + f(eps))
        assert x.dtype == m.dtype == v.dtype == f
    np.testing.assert_array_equal(opt.state[0]["exp_avg"], m)
    np.testing.assert_array_equal(opt.state[0]["exp_avg_sq"], v)
    np.testing.assert_array_equal(w, x)


# rule, hyperparameters, and per state array the decay rate beta of its moving average and
# the power of g it averages
FIRST_STEP_WEIGHTS = [
    ("adam", {"beta_1": 0.9, "beta_2": 0.999}, {"exp_avg": (0.9, 1), "exp_avg_sq": (0.999, 2)}),
    ("nadam", {"beta_1": 0.8, "beta_2": 0.99}, {"exp_avg": (0.8, 1), "exp_avg_sq": (0.99, 2)}),
    ("adamax", {"beta_1": 0.6}, {"exp_avg": (0.6, 1)}),
    ("rmsprop", {"rho": 0.99, "centered": True},
     {"square_avg": (0.99, 2), "grad_avg": (0.99, 1)}),
]


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("rule,hyper,weights", FIRST_STEP_WEIGHTS,
                         ids=[c[0] for c in FIRST_STEP_WEIGHTS])
def test_float32_decay_complements_are_rounded_once_from_double(rule, hyper, weights,
                                                                convention):
    """A moving average's weight 1 - beta is float32(1 - beta) computed in double (torch's
    and Keras's Python float, rounded once), not 1 - float32(beta): for beta = 0.999 the
    latter is 1.3e-5 too small, a bias every step repeats.  After one step from a zero
    state each average is that weight times g (or g**2), element by element."""
    f = np.float32
    g = np.random.default_rng(12).standard_normal(1000).astype(f)
    opt = CLASSES[rule](np.zeros(1000, f), learning_rate=0.01, convention=convention,
                        **hyper)
    opt.step(g)
    for name, (beta, power) in weights.items():
        assert f(1 - beta) != f(1) - f(beta)            # the two roundings differ here
        expect = f(1 - beta) * (g * g if power == 2 else g)
        np.testing.assert_array_equal(opt.state[0][name], expect, err_msg=name)


def test_float32_sgd_dampening_weight_is_rounded_once_from_double():
    """torch's buffer b = mu b + (1 - dampening) g, computed as b + ((1 - dampening) g -
    (1 - mu) b): both weights are float32 of the complement computed in double."""
    f = np.float32
    rng = np.random.default_rng(13)
    g1, g2 = (rng.standard_normal(1000).astype(f) for _ in range(2))
    opt = fastopt.SGD(np.zeros(1000, f), learning_rate=0.01, momentum=0.5, dampening=0.9)
    opt.step(g1)
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], g1)    # undamped
    opt.step(g2)
    assert f(1 - 0.9) != f(1) - f(0.9)                  # the two roundings differ here
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"],
                                  g1 + (f(1 - 0.9) * g2 - f(1 - 0.5) * g1))


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_dampening_matches_oracle(dtype, option):
    """torch's dampening (torch convention only), with every fused option: l1's threshold
    scales with the step's length at a fixed point, lr (1 - dampening) / (1 - momentum)."""
    check_against_oracle("sgd", {"momentum": 0.9, "dampening": 0.3}, "torch", dtype, 1000,
                         option)


def test_sgd_dampening_zero_and_one():
    """dampening 0 is plain momentum, bit for bit; dampening 1 adds no gradient after the
    first step (the buffer only decays)."""
    theta, grads = make_problem(101, 5, 9)
    w0, _, _ = run_fastopt("sgd", {"momentum": 0.9, "dampening": 0.0}, theta, grads)
    w, _, _ = run_fastopt("sgd", {"momentum": 0.9}, theta, grads)
    np.testing.assert_array_equal(w0, w)
    w1, _, _ = run_fastopt("sgd", {"momentum": 0.5, "dampening": 1.0}, theta, grads)
    np.testing.assert_allclose(w1, theta - LR * grads[0] * sum(0.5 ** k for k in range(5)),
                               rtol=1e-14)


def test_multiple_arrays_and_global_clipnorm():
    rng = np.random.default_rng(5)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    params = [rng.standard_normal(s) for s in shapes]
    start = [p.copy() for p in params]
    opt = fastopt.Adam(params, learning_rate=0.05, global_clipnorm=1.0, l1=[0.1, 0.0, 0.2])
    grads_seq = [[rng.standard_normal(s) * 3 for s in shapes] for _ in range(20)]
    for grads in grads_seq:
        opt.step(grads)
    # the oracle: one global scale per step, then each array on its own
    thetas = [p.ravel().copy() for p in start]
    states = [ref.init_state("adam", t) for t in thetas]
    for t, grads in enumerate(grads_seq, 1):
        scale = ref.clip_scale(grads, 1.0)
        for i, g in enumerate(grads):
            thetas[i], states[i], _ = ref.step("adam", thetas[i], g.ravel(), states[i], t,
                                               learning_rate=0.05, grad_scale=scale,
                                               l1=[0.1, 0.0, 0.2][i])
    for p, t in zip(params, thetas):
        np.testing.assert_allclose(p.ravel(), t, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_one_call_over_many_arrays_equals_one_optimizer_per_array(config, num_threads):
    """A step over many arrays runs their blocks as one loop (split over the threads as a
    whole; on one thread by chunks of blocks; each array's float32 or float64, plain or
    sparse copy of the loop); it equals stepping each array on its own (one thread).
    Sizes straddle the block and chunk sizes (2048, 8192 elements), include empty arrays,
    and outnumber the kernel's on-stack array descriptions; some arrays have a mask or an
    l1 penalty; dtypes alternate."""
    rule, hyper = config
    sizes = [0, 1, 2047, 2048, 2049, 5000, 3, 0, 70001, 17, 4096, 9, 8193, 16385, 8192]
    dtypes = [np.float64, np.float64, np.float32] * 5
    rng = np.random.default_rng(8)
    l1 = [0.2 if i % 3 == 0 else 0.0 for i in range(len(sizes))]
    masks = [(rng.random(n) > 0.3).astype(np.uint8) if i % 4 == 1 else None
             for i, n in enumerate(sizes)]
    start = [rng.standard_normal(n).astype(dt) for n, dt in zip(sizes, dtypes)]
    grads = [[rng.standard_normal(n).astype(dt) for n, dt in zip(sizes, dtypes)]
             for _ in range(6)]
    old = _dispatch.set_parallel_threshold(0)
    try:
        together = [p.copy() for p in start]
        opt = CLASSES[rule](together, learning_rate=LR, l1=l1, num_threads=num_threads,
                            **hyper)
        opt.set_masks(masks)
        for gs in grads:
            opt.step(gs)
        for i in range(len(sizes)):
            alone = start[i].copy()
            single = CLASSES[rule](alone, learning_rate=LR, l1=l1[i], num_threads=1, **hyper)
            single.set_masks([masks[i]])
            for gs in grads:
                single.step(gs[i])
            np.testing.assert_array_equal(together[i], alone, err_msg=f"array {i}")
            for k in single.state[0]:
                np.testing.assert_array_equal(opt.state[i][k], single.state[0][k])
    finally:
        _dispatch.set_parallel_threshold(old)


def test_per_coordinate_l1_matches_oracle():
    theta, grads = make_problem(300, STEPS, 6)
    strengths = np.linspace(0.0, 1.0, 300)
    w, _, _ = run_fastopt("adam", {}, theta, grads, l1=[strengths])
    T, _, _ = ref.trajectory("adam", theta, grads, learning_rate=LR, l1=strengths)
    np.testing.assert_allclose(w, T, rtol=1e-12, atol=1e-14)
    assert w[0] != 0 and np.count_nonzero(w == 0) > 10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", ["l1", "mask", "l1+mask", "l1 per coordinate",
                                    "l1 per coordinate+mask", "l1+mask+weight_decay",
                                    "l1+weight_decay", "mask+l2",
                                    "mask+maximize+clipnorm", "mask+maximize+clipvalue",
                                    "clipvalue"])
def test_sparse_steps_match_oracle_across_blocks(config, sparse, dtype):
    """Each kind of sparse step: the l1 step with one strength per array (a loop per chunk
    of blocks, like a plain step), the steps with a mask (by runs of elements, the mask read
    as numbers of the parameter's type), the decay step (a mask, l1 or both with weight
    decay, L2, maximize, clipvalue or norm clipping: its norm over the unpruned entries, as
    the oracle's of the masked gradient; and a step with clipvalue alone), and the full
    step that per-coordinate strengths take; over an array that straddles blocks and chunks
    (2048, 8192 elements): the oracle's result, pruned elements and their state exactly 0,
    l1 zeros +0.0, the same bits on one thread and on two."""
    rule, hyper = config
    n = 2 * 8192 + 2048 + 5
    theta, grads = make_problem(n, 12, 9, dtype)
    rng = np.random.default_rng(9)
    mask = (rng.random(n) > 0.4).astype(np.uint8) if "mask" in sparse else None
    l1 = ([np.linspace(0.0, 1.0, n).astype(dtype)] if "per coordinate" in sparse
          else 0.5 if "l1" in sparse else 0.0)
    decay = ({"weight_decay": 0.1} if "weight_decay" in sparse
             else {"l2": 0.05} if "l2" in sparse
             else {"maximize": True, "clipnorm": 0.05} if "clipnorm" in sparse else {})
    if "clipvalue" in sparse:                        # clips about half of the entries
        decay = {"maximize": "maximize" in sparse,
                 "clipvalue": float(np.median(np.abs(grads[0])))}
    old = _dispatch.set_parallel_threshold(0)
    try:
        w1, o1, _ = run_fastopt(rule, hyper, theta, grads, "torch", 1, mask, l1=l1, **decay)
        w2, o2, _ = run_fastopt(rule, hyper, theta, grads, "torch", 2, mask, l1=l1, **decay)
    finally:
        _dispatch.set_parallel_threshold(old)
    oracle = {"l1": l1[0].astype(np.float64) if isinstance(l1, list) else l1, **decay}
    if "clipnorm" in decay:                                      # clipping every step
        assert max(ref.clip_scale([g * mask], decay["clipnorm"]) for g in grads) < 1
    if mask is not None:
        oracle["mask"] = mask
    T, S, _ = ref.trajectory(rule, theta.astype(np.float64),
                             [g.astype(np.float64) * (1 if mask is None else mask)
                              for g in grads], learning_rate=LR, **hyper, **oracle)
    # float32: strengths up to 1 make thresholds lr * l1 / D of up to ~2 where D ~ |g| is
    # small (Adam's first step), and their float32 rounding moves a result by ~1e-5
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-5, 1e-4)
    np.testing.assert_allclose(w1, T, rtol=rtol, atol=atol)
    assert_state_close(o1, S, rtol, atol)
    if sparse != "clipvalue":
        assert np.count_nonzero(w1 == 0) > 0 and not np.any(np.signbit(w1[w1 == 0]))
    assert o1._plan.step_kinds() == ["full" if "per coordinate" in sparse else "decay"
                                     if decay else sparse.replace("l1+mask", "mask+prox")
                                     .replace("l1", "prox")]
    if mask is not None:
        assert np.all(w1[mask == 0] == 0)
        assert all(np.all(s[mask == 0] == 0) for s in o1.state[0].values())
    np.testing.assert_array_equal(w1, w2)
    for k in o1.state[0]:
        np.testing.assert_array_equal(o1.state[0][k], o2.state[0][k])


# ---------------------------------------------------------------- identities

def test_sgd_momentum_zero_is_plain_sgd():
    theta, grads = make_problem(101, 20, 7)
    w, _, _ = run_fastopt("sgd", {"momentum": 0.0}, theta, grads)
    expect = theta.copy()
    for g in grads:
        expect = expect - LR * g
    np.testing.assert_array_equal(w, expect)


@pytest.mark.parametrize("option", ["none", "all"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_keras_nesterov_with_momentum_zero_is_plain_sgd(dtype, option):
    """Keras takes SGD(nesterov=True) with momentum 0 (its golden test does): plain SGD, as
    the oracle's Keras formula gives; torch refuses it (tests/test_bad_input.py)."""
    w = check_against_oracle("sgd", {"momentum": 0.0, "nesterov": True}, "keras", dtype,
                             1000, option)
    plain = check_against_oracle("sgd", {"momentum": 0.0}, "keras", dtype, 1000, option)
    np.testing.assert_array_equal(w, plain)


@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_l1_zero_is_no_prox(config, convention):
    rule, hyper = config
    theta, grads = make_problem(257, 20, 8)
    a, _, _ = run_fastopt(rule, hyper, theta, grads, convention)
    b, _, _ = run_fastopt(rule, hyper, theta, grads, convention, l1=0.0)
    c, _, _ = run_fastopt(rule, hyper, theta, grads, convention, l1=[np.zeros(257)])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_maximize_is_minimizing_the_negation(config, convention):
    rule, hyper = config
    theta, grads = make_problem(257, 20, 9)
    a, _, _ = run_fastopt(rule, hyper, theta, grads, convention, maximize=True)
    b, _, _ = run_fastopt(rule, hyper, theta, [-g for g in grads], convention)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_learning_rate_leaves_params_bit_identical(config, dtype):
    rule, hyper = config
    theta, grads = make_problem(257, 5, 10, dtype)
    w = theta.copy()
    opt = CLASSES[rule](w, learning_rate=0.0, **hyper)
    for g in grads:
        opt.step(g)
    np.testing.assert_array_equal(w, theta)


# ---------------------------------------------------------------- non-finite gradients

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_is_isolated_and_counted(config, bad):
    rule, hyper = config
    theta, grads = make_problem(64, 3, 11)
    bad_grads = [g.copy() for g in grads]
    bad_grads[1][17] = bad
    a, oa, na = run_fastopt(rule, hyper, theta, grads, weight_decay=0.01, l1=0.01)
    b, ob, nb = run_fastopt(rule, hyper, theta, bad_grads, weight_decay=0.01, l1=0.01)
    assert (na, nb) == (0, 1)
    others = np.arange(64) != 17
    np.testing.assert_array_equal(a[others], b[others])
    for k in oa.state[0]:
        np.testing.assert_array_equal(oa.state[0][k][others], ob.state[0][k][others])
    assert a[17] != b[17] or np.isnan(b[17])


def test_nan_policy_skip_leaves_everything_bit_identical(config):
    rule, hyper = config
    theta, grads = make_problem(64, 4, 12)
    w = theta.copy()
    opt = CLASSES[rule](w, learning_rate=LR, nan_policy="skip", **hyper)
    opt.step(grads[0])
    before = pickle.dumps(opt.state_dict())
    w_before = w.copy()
    g = grads[1].copy()
    g[5] = np.nan
    assert opt.step(g) == 1
    np.testing.assert_array_equal(w, w_before)
    after = opt.state_dict()
    assert opt.skipped_steps == 1 and after["step"] == 1
    old = pickle.loads(before)
    assert after.get("mu_product") == old.get("mu_product")     # Nadam's product too
    for s_old, s_new in zip(old["state"], after["state"]):
        for k in s_old:
            np.testing.assert_array_equal(s_old[k], s_new[k])
    opt.step(grads[2])
    assert opt.step_count == 2


def test_nan_policy_raise_names_array_and_step():
    params = [np.ones(3), np.ones(4)]
    opt = fastopt.Adam(params, nan_policy="raise")
    opt.step([np.ones(3), np.ones(4)])
    snapshot = [p.copy() for p in params]
    with pytest.raises(FloatingPointError, match=r"step 2: 1 entries of grads\[1\]"):
        opt.step([np.ones(3), np.array([1.0, np.inf, 1.0, 1.0])])
    for p, s in zip(params, snapshot):
        np.testing.assert_array_equal(p, s)
    assert opt.step_count == 1


def test_pruned_coordinates_ignore_nonfinite_gradients():
    w = np.ones(4)
    opt = fastopt.SGD(w, nan_policy="raise")
    opt.set_masks([np.array([1, 0, 1, 1])])
    assert opt.step(np.array([1.0, np.nan, 1.0, 1.0])) == 0
    np.testing.assert_array_equal(w, [0.99, 0.0, 0.99, 0.99])


# ---------------------------------------------------------------- state

@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_state_round_trip_is_bit_identical(config, convention):
    rule, hyper = config
    hyper = for_convention(rule, hyper, convention)
    theta, grads = make_problem(300, 20, 13)
    w = theta.copy()
    opt = CLASSES[rule](w, learning_rate=LR, convention=convention, l1=0.01, **hyper)
    opt.set_masks([np.arange(300) % 7 != 0])
    for g in grads[:10]:
        opt.step(g)
    sd = opt.state_dict()
    frozen = pickle.dumps(sd)
    w2 = w.copy()
    opt2 = CLASSES[rule](w2, learning_rate=LR, convention=convention, l1=0.01, **hyper)
    opt2.load_state_dict(sd)
    assert pickle.dumps(sd) == frozen          # the input is never mutated
    clones = [pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)]
    for g in grads[10:]:
        opt.step(g)
        opt2.step(g)
        for c in clones:
            c.step(g)
    np.testing.assert_array_equal(w, w2)
    for c in clones:
        np.testing.assert_array_equal(w, c.params[0])
        assert np.shares_memory(c.params[0], c._flat[0])
    for k in opt.state[0]:
        np.testing.assert_array_equal(opt.state[0][k], opt2.state[0][k])


def test_state_dict_is_plain_data_and_a_copy():
    w = np.zeros(3)
    opt = fastopt.Nadam(w)
    opt.step(np.ones(3))
    sd = opt.state_dict()
    assert sd["rule"] == "nadam" and sd["step"] == 1 and isinstance(sd["mu_product"], float)
    sd["state"][0]["exp_avg"][:] = 99
    assert not np.any(opt.state[0]["exp_avg"] == 99)


@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_nadam_product_of_momenta_is_the_published_one(convention):
    """The kernel module computes Nadam's momenta and carries their product from step to
    step (_dispatch.Progress.carry): after each step it is the reference's product of
    mu_1 ... mu_t, in the same float64 operations, so exactly; a state dict saves it and
    resuming goes on from it."""
    opt = fastopt.Nadam(np.zeros(3), convention=convention)
    h = dict(opt.hyper)
    product = 1.0
    for t in range(1, 30):
        opt.step(np.ones(3))
        product *= ref._nadam_mu(t, h)
        assert opt.mu_product == product
    twin = fastopt.Nadam(np.zeros(3), convention=convention)
    twin.load_state_dict(opt.state_dict())
    opt.step(np.ones(3))
    twin.step(np.ones(3))
    assert twin.mu_product == opt.mu_product == product * ref._nadam_mu(30, h)


def test_repr_shows_hyperparameters():
    r = repr(fastopt.Adam(np.zeros(2), learning_rate=0.01, amsgrad=True, l1=0.1))
    assert r.startswith("Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-08")
    assert "amsgrad=True" in r and "l1=0.1" in r and "convention='torch'" in r


def test_schedule_callable_learning_rate():
    theta, grads = make_problem(50, 10, 14)
    w = theta.copy()
    opt = fastopt.Adam(w, learning_rate=lambda step: 0.1 / (1 + step))
    for g in grads:
        opt.step(g)
    T, _, _ = ref.trajectory("adam", theta, grads, learning_rate=lambda i: 0.1 / (1 + i))
    np.testing.assert_allclose(w, T, rtol=1e-12)
    assert opt.learning_rate_now == pytest.approx(0.1 / 11)


def test_defaults_follow_the_convention():
    for rule, cls in CLASSES.items():
        for conv in ("torch", "keras"):
            d = ref.defaults(rule, conv)
            ours = dict(cls.defaults[conv])
            if rule == "sgd":          # fastopt keeps the book's 0.01 (torch >= 2 uses 1e-3)
                d.pop("learning_rate"), ours.pop("learning_rate")
            for k, v in ours.items():
                assert d[k] == v, (rule, conv, k)


def test_openmp_is_compiled_in():
    import os
    if os.environ.get("FASTOPT_EXPECT_SERIAL") == "1":
        pytest.skip("serial build expected (FASTOPT_EXPECT_SERIAL=1)")
    assert fastopt.openmp_enabled(), ("this build lost OpenMP (set FASTOPT_EXPECT_SERIAL=1 "
                                      "for an intentionally serial build)")


SETTING_CHANGES = [
    ("weight_decay", 0.1), ("l2", 0.05), ("maximize", True), ("clipvalue", 0.3),
    ("clipnorm", 0.5), ("global_clipnorm", 0.5), ("l1", 0.02), ("l1", [np.full(40, 0.02)]),
    ("bounds", (-0.05, 0.05)), ("nan_policy", "skip"), ("num_threads", 1),
    ("pruning", fastopt.sparsity.ConstantSparsity(0.5, 0, frequency=1)),
]


@pytest.mark.parametrize("name,value", SETTING_CHANGES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(SETTING_CHANGES)])
@pytest.mark.parametrize("cls", [fastopt.SGD, fastopt.Adam])
def test_a_setting_changed_between_steps_is_used_from_the_next_step(cls, name, value):
    """Setting an option between steps acts exactly like an optimizer constructed with it
    and resumed from the same state; the steps before are unaffected."""
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(40) for _ in range(6)]
    grads[4][3] = np.nan                    # nan_policy decides what this step does
    kw = {"learning_rate": 0.05, **({"momentum": 0.9} if cls is fastopt.SGD else {})}
    w, plain_w = rng.standard_normal(40), None
    opt = cls(w, **kw)
    for g in grads[:3]:
        opt.step(g)
    plain_w = w.copy()
    plain = cls(plain_w, **kw)
    plain.load_state_dict(opt.state_dict())
    twin_w = w.copy()
    twin = cls(twin_w, **kw, **{name: value})
    twin.load_state_dict(opt.state_dict())
    setattr(opt, name, value)
    assert getattr(opt, name) is value or getattr(opt, name) == value
    for g in grads[3:]:
        for o in (opt, twin, plain):
            o.step(g)
    np.testing.assert_array_equal(w, twin_w)
    assert opt.skipped_steps == twin.skipped_steps
    if name != "num_threads":               # the others change the result
        assert not np.array_equal(w, plain_w, equal_nan=True)


def test_an_invalid_setting_raises_and_changes_nothing():
    w = np.ones(5)
    opt = fastopt.Adam(w, learning_rate=0.1, clipvalue=1.0, l1=0.01, bounds=(-2, 2))
    twin_w = w.copy()
    twin = fastopt.Adam(twin_w, learning_rate=0.1, clipvalue=1.0, l1=0.01, bounds=(-2, 2))
    with pytest.raises(ValueError, match="Only one of clipvalue, clipnorm and global_clipnorm "
                       "can be set; got clipvalue and clipnorm"):
        opt.clipnorm = 1.0
    with pytest.raises(ValueError, match="Invalid weight_decay value: -1"):
        opt.weight_decay = -1
    with pytest.raises(ValueError, match="Invalid nan_policy: 'ignore'"):
        opt.nan_policy = "ignore"
    with pytest.raises(ValueError, match=r"'l1\[0\]' must be finite and >= 0 everywhere"):
        opt.l1 = [np.array([0.1, -1, 0, 0, 0])]
    with pytest.raises(ValueError, match=r"'bounds\[0\]' is infeasible"):
        opt.bounds = (1, -1)
    with pytest.raises(TypeError, match="Invalid num_threads"):
        opt.num_threads = 1.5
    with pytest.raises(TypeError, match="'pruning' must be a pruning schedule"):
        opt.pruning = 0.5
    with pytest.raises(AttributeError, match="convention"):
        opt.convention = "keras"
    with pytest.raises(ValueError, match="Invalid l2 value: nan"):
        opt.l2 = float("nan")
    with pytest.raises(ValueError, match="Only one of .* got clipvalue and global_clipnorm"):
        opt.global_clipnorm = 2.0
    with pytest.raises(ValueError, match="Invalid pruning_scope: 'all'"):
        opt.pruning_scope = "all"
    with pytest.raises(ValueError, match="'l1' has 2 entries, expected 1"):
        opt.l1 = [0.1, 0.2]
    assert (opt.clipvalue, opt.clipnorm, opt.weight_decay, opt.nan_policy, opt.l1,
            opt.bounds, opt.num_threads, opt.pruning) == (1.0, None, 0.0, "propagate", 0.01,
                                                          (-2, 2), None, None)
    for _ in range(3):
        g = np.linspace(-3, 3, 5)
        opt.step(g)
        twin.step(g)
    np.testing.assert_array_equal(w, twin_w)
    opt.clipvalue = None                    # one at a time: now clipnorm may be set
    opt.clipnorm = 1.0
    assert (opt.clipvalue, opt.clipnorm) == (None, 1.0)


def _published_numbers(rule, keras, h, lr, t, carry):
    """The kernel's step numbers (by name, and the carry after the step; see the rules'
    comments in fastopt/_kernels.pyx) from the published formulas, in Python floats."""
    if rule == "sgd":
        return {"lr": lr, "momentum": h["momentum"], "first": t == 1,
                "grad_weight": 1 - h["dampening"],
                "one_minus_momentum": 1 - h["momentum"]}, carry
    if rule == "adagrad":
        if keras:
            return {"lr": lr, "eps_in": h["epsilon"], "eps_out": 0.0}, carry
        return {"lr": lr / (1 + (t - 1) * h["lr_decay"]), "eps_in": 0.0,
                "eps_out": h["epsilon"]}, carry
    if rule == "rmsprop":
        eps = h["epsilon"]
        inner = ({"eps_in": eps, "eps_out": 0.0, "lr_in": lr, "lr_out": 1.0} if keras else
                 {"eps_in": 0.0, "eps_out": eps, "lr_in": 1.0, "lr_out": lr})
        return {"lr": lr, "rho": h["rho"], **inner, "momentum": h["momentum"],
                "one_minus_rho": 1 - h["rho"]}, carry
    b1, b2 = h["beta_1"], h["beta_2"]
    if rule == "adam":
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        betas = {"beta_1": b1, "beta_2": b2, "eps": h["epsilon"]}
        complements = {"one_minus_beta_1": 1 - b1, "one_minus_beta_2": 1 - b2}
        if keras:
            root = math.sqrt(bc2)
            return {**betas, "sqrt_scale": 1.0, "step": lr * root / bc1,
                    "prox_lr": lr * root, **complements}, carry
        return {**betas, "sqrt_scale": 1 / math.sqrt(bc2), "step": lr / bc1,
                "prox_lr": lr, **complements}, carry
    if rule == "adamax":
        eps = ({"eps_in": 0.0, "eps_out": h["epsilon"]} if keras else
               {"eps_in": h["epsilon"], "eps_out": 0.0})
        return {"lr": lr, "beta_1": b1, "beta_2": b2, **eps, "step": lr / (1 - b1 ** t),
                "one_minus_beta_1": 1 - b1}, carry
    mu, mu_next = ref._nadam_mu(t, h), ref._nadam_mu(t + 1, h)
    prod = carry * mu
    return {"lr": lr, "beta_1": b1, "beta_2": b2, "v_scale": 1 / (1 - b2 ** t),
            "eps": h["epsilon"], "c_grad": lr * (1 - mu) / (1 - prod),
            "c_mom": lr * mu_next / (1 - prod * mu_next), "one_minus_beta_1": 1 - b1,
            "one_minus_beta_2": 1 - b2}, prod


@pytest.mark.parametrize("t", [1, 2, 3, 17, 10**6, 2**40 + 1, 2**63 - 1])
@pytest.mark.parametrize("keras", [False, True])
@pytest.mark.parametrize("rule", list(_dispatch.RULES))
def test_kernel_step_numbers_are_the_published_formulas_exactly(rule, keras, t):
    """The kernel module computes each rule's numbers for step t (bias corrections, Nadam's
    momenta, the conventions' folding) with the operations Python does on floats, so they
    equal the published formulas evaluated in Python bit for bit, up to the largest step
    number (where t + 1 no longer fits in the kernel's integer type)."""
    cls = {"sgd": fastopt.SGD, "adagrad": fastopt.Adagrad, "rmsprop": fastopt.RMSprop,
           "adam": fastopt.Adam, "adamax": fastopt.Adamax, "nadam": fastopt.Nadam}[rule]
    extra = ({"momentum": 0.7} if rule in ("sgd", "rmsprop") else
             {"lr_decay": 0.01} if rule == "adagrad" and not keras else {})
    h = dict(cls(np.zeros(2), convention="keras" if keras else "torch", **extra).hyper)
    got = _dispatch.step_numbers(rule, keras, h, 0.0123, t, 0.37)
    assert got == _published_numbers(rule, keras, h, 0.0123, t, 0.37)


def test_a_zero_denominator_in_the_step_numbers_raises():
    """Optimizers never pass such hyperparameters (beta_1 < 1 is checked); the kernel
    module's numbers still raise ZeroDivisionError for them, as Python would, rather than
    give NaN."""
    with pytest.raises(ZeroDivisionError):
        _dispatch.step_numbers("adam", False, {"beta_1": 1.0, "beta_2": 0.9, "epsilon": 0.0},
                               0.1, 3)


def test_hyper_is_read_only_and_set_hyper_checks_and_applies_changes():
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(6) for _ in range(6)]
    w = rng.standard_normal(6)
    opt = fastopt.Adam(w, learning_rate=0.1)
    with pytest.raises(TypeError, match="does not support item assignment"):
        opt.hyper["beta_1"] = 0.5
    for g in grads[:3]:
        opt.step(g)
    twin_w = w.copy()
    twin = fastopt.Adam(twin_w, learning_rate=0.1, beta_1=0.5, epsilon=None)
    twin.load_state_dict(dict(opt.state_dict(), hyper=dict(twin.hyper)))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0: 1.0"):
        opt.set_hyper(beta_1=1.0, epsilon=0.1)
    with pytest.raises(TypeError, match=r"Adam.set_hyper\(\) got an unexpected keyword "
                       r"argument 'momentum'"):
        opt.set_hyper(momentum=0.9)
    with pytest.raises(ValueError, match=r"set_hyper\(amsgrad=True\) would change the "
                       "optimizer's state arrays"):
        opt.set_hyper(amsgrad=True)
    assert dict(opt.hyper) == {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
                               "amsgrad": False}
    opt.set_hyper(beta_1=0.5, epsilon=None)
    for g in grads[3:]:
        opt.step(g)
        twin.step(g)
    np.testing.assert_array_equal(w, twin_w)
    assert opt.state_dict()["hyper"]["beta_1"] == 0.5


def test_set_hyper_of_a_structural_option_rebuilds_the_kernel_slots():
    """Nesterov selects another loop over the same state: switching it between steps acts
    like an optimizer built with it; what the state depends on is refused."""
    w, twin_w = np.ones(5), np.ones(5)
    opt = fastopt.SGD(w, learning_rate=0.1, momentum=0.9)
    twin = fastopt.SGD(twin_w, learning_rate=0.1, momentum=0.9, nesterov=True)
    opt.step(np.ones(5))
    twin.load_state_dict(opt.state_dict() | {"hyper": dict(twin.hyper)})
    twin_w[...] = w
    opt.set_hyper(nesterov=True)
    for o in (opt, twin):
        o.step(np.full(5, 0.5))
    np.testing.assert_array_equal(w, twin_w)
    with pytest.raises(ValueError, match="would change the optimizer's state arrays"):
        opt.set_hyper(momentum=0.0, nesterov=False)
    with pytest.raises(ValueError, match="would change the optimizer's state arrays"):
        fastopt.Adagrad(np.ones(2)).set_hyper(initial_accumulator_value=0.5)
    fastopt.Adagrad(np.ones(2)).set_hyper(lr_decay=0.1, epsilon=1e-6)
    rms = fastopt.RMSprop(np.ones(2))
    with pytest.raises(ValueError, match="would change the optimizer's state arrays"):
        rms.set_hyper(momentum=0.5)
    rms.set_hyper(rho=0.5)


def test_set_hyper_refuses_what_a_schedule_cycles_and_keeps_views_current():
    opt = fastopt.Adam(np.ones(3), learning_rate=fastopt.OneCycle(0.1, 100))
    with pytest.raises(ValueError, match="beta_1 is cycled by the learning-rate schedule"):
        opt.set_hyper(beta_1=0.5)
    view = opt.hyper
    opt.set_hyper(beta_2=0.9)
    opt.step(np.ones(3))
    assert view["beta_2"] == 0.9 and view["beta_1"] == opt.hyper["beta_1"] != 0.9
    twin = copy.copy(opt)                   # its own hyperparameters, not shared
    twin.set_hyper(beta_2=0.8)
    assert opt.hyper["beta_2"] == 0.9


def test_the_largest_step_count_a_state_dict_may_hold():
    """A state dict's step is at most 2**63 - 2, so that its next step's number fits in the
    kernel's 64-bit integer; Nadam's next momentum uses t + 1 = 2**63 exactly there."""
    opt = fastopt.Nadam(np.ones(3))
    sd = opt.state_dict()
    top = 2**63 - 2
    with pytest.raises(ValueError, match=r"step must be an int >= 0 \(and < 2\*\*63 - 1\)"):
        opt.load_state_dict(dict(sd, step=top + 1))
    opt.load_state_dict(dict(sd, step=top))
    opt.step(np.ones(3))
    assert np.all(np.isfinite(opt.params[0]))
    assert opt.mu_product == ref._nadam_mu(top + 1, dict(opt.hyper))


def test_nadam_mu_product_is_checked_when_set():
    opt = fastopt.Nadam(np.ones(3))
    for bad in (5.0, -0.1, float("nan"), "x"):
        with pytest.raises((ValueError, TypeError), match="mu_product"):
            opt.mu_product = bad
    assert opt.mu_product == 1.0
    opt.mu_product = 0.5
    assert opt.mu_product == 0.5


def test_a_changed_setting_survives_pickling_and_copying():
    w = np.ones(4)
    opt = fastopt.SGD(w, learning_rate=0.1)
    opt.step(np.ones(4))
    opt.l1, opt.bounds, opt.maximize = 0.5, (0.7, 2.0), True
    for clone in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        assert (clone.l1, clone.bounds, clone.maximize) == (0.5, (0.7, 2.0), True)
        clone.step(np.ones(4))
        # maximize: +0.1; l1: -0.1 * 0.5; bounds keep it in [0.7, 2]
        np.testing.assert_allclose(clone.params[0], 0.9 + 0.1 - 0.05)
