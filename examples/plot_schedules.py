"""
Learning-rate schedules and the LR finder
=========================================

A schedule is a callable ``schedule(step) -> learning_rate``; every optimizer and
``fastopt.minimize`` take one in place of a constant rate. This example draws the book's
five schedules (power, exponential, piecewise constant, performance scheduling with
``ReduceLROnPlateau``, 1cycle) next to cosine decay with warm-up, then runs the
learning-rate finder on a real problem: a small network on the digits data.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import fastopt

steps = np.arange(1000)
schedules = {
    "PowerDecay": fastopt.PowerDecay(0.01, decay_steps=100, power=1.0),
    "ExponentialDecay": fastopt.ExponentialDecay(0.01, decay_steps=500),
    "PiecewiseConstant": fastopt.PiecewiseConstant([300, 700], [0.01, 0.005, 0.001]),
    "OneCycle": fastopt.OneCycle(0.01, total_steps=1000),
    "CosineDecay + warm-up": fastopt.CosineDecay(0.0, 900, warmup_steps=100,
                                                 warmup_target=0.01),
}

# %%
# ``ReduceLROnPlateau`` depends on the loss, so it is drawn from a run: plain SGD on a
# noisy quadratic, telling the schedule the loss after each step with ``opt.report``.

rng = np.random.default_rng(0)
w = np.ones(10)
opt = fastopt.SGD(w, learning_rate=fastopt.ReduceLROnPlateau(0.01, factor=0.5,
                                                              patience=50))
plateau = []
for _ in steps:
    plateau.append(opt.learning_rate_now)
    opt.step(w + 0.3 * rng.standard_normal(10))       # gradient of |w|^2 / 2, plus noise
    opt.report(0.5 * w @ w)

fig, ax = plt.subplots(figsize=(8, 4))
for label, schedule in schedules.items():
    ax.plot(steps, [schedule(int(t)) for t in steps], label=label)
ax.plot(steps, plateau, label="ReduceLROnPlateau (from a run)")
ax.set(xlabel="step", ylabel="learning rate", title="Schedules, 1000 steps")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
fig.tight_layout()
plt.show()

# %%
# The learning-rate finder
# ------------------------
# ``find_learning_rate`` trains with a rate that grows exponentially from ``lr_min`` to
# ``lr_max`` and records the loss after each update; it suggests a tenth of the rate where
# the smoothed loss is lowest. The problem: a 64-32-10 softmax network on scikit-learn's
# digits data, in minibatches of 32 rows.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
n_in, n_hidden, n_out = 64, 32, 10
shapes = [(n_in, n_hidden), (n_hidden,), (n_hidden, n_out), (n_out,)]
sizes = [int(np.prod(s)) for s in shapes]


def unpack(theta):
    return [part.reshape(s) for part, s in zip(np.split(theta, np.cumsum(sizes)[:-1]),
                                                shapes)]


def loss_and_grad(theta, X, y):
    """Mean cross-entropy of the network over the rows given, and its gradient."""
    W1, b1, W2, b2 = unpack(theta)
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p
    dz[np.arange(n), y] -= 1.0
    dz /= n
    dh = (dz @ W2.T) * (1.0 - h**2)
    return loss, np.concatenate([(X.T @ dh).ravel(), dh.sum(0), (h.T @ dz).ravel(),
                                 dz.sum(0)])


theta0 = np.concatenate([rng.standard_normal(n_in * n_hidden) / np.sqrt(n_in),
                         np.zeros(n_hidden),
                         rng.standard_normal(n_hidden * n_out) / np.sqrt(n_hidden),
                         np.zeros(n_out)])
lrf = fastopt.find_learning_rate(loss_and_grad, theta0, args=(X_train, y_train),
                                 method="adam", jac=True, lr_min=1e-5, lr_max=10.0,
                                 options={"batch_size": 32, "seed": 0})
print(f"suggested learning rate: {lrf.suggestion:.3g} ({lrf.stop_reason})")
fig, ax = plt.subplots(figsize=(6, 4))
fastopt.plot_lr_finder(lrf, ax=ax)
plt.show()

# %%
# Training with the suggested rate for five epochs:

res = fastopt.minimize(loss_and_grad, theta0, args=(X_train, y_train), method="adam",
                       jac=True, options={"learning_rate": lrf.suggestion,
                                          "batch_size": 32, "epochs": 5, "seed": 0})
W1, b1, W2, b2 = unpack(res.x)
accuracy = np.mean(np.argmax(np.tanh(X_test @ W1 + b1) @ W2 + b2, axis=1) == y_test)
print(f"training loss {res.fun:.3f}, test accuracy {accuracy:.3f}")
