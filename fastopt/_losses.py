"""The losses of the linear models and their gradients, in NumPy and SciPy.

A stand-in with the signature of the compiled loss kernels: ``value_and_grad`` is the one
function fastopt.linear_model calls.
"""

import numpy as np
from scipy.special import expit, log_expit

__all__ = ["value_and_grad"]

LOSSES = ("logistic", "softmax", "squared")


def value_and_grad(loss, X, y, sample_weight, coef, intercept, grad_coef, grad_intercept,
                   num_threads=None):
    """sum_i w_i loss_i at (coef, intercept), with its gradient written into grad_coef and
    grad_intercept.

    Parameters
    ----------
    loss : {"logistic", "softmax", "squared"}
        "logistic": y in {0, 1} (floats), loss_i = log(1 + exp(z_i)) - y_i z_i;
        "softmax": y int64 class indices, coef (d, k), loss_i = logsumexp(z_i) - z_i[y_i];
        "squared": loss_i = 0.5 (z_i - y_i)^2; where z = X coef + intercept.
    X : ndarray (n, d), C-contiguous, or scipy.sparse CSR
    y : ndarray (n,)
    sample_weight : ndarray (n,)
        w_i.
    coef : ndarray (d,) or (d, k) C-contiguous
    intercept : ndarray (), (1,) or (k,)
        Added to every z_i (zeros when the model has none).
    grad_coef, grad_intercept : ndarray
        Written with the gradient of the sum (shapes of coef and intercept; they may be
        views into one flat gradient vector).
    num_threads : int or None
        Unused here.

    Returns
    -------
    float
        sum_i w_i loss_i.
    """
    if loss not in LOSSES:
        raise ValueError(f"Unknown loss {loss!r}; expected one of {LOSSES}")
    z = np.asarray(X @ coef) + intercept
    if loss == "logistic":
        value = float(sample_weight @ (-log_expit(z) + (1.0 - y) * z))
        r = sample_weight * (expit(z) - y)
    elif loss == "squared":
        d = z - y
        value = float(0.5 * (sample_weight @ (d * d)))
        r = sample_weight * d
    else:
        top = z.max(axis=1, keepdims=True)
        p = np.exp(z - top)
        total = p.sum(axis=1, keepdims=True)
        lse = (np.log(total) + top)[:, 0]
        rows = np.arange(z.shape[0])
        value = float(sample_weight @ (lse - z[rows, y]))
        p /= total
        p[rows, y] -= 1.0
        r = sample_weight[:, None] * p
    r = r.astype(coef.dtype, copy=False)
    grad_coef[...] = X.T @ r
    grad_intercept[...] = r.sum(axis=0).reshape(grad_intercept.shape)
    return value
