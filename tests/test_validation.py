"""Bad input: a clear error naming the argument, never a crash or a silent copy."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastopt
from fastopt import _dispatch


def ro(a):
    a = a.copy()
    a.flags.writeable = False
    return a


PARAM_ERRORS = [
    (lambda: np.zeros(3, np.int64), TypeError, r"'params' has dtype int64"),
    (lambda: np.zeros(3, np.float16), TypeError, r"dtype float16"),
    (lambda: np.zeros(3, np.complex128), TypeError, r"dtype complex128"),
    (lambda: np.zeros(3, ">f8"), TypeError, r"native byte order"),
    (lambda: np.zeros(3, object), TypeError, r"dtype object"),
    (lambda: np.zeros(3, bool), TypeError, r"dtype bool"),
    (lambda: [0.0, 1.0], TypeError, r"'params\[0\]' must be a numpy.ndarray"),
    (lambda: 3.0, TypeError, r"'params' must be a numpy.ndarray or a list"),
    (lambda: [], ValueError, r"empty list"),
    (lambda: ro(np.zeros(3)), ValueError, r"'params' is read-only"),
    (lambda: np.zeros((4, 4))[:, 1], ValueError, r"'params' is not C-contiguous"),
    (lambda: np.zeros(6)[::-1], ValueError, r"not C-contiguous"),
    (lambda: np.zeros((3, 4), order="F"), ValueError, r"not C-contiguous"),
]


@pytest.mark.parametrize("make, exc, match", PARAM_ERRORS)
def test_bad_params(make, exc, match):
    with pytest.raises(exc, match=match):
        fastopt.Adam(make())


def test_aliased_params_rejected():
    x = np.zeros(10)
    with pytest.raises(ValueError, match=r"'params\[0\]' and 'params\[1\]' share memory"):
        fastopt.SGD([x[:5], x])


HYPER_ERRORS = [
    (fastopt.Adam, {"learning_rate": -1.0}, r"Invalid learning rate: -1.0"),
    (fastopt.Adam, {"lr": float("nan")}, r"Invalid learning rate: nan"),
    (fastopt.Adam, {"learning_rate": "big"}, r"Invalid learning_rate: 'big'"),
    (fastopt.Adam, {"beta_1": 1.0}, r"Invalid beta parameter at index 0: 1.0"),
    (fastopt.Nadam, {"beta_2": -0.1}, r"Invalid beta parameter at index 1: -0.1"),
    (fastopt.Adamax, {"epsilon": -1e-8}, r"Invalid epsilon value: -1e-08"),
    (fastopt.SGD, {"momentum": -0.5}, r"Invalid momentum value: -0.5"),
    (fastopt.SGD, {"nesterov": True}, r"Nesterov momentum requires a momentum"),
    (fastopt.RMSprop, {"rho": float("nan")}, r"Invalid rho value: nan"),
    (fastopt.Adagrad, {"lr_decay": -1}, r"Invalid lr_decay value: -1"),
    (fastopt.Adagrad, {"initial_accumulator_value": -1},
     r"Invalid initial_accumulator_value value: -1"),
    (fastopt.Nadam, {"momentum_decay": -1}, r"Invalid momentum_decay value: -1"),
    (fastopt.Adam, {"weight_decay": -1}, r"Invalid weight_decay value: -1"),
    (fastopt.Adam, {"l2": float("inf")}, r"Invalid l2 value: inf"),  # inf * 0 = NaN
    (fastopt.Adam, {"l1": -0.1}, r"Invalid l1 value: -0.1"),
    (fastopt.Adam, {"l1": [0.1, 0.2]}, r"'l1' has 2 entries, expected 1"),
    (fastopt.Adam, {"clipvalue": 0.0}, r"Invalid clipvalue value: 0.0"),
    (fastopt.Adam, {"clipnorm": 1.0, "clipvalue": 1.0}, r"Only one of clipvalue, clipnorm"),
    (fastopt.Adam, {"convention": "jax"}, r"Invalid convention: 'jax'"),
    (fastopt.Adam, {"nan_policy": "ignore"}, r"Invalid nan_policy: 'ignore'"),
    (fastopt.Adam, {"num_threads": 0}, r"Invalid num_threads: 0"),
    (fastopt.Adam, {"num_threads": 1.5}, r"Invalid num_threads: 1.5"),
    (fastopt.Adam, {"learning_rate": 0.1, "lr": 0.1}, r"either 'learning_rate' or its alias"),
    (fastopt.Adam, {"bounds": (1.0, 0.0)}, r"'bounds\[0\]' is infeasible"),
    (fastopt.Adam, {"bounds": (np.zeros(2), 1.0)}, r"does not broadcast"),
    (fastopt.Adam, {"bounds": (np.nan, 1.0)}, r"contains NaN"),
]


@pytest.mark.parametrize("cls, kwargs, match", HYPER_ERRORS)
def test_bad_hyperparameters(cls, kwargs, match):
    if match is None:       # a legal (if silly) value: it must not crash
        cls(np.zeros(3), **kwargs).step(np.ones(3))
        return
    with pytest.raises((ValueError, TypeError), match=match):
        cls(np.zeros(3), **kwargs)


def test_schedule_returning_nan_is_reported():
    opt = fastopt.SGD(np.zeros(3), learning_rate=lambda step: float("nan"))
    with pytest.raises(ValueError, match=r"schedule .* returned nan at step 0"):
        opt.step(np.ones(3))


GRAD_ERRORS = [
    (np.ones(4), ValueError,
     r"'grads' has shape \(4,\), but the parameter it updates has shape \(3,\)"),
    (np.ones((3, 1)), ValueError, r"has shape \(3, 1\)"),
    (np.ones(3, complex), TypeError, r"'grads' has dtype complex128; gradients must be real"),
    (np.array(["a", "b", "c"]), TypeError, r"gradients must be real"),
    ([np.ones(3), np.ones(3)], ValueError, r"'grads' has 2 arrays, expected 1"),
]


@pytest.mark.parametrize("grad, exc, match", GRAD_ERRORS)
def test_bad_grads(grad, exc, match):
    x = np.zeros(3)
    opt = fastopt.Adam(x)
    with pytest.raises(exc, match=match):
        opt.step(grad)
    np.testing.assert_array_equal(x, 0)


def test_grads_of_any_layout_and_dtype_work():
    base = np.arange(1.0, 13.0).reshape(3, 4)
    layouts = [base, ro(base), np.asfortranarray(base), base.astype(np.float32),
               base.astype(np.int32), np.repeat(base, 2, axis=1)[:, ::2],
               base.tolist()]
    results = []
    for g in layouts:
        x = np.zeros((3, 4))
        opt = fastopt.Adam(x, learning_rate=0.1)
        opt.step(g if not isinstance(g, list) else np.array(g))
        results.append(x.copy())
    for r in results[1:]:
        np.testing.assert_array_equal(results[0], r)


def test_gradient_aliasing_param_is_safe():
    x = np.linspace(-1, 1, 50)
    y = x.copy()
    fastopt.SGD(x, momentum=0.9).step(x)           # g is the param itself
    fastopt.SGD(y, momentum=0.9).step(y.copy())
    np.testing.assert_array_equal(x, y)


def test_zero_size_and_zero_dim_params():
    e = np.zeros(0)
    fastopt.Adam(e).step(np.zeros(0))
    s = np.array(1.0)
    fastopt.Adam(s, learning_rate=0.5).step(np.array(2.0))
    assert s == pytest.approx(0.5)


def test_load_state_dict_validation():
    opt = fastopt.Adam(np.zeros(3))
    opt.step(np.ones(3))
    sd = opt.state_dict()
    with pytest.raises(ValueError, match=r"for rule 'adam', not 'nadam'"):
        fastopt.Nadam(np.zeros(3)).load_state_dict(sd)
    other = fastopt.Adam(np.zeros(4))
    with pytest.raises(ValueError,
                       match=r"state\[0\]\['exp_avg'\] must be a float64 array of shape \(4,\)"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match=r"uses convention 'torch'"):
        fastopt.Adam(np.zeros(3), convention="keras").load_state_dict(sd)
    bad = dict(sd, step=-1)
    with pytest.raises(ValueError, match=r"step must be an int >= 0"):
        fastopt.Adam(np.zeros(3)).load_state_dict(bad)
    with pytest.raises(ValueError, match=r"lacks"):
        fastopt.Adam(np.zeros(3)).load_state_dict({"rule": "adam"})
    amsgrad = fastopt.Adam(np.zeros(3), amsgrad=True)
    with pytest.raises(ValueError, match=r"has \['exp_avg', 'exp_avg_sq'\], expected"):
        amsgrad.load_state_dict(dict(sd, hyper=dict(sd["hyper"], amsgrad=True)))


def test_kernel_slot_checks():
    """Bounds checks are off in kernels; a slot refuses mismatched arrays when it is built,
    and a step refuses a gradient of the wrong length."""
    p = np.zeros(10)
    e = np.empty(0)
    m = np.empty(0, np.uint8)
    z = np.zeros(10)
    with pytest.raises(ValueError, match=r"'state' has 3 elements"):
        _dispatch.Slot("adam", p, np.zeros(3), z, e, m, e, e, e)
    with pytest.raises(ValueError, match=r"'state' has 0 elements, expected 10$"):
        _dispatch.Slot("adam", p, z, z.copy(), e, m, e, e, e, amsgrad=True)
    with pytest.raises(ValueError, match=r"'state' has 0 elements, expected 10$"):
        _dispatch.Slot("sgd", p, e, e, e, m, e, e, e, momentum=True)
    with pytest.raises(ValueError, match=r"'mask' has 4 elements"):
        _dispatch.Slot("sgd", p, e, e, e, np.ones(4, np.uint8), e, e, e)
    with pytest.raises(ValueError, match=r"'lower' has 3 elements"):
        _dispatch.Slot("sgd", p, e, e, e, m, e, np.zeros(3), e)
    with pytest.raises(ValueError, match="Buffer dtype mismatch"):
        _dispatch.Slot("sgd", p, e, e, e, m, np.ones(10, np.float32), e, e)
    with pytest.raises(ValueError, match="read-only"):
        _dispatch.Slot("sgd", ro(p), e, e, e, m, e, e, e)
    with pytest.raises(TypeError, match="float32 or float64"):
        _dispatch.Slot("sgd", np.zeros(10, np.int64), e, e, e, m, e, e, e)
    with pytest.raises(ValueError, match="unknown rule 'lbfgs'"):
        _dispatch.Slot("lbfgs", p, e, e, e, m, e, e, e)
    slot = _dispatch.Slot("adam", p, z, z.copy(), e, m, e, e, e)
    hyper = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}
    plan = _dispatch.Plan([slot], [(2, 5)], [hyper])
    progress = _dispatch.Progress()
    for bad in (np.zeros(5), np.zeros(10, np.float32), np.zeros(20)[::2], [0.0] * 10,
                np.zeros(10).astype(">f8")):
        with pytest.raises(TypeError, match=r"'grads\[0\]' must be a C-contiguous, aligned "
                           r"float64 numpy array of 10 elements"):
            plan.step([bad], 1e-3, None, 1, progress)
    for hypers, error, match in [([{"beta_1": 0.9, "epsilon": 1e-8}], KeyError, "beta_2"),
                                 ([dict(hyper, epsilon="x")], TypeError,
                                  "must be real number, not str")]:
        with pytest.raises(error, match=match):
            _dispatch.Plan([slot], [(10,)], hypers).step([z], 1e-3, None, 1, progress)
    with pytest.raises(ValueError, match="2 gradients for 1 parameter arrays"):
        plan.step([z, z], 1e-3, None, 1, progress)
    with pytest.raises(ValueError, match=r"2 scales for 1 parameter arrays"):
        plan.step([z], 1e-3, [1.0] * 2, 1, progress)
    with pytest.raises(ValueError, match=r"2 learning rates for 1 groups"):
        plan.step([z], [1e-3] * 2, None, 1, progress)
    with pytest.raises(TypeError, match="'progress' has incorrect type"):
        plan.step([z], 1e-3, None, 1, None)
    with pytest.raises(ValueError, match="'progress' counts 2 groups, the plan has 1"):
        plan.step([z], 1e-3, None, 1, _dispatch.Progress(2))
    with pytest.raises(ValueError, match=r"3 options for 1 parameter arrays"):
        plan.set_options([(1.0, np.inf, 0.0, 0.0, 0.0)] * 3)
    with pytest.raises(ValueError, match=r"\(sign, clip, l2, weight_decay, l1\)"):
        plan.set_options([(1.0, np.inf, 0.0, 0.0)])
    with pytest.raises(ValueError, match="give each of the 1 slots a group index from 0 to 0"):
        _dispatch.Plan([slot], [(10,)], [hyper], groups=[1])
    with pytest.raises(TypeError, match="one dict of hyperparameters per group"):
        _dispatch.Plan([slot], [(10,)], [])
    progress.step = 2**63 - 1                           # its step number would not fit
    with pytest.raises(ValueError, match=r"step count 9223372036854775807 out of range"):
        plan.step([z], 1e-3, None, 1, progress)
    assert p.tolist() == [0.0] * 10                     # nothing ran
    assert (progress.step, progress.carry) == (2**63 - 1, 1.0)
    sgd = _dispatch.Slot("sgd", np.zeros(10), e, e, e, m, e, e, e)
    with pytest.raises(ValueError, match="same rule and convention"):
        _dispatch.Plan([slot, sgd], [(10,), (10,)], [hyper])
    keras = _dispatch.Slot("adam", np.zeros(10), z.copy(), z.copy(), e, m, e, e, e, keras=True)
    with pytest.raises(ValueError, match="same rule and convention"):
        _dispatch.Plan([slot, keras], [(10,), (10,)], [hyper])
    with pytest.raises(ValueError, match=r"shape \(3, 3\) does not have the 10 elements"):
        _dispatch.Plan([slot], [(3, 3)], [hyper])
    with pytest.raises(ValueError, match="one shape per slot and at least one slot"):
        _dispatch.Plan([], [], [hyper])
    with pytest.raises(TypeError, match="slot 0 is a NoneType, not a Slot"):
        _dispatch.Plan([None], [(10,)], [hyper])


@pytest.mark.parametrize("cls, hyper", [
    (fastopt.SGD, {}), (fastopt.SGD, {"momentum": 0.9}), (fastopt.Adagrad, {}),
    (fastopt.RMSprop, {}), (fastopt.RMSprop, {"centered": True, "momentum": 0.5}),
    (fastopt.Adam, {}), (fastopt.Adam, {"amsgrad": True}), (fastopt.Adamax, {}),
    (fastopt.Nadam, {})])
def test_the_kernel_rule_table_names_the_optimizers_state(cls, hyper):
    """RULES, from which a slot takes which state arrays it needs, lists the same arrays in
    the same order as the optimizers keep them, each kept exactly when its option is on."""
    opt = cls(np.zeros(3), **hyper)
    _, states = _dispatch.RULES[opt.rule]
    h = opt.hyper
    on = {None: True, "momentum": h.get("momentum", 0) != 0,
          "centered": h.get("centered", False), "amsgrad": h.get("amsgrad", False)}
    assert cls.state_slots == tuple(states)
    assert list(opt.state[0]) == [name for name, option in states.items() if on[option]]


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")     # np.matrix
def test_plan_fits_only_arrays_usable_as_they_are():
    """Plan.fits is the step's fast path: exactly numpy.ndarray, the parameter's shape and
    dtype, C-contiguous and aligned; everything else goes through as_grad."""
    e, m = np.empty(0, np.float32), np.empty(0, np.uint8)
    p, q = np.zeros((2, 3), np.float32), np.zeros(4, np.float32)
    slots = [_dispatch.Slot("sgd", a.reshape(-1), e, e, e, m, e, e, e) for a in (p, q)]
    two = _dispatch.Plan(slots, [p.shape, q.shape], [{"momentum": 0.0}])
    one = _dispatch.Plan(slots[:1], [p.shape], [{"momentum": 0.0}])
    g, h = np.ones((2, 3), np.float32), np.ones(4, np.float32)
    assert one.fits(g) and one.fits([g]) and one.fits((g,))
    assert two.fits([g, h]) and two.fits((g, h))
    raw = np.zeros(25, np.uint8)
    unaligned = raw[1:25].view(np.float32).reshape(2, 3)
    assert one.fits(np.asfortranarray(np.ones((3, 2), np.float32)).T)  # C-contiguous view
    for bad in (g.reshape(-1), g.T.copy(), np.ones((2, 6), np.float32)[:, ::2],
                g.astype(np.float64), g.astype(">f4"), np.matrix(g), g.tolist(), unaligned,
                [g, g], [g, h, h], None, 1.0):
        assert not one.fits(bad), bad
        assert not two.fits([bad, h]) and not two.fits([h, g]), bad
    assert not two.fits(g) and not two.fits([g])


def test_gradient_aliasing_a_written_array_is_copied_first():
    """A gradient that is a view of the parameter or of a state array gives the result of
    passing a copy of it."""
    for name in ("param", "exp_avg"):
        results = []
        for alias in (True, False):
            x = np.linspace(-1, 1, 7)
            opt = fastopt.Adam(x, learning_rate=0.1)
            opt.step(np.cos(x))
            src = x if name == "param" else opt.state[0]["exp_avg"]
            g = src if alias else src.copy()
            opt.step(g)
            results.append((x.copy(), opt.state[0]["exp_avg"].copy()))
        np.testing.assert_array_equal(results[0][0], results[1][0])
        np.testing.assert_array_equal(results[0][1], results[1][1])


# ---------------------------------------------------------------- property test

DTYPES = [np.float32, np.float64, np.int32, np.float16, np.complex64, bool]
HYPER_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                         st.integers(-3, 3), st.none())


@settings(max_examples=150, deadline=None)
@given(rule=st.sampled_from(["SGD", "Adagrad", "RMSprop", "Adam", "Adamax", "Nadam"]),
       shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
       pdtype=st.sampled_from(DTYPES), gdtype=st.sampled_from(DTYPES),
       step=st.sampled_from([1, 2, -1]), transpose=st.booleans(),
       lr=HYPER_VALUES, wd=HYPER_VALUES, l1=HYPER_VALUES, clip=HYPER_VALUES,
       threads=st.sampled_from([None, 1, 2, 0]))
def test_random_inputs_work_or_raise_cleanly(rule, shape, pdtype, gdtype, step, transpose,
                                             lr, wd, l1, clip, threads):
    cls = getattr(fastopt, rule)
    rng = np.random.default_rng(0)
    full = [s * abs(step) for s in shape[:1]] + shape[1:]
    x = rng.standard_normal(full).astype(pdtype)
    if shape:
        x = x[::step] if step != 1 else x
    if transpose:
        x = x.T
    g = rng.standard_normal(x.shape).astype(gdtype)
    kwargs = {"learning_rate": lr, "num_threads": threads}
    for k, v in (("weight_decay", wd), ("l1", l1), ("clipvalue", clip)):
        if v is not None:
            kwargs[k] = v
    try:
        opt = cls(x, **kwargs)
        before = x.copy()
        opt.step(g)
    except (TypeError, ValueError):
        return
    assert x.shape == before.shape and x.dtype == before.dtype


def test_max_abs_reads_only_what_it_can_read_as_it_is():
    """max_abs (minimize's gradient test) equals NumPy's max |g| with NaN propagated, and
    refuses anything but a 1-D C-contiguous, aligned, native float32/float64 array (the
    caller then converts it)."""
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        # around a vector's width and its remainder; 5003: past the size that releases
        # the GIL
        for n in (0, 1, 7, 16, 17, 40, 5003):
            g = rng.standard_normal(n).astype(dtype)
            assert _dispatch.max_abs(g) == (float(np.abs(g).max()) if n else 0.0)
            for i in {0, n // 2, n - 1} if n else ():
                h = g.copy()
                for nan in (np.nan, -np.nan):           # either sign bit
                    h[i] = nan
                    assert np.isnan(_dispatch.max_abs(h))
                h[i] = -np.inf
                assert _dispatch.max_abs(h) == np.inf
    raw = np.zeros(81, np.uint8)
    for bad in (np.ones((2, 3)), np.ones(10)[::2], np.ones(4, np.int64), [1.0, 2.0],
                np.ones(4).astype(">f8"), raw[1:81].view(np.float64), np.float64(3.0)):
        with pytest.raises(TypeError, match="max_abs needs a 1-D C-contiguous, aligned"):
            _dispatch.max_abs(bad)
