"""Parameter groups and per-array options: the kernel plan's groups, the optimizers'
``param_groups``, per-array options, and their checks against torch.optim's own groups and
against separate optimizers."""

import copy
import pickle

import numpy as np
import pytest

import fastopt
from fastopt import _dispatch
from fastopt import sparsity as sp

E, M = np.empty(0), np.empty(0, np.uint8)


def nadam_slot(p, m, v):
    return _dispatch.Slot("nadam", p, m, v, E, M, E, E, E)


def test_plan_groups_step_as_separate_plans_bit_for_bit():
    """A plan with two groups (own rate, hyperparameters, step number and carried number,
    and per-slot options) gives, bit for bit, what one plan per group gives."""
    rng = np.random.default_rng(0)
    p = [rng.standard_normal(n) for n in (5, 3000, 7)]
    grads = [[rng.standard_normal(a.size) for a in p] for _ in range(4)]
    hypers = [{"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "momentum_decay": 0.004},
              {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "momentum_decay": 0.01}]
    options = [(1.0, np.inf, 0.0, 0.1, 0.0), (-1.0, 0.5, 0.01, 0.0, 1e-3),
               (1.0, np.inf, 0.0, 0.2, 0.0)]
    groups = [0, 1, 0]

    def state():
        return [a.copy() for a in p], [np.zeros_like(a) for a in p], [np.zeros_like(a)
                                                                       for a in p]
    x, m, v = state()
    plan = _dispatch.Plan([nadam_slot(*z) for z in zip(x, m, v)], [a.shape for a in p],
                          hypers, groups)
    plan.set_options(options)
    progress = _dispatch.Progress(2)
    progress.steps = (0, 5)                             # the groups' own step numbers
    sx, sm, sv = state()
    separate = []
    for g, start in ((0, 0), (1, 5)):
        idx = [i for i in range(3) if groups[i] == g]
        q = _dispatch.Plan([nadam_slot(sx[i], sm[i], sv[i]) for i in idx],
                           [p[i].shape for i in idx], [hypers[g]])
        q.set_options([options[i] for i in idx])
        pr = _dispatch.Progress()
        pr.step = start
        separate.append((idx, q, pr))
    for gs in grads:
        plan.step(gs, [0.01, 0.003], None, 1, progress)
        for g, (idx, q, pr) in enumerate(separate):
            q.step([gs[i] for i in idx], [0.01, 0.003][g], None, 1, pr)
    for a, b in zip(x + m + v, sx + sm + sv):
        np.testing.assert_array_equal(a, b)
    assert progress.steps == (4, 9)
    assert progress.carries == (separate[0][2].carry, separate[1][2].carry)
    assert progress.carries[0] != progress.carries[1]


# ---------------------------------------------------------------- against torch.optim's groups
def run_torch(cls_name, groups, kw, grads):
    torch = pytest.importorskip("torch")
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)      # its scalar state (NAdam's mu_product) too
    try:
        return torch_steps(torch, cls_name, groups, kw, grads)
    finally:
        torch.set_default_dtype(prev)


def torch_steps(torch, cls_name, groups, kw, grads):
    tensors = [[torch.tensor(a.copy()) for a in g["params"]] for g in groups]
    opt = getattr(torch.optim, cls_name)(
        [{**{k: v for k, v in g.items() if k != "params"}, "params": t}
         for g, t in zip(groups, tensors)], **kw)
    for gs in grads:
        k = 0
        for ts in tensors:
            for t in ts:
                t.grad = torch.tensor(gs[k])
                k += 1
        opt.step()
    return [t.numpy() for ts in tensors for t in ts]


def run_fastopt(cls, groups, kw, grads):
    arrays = [[a.copy() for a in g["params"]] for g in groups]
    opt = cls([{**g, "params": a} for g, a in zip(groups, arrays)], **kw)
    for gs in grads:
        opt.step(list(gs))
    return [a for arr in arrays for a in arr], opt


def problem(seed=0, steps=6):
    rng = np.random.default_rng(seed)
    w, b, v = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(5)
    grads = [[rng.standard_normal(a.shape) for a in (w, b, v)] for _ in range(steps)]
    return (w, b, v), grads


