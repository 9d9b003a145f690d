"""Bad input, as one table: every public entry point given wrong dtypes, shapes and layouts,
read-only and aliased arrays, empty arrays, NaN/inf hyperparameters, huge learning rates, bad
schedules, mismatched state dicts and truncated pickles.

Two tables:

* ``ERRORS``: calls that must raise a clear error naming the argument.  Each row is
  ``(id, call, exception type(s), regex)``; rows built with ``on_optimizer`` also snapshot
  the optimizer the call is made on (parameters, state, masks, step counts, hyperparameters,
  learning rate) and require it to be unchanged after the failed call: a bad step, mask or
  state dict never leaves an optimizer half-updated.
* ``BEHAVIOUR``: legal but awkward input with a documented, well-defined result (empty
  arrays, aliasing, gradients of any layout, huge learning rates, infinite clipping
  thresholds, non-finite gradients, huge step counts ...), each row a check that asserts it.

Never a crash: every row runs in this process.  Fast: no Dask cluster (fastopt.distributed's
rows fail before a client is used), minimize rows stop within a few iterations.
"""

from __future__ import annotations

import math
import operator
import pickle
import warnings

import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse

import fastopt
from fastopt import _dispatch
from fastopt import sparsity as sp
from fastopt._losses import value_and_grad

CLASSES = [fastopt.SGD, fastopt.Adagrad, fastopt.RMSprop, fastopt.Adam, fastopt.Adamax,
           fastopt.Nadam]
# the hyperparameters that give each class its full state (every state array in play)
FULL = {fastopt.SGD: {"momentum": 0.9}, fastopt.Adagrad: {}, fastopt.RMSprop:
        {"centered": True, "momentum": 0.5}, fastopt.Adam: {"amsgrad": True},
        fastopt.Adamax: {}, fastopt.Nadam: {}}
METHODS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adamax",
           "nadam"]
NAN, INF = math.nan, math.inf
PICKLE_ERRORS = (pickle.UnpicklingError, EOFError)


# ------------------------------------------------------------------------------ helpers
def ro(a):
    """A read-only copy."""
    a = np.array(a)
    a.flags.writeable = False
    return a


def matrix(data):
    """A numpy.matrix, without its PendingDeprecationWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(data)


def quad(x, *args):
    """f(x) = ||x||^2 with its gradient (jac=True)."""
    return float(x @ x), 2 * x


def stepped(cls=fastopt.Adam, n=3, arrays=1, dtype=np.float64, steps=2, **kw):
    """An optimizer over ``arrays`` parameter arrays of n elements, stepped (twice), so that
    its state is not trivial."""
    params = [np.linspace(-1.0, 1.0, n).astype(dtype) + i for i in range(arrays)]
    kw = {**FULL[cls], **kw}
    opt = cls(params if arrays > 1 else params[0], **kw)
    for k in range(steps):
        grads = [np.cos(p + k) for p in params]
        opt.step(grads if arrays > 1 else grads[0])
    return opt


def state_of(cls=fastopt.Adam, **kw):
    """A state dict of an optimizer stepped once more than ``stepped`` ones: loading it
    changes every array and count, so a half-done load cannot go unnoticed."""
    return stepped(cls, steps=3, **kw).state_dict()


def plateau_opt(cls=fastopt.Adam, **kw):
    """A stepped optimizer with its own ReduceLROnPlateau (fresh: schedules have state)."""
    return stepped(cls, learning_rate=fastopt.ReduceLROnPlateau(0.1), **kw)


def plateau_sd(**changes):
    sd = plateau_opt(steps=3).state_dict()
    sd.update(changes)
    return sd


def plateau_schedule_sd(**changes):
    sd = plateau_opt(steps=3).state_dict()
    sd["schedule"] = dict(sd["schedule"], **changes)
    sd["step"] = 5
    return sd


def snapshot(opt):
    """Everything a failed call must leave as it was."""
    return {
        "ids": [id(p) for p in opt.params],     # still the caller's arrays, never copies
        "params": [p.copy() for p in opt.params],
        "state": [{k: v.copy() for k, v in st.items()} for st in opt.state],
        "masks": [None if m is None else m.copy() for m in opt.masks],
        "counts": (opt.step_count, opt.skipped_steps, getattr(opt, "mu_product", None)),
        "hyper": dict(opt.hyper),
        "lr": repr(opt.learning_rate),
        "sd": repr(opt.learning_rate.state_dict()) if hasattr(opt.learning_rate,
                                                               "state_dict") else None,
    }


def assert_same(before, after):
    np.testing.assert_equal(after["params"], before["params"])       # NaN equals NaN here
    assert [sorted(s) for s in after["state"]] == [sorted(s) for s in before["state"]]
    for a, b in zip(after["state"], before["state"]):
        for k in b:
            np.testing.assert_equal(a[k], b[k])
    for a, b in zip(after["masks"], before["masks"]):
        assert (a is None) == (b is None)
        if b is not None:
            np.testing.assert_array_equal(a, b)
    for key in ("ids", "counts", "hyper", "lr", "sd"):
        assert after[key] == before[key], key


def on_optimizer(make, call):
    """A row whose call is made on an optimizer built by ``make()``: (make, call) pair."""
    return (make, call)


def sd_with(cls=fastopt.Adam, drop=(), **changes):
    """A stepped optimizer's state dict with entries replaced (or dropped)."""
    sd = state_of(cls)
    sd.update(changes)
    for k in drop:
        del sd[k]
    return sd


def state_with(fn, cls=fastopt.Adam):
    """A state dict whose per-array state dicts are rewritten by ``fn(state[0])``."""
    sd = state_of(cls)
    sd["state"] = [fn(sd["state"][0])]
    return sd


def load(sd, cls=fastopt.Adam, **kw):
    """Row: load ``sd`` (a state dict, or a callable building one) into a stepped optimizer
    of ``cls``."""
    return on_optimizer(lambda: stepped(cls, **kw),
                        lambda opt: opt.load_state_dict(sd() if callable(sd) else sd))


class BadMomentum:
    """A schedule whose ``momentum_at`` returns the value given (a OneCycle gone wrong)."""

    def __init__(self, momentum):
        self.momentum = momentum

    def __call__(self, step):
        return 0.01

    def momentum_at(self, step):
        return self.momentum

    def __repr__(self):
        return f"BadMomentum({self.momentum!r})"


class NoClient:
    """Stands in for a dask Client: the distributed rows must fail before using it."""


def dist():
    pytest.importorskip("distributed")          # the dask extra
    import fastopt.distributed
    return fastopt.distributed.minimize


def dask_array(a):
    import dask.array as da
    return da.from_array(a, chunks=2)


def truncated(obj, keep):
    """The pickle of ``obj`` cut to ``keep`` bytes (a fraction in (0, 1) or a count < 0 from
    the end)."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    n = int(len(data) * keep) if 0 < keep < 1 else len(data) + keep
    return data[:n]


def tampered_pickle():
    """An optimizer's pickled dict whose state arrays do not match its parameters."""
    opt = stepped(fastopt.Adam, n=5)
    d = opt.__getstate__()
    d["state"] = [{k: v[:3].copy() for k, v in st.items()} for st in d["state"]]
    new = fastopt.Adam.__new__(fastopt.Adam)
    new.__setstate__(d)


# ============================================================================== ERRORS
# (id, call, exception type(s), regex that names the argument)
ERRORS = []


def err(id_, call, exc, match):
    ERRORS.append(pytest.param(call, exc, match, id=id_))


# ---------------------------------------------------------------- params: dtype
PARAM_DTYPES = [("int64", np.int64), ("int32", np.int32), ("uint8", np.uint8), ("bool", bool),
                ("complex128", np.complex128), ("complex64", np.complex64),
                ("object", object), ("float16", np.float16), ("big-endian-f8", ">f8"),
                ("big-endian-f4", ">f4")]
for cls in CLASSES:
    for name, dt in PARAM_DTYPES:
        if name in ("int32", "uint8", "complex64", "big-endian-f4") and cls is not fastopt.Adam:
            continue
        match = (r"'params' has dtype >f[48]; .*\(in native byte order\)"
                 if name.startswith("big") else rf"'params' has dtype {np.dtype(dt)}; ")
        err(f"{cls.__name__}-params-dtype-{name}",
            lambda cls=cls, dt=dt: cls(np.zeros(3, dt)), TypeError, match)
if np.dtype(np.longdouble) != np.float64:      # it is float64 on Windows and macOS arm64
    err("params-dtype-longdouble", lambda: fastopt.Adam(np.zeros(3, np.longdouble)),
        TypeError, r"'params' has dtype float(128|96)")
err("params-dtype-structured", lambda: fastopt.Adam(np.zeros(3, [("a", "f8")])), TypeError,
    r"'params' has dtype \[\('a', '<f8'\)\]")
err("params-dtype-str", lambda: fastopt.Adam(np.array(["a", "b"])), TypeError,
    r"'params' has dtype <U1")
err("params[1]-dtype-float16", lambda: fastopt.SGD([np.zeros(2), np.zeros(2, np.float16)]),
    TypeError, r"'params\[1\]' has dtype float16")
err("params[0]-dtype-int", lambda: fastopt.Nadam([np.zeros(2, np.int64), np.zeros(2)]),
    TypeError, r"'params\[0\]' has dtype int64")

# ---------------------------------------------------------------- params: type, layout, ndim
for cls in CLASSES:
    n = cls.__name__
    err(f"{n}-params-strided", lambda cls=cls: cls(np.zeros((4, 4))[:, 1]), ValueError,
        r"'params' is not C-contiguous")
    err(f"{n}-params-negative-stride", lambda cls=cls: cls(np.zeros(6)[::-1]), ValueError,
        r"'params' is not C-contiguous")
    err(f"{n}-params-fortran", lambda cls=cls: cls(np.zeros((3, 4), order="F")), ValueError,
        r"'params' is not C-contiguous")
    err(f"{n}-params-read-only", lambda cls=cls: cls(ro(np.zeros(3))), ValueError,
        r"'params' is read-only")
err("params-transposed", lambda: fastopt.Adam(np.zeros((3, 4)).T), ValueError,
    r"'params' is not C-contiguous")
err("params[1]-strided", lambda: fastopt.Adam([np.zeros(3), np.zeros(6)[::2]]), ValueError,
    r"'params\[1\]' is not C-contiguous")
err("params[1]-read-only", lambda: fastopt.RMSprop([np.zeros(3), ro(np.zeros(3))]),
    ValueError, r"'params\[1\]' is read-only")
err("params-broadcast-view", lambda: fastopt.Adam(np.broadcast_to(np.zeros(1), (3,))),
    ValueError, r"'params' is read-only")
err("params-zero-stride-writable",
    lambda: fastopt.Adam(np.lib.stride_tricks.as_strided(np.zeros(1), (3,), (0,))),
    ValueError, r"'params' is not C-contiguous")


def unaligned(n, dtype=np.float64):
    """A C-contiguous, writable array at an odd byte offset of its buffer."""
    return np.frombuffer(bytearray(np.dtype(dtype).itemsize * n + 1), dtype=dtype, offset=1,
                         count=n)


err("params-unaligned", lambda: fastopt.SGD(unaligned(3)), ValueError,
    r"'params' is not aligned")
err("params[1]-unaligned-float32", lambda: fastopt.Adam([np.zeros(2), unaligned(3, np.float32)]),
    ValueError, r"'params\[1\]' is not aligned")
err("kernel-slot-unaligned-param",
    lambda: _dispatch.Slot("sgd", unaligned(3), *[np.empty(0)] * 3, np.empty(0, np.uint8),
                           *[np.empty(0)] * 3),
    ValueError, r"'param' is not aligned")
err("params-np.matrix", lambda: fastopt.Adam(matrix([[1.0, 2.0]])), TypeError,
    r"'params' is a numpy.matrix")
err("params-python-list", lambda: fastopt.Adam([0.0, 1.0]), TypeError,
    r"'params\[0\]' must be a numpy.ndarray")
err("params-float", lambda: fastopt.Adam(3.0), TypeError,
    r"'params' must be a numpy.ndarray or a list")
err("params-None", lambda: fastopt.SGD(None), TypeError,
    r"'params' must be a numpy.ndarray or a list")
err("params-dict", lambda: fastopt.SGD({"w": np.zeros(3)}), TypeError,
    r"'params' must be a numpy.ndarray or a list")
err("params-empty-list", lambda: fastopt.Adam([]), ValueError, r"'params' is an empty list")
err("params-aliased-same-array", lambda: (lambda x: fastopt.SGD([x, x]))(np.zeros(3)),
    ValueError, r"'params\[0\]' and 'params\[1\]' share memory")
err("params-aliased-overlapping-views",
    lambda: (lambda x: fastopt.Adam([x[:6], x[4:]]))(np.zeros(10)), ValueError,
    r"'params\[0\]' and 'params\[1\]' share memory")
err("params-aliased-view-of-other",
    lambda: (lambda x: fastopt.Adagrad([x, x.reshape(2, 3)]))(np.zeros(6)), ValueError,
    r"'params\[0\]' and 'params\[1\]' share memory")

# ---------------------------------------------------------------- hyperparameters
# learning rate, every class: NaN, +inf, negative, wrong type
for cls in CLASSES:
    n = cls.__name__
    err(f"{n}-learning_rate-nan", lambda cls=cls: cls(np.zeros(3), learning_rate=NAN),
        ValueError, r"Invalid learning rate: nan")
    err(f"{n}-learning_rate-inf", lambda cls=cls: cls(np.zeros(3), learning_rate=INF),
        ValueError, r"Invalid learning rate: inf")
    err(f"{n}-lr-alias-negative", lambda cls=cls: cls(np.zeros(3), lr=-1e-3), ValueError,
        r"Invalid learning rate: -0.001")
    err(f"{n}-unknown-keyword", lambda cls=cls: cls(np.zeros(3), learnin_rate=0.1), TypeError,
        rf"{n}\(\) got an unexpected keyword argument 'learnin_rate'")
err("learning_rate-str", lambda: fastopt.Adam(np.zeros(3), learning_rate="big"), TypeError,
    r"Invalid learning_rate: 'big'")
err("learning_rate-bool", lambda: fastopt.Adam(np.zeros(3), learning_rate=True), TypeError,
    r"Invalid learning_rate: True")
err("learning_rate-complex", lambda: fastopt.SGD(np.zeros(3), learning_rate=1j), TypeError,
    r"Invalid learning_rate: 1j")
err("learning_rate-array", lambda: fastopt.SGD(np.zeros(3), learning_rate=np.array(0.1)),
    TypeError, r"Invalid learning_rate: array\(0.1\)")
err("learning_rate-and-lr", lambda: fastopt.Adam(np.zeros(3), learning_rate=0.1, lr=0.1),
    TypeError, r"either 'learning_rate' or its alias 'lr'")
err("Adam-torch-name-betas", lambda: fastopt.Adam(np.zeros(3), betas=(0.9, 0.99)), TypeError,
    r"unexpected keyword argument 'betas'.*beta_1, beta_2")
err("Adam-momentum", lambda: fastopt.Adam(np.zeros(3), momentum=0.9), TypeError,
    r"Adam\(\) got an unexpected keyword argument 'momentum'")
err("SGD-beta_1", lambda: fastopt.SGD(np.zeros(3), beta_1=0.9), TypeError,
    r"SGD\(\) got an unexpected keyword argument 'beta_1'")
err("Adagrad-rho", lambda: fastopt.Adagrad(np.zeros(3), rho=0.9), TypeError,
    r"unexpected keyword argument 'rho'")

