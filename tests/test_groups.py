"""Parameter groups and per-array options: the kernel plan's groups, the optimizers'
``param_groups``, per-array options, and their checks against torch.optim's own groups and
against separate optimizers."""

import numpy as np

from fastopt import _dispatch

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
