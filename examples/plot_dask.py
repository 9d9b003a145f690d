"""
Training on data in a Dask cluster
==================================

``fastopt.distributed.minimize`` takes ``fastopt.minimize``'s arguments with ``args`` as
Dask arrays chunked by rows. The chunks stay on the workers that hold them; only ``x``, the
gradients and a few numbers travel. Two strategies:

- ``strategy="sync"``: every step combines the gradients of all chunks, so the iterates are
  ``fastopt.minimize``'s own;
- ``strategy="local"``: each chunk's replica takes ``sync_every`` steps on its own rows,
  then the driver averages them (local SGD): one round trip per ``sync_every`` steps.

The cluster here is a small ``LocalCluster`` in this process (``processes=False``), so the
example runs anywhere; with a real cluster, pass its ``Client``. With worker processes,
keep the cluster's start under ``if __name__ == "__main__":``.
"""

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

import fastopt
import fastopt.distributed as fd

rng = np.random.default_rng(0)
n, d = 20_000, 50
w_true = np.where(np.arange(d) < 5, 2.0, 0.0)               # 5 informative features
X_np = rng.standard_normal((n, d))
y_np = (X_np @ w_true + rng.logistic(size=n) > 0).astype(float)


def logloss(w, X, y):
    """Mean log-loss over the rows it is given, and its gradient."""
    z = X @ w
    return (np.mean(np.logaddexp(0.0, z) - y * z),
            X.T @ (0.5 * (1.0 + np.tanh(z / 2)) - y) / len(y))


def recorder(curve):
    """A callback that appends (step, objective) to ``curve``."""
    def record(intermediate_result):
        curve.append((intermediate_result.nit, intermediate_result.fun))
    return record


options = {"learning_rate": 0.05, "l1": 0.02}
curves = {}
with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                  dashboard_address=":0") as cluster, Client(cluster) as client:
    X = da.from_array(X_np, chunks=(5_000, -1))             # 4 chunks of 5,000 rows
    y = da.from_array(y_np, chunks=5_000)

    curves["sync, full batch"] = []
    res = fd.minimize(logloss, np.zeros(d), args=(X, y), method="adam", jac=True,
                      callback=recorder(curves["sync, full batch"]),
                      options={**options, "maxiter": 150}, client=client)
    print(f"sync:  {res.nit} steps, objective {res.fun:.4f}, nonzeros {res.nnz}, "
          f"{res.comm}")

    curves["local, sync_every=10"] = []
    res = fd.minimize(logloss, np.zeros(d), args=(X, y), method="adam", jac=True,
                      strategy="local", sync_every=10,
                      callback=recorder(curves["local, sync_every=10"]),
                      options={**options, "batch_size": 250, "epochs": 2, "seed": 0},
                      client=client)
    print(f"local: {res.nit} steps, objective {res.fun:.4f}, nonzeros {res.nnz}, "
          f"{res.comm}")

# %%
# The same full-batch run in this process, with ``fastopt.minimize`` on the NumPy arrays,
# follows the sync run's iterates:

curves["fastopt.minimize, one process"] = []
res = fastopt.minimize(logloss, np.zeros(d), args=(X_np, y_np), method="adam", jac=True,
                       callback=recorder(curves["fastopt.minimize, one process"]),
                       options={**options, "maxiter": 150})
print(f"one process: objective {res.fun:.4f}, nonzeros {res.nnz}")

# %%
# The one-process curve lies on the sync one. The local run's callback is called once per
# round, with the minibatch estimate of the objective at the round's start: hence its
# noise. Both strategies keep the 5 informative features and zero the others.

fig, ax = plt.subplots(figsize=(7, 4))
for (label, curve), style in zip(curves.items(), ["-", "o-", ":"]):
    steps, values = np.array(curve).T
    ax.plot(steps, values, style, markersize=3, label=label)
ax.set(xlabel="step", ylabel="objective (log-loss + l1)", yscale="log",
       title="l1 logistic regression on 4 chunks, 2 workers")
ax.legend()
plt.show()