# each rule's own hyperparameters: NaN, +inf and out-of-range values
RULE_HYPER = [
    (fastopt.SGD, "momentum", NAN, r"Invalid momentum value: nan"),
    (fastopt.SGD, "momentum", INF, r"Invalid momentum value: inf"),
    (fastopt.SGD, "momentum", -0.5, r"Invalid momentum value: -0.5"),
    (fastopt.SGD, "momentum", "0.9", r"Invalid momentum: '0.9'"),
    (fastopt.SGD, "dampening", NAN, r"Invalid dampening value: nan"),
    (fastopt.SGD, "dampening", -0.1, r"Invalid dampening value: -0.1"),
    (fastopt.SGD, "dampening", 1.5, r"Invalid dampening value: 1.5"),
    (fastopt.Adagrad, "epsilon", NAN, r"Invalid epsilon value: nan"),
    (fastopt.Adagrad, "epsilon", INF, r"Invalid epsilon value: inf"),
    (fastopt.Adagrad, "lr_decay", NAN, r"Invalid lr_decay value: nan"),
    (fastopt.Adagrad, "lr_decay", INF, r"Invalid lr_decay value: inf"),
    (fastopt.Adagrad, "lr_decay", -1, r"Invalid lr_decay value: -1"),
    (fastopt.Adagrad, "initial_accumulator_value", NAN,
     r"Invalid initial_accumulator_value value: nan"),
    (fastopt.Adagrad, "initial_accumulator_value", INF,
     r"Invalid initial_accumulator_value value: inf"),
    (fastopt.Adagrad, "initial_accumulator_value", -0.1,
     r"Invalid initial_accumulator_value value: -0.1"),
    (fastopt.RMSprop, "rho", NAN, r"Invalid rho value: nan"),
    (fastopt.RMSprop, "rho", INF, r"Invalid rho value: inf"),
    (fastopt.RMSprop, "rho", -0.9, r"Invalid rho value: -0.9"),
    (fastopt.RMSprop, "momentum", NAN, r"Invalid momentum value: nan"),
    (fastopt.RMSprop, "momentum", INF, r"Invalid momentum value: inf"),
    (fastopt.RMSprop, "epsilon", NAN, r"Invalid epsilon value: nan"),
    (fastopt.RMSprop, "epsilon", -1e-8, r"Invalid epsilon value: -1e-08"),
    (fastopt.Adam, "beta_1", NAN, r"Invalid beta parameter at index 0: nan"),
    (fastopt.Adam, "beta_1", 1.0, r"Invalid beta parameter at index 0: 1.0"),
    (fastopt.Adam, "beta_1", INF, r"Invalid beta parameter at index 0: inf"),
    (fastopt.Adam, "beta_1", -0.1, r"Invalid beta parameter at index 0: -0.1"),
    (fastopt.Adam, "beta_2", NAN, r"Invalid beta parameter at index 1: nan"),
    (fastopt.Adam, "beta_2", 1.0, r"Invalid beta parameter at index 1: 1.0"),
    (fastopt.Adam, "epsilon", NAN, r"Invalid epsilon value: nan"),
    (fastopt.Adam, "epsilon", INF, r"Invalid epsilon value: inf"),
    (fastopt.Adamax, "beta_1", NAN, r"Invalid beta parameter at index 0: nan"),
    (fastopt.Adamax, "beta_2", INF, r"Invalid beta parameter at index 1: inf"),
    (fastopt.Adamax, "epsilon", NAN, r"Invalid epsilon value: nan"),
    (fastopt.Adamax, "epsilon", -1e-8, r"Invalid epsilon value: -1e-08"),
    (fastopt.Nadam, "beta_2", NAN, r"Invalid beta parameter at index 1: nan"),
    (fastopt.Nadam, "momentum_decay", NAN, r"Invalid momentum_decay value: nan"),
    (fastopt.Nadam, "momentum_decay", INF, r"Invalid momentum_decay value: inf"),
    (fastopt.Nadam, "momentum_decay", -1, r"Invalid momentum_decay value: -1"),
    (fastopt.Nadam, "epsilon", INF, r"Invalid epsilon value: inf"),
]
for cls, key, value, match in RULE_HYPER:
    err(f"{cls.__name__}-{key}-{value}", lambda cls=cls, key=key, value=value:
        cls(np.zeros(3), **{key: value}), (ValueError, TypeError), match)
err("SGD-nesterov-without-momentum", lambda: fastopt.SGD(np.zeros(3), nesterov=True),
    ValueError, r"Nesterov momentum requires a momentum")
err("SGD-nesterov-with-dampening",
    lambda: fastopt.SGD(np.zeros(3), momentum=0.9, nesterov=True, dampening=0.1),
    ValueError, r"Nesterov momentum requires a momentum and zero dampening")
err("set_hyper-SGD-nesterov-with-dampening",
    on_optimizer(lambda: stepped(fastopt.SGD, momentum=0.9, nesterov=True),
                 lambda opt: opt.set_hyper(dampening=0.5)),
    ValueError, r"Nesterov momentum requires a momentum and zero dampening")
err("minimize-nesterov-with-dampening",
    lambda: fastopt.minimize(lambda x: float(x @ x), np.ones(3), jac=lambda x: 2 * x,
                             method="nesterov", options={"dampening": 0.5}),
    ValueError, r"Nesterov momentum requires a momentum and zero dampening")

# convention="keras": Keras's own range for SGD's momentum, [0, 1]; torch's hyperparameters
# that Keras's formulas lack are refused, never silently ignored
KERAS = [(fastopt.SGD, "momentum", 1.5, r"Invalid momentum value: 1.5 \(convention='keras' "
          r"takes a momentum in \[0, 1\], as Keras does\)"),
         (fastopt.SGD, "momentum", -0.1, r"Invalid momentum value: -0.1"),
         (fastopt.Adagrad, "lr_decay", 0.1, r"Invalid lr_decay: 0.1 \(lr_decay is torch's; "
          r"convention='keras' has no lr_decay .*use convention='torch'\)"),
         (fastopt.SGD, "dampening", 0.1, r"Invalid dampening: 0.1 \(dampening is torch's; "
          r"convention='keras' has no dampening .*use convention='torch'\)")]
for cls, key, value, match in KERAS:
    err(f"keras-{cls.__name__}-{key}-{value}", lambda cls=cls, key=key, value=value:
        cls(np.zeros(3), convention="keras", **{key: value}), ValueError, match)
    err(f"keras-set_hyper-{cls.__name__}-{key}-{value}",
        on_optimizer(lambda cls=cls: stepped(cls, convention="keras"),
                     lambda opt, key=key, value=value: opt.set_hyper(**{key: value})),
        ValueError, match)


def keras_adagrad_sd_with_lr_decay():
    sd = stepped(fastopt.Adagrad, steps=3, convention="keras").state_dict()
    sd["hyper"]["lr_decay"] = 0.1
    return sd


err("load_state_dict-keras-Adagrad-lr_decay",
    load(keras_adagrad_sd_with_lr_decay, fastopt.Adagrad, convention="keras"), ValueError,
    r"Invalid lr_decay: 0.1 \(lr_decay is torch's")

# flags take True or False (Python's or NumPy's) only: "False" would be truthy
FLAGS = [(fastopt.SGD, "nesterov", {"momentum": 0.9}), (fastopt.Adam, "amsgrad", {}),
         (fastopt.RMSprop, "centered", {}), (fastopt.Adamax, "maximize", {})]
for cls, key, kw in FLAGS:
    for value in ("False", 1):
        err(f"{cls.__name__}-{key}-{value!r}", lambda cls=cls, key=key, kw=kw, value=value:
            cls(np.zeros(3), **kw, **{key: value}), TypeError,
            rf"Invalid {key}: {value!r} \(expected True or False\)")
err("setter-maximize-str", on_optimizer(lambda: stepped(),
                                        lambda opt: setattr(opt, "maximize", "False")),
    TypeError, r"Invalid maximize: 'False' \(expected True or False\)")
err("set_hyper-nesterov-str", on_optimizer(lambda: stepped(fastopt.SGD),
                                           lambda opt: opt.set_hyper(nesterov="True")),
    TypeError, r"Invalid nesterov: 'True' \(expected True or False\)")

# the options every optimizer takes
COMMON = [
    ("weight_decay", NAN, ValueError, r"Invalid weight_decay value: nan"),
    ("weight_decay", INF, ValueError, r"Invalid weight_decay value: inf"),
    ("weight_decay", -1, ValueError, r"Invalid weight_decay value: -1"),
    ("l2", NAN, ValueError, r"Invalid l2 value: nan"),
    ("l2", INF, ValueError, r"Invalid l2 value: inf"),
    ("l1", NAN, ValueError, r"Invalid l1 value: nan"),
    ("l1", INF, ValueError, r"Invalid l1 value: inf"),
    ("l1", -0.1, ValueError, r"Invalid l1 value: -0.1"),
    ("l1", np.array([0.1, NAN, 0.1]), ValueError, r"'l1' must be finite and >= 0"),
    ("l1", np.array([0.1, INF, 0.1]), ValueError, r"'l1' must be finite and >= 0"),
    ("l1", np.array([0.1, -1.0, 0.1]), ValueError, r"'l1' must be finite and >= 0"),
    ("l1", np.ones(4), ValueError, r"'l1' has shape \(4,\), which does not broadcast"),
    ("l1", np.ones(3) * 1j, TypeError, r"'l1' has dtype complex128"),
    ("l1", "strong", TypeError, r"'l1' has dtype <U6"),
    ("l1", [0.1, 0.2], ValueError, r"'l1' has 2 entries, expected 1"),
    ("clipvalue", NAN, ValueError, r"Invalid clipvalue value: nan"),
    ("clipvalue", 0.0, ValueError, r"Invalid clipvalue value: 0.0"),
    ("clipvalue", -1.0, ValueError, r"Invalid clipvalue value: -1.0"),
    ("clipnorm", NAN, ValueError, r"Invalid clipnorm value: nan"),
    ("clipnorm", 0, ValueError, r"Invalid clipnorm value: 0"),
    ("global_clipnorm", NAN, ValueError, r"Invalid global_clipnorm value: nan"),
    ("global_clipnorm", "1", TypeError, r"Invalid global_clipnorm: '1'"),
    ("convention", "jax", ValueError, r"Invalid convention: 'jax'"),
    ("nan_policy", "ignore", ValueError, r"Invalid nan_policy: 'ignore'"),
    ("pruning", 0.5, TypeError, r"'pruning' must be a pruning schedule"),
    ("pruning_scope", "layer", ValueError, r"Invalid pruning_scope: 'layer'"),
    ("num_threads", 0, ValueError, r"Invalid num_threads: 0"),
    ("num_threads", -2, ValueError, r"Invalid num_threads: -2"),
    ("num_threads", 1.5, TypeError, r"Invalid num_threads: 1.5"),
    ("num_threads", "4", TypeError, r"Invalid num_threads: '4'"),
    # OS threads are not free: libgomp aborts the process from 32768 and crashes it from
    # 65536, and 2**31 does not fit a C int
    ("num_threads", _dispatch.MAX_THREADS + 1, ValueError,
     rf"Invalid num_threads: {_dispatch.MAX_THREADS + 1} \(at most {_dispatch.MAX_THREADS} here"),
    ("num_threads", 65536, ValueError, r"Invalid num_threads: 65536 \(at most \d+ here: 4 "),
    ("num_threads", 2**31, ValueError, r"Invalid num_threads: 2147483648 \(at most"),
    ("bounds", (1.0, 0.0), ValueError, r"'bounds\[0\]' is infeasible"),
    ("bounds", (NAN, 1.0), ValueError, r"'bounds\[0\]' contains NaN"),
    ("bounds", (0.0, np.array([1.0, NAN, 1.0])), ValueError, r"'bounds\[0\]' contains NaN"),
    ("bounds", (np.zeros(2), 1.0), ValueError, r"'bounds\[0\]\[0\]' has shape \(2,\)"),
    ("bounds", ("a", 1.0), TypeError, r"'bounds\[0\]\[0\]' has dtype <U1"),
    ("bounds", (0.0, 1j), TypeError, r"'bounds\[0\]\[1\]' has dtype complex128"),
    ("bounds", 3.0, ValueError, r"'bounds\[0\]' must be a \(lower, upper\) pair"),
    ("bounds", (0.0, 1.0, 2.0), ValueError, r"'bounds' has 3 entries, expected 1"),
]
for i, (key, value, exc, match) in enumerate(COMMON):
    cls = CLASSES[i % len(CLASSES)]
    err(f"{cls.__name__}-{key}-{value!r}"[:60], lambda cls=cls, key=key, value=value:
        cls(np.zeros(3), **{key: value}), exc, match)
err("clipnorm-and-clipvalue", lambda: fastopt.Adam(np.zeros(3), clipnorm=1.0, clipvalue=1.0),
    ValueError, r"Only one of clipvalue, clipnorm and global_clipnorm")
err("bounds-per-array-count", lambda: fastopt.Adam([np.zeros(2), np.zeros(2)],
                                                   bounds=[(0, 1)]),
    ValueError, r"'bounds' has 1 entries, expected 2")
err("bounds[1]-infeasible", lambda: fastopt.Adam([np.zeros(2), np.zeros(2)],
                                                 bounds=[(0, 1), (2, 1)]),
    ValueError, r"'bounds\[1\]' is infeasible")
err("l1[1]-negative", lambda: fastopt.SGD([np.zeros(2), np.zeros(2)], l1=[0.1, -0.1]),
    ValueError, r"Invalid l1 value: -0.1")
err("l1[1]-array-shape", lambda: fastopt.SGD([np.zeros(2), np.zeros(2)], l1=[0.1, np.ones(3)]),
    ValueError, r"'l1\[1\]' has shape \(3,\)")
err("num_threads-attribute-huge", on_optimizer(lambda: stepped(), lambda opt: setattr(
    opt, "num_threads", 2**31)), ValueError, r"Invalid num_threads: 2147483648 \(at most")
err("OneCycle-on-Adagrad", lambda: fastopt.Adagrad(np.zeros(3),
                                                   learning_rate=fastopt.OneCycle(0.1, 100)),
    ValueError, r"cycles momentum, but Adagrad has no momentum")
err("OneCycle-on-SGD-momentum-0", lambda: fastopt.SGD(np.zeros(3),
                                                      learning_rate=fastopt.OneCycle(0.1, 10)),
    ValueError, r"cycles momentum, but this SGD has momentum=0")


# ---------------------------------------------------------------- step(grads)
def grad_row(id_, grad, exc, match, cls=fastopt.Adam, arrays=1, **kw):
    err(id_, on_optimizer(lambda: stepped(cls, arrays=arrays, **kw),
                          lambda opt: opt.step(grad() if callable(grad) else grad)), exc, match)


grad_row("grads-shape", np.ones(4), ValueError,
         r"'grads' has shape \(4,\), but the parameter it updates has shape \(3,\)")
grad_row("grads-ndim", np.ones((3, 1)), ValueError, r"'grads' has shape \(3, 1\)")
grad_row("grads-0d", np.float64(1.0), ValueError, r"'grads' has shape \(\)")
grad_row("grads-np.matrix", lambda: matrix([1.0, 2.0, 3.0]), ValueError,
         r"'grads' has shape \(1, 3\)")
grad_row("grads-None", None, ValueError, r"'grads' has shape \(\)")
grad_row("grads-complex", np.ones(3, complex), TypeError,
         r"'grads' has dtype complex128; gradients must be real")
grad_row("grads-object", np.array([1.0, 2.0, 3.0], dtype=object), TypeError,
         r"'grads' has dtype object")
grad_row("grads-str", np.array(["a", "b", "c"]), TypeError, r"'grads' has dtype <U1")
grad_row("grads-datetime", np.array(["2020-01-01"] * 3, "M8[D]"), TypeError,
         r"'grads' has dtype datetime64\[D\]")
grad_row("grads-timedelta", np.arange(3).astype("m8[s]"), TypeError,
         r"'grads' has dtype timedelta64\[s\]")
grad_row("grads-nested-list-for-one-array", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], ValueError,
         r"'grads' has 3 arrays, expected 1 \(one per parameter array\)")
grad_row("grads-too-many", [np.ones(3), np.ones(3)], ValueError,
         r"'grads' has 2 arrays, expected 1")
grad_row("grads-count", [np.ones(3)], ValueError, r"'grads' has 1 arrays, expected 2",
         arrays=2)
grad_row("grads-not-a-list", np.ones(3), TypeError,
         r"'grads' must be a list of 2 arrays .* got ndarray", arrays=2)
grad_row("grads-generator", lambda: (np.ones(3) for _ in range(2)), TypeError,
         r"'grads' must be a list of 2 arrays .* got generator", arrays=2)
grad_row("grads[1]-shape", [np.ones(3), np.ones(4)], ValueError,
         r"'grads\[1\]' has shape \(4,\)", cls=fastopt.Nadam, arrays=2)
grad_row("grads[1]-complex", [np.ones(3), np.ones(3) * 1j], TypeError,
         r"'grads\[1\]' has dtype complex128", cls=fastopt.RMSprop, arrays=2)
for cls in CLASSES:
    for bad in (NAN, INF, -INF):
        grad_row(f"{cls.__name__}-nan_policy-raise-grad-{bad}",
                 [np.ones(3), np.array([1.0, bad, 1.0])], FloatingPointError,
                 r"1 entries of grads\[1\] are inf or NaN; parameters left untouched",
                 cls=cls, arrays=2, nan_policy="raise")
grad_row("nan_policy-raise-clipnorm", np.array([NAN, 1.0, 1.0]), FloatingPointError,
         r"grads\[0\] are inf or NaN", nan_policy="raise", clipnorm=1.0)


