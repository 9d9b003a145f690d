"""Minibatches in every front end (fastopt.minimize, find_learning_rate, the Dask front end):
how an epoch is cut into batches (the rows left over join the last batch, or drop_last
leaves them out), the epoch-mean loss, and rows taken by position whatever the array type
(pandas objects index by label, so they are sliced with .iloc)."""

import numpy as np
import pytest

import fastopt
from fastopt.lr_finder import find_learning_rate

ENTRIES = ["minimize", "find_learning_rate"]


def rows_seen(n, batch_size, entry="minimize", epochs=3, **options):
    """The row ids of every batch fun was called with, per call, for n rows."""
    ids = np.arange(n)
    seen = []

    def fun(x, ids):
        seen.append(np.asarray(ids).copy())
        return float(x @ x), 2 * x

    options = {"batch_size": batch_size, "seed": 0, "learning_rate": 0.01, **options}
    if entry == "minimize":
        fastopt.minimize(fun, np.ones(2), args=(ids,), jac=True, method="sgd",
                         options={**options, "epochs": epochs})
    else:
        # the finder runs num_steps + 1 updates, one past the sweep's length
        steps = epochs * max(n // batch_size, 1) - 1
        find_learning_rate(fun, np.ones(2), "sgd", jac=True, args=(ids,), num_steps=steps,
                           options={k: v for k, v in options.items() if k != "learning_rate"},
                           diverge_factor=1e300)
    return seen


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("n, batch_size, sizes", [
    (10, 4, [4, 6]),                 # 10 = 2 * 4 + 2: the 2 rows left over join the last batch
    (12, 4, [4, 4, 4]),
    (3, 4, [3]),                     # fewer rows than batch_size: one batch of all of them
    (1348, 32, [32] * 41 + [36]),    # the digits problem of `fastopt compare`
])
def test_every_row_once_per_epoch(entry, n, batch_size, sizes):
    """Without drop_last no batch is shorter than batch_size (unless n is), and each epoch
    uses every row exactly once."""
    epochs = 3
    seen = rows_seen(n, batch_size, entry, epochs=epochs)
    assert [len(b) for b in seen] == sizes * epochs
    for e in range(epochs):
        epoch = np.concatenate(seen[e * len(sizes):(e + 1) * len(sizes)])
        np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
    if n > batch_size:                           # shuffled: other orders each epoch
        assert not np.array_equal(seen[0], seen[len(sizes)])


@pytest.mark.parametrize("entry", ENTRIES)
def test_drop_last(entry):
    """drop_last=True (torch's DataLoader): batches of batch_size rows only; the rows left
    over are left out of the epoch, other ones each epoch under shuffling, the last ones
    without it."""
    n, batch_size, epochs = 10, 4, 6
    seen = rows_seen(n, batch_size, entry, epochs=epochs, drop_last=True)
    assert [len(b) for b in seen] == [4, 4] * epochs
    dropped = [set(range(n)) - set(np.concatenate(seen[2 * e:2 * e + 2]))
               for e in range(epochs)]
    assert all(len(d) == 2 for d in dropped)
    assert len({frozenset(d) for d in dropped}) > 1
    seen = rows_seen(n, batch_size, entry, epochs=2, drop_last=np.True_, shuffle=False)
    assert [b.tolist() for b in seen] == [[0, 1, 2, 3], [4, 5, 6, 7]] * 2


@pytest.mark.parametrize("drop_last, batches", [(False, [range(0, 4), range(4, 10)]),
                                                (True, [range(0, 4), range(4, 8)])])
def test_epoch_mean_loss(drop_last, batches):
    """res.fun with minibatches is the epoch's mean loss over the rows it used: each batch's
    loss (at the point where it was evaluated) weighted by its rows; computed here by hand
    from plain SGD steps."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((10, 3)), rng.standard_normal(10)
    lr = 0.1

    def lsq(w, X, y):
        r = X @ w - y
        return 0.5 * float(r @ r) / len(y), X.T @ r / len(y)

    res = fastopt.minimize(lsq, np.zeros(3), args=(X, y), jac=True, method="sgd",
                           options={"learning_rate": lr, "batch_size": 4, "epochs": 1,
                                    "shuffle": False, "drop_last": drop_last})
    w, total, rows = np.zeros(3), 0.0, 0
    for b in batches:
        idx = list(b)
        r = X[idx] @ w - y[idx]
        total += 0.5 * float(r @ r)              # the batch mean times its rows
        rows += len(idx)
        w = w - lr * X[idx].T @ r / len(idx)
    assert res.nit == len(batches)
    assert res.fun == pytest.approx(total / rows, rel=1e-12)
    np.testing.assert_allclose(res.x, w, rtol=1e-12)


@pytest.mark.parametrize("value, exc, message", [
    ("False", TypeError, r"^Invalid drop_last: 'False' \(expected True or False\)$"),
    (1, TypeError, r"^Invalid drop_last: 1 "),
    (None, TypeError, r"^Invalid drop_last: None "),
])
def test_bad_drop_last(value, exc, message):
    def never_called(x, X):
        raise AssertionError("fun must not be called")
    with pytest.raises(exc, match=message):
        fastopt.minimize(never_called, np.ones(2), args=(np.ones((8, 2)),), jac=True,
                         options={"batch_size": 4, "drop_last": value})


def test_drop_last_without_a_whole_batch():
    with pytest.raises(ValueError, match=r"^drop_last with batch_size=4 and 3 rows leaves no "
                                         r"batch$"):
        fastopt.minimize(lambda x, X: (0.0, x), np.ones(2), args=(np.ones((3, 2)),),
                         jac=True, options={"batch_size": 4, "drop_last": True})


# ------------------------------------------------------------------ rows by position
class PandasLike:
    """pandas' indexing without pandas: ``obj[key]`` selects by label (a Series: its index
    labels; a DataFrame: its column labels, a KeyError for others), ``obj.iloc[key]`` by
    position; ``np.asarray(obj)`` gives the values in row order."""

    def __init__(self, values, index):
        self.values, self.index = np.asarray(values), np.asarray(index)
        self.shape = self.values.shape

    def __getitem__(self, key):
        if self.values.ndim == 2:
            columns = np.atleast_1d(key)
            if not np.isin(columns, np.arange(self.shape[1])).all():
                raise KeyError(f"None of [Index({columns.tolist()})] are in the [columns]")
            return PandasLike(self.values[:, columns], self.index)
        where = {label: i for i, label in enumerate(self.index.tolist())}
        rows = [where[label] for label in np.atleast_1d(key).tolist()]
        return PandasLike(self.values[rows], self.index[rows])

    @property
    def iloc(self):
        outer = self

        class ILoc:
            def __getitem__(self, key):
                return PandasLike(outer.values[key], outer.index[key])
        return ILoc()

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def shuffled_data(n=60, d=3, seed=0):
    """X and y = X[:, 0] as shuffled pandas-likes (df.sample(frac=1): the index labels are
    a permutation of the positions), and the same data as NumPy arrays."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    labels = rng.permutation(n)
    return (PandasLike(X, labels), PandasLike(X[:, 0], labels)), (X, X[:, 0].copy())


