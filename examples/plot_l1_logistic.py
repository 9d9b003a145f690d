"""
Sparse logistic regression: an l1 regularization path
=====================================================

:class:`fastopt.linear_model.LogisticRegression` is a scikit-learn estimator over
fastopt's proximal steps: it minimizes scikit-learn's objective, here the l1-penalized
``C * sum(log-loss) + ||w||_1`` (``l1_ratio=1``), whose l1 part is the kernel's exact
proximal step, so coefficients become exactly zero. This example follows the
regularization path on scikit-learn's breast-cancer data (569 tumours, 30 features) with
:func:`~fastopt.linear_model.l1_path`, which fits a sequence of ``C`` values each from the
previous solution (a warm start), and checks one point of the path against scikit-learn's
own solver: the same objective and the same selected features.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn import linear_model as sklearn_linear_model
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from fastopt.linear_model import LogisticRegression, l1_min_c, l1_path

data = load_breast_cancer()
X = StandardScaler().fit_transform(data.data)
y = data.target
d = X.shape[1]


def objective(coef, intercept, C):
    """scikit-learn's objective: C * the summed log-loss + the l1 norm of coef."""
    z = X @ coef + intercept
    return C * np.sum(np.logaddexp(0.0, z) - y * z) + np.abs(coef).sum()


# %%
# The path
# --------
# At ``C <= l1_min_c(X, y)`` every coefficient is zero; the path starts there and relaxes
# the penalty 100-fold. Each fit runs the estimator's default solver (full-batch heavy-ball
# momentum with the proximal step, its step size from a bound on the loss's curvature,
# ``learning_rate="auto"``) until the minimum-norm subgradient is below ``tol``.

Cs = l1_min_c(X, y) * np.geomspace(1.0, 100.0, 20)
clf = LogisticRegression(l1_ratio=1.0, tol=1e-6, max_iter=20000)
coefs, intercepts, n_iter = l1_path(clf, X, y, Cs)
coefs = coefs[:, 0, :]                                      # one row of coef_ per C
print(f"{n_iter.sum()} iterations for {len(Cs)} values of C; "
      f"features kept: {[int(np.count_nonzero(c)) for c in coefs[::4]]} ...")

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(Cs, coefs)
ax.set(xscale="log", xlabel="C (inverse l1 strength)", ylabel="coefficient",
       title="l1 logistic regression path, breast-cancer data")
plt.show()

# %%
# Against scikit-learn
# --------------------
# scikit-learn's saga solver, run to a tight tolerance, gives the reference solution at
# one ``C`` of the path, to compare with the warm-started fit there.

k = 10
C = Cs[k]
sk = sklearn_linear_model.LogisticRegression(C=C, l1_ratio=1.0, solver="saga", tol=1e-10,
                                             max_iter=20000).fit(X, y)
coef_fo, intercept_fo = coefs[k], intercepts[k, 0]
print(f"C = {C:.4g}")
print(f"objective  fastopt {objective(coef_fo, intercept_fo, C):.10f}  scikit-learn "
      f"{objective(sk.coef_.ravel(), sk.intercept_[0], C):.10f}")
print(f"support    fastopt {np.flatnonzero(coef_fo).tolist()}")
print(f"           sklearn {np.flatnonzero(sk.coef_.ravel()).tolist()}")
print(f"largest coefficient difference {np.abs(coef_fo - sk.coef_.ravel()).max():.2e}")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(np.arange(d) - 0.2, sk.coef_.ravel(), width=0.4, label="scikit-learn (saga)")
ax.bar(np.arange(d) + 0.2, coef_fo, width=0.4, label="fastopt (momentum + l1 prox)")
ax.set(xlabel="feature", ylabel="coefficient", title=f"Solutions at C = {C:.3g}")
ax.legend()
plt.show()
