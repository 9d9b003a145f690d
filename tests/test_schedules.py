"""Learning-rate schedules, against closed forms written here from the
published formulas (Keras, torch, optax docs), hand-derived numbers, and torch itself when
it is installed."""

import doctest
import math

import numpy as np
import pytest

import fastopt
from fastopt import schedules as S
from fastopt.schedules import (Constant, CosineDecay, ExponentialDecay, LinearWarmup,
                               OneCycle, PiecewiseConstant, PowerDecay, ReduceLROnPlateau,
                               Sequential)

BIG = 10**10


def close(a, b, rel=1e-12):
    return a == pytest.approx(b, rel=rel, abs=1e-300)


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_power_decay(power):
    lr = PowerDecay(0.2, decay_steps=50, power=power)
    for t in (0, 1, 49, 50, 51, 150, BIG):
        assert close(lr(t), 0.2 / (1 + t / 50) ** power)
    assert lr(0) == 0.2
    assert PowerDecay(0.1, 100)(100) == 0.05            # halves after s steps when c = 1
    assert PowerDecay(0.1, 100)(300) == 0.025
    assert PowerDecay(0.1, 100, power=2.0)(100) == 0.025


def test_exponential_decay():
    lr = ExponentialDecay(0.1, decay_steps=100)          # the book's 0.1^(t/s)
    assert lr(0) == 0.1 and close(lr(100), 0.01) and close(lr(200), 0.001)
    assert close(lr(50), 0.1 * math.sqrt(0.1))
    for t in (1, 99, 101, 1234):
        assert close(lr(t), 0.1 * 0.1 ** (t / 100))
    assert lr(BIG) == 0.0                                # underflows, no error
    grow = ExponentialDecay(1e-3, decay_steps=10, decay_rate=2.0)
    assert close(grow(10), 2e-3) and close(grow(30), 8e-3)
    assert grow(BIG) == math.inf                         # overflow gives inf, not an error


def test_exponential_decay_staircase():
    lr = ExponentialDecay(0.5, decay_steps=10, decay_rate=0.5, staircase=True)
    expected = {0: 0.5, 1: 0.5, 9: 0.5, 10: 0.25, 11: 0.25, 19: 0.25, 20: 0.125, 29: 0.125}
    for t, v in expected.items():
        assert lr(t) == v
    assert lr(BIG) == 0.0


def test_piecewise_constant_keras_semantics():
    lr = PiecewiseConstant([10, 20], [1.0, 0.5, 0.25])
    # values[0] while t <= b0, values[1] while b0 < t <= b1, values[2] after
    expected = {0: 1.0, 1: 1.0, 9: 1.0, 10: 1.0, 11: 0.5, 19: 0.5, 20: 0.5, 21: 0.25,
                BIG: 0.25}
    for t, v in expected.items():
        assert lr(t) == v, t
    assert PiecewiseConstant([], [0.3])(BIG) == 0.3


def keras_cosine(t, eta0, s, alpha=0.0, w=0, target=None):
    """Keras' CosineDecay, written from its documentation."""
    def decay(step, peak):
        step = min(step, s)
        return peak * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / s)) + alpha)
    if target is None:
        return decay(t, eta0)
    if t < w:
        return eta0 + (target - eta0) * t / w
    return decay(t - w, target)


@pytest.mark.parametrize("kw", [{}, {"alpha": 0.1},
                                {"warmup_steps": 10, "warmup_target": 1.0},
                                {"warmup_steps": 10, "warmup_target": 1.0, "alpha": 0.2},
                                {"warmup_target": 0.8}])
def test_cosine_decay(kw):
    lr = CosineDecay(0.1, decay_steps=100, **kw)
    w = kw.get("warmup_steps", 0)
    for t in (0, 1, w - 1, w, w + 1, w + 50, w + 99, w + 100, w + 101, BIG):
        if t >= 0:
            assert close(lr(t), keras_cosine(t, 0.1, 100, **{
                "alpha": kw.get("alpha", 0.0), "w": w, "target": kw.get("warmup_target")}))


def test_cosine_decay_hand_values():
    lr = CosineDecay(0.0, decay_steps=100, alpha=0.1, warmup_steps=10, warmup_target=1.0)
    assert lr(0) == 0.0 and close(lr(5), 0.5) and lr(10) == 1.0
    assert close(lr(60), 0.55)          # half-way: (1 - 0.1) * 0.5 + 0.1
    assert close(lr(110), 0.1) and close(lr(BIG), 0.1)
    assert close(CosineDecay(2.0, 4)(1), 1.0 + math.sqrt(0.5))   # 2 * (1 + cos(pi/4)) / 2


def test_constant_and_linear_warmup():
    assert Constant(0.3)(0) == 0.3 and Constant(0.3)(BIG) == 0.3
    lr = LinearWarmup(0.1, warmup_steps=10)
    assert lr(0) == 0.0 and close(lr(1), 0.01) and close(lr(9), 0.09)
    assert lr(10) == 0.1 and lr(11) == 0.1 and lr(BIG) == 0.1
    decay = PowerDecay(1.0, 5)
    lr = LinearWarmup(decay, warmup_steps=4, start_factor=0.2)
    for t in (0, 1, 3, 4, 5, 100, BIG):
        factor = 0.2 + 0.8 * t / 4 if t < 4 else 1.0
        assert close(lr(t), factor * decay(t))