TORCH_CASES = [
    # (torch class, its groups' keys and constructor keywords, fastopt's)
    ("SGD", fastopt.SGD, [{"lr": 0.1, "weight_decay": 0.01}, {"lr": 0.03}],
     {"momentum": 0.9, "lr": 0.05}, [{"lr": 0.1, "l2": 0.01}, {"lr": 0.03}],
     {"momentum": 0.9, "lr": 0.05}),
    ("SGD", fastopt.SGD, [{"lr": 0.1, "nesterov": True, "momentum": 0.8}, {"lr": 0.03}],
     {"momentum": 0.9, "lr": 0.05}, [{"lr": 0.1, "nesterov": True, "momentum": 0.8},
                                     {"lr": 0.03}], {"momentum": 0.9, "lr": 0.05}),
    ("Adam", fastopt.Adam, [{"lr": 0.1, "weight_decay": 0.01}, {"lr": 0.003,
                                                                "betas": (0.8, 0.99)}],
     {"lr": 0.01}, [{"lr": 0.1, "l2": 0.01}, {"lr": 0.003, "beta_1": 0.8, "beta_2": 0.99}],
     {"lr": 0.01}),
    ("Adam", fastopt.Adam, [{"lr": 0.1, "amsgrad": True}, {"lr": 0.003}], {"lr": 0.01},
     [{"lr": 0.1, "amsgrad": True}, {"lr": 0.003}], {"lr": 0.01}),
    ("AdamW", fastopt.Adam, [{"lr": 0.1, "weight_decay": 0.1}, {"lr": 0.003,
                                                                "weight_decay": 0.0}],
     {"lr": 0.01, "weight_decay": 0.05}, [{"lr": 0.1, "weight_decay": 0.1},
                                          {"lr": 0.003, "weight_decay": None}],
     {"lr": 0.01, "weight_decay": 0.05}),
    ("RMSprop", fastopt.RMSprop, [{"lr": 0.01, "weight_decay": 0.01, "centered": True},
                                  {"lr": 0.003, "momentum": 0.5}],
     {"lr": 0.005}, [{"lr": 0.01, "l2": 0.01, "centered": True},
                     {"lr": 0.003, "momentum": 0.5}], {"lr": 0.005}),
    ("NAdam", fastopt.Nadam, [{"lr": 0.01, "weight_decay": 0.01},
                              {"lr": 0.003, "betas": (0.8, 0.99), "momentum_decay": 0.01}],
     {"lr": 0.005}, [{"lr": 0.01, "l2": 0.01},
                     {"lr": 0.003, "beta_1": 0.8, "beta_2": 0.99, "momentum_decay": 0.01}],
     {"lr": 0.005}),
]


@pytest.mark.parametrize("torch_name, cls, tgroups, tkw, fgroups, fkw", TORCH_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)])
def test_groups_match_torch_optim_groups(torch_name, cls, tgroups, tkw, fgroups, fkw):
    """Groups with their own rates, coupled (torch's weight_decay: fastopt's l2) or
    decoupled (AdamW: fastopt's weight_decay) decay, betas and structural options, against
    torch.optim's own param_groups, float64: within 1e-12."""
    (w, b, v), grads = problem()
    # groups: [w, b] and [v]; torch's own keys for its groups
    tg = [{"params": [w, b], **tgroups[0]}, {"params": [v], **tgroups[1]}]
    fg = [{"params": [w, b], **fgroups[0]}, {"params": [v], **fgroups[1]}]
    expected = run_torch(torch_name, tg, tkw, grads)
    got, _ = run_fastopt(cls, fg, fkw, grads)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- against separate optimizers
