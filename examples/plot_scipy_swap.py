"""
Adam and Nadam in ``scipy.optimize.minimize``
=============================================

Every fastopt method is a scipy custom method: an existing ``scipy.optimize.minimize`` call
switches from L-BFGS-B to Adam by changing ``method``, and keeps its bounds, its callback
and its ``OptimizeResult``.

The objective here is a least-squares fit measured on a random quarter of the data at
each call, so both its value and its gradient are noisy, as a minibatch loss is. L-BFGS-B
builds a curvature model from gradient differences and searches along a line for a
decrease: noise breaks both, and it stops early. Adam and Nadam only follow averaged
gradients, so the noise averages out.
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.optimize as so

import fastopt

rng = np.random.default_rng(0)
A = rng.standard_normal((400, 20))
x_true = rng.uniform(-0.5, 1.5, 20)
b = A @ x_true + 0.1 * rng.standard_normal(400)


def noisy_loss(x):
    """Mean squared residual on 100 random rows, and its gradient."""
    rows = rng.choice(len(b), 100, replace=False)
    r = A[rows] @ x - b[rows]
    return 0.5 * r @ r / len(rows), A[rows].T @ r / len(rows)


def true_loss(x):
    r = A @ x - b
    return 0.5 * r @ r / len(b)


bounds = so.Bounds(0.0, 1.0)           # the fit must stay in the unit box
x0 = np.full(20, 0.5)

# %%
# The same call three times; only ``method`` (and its options) change. The callback
# records the noise-free loss at every iterate. A cosine-decayed learning rate lets the
# last steps average the noise away.

def run(method, options):
    """One scipy.optimize.minimize call; returns its result and the noise-free curve."""
    curve = []
    res = so.minimize(noisy_loss, x0, jac=True, method=method, bounds=bounds,
                      callback=lambda xk: curve.append(true_loss(xk)), options=options)
    return res, curve


curves = {}
for label, method, options in [
        ("L-BFGS-B", "L-BFGS-B", {"maxiter": 300}),
        ("Adam", fastopt.adam, {"learning_rate": fastopt.CosineDecay(0.05, 300),
                                 "maxiter": 300}),
        ("Nadam", fastopt.nadam, {"learning_rate": fastopt.CosineDecay(0.05, 300),
                                   "maxiter": 300})]:
    res, curves[label] = run(method, options)
    print(f"{label:9s} nit={res.nit:4d}  loss={true_loss(res.x):.4f}  {res.message}")

best = so.minimize(true_loss, x0, method="L-BFGS-B", bounds=bounds).fun
print(f"noise-free optimum in the box: {best:.4f}")

# %%
# L-BFGS-B stops after a few iterations, far from the optimum; Adam and Nadam reach it to
# within the noise.

fig, ax = plt.subplots(figsize=(6, 4))
for label, curve in curves.items():
    ax.plot(np.arange(1, len(curve) + 1), np.array(curve) - best, label=label,
            marker="o" if len(curve) < 20 else None)
ax.set(xlabel="iteration", ylabel="loss - optimum (noise-free)", yscale="log",
       title="A noisy objective with bounds")
ax.legend()
plt.show()
