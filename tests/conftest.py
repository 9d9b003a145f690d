import os
import sys

import numpy as np
import pytest

# tests/ holds the NumPy oracle (reference.py); the package itself is imported from where
# it is installed, never from the source tree.
sys.path.insert(0, os.path.dirname(__file__))

import fastopt  # noqa: E402

# Optional dependencies whose tests must run, not skip (CI sets FASTOPT_REQUIRE=torch after
# installing it): importing them here fails the session at once when one is missing.
for _name in filter(None, os.environ.get("FASTOPT_REQUIRE", "").split(",")):
    __import__(_name.strip())

CLASSES = {
    "sgd": fastopt.SGD,
    "adagrad": fastopt.Adagrad,
    "rmsprop": fastopt.RMSprop,
    "adam": fastopt.Adam,
    "adamax": fastopt.Adamax,
    "nadam": fastopt.Nadam,
}

# every structural variant of every rule: (rule, hyperparameters)
CONFIGS = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.8, "nesterov": True}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.05, "initial_accumulator_value": 0.2}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.7}),
    ("rmsprop", {"centered": True, "momentum": 0.5}),
    ("adam", {}),
    ("adam", {"amsgrad": True}),
    ("adamax", {}),
    ("nadam", {}),
]
CONFIG_IDS = [r + "-" + "-".join(f"{k}={v}" for k, v in h.items()) if h else r
              for r, h in CONFIGS]


@pytest.fixture(params=list(zip(CONFIGS, CONFIG_IDS)), ids=CONFIG_IDS)
def config(request):
    return request.param[0]


def for_convention(rule, hyper, convention):
    """A CONFIGS entry's hyperparameters as ``convention`` takes them: under keras, without
    torch's hyperparameters that Keras lacks (the class's ``torch_only``)."""
    if convention == "keras":
        return {k: v for k, v in hyper.items() if k not in CLASSES[rule].torch_only}
    return hyper


def make_problem(n, steps, seed, dtype=np.float64, scale=1.0):
    """A starting point and a list of gradients, exactly representable in ``dtype``."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n).astype(dtype)
    grads = [(scale * rng.standard_normal(n)).astype(dtype) for _ in range(steps)]
    return theta, grads
