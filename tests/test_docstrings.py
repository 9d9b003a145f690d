"""The public API's docstrings: their examples run, and every public name documents its
parameters in numpydoc style (so ``help(fastopt.X)`` reads well)."""

import doctest
import inspect

import numpy as np
import pytest

import fastopt
import fastopt.optimizers
import fastopt.sparsity

# Public names whose docstrings do not have numpydoc sections yet (their modules are being
# reworked); remove a name once its docstring has them.
PENDING: set[str] = set()


@pytest.mark.parametrize("module", [fastopt.optimizers, fastopt.sparsity, fastopt._minimize],
                         ids=lambda m: m.__name__)
def test_examples_run(module):
    # (fastopt.schedules' examples run in tests/test_schedules.py, fastopt.lr_finder's in
    # tests/test_lr_finder.py)
    result = doctest.testmod(module, extraglobs={"np": np, "fastopt": fastopt},
                             optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def public_objects(pending):
    for name in fastopt.__all__:
        obj = getattr(fastopt, name)
        if not inspect.ismodule(obj) and (name in PENDING) == pending:
            yield name, obj


def has_sections(name, obj):
    doc = inspect.getdoc(obj) or ""
    return ("Parameters\n----------" in doc
            and (inspect.isclass(obj) or "Returns\n-------" in doc))


@pytest.mark.parametrize("name, obj", list(public_objects(pending=False)),
                         ids=[name for name, _ in public_objects(pending=False)])
def test_numpydoc_sections(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert "Parameters\n----------" in doc, f"{name} lacks a Parameters section"
    if not inspect.isclass(obj):
        assert "Returns\n-------" in doc, f"{name} lacks a Returns section"
    assert ">>>" in doc, f"{name} lacks an example"


def test_pending_names_are_current():
    """PENDING lists only names still lacking the sections (drop the ones fixed)."""
    done = [name for name, obj in public_objects(pending=True) if has_sections(name, obj)]
    assert not done, f"remove {done} from PENDING"
    for name, obj in public_objects(pending=True):
        assert inspect.getdoc(obj), f"{name} has no docstring"