# ---------------------------------------------------------------- schedules in a step
def with_schedule(opt, schedule):
    opt.learning_rate = schedule
    return opt


def schedule_row(id_, schedule, match, cls=fastopt.SGD, exc=ValueError, **kw):
    """Row: a stepped optimizer is given ``schedule``; its next step raises."""
    err(id_, on_optimizer(lambda: with_schedule(stepped(cls, **kw), schedule),
                          lambda opt: opt.step(np.ones(3))), exc, match)


for cls in CLASSES:
    schedule_row(f"{cls.__name__}-schedule-returns-nan", lambda step: NAN,
                 r"schedule .* returned nan at step 2; expected a finite number >= 0", cls=cls)
schedule_row("schedule-returns-inf", lambda step: INF, r"returned inf at step 2")
schedule_row("schedule-returns-negative", lambda step: -0.1, r"returned -0.1 at step 2")
schedule_row("schedule-returns-None", lambda step: None, r"returned None at step 2")
schedule_row("schedule-returns-str", lambda step: "0.1", r"returned '0.1' at step 2")
schedule_row("schedule-returns-array", lambda step: np.array([0.1]),
             r"returned array\(\[0.1\]\) at step 2")
schedule_row("schedule-returns-float32-nan", lambda step: np.float32(NAN),
             r"returned np.float32\(nan\) at step 2")
schedule_row("schedule-ExponentialDecay-overflows", fastopt.ExponentialDecay(1.0, 1, 1e300),
             r"ExponentialDecay.* returned inf at step 2")
schedule_row("schedule-LinearWarmup-wraps-nan", fastopt.LinearWarmup(lambda s: NAN, 10),
             r"LinearWarmup.* returned nan at step 2")
schedule_row("schedule-raises", lambda step: 1 / 0, r"division by zero", exc=ZeroDivisionError)
schedule_row("schedule-takes-no-step", lambda: 0.1, r"positional argument", exc=TypeError)
for cls, value, name in [(fastopt.Adam, NAN, "beta_1"), (fastopt.Adam, 1.0, "beta_1"),
                         (fastopt.Nadam, -0.5, "beta_1"), (fastopt.Adamax, INF, "beta_1"),
                         (fastopt.SGD, NAN, "momentum"), (fastopt.SGD, -0.1, "momentum"),
                         (fastopt.RMSprop, INF, "momentum"),
                         (fastopt.RMSprop, "fast", "momentum"),
                         (fastopt.SGD, 0.0, "momentum"), (fastopt.RMSprop, 0.0, "momentum")]:
    schedule_row(f"{cls.__name__}-momentum_at-returns-{value}", BadMomentum(value),
                 rf"returned {name} {value!r} at step 2; expected a finite number "
                 + (">= 0 and < 1" if name == "beta_1" else "> 0"), cls=cls)
err("report-without-plateau", on_optimizer(lambda: stepped(), lambda opt: opt.report(1.0)),
    TypeError, r"does not monitor a value; report\(\) is for ReduceLROnPlateau")
err("report-str", on_optimizer(plateau_opt, lambda opt: opt.report("low")),
    TypeError, r"update\(\) needs a real number, got 'low'")
err("report-None", on_optimizer(plateau_opt, lambda opt: opt.report(None)),
    TypeError, r"update\(\) needs a real number, got None")
err("report-array", on_optimizer(plateau_opt, lambda opt: opt.report(np.ones(3))),
    TypeError, r"update\(\) needs a real number")
err("set-learning_rate-nan", on_optimizer(lambda: stepped(),
                                          lambda opt: setattr(opt, "learning_rate", NAN)),
    ValueError, r"Invalid learning rate: nan")

# ---------------------------------------------------------------- set_masks
for id_, masks, exc, match in [
        ("masks-shape", [np.ones(4)], ValueError, r"'masks\[0\]' has shape \(4,\), expected"),
        ("masks-count", [np.ones(3), np.ones(3)], ValueError, r"'masks' has 2 entries"),
        ("masks-scalar", 3, ValueError, r"'masks\[0\]' has shape \(\)"),
        ("masks-transposed", [np.ones((3, 1))], ValueError, r"'masks\[0\]' has shape \(3, 1\)"),
        ("masks-str", [np.array(["1", "0", "1"])], TypeError,
         r"'masks\[0\]' has dtype <U1; a mask holds bools or real numbers"),
        ("masks-object", [np.array([1, 0, None], dtype=object)], TypeError,
         r"'masks\[0\]' has dtype object; a mask holds bools or real numbers"),
        ("masks-complex", [np.array([1, 0, 1j])], TypeError,
         r"'masks\[0\]' has dtype complex128; a mask holds bools or real numbers")]:
    err(f"set_masks-{id_}", on_optimizer(lambda: stepped(), lambda opt, m=masks:
                                         opt.set_masks(m)), exc, match)
err("set_masks[1]-shape", on_optimizer(lambda: stepped(arrays=2),
                                       lambda opt: opt.set_masks([None, np.ones(2)])),
    ValueError, r"'masks\[1\]' has shape \(2,\), expected \(3,\)")

# ---------------------------------------------------------------- the arrays an optimizer holds
# params, state and masks are the arrays the kernels update: replacing one (torch users
# assign to param_groups and state) would be ignored, so it is refused; in place is the way
REPLACE = [
    ("params-item", lambda opt: operator.setitem(opt.params, 0, np.zeros(3)), TypeError,
     r"'tuple' object does not support item assignment"),
    ("params-attribute", lambda opt: setattr(opt, "params", [np.zeros(3)]), AttributeError,
     r"'params'"),
    ("state-entry", lambda opt: operator.setitem(opt.state[0], "exp_avg", np.zeros(3)),
     TypeError, r"'mappingproxy' object does not support item assignment"),
    ("state-entry-deleted", lambda opt: operator.delitem(opt.state[0], "exp_avg"), TypeError,
     r"'mappingproxy' object does not support item deletion"),
    ("state-item", lambda opt: operator.setitem(opt.state, 0, {}), TypeError,
     r"'tuple' object does not support item assignment"),
    ("state-attribute", lambda opt: setattr(opt, "state", []), AttributeError, r"'state'"),
    ("masks-item", lambda opt: operator.setitem(opt.masks, 0, np.ones(3, np.uint8)),
     TypeError, r"'tuple' object does not support item assignment"),
    ("masks-attribute", lambda opt: setattr(opt, "masks", [None]), AttributeError,
     r"'masks'"),
    ("step_count-negative", lambda opt: setattr(opt, "step_count", -1), ValueError,
     r"Invalid step_count: -1 \(expected an int >= 0"),
    ("step_count-float", lambda opt: setattr(opt, "step_count", 2.0), ValueError,
     r"Invalid step_count: 2.0"),
    ("step_count-huge", lambda opt: setattr(opt, "step_count", 2**63 - 1), ValueError,
     r"Invalid step_count: 9223372036854775807"),
]
for id_, call, exc, match in REPLACE:
    err(f"replace-{id_}", on_optimizer(lambda: stepped(fastopt.Adam), call), exc, match)

# ---------------------------------------------------------------- load_state_dict
STATE_ERRORS = [
    ("not-a-dict", lambda: [1, 2], TypeError, r"'state_dict' must be a dict, got list"),
    ("None", lambda: None, TypeError, r"'state_dict' must be a dict, got NoneType"),
    ("missing-rule", lambda: sd_with(drop=["rule"]), ValueError, r"lacks \['rule'\]"),
    ("missing-state", lambda: sd_with(drop=["state", "step"]), ValueError,
     r"lacks \['state', 'step'\]"),
    ("empty", lambda: {}, ValueError, r"'state_dict' lacks \["),
    ("other-rule", lambda: state_of(fastopt.Nadam), ValueError,
     r"'state_dict' is for rule 'nadam', not 'adam'"),
    ("other-convention", lambda: state_of(convention="keras"), ValueError,
     r"'state_dict' uses convention 'keras'"),
    ("hyper-missing-key", lambda: sd_with(hyper={"beta_1": 0.9, "beta_2": 0.999,
                                                  "epsilon": 1e-8}),
     ValueError, r"'state_dict' hyper has \['beta_1', 'beta_2', 'epsilon'\], expected"),
    ("hyper-extra-key", lambda: sd_with(hyper=dict(state_of()["hyper"], rho=0.9)),
     ValueError, r"'state_dict' hyper has .*'rho'.*, expected"),
    ("hyper-nan", lambda: sd_with(hyper=dict(state_of()["hyper"], beta_1=NAN)), ValueError,
     r"Invalid beta parameter at index 0: nan"),
    ("hyper-inf-epsilon", lambda: sd_with(hyper=dict(state_of()["hyper"], epsilon=INF)),
     ValueError, r"Invalid epsilon value: inf"),
    ("hyper-not-dict", lambda: sd_with(hyper=[("beta_1", 0.9)]), TypeError,
     r"'state_dict' hyper must be a dict, got list"),
    ("hyper-amsgrad-without-state", lambda: sd_with(
        cls=fastopt.Adam, hyper=dict(state_of()["hyper"], amsgrad=False)), ValueError,
     r"'state_dict' state\[0\] has \['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'\], expected"),
    ("state-not-list", lambda: sd_with(state=3), TypeError,
     r"'state_dict' state must be a list .* got int"),
    ("state-entry-not-dict", lambda: sd_with(state=[3]), TypeError,
     r"'state_dict' state\[0\] must be a dict of arrays, got int"),
    ("state-count", lambda: sd_with(state=state_of()["state"] * 2,
                                    masks=[None, None]), ValueError,
     r"'state_dict' holds state for 2 arrays, this optimizer has 1"),
    ("masks-count", lambda: sd_with(masks=[None, None]), ValueError,
     r"'state_dict' holds masks for 2 arrays, this optimizer has 1"),
    ("masks-str", lambda: sd_with(masks=[np.array(["a", "", "b"])]), TypeError,
     r"'masks\[0\]' has dtype <U1; a mask holds bools or real numbers"),
    ("state-missing-key", lambda: state_with(lambda st: {"exp_avg": st["exp_avg"]}),
     ValueError, r"'state_dict' state\[0\] has \['exp_avg'\], expected"),
    ("state-wrong-shape", lambda: state_with(lambda st: {k: np.zeros(4) for k in st}),
     ValueError, r"state\[0\]\['exp_avg'\] must be a float64 array of shape \(3,\)"),
    ("state-wrong-ndim", lambda: state_with(lambda st: {k: v[None] for k, v in st.items()}),
     ValueError, r"state\[0\]\['exp_avg'\] must be a float64 array of shape \(3,\)"),
    ("state-float32", lambda: state_with(lambda st: {k: v.astype(np.float32)
                                                     for k, v in st.items()}),
     ValueError, r"state\[0\]\['exp_avg'\] must be a float64 array"),
    ("state-big-endian", lambda: state_with(lambda st: {k: v.astype(">f8")
                                                        for k, v in st.items()}),
     ValueError, r"state\[0\]\['exp_avg'\] must be a float64 array"),
    ("state-int", lambda: state_with(lambda st: {k: v.astype(int) for k, v in st.items()}),
     ValueError, r"state\[0\]\['exp_avg'\] must be a float64 array"),
    ("state-lists", lambda: state_with(lambda st: {k: v.tolist() for k, v in st.items()}),
     ValueError, r"state\[0\]\['exp_avg'\] must be a float64 array"),
    ("masks-not-list", lambda: sd_with(masks=None), TypeError,
     r"'state_dict' masks must be a list .* got NoneType"),
    ("masks-shape", lambda: sd_with(masks=[np.ones(4)]), ValueError,
     r"'masks\[0\]' has shape \(4,\), expected \(3,\)"),
    ("step-negative", lambda: sd_with(step=-1), ValueError,
     r"'state_dict' step must be an int >= 0"),
    ("step-float", lambda: sd_with(step=2.0), ValueError, r"step must be an int >= 0"),
    ("step-str", lambda: sd_with(step="2"), ValueError, r"step must be an int >= 0"),
    ("step-bool", lambda: sd_with(step=True), ValueError, r"step must be an int >= 0"),
    ("step-huge", lambda: sd_with(step=10**400), ValueError, r"step must be an int >= 0"),
    ("skipped_steps-negative", lambda: sd_with(skipped_steps=-1), ValueError,
     r"'state_dict' skipped_steps must be an int >= 0"),
    ("skipped_steps-str", lambda: sd_with(skipped_steps="x"), ValueError,
     r"'state_dict' skipped_steps must be an int >= 0"),
    ("learning_rate-nan", lambda: sd_with(learning_rate=NAN, step=7), ValueError,
     r"Invalid learning rate: nan"),
    ("learning_rate-inf", lambda: sd_with(learning_rate=INF), ValueError,
     r"Invalid learning rate: inf"),
    ("learning_rate-str", lambda: sd_with(learning_rate="fast"), TypeError,
     r"Invalid learning_rate: 'fast'"),
]
for id_, make_sd, exc, match in STATE_ERRORS:
    err(f"load_state_dict-{id_}", load(make_sd), exc, match)
for cls in CLASSES:
    other = CLASSES[(CLASSES.index(cls) + 1) % len(CLASSES)]
    err(f"load_state_dict-{cls.__name__}-from-{other.__name__}",
        load(lambda other=other: state_of(other), cls), ValueError,
        rf"'state_dict' is for rule '{other.rule}', not '{cls.rule}'")
    err(f"load_state_dict-{cls.__name__}-float32-into-float64",
        load(lambda cls=cls: state_of(cls, dtype=np.float32), cls), ValueError,
        r"state\[0\]\['\w+'\] must be a float64 array of shape \(3,\)")


def with_entry(cls, name, value):
    """Row: a state dict of ``cls`` whose state array ``name`` holds ``value`` at one
    coordinate."""
    def fn(st):
        st = dict(st)
        st[name] = st[name].copy()
        st[name][1] = value
        return st
    return load(lambda: state_with(fn, cls), cls)


# tampered state: what no step produces and the next step turns into NaN parameters
for cls in CLASSES:
    for name in stepped(cls).state[0]:
        if name in cls.nonnegative_state:
            for value in (-1e-3, NAN, -INF):
                err(f"load_state_dict-{cls.__name__}-{name}-{value}", with_entry(cls, name, value),
                    ValueError, rf"'state_dict' state\[0\]\['{name}'\] must be >= 0 everywhere "
                    r"\(no NaN\)")
        else:
            err(f"load_state_dict-{cls.__name__}-{name}-nan", with_entry(cls, name, NAN),
                ValueError, rf"'state_dict' state\[0\]\['{name}'\] contains NaN")
err("load_state_dict-Nadam-mu_product-missing",
    load(lambda: sd_with(fastopt.Nadam, drop=["mu_product"]), fastopt.Nadam), ValueError,
    r"'state_dict' lacks 'mu_product'")
err("load_state_dict-Nadam-mu_product-nan",
    load(lambda: sd_with(fastopt.Nadam, mu_product=NAN, step=9), fastopt.Nadam), ValueError,
    r"Invalid mu_product value: nan")
err("load_state_dict-Nadam-mu_product-2",
    load(lambda: sd_with(fastopt.Nadam, mu_product=2.0), fastopt.Nadam), ValueError,
    r"Invalid mu_product value: 2.0")
err("load_state_dict-SGD-nesterov-without-momentum",
    load(lambda: sd_with(fastopt.SGD, hyper={"momentum": 0.0, "nesterov": True,
                                             "dampening": 0.0}),
         fastopt.SGD), ValueError, r"Nesterov momentum requires a momentum")
for id_, make_sd, exc, match in [
        ("keys", lambda: plateau_sd(schedule={"scale": 0.5}), ValueError,
         r"'state_dict' has keys \['scale'\], expected \['bad_evaluations'"),
        ("not-dict", lambda: plateau_sd(schedule=None), TypeError,
         r"'state_dict' must be a dict, got NoneType"),
        ("best-nan", lambda: plateau_schedule_sd(best=NAN), ValueError,
         r"Invalid best value: nan"),
        ("best-str", lambda: plateau_schedule_sd(best="low"), TypeError,
         r"Invalid best: 'low'"),
        ("counter-float", lambda: plateau_schedule_sd(cooldown_counter=1.5), TypeError,
         r"Invalid cooldown_counter: 1.5"),
        ("base-schedule-state", lambda: plateau_schedule_sd(schedule={"a": 1}), ValueError,
         r"'state_dict' has keys \['a'\], expected \[\]")]:
    err(f"load_state_dict-schedule-{id_}",
        on_optimizer(plateau_opt, lambda opt, make_sd=make_sd: opt.load_state_dict(make_sd())),
        exc, match)