def test_sequential_optax_join_semantics():
    first, second, third = Constant(1.0), PowerDecay(0.5, 10), LinearWarmup(0.2, 4)
    lr = Sequential([first, second, third], [10, 30])
    for t in (0, 1, 9):
        assert lr(t) == 1.0
    for t in (10, 11, 29):                                   # boundary step starts the next
        assert lr(t) == second(t - 10)
    for t in (30, 31, 33, 34, BIG):
        assert lr(t) == third(t - 30)
    assert lr(10) == 0.5 and close(lr(31), 0.05)
    assert Sequential([0.3], [])(BIG) == 0.3                 # floats become constants


# ---------------------------------------------------------------- OneCycle
def torch_one_cycle(t, max_lr, T, pct, div, final_div, anneal, three, base_m, max_m):
    """torch's OneCycleLR (lr, momentum) at step t <= T - 1, written from its documented
    phase table and annealing formulas."""
    lo = max_lr / div
    fin = lo / final_div
    if three:
        phases = [(pct * T - 1, lo, max_lr, max_m, base_m),
                  (2 * pct * T - 2, max_lr, lo, base_m, max_m),
                  (T - 1, lo, fin, max_m, max_m)]
    else:
        phases = [(pct * T - 1, lo, max_lr, max_m, base_m), (T - 1, max_lr, fin, base_m, max_m)]

    def ann(a, b, q):
        if anneal == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * q) + 1)
        return (b - a) * q + a

    start = 0.0
    for i, (end, l0, l1, m0, m1) in enumerate(phases):
        if t <= end or i == len(phases) - 1:
            q = (t - start) / (end - start)
            return ann(l0, l1, q), ann(m0, m1, q)
        start = end