def assert_bitwise(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("cls, options", [
    (fastopt.Adam, {"weight_decay": [0.1, None], "l2": [None, 0.02],
                    "clipvalue": [0.5, None], "maximize": [False, True], "l1": [1e-3, None]}),
    (fastopt.SGD, {"clipnorm": [None, 0.5], "bounds": [(-0.5, 0.5), None],
                   "l1": [None, np.full(3, 1e-2)], "momentum": 0.9}),
    (fastopt.RMSprop, {"clipnorm": [1.0, 0.3], "weight_decay": [0.0, 0.1],
                       "momentum": 0.5, "l1": 1e-3}),
])
def test_per_array_options_step_as_separate_optimizers_bit_for_bit(cls, options):
    """One value per array (None: off) gives, bit for bit, what one optimizer per array with
    that value gives."""
    (w, b, _), grads = problem(1)
    x = [w.copy(), b.copy()]
    opt = cls(x, lr=0.05, **options)
    singles = []
    for i, a in enumerate((w.copy(), b.copy())):
        kw = {k: (v[i] if isinstance(v, list) else v) for k, v in options.items()}
        kw = {k: v for k, v in kw.items() if v is not None}
        singles.append((a, cls(a, lr=0.05, **kw)))
    for gs in grads:
        opt.step(gs[:2])
        for (_, o), g in zip(singles, gs):
            o.step(g)
    assert_bitwise(x, [a for a, _ in singles])
    assert_bitwise([s for st in opt.state for s in st.values()],
                   [s for _, o in singles for s in o.state[0].values()])


@pytest.mark.parametrize("cls, groups, kw", [
    (fastopt.SGD, [{"momentum": 0.0}, {"momentum": 0.9, "nesterov": True, "lr": 0.02}],
     {"lr": 0.1}),
    (fastopt.Adam, [{"amsgrad": True, "weight_decay": 0.1}, {"beta_1": 0.5, "lr": 0.01}],
     {"lr": 0.1}),
    (fastopt.Nadam, [{"beta_1": 0.8, "momentum_decay": 0.01}, {"l1": 1e-3}], {"lr": 0.01}),
    (fastopt.Adagrad, [{"initial_accumulator_value": 0.5}, {"lr_decay": 0.1}], {}),
    (fastopt.RMSprop, [{"centered": True}, {"momentum": 0.5, "maximize": True}], {}),
])
def test_groups_step_as_separate_optimizers_bit_for_bit(cls, groups, kw):
    """Each group steps, bit for bit, as an optimizer of its own with its keys (its
    hyperparameters, structural ones included, rate, options and carried number)."""
    (w, b, v), grads = problem(2)
    arrays = [[w.copy(), b.copy()], [v.copy()]]
    opt = cls([{"params": a, **g} for a, g in zip(arrays, groups)], **kw)
    separate = [([a.copy() for a in arr], g) for arr, g in zip(arrays, groups)]
    separate = [(a, cls(a, **{**kw, **g})) for a, g in separate]
    for gs in grads:
        opt.step(gs)
        separate[0][1].step(gs[:2])
        separate[1][1].step(gs[2:])
    assert_bitwise([a for arr in arrays for a in arr], [a for a, _ in separate for a in a])
    if cls is fastopt.Nadam:
        assert opt.mu_product == (separate[0][1].mu_product, separate[1][1].mu_product)


def test_set_hyper_group_changes_that_group_only():
    """set_hyper(group=i, ...) changes group i's hyperparameters, rate and options; the other
    group goes on as before; group=None changes every group."""
    (w, b, v), grads = problem(3)
    arrays = [[w.copy(), b.copy()], [v.copy()]]
    opt = fastopt.Adam([{"params": a} for a in arrays], lr=0.05)
    ones = [fastopt.Adam(a, lr=0.05) for a in ([w.copy(), b.copy()], [v.copy()])]
    for k, gs in enumerate(grads):
        if k == 2:
            opt.set_hyper(group=1, beta_1=0.5, lr=0.01, weight_decay=0.1)
            ones[1].set_hyper(beta_1=0.5)
            ones[1].learning_rate, ones[1].weight_decay = 0.01, 0.1
        if k == 4:
            opt.set_hyper(epsilon=1e-6)
            for o in ones:
                o.set_hyper(epsilon=1e-6)
        opt.step(gs)
        ones[0].step(gs[:2])
        ones[1].step(gs[2:])
    assert_bitwise([a for arr in arrays for a in arr], list(ones[0].params) + list(ones[1].params))
    g0, g1 = opt.param_groups
    assert (g0["beta_1"], g0["learning_rate"], g0["weight_decay"]) == (0.9, 0.05, 0.0)
    assert (g1["beta_1"], g1["learning_rate"], g1["weight_decay"]) == (0.5, 0.01, 0.1)
    assert g0["epsilon"] == g1["epsilon"] == 1e-6
    assert g1["params"][0] is arrays[1][0]
    assert opt.weight_decay == [0.0, 0.0, 0.1]
    with pytest.raises(ValueError, match="different learning rates"):
        _ = opt.learning_rate
    opt.learning_rate = 0.2
    assert opt.learning_rate == 0.2 and opt.param_groups[1]["learning_rate"] == 0.2
    opt.weight_decay = 0.3
    assert opt.weight_decay == 0.3


def test_pruning_weights_only_keeps_every_bias():
    """A 64-64-10 network pruned with one schedule over its weights and None for its
    biases: the biases keep every entry, the weights reach the schedule's final sparsity."""
    rng = np.random.default_rng(4)
    shapes = [(64, 64), (64,), (64, 10), (10,)]
    params = [rng.standard_normal(s) for s in shapes]
    schedule = sp.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=20, frequency=2)
    opt = fastopt.Adam([{"params": [params[0], params[2]], "pruning": schedule},
                        {"params": [params[1], params[3]]}], lr=0.01)
    assert opt.pruning == [schedule, schedule, None, None]      # weights first
    for _ in range(30):
        opt.step([rng.standard_normal(s) for s in (shapes[0], shapes[2], shapes[1],
                                                  shapes[3])])
    assert np.count_nonzero(params[1]) == 64 and np.count_nonzero(params[3]) == 10
    for k in (0, 2):
        assert np.mean(params[k] == 0) == pytest.approx(0.8, abs=1.0 / params[k].size)
    assert opt.masks[2] is None and opt.masks[3] is None