# ---------------------------------------------------------------- pickles
for name, make in [("Adam", lambda: stepped(fastopt.Adam)),
                   ("SGD-momentum", lambda: stepped(fastopt.SGD)),
                   ("Nadam-two-arrays", lambda: stepped(fastopt.Nadam, arrays=2)),
                   ("RMSprop-plateau", lambda: plateau_opt(fastopt.RMSprop)),
                   ("Adagrad-pruning", lambda: stepped(fastopt.Adagrad, pruning=fastopt.
                                                       ConstantSparsity(0.5, 0, frequency=1))),
                   ("state_dict", lambda: state_of(fastopt.Adamax)),
                   ("OneCycle", lambda: fastopt.OneCycle(0.1, 100)),
                   ("PolynomialDecay", lambda: sp.PolynomialDecay(0.0, 0.5, 0, 10))]:
    for keep in (0.5, -1):
        err(f"pickle-{name}-truncated-{keep}",
            lambda make=make, keep=keep: pickle.loads(truncated(make(), keep)),
            PICKLE_ERRORS, None)            # no argument to name: the type is the point
err("pickle-empty", lambda: pickle.loads(b""), PICKLE_ERRORS, r"Ran out of input")
err("unpickle-state-mismatching-params", tampered_pickle, ValueError,
    r"'state' has 3 elements, expected 5")

# ---------------------------------------------------------------- parameter groups
def two_groups(cls=fastopt.Adam, **kw):
    """A stepped optimizer with two parameter groups (the same rate and hyperparameters,
    so that the snapshot can read them)."""
    w, b = np.linspace(-1.0, 1.0, 6).reshape(2, 3), np.linspace(0.0, 1.0, 3)
    opt = cls([{"params": w, "weight_decay": 0.1}, {"params": [b]}], **kw)
    for k in range(2):
        opt.step([np.cos(w + k), np.cos(b + k)])
    return opt


GROUP_ERRORS = [
    ("mixed", lambda: fastopt.Adam([{"params": np.zeros(3)}, np.zeros(2)]), TypeError,
     r"'params' mixes parameter groups \(dicts\) and arrays: params\[1\] is a ndarray"),
    ("no-params", lambda: fastopt.Adam([{"params": np.zeros(3)}, {"lr": 0.1}]), ValueError,
     r"param_groups\[1\] lacks 'params'"),
    ("params-empty", lambda: fastopt.Adam([{"params": []}]), ValueError,
     r"'param_groups\[0\]\['params'\]' is an empty list"),
    ("params-shared", lambda: (lambda a: fastopt.Adam([{"params": a}, {"params": a[:2]}]))(
        np.zeros(3)), ValueError, r"'params\[0\]' and 'params\[1\]' share memory"),
    ("unknown-key", lambda: fastopt.Adam([{"params": np.zeros(3), "momentum": 0.9}]),
     TypeError, r"param_groups\[0\] got an unexpected key 'momentum'"),
    ("optimizer-wide", lambda: fastopt.Adam([{"params": np.zeros(3), "nan_policy": "skip"}]),
     ValueError, r"param_groups\[0\]: 'nan_policy' is an optimizer-wide option"),
    ("global_clipnorm", lambda: fastopt.Adam([{"params": np.zeros(3)},
                                              {"params": np.zeros(2), "global_clipnorm": 1}]),
     ValueError, r"param_groups\[1\]: 'global_clipnorm' is an optimizer-wide option"),
    ("convention", lambda: fastopt.Adam([{"params": np.zeros(3), "convention": "keras"}]),
     ValueError, r"param_groups\[0\]: 'convention' is an optimizer-wide option"),
    ("lr-and-learning_rate", lambda: fastopt.Adam([{"params": np.zeros(3), "lr": 0.1,
                                                    "learning_rate": 0.1}]),
     TypeError, r"param_groups\[0\]: give either 'learning_rate' or its alias 'lr'"),
    ("lr-negative", lambda: fastopt.Adam([{"params": np.zeros(3)},
                                          {"params": np.zeros(2), "lr": -1.0}]),
     ValueError, r"Invalid learning rate: -1.0"),
    ("beta_1", lambda: fastopt.Adam([{"params": np.zeros(3)},
                                     {"params": np.zeros(2), "beta_1": 1.0}]),
     ValueError, r"param_groups\[1\]: Invalid beta parameter at index 0: 1.0"),
    ("weight_decay-negative", lambda: fastopt.Adam([{"params": np.zeros(3)},
                                                    {"params": np.zeros(2),
                                                     "weight_decay": -1}]),
     ValueError, r"Invalid param_groups\[1\]\['weight_decay'\] value: -1"),
    ("weight_decay-length", lambda: fastopt.Adam([{"params": [np.zeros(3), np.zeros(2)],
                                                   "weight_decay": [0.1]}]),
     ValueError, r"'param_groups\[0\]\['weight_decay'\]' has 1 entries, expected 2"),
    ("onecycle-momentum-0", lambda: fastopt.SGD(
        [{"params": np.zeros(3), "momentum": 0.9}, {"params": np.zeros(2)}],
        lr=fastopt.OneCycle(0.1, 10)), ValueError, r"has momentum=0"),
    ("set_hyper-group-range", on_optimizer(two_groups, lambda opt: opt.set_hyper(
        group=2, beta_1=0.5)), ValueError,
     r"Invalid group: 2 \(expected None or an int from 0 to 1"),
    ("set_hyper-group-bool", on_optimizer(two_groups, lambda opt: opt.set_hyper(
        group=True, beta_1=0.5)), ValueError, r"Invalid group: True"),
    ("set_hyper-group-beta", on_optimizer(two_groups, lambda opt: opt.set_hyper(
        group=1, beta_1=1.5)), ValueError, r"set_hyper\(group=1\): Invalid beta parameter"),
    ("set_hyper-group-wide", on_optimizer(two_groups, lambda opt: opt.set_hyper(
        group=0, num_threads=1)), ValueError,
     r"set_hyper\(group=0\): 'num_threads' is an optimizer-wide option"),
    ("set_hyper-group-unknown", on_optimizer(two_groups, lambda opt: opt.set_hyper(
        group=0, rho=0.5)), TypeError,
     r"set_hyper\(group=0\) got an unexpected keyword argument 'rho'"),
    ("set_hyper-group-amsgrad", on_optimizer(two_groups, lambda opt: opt.set_hyper(
        group=0, amsgrad=True)), ValueError, r"would change the optimizer's state arrays"),
    ("set_hyper-group-l2-then-bad-lr", on_optimizer(two_groups, lambda opt: opt.set_hyper(
        group=0, l2=0.1, lr=math.nan)), ValueError, r"Invalid learning rate: nan"),
    ("set_hyper-group-length", on_optimizer(two_groups, lambda opt: opt.set_hyper(
        group=0, l1=[0.1, 0.2])), ValueError,
     r"'set_hyper\(group=0\)\['l1'\]' has 2 entries, expected 1"),
    ("setter-per-array-length", on_optimizer(lambda: stepped(arrays=2),
                                             lambda opt: setattr(opt, "l2", [0.1] * 3)),
     ValueError, r"'l2' has 3 entries, expected 2 \(one per parameter array\)"),
    ("per-array-entry", lambda: fastopt.Adam([np.zeros(3), np.zeros(2)],
                                             clipvalue=[1.0, -1.0]),
     ValueError, r"Invalid clipvalue\[1\] value: -1.0"),
    ("per-array-maximize", lambda: fastopt.Adam([np.zeros(3), np.zeros(2)],
                                                maximize=[True, "no"]),
     TypeError, r"Invalid maximize\[1\]: 'no'"),
    ("per-array-pruning", lambda: fastopt.Adam([np.zeros(3), np.zeros(2)],
                                               pruning=[None, 0.5]),
     TypeError, r"'pruning\[1\]' must be a pruning schedule"),
    ("per-array-pruning-length", lambda: fastopt.Adam(
        [np.zeros(3), np.zeros(2)], pruning=[sp.ConstantSparsity(0.5, 0)]),
     ValueError, r"'pruning' has 1 entries, expected 2"),
    ("clipvalue-and-clipnorm-entries", lambda: fastopt.Adam(
        [np.zeros(3), np.zeros(2)], clipvalue=[1.0, None], clipnorm=[None, 1.0]),
     ValueError, r"Only one of clipvalue, clipnorm and global_clipnorm"),
    ("read-learning_rate", lambda: fastopt.Adam(
        [{"params": np.zeros(3)}, {"params": np.zeros(2), "lr": 0.1}]).learning_rate,
     ValueError, r"different learning rates: read each "
     r"group's from param_groups"),
    ("load-other-layout", on_optimizer(two_groups, lambda opt: opt.load_state_dict(
        state_of())), ValueError, r"'state_dict' holds one parameter group, this optimizer "
     r"has 2"),
    ("load-grouped-onto-one", on_optimizer(lambda: stepped(arrays=2), lambda opt: (
        opt.load_state_dict(two_groups().state_dict()))), ValueError,
     r"'state_dict' holds 2 parameter groups, this optimizer has 1"),
    ("load-other-groups", on_optimizer(two_groups, lambda opt: opt.load_state_dict(
        {**opt.state_dict(), "param_groups": opt.state_dict()["param_groups"][::-1]})),
     ValueError, r"param_groups must be this optimizer's groups: 2 dicts whose 'params' are "
     r"\[\[0\], \[1\]\]"),
    ("load-group-options", on_optimizer(two_groups, lambda opt: opt.load_state_dict(
        {**opt.state_dict(), "param_groups": [
            {**e, "options": {**e["options"], "l2": -1.0}}
            for e in opt.state_dict()["param_groups"]]})),
     ValueError, r"Invalid 'state_dict' param_groups\[0\]\['options'\]\['l2'\] value: -1.0"),
]
for id_, call, exc, match in GROUP_ERRORS:
    err(f"groups-{id_}", call, exc, match)

# ---------------------------------------------------------------- minimize
MIN_ERRORS = [
    ("groups-x0", dict(x0=[{"params": np.ones(2)}]), TypeError,
     r"'x0' is a list of dicts: parameter groups are for the optimizer classes"),
    ("weight_decay-list", dict(options={"weight_decay": [0.1]}), ValueError,
     r"'weight_decay' is a list, one entry per parameter array: minimize optimizes one flat x"),
    ("pruning-list", dict(options={"pruning": [None]}), ValueError,
     r"'pruning' is a list, one entry per parameter array"),
    ("x0-2d", dict(x0=np.ones((2, 2))), ValueError, r"'x0' must only have one dimension"),
    ("x0-complex", dict(x0=np.ones(2) * 1j), TypeError, r"'x0' has dtype complex128"),
    ("x0-object", dict(x0=np.array([1.0, None])), TypeError, r"'x0' has dtype object"),
    ("x0-str", dict(x0="ab"), TypeError, r"'x0' has dtype <U2"),
    ("x0-datetime", dict(x0=np.array(["2020-01-01"], "M8[D]")), TypeError,
     r"'x0' has dtype datetime64"),
    ("method-unknown", dict(method="bfgs"), ValueError, r"Unknown solver 'bfgs'"),
    ("jac-unknown", dict(jac="4-point"), ValueError, r"Invalid jac: '4-point'"),
    ("bounds-count", dict(bounds=[(0, 1)]), ValueError,
     r"'bounds' has 1 pairs, but x0 has 2 entries"),
    ("bounds-not-pairs", dict(bounds=[0, 1]), ValueError,
     r"'bounds' must be a scipy.optimize.Bounds or a sequence of \(min, max\) pairs"),
    ("bounds-infeasible", dict(bounds=[(1, 0), (0, 1)]), ValueError,
     r"'bounds\[0\]' is infeasible"),
    ("bounds-nan", dict(bounds=[(NAN, 0), (0, 1)]), ValueError, r"'bounds\[0\]' contains NaN"),
    ("bounds-str", dict(bounds=[("a", 0), (0, 1)]), TypeError, r"'bounds\[0\]\[0\]' has dtype"),
    ("Bounds-shape", dict(bounds=so.Bounds([0, 0, 0], [1, 1, 1])), ValueError,
     r"'bounds\[0\]\[0\]' has shape \(3,\)"),
    ("learning_rate-nan", dict(options={"learning_rate": NAN}), ValueError,
     r"Invalid learning rate: nan"),
    ("learning_rate-inf", dict(options={"learning_rate": INF}), ValueError,
     r"Invalid learning rate: inf"),
    ("lr-negative", dict(options={"lr": -1.0}), ValueError, r"Invalid learning rate: -1.0"),
    ("learning_rate-str", dict(options={"learning_rate": "fast"}), ValueError,
     r"Invalid learning_rate: 'fast' \(options\['learning_rate'\] must be a number >= 0, a "
     r"schedule or 'auto'\)"),
    ("lr-str", dict(options={"lr": "Auto"}), ValueError, r"Invalid lr: 'Auto'"),
    ("polish-str", dict(options={"polish": "yes"}), TypeError,
     r"Invalid polish: 'yes' \(expected True or False\)"),
    ("polish-None", dict(options={"polish": None}), TypeError, r"Invalid polish: None"),
    ("beta_1-1", dict(options={"beta_1": 1.0}), ValueError,
     r"Invalid beta parameter at index 0: 1.0"),
    ("weight_decay-inf", dict(options={"weight_decay": INF}), ValueError,
     r"Invalid weight_decay value: inf"),
    ("l1-nan", dict(options={"l1": NAN}), ValueError, r"Invalid l1 value: nan"),
    ("num_threads-huge", dict(options={"num_threads": 2**31}), ValueError,
     r"Invalid num_threads: 2147483648 \(at most"),
    ("schedule-nan", dict(options={"learning_rate": lambda step: NAN}), ValueError,
     r"returned nan at step 0"),
    ("nan_policy", dict(options={"nan_policy": "propagate"}), ValueError,
     r"Invalid nan_policy: 'propagate' \(expected 'raise' or 'skip'\)"),
    ("convention", dict(options={"convention": "jax"}), ValueError, r"Invalid convention"),
    ("batch_size-0", dict(args=(np.ones((4, 2)),), options={"batch_size": 0}), ValueError,
     r"Invalid batch_size: 0"),
    ("epochs-0", dict(args=(np.ones((4, 2)),), options={"batch_size": 2, "epochs": 0}),
     ValueError, r"Invalid epochs: 0"),
    ("batch-without-args", dict(options={"batch_size": 2}), ValueError,
     r"minibatches need at least one array in 'args'"),
    ("args-rows", dict(args=(np.ones((4, 2)), np.ones(3)), options={"batch_size": 2}),
     ValueError, r"the arrays in 'args' have different numbers of rows: \[3, 4\]"),
    ("return_best-minibatch", dict(args=(np.ones((4, 2)),),
                                   options={"batch_size": 2, "return_best": True}),
     ValueError, r"return_best is for full-batch runs"),
    ("opt_state-partial", dict(options={"opt_state": {"rule": "adam"}}), ValueError,
     r"'state_dict' lacks \['convention', 'hyper', 'masks', 'state', 'step'\]"),
    ("opt_state-other-size", dict(x0=np.ones(3), options={"opt_state": state_of(n=2)}),
     ValueError, r"state\[0\]\['exp_avg'\] must be a float64 array of shape \(3,\)"),
    ("opt_state-other-method", dict(method="sgd", options={"opt_state": state_of(n=2)}),
     ValueError, r"'state_dict' is for rule 'adam', not 'sgd'"),
    ("monitor-not-callable", dict(options={"monitor": 3}), TypeError,
     r"'monitor' must be a callable"),
    ("monitor-without-plateau", dict(options={"monitor": lambda x: 0.0}), ValueError,
     r"'monitor' feeds a performance schedule"),
    ("monitor_every-0", dict(options={"monitor_every": 0,
                                      "learning_rate": fastopt.ReduceLROnPlateau()}),
     ValueError, r"Invalid monitor_every: 0"),
    ("fun-not-a-pair", dict(fun=lambda x: float(x @ x)), ValueError,
     r"with jac=True, 'fun' must return \(f, gradient\)"),
    ("fun-vector", dict(fun=lambda x: x, jac=lambda x: x), ValueError,
     r"objective function must return a scalar"),
    ("fun-str", dict(fun=lambda x: "low", jac=lambda x: x), ValueError,
     r"objective function must return a scalar"),
    ("fun-complex", dict(fun=lambda x: 1j, jac=lambda x: x), ValueError,
     r"objective function must return a scalar"),
    ("jac-shape", dict(fun=lambda x: float(x @ x), jac=lambda x: np.ones(3)), ValueError,
     r"the gradient has shape \(3,\), expected \(2,\)"),
    ("jac-pair-shape", dict(fun=lambda x: (float(x @ x), np.ones((2, 2)))), ValueError,
     r"the gradient has shape \(2, 2\), expected \(2,\)"),
    ("fun-None", dict(fun=lambda x: None, jac=lambda x: x), TypeError,
     r"The user-provided objective function returned None; it must return a scalar"),
    ("fun-pair-None", dict(fun=lambda x: (None, x)), TypeError,
     r"The user-provided objective function returned None"),
    ("fun-None-finite-differences", dict(fun=lambda x: None, jac=None), TypeError,
     r"The user-provided objective function returned None"),
    ("complex-step-fun-None", dict(fun=lambda x: None if x.dtype.kind == "c" else 1.0,
                                   jac="cs"), TypeError,
     r"The user-provided objective function returned None"),
    ("constraints", dict(constraints=[{"type": "eq", "fun": lambda x: x[0]}]), ValueError,
     r"fastopt.adam handles bounds only, not constraints"),
    ("constraints-object", dict(method="nadam", constraints=so.LinearConstraint([1, 1], 0, 1)),
     ValueError, r"fastopt.nadam handles bounds only, not constraints"),
    ("shuffle-str", dict(options={"shuffle": "False"}), TypeError,
     r"Invalid shuffle: 'False' \(expected True or False\)"),
    ("disp-int", dict(options={"disp": 1}), TypeError, r"Invalid disp: 1 \(expected True"),
    ("eps-str", dict(jac=None, options={"eps": "1e-8"}), TypeError,
     r"Invalid eps: '1e-8' \(options\['eps'\] must be a finite number > 0"),
    ("eps-bool", dict(jac=None, options={"eps": True}), TypeError, r"Invalid eps: True"),
    ("eps-nan", dict(jac=None, options={"eps": NAN}), ValueError, r"Invalid eps: nan"),
    ("eps-negative", dict(jac=None, options={"eps": -1e-8}), ValueError, r"Invalid eps: -1e-08"),
    ("eps-zero", dict(jac=None, options={"eps": 0.0}), ValueError, r"Invalid eps: 0.0"),
    ("eps-shape", dict(jac=None, options={"eps": [1e-8, 1e-8, 1e-8]}), ValueError,
     r"Invalid eps: an array of shape \(3,\) \(options\['eps'\] .* shape \(2,\)"),
    ("return_best-None", dict(options={"return_best": None}), TypeError,
     r"Invalid return_best: None \(expected True or False\)"),
    ("maximize-str", dict(options={"maximize": "False"}), TypeError,
     r"Invalid maximize: 'False' \(expected True or False\)"),
    ("nesterov-str", dict(method="momentum", options={"nesterov": "False"}), TypeError,
     r"Invalid nesterov: 'False' \(expected True or False\)"),
]