@pytest.mark.parametrize("three", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_matches_torch_formulas(anneal, three):
    args = dict(max_lr=0.4, T=37, pct=0.3, div=25.0, final_div=1e4, anneal=anneal,
                three=three, base_m=0.8, max_m=0.9)     # fractional phase ends: 10.1, 20.2
    lr = OneCycle(0.4, 37, pct_start=0.3, anneal=anneal, three_phase=three,
                  base_momentum=0.8, max_momentum=0.9)
    for t in range(37):
        want_lr, want_m = torch_one_cycle(t, **args)
        assert close(lr(t), want_lr, rel=1e-14), t
        assert close(lr.momentum_at(t), want_m, rel=1e-14), t
    last = torch_one_cycle(36, **args)
    for t in (37, 38, BIG):                                # held after the end
        assert lr(t) == last[0] and lr.momentum_at(t) == last[1]


# hand-derived: max 1.0, T = 68, pct_start = 0.25 (phase 1 ends at step 16), div 10
# (initial 0.1), final_div 100 (final 0.001); momentum 0.95 -> 0.85 -> 0.95
HAND = {
    ("cos", False): {0: (0.1, 0.95), 4: (1 - 0.45 * (1 + math.sqrt(0.5)), None),
                     8: (0.55, 0.90), 16: (1.0, 0.85), 33: (0.75025, 0.875),
                     50: (0.25075, 0.925), 67: (0.001, 0.95)},
    ("linear", False): {0: (0.1, 0.95), 4: (0.325, 0.925), 8: (0.55, 0.90),
                        16: (1.0, 0.85), 33: (0.667, 0.85 + 0.1 / 3),
                        50: (0.334, 0.85 + 0.2 / 3), 67: (0.001, 0.95)},
    # three phases end at 16, 32, 67: 0.1 -> 1 -> 0.1 -> 0.001, momentum held in phase 3
    ("linear", True): {8: (0.55, 0.90), 16: (1.0, 0.85), 24: (0.55, 0.90), 32: (0.1, 0.95),
                       39: (0.0802, 0.95), 67: (0.001, 0.95)},
    ("cos", True): {24: (0.55, 0.90), 32: (0.1, 0.95), 67: (0.001, 0.95)},
}


@pytest.mark.parametrize("anneal,three", list(HAND))
def test_one_cycle_hand_values(anneal, three):
    lr = OneCycle(1.0, 68, pct_start=0.25, div_factor=10.0, final_div_factor=100.0,
                  anneal=anneal, three_phase=three)
    for t, (want_lr, want_m) in HAND[anneal, three].items():
        assert close(lr(t), want_lr), t
        if want_m is not None:
            assert close(lr.momentum_at(t), want_m), t
    assert close(lr(BIG), 0.001) and close(lr.momentum_at(BIG), 0.95)
    assert OneCycle(1.0, 68, cycle_momentum=False).momentum_at(3) is None


@pytest.mark.parametrize("three", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("rule", ["sgd", "adam"])
def test_one_cycle_against_torch(rule, anneal, three):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = (torch.optim.SGD([p], lr=0.1, momentum=0.9) if rule == "sgd"
           else torch.optim.Adam([p], lr=0.1))
    T = 53
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.3, total_steps=T, pct_start=0.35, anneal_strategy=anneal,
        three_phase=three, div_factor=20.0, final_div_factor=500.0, base_momentum=0.8,
        max_momentum=0.93)
    ours = OneCycle(0.3, T, pct_start=0.35, anneal=anneal, three_phase=three, div_factor=20.0,
                    final_div_factor=500.0, base_momentum=0.8, max_momentum=0.93)
    for t in range(T):
        group = opt.param_groups[0]
        momentum = group["momentum"] if rule == "sgd" else group["betas"][0]
        assert close(ours(t), group["lr"], rel=1e-13), t
        assert close(ours.momentum_at(t), momentum, rel=1e-13), t
        opt.step()
        sched.step()


# ---------------------------------------------------------------- ReduceLROnPlateau
def test_plateau_patience():
    lr = ReduceLROnPlateau(1.0, factor=0.5, patience=2)
    assert [lr.update(v) for v in (5.0, 4.0, 4.0, 4.0)] == [False] * 4
    assert lr(0) == 1.0 and lr.bad_evaluations == 2
    assert lr.update(4.0) is True                      # third bad evaluation > patience
    assert lr(0) == 0.5 and lr(BIG) == 0.5 and lr.num_reductions == 1
    assert lr.bad_evaluations == 0
    assert [lr.update(v) for v in (3.0, 4.0, 4.0)] == [False] * 3   # improvement resets
    assert lr.update(9.0) is True and lr(3) == 0.25


def test_plateau_patience_zero_and_cooldown():
    lr = ReduceLROnPlateau(1.0, factor=0.5, patience=0, cooldown=2)
    assert lr.update(1.0) is False                     # first value always improves on inf
    assert lr.update(1.0) is True                      # patience 0: first bad one reduces
    assert lr.cooldown_counter == 2
    assert [lr.update(1.0) for _ in range(2)] == [False, False]   # bad ones ignored
    assert lr.update(1.0) is True and lr(0) == 0.25


def test_plateau_min_lr():
    lr = ReduceLROnPlateau(1.0, factor=0.1, patience=0, min_lr=0.05)
    lr.update(1.0)
    assert lr.update(2.0) is True and close(lr(0), 0.1)
    assert lr.update(2.0) is True and lr(0) == 0.05     # 0.01 floored
    assert lr.update(2.0) is False and lr(0) == 0.05    # at the floor: no reduction
    assert lr.num_reductions == 2
    # a min_lr above the base rate never raises it
    high = ReduceLROnPlateau(0.01, patience=0, min_lr=0.1)
    high.update(1.0)
    assert high.update(1.0) is False and high(0) == 0.01
    # a scheduled base is reduced at every step, and min_lr never raises its rate either
    decaying = ReduceLROnPlateau(PowerDecay(1.0, 1), factor=0.5, patience=0, min_lr=0.2)
    assert decaying(9) == 0.1
    decaying.update(1.0)
    assert decaying.update(1.0) is True
    assert decaying(0) == 0.5 and decaying(1) == 0.25 and decaying(2) == 0.2
    assert decaying(9) == 0.1


def test_plateau_eps():
    """A reduction that lowers the rate by eps or less is not made (torch's rule): from
    1.0 with factor 0.1 the rate stops at 1e-8 (the next would lower it by only 9e-9)."""
    lr = ReduceLROnPlateau(1.0, factor=0.1, patience=0)
    lr.update(1.0)
    made = [lr.update(1.0) for _ in range(12)]
    assert made == [True] * 8 + [False] * 4 and lr.num_reductions == 8
    rate = 1.0
    for _ in range(8):
        rate *= 0.1                                    # torch's arithmetic, one at a time
    assert lr(0) == rate and close(rate, 1e-8)
    coarse = ReduceLROnPlateau(1.0, factor=0.5, patience=0, eps=0.2)
    coarse.update(1.0)
    assert [coarse.update(1.0) for _ in range(3)] == [True, True, False]   # 0.5, 0.25
    assert coarse(0) == 0.25
    # a scheduled base: each step's rate is reduced while a reduction lowers it by > eps
    scheduled = ReduceLROnPlateau(PowerDecay(1.0, 1), factor=0.5, patience=0, eps=0.1)
    scheduled.update(1.0)
    assert [scheduled.update(1.0) for _ in range(3)] == [True] * 3
    assert scheduled(0) == 0.125                       # 1 -> 0.5 -> 0.25 -> 0.125
    assert scheduled(3) == 0.125                       # 0.25 -> 0.125, then -0.0625 <= eps
    assert scheduled(9) == 0.1                         # 0.1 -> 0.05 would be -0.05 <= eps


@pytest.mark.parametrize("mode,threshold_mode,values,rates", [
    # patience 1, factor 0.5, min_delta 0.1, cooldown 1.  min rel: 9.5 is not < 10 * 0.9,
    # 8.9 is; 8.9 and 8.5 are not < 8.01: reduced; 8.2 falls in the cooldown; 8.0 < 8.01
    ("min", "rel", [10, 9.5, 8.9, 8.9, 8.5, 8.2, 8.0, 1, 1, 1],
     [1, 1, 1, 1, .5, .5, .5, .5, .5, .25]),
    # min abs: 9.95 is not < 9.9, 9.85 is; 9.8 twice not < 9.75: reduced; 0 improves
    ("min", "abs", [10, 9.95, 9.85, 9.8, 9.8, 0, 0, 0, 0, 0],
     [1, 1, 1, 1, .5, .5, .5, .25, .25, .25]),
    # max rel: 10.5 is not > 10 * 1.1, 11.1 is; 11.1 and 12 are not > 12.21: reduced
    ("max", "rel", [10, 10.5, 11.1, 11.1, 12, 13, 13, 20, 20, 20],
     [1, 1, 1, 1, .5, .5, .5, .5, .5, .25]),
    # max abs: -9.95 is not > -9.9, -9.85 is; -9.8 twice not > -9.75: reduced
    ("max", "abs", [-10, -9.95, -9.85, -9.8, -9.8, 0, 0, 0, 0, 0],
     [1, 1, 1, 1, .5, .5, .5, .25, .25, .25]),
])
def test_plateau_modes_by_hand(mode, threshold_mode, values, rates):
    """Hand-worked sequences for each mode and threshold_mode (no torch needed)."""
    lr = ReduceLROnPlateau(1.0, mode=mode, threshold_mode=threshold_mode, factor=0.5,
                           patience=1, min_delta=0.1, cooldown=1)
    got = []
    for v in values:
        lr.update(v)
        got.append(lr(0))
    assert got == rates


@pytest.mark.parametrize("mode,value,improves", [
    ("rel", 0.95, False), ("rel", 0.89, True),          # needs < 1 * (1 - 0.1)
    ("abs", 0.95, False), ("abs", 0.89, True),          # needs < 1 - 0.1
    ("rel", -0.5, True), ("abs", 0.9, False)])
def test_plateau_threshold_modes(mode, value, improves):
    lr = ReduceLROnPlateau(1.0, patience=0, min_delta=0.1, threshold_mode=mode)
    lr.update(1.0)
    assert lr.update(value) is (not improves)
    assert lr.best == (value if improves else 1.0)


def test_plateau_abs_and_rel_differ_away_from_one():
    rel = ReduceLROnPlateau(1.0, patience=0, min_delta=0.1, threshold_mode="rel")
    ab = ReduceLROnPlateau(1.0, patience=0, min_delta=0.1, threshold_mode="abs")
    for s in (rel, ab):
        s.update(100.0)
    assert rel.update(95.0) is True           # rel needs < 90
    assert ab.update(95.0) is False           # abs needs < 99.9


def test_plateau_nan_never_improves():
    lr = ReduceLROnPlateau(1.0, factor=0.5, patience=1)
    assert lr.update(math.nan) is False and lr.best == math.inf and lr.bad_evaluations == 1
    assert lr.update(np.float32("nan")) is True
    lr.update(1.0)
    assert lr.best == 1.0
    with pytest.raises(TypeError, match="update.. needs a real number"):
        lr.update("low")


def test_plateau_bind_default():
    lr = ReduceLROnPlateau(factor=0.5, patience=0)
    with pytest.raises(RuntimeError, match="no base learning rate"):
        lr(0)
    lr.bind_default(0.02)
    assert lr(0) == 0.02
    lr.bind_default(0.5)                               # only when unset
    assert lr(0) == 0.02
    given = ReduceLROnPlateau(0.1)
    given.bind_default(0.5)
    assert given(0) == 0.1


PLATEAU_VALUES = np.concatenate([
    np.linspace(5, 1, 8), 1 + 0.01 * np.random.default_rng(1).random(40),
    [math.nan, 0.5, 0.5, 0.5, 0.49995, 0.4, 0.4], np.full(60, 0.4),     # long plateaus
    0.3 - 1e-5 * np.arange(20), [math.inf, -math.inf, 0.3]])


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize("config", [
    {"factor": 0.5, "patience": 3, "min_delta": 1e-3, "cooldown": 2, "min_lr": 0.01},
    {"factor": 0.1, "patience": 0},                                   # down to eps
    {"factor": 0.3, "patience": 1, "min_delta": 1e-5, "cooldown": 1, "min_lr": 1e-7,
     "eps": 1e-4},
    {"factor": 0.7, "patience": 2, "min_delta": 0.2, "eps": 0.0}])
def test_plateau_matches_torch(mode, threshold_mode, config):
    """The rate after each evaluation is torch's, exactly (a constant base)."""
    torch = pytest.importorskip("torch")
    values = PLATEAU_VALUES if mode == "min" else 10 - PLATEAU_VALUES
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.3)
    theirs = {"threshold": config.get("min_delta", 1e-4)}
    theirs.update({k: v for k, v in config.items() if k != "min_delta"})
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode,
                                                     threshold_mode=threshold_mode, **theirs)
    ours = ReduceLROnPlateau(0.3, mode=mode, threshold_mode=threshold_mode, **config)
    reductions = 0
    for v in values:
        before = opt.param_groups[0]["lr"]
        opt.step()
        ref.step(float(v))
        after = opt.param_groups[0]["lr"]
        reductions += after < before
        assert ours.update(v) is (after < before)
        assert ours(0) == after and ours(10**6) == after
        assert ours.best == ref.best or math.isnan(ref.best)
    assert reductions >= 2