def paired_lsq(w, X, y):
    """Least squares of y on X, after checking that the batch pairs every row of X with its
    own y (y is X's first column)."""
    X, y = np.asarray(X), np.asarray(y)
    np.testing.assert_array_equal(y, X[:, 0])
    r = X @ w - y
    return 0.5 * float(r @ r) / len(y), X.T @ r / len(y)


def test_stand_in_has_pandas_label_semantics():
    (Xp, yp), (X, y) = shuffled_data()
    idx = np.array([0, 5, 7])
    assert not np.array_equal(np.asarray(yp[idx]), y[idx])       # labels, not positions
    np.testing.assert_array_equal(np.asarray(yp.iloc[idx]), y[idx])
    with pytest.raises(KeyError):
        Xp[np.array([0, 5, 50])]


def test_minimize_slices_pandas_objects_by_position():
    """Minibatches of a shuffled DataFrame and Series keep X's rows with their own y, and
    give the run of the same data as NumPy arrays."""
    pandas_args, numpy_args = shuffled_data()
    opts = {"batch_size": 8, "epochs": 3, "seed": 0, "learning_rate": 0.05}
    ref = fastopt.minimize(paired_lsq, np.zeros(3), args=numpy_args, jac=True, options=opts)
    res = fastopt.minimize(paired_lsq, np.zeros(3), args=pandas_args, jac=True, options=opts)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)
    assert res.fun == pytest.approx(ref.fun, rel=1e-12) and res.nit == ref.nit == 3 * 7


def test_find_learning_rate_slices_pandas_objects_by_position():
    pandas_args, numpy_args = shuffled_data()
    opts = {"batch_size": 8, "seed": 0}
    ref = find_learning_rate(paired_lsq, np.zeros(3), "sgd", jac=True, args=numpy_args,
                             num_steps=20, options=opts)
    res = find_learning_rate(paired_lsq, np.zeros(3), "sgd", jac=True, args=pandas_args,
                             num_steps=20, options=opts)
    np.testing.assert_allclose(res.losses, ref.losses, rtol=1e-12)
    assert len(res.losses) == len(ref.losses) > 0


def test_real_pandas_objects():
    pd = pytest.importorskip("pandas")
    _, (X, y) = shuffled_data()
    df = pd.DataFrame(X).sample(frac=1, random_state=0)
    s = df[0]
    opts = {"batch_size": 8, "epochs": 2, "seed": 0, "learning_rate": 0.05}
    ref = fastopt.minimize(paired_lsq, np.zeros(3), args=(df.to_numpy(), s.to_numpy()),
                           jac=True, options=opts)
    res = fastopt.minimize(paired_lsq, np.zeros(3), args=(df, s), jac=True, options=opts)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)


def test_dask_front_end_takes_rows_by_position():
    """The Dask front end, both strategies: chunks that index by label (pandas-like), one
    chunk or several, merged and dropped remainders; one chunk gives minimize's run."""
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    import fastopt.distributed as fd

    (Xp, yp), (X, y) = shuffled_data(n=30)
    labels = Xp.index

    def as_pandas(block, block_info=None):
        start, stop = block_info[0]["array-location"][0]
        return PandasLike(block, labels[start:stop])

    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        for drop_last, steps in ((False, 30 // 8), (True, 30 // 8)):
            opts = {"batch_size": 8, "epochs": 2, "seed": 0, "learning_rate": 0.05,
                    "drop_last": drop_last}
            ref = fastopt.minimize(paired_lsq, np.zeros(3), args=(X, y), jac=True,
                                   options=opts)
            for rows in (30, 10):
                Xd = da.from_array(X, chunks=(rows, -1)).map_blocks(
                    as_pandas, meta=np.empty((0, 3)))
                yd = da.from_array(y, chunks=rows).map_blocks(as_pandas, meta=np.empty(0))
                res = fd.minimize(paired_lsq, np.zeros(3), args=(Xd, yd), jac=True,
                                  client=client, options=opts)
                assert res.status == 0 and res.nit == 2 * steps
                if rows == 30:
                    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)
                local = fd.minimize(paired_lsq, np.zeros(3), args=(Xd, yd), jac=True,
                                    client=client, strategy="local", sync_every=2,
                                    options=opts)
                assert local.status == 0 and local.nit == 2 * steps