def call_minimize(kw, entry=None):
    kw = dict(kw)
    fun, x0 = kw.pop("fun", quad), kw.pop("x0", np.ones(2))
    kw.setdefault("jac", True)
    opts = dict(kw.pop("options", {}))
    opts.setdefault("maxiter", 3)
    if entry is None:
        return fastopt.minimize(fun, x0, options=opts, **kw)
    method = getattr(fastopt, kw.pop("method", "adam"))
    return so.minimize(fun, x0, method=method, options=opts, **kw)


for id_, kw, exc, match in MIN_ERRORS:
    err(f"minimize-{id_}", lambda kw=kw: call_minimize(kw), exc, match)
for id_, kw, exc, match in MIN_ERRORS:
    # (not fun-not-a-pair: scipy's own jac=True wrapper fails on it first)
    if id_.startswith(("x0", "bounds", "Bounds", "learning_rate", "opt_state-other-size",
                       "fun-vector", "fun-str", "fun-complex", "jac-shape", "fun-None",
                       "constraints", "shuffle", "disp", "return_best", "maximize",
                       "nesterov", "lr-str", "polish", "weight_decay-list")):
        err(f"scipy-method-{id_}", lambda kw=kw: call_minimize(kw, so.minimize), exc, match)
for m in METHODS:
    err(f"scipy-method-{m}-lr-nan",
        lambda m=m: so.minimize(quad, np.ones(2), jac=True, method=getattr(fastopt, m),
                                options={"learning_rate": NAN}),
        ValueError, r"Invalid learning rate: nan")
err("scipy-method-constraints",
    lambda: so.minimize(quad, np.ones(2), jac=True, method=fastopt.adam,
                        constraints=[{"type": "eq", "fun": lambda x: x[0]}]),
    ValueError, r"fastopt.adam handles bounds only, not constraints")
err("show_options-unknown", lambda: fastopt.show_options("bfgs"), ValueError,
    r"Unknown solver 'bfgs'")

# ---------------------------------------------------------------- find_learning_rate
FINDER = [
    ("lr_min-0", {"lr_min": 0}, ValueError, r"Invalid lr_min value: 0"),
    ("lr_min-nan", {"lr_min": NAN}, ValueError, r"Invalid lr_min value: nan"),
    ("lr_max-inf", {"lr_max": INF}, ValueError, r"Invalid lr_max value: inf"),
    ("lr_max-below-lr_min", {"lr_min": 1.0, "lr_max": 0.1}, ValueError,
     r"Invalid lr_max value: 0.1 \(must exceed lr_min=1.0\)"),
    ("lr-range-overflows", {"lr_min": 1e-300, "lr_max": 1e300}, ValueError,
     r"Invalid lr_max value: 1e\+300 \(lr_max / lr_min=1e-300 overflows\)"),
    ("num_steps-1", {"num_steps": 1}, ValueError, r"Invalid num_steps value: 1"),
    ("num_steps-float", {"num_steps": 10.0}, TypeError, r"Invalid num_steps: 10.0"),
    ("smoothing-1", {"smoothing": 1.0}, ValueError, r"Invalid smoothing value: 1.0"),
    ("diverge_factor-1", {"diverge_factor": 1}, ValueError, r"Invalid diverge_factor value: 1"),
    ("options-learning_rate", {"options": {"learning_rate": 0.1}}, ValueError,
     r"find_learning_rate sets learning_rate itself"),
    ("options-maxiter", {"options": {"maxiter": 5, "epochs": 2}}, ValueError,
     r"sets epochs, maxiter itself"),
    ("method-unknown", {"method": "lbfgs"}, ValueError, r"Unknown solver 'lbfgs'"),
    ("x0-2d", {"x0": np.ones((2, 2))}, ValueError, r"'x0' must only have one dimension"),
]
for id_, kw, exc, match in FINDER:
    def finder(kw=kw):
        kw = dict(kw)
        return fastopt.find_learning_rate(quad, kw.pop("x0", np.ones(2)), jac=True,
                                          num_steps=kw.pop("num_steps", 5), **kw)
    err(f"find_learning_rate-{id_}", finder, exc, match)

# ---------------------------------------------------------------- schedules
S = fastopt
SCHEDULE_ERRORS = [
    ("PowerDecay-initial-nan", lambda: S.PowerDecay(NAN, 10), ValueError,
     r"Invalid initial_learning_rate value: nan"),
    ("PowerDecay-initial-inf", lambda: S.PowerDecay(INF, 10), ValueError,
     r"Invalid initial_learning_rate value: inf"),
    ("PowerDecay-initial-str", lambda: S.PowerDecay("0.1", 10), TypeError,
     r"Invalid initial_learning_rate: '0.1'"),
    ("PowerDecay-decay_steps-0", lambda: S.PowerDecay(0.1, 0), ValueError,
     r"Invalid decay_steps value: 0"),
    ("PowerDecay-decay_steps-inf", lambda: S.PowerDecay(0.1, INF), ValueError,
     r"Invalid decay_steps value: inf"),
    ("PowerDecay-power-nan", lambda: S.PowerDecay(0.1, 10, power=NAN), ValueError,
     r"Invalid power value: nan"),
    ("PowerDecay-power-negative", lambda: S.PowerDecay(0.1, 10, power=-1), ValueError,
     r"Invalid power value: -1"),
    ("ExponentialDecay-decay_rate-0", lambda: S.ExponentialDecay(0.1, 10, 0.0), ValueError,
     r"Invalid decay_rate value: 0.0"),
    ("ExponentialDecay-decay_rate-nan", lambda: S.ExponentialDecay(0.1, 10, NAN), ValueError,
     r"Invalid decay_rate value: nan"),
    ("ExponentialDecay-decay_rate-inf", lambda: S.ExponentialDecay(0.1, 10, INF), ValueError,
     r"Invalid decay_rate value: inf"),
    ("ExponentialDecay-decay_steps-negative", lambda: S.ExponentialDecay(0.1, -5), ValueError,
     r"Invalid decay_steps value: -5"),
    ("ExponentialDecay-staircase-str", lambda: S.ExponentialDecay(0.1, 10, staircase="False"),
     TypeError, r"Invalid staircase: 'False' \(expected True or False\)"),
    ("PiecewiseConstant-boundary-nan", lambda: S.PiecewiseConstant([NAN], [0.1, 0.2]),
     ValueError, r"Invalid boundaries: \[nan\] \(must be finite\)"),
    ("PiecewiseConstant-boundaries-unsorted",
     lambda: S.PiecewiseConstant([5, 2], [0.1, 0.2, 0.3]), ValueError,
     r"Invalid boundaries: \[5.0, 2.0\] \(must be strictly increasing\)"),
    ("PiecewiseConstant-values-count", lambda: S.PiecewiseConstant([5], [0.1]), ValueError,
     r"'values' has 1 entries; it needs one more than 'boundaries' \(2\)"),
    ("PiecewiseConstant-value-nan", lambda: S.PiecewiseConstant([5], [0.1, NAN]), ValueError,
     r"Invalid values value: nan"),
    ("PiecewiseConstant-value-negative", lambda: S.PiecewiseConstant([5], [0.1, -1]),
     ValueError, r"Invalid values value: -1"),
    ("PiecewiseConstant-boundaries-number", lambda: S.PiecewiseConstant(5, [0.1, 0.2]),
     TypeError, r"Invalid boundaries: 5 \(expected a sequence\)"),
    ("PiecewiseConstant-values-str", lambda: S.PiecewiseConstant([5], "ab"), TypeError,
     r"Invalid values: 'ab' \(expected a sequence\)"),
    ("CosineDecay-alpha-2", lambda: S.CosineDecay(0.1, 10, alpha=2), ValueError,
     r"Invalid alpha value: 2"),
    ("CosineDecay-decay_steps-nan", lambda: S.CosineDecay(0.1, NAN), ValueError,
     r"Invalid decay_steps value: nan"),
    ("CosineDecay-warmup-without-target", lambda: S.CosineDecay(0.1, 10, warmup_steps=5),
     ValueError, r"warmup_steps > 0 needs warmup_target"),
    ("CosineDecay-warmup_steps-float",
     lambda: S.CosineDecay(0.1, 10, warmup_steps=5.0, warmup_target=0.2), TypeError,
     r"Invalid warmup_steps: 5.0"),
    ("CosineDecay-warmup_target-nan",
     lambda: S.CosineDecay(0.1, 10, warmup_steps=5, warmup_target=NAN), ValueError,
     r"Invalid warmup_target value: nan"),
    ("OneCycle-total_steps-1", lambda: S.OneCycle(0.1, 1), ValueError,
     r"Invalid total_steps value: 1"),
    ("OneCycle-max_learning_rate-inf", lambda: S.OneCycle(INF, 100), ValueError,
     r"Invalid max_learning_rate value: inf"),
    ("OneCycle-pct_start-1", lambda: S.OneCycle(0.1, 100, pct_start=1.0), ValueError,
     r"Invalid pct_start value: 1.0"),
    ("OneCycle-empty-phase", lambda: S.OneCycle(0.1, 100, pct_start=0.001), ValueError,
     r"pct_start=0.001 with total_steps=100 gives an empty phase"),
    ("OneCycle-anneal", lambda: S.OneCycle(0.1, 100, anneal="exp"), ValueError,
     r"Invalid anneal: 'exp'"),
    ("OneCycle-momenta-order",
     lambda: S.OneCycle(0.1, 100, base_momentum=0.99, max_momentum=0.9), ValueError,
     r"Invalid base_momentum value: 0.99 \(must not exceed max_momentum=0.9\)"),
    ("OneCycle-max_momentum-1", lambda: S.OneCycle(0.1, 100, max_momentum=1.0), ValueError,
     r"Invalid max_momentum value: 1.0"),
    ("OneCycle-div_factor-nan", lambda: S.OneCycle(0.1, 100, div_factor=NAN), ValueError,
     r"Invalid div_factor value: nan"),
    ("OneCycle-three_phase-str", lambda: S.OneCycle(0.1, 100, three_phase="False"), TypeError,
     r"Invalid three_phase: 'False' \(expected True or False\)"),
    ("OneCycle-cycle_momentum-int", lambda: S.OneCycle(0.1, 100, cycle_momentum=0), TypeError,
     r"Invalid cycle_momentum: 0 \(expected True or False\)"),
    ("LinearWarmup-warmup_steps-0", lambda: S.LinearWarmup(0.1, 0), ValueError,
     r"Invalid warmup_steps value: 0"),
    ("LinearWarmup-start_factor-2", lambda: S.LinearWarmup(0.1, 10, start_factor=2),
     ValueError, r"Invalid start_factor value: 2"),
    ("LinearWarmup-schedule-nan", lambda: S.LinearWarmup(NAN, 10), ValueError,
     r"Invalid schedule value: nan"),
    ("LinearWarmup-schedule-str", lambda: S.LinearWarmup("0.1", 10), TypeError,
     r"Invalid schedule: '0.1'"),
    ("Sequential-empty", lambda: S.Sequential([], []), ValueError, r"'schedules' is empty"),
    ("Sequential-boundaries-count", lambda: S.Sequential([0.1, 0.2], []), ValueError,
     r"'boundaries' has 0 entries; 2 schedules need 1"),
    ("Sequential-boundaries-unsorted", lambda: S.Sequential([0.1, 0.2, 0.3], [5, 2]),
     ValueError, r"Invalid boundaries: \[5, 2\]"),
    ("Sequential-boundary-negative", lambda: S.Sequential([0.1, 0.2], [-1]), ValueError,
     r"Invalid boundaries value: -1"),
    ("Sequential-schedule-nan", lambda: S.Sequential([0.1, NAN], [5]), ValueError,
     r"Invalid schedules\[1\] value: nan"),
    ("Sequential-schedules-number", lambda: S.Sequential(0.1, []), TypeError,
     r"Invalid schedules: 0.1 \(expected a sequence\)"),
    ("ReduceLROnPlateau-factor-1", lambda: S.ReduceLROnPlateau(0.1, factor=1.0), ValueError,
     r"Invalid factor value: 1.0"),
    ("ReduceLROnPlateau-patience-negative", lambda: S.ReduceLROnPlateau(0.1, patience=-1),
     ValueError, r"Invalid patience value: -1"),
    ("ReduceLROnPlateau-mode", lambda: S.ReduceLROnPlateau(0.1, mode="up"), ValueError,
     r"Invalid mode: 'up' \(expected 'min' or 'max'\)"),
    ("ReduceLROnPlateau-mode-threshold-mode", lambda: S.ReduceLROnPlateau(0.1, mode="rel"),
     ValueError, r"Invalid mode: 'rel' is a threshold mode: pass threshold_mode='rel'"),
    ("ReduceLROnPlateau-threshold_mode", lambda: S.ReduceLROnPlateau(0.1,
                                                                    threshold_mode="min"),
     ValueError, r"Invalid threshold_mode: 'min' \(expected 'rel' or 'abs'\)"),
    ("ReduceLROnPlateau-eps-nan", lambda: S.ReduceLROnPlateau(0.1, eps=NAN), ValueError,
     r"Invalid eps value: nan"),
    ("ReduceLROnPlateau-min_lr-nan", lambda: S.ReduceLROnPlateau(0.1, min_lr=NAN), ValueError,
     r"Invalid min_lr value: nan"),
    ("ReduceLROnPlateau-min_lr-list-negative",
     lambda: S.ReduceLROnPlateau(min_lr=[0.0, -1.0]), ValueError, r"min_lr\[1\]"),
    ("ReduceLROnPlateau-min_lr-empty", lambda: S.ReduceLROnPlateau(min_lr=[]), ValueError,
     r"'min_lr' must be a rate or one rate per parameter group"),
    ("ReduceLROnPlateau-min_delta-inf", lambda: S.ReduceLROnPlateau(0.1, min_delta=INF),
     ValueError, r"Invalid min_delta value: inf"),
    ("ReduceLROnPlateau-learning_rate-nan", lambda: S.ReduceLROnPlateau(NAN), ValueError,
     r"Invalid learning_rate value: nan"),
    ("ReduceLROnPlateau-without-base", lambda: S.ReduceLROnPlateau()(0), RuntimeError,
     r"ReduceLROnPlateau has no base learning rate"),
    ("ReduceLROnPlateau-update-str", lambda: S.ReduceLROnPlateau(0.1).update("low"), TypeError,
     r"update\(\) needs a real number, got 'low'"),
    ("ReduceLROnPlateau-update-complex", lambda: S.ReduceLROnPlateau(0.1).update(1j),
     TypeError, r"update\(\) needs a real number, got 1j"),
    ("ReduceLROnPlateau-load-keys", lambda: S.ReduceLROnPlateau(0.1).load_state_dict(
        {"scale": 1.0}), ValueError, r"'state_dict' has keys \['scale'\], expected"),
    ("ReduceLROnPlateau-load-None", lambda: S.ReduceLROnPlateau(0.1).load_state_dict(None),
     TypeError, r"'state_dict' must be a dict, got NoneType"),
    ("ReduceLROnPlateau-load-reductions-float", lambda: S.ReduceLROnPlateau(0.1)
     .load_state_dict(dict(S.ReduceLROnPlateau(0.1).state_dict(), num_reductions=1.5)),
     TypeError, r"Invalid num_reductions: 1.5"),
    ("ReduceLROnPlateau-load-best-nan", lambda: S.ReduceLROnPlateau(0.1).load_state_dict(
        dict(S.ReduceLROnPlateau(0.1).state_dict(), best=NAN)), ValueError,
     r"Invalid best value: nan"),
    ("ReduceLROnPlateau-load-counter", lambda: S.ReduceLROnPlateau(0.1).load_state_dict(
        dict(S.ReduceLROnPlateau(0.1).state_dict(), bad_evaluations=-1)), ValueError,
     r"Invalid bad_evaluations value: -1"),
    ("PowerDecay-load-nonempty", lambda: S.PowerDecay(0.1, 10).load_state_dict({"a": 1}),
     ValueError, r"'state_dict' has keys \['a'\], expected \[\]"),
    ("Sequential-load-count", lambda: S.Sequential([0.1, 0.2], [5]).load_state_dict(
        {"schedules": [{}]}), ValueError, r"'state_dict' holds 1 schedules, this one has 2"),
    ("Sequential-load-not-list", lambda: S.Sequential([0.1, 0.2], [5]).load_state_dict(
        {"schedules": None}), TypeError, r"'state_dict' schedules must be a list"),
    ("LinearWarmup-load-keys", lambda: S.LinearWarmup(0.1, 5).load_state_dict({}),
     ValueError, r"'state_dict' has keys \[\], expected \['schedule'\]"),
]
for id_, call, exc, match in SCHEDULE_ERRORS:
    err(f"schedules-{id_}", call, exc, match)