# ---------------------------------------------------------------- state and resume
def test_plateau_state_round_trip():
    lr = ReduceLROnPlateau(PowerDecay(1.0, 10), factor=0.5, patience=1, cooldown=3)
    for v in (3.0, 2.0, 2.5, 2.5, 2.5):
        lr.update(v)
    sd = lr.state_dict()
    assert sd == {"best": 2.0, "bad_evaluations": 0, "cooldown_counter": 2,
                  "num_reductions": 1, "schedule": {}}
    fresh = ReduceLROnPlateau(PowerDecay(1.0, 10), factor=0.5, patience=1, cooldown=3)
    fresh.load_state_dict(sd)
    assert fresh.state_dict() == sd
    for k in (0, 7, BIG):
        assert fresh(k) == lr(k)
    for v in (2.5, 2.5, 2.5, 1.0, 1.5, 1.5):                 # identical futures
        assert fresh.update(v) == lr.update(v)
        assert fresh(5) == lr(5)


def test_plateau_max_through_optimizer():
    """mode "max" (an accuracy, told through report) survives the optimizer's state dict."""
    def make():
        return fastopt.SGD(np.zeros(2), learning_rate=ReduceLROnPlateau(
            0.1, mode="max", patience=0, factor=0.5))
    opt = make()
    assert [opt.report(a) for a in (0.5, 0.6, 0.6)] == [False, False, True]
    assert opt.learning_rate_now == 0.05
    other = make()
    other.load_state_dict(opt.state_dict())
    assert other.learning_rate_now == 0.05 and other.learning_rate.best == 0.6
    assert other.report(0.6) is True and other.learning_rate_now == 0.025


