"""Coverage-guided fuzz target for fastopt's public optimizer API (atheris).

    pip install atheris && python fuzz/fuzz_kernels.py -max_total_time=600 fuzz/corpus

Bytes are decoded (by ``decode``, which needs no atheris, so ``tests/test_fuzz_corpus.py``
replays saved inputs) into a rule, dtypes, a shape and memory layout, hyperparameters
drawn from a table of awkward values (NaN, +-inf, subnormals, 1e308, 0, negatives) and array
values, then an optimizer is built and stepped.  Invariants checked by ``check``:

* only TypeError, ValueError or FloatingPointError escape (clear errors), never a crash;
* the parameter array keeps its shape and dtype and is updated in place;
* NaN isolation: with nan_policy="propagate" and no norm clipping, a non-finite gradient
  entry changes only its own coordinate (the run equals one where that entry is 0 elsewhere).
"""

import struct
import sys

import numpy as np

RULES = ["SGD", "Adagrad", "RMSprop", "Adam", "Adamax", "Nadam"]
DTYPES = [np.float64, np.float32, np.float16, np.int32, np.complex64, ">f8", bool]
AWKWARD = [0.0, 1e-3, 0.1, 0.9, 1.0, 2.0, -1.0, float("nan"), float("inf"), -float("inf"),
           5e-324, 1e-310, 1e308, 1e-8, 0.999, None]
OPTIONS = ["learning_rate", "weight_decay", "l2", "l1", "clipvalue", "clipnorm",
           "global_clipnorm", "momentum", "epsilon", "beta_1", "rho"]
CLEAN_ERRORS = (TypeError, ValueError, FloatingPointError)


class Bytes:
    """A tiny reader over the input: running out yields zeros."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def byte(self):
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def pick(self, seq):
        return seq[self.byte() % len(seq)]

    def double(self):
        chunk = self.data[self.pos:self.pos + 8].ljust(8, b"\0")
        self.pos += 8
        return struct.unpack("<d", chunk)[0]


def decode(data):
    """bytes -> (class, kwargs, x, grads, layout) for one fuzz case."""
    import fastopt                       # imported here so that main() can instrument it

    r = Bytes(data)
    cls = getattr(fastopt, r.pick(RULES))
    pdtype, gdtype = r.pick(DTYPES), r.pick(DTYPES)
    shape = tuple(r.byte() % 6 for _ in range(r.byte() % 3))
    layout = r.pick(["c", "f", "reversed", "readonly", "strided"])
    kwargs = {}
    for _ in range(r.byte() % 4):
        kwargs[r.pick(OPTIONS)] = r.pick(AWKWARD)
    kwargs["nan_policy"] = r.pick(["propagate", "skip", "raise"])
    kwargs["num_threads"] = r.pick([None, 1, 2])
    n = int(np.prod(shape)) if shape else 1
    values = [r.double() for _ in range(min(n, 64))]
    values += [0.0] * (n - len(values))
    x = np.array(values[:n], dtype=np.float64).reshape(shape)
    steps = 1 + r.byte() % 3
    grads = [np.array([r.pick(AWKWARD[:-1]) if r.byte() % 2 else r.double()
                       for _ in range(n)], dtype=np.float64).reshape(shape)
             for _ in range(steps)]
    with np.errstate(all="ignore"):
        x = x.astype(pdtype)
        grads = [g.astype(gdtype) for g in grads]
    if layout == "f" and x.ndim > 1:
        x = np.asfortranarray(x)
    elif layout == "reversed" and x.ndim:
        x = x[::-1]
    elif layout == "strided" and x.ndim:
        x = np.repeat(x, 2, axis=0)[::2]
    elif layout == "readonly":
        x.flags.writeable = False
    return cls, kwargs, x, grads


def check(data):
    cls, kwargs, x, grads = decode(data)
    try:
        opt = cls(x, **kwargs)
    except CLEAN_ERRORS:
        return
    before = x.copy()
    for g in grads:
        try:
            opt.step(g)
        except CLEAN_ERRORS:
            return
    assert x.shape == before.shape and x.dtype == before.dtype
    assert opt.params[0] is x
    isolated = (kwargs["nan_policy"] == "propagate" and kwargs.get("clipnorm") is None
                and kwargs.get("global_clipnorm") is None)
    if not isolated or x.size == 0:
        return
    with np.errstate(all="ignore"):
        bad = ~np.isfinite(np.asarray(grads, dtype=np.float64)).all(axis=0)
    if not bad.any():
        return
    clean = [np.where(bad, 0, g) for g in grads]
    y = before.copy()
    other = cls(y, **kwargs)
    for g in clean:
        other.step(g)
    np.testing.assert_array_equal(x[~bad], y[~bad])


def main():
    import atheris

    with atheris.instrument_imports(include=["fastopt"]):   # coverage of the Python layer
        import fastopt  # noqa: F401
    atheris.Setup(sys.argv, lambda data: check(bytes(data)))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
