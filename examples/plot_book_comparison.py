"""
The book's comparison: momentum, Nesterov and AdaGrad
=====================================================

*Hands-On Machine Learning* (ch. 11) explains the faster optimizers on an elongated bowl,
a quadratic whose curvature differs a lot between directions: plain gradient descent zigzags
across the narrow valley, momentum builds up speed along it, Nesterov's look-ahead damps the
overshoot, and AdaGrad scales each coordinate so that it heads straight for the minimum.

This example draws those trajectories with optimizer objects, then the learning curves of
every method on a 10-dimensional bowl with ``fastopt.minimize``, using the learning rates of
``fastopt compare``'s table.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastopt
from fastopt.compare import METHODS, learning_rate

# %%
# Trajectories on a 2-D bowl
# --------------------------
# f(x) = (x_1^2 + 10 x_2^2) / 2, from (-4, 1). Each optimizer updates ``x`` in place; the
# loop keeps a copy of every iterate.

c = np.array([1.0, 10.0])


def bowl_grad(x):
    return c * x


def trajectory(make_optimizer, steps=60):
    x = np.array([-4.0, 1.0])
    opt = make_optimizer(x)
    path = [x.copy()]
    for _ in range(steps):
        opt.step(bowl_grad(x))
        path.append(x.copy())
    return np.array(path)


paths = {
    "gradient descent": trajectory(lambda x: fastopt.SGD(x, learning_rate=0.15)),
    "momentum": trajectory(lambda x: fastopt.SGD(x, learning_rate=0.03, momentum=0.8)),
    "Nesterov": trajectory(lambda x: fastopt.SGD(x, learning_rate=0.03, momentum=0.8,
                                                 nesterov=True)),
    "AdaGrad": trajectory(lambda x: fastopt.Adagrad(x, learning_rate=0.6)),
}

u, v = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-1.5, 1.5, 120))
fig, ax = plt.subplots(figsize=(7, 4))
ax.contour(u, v, 0.5 * (c[0] * u**2 + c[1] * v**2), levels=np.geomspace(0.01, 20, 12),
           colors="0.8", linewidths=0.8)
for label, path in paths.items():
    ax.plot(path[:, 0], path[:, 1], marker=".", markersize=3, label=label)
ax.plot(0, 0, "k*", markersize=10)
ax.set(xlabel="$x_1$", ylabel="$x_2$", title="60 steps on an elongated bowl")
ax.legend(loc="lower right")
plt.show()

# %%
# Learning curves of every method
# -------------------------------
# The 10-D bowl with condition number 100 is ``fastopt compare``'s ``bowl-100`` problem;
# its learning rates come from the table the comparison uses
# (:data:`fastopt.compare.HYPERPARAMS`). The callback records the objective at every
# iterate.

dim = 10
cd = np.logspace(0, 2, dim)


def bowl10(x):
    return 0.5 * cd @ x**2, cd * x


x0 = (-1.0) ** np.arange(dim) * np.linspace(1.0, 2.0, dim)


def learning_curve(method):
    """Run ``method`` from x0; returns the result and f at every iterate."""
    curve = []

    def record(intermediate_result):      # the argument's name asks for the result object
        curve.append(intermediate_result.fun)

    res = fastopt.minimize(bowl10, x0, method=method, jac=True, callback=record,
                           options={"learning_rate": learning_rate("bowl-100", method),
                                    "maxiter": 2000, "gtol": 1e-8})
    return res, curve


fig, ax = plt.subplots(figsize=(7, 4))
for method in METHODS:
    res, curve = learning_curve(method)
    ax.plot(np.arange(1, len(curve) + 1), curve, label=f"{method} ({res.nit} steps)")
ax.set(xscale="log", yscale="log", xlabel="step", ylabel="f(x)",
       title="10-D elongated bowl, condition number 100")
ax.legend(ncols=2, fontsize="small")
plt.show()