def all_schedules():
    return [Constant(0.1), PowerDecay(0.1, 7, 0.5), ExponentialDecay(0.1, 5, 0.5, True),
            PiecewiseConstant([3, 8], [0.3, 0.2, 0.1]), CosineDecay(0.0, 20, 0.1, 5, 0.2),
            OneCycle(0.5, 30, three_phase=True), LinearWarmup(PowerDecay(1.0, 3), 4, 0.1),
            Sequential([OneCycle(0.5, 30), ExponentialDecay(0.01, 10)], [30]),
            ReduceLROnPlateau(OneCycle(0.5, 30), patience=0),
            LinearWarmup(ReduceLROnPlateau(0.1, patience=0), 3)]


@pytest.mark.parametrize("schedule", all_schedules(), ids=lambda s: type(s).__name__)
def test_resume_and_repr(schedule):
    for s in (schedule, getattr(schedule, "schedule", None)):
        if isinstance(s, ReduceLROnPlateau):
            s.update(1.0), s.update(1.0)                     # one reduction
    sd = schedule.state_dict()
    rebuilt = eval(repr(schedule), vars(S))                  # repr rebuilds the configuration
    assert type(rebuilt) is type(schedule)
    rebuilt.load_state_dict(sd)
    assert rebuilt.state_dict() == sd
    for k in (0, 1, 4, 5, 29, 30, 31, 1000, BIG, np.int64(12), np.uint8(3)):
        assert rebuilt(k) == schedule(k), k
        assert rebuilt.momentum_at(k) == schedule.momentum_at(k), k
        assert math.isfinite(schedule(k)) and schedule(k) >= 0


def test_pure_schedules_have_empty_state():
    for s in all_schedules()[:6]:
        assert s.state_dict() == {}
        with pytest.raises(ValueError, match="expected \\[\\]"):
            s.load_state_dict({"scale": 1.0})
        with pytest.raises(TypeError, match="must be a dict"):
            s.load_state_dict([])


def test_bad_state_dicts():
    lr = ReduceLROnPlateau(0.1)
    good = lr.state_dict()
    with pytest.raises(ValueError, match="has keys"):
        lr.load_state_dict({k: v for k, v in good.items() if k != "best"})
    with pytest.raises(ValueError, match="Invalid num_reductions value"):
        lr.load_state_dict(dict(good, num_reductions=-1))
    with pytest.raises(ValueError, match="Invalid best value: nan"):
        lr.load_state_dict(dict(good, best=math.nan))
    with pytest.raises(ValueError, match="holds 1 schedules"):
        Sequential([0.1, 0.2], [5]).load_state_dict({"schedules": [{}]})
    assert lr.state_dict() == good                           # failed loads change nothing