SCHEDULE_SAMPLES = [S.Constant(0.1), S.PowerDecay(0.1, 10), S.ExponentialDecay(0.1, 10),
                    S.PiecewiseConstant([5], [0.1, 0.01]), S.CosineDecay(0.1, 10),
                    S.OneCycle(0.1, 100), S.LinearWarmup(0.1, 5),
                    S.Sequential([0.1, 0.2], [5]), S.ReduceLROnPlateau(0.1)]
for schedule in SCHEDULE_SAMPLES:
    n = type(schedule).__name__
    for step, exc, match in [(-1, ValueError, r"Invalid step: -1"),
                             (1.5, TypeError, r"Invalid step: 1.5"),
                             (True, TypeError, r"Invalid step: True"),
                             ("3", TypeError, r"Invalid step: '3'")]:
        if step in (True, "3") and n not in ("PowerDecay", "OneCycle"):
            continue
        err(f"schedules-{n}-call-step-{step!r}", lambda s=schedule, step=step: s(step), exc,
            match)
    err(f"schedules-{n}-momentum_at-step--1", lambda s=schedule: s.momentum_at(-1),
        ValueError, r"Invalid step: -1")

# ---------------------------------------------------------------- sparsity
SPARSITY_ERRORS = [
    ("PolynomialDecay-final-1", lambda: sp.PolynomialDecay(0, 1.0, 0, 10), ValueError,
     r"Invalid final_sparsity value: 1.0"),
    ("PolynomialDecay-final-nan", lambda: sp.PolynomialDecay(0, NAN, 0, 10), ValueError,
     r"Invalid final_sparsity value: nan"),
    ("PolynomialDecay-initial-str", lambda: sp.PolynomialDecay("0", 0.5, 0, 10), TypeError,
     r"Invalid initial_sparsity: '0' \(expected a real number\)"),
    ("PolynomialDecay-initial-bool", lambda: sp.PolynomialDecay(False, 0.5, 0, 10), TypeError,
     r"Invalid initial_sparsity: False \(expected a real number\)"),
    ("PolynomialDecay-begin-equals-end", lambda: sp.PolynomialDecay(0, 0.5, 5, 5), ValueError,
     r"end_step should be > begin_step for PolynomialDecay"),
    ("PolynomialDecay-end--1", lambda: sp.PolynomialDecay(0, 0.5, 0, -1), ValueError,
     r"end_step cannot be -1 for PolynomialDecay"),
    ("PolynomialDecay-begin-negative", lambda: sp.PolynomialDecay(0, 0.5, -1, 10), ValueError,
     r"begin_step should be >= 0, got -1"),
    ("PolynomialDecay-begin-float", lambda: sp.PolynomialDecay(0, 0.5, 0.0, 10), TypeError,
     r"begin_step must be an int, got 0.0"),
    ("PolynomialDecay-frequency-0", lambda: sp.PolynomialDecay(0, 0.5, 0, 10, frequency=0),
     ValueError, r"frequency should be > 0, got 0"),
    ("PolynomialDecay-power-0", lambda: sp.PolynomialDecay(0, 0.5, 0, 10, power=0), ValueError,
     r"power should be > 0 and finite, got 0"),
    ("PolynomialDecay-power-inf", lambda: sp.PolynomialDecay(0, 0.5, 0, 10, power=INF),
     ValueError, r"power should be > 0 and finite, got inf"),
    ("PolynomialDecay-power-nan", lambda: sp.PolynomialDecay(0, 0.5, 0, 10, power=NAN),
     ValueError, r"power should be > 0 and finite, got nan"),
    ("PolynomialDecay-step-float", lambda: sp.PolynomialDecay(0, 0.5, 0, 10)(1.5), TypeError,
     r"step must be an int, got 1.5"),
    ("ConstantSparsity-target-negative", lambda: sp.ConstantSparsity(-0.1, 0), ValueError,
     r"Invalid target_sparsity value: -0.1"),
    ("ConstantSparsity-target-inf", lambda: sp.ConstantSparsity(INF, 0), ValueError,
     r"Invalid target_sparsity value: inf"),
    ("ConstantSparsity-end-before-begin", lambda: sp.ConstantSparsity(0.5, 10, 5), ValueError,
     r"begin_step should be <= end_step if end_step != -1"),
    ("ConstantSparsity-end--2", lambda: sp.ConstantSparsity(0.5, 0, -2), ValueError,
     r"end_step can be -1 or >= 0, got -2"),
    ("ConstantSparsity-frequency-str", lambda: sp.ConstantSparsity(0.5, 0, frequency="1"),
     TypeError, r"frequency must be an int, got '1'"),
    ("ConstantSparsity-step-None", lambda: sp.ConstantSparsity(0.5, 0).should_prune(None),
     TypeError, r"step must be an int, got None"),
    ("prune_magnitude-sparsity-1.5", lambda: sp.prune_magnitude(np.ones(3), 1.5), ValueError,
     r"Invalid sparsity value: 1.5"),
    ("prune_magnitude-sparsity-nan", lambda: sp.prune_magnitude(np.ones(3), NAN), ValueError,
     r"Invalid sparsity value: nan"),
    ("prune_magnitude-scope", lambda: sp.prune_magnitude(np.ones(3), 0.5, scope="layer"),
     ValueError, r"Invalid scope: 'layer'"),
    ("prune_magnitude-complex", lambda: sp.prune_magnitude(np.ones(3) * 1j, 0.5), TypeError,
     r"'arrays' has dtype complex128; expected real numbers"),
    ("prune_magnitude-object", lambda: sp.prune_magnitude(np.array([1.0, None]), 0.5),
     TypeError, r"'arrays' has dtype object"),
    ("prune_magnitude-str", lambda: sp.prune_magnitude("abc", 0.5), TypeError,
     r"'arrays' has dtype <U3"),
    ("prune_magnitude-arrays[1]-complex",
     lambda: sp.prune_magnitude([np.ones(2), np.ones(2) * 1j], 0.5), TypeError,
     r"'arrays\[1\]' has dtype complex128"),
    ("prune_magnitude-masks-count",
     lambda: sp.prune_magnitude([np.ones(3), np.ones(2)], 0.5, masks=[np.ones(3)]),
     ValueError, r"'masks' has 1 entries, expected 2"),
    ("prune_magnitude-masks-shape", lambda: sp.prune_magnitude(np.ones(3), 0.5,
                                                               masks=np.ones(4)),
     ValueError, r"'masks\[0\]' has shape \(4,\), expected \(3,\)"),
    ("nnz-complex", lambda: sp.nnz(np.ones(3) * 1j), TypeError, r"'arrays' has dtype complex"),
    ("nnz-None", lambda: sp.nnz(None), TypeError, r"'arrays' has dtype object"),
    ("sparsity-str", lambda: sp.sparsity(["ab"]), TypeError, r"'arrays\[0\]' has dtype <U2"),
    ("to_csr-3d", lambda: sp.to_csr(np.zeros((2, 2, 2))), ValueError,
     r"to_csr takes a 1-D or 2-D array, got 3 dimensions in 'weights'"),
    ("to_csr-0d", lambda: sp.to_csr(np.array(1.0)), ValueError,
     r"got 0 dimensions in 'weights'"),
    ("to_csr-str", lambda: sp.to_csr(np.array([["a"]])), TypeError,
     r"'weights' has dtype <U1; expected numbers"),
    ("to_csr-object", lambda: sp.to_csr(np.array([[1, None]])), TypeError,
     r"'weights' has dtype object"),
    ("to_csr-float16", lambda: sp.to_csr(np.ones((2, 2), np.float16)), TypeError,
     r"'weights' has dtype float16, which scipy.sparse does not store"),
    ("from_csr-dense", lambda: sp.from_csr(np.eye(2)), TypeError,
     r"from_csr takes a scipy.sparse matrix or array, got ndarray"),
    ("from_csr-None", lambda: sp.from_csr(None), TypeError, r"got NoneType"),
    ("optimizer-pruning-schedule-class", lambda: fastopt.Adam(np.zeros(3),
                                                              pruning=sp.ConstantSparsity),
     TypeError, r"'pruning' must be a pruning schedule, got the class ConstantSparsity"),
    ("optimizer-learning_rate-schedule-class",
     lambda: fastopt.Adam(np.zeros(3), learning_rate=fastopt.ExponentialDecay), TypeError,
     r"Invalid learning_rate: the class ExponentialDecay"),
]
for id_, call, exc, match in SPARSITY_ERRORS:
    err(f"sparsity-{id_}", call, exc, match)

# ---------------------------------------------------------------- fastopt._losses
def loss_call(loss="logistic", **changes):
    """Row: value_and_grad on a valid 5 x 4 problem of ``loss`` with some arguments replaced
    (a callable value is applied to the valid argument)."""
    X = np.arange(20.0).reshape(5, 4) / 10
    k = 3 if loss == "softmax" else 1
    args = {"X": X, "y": np.array([0, 1, 2, 0, 1]) if loss == "softmax" else np.ones(5),
            "sample_weight": np.ones(5), "coef": np.zeros((4, 3) if k > 1 else 4),
            "intercept": np.zeros(k), "grad_coef": np.zeros((4, 3) if k > 1 else 4),
            "grad_intercept": np.zeros(k)}
    for name, value in changes.items():
        args[name] = value(args[name]) if callable(value) else value
    num_threads = args.pop("num_threads", None)
    return lambda: value_and_grad(loss, num_threads=num_threads, **args)


def csr_with(**arrays):
    """A valid 5 x 4 CSR matrix of the loss rows with some of its arrays replaced."""
    M = scipy.sparse.csr_matrix(np.arange(20.0).reshape(5, 4) / 10)
    for name, value in arrays.items():
        setattr(M, name, value(getattr(M, name)) if callable(value) else value)
    return M


def wide_view(a):
    """Every other element of a twice as long array: not contiguous."""
    return np.zeros(2 * a.size)[::2].reshape(a.shape)


SHARED_GRAD = np.zeros(4)
LOSS_ERRORS = [
    ("loss-name", loss_call("hinge"), ValueError,
     r"Invalid loss: 'hinge' \(expected one of logistic, softmax, squared\)"),
    ("X-list", loss_call(X=[[1.0] * 4] * 5), TypeError,
     r"'X' must be a C-contiguous numpy.ndarray or a scipy.sparse CSR matrix, got list"),
    ("X-csc", loss_call(X=scipy.sparse.csc_matrix), TypeError,
     r"'X' must be .*got csc_matrix in 'csc' format \(X.tocsr\(\) converts it\)"),
    ("X-1d", loss_call(X=np.ones(5)), ValueError, r"'X' must be 2-D, got 1-D"),
    ("X-int", loss_call(X=np.ones((5, 4), np.int64)), TypeError,
     r"'X' has dtype int64, expected float32 or float64"),
    ("X-fortran", loss_call(X=np.asfortranarray), ValueError,
     r"'X' must be C-contiguous and aligned"),
    ("X-data-int", loss_call(X=csr_with(data=lambda d: d.astype(np.int64))), TypeError,
     r"'X.data' has dtype int64, expected float32 or float64"),
    ("X-indices-float", loss_call(X=csr_with(indices=lambda i: i.astype(float))), TypeError,
     r"'X.indices' has dtype float64, expected int32 or int64"),
    ("X-indptr-short", loss_call(X=csr_with(indptr=lambda p: p[:-1])), ValueError,
     r"'X.indptr' has shape \(5,\), expected \(6,\)"),
    ("X-indptr-start", loss_call(X=csr_with(indptr=lambda p: p + 1)), ValueError,
     r"'X.indptr' must start at 0 and end at most at the length of X.data and X.indices "
     r"\(19\), got 1..20"),
    ("X-indptr-decreasing", loss_call(X=csr_with(indptr=np.array([0, 4, 3, 8, 12, 19],
                                                                 np.int32))),
     ValueError, r"'X.indptr' must be non-decreasing"),
    ("X-indices-out-of-range", loss_call(X=csr_with(indices=lambda i: i + 1)), ValueError,
     r"'X.indices' holds a column index outside \[0, 4\)"),
    ("X-indices-negative", loss_call(X=csr_with(indices=lambda i: i - 1)), ValueError,
     r"'X.indices' holds a column index outside \[0, 4\)"),
    ("y-shape", loss_call(y=np.ones(4)), ValueError, r"'y' has shape \(4,\), expected \(5,\)"),
    ("y-float32", loss_call(y=np.ones(5, np.float32)), TypeError,
     r"'y' has dtype float32, expected float64 \(X's dtype\)"),
    ("softmax-y-float", loss_call("softmax", y=np.zeros(5)), TypeError,
     r"'y' has dtype float64, expected int64"),
    ("softmax-y-label-k", loss_call("softmax", y=np.array([0, 1, 3, 0, 1])), ValueError,
     r"'y' holds class indices outside \[0, 3\) \(k = coef.shape\[1\]\): min 0, max 3"),
    ("softmax-y-label-negative", loss_call("softmax", y=np.array([0, -1, 2, 0, 1])),
     ValueError, r"'y' holds class indices outside \[0, 3\)"),
    ("sample_weight-shape", loss_call(sample_weight=np.ones(6)), ValueError,
     r"'sample_weight' has shape \(6,\), expected \(5,\)"),
    ("sample_weight-list", loss_call(sample_weight=[1.0] * 5), TypeError,
     r"'sample_weight' must be a numpy.ndarray, got list"),
    ("coef-shape", loss_call(coef=np.zeros(5)), ValueError,
     r"'coef' has shape \(5,\), expected \(4,\)"),
    ("softmax-coef-1d", loss_call("softmax", coef=np.zeros(4)), ValueError,
     r"'coef' must be a 2-D ndarray \(d, k\) for the softmax loss, got 1-D"),
    ("softmax-coef-fortran", loss_call("softmax", coef=np.asfortranarray), ValueError,
     r"'coef' must be C-contiguous and aligned"),
    ("intercept-shape", loss_call(intercept=np.zeros(2)), ValueError,
     r"'intercept' has shape \(2,\), expected \(1,\)"),
    ("softmax-intercept-shape", loss_call("softmax", intercept=np.zeros(1)), ValueError,
     r"'intercept' has shape \(1,\), expected \(3,\)"),
    ("grad_coef-read-only", loss_call(grad_coef=ro), ValueError,
     r"'grad_coef' is read-only: the gradient is written into it"),
    ("grad_coef-float32", loss_call(grad_coef=np.zeros(4, np.float32)), TypeError,
     r"'grad_coef' has dtype float32, expected float64"),
    ("grad_coef-strided", loss_call(grad_coef=wide_view), ValueError,
     r"'grad_coef' must be C-contiguous and aligned"),
    ("softmax-grad_coef-shape", loss_call("softmax", grad_coef=np.zeros((3, 4))), ValueError,
     r"'grad_coef' has shape \(3, 4\), expected \(4, 3\)"),
    ("grad_intercept-read-only", loss_call(grad_intercept=ro), ValueError,
     r"'grad_intercept' is read-only"),
    ("grad_intercept-None", loss_call(grad_intercept=None), TypeError,
     r"'grad_intercept' must be a numpy.ndarray, got NoneType"),
    ("grad_intercept-in-grad_coef", loss_call(grad_coef=SHARED_GRAD[:4],
                                              grad_intercept=SHARED_GRAD[3:4]), ValueError,
     r"'grad_coef' and 'grad_intercept' share memory"),
    ("num_threads-0", loss_call(num_threads=0), ValueError,
     r"Invalid num_threads: 0 \(expected a positive int or None\)"),
    ("num_threads-str", loss_call(num_threads="2"), TypeError, r"Invalid num_threads: '2'"),
]
for id_, call, exc, match in LOSS_ERRORS:
    err(f"losses-{id_}", call, exc, match)

