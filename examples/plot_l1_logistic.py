"""
Sparse logistic regression: an l1 regularization path
=====================================================

The ``l1`` option adds the proximal soft-threshold to every update, so coefficients
become exactly zero. This example fits l1-penalized logistic regression on scikit-learn's
breast-cancer data (569 tumours, 30 features) for a sequence of penalties, each fit started
from the previous solution (a warm start), and checks one point of the path against
scikit-learn's own solver: the same objective and the same selected features.

The objective is the mean log-loss plus ``lam * ||w||_1``; the intercept is not
penalized (its ``l1`` strength is 0).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import fastopt

data = load_breast_cancer()
X = StandardScaler().fit_transform(data.data)
y = data.target.astype(float)
n, d = X.shape


def logloss(theta, X, y):
    """Mean log-loss of the coefficients theta[:-1] and intercept theta[-1], and its
    gradient."""
    z = X @ theta[:-1] + theta[-1]
    residual = 0.5 * (1.0 + np.tanh(z / 2)) - y            # sigmoid(z) - y, overflow-free
    return (np.mean(np.logaddexp(0.0, z) - y * z),
            np.append(X.T @ residual, residual.sum()) / n)


def objective(theta, lam):
    return logloss(theta, X, y)[0] + lam * np.abs(theta[:-1]).sum()


# %%
# The path
# --------
# Above ``lam_max`` every coefficient is zero. Each fit is a full-batch proximal gradient
# method with momentum, stopped when the minimum-norm subgradient is below ``gtol``; the
# learning rate is 1 / L, L the gradient's Lipschitz bound ``||X||^2 / (4 n)``.

lam_max = np.abs(X.T @ (y - y.mean())).max() / n
lams = lam_max * np.geomspace(1.0, 0.01, 20)
lr = 4.0 * n / np.linalg.norm(np.column_stack([X, np.ones(n)]), 2) ** 2

theta = np.zeros(d + 1)
path, iterations = [], []
for lam in lams:
    res = fastopt.minimize(logloss, theta, args=(X, y), method="momentum", jac=True,
                           options={"learning_rate": lr, "l1": np.append(np.full(d, lam), 0.0),
                                    "gtol": 1e-6, "maxiter": 20000})
    theta = res.x                                           # warm start for the next lam
    path.append(theta.copy())
    iterations.append(res.nit)
path = np.array(path)                                       # one row per lam
print(f"{sum(iterations)} iterations for {len(lams)} penalties; "
      f"features kept: {[int(np.count_nonzero(p[:-1])) for p in path[::4]]} ...")

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(lams, path[:, :-1])
ax.set(xscale="log", xlabel="lam (l1 strength)", ylabel="coefficient",
       title="l1 logistic regression path, breast-cancer data")
ax.invert_xaxis()
plt.show()

# %%
# Against scikit-learn
# --------------------
# scikit-learn's ``LogisticRegression`` minimizes ``C * sum(log-loss) + ||w||_1``, the same
# problem scaled by ``C * n`` when ``C = 1 / (n * lam)``. Its saga solver, run to a tight
# tolerance, gives the reference solution at one penalty of the path, to compare with the
# warm-started fit there.

k = 10
lam = lams[k]
sk = LogisticRegression(C=1.0 / (n * lam), l1_ratio=1.0, solver="saga", tol=1e-10,
                        max_iter=20000).fit(X, y)
theta_sk = np.append(sk.coef_.ravel(), sk.intercept_)
theta_fo = path[k]                                          # the warm-started fit
print(f"lam = {lam:.4g}")
print(f"objective  fastopt {objective(theta_fo, lam):.10f}  scikit-learn "
      f"{objective(theta_sk, lam):.10f}")
print(f"support    fastopt {np.flatnonzero(theta_fo[:-1]).tolist()}")
print(f"           sklearn {np.flatnonzero(sk.coef_.ravel()).tolist()}")
print(f"largest coefficient difference {np.abs(theta_fo - theta_sk).max():.2e}")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(np.arange(d) - 0.2, sk.coef_.ravel(), width=0.4, label="scikit-learn (saga)")
ax.bar(np.arange(d) + 0.2, theta_fo[:-1], width=0.4, label="fastopt (momentum + l1 prox)")
ax.set(xlabel="feature", ylabel="coefficient", title=f"Solutions at lam = {lam:.3g}")
ax.legend()
plt.show()