def test_momentum_forwarding():
    cycle = OneCycle(1.0, 20)
    assert LinearWarmup(cycle, 5).momentum_at(7) == cycle.momentum_at(7)
    assert ReduceLROnPlateau(cycle).momentum_at(7) == cycle.momentum_at(7)
    seq = Sequential([PowerDecay(0.1, 1), cycle], [10])
    assert seq.momentum_at(9) is None and seq.momentum_at(17) == cycle.momentum_at(7)
    assert Sequential([lambda t: 0.1], []).momentum_at(3) is None   # plain callables too
    assert PowerDecay(0.1, 1).momentum_at(BIG) is None


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("make,exc,match", [
    (lambda: PowerDecay(-0.1, 10), ValueError, "Invalid initial_learning_rate value: -0.1"),
    (lambda: PowerDecay(math.nan, 10), ValueError, "Invalid initial_learning_rate value: nan"),
    (lambda: PowerDecay(math.inf, 10), ValueError, "Invalid initial_learning_rate value: inf"),
    (lambda: PowerDecay("0.1", 10), TypeError, "Invalid initial_learning_rate"),
    (lambda: PowerDecay(0.1, 0), ValueError, "Invalid decay_steps value: 0"),
    (lambda: PowerDecay(0.1, 10, power=-1), ValueError, "Invalid power value: -1"),
    (lambda: ExponentialDecay(0.1, -5), ValueError, "Invalid decay_steps value: -5"),
    (lambda: ExponentialDecay(0.1, 5, decay_rate=0.0), ValueError, "Invalid decay_rate"),
    (lambda: PiecewiseConstant([5, 5], [1, 2, 3]), ValueError, "strictly increasing"),
    (lambda: PiecewiseConstant([5, 3], [1, 2, 3]), ValueError, "strictly increasing"),
    (lambda: PiecewiseConstant([5], [1, 2, 3]), ValueError, "'values' has 3 entries"),
    (lambda: PiecewiseConstant([5, math.inf], [1, 2, 3]), ValueError, "must be finite"),
    (lambda: PiecewiseConstant([5], [1, -2]), ValueError, "Invalid values value: -2"),
    (lambda: CosineDecay(0.1, 0), ValueError, "Invalid decay_steps value: 0"),
    (lambda: CosineDecay(0.1, 10, alpha=1.5), ValueError, "Invalid alpha value: 1.5"),
    (lambda: CosineDecay(0.1, 10, warmup_steps=5), ValueError, "needs warmup_target"),
    (lambda: CosineDecay(0.1, 10, warmup_steps=-1, warmup_target=1.0), ValueError,
     "Invalid warmup_steps value: -1"),
    (lambda: CosineDecay(0.1, 10, warmup_steps=2.5, warmup_target=1.0), TypeError,
     "Invalid warmup_steps: 2.5"),
    (lambda: OneCycle(0.1, 1), ValueError, "Invalid total_steps value: 1"),
    (lambda: OneCycle(0.1, 10.0), TypeError, "Invalid total_steps: 10.0"),
    (lambda: OneCycle(-0.1, 10), ValueError, "Invalid max_learning_rate value"),
    (lambda: OneCycle(0.1, 10, pct_start=1.0), ValueError, "Invalid pct_start value: 1.0"),
    (lambda: OneCycle(0.1, 10, pct_start=0.1), ValueError, "gives an empty phase"),
    (lambda: OneCycle(0.1, 10, pct_start=0.7, three_phase=True), ValueError, "empty phase"),
    (lambda: OneCycle(0.1, 10, anneal="cosine"), ValueError, "Invalid anneal: 'cosine'"),
    (lambda: OneCycle(0.1, 10, div_factor=0), ValueError, "Invalid div_factor value: 0"),
    (lambda: OneCycle(0.1, 10, final_div_factor=math.inf), ValueError,
     "Invalid final_div_factor"),
    (lambda: OneCycle(0.1, 10, base_momentum=0.95, max_momentum=0.9), ValueError,
     "must not exceed max_momentum"),
    (lambda: OneCycle(0.1, 10, max_momentum=1.0), ValueError, "Invalid max_momentum"),
    (lambda: LinearWarmup(0.1, 0), ValueError, "Invalid warmup_steps value: 0"),
    (lambda: LinearWarmup(-1.0, 3), ValueError, "Invalid schedule value: -1"),
    (lambda: LinearWarmup(0.1, 3, start_factor=2), ValueError, "Invalid start_factor"),
    (lambda: Sequential([0.1, 0.2], []), ValueError, "'boundaries' has 0 entries"),
    (lambda: Sequential([0.1, 0.2, 0.3], [5, 5]), ValueError, "strictly increasing"),
    (lambda: Sequential([0.1, 0.2], [-1]), ValueError, "Invalid boundaries value: -1"),
    (lambda: Sequential([0.1, 0.2], [1.5]), TypeError, "Invalid boundaries: 1.5"),
    (lambda: Sequential([], []), ValueError, "'schedules' is empty"),
    (lambda: Sequential([0.1, math.nan], [3]), ValueError, "Invalid schedules\\[1\\] value"),
    (lambda: ReduceLROnPlateau(0.1, factor=1.0), ValueError, "Invalid factor value: 1.0"),
    (lambda: ReduceLROnPlateau(0.1, factor=0), ValueError, "Invalid factor value: 0"),
    (lambda: ReduceLROnPlateau(0.1, patience=-1), ValueError, "Invalid patience value: -1"),
    (lambda: ReduceLROnPlateau(0.1, cooldown=1.5), TypeError, "Invalid cooldown: 1.5"),
    (lambda: ReduceLROnPlateau(0.1, min_delta=-1e-4), ValueError, "Invalid min_delta"),
    (lambda: ReduceLROnPlateau(0.1, min_lr=math.nan), ValueError, "Invalid min_lr value: nan"),
    (lambda: ReduceLROnPlateau(-0.1), ValueError, "Invalid learning_rate value: -0.1"),
])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("schedule", all_schedules(), ids=lambda s: type(s).__name__)
def test_bad_steps(schedule):
    with pytest.raises(ValueError, match="Invalid step: -1 .expected an int >= 0"):
        schedule(-1)
    with pytest.raises(ValueError, match="Invalid step: -3"):
        schedule.momentum_at(np.int64(-3))
    for bad in (1.0, True, "3", None):
        with pytest.raises(TypeError, match="Invalid step"):
            schedule(bad)