def test_pruning_global_scope_within_the_arrays_of_a_schedule():
    """pruning_scope="global": one threshold over the arrays of one schedule only."""
    w1 = np.arange(1.0, 11.0)
    w2 = np.arange(11.0, 21.0)
    bias = np.full(4, 0.5)
    schedule = sp.ConstantSparsity(0.5, begin_step=0, frequency=1)
    opt = fastopt.SGD([w1, w2, bias], lr=0.0, pruning=[schedule, schedule, None],
                      pruning_scope="global")
    opt.step([np.zeros(10), np.zeros(10), np.zeros(4)])
    assert np.count_nonzero(w1) == 0 and np.count_nonzero(w2) == 10
    assert np.count_nonzero(bias) == 4


# ---------------------------------------------------------------- state dicts and copies
def grouped(seed=5):
    (w, b, v), grads = problem(seed, steps=8)
    lr = fastopt.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
    opt = fastopt.Nadam([{"params": [w.copy(), b.copy()], "lr": lr, "weight_decay": 0.1},
                         {"params": v.copy(), "beta_1": 0.7, "l1": 1e-3}], lr=0.01)
    return opt, grads


@pytest.mark.parametrize("how", ["state_dict", "pickle", "deepcopy"])
def test_groups_survive_state_dicts_and_copies_bit_for_bit(how):
    """A state dict (onto an optimizer with the same groups), a pickle or a deep copy
    continues bit-identically: each group's hyperparameters, rate or schedule, options and
    carried number."""
    opt, grads = grouped()
    for gs in grads[:4]:
        opt.step(gs)
    if how == "state_dict":
        sd = opt.state_dict()
        twin, _ = grouped()
        for p, q in zip(twin.params, opt.params):
            p[...] = q
        twin.set_hyper(group=1, weight_decay=0.5)    # restored from the state dict
        twin.load_state_dict(sd)
        assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    elif how == "pickle":
        twin = pickle.loads(pickle.dumps(opt))
    else:
        twin = copy.deepcopy(opt)
    for gs in grads[4:]:
        opt.step(gs)
        twin.step(gs)
    assert_bitwise(opt.params, twin.params)
    assert opt.mu_product == twin.mu_product
    assert [repr(dict(g, params=None)) for g in opt.param_groups] == [
        repr(dict(g, params=None)) for g in twin.param_groups]


def test_single_group_state_dict_keeps_its_layout():
    opt = fastopt.Adam(np.zeros(3), lr=0.1)
    opt.step(np.ones(3))
    assert set(opt.state_dict()) == {"rule", "convention", "step", "skipped_steps", "hyper",
                                     "learning_rate", "state", "masks"}


# ---------------------------------------------------------------- schedules per group
def test_shared_schedule_without_base_scales_each_groups_base():
    """One ReduceLROnPlateau() (no base rate of its own) in several groups scales each
    group's base (its float rate, or the default), and hears report() once."""
    plateau = fastopt.ReduceLROnPlateau(factor=0.5, patience=0)
    p = [np.zeros(2), np.zeros(2)]
    opt = fastopt.SGD([{"params": p[0], "lr": 0.1}, {"params": p[1]}], lr=plateau)
    assert opt.param_groups[0]["learning_rate"] is plateau
    assert plateau.learning_rate is None            # not bound to one base
    opt.step([np.ones(2), np.ones(2)])
    np.testing.assert_array_equal(p[0], -0.1)
    np.testing.assert_array_equal(p[1], -0.01)     # SGD's default rate
    assert opt.report(1.0) is False
    assert plateau.bad_evaluations == 0
    assert opt.report(1.0) is True                 # one bad evaluation, not two
    assert plateau.num_reductions == 1
    opt.step([np.ones(2), np.ones(2)])
    np.testing.assert_array_equal(p[0], -0.1 - 0.05)
    np.testing.assert_array_equal(p[1], -0.01 - 0.005)