# ---------------------------------------------------------------- fastopt.distributed
# (argument checks made before a client is used: NoClient stands in for one)
DIST_ERRORS = [
    ("strategy", {"strategy": "async"}, ValueError, r"Invalid strategy: 'async'"),
    ("sync_every-0", {"sync_every": 0}, ValueError, r"Invalid sync_every: 0"),
    ("sync_every-bool", {"sync_every": True}, ValueError, r"Invalid sync_every: True"),
    ("sync_every-float", {"sync_every": 2.5}, ValueError, r"Invalid sync_every: 2.5"),
    ("method", {"method": "bfgs"}, ValueError, r"Unknown solver 'bfgs'"),
    ("x0-2d", {"x0": np.ones((2, 2))}, ValueError, r"'x0' must only have one dimension"),
    ("x0-complex", {"x0": np.ones(2) * 1j}, TypeError, r"'x0' has dtype complex128"),
    ("learning_rate-nan", {"options": {"learning_rate": NAN}}, ValueError,
     r"Invalid learning rate: nan"),
    ("batch_size-0", {"options": {"batch_size": 0}}, ValueError, r"Invalid batch_size: 0"),
    ("num_threads-huge", {"options": {"num_threads": 65536}}, ValueError,
     r"Invalid num_threads: 65536 \(at most"),
    ("local-pruning", {"strategy": "local", "options": {"pruning": sp.ConstantSparsity(0.5, 0)}},
     ValueError, r"pruning needs one mask for all replicas"),
    ("local-return_best", {"strategy": "local", "options": {"return_best": True}}, ValueError,
     r"return_best is for strategy='sync'"),
    ("args-not-dask", {"args": (np.ones((4, 2)),)}, ValueError,
     r"needs the data as dask arrays in 'args'"),
    ("args-dask-rows", {"args": "rows"}, ValueError,
     r"the dask arrays in 'args' have different numbers of rows: \[3, 4\]"),
    ("args-dask-0d", {"args": "0d"}, ValueError,
     r"a dask array in 'args' must have at least one dimension"),
    ("constraints", {"constraints": [{"type": "ineq", "fun": lambda x: x[0]}]}, ValueError,
     r"fastopt.adam handles bounds only, not constraints"),
    ("shuffle-str", {"options": {"shuffle": "no"}}, TypeError,
     r"Invalid shuffle: 'no' \(expected True or False\)"),
]


def call_dist(kw):
    minimize = dist()                           # skips the row without the dask extra
    kw = dict(kw)
    if kw.get("args") == "rows":
        kw["args"] = (dask_array(np.ones((4, 2))), dask_array(np.ones(3)))
    elif kw.get("args") == "0d":
        import dask.array as da
        kw["args"] = (da.from_array(np.array(1.0)),)
    x0 = kw.pop("x0", np.ones(2))
    kw.setdefault("args", ())
    return minimize(quad, x0, jac=True, client=NoClient(), **kw)


for id_, kw, exc, match in DIST_ERRORS:
    err(f"distributed-{id_}", lambda kw=kw: call_dist(kw), exc, match)


@pytest.mark.parametrize("call, exc, match", ERRORS)
def test_bad_input_raises(call, exc, match):
    """The call raises ``exc`` with a message naming the argument; a call on an optimizer
    leaves everything it holds as it was."""
    if isinstance(call, tuple):
        make, bad = call
        opt = make()
        before = snapshot(opt)
        with pytest.raises(exc, match=match):
            bad(opt)
        assert_same(before, snapshot(opt))
        # and the optimizer still works
        grads = [np.ones_like(p) for p in opt.params]
        opt.learning_rate = 0.01
        assert opt.step(grads if len(grads) > 1 else grads[0]) == 0
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # e.g. "Unknown solver options" is not it
        with pytest.raises(exc, match=match):
            call()


# ============================================================================== BEHAVIOUR
# (id, check): legal but awkward input, with its documented result
BEHAVIOUR = []


def behaviour(id_):
    def register(fn):
        BEHAVIOUR.append(pytest.param(fn, id=id_))
        return fn
    return register


def _reference_step(cls, x, g, **kw):
    """Params after one step from x with the gradient g given as a fresh float64 copy."""
    y = np.array(x, dtype=x.dtype)
    cls(y, **kw).step(np.array(g, dtype=x.dtype))
    return y


for _cls in CLASSES:
    for _shape in [(0,), (0, 3), (2, 0, 4)]:
        @behaviour(f"{_cls.__name__}-empty-params-{_shape}")
        def _(cls=_cls, shape=_shape):
            """Empty arrays step fine (nothing to update) and report 0 non-finite entries,
            with every extra switched on."""
            x = np.zeros(shape, np.float32)
            opt = cls([x, np.ones(2)], clipnorm=1.0, l1=0.1, bounds=[(-1, 1), (-1, 1)],
                      nan_policy="raise", pruning=sp.ConstantSparsity(0.5, 0, frequency=1),
                      weight_decay=0.1, **FULL[cls])
            assert opt.step([np.zeros(shape), np.ones(2)]) == 0
            assert x.shape == shape and x.dtype == np.float32
            opt.load_state_dict(opt.state_dict())
            assert opt.nnz() == 1 and opt.masks[0].size == 0

    @behaviour(f"{_cls.__name__}-zero-dim-param")
    def _(cls=_cls):
        """A 0-d array is a parameter like any other."""
        x = np.array(1.0)
        cls(x, learning_rate=0.1, **FULL[cls]).step(np.array(2.0))
        assert x.shape == () and x < 1.0

    @behaviour(f"{_cls.__name__}-grad-is-param")
    def _(cls=_cls):
        """``step(x)`` with the parameter itself as gradient (``g is x``) is a step with a
        copy of it: the kernel copies a gradient that shares memory with what it writes."""
        x = np.linspace(-1, 1, 50)
        y = x.copy()
        a, b = cls(x, **FULL[cls]), cls(y, **FULL[cls])
        for _ in range(3):
            a.step(x)
            b.step(y.copy())
        np.testing.assert_array_equal(x, y)

    @behaviour(f"{_cls.__name__}-grad-is-a-state-array")
    def _(cls=_cls):
        """A gradient that is one of the optimizer's own state arrays is read as passed."""
        results = []
        for alias in (True, False):
            x = np.linspace(-1, 1, 7)
            opt = cls(x, **FULL[cls])
            opt.step(np.cos(x))
            src = next(iter(opt.state[0].values()))
            opt.step(src if alias else src.copy())
            results.append((x.copy(), {k: v.copy() for k, v in opt.state[0].items()}))
        np.testing.assert_array_equal(results[0][0], results[1][0])
        for k in results[0][1]:
            np.testing.assert_array_equal(results[0][1][k], results[1][1][k])

    @behaviour(f"{_cls.__name__}-grads-cross-aliased")
    def _(cls=_cls):
        """``step([w2, w1])`` (the gradient of w1 . w2): each gradient is read as it was
        passed, although the first kernel has already updated w1 when the second runs."""
        results = []
        for copy in (False, True):
            w1, w2 = np.linspace(-1, 1, 6), np.linspace(2, 3, 6)
            opt = cls([w1, w2], **FULL[cls])
            for _ in range(3):
                opt.step([w2.copy(), w1.copy()] if copy else [w2, w1])
            results.append((w1.copy(), w2.copy()))
        np.testing.assert_array_equal(results[0][0], results[1][0])
        np.testing.assert_array_equal(results[0][1], results[1][1])

    @behaviour(f"{_cls.__name__}-epsilon-0")
    def _(cls=_cls):
        """epsilon=0 is legal; a zero gradient at a fresh state then gives 0/0 = NaN in the
        adaptive rules, which ``nan_policy`` does not see (it checks gradients): documented
        IEEE arithmetic, confined to the coordinates whose gradient was 0."""
        if cls is fastopt.SGD:
            return
        x = np.ones(3)
        kw = {"initial_accumulator_value": 0.0} if cls is fastopt.Adagrad else {}
        assert cls(x, epsilon=0.0, **kw).step(np.array([0.0, 1.0, -1.0])) == 0
        assert np.isnan(x[0]) and np.isfinite(x[1:]).all()


@behaviour("grads-cross-aliased-through-a-foreign-buffer")
def _():
    """A gradient over another parameter's memory that reaches NumPy through a foreign
    buffer (a memoryview here; torch.from_numpy(w).numpy() is another) is read as it was
    passed: the plan compares addresses, not owners.  SGD from w1 = [1, 2], w2 = [3, 4]
    with grads (w2, w1) and learning rate 0.5: w1 - 0.5 w2, w2 - 0.5 w1."""
    w1, w2 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    fastopt.SGD([w1, w2], learning_rate=0.5).step([np.frombuffer(memoryview(w2)),
                                                   np.frombuffer(memoryview(w1))])
    assert w1.tolist() == [1.0 - 0.5 * 3.0, 2.0 - 0.5 * 4.0]
    assert w2.tolist() == [3.0 - 0.5 * 1.0, 4.0 - 0.5 * 2.0]


