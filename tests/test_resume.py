"""Stops that return the last good point (NaN result, KeyboardInterrupt, too many skips):
x, fun, nit and opt_state describe one point, and resuming from them repeats the run that
was not stopped, bit for bit (the same code path on the same machine)."""

import numpy as np
import pytest

import fastopt

NAN = float("nan")
SCALES = np.linspace(0.5, 20.0, 50)


def bowl(x):
    """An elongated 50-D bowl with its minimum at 1."""
    r = x - 1.0
    return float(np.sum(SCALES * r * r)), 2.0 * SCALES * r


class Failing:
    """``bowl``, except that call number ``at`` (from 1) fails as ``how`` says."""

    def __init__(self, at=None, how="nan"):
        self.at, self.how, self.calls = at, how, 0

    def __call__(self, x, *args):
        self.calls += 1
        if self.calls == self.at:
            if self.how == "interrupt":
                raise KeyboardInterrupt
            return NAN, x
        return bowl(x)


METHODS = [
    ("momentum", {"learning_rate": 0.005}),
    ("nesterov", {"learning_rate": 0.005}),
    ("adagrad", {"learning_rate": 0.5}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    ("adam", {"learning_rate": 0.05}),
    ("amsgrad", {"learning_rate": 0.05}),
    ("adamax", {"learning_rate": 0.05}),
    ("nadam", {"learning_rate": 0.05}),
]
# status -> (how the call fails, the options that make the loop stop there)
STOPS = {3: ("nan", {}), 6: ("interrupt", {}), 7: ("nan", {"nan_policy": "skip",
                                                            "max_skips": 0})}


def assert_same_run(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    assert a.opt_state["step"] == b.opt_state["step"]
    for sa, sb in zip(a.opt_state["state"], b.opt_state["state"]):
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])
    for key in ("mu_product", "schedule"):
        assert a.opt_state.get(key) == b.opt_state.get(key)


@pytest.mark.parametrize("status", sorted(STOPS))
@pytest.mark.parametrize("method, hyper", METHODS, ids=[m for m, _ in METHODS])
def test_full_batch_resume_equals_the_uninterrupted_run(method, hyper, status):
    how, stop = STOPS[status]
    x0, maxiter, at = np.zeros(50), 60, 25
    whole = fastopt.minimize(Failing(), x0, jac=True, method=method,
                             options={**hyper, "maxiter": maxiter, "gtol": 0})
    first = fastopt.minimize(Failing(at, how), x0, jac=True, method=method,
                             options={**hyper, **stop, "maxiter": maxiter, "gtol": 0})
    assert first.status == status
    # the call before the failing one was the last good point: iterate at - 2
    assert first.nit == at - 2 and first.opt_state["step"] == at - 2
    assert first.fun == bowl(first.x)[0]
    np.testing.assert_array_equal(first.jac, bowl(first.x)[1])
    rest = fastopt.minimize(Failing(), first.x, jac=True, method=method,
                            options={**hyper, "maxiter": maxiter - first.nit, "gtol": 0,
                                     "opt_state": first.opt_state})
    assert first.nit + rest.nit == whole.nit == maxiter
    assert_same_run(rest, whole)


@pytest.mark.parametrize("status", sorted(STOPS))
def test_resume_restores_a_plateau_schedule_to_the_last_good_point(status):
    """The schedule's state is the one it had at the returned point: a ReduceLROnPlateau
    fed the failing point's loss would otherwise be one evaluation ahead."""
    how, stop = STOPS[status]

    def plateau():
        return fastopt.ReduceLROnPlateau(0.05, factor=0.5, patience=2, min_delta=0.5)
    x0, maxiter, at = np.zeros(50), 80, 41
    whole = fastopt.minimize(Failing(), x0, jac=True, method="adam",
                             options={"learning_rate": plateau(), "maxiter": maxiter})
    assert whole.opt_state["schedule"]["num_reductions"] > 0
    first = fastopt.minimize(Failing(at, how), x0, jac=True, method="adam",
                             options={"learning_rate": plateau(), "maxiter": maxiter, **stop})
    assert first.status == status and first.nit == at - 2
    rest = fastopt.minimize(Failing(), first.x, jac=True, method="adam",
                            options={"learning_rate": plateau(), "opt_state": first.opt_state,
                                     "maxiter": maxiter - first.nit})
    assert_same_run(rest, whole)