def test_docstring_examples():
    result = doctest.testmod(S, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0


# ---------------------------------------------------------------- wiring: optimizers
import reference  # noqa: E402  (tests/ is on sys.path, see conftest.py)

CYCLED = [  # (class, rule, hyperparameters, the hyperparameter 1cycle sets)
    (fastopt.SGD, "sgd", {"momentum": 0.9}, "momentum"),
    (fastopt.SGD, "sgd", {"momentum": 0.9, "nesterov": True}, "momentum"),
    (fastopt.RMSprop, "rmsprop", {"momentum": 0.5}, "momentum"),
    (fastopt.Adam, "adam", {}, "beta_1"),
    (fastopt.Adamax, "adamax", {}, "beta_1"),
    (fastopt.Nadam, "nadam", {}, "beta_1"),
]


def oracle_run(rule, theta0, grads, lrs, momenta, name, convention, hyper):
    """The NumPy oracle stepped with the scheduled learning rate (and momentum) of each
    step."""
    theta = np.array(theta0, dtype=np.float64)
    state = reference.init_state(rule, theta, convention, **hyper)
    for i, g in enumerate(grads):
        h = dict(hyper)
        if momenta is not None:
            h[name] = momenta[i]
        theta, state, _ = reference.step(rule, theta, g, state, i + 1, convention=convention,
                                         learning_rate=lrs[i], **h)
    return theta


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("cls, rule, hyper, name", CYCLED)
@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_drives_lr_and_momentum_like_the_oracle(cls, rule, hyper, name,
                                                          convention, anneal):
    steps = 40
    rng = np.random.default_rng(1)
    theta0 = rng.standard_normal(9)
    grads = rng.standard_normal((steps, 9))
    sched = OneCycle(0.05, total_steps=steps, anneal=anneal)
    w = theta0.copy()
    opt = cls(w, learning_rate=sched, convention=convention, **hyper)
    for g in grads:
        opt.step(g)
    lrs = [sched(i) for i in range(steps)]
    momenta = [sched.momentum_at(i) for i in range(steps)]
    assert momenta[0] == 0.95 and min(momenta) == pytest.approx(0.85)
    expected = oracle_run(rule, theta0, grads, lrs, momenta, name, convention, hyper)
    np.testing.assert_allclose(w, expected, rtol=1e-11, atol=1e-13)
    assert opt.hyper[name] == momenta[-1]


@pytest.mark.parametrize("schedule", [
    PowerDecay(0.1, 5), ExponentialDecay(0.1, 10, staircase=True),
    PiecewiseConstant([3, 8], [0.1, 0.05, 0.01]), CosineDecay(0.0, 10, warmup_steps=4,
                                                               warmup_target=0.1),
    LinearWarmup(ExponentialDecay(0.1, 10), 5), OneCycle(0.1, 20, cycle_momentum=False),
    Sequential([Constant(0.1), PowerDecay(0.05, 3)], [6]),
], ids=repr)
def test_every_schedule_steps_an_optimizer_like_the_oracle(schedule):
    rng = np.random.default_rng(2)
    theta0 = rng.standard_normal(5)
    grads = rng.standard_normal((20, 5))
    w = theta0.copy()
    opt = fastopt.Adam(w, learning_rate=schedule)
    for g in grads:
        opt.step(g)
    theta, _, _ = reference.trajectory("adam", theta0, grads, learning_rate=schedule)
    np.testing.assert_allclose(w, theta, rtol=1e-12, atol=1e-14)


def run_with_reports(opt, grads, losses):
    for g, f in zip(grads, losses):
        opt.step(g)
        if f is not None:
            opt.report(f)


@pytest.mark.parametrize("make", [
    lambda: OneCycle(0.1, 30),
    lambda: LinearWarmup(OneCycle(0.1, 30), 5),
    lambda: ReduceLROnPlateau(0.1, patience=1, factor=0.5),
], ids=["onecycle", "warmup-onecycle", "plateau"])
def test_resume_mid_schedule_is_bit_identical(make):
    rng = np.random.default_rng(3)
    theta0 = rng.standard_normal(6)
    grads = rng.standard_normal((30, 6))
    losses = [1.0, 0.9, 0.95, 0.97, 0.99] * 6          # plateaus now and then
    w = theta0.copy()
    opt = fastopt.Nadam(w, learning_rate=make())
    run_with_reports(opt, grads, losses if isinstance(opt.learning_rate, ReduceLROnPlateau)
                     else [None] * 30)
    w2 = theta0.copy()
    first = fastopt.Nadam(w2, learning_rate=make())
    plateau = isinstance(first.learning_rate, ReduceLROnPlateau)
    run_with_reports(first, grads[:13], losses[:13] if plateau else [None] * 13)
    sd = first.state_dict()
    w3 = w2.copy()
    second = fastopt.Nadam(w3, learning_rate=make())
    second.load_state_dict(sd)
    run_with_reports(second, grads[13:], losses[13:] if plateau else [None] * 17)
    np.testing.assert_array_equal(w3, w)
    assert second.learning_rate_now == opt.learning_rate_now


def test_momentum_cycling_needs_a_momentum():
    with pytest.raises(ValueError, match="Adagrad has no momentum"):
        fastopt.Adagrad(np.zeros(3), learning_rate=OneCycle(0.1, 10))
    with pytest.raises(ValueError, match="Adagrad has no momentum"):    # wrapped OneCycle
        fastopt.Adagrad(np.zeros(3), learning_rate=LinearWarmup(OneCycle(0.1, 10), 3))
    with pytest.raises(ValueError, match="has momentum=0"):
        fastopt.SGD(np.zeros(3), learning_rate=OneCycle(0.1, 10))
    opt = fastopt.Adagrad(np.zeros(3), learning_rate=OneCycle(0.1, 10, cycle_momentum=False))
    opt.step(np.ones(3))
    assert opt.step_count == 1
    with pytest.raises(ValueError, match="Adagrad has no momentum"):    # a later cycle
        fastopt.Adagrad(np.zeros(3), learning_rate=Sequential([0.1, OneCycle(0.1, 10)], [3]))


@pytest.mark.parametrize("wrap", [lambda s: s, lambda s: LinearWarmup(s, 2),
                                  lambda s: Sequential([0.1, s], [3]),
                                  lambda s: ReduceLROnPlateau(LinearWarmup(s, 2))],
                         ids=["bare", "warmup", "sequential", "plateau-warmup"])
@pytest.mark.parametrize("cls", [fastopt.SGD, fastopt.RMSprop])
def test_momentum_buffer_rules_refuse_a_cycle_down_to_zero(cls, wrap):
    """OneCycle(base_momentum=0) would take SGD's or RMSprop's momentum to exactly 0 while
    the momentum buffer exists (a state dict saved then could not be loaded): refused when
    the optimizer is built, wherever the OneCycle sits; Adam's beta_1 may reach 0."""
    with pytest.raises(ValueError, match=f"cycles momentum down to base_momentum=0, but "
                       f"{cls.__name__}'s momentum buffer needs momentum > 0"):
        cls(np.zeros(3), momentum=0.9, learning_rate=wrap(OneCycle(0.1, 10, base_momentum=0)))
    cls(np.zeros(3), momentum=0.9,
        learning_rate=wrap(OneCycle(0.1, 10, base_momentum=0, cycle_momentum=False)))
    opt = fastopt.Adam(np.zeros(3), learning_rate=wrap(OneCycle(0.1, 10, base_momentum=0)))
    for _ in range(10):
        opt.step(np.ones(3))
    assert opt.step_count == 10


def test_a_momentum_cycle_that_starts_later_cycles():
    """Sequential([0.1, OneCycle], [3]): momentum is the optimizer's own for 3 steps, then
    OneCycle's (the optimizer used to look at step 0 only, and never cycled it)."""
    cycle = OneCycle(0.1, 10)
    opt = fastopt.SGD(np.zeros(3), momentum=0.5, learning_rate=Sequential([0.1, cycle], [3]))
    seen = []
    for _ in range(6):
        opt.step(np.ones(3))
        seen.append(opt.hyper["momentum"])
    assert seen == [0.5, 0.5, 0.5] + [cycle.momentum_at(k) for k in range(3)]


def test_report_feeds_plateau_and_needs_one():
    opt = fastopt.SGD(np.zeros(2), learning_rate=ReduceLROnPlateau(patience=0, factor=0.5))
    assert opt.learning_rate_now == 0.01                # the rule's default, bound at init
    assert opt.report(1.0) is False
    assert opt.report(1.0) is True
    assert opt.learning_rate_now == 0.005
    assert "schedule" in opt.state_dict()
    with pytest.raises(TypeError, match="report\\(\\) is for ReduceLROnPlateau"):
        fastopt.SGD(np.zeros(2), learning_rate=0.1).report(1.0)


# ---------------------------------------------------------------- wiring: minimize
def flat_objective(x):
    return 1.0, np.ones_like(x)          # never improves, never converges


def test_minimize_feeds_plateau_every_iteration():
    lrs = []
    sched = ReduceLROnPlateau(0.1, patience=2, factor=0.5)
    res = fastopt.minimize(flat_objective, np.zeros(3), method="sgd", jac=True,
                           callback=lambda intermediate_result: lrs.append(
                               intermediate_result.learning_rate),
                           options={"learning_rate": sched, "maxiter": 10})
    # evaluation 1 sets the best value; with patience 2 the 3rd bad one reduces: 4, 7, 10
    assert res.opt_state["schedule"]["num_reductions"] == 3
    assert sched(0) == pytest.approx(0.1 * 0.5 ** 3)
    # the learning rate each update used: reductions after iterations 4 and 7
    assert lrs == pytest.approx([0.1] * 4 + [0.05] * 3 + [0.025] * 3)


def test_minimize_monitor_callable_and_every():
    seen = []

    def monitor(x):
        seen.append(x)
        x[:] = 99.0                     # a copy: must not disturb the run
        return 1.0

    res = fastopt.minimize(flat_objective, np.zeros(3), method="sgd", jac=True,
                           options={"learning_rate": ReduceLROnPlateau(0.1), "maxiter": 9,
                                    "monitor": monitor, "monitor_every": 2})
    assert len(seen) == 4               # iterations 2, 4, 6, 8
    np.testing.assert_allclose(res.x, -0.1 * 9 * np.ones(3))


def test_minimize_minibatch_feeds_plateau_each_epoch():
    calls = []
    A = np.random.default_rng(0).standard_normal((40, 3))
    b = A @ np.ones(3)

    def fun(x, A, b):
        r = A @ x - b
        return 0.5 * r @ r / len(b), A.T @ r / len(b)

    fastopt.minimize(fun, np.zeros(3), args=(A, b), method="adam", jac=True,
                     options={"learning_rate": ReduceLROnPlateau(0.01), "batch_size": 8,
                              "epochs": 5, "seed": 0,
                              "monitor": lambda x: calls.append(1) or 0.0})
    assert len(calls) == 5


def test_minimize_monitor_needs_a_plateau_schedule():
    with pytest.raises(ValueError, match="'monitor' feeds a performance schedule"):
        fastopt.minimize(flat_objective, np.zeros(2), jac=True,
                         options={"monitor": lambda x: 0.0, "maxiter": 2})
    with pytest.raises(ValueError, match="Invalid monitor_every: 0"):
        fastopt.minimize(flat_objective, np.zeros(2), jac=True,
                         options={"learning_rate": ReduceLROnPlateau(), "monitor_every": 0})


def test_minimize_reports_each_updates_learning_rate():
    sched = PowerDecay(0.1, 2)
    lrs = []
    fastopt.minimize(flat_objective, np.zeros(2), method="sgd", jac=True,
                     callback=lambda intermediate_result: lrs.append(
                         intermediate_result.learning_rate),
                     options={"learning_rate": sched, "maxiter": 6})
    assert lrs == [sched(i) for i in range(6)]
