"""
Gradual magnitude pruning of a small network
============================================

``pruning=`` takes a pruning schedule: at its pruning steps the optimizer keeps the
largest-magnitude parameters and pins the others to exactly zero, with their gradients and
optimizer state, so they cannot grow back. This example trains a 64-64-10 network on
scikit-learn's digits data while pruning its weight matrices gradually to a target
sparsity, and plots the test accuracy reached at each target. One optimizer steps the
four arrays; ``pruning`` takes one entry per array (the rule of every per-array option:
one value for all, or one entry per array, None meaning off), so the weight matrices are
pruned and the biases stay dense.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import fastopt

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
n_hidden, epochs, batch = 64, 30, 32
steps_per_epoch = len(y_train) // batch


def forward(W1, b1, W2, b2, X):
    h = np.tanh(X @ W1 + b1)
    return h, h @ W2 + b2


def gradients(W1, b1, W2, b2, X, y):
    """Gradients of the mean cross-entropy with respect to W1, b1, W2, b2."""
    h, z = forward(W1, b1, W2, b2, X)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    dz = p / len(y)
    dh = (dz @ W2.T) * (1.0 - h**2)
    return X.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)


def train(final_sparsity, seed=0):
    """Train with the weights pruned to ``final_sparsity``; returns the test accuracy, the
    weights' sparsity, its history per epoch and the parameters."""
    rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((64, n_hidden)) / 8.0
    W2 = rng.standard_normal((n_hidden, 10)) / np.sqrt(n_hidden)
    b1, b2 = np.zeros(n_hidden), np.zeros(10)
    total = epochs * steps_per_epoch
    schedule = fastopt.PolynomialDecay(0.0, final_sparsity, begin_step=total // 10,
                                       end_step=total * 2 // 3, frequency=steps_per_epoch)
    # The weights are pruned (one schedule prunes both); the biases stay dense (None).
    opt = fastopt.Adam([W1, b1, W2, b2], learning_rate=0.01,
                       pruning=[schedule, None, schedule, None])
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(y_train))
        for start in range(0, steps_per_epoch * batch, batch):
            rows = order[start:start + batch]
            opt.step(gradients(W1, b1, W2, b2, X_train[rows], y_train[rows]))
        history.append(fastopt.sparsity.sparsity([W1, W2]))
    accuracy = np.mean(forward(W1, b1, W2, b2, X_test)[1].argmax(1) == y_test)
    return accuracy, history[-1], history, (W1, b1, W2, b2)


targets = [0.0, 0.5, 0.75, 0.9, 0.95, 0.98]
results = [train(s) for s in targets]
for s, (accuracy, sparsity, *_) in zip(targets, results):
    print(f"target {s:4.0%}: weights {sparsity:6.1%} zero, test accuracy {accuracy:.3f}")

# %%
# The weights reach each target exactly (the kept count is exact); accuracy holds up to
# high sparsity on this small problem, then falls when too few weights remain.

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot([100 * r[1] for r in results], [r[0] for r in results], "o-")
ax1.set(xlabel="weights pruned (%)", ylabel="test accuracy", title="Accuracy vs sparsity")
for s, (_, _, history, _) in zip(targets, results):
    ax2.plot(np.arange(1, epochs + 1), history, label=f"{s:.0%}")
ax2.set(xlabel="epoch", ylabel="sparsity of the weights", title="Pruning schedule")
ax2.legend(title="target", fontsize="small")
fig.tight_layout()
plt.show()

# %%
# The pruned weight matrices convert to ``scipy.sparse`` for inference, with the same
# predictions:

accuracy, _, _, (W1, b1, W2, b2) = results[targets.index(0.9)]
W1_csr, W2_csr = fastopt.to_csr(W1), fastopt.to_csr(W2)        # scipy.sparse.csr_array
logits = (W2_csr.T @ np.tanh((W1_csr.T @ X_test.T).T + b1).T).T + b2
print(f"{W1_csr.nnz + W2_csr.nnz} of {W1.size + W2.size} weights stored; test accuracy "
      f"{np.mean(logits.argmax(1) == y_test):.3f} (dense: {accuracy:.3f})")