def test_resume_restores_pruning_masks_to_the_last_good_point():
    """A pruning step taken on the way to the failing point is undone with it."""
    def pruning():
        return fastopt.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=30, frequency=3)
    x0, maxiter, at = np.linspace(-1, 1, 50), 40, 11
    opts = {"learning_rate": 0.05, "maxiter": maxiter}
    whole = fastopt.minimize(Failing(), x0, jac=True, method="adam",
                             options={**opts, "pruning": pruning()})
    first = fastopt.minimize(Failing(at), x0, jac=True, method="adam",
                             options={**opts, "pruning": pruning()})
    assert first.status == 3 and first.nit == at - 2
    # the masks of step at - 2, not those of the step that produced the failing point
    assert first.opt_state["masks"][0] is None or first.opt_state["masks"][0].mean() > 0.2
    rest = fastopt.minimize(Failing(), first.x, jac=True, method="adam",
                            options={**opts, "pruning": pruning(),
                                     "opt_state": first.opt_state,
                                     "maxiter": maxiter - first.nit})
    assert_same_run(rest, whole)
    np.testing.assert_array_equal(rest.opt_state["masks"][0], whole.opt_state["masks"][0])


# ---------------------------------------------------------------- the learning rate on resume
def saved(learning_rate, steps=3):
    """opt_state of a short SGD run with this learning rate (float or schedule)."""
    return fastopt.minimize(bowl, np.zeros(50), jac=True, method="sgd",
                            options={"learning_rate": learning_rate, "maxiter": steps}).opt_state


def one_step(options):
    """The learning rate the first step of a resumed SGD run used: x1 = x0 - lr g."""
    x0 = np.zeros(50)
    res = fastopt.minimize(bowl, x0, jac=True, method="sgd", options={**options, "maxiter": 1})
    return float((x0 - res.x)[0] / bowl(x0)[1][0])


def test_a_learning_rate_given_on_resume_wins_over_the_saved_one():
    assert one_step({"opt_state": saved(0.1), "learning_rate": 1e-4}) == pytest.approx(1e-4)
    assert one_step({"opt_state": saved(0.1), "lr": 1e-4}) == pytest.approx(1e-4)
    assert one_step({"opt_state": saved(0.1)}) == pytest.approx(0.1)      # none given: saved


def test_a_saved_schedule_must_be_given_again():
    state = saved(fastopt.ExponentialDecay(0.01, decay_steps=2))
    with pytest.raises(ValueError, match="saved with a ExponentialDecay learning-rate "
                                         "schedule: pass it again"):
        one_step({"opt_state": state})
    # the same kind: resumed at its position (step 3 of the schedule)
    lr = one_step({"opt_state": state,
                   "learning_rate": fastopt.ExponentialDecay(0.01, decay_steps=2)})
    assert lr == pytest.approx(0.01 * 0.1 ** (3 / 2))
    # another kind or a constant: the caller's
    assert one_step({"opt_state": state, "learning_rate": 0.5}) == pytest.approx(0.5)
    lr = one_step({"opt_state": state, "learning_rate": fastopt.PowerDecay(0.2, 1.0)})
    assert lr == pytest.approx(0.2 / (1 + 3))


def test_a_plateau_position_is_restored_onto_a_plateau_schedule():
    state = saved(fastopt.ReduceLROnPlateau(0.01, factor=0.5, patience=0, min_delta=0.9),
                  steps=5)
    assert state["schedule"]["num_reductions"] >= 1
    lr = one_step({"opt_state": state, "learning_rate": fastopt.ReduceLROnPlateau(
        0.01, factor=0.5, patience=0, min_delta=0.9)})
    assert lr == pytest.approx(0.01 * 0.5 ** state["schedule"]["num_reductions"])


def test_load_state_dict_refuses_another_kind_of_learning_rate():
    w = np.zeros(3)
    sched = fastopt.Adam(w, learning_rate=fastopt.CosineDecay(0.1, 10))
    sched.step(np.ones(3))
    const = fastopt.Adam(np.zeros(3), learning_rate=0.1)
    with pytest.raises(ValueError, match="saved with a CosineDecay learning-rate schedule, "
                                         "but this optimizer's learning rate is 0.1"):
        const.load_state_dict(sched.state_dict())
    with pytest.raises(ValueError, match="saved with the constant learning rate 0.1, but "
                                         "this optimizer's learning rate is the schedule"):
        sched.load_state_dict(const.state_dict())
    other = fastopt.Adam(np.zeros(3), learning_rate=fastopt.CosineDecay(0.5, 10))
    other.load_state_dict(sched.state_dict())
    assert other.step_count == 1 and other.learning_rate_now == fastopt.CosineDecay(0.5, 10)(1)


# ---------------------------------------------------------------- minibatches
RNG = np.random.default_rng(1)
X = RNG.standard_normal((200, 50))
Y = X @ RNG.standard_normal(50) + 0.1 * RNG.standard_normal(200)


def lsq(w, X, y):
    r = X @ w - y
    return float(r @ r / len(y)), 2 * X.T @ r / len(y)


class FailingBatch(Failing):
    def __call__(self, w, X, y):
        self.calls += 1
        if self.calls == self.at:
            if self.how == "interrupt":
                raise KeyboardInterrupt
            return NAN, w
        return lsq(w, X, y)