@behaviour("grads-over-written-arrays-threaded")
def _():
    """The same on two threads, for a gradient through a foreign buffer over another
    array's state: the second thread updates the end of w1's first moment, then reads it
    as w2's gradient (threads take halves of the step's blocks), and the result is still
    that of passing a copy."""
    n1, n2 = 30 * 2048, 10 * 2048          # past the parallel threshold together
    results = []
    for copy in (False, True):
        w1, w2 = np.linspace(-1, 1, n1), np.linspace(2, 3, n2)
        opt = fastopt.Adam([w1, w2], learning_rate=0.1, num_threads=2)
        opt.step([np.cos(w1), np.sin(w2)])
        g2 = np.frombuffer(memoryview(opt.state[0]["exp_avg"]))[n1 - n2:]
        opt.step([np.cos(w1), g2.copy() if copy else g2])
        results.append((w1.copy(), w2.copy(), opt.state_dict()["state"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    for a, b in zip(results[0][2], results[1][2]):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


@behaviour("grads-any-dtype-and-layout")
def _():
    """Gradients may have any real dtype and any layout, be read-only or a list: the step is
    that of the float64 C-contiguous copy."""
    base = np.arange(1.0, 13.0).reshape(3, 4)
    layouts = [ro(base), np.asfortranarray(base), base[::-1][::-1], base.astype(np.float32),
               base.astype(np.int32), base.astype(np.uint8), base.astype(np.float16),
               base.astype(">f8"), base.astype(">i4"), base.astype(np.longdouble),
               (base > 6), np.repeat(base, 2, axis=1)[:, ::2], np.ma.array(base),
               np.broadcast_to(base[:1], (3, 4)), [base.tolist()]]
    for g in layouts:
        x, y = np.zeros((3, 4)), np.zeros((3, 4))
        fastopt.Adam(x, learning_rate=0.1).step(g)
        ref = g[0] if isinstance(g, list) else g        # a list holds the one gradient
        fastopt.Adam(y, learning_rate=0.1).step(np.array(ref, dtype=np.float64))
        np.testing.assert_array_equal(x, y)


@behaviour("grads-float64-for-float32-params")
def _():
    """A float64 gradient for float32 parameters is cast to float32 (the parameters keep
    their dtype)."""
    x = np.zeros(4, np.float32)
    fastopt.SGD(x, learning_rate=1.0).step(np.full(4, 1 / 3))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, -np.float32(1 / 3))


@behaviour("params-memmap-and-subclasses")
def _():
    """ndarray subclasses that stay 1-D when flattened (memmap, recarray views) are updated
    in place."""
    x = np.zeros(4).view(np.recarray)
    fastopt.SGD(x, learning_rate=1.0).step(np.ones(4))
    np.testing.assert_array_equal(np.asarray(x), -1.0)


@behaviour("grads-unaligned")
def _():
    """An unaligned gradient is read through an aligned copy (the kernels refuse unaligned
    pointers); minimize's gradient path does the same."""
    x = np.zeros(3)
    g = unaligned(3)
    g[:] = 1.0
    fastopt.SGD(x, learning_rate=1.0).step(g)
    np.testing.assert_array_equal(x, -1.0)
    def fun(v):
        grad = unaligned(3)
        grad[:] = v
        return 0.5 * float(v @ v), grad

    res = fastopt.minimize(fun, np.ones(3), method="sgd", jac=True, options={"maxiter": 3})
    assert res.nit == 3 and np.all(np.isfinite(res.x))


@behaviour("params-adjacent-views-of-one-buffer")
def _():
    """Non-overlapping views of one buffer are separate parameters, each updated in place
    and read as passed even when each is the other's gradient."""
    buf = np.arange(6.0)
    a, b = buf[:3], buf[3:]
    fastopt.SGD([a, b], learning_rate=1.0).step([b, a])
    np.testing.assert_array_equal(buf, [-3.0, -3.0, -3.0, 3.0, 3.0, 3.0])


@behaviour("bounds-and-l1-arrays-are-copied")
def _():
    """Bounds and l1 arrays are validated once and copied: changing the caller's arrays, or
    the parameter used as its own bound, later changes nothing."""
    lo, w = np.zeros(3), np.full(3, 0.1)
    x = np.ones(3)
    opt = fastopt.SGD(x, learning_rate=1.0, bounds=(lo, None), l1=w)
    lo[:] = 5.0
    w[:] = -1.0                                 # would be an invalid l1 strength
    opt.step(np.zeros(3))
    np.testing.assert_allclose(x, 0.9)          # the l1 step of 0.1, inside [0, inf)
    y = np.linspace(-1, 1, 5)
    start = y.copy()
    opt = fastopt.SGD(y, learning_rate=1.0, bounds=(y, None))
    opt.step(np.ones(5))                        # moves down, projected back to the start
    np.testing.assert_array_equal(y, start)


@behaviour("project-start-outside-the-box")
def _():
    """project() clips a start outside the box into it, in place (NaN stays NaN: a
    divergence stays visible)."""
    x = np.array([-5.0, 0.5, 5.0, NAN])
    opt = fastopt.Adam(x, bounds=(np.array([0.0, 0.0, 0.0, 0.0]), 1.0))
    opt.project()
    np.testing.assert_array_equal(x, [0.0, 0.5, 1.0, NAN])


@behaviour("bounds-infinite-and-None")
def _():
    """(-inf, inf) and (None, None) bounds are no bounds."""
    for bounds in [(-INF, INF), (None, None), (np.full(3, -INF), None)]:
        x = np.zeros(3)
        fastopt.SGD(x, learning_rate=1e6, bounds=bounds).step(np.ones(3))
        np.testing.assert_array_equal(x, -1e6)


@behaviour("clipping-thresholds-infinite")
def _():
    """clipvalue, clipnorm and global_clipnorm of +inf clip nothing (the one place where
    +inf is a legal hyperparameter)."""
    g = np.array([1e300, -3.0, 0.5])
    expected = _reference_step(fastopt.Adam, np.zeros(3), g)
    for key in ("clipvalue", "clipnorm", "global_clipnorm"):
        x = np.zeros(3)
        fastopt.Adam(x, **{key: INF}).step(g)
        np.testing.assert_array_equal(x, expected)


@behaviour("flags-numpy-bools")
def _():
    """Flags take NumPy's bools as Python's (and hold Python bools)."""
    assert fastopt.SGD(np.zeros(2), momentum=0.9,
                       nesterov=np.bool_(True)).hyper["nesterov"] is True
    assert fastopt.Adam(np.zeros(2), amsgrad=np.True_).hyper["amsgrad"] is True
    assert fastopt.Adam(np.zeros(2), maximize=np.False_).maximize is False
    res = fastopt.minimize(quad, np.ones(2), jac=True, options={
        "maxiter": 2, "shuffle": np.True_, "return_best": np.bool_(True), "disp": np.False_,
        "polish": np.True_, "learning_rate": 1e-3})             # (not converged by then)
    assert res.nit == 2


@behaviour("huge-learning-rate-optimizer")
def _():
    """A finite learning rate so large that the update overflows gives +-inf (and NaN where
    inf - inf meets), as IEEE arithmetic (and torch) does; the step itself reports the
    gradient's non-finite entries only (0 here), and the next gradient, computed at the
    overflowed point, is caught by nan_policy before it touches anything."""
    for cls in CLASSES:
        x = np.array([1.0, -2.0, 3.0])
        opt = cls(x, learning_rate=1e308, nan_policy="raise", **FULL[cls])
        assert opt.step(np.array([1e10, -1e10, 1e10])) == 0
        assert x.dtype == np.float64 and x.shape == (3,)
        grad = 2 * x
        if np.isfinite(grad).all():             # a rule whose step stayed finite
            continue
        before = x.copy()
        with pytest.raises(FloatingPointError, match=r"are inf or NaN"):
            opt.step(grad)
        np.testing.assert_array_equal(x, before)


@behaviour("huge-learning-rate-minimize")
def _():
    """minimize with an overflowing learning rate stops with status 3 ("NaN result
    encountered.") and returns the last point whose objective and gradient were finite;
    with nan_policy="skip" it stops after max_skips (status 7) at that point too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # overflow in x @ x
        res = fastopt.minimize(quad, np.ones(2), jac=True, method="sgd",
                               options={"learning_rate": 1e300})
        assert res.status == 3 and not res.success and res.message == "NaN result encountered."
        np.testing.assert_array_equal(res.x, [1.0, 1.0])
        res = fastopt.minimize(quad, np.ones(2), jac=True, method="sgd",
                               options={"learning_rate": 1e300, "nan_policy": "skip",
                                        "max_skips": 3})
        assert res.status == 7
        np.testing.assert_array_equal(res.x, [1.0, 1.0])


@behaviour("huge-learning-rate-float32")
def _():
    """A learning rate beyond float32's range, for float32 parameters: the kernel works in
    the parameters' dtype, so the rate is +inf there; parameters with a nonzero gradient go
    to +-inf, the dtype stays float32."""
    x = np.ones(3, np.float32)
    fastopt.SGD(x, learning_rate=1e300).step(np.array([1.0, -1.0, 2.0]))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, np.array([-INF, INF, -INF], np.float32))


@behaviour("nan-gradient-policies")
def _():
    """A non-finite gradient entry: "propagate" lets it into its own coordinate only (NaN
    isolation) and counts it; "skip" leaves parameters and state bit-identical and counts the
    skipped step."""
    for cls in CLASSES:
        g = np.array([1.0, NAN, -1.0, INF])
        x = np.linspace(-1, 1, 4)
        opt = cls(x, **FULL[cls])
        assert opt.step(g) == 2
        assert np.isfinite(x[[0, 2]]).all()
        y = np.linspace(-1, 1, 4)
        opt = cls(y, nan_policy="skip", **FULL[cls])
        opt.step(np.ones(4))
        before = snapshot(opt)
        assert opt.step(g) == 2 and opt.skipped_steps == 1
        after = snapshot(opt)
        before["counts"] = (1, 1, before["counts"][2])
        assert_same(before, after)


@behaviour("state_dict-any-layout-is-copied")
def _():
    """State arrays of the right dtype and shape but another layout are copied into C order;
    the loaded optimizer does not share memory with the state dict."""
    opt = stepped(fastopt.Adam, n=6)
    sd = opt.state_dict()
    sd["state"] = [{k: np.repeat(v, 2)[::2] for k, v in sd["state"][0].items()}]
    other = stepped(fastopt.Adam, n=6)
    other.load_state_dict(sd)
    for k, v in other.state[0].items():
        assert v.flags.c_contiguous and not np.shares_memory(v, sd["state"][0][k])
        np.testing.assert_array_equal(v, opt.state[0][k])


@behaviour("state_dict-numpy-integer-step")
def _():
    """A step count saved as a NumPy integer (e.g. after np.savez) loads as an int."""
    opt = stepped(fastopt.Nadam)
    sd = opt.state_dict()
    sd["step"] = np.int64(sd["step"])
    opt.load_state_dict(sd)
    assert type(opt.step_count) is int and opt.step_count == 2


@behaviour("state_dict-round-trip-through-pickle")
def _():
    """A pickled optimizer (and its state dict) resumes bit for bit."""
    for cls in CLASSES:
        a = stepped(cls, arrays=2)
        b = pickle.loads(pickle.dumps(a))
        c = stepped(cls, arrays=2)
        c.load_state_dict(pickle.loads(pickle.dumps(a.state_dict())))
        for opt in (a, b, c):
            opt.step([np.sin(p) for p in opt.params])
        np.testing.assert_array_equal(b.params[1], a.params[1])
        np.testing.assert_array_equal(c.params[1], a.params[1])


@behaviour("truncated-pickles-every-cut")
def _():
    """Every truncation of an optimizer's pickle (and of a state dict's) is a clean
    UnpicklingError or EOFError."""
    for obj in (plateau_opt(fastopt.RMSprop, n=4, arrays=2),
                state_of(fastopt.Nadam)):
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        for n in range(len(data)):
            with pytest.raises(PICKLE_ERRORS):
                pickle.loads(data[:n])


@behaviour("load_state_dict-what-steps-produce")
def _():
    """Every state a step can produce loads back and resumes bit for bit: signed momenta and
    averages (RMSprop's grad_avg), pruned zeros, and +inf from an overflow (float32 squares
    of gradients past 1.8e19; the steps stay finite)."""
    cases = [(fastopt.RMSprop, np.float64, -np.linspace(1, 2, 3), {"centered": True,
                                                                    "momentum": 0.5}),
             (fastopt.Adam, np.float32, np.array([1e20, -1.0, 2.0]), {"amsgrad": True}),
             (fastopt.Adagrad, np.float32, np.array([1e20, -1.0, 2.0]), {})]
    for cls, dtype, g, kw in cases:
        x, y = np.ones(3, dtype), np.ones(3, dtype)
        opt = cls(x, learning_rate=0.1, **kw)
        opt.set_masks([np.array([1, 1, 0])])
        for _ in range(2):
            opt.step(g)
        sd = opt.state_dict()
        assert any((v < 0).any() or np.isinf(v).any() for v in sd["state"][0].values())
        twin = cls(y, learning_rate=0.1, **kw)
        y[...] = x
        twin.load_state_dict(sd)
        opt.step(g)
        twin.step(g)
        assert np.isfinite(x).all()
        np.testing.assert_array_equal(x, y)


@behaviour("state-arrays-changed-in-place")
def _():
    """State arrays are changed in place (they cannot be replaced): zeroing Adam's moments
    reaches both state_dict and the next step, which equals that of a fresh optimizer
    loaded with the edited state."""
    x, y = np.ones(3), np.ones(3)
    opt = fastopt.Adam(x, learning_rate=0.1)
    opt.step(np.array([1.0, -2.0, 3.0]))
    for v in opt.state[0].values():
        v[:] = 0.0
    sd = opt.state_dict()
    assert all((v == 0).all() for v in sd["state"][0].values())
    twin = fastopt.Adam(y, learning_rate=0.1)
    y[...] = x
    twin.load_state_dict(sd)
    g = np.array([0.5, 0.5, -0.5])
    opt.step(g)
    twin.step(g)
    np.testing.assert_array_equal(x, y)


@behaviour("masks-any-dtype")
def _():
    """A mask is "nonzero = keep" whatever its real dtype: bool, int, float (NaN is
    nonzero)."""
    for m in (np.array([True, False, True]), np.array([2, 0, -1]),
              np.array([NAN, 0.0, 0.5])):
        x = np.ones(3)
        opt = fastopt.SGD(x, learning_rate=0.5)
        opt.set_masks([m])
        opt.step(np.ones(3))
        np.testing.assert_array_equal(x, [0.5, 0.0, 0.5])


@behaviour("plateau-nan-never-improves")
def _():
    """ReduceLROnPlateau: a NaN (or inf) evaluation never improves, so it counts as a bad
    evaluation and can trigger a reduction."""
    lr = fastopt.ReduceLROnPlateau(1.0, factor=0.5, patience=1)
    assert [lr.update(v) for v in (NAN, INF, NAN)] == [False, True, False]
    assert lr(0) == 0.5


@behaviour("schedules-huge-step")
def _():
    """A step of any size (Python ints are unbounded) gives the schedule's limit."""
    t = 10**400
    assert S.PowerDecay(0.1, 10)(t) == 0.0
    assert S.ExponentialDecay(0.1, 10)(t) == 0.0
    assert S.ExponentialDecay(0.1, 10, staircase=True)(t) == 0.0
    assert S.ExponentialDecay(0.1, 10, decay_rate=2.0)(t) == INF
    assert S.ExponentialDecay(0.1, 10, decay_rate=1.0)(t) == 0.1
    assert S.CosineDecay(0.1, 10, alpha=0.5)(t) == pytest.approx(0.05)
    assert S.OneCycle(1.0, 100, div_factor=10.0)(t) == pytest.approx(1e-5)
    assert S.PiecewiseConstant([5], [0.1, 0.01])(t) == 0.01
    assert S.Sequential([0.1, S.PowerDecay(0.2, 1)], [5])(t) == 0.0
    assert S.LinearWarmup(0.1, 5)(np.uint64(2**64 - 1)) == 0.1


@behaviour("schedules-sequence-arguments")
def _():
    """Boundaries and values may be any sequence: list, tuple, range, NumPy array."""
    a = S.PiecewiseConstant(range(5, 15, 5), np.array([0.1, 0.01, 0.001]))
    assert (a(5), a(6), a(11)) == (0.1, 0.01, 0.001)
    b = S.Sequential((0.1, 0.2), np.array([3]))
    assert (b(2), b(3)) == (0.1, 0.2)


@behaviour("pruning-awkward-weights")
def _():
    """prune_magnitude: NaN weights rank as +inf (kept, so a divergence stays visible);
    empty arrays keep nothing; big-endian, float16, bool and int weights are ranked by
    magnitude like floats."""
    assert sp.prune_magnitude(np.array([NAN, 1.0, 2.0]), 0.5)[0].tolist() == [1, 0, 1]
    assert sp.prune_magnitude(np.zeros(0), 0.5)[0].size == 0
    assert sp.prune_magnitude([], 0.5) == []
    w = np.array([0.5, -3.0, 1.0, 2.0])
    for dt in (">f8", np.float16, np.int64):
        assert sp.prune_magnitude(w.astype(dt), 0.5)[0].tolist() == \
            sp.prune_magnitude(w, 0.5)[0].tolist()
    assert sp.prune_magnitude(np.array([True, False, True]), 0.5)[0].tolist() == [1, 0, 1]


@behaviour("counts-of-empty-arrays")
def _():
    """nnz and sparsity of nothing: 0 and 0.0 (no division by zero)."""
    assert sp.nnz(np.zeros(0)) == 0 and sp.nnz([]) == 0
    assert sp.sparsity(np.zeros((0, 3))) == 0.0 and sp.sparsity([]) == 0.0
    assert sp.nnz([np.array([0.0, -0.0, NAN, INF])]) == 2


@behaviour("csr-awkward-dtypes-and-layouts")
def _():
    """to_csr keeps the values of big-endian (stored in native order), bool, complex,
    Fortran and reversed arrays; empty matrices round-trip."""
    w = np.array([[0.0, 1.5], [-0.0, NAN]])
    for a in (w.astype(">f8"), np.asfortranarray(w), w[::-1][::-1]):
        m = sp.to_csr(a)
        assert m.nnz == 2 and m.dtype == np.float64
        np.testing.assert_array_equal(sp.from_csr(m), w)
    assert sp.to_csr(np.eye(2, dtype=bool)).dtype == bool
    assert sp.to_csr(np.eye(2) * 1j).nnz == 2
    assert sp.from_csr(sp.to_csr(np.zeros((0, 3)))).shape == (0, 3)
    assert sp.from_csr(scipy.sparse.coo_array(np.eye(2))).flags.c_contiguous


@behaviour("minimize-x0-conversions")
def _():
    """minimize: integer, bool, float16 and big-endian x0 become float64; float32 stays
    float32; read-only or strided x0 is copied (the caller's array is never written); a
    scalar x0 is one-dimensional."""
    for x0, dt in [(np.array([1, 2]), np.float64), (np.array([True, False]), np.float64),
                   (np.ones(2, np.float16), np.float64), (np.ones(2, ">f8"), np.float64),
                   (np.ones(2, np.float32), np.float32)]:
        res = fastopt.minimize(quad, x0, jac=True, options={"maxiter": 2})
        assert res.x.dtype == dt and res.x.shape == (2,)
    x0 = ro(np.ones(4))[::-2]
    res = so.minimize(quad, x0, jac=True, method=fastopt.nadam, options={"maxiter": 2})
    assert res.nit == 2 and (x0 == 1).all()
    assert fastopt.minimize(quad, 1.0, jac=True, options={"maxiter": 2}).x.shape == (1,)


@behaviour("minimize-empty-x0")
def _():
    """An empty x0: the gradient is already 0, so minimize stops at once with success."""
    for entry in (fastopt.minimize, so.minimize):
        kw = {"method": fastopt.adam} if entry is so.minimize else {}
        res = entry(quad, np.zeros(0), jac=True, **kw)
        assert res.status == 0 and res.success and res.x.shape == (0,) and res.nit == 0


@behaviour("minimize-non-finite-start")
def _():
    """A NaN in x0 or a NaN objective at x0: status 3 at once, x0 returned unchanged."""
    res = fastopt.minimize(quad, np.array([NAN, 1.0]), jac=True)
    assert res.status == 3 and res.nit == 0 and np.isnan(res.x[0])
    res = fastopt.minimize(lambda x: NAN, np.ones(2), jac=lambda x: x)
    assert res.status == 3 and res.message == "NaN result encountered."


@behaviour("minimize-unknown-option-warns")
def _():
    """An unknown option is scipy's OptimizeWarning naming it, not silence."""
    with pytest.warns(so.OptimizeWarning, match=r"Unknown solver options: learnin_rate"):
        fastopt.minimize(quad, np.ones(2), jac=True,
                         options={"learnin_rate": 0.1, "maxiter": 1})


@behaviour("find_learning_rate-non-finite-loss")
def _():
    """The LR finder on a loss that is NaN from the start: stop_reason "non-finite", no
    suggestion (NaN)."""
    res = fastopt.find_learning_rate(lambda x: (NAN, 2 * x), np.ones(2), jac=True, num_steps=5)
    assert res.stop_reason == "non-finite" and math.isnan(res.suggestion)


@behaviour("pruning-negative-step")
def _():
    """A pruning schedule asked about a step before begin_step (even a negative one) does
    not prune, by its formula."""
    assert sp.ConstantSparsity(0.5, 0).should_prune(-1) is False
    assert sp.PolynomialDecay(0.1, 0.5, 0, 10).sparsity_at(-5) == pytest.approx(0.1)


@pytest.mark.parametrize("check", BEHAVIOUR)
def test_documented_behaviour(check):
    check()


def test_table_size():
    """The tables cover what the issue lists (a guard against rows silently dropping out)."""
    assert len(ERRORS) >= 300 and len(BEHAVIOUR) >= 50
