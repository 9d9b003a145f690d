"""Replay the fuzz corpus (fuzz/corpus: inputs that found new coverage, and any crash
inputs saved there) through the fuzz target's invariants, without atheris."""

import pathlib
import sys

import pytest

FUZZ = pathlib.Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import fuzz_kernels  # noqa: E402

CASES = sorted((FUZZ / "corpus").glob("*"))


def test_corpus_is_there():
    assert len(CASES) >= 10


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_replay_corpus():
    for path in CASES:
        fuzz_kernels.check(path.read_bytes())