def _plateau_values():
    """Monitored values with plateaus, enough to drive the rates down to their floors."""
    return [1.0, 0.9, 0.9, 0.95, 0.9, 0.5, 0.5, 0.6, 0.7] + [0.5] * 20


@pytest.mark.parametrize("mode", ["min", "max"])
def test_shared_plateau_with_a_floor_per_group_matches_torch(mode):
    """ReduceLROnPlateau() shared by two groups, with min_lr one per group: each group's
    rate follows torch's scheduler over the same optimizer's groups, exactly."""
    torch = pytest.importorskip("torch")
    values = _plateau_values() if mode == "min" else [2.0 - v for v in _plateau_values()]
    kw = dict(factor=0.5, patience=1, mode=mode, cooldown=1, min_lr=[0.3, 0.004])
    p = [np.zeros(2), np.zeros(2)]
    opt = fastopt.SGD([{"params": p[0], "lr": 1.0}, {"params": p[1], "lr": 0.1}],
                      lr=fastopt.ReduceLROnPlateau(**kw))
    t = [torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)]
    topt = torch.optim.SGD([{"params": [t[0]], "lr": 1.0}, {"params": [t[1]], "lr": 0.1}])
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for v in values:
        opt.report(v)
        sched.step(v)
        assert [opt.learning_rate_at(0, group=i) for i in range(2)] == \
            [g["lr"] for g in topt.param_groups]
    assert [opt.learning_rate_at(0, group=i) for i in range(2)] == [0.3, 0.004]   # floors


def test_plateau_floor_per_group():
    """min_lr as one floor per group: each group's rate stops at its own; a list of the
    wrong length for the optimizer's groups is refused."""
    plateau = fastopt.ReduceLROnPlateau(factor=0.1, patience=0, min_lr=[0.05, 0.0])
    p = [np.zeros(2), np.zeros(2)]
    opt = fastopt.Adam([{"params": p[0], "lr": 1.0}, {"params": p[1], "lr": 1.0}],
                       lr=plateau)
    for v in [1.0, 1.0, 1.0, 1.0]:
        opt.report(v)
    assert opt.learning_rate_at(0, group=0) == 0.05
    assert opt.learning_rate_at(0, group=1) == pytest.approx(1e-3, rel=1e-12)
    with pytest.raises(ValueError, match="2 min_lr entries for 3 parameter groups"):
        fastopt.Adam([{"params": np.zeros(1)}, {"params": np.zeros(1)},
                      {"params": np.zeros(1)}], lr=fastopt.ReduceLROnPlateau(min_lr=[0, 0]))
    with pytest.raises(ValueError, match="'group' must be an index from 0 to 1"):
        opt.learning_rate_at(0, group=2)


def test_one_cycle_cycles_the_momentum_of_its_groups_only():
    cycle = fastopt.OneCycle(0.1, total_steps=10)
    p = [np.zeros(2), np.zeros(2)]
    opt = fastopt.SGD([{"params": p[0], "lr": cycle}, {"params": p[1], "lr": 0.01}],
                      momentum=0.5)
    for step in range(4):
        opt.step([np.ones(2), np.ones(2)])
        assert opt.param_groups[0]["momentum"] == cycle.momentum_at(step)
        assert opt.param_groups[1]["momentum"] == 0.5
    with pytest.raises(ValueError, match="momentum is cycled"):
        opt.set_hyper(group=0, momentum=0.8)
    opt.set_hyper(group=1, momentum=0.8)
    assert opt.param_groups[1]["momentum"] == 0.8


def test_an_option_set_between_steps_survives_a_rebuilt_plan():
    """Options set through the attribute reach the kernel plan, and the plan rebuilt for new
    masks keeps them."""
    w = np.ones(4)
    opt = fastopt.SGD(w, learning_rate=0.1)
    opt.maximize = True
    opt.weight_decay = [0.5]
    opt.set_masks([np.array([1, 1, 1, 0])])
    opt.step(np.ones(4))
    np.testing.assert_array_equal(w, [1.0 - 0.05 + 0.1] * 3 + [0.0])