MINIBATCH = {"batch_size": 32, "seed": 3, "learning_rate": 0.01}


def assert_same_minibatch_run(a, b):
    assert_same_run(a, b)
    assert a.fun == b.fun                       # the last epoch's mean loss, same sums
    assert a.opt_state["loop"] == b.opt_state["loop"]


@pytest.mark.parametrize("status", sorted(STOPS))
@pytest.mark.parametrize("method", ["nesterov", "adam", "nadam"])
def test_minibatch_resume_inside_an_epoch_equals_the_uninterrupted_run(method, status):
    """The run continues its interrupted epoch (same permutation, same running sums) and
    then the same stream of permutations."""
    how, stop = STOPS[status]
    epochs, at = 4, 12                  # 6 batches an epoch: fails in the second epoch
    whole = fastopt.minimize(FailingBatch(), np.zeros(50), args=(X, Y), jac=True,
                             method=method, options={**MINIBATCH, "epochs": epochs})
    first = fastopt.minimize(FailingBatch(at, how), np.zeros(50), args=(X, Y), jac=True,
                             method=method, options={**MINIBATCH, **stop, "epochs": epochs})
    assert first.status == status and first.nepochs == 1
    assert first.nit == at - 2 and first.opt_state["step"] == at - 2
    assert first.opt_state["loop"]["batch"] == at - 2 - 6 and first.opt_state["loop"]["epoch"] == 1
    rest = fastopt.minimize(FailingBatch(), first.x, args=(X, Y), jac=True, method=method,
                            options={**MINIBATCH, "epochs": epochs - first.nepochs,
                                     "opt_state": first.opt_state})
    assert rest.nepochs == epochs - first.nepochs and first.nit + rest.nit == whole.nit
    assert_same_minibatch_run(rest, whole)


def test_minibatch_runs_continue_where_they_stopped():
    """Two epochs, then two more from the result, equal four (the shuffling stream goes
    on); a maxiter stop inside an epoch resumes at the next batch."""
    whole = fastopt.minimize(lsq, np.zeros(50), args=(X, Y), jac=True,
                             options={**MINIBATCH, "epochs": 4})
    half = fastopt.minimize(lsq, np.zeros(50), args=(X, Y), jac=True,
                            options={**MINIBATCH, "epochs": 2})
    assert half.opt_state["loop"]["epoch"] == 2 and half.opt_state["loop"]["batch"] == 0
    rest = fastopt.minimize(lsq, half.x, args=(X, Y), jac=True,
                            options={**MINIBATCH, "epochs": 2, "opt_state": half.opt_state})
    assert_same_minibatch_run(rest, whole)
    cut = fastopt.minimize(lsq, np.zeros(50), args=(X, Y), jac=True,
                           options={**MINIBATCH, "epochs": 4, "maxiter": 10})
    assert cut.status == 1 and cut.nepochs == 1 and cut.opt_state["loop"]["batch"] == 4
    rest = fastopt.minimize(lsq, cut.x, args=(X, Y), jac=True,
                            options={**MINIBATCH, "epochs": 3, "opt_state": cut.opt_state})
    assert_same_minibatch_run(rest, whole)


def test_another_batch_size_starts_fresh_epochs():
    """The position is only meaningful for the same batches: another batch_size (or other
    rows) starts at a new epoch, from the seed."""
    half = fastopt.minimize(lsq, np.zeros(50), args=(X, Y), jac=True,
                            options={**MINIBATCH, "epochs": 1, "maxiter": 3})
    opts = {**MINIBATCH, "batch_size": 50, "epochs": 1}
    resumed = fastopt.minimize(lsq, half.x, args=(X, Y), jac=True,
                               options={**opts, "opt_state": half.opt_state})
    fresh = fastopt.minimize(lsq, half.x, args=(X, Y), jac=True,
                             options={**opts, "opt_state": {k: v for k, v in
                                                            half.opt_state.items()
                                                            if k != "loop"}})
    assert resumed.nit == 200 // 50 and resumed.opt_state["loop"]["epoch"] == 1
    np.testing.assert_array_equal(resumed.x, fresh.x)


def test_an_ftol_stop_reports_the_epoch_that_met_it():
    """fun is the mean loss of the last epoch run, the one whose change met ftol."""
    seen = []

    def recorded(w, X, y):
        f, g = lsq(w, X, y)
        seen.append((f, len(y)))
        return f, g
    res = fastopt.minimize(recorded, np.zeros(50), args=(X, Y), jac=True,
                           options={**MINIBATCH, "epochs": 50, "ftol": 0.5})
    assert res.status == 0 and res.nepochs < 50 and "ftol" in res.message
    last = seen[-6:]                    # 6 batches an epoch
    assert res.fun == pytest.approx(sum(f * n for f, n in last) / sum(n for _, n in last),
                                    rel=1e-15)
