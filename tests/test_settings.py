"""The optimizers' options are declared once, as fields of fastopt._settings.Settings: the
constructor keywords, the settable attributes, the docstrings and the repr follow from
them, and what a step reads is derived from them consistently."""

import inspect
import re

import numpy as np
import pytest

import fastopt
from fastopt import _settings
from fastopt._settings import OPTIONS, Settings, l1_strengths

RULES = [fastopt.SGD, fastopt.Adagrad, fastopt.RMSprop, fastopt.Adam, fastopt.Adamax,
         fastopt.Nadam]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda f: f.name)
def test_an_option_is_a_keyword_an_attribute_and_documented(option):
    opt = fastopt.Adam(np.zeros(3), **{option.name: option.default})
    assert getattr(opt, option.name) is option.default or (
        getattr(opt, option.name) == option.default)
    attribute = vars(fastopt.Optimizer)[option.name]
    assert isinstance(attribute, property) and attribute.fset is not None
    assert attribute.__doc__.startswith(_settings.option_doc(option.name))
    setattr(opt, option.name, option.default)
    assert option.metadata["doc"] in inspect.getdoc(fastopt.Optimizer)
    for cls in RULES:
        assert f"``{option.name}``" in inspect.getdoc(cls), cls.__name__
    if option.repr:
        assert f"{option.name}=" not in repr(opt)   # a default is left out


def test_every_settable_attribute_is_an_option_or_the_learning_rate():
    settable = {name for name, v in vars(fastopt.Optimizer).items()
                if isinstance(v, property) and v.fset is not None}
    assert settable == {f.name for f in OPTIONS} | {"learning_rate", "step_count"}


@pytest.mark.parametrize("cls", [fastopt.Optimizer] + RULES, ids=lambda c: c.__name__)
def test_docstrings_have_their_fragments_filled_in(cls):
    doc = inspect.getdoc(cls)
    assert not re.search(r"^\s*\{\w+\}\s*$", doc, re.MULTILINE)
    assert "Parameters\n----------\nparams : " in doc
    if cls is not fastopt.Optimizer:
        assert "\nRaises\n------\n" in doc and "\n**common\n" in doc


@pytest.mark.parametrize("l1", [
    0.0, 0, 0.1, np.float32(0.0), np.array(0.0), [0.0, 0.0], [0.0, 1e-3],
    [np.zeros(0), 0.0], [0.0, np.zeros(3)], [np.float64(0), np.int64(2)]],
    ids=repr)
def test_uses_l1_agrees_with_the_strengths_the_plan_binds(l1):
    """Settings decides from l1 as given whether a step has an l1 step (so that it can skip
    it); the strengths bound into the plan, checked against the arrays, agree."""
    params = [np.zeros(0), np.zeros(3)]
    strengths = l1_strengths(l1, params)
    assert Settings(l1=l1).uses_l1 == any(s != 0 or w.size for s, w in strengths)


def test_plain_means_nothing_for_python_to_do():
    assert Settings().plain
    prune = fastopt.sparsity.ConstantSparsity(0.5, 0)
    for change in (dict(nan_policy="skip"), dict(nan_policy="raise"),
                   dict(clipnorm=1.0), dict(clipnorm=[None, 1.0]), dict(global_clipnorm=1.0),
                   dict(pruning=prune), dict(pruning=[None, prune])):
        assert not Settings(**change).plain, change
    for change in (dict(clipvalue=1.0), dict(maximize=True), dict(weight_decay=0.1),
                   dict(l2=0.1), dict(bounds=(0, 1)), dict(num_threads=1), dict(l1=0.1),
                   dict(clipnorm=[None, None]), dict(pruning=[None])):
        assert Settings(**change).plain, change       # the kernel's, or the plan's
