"""Plain NumPy float64 oracle for fastopt's update kernels.

Written from the published equations (torch.optim's algorithm pages and the
Keras 3 optimizer definitions), never from fastopt's Cython code, so the tests
can check the compiled kernels against an independent implementation.
Simplicity over speed: whole-array NumPy, one small function per rule and
convention, every formula written out next to its code.

Where the textbook formulas and the libraries differ, this oracle follows what the
libraries do (checked against torch 2.13.0 and Keras 3.15.1):

* torch SGD's default learning rate is 1e-3 (``torch.optim.SGD(lr=0.001)``
  since torch 2.x), not 1e-2.  ``defaults("sgd", "torch")`` therefore has
  ``learning_rate=1e-3``; the Keras SGD default stays 1e-2.

No other discrepancy was found: every update formula and every other default
in the brief matches the libraries.

Public API
----------
RULES                      the rule names
defaults(rule, convention) hyperparameter defaults of a rule + convention
init_state(rule, theta, convention="torch", **hyper)
clip_scale(grads, clipnorm)
step(rule, theta, grad, state, t, *, convention="torch", maximize=False,
     clipvalue=None, grad_scale=1.0, l2=0.0, weight_decay=0.0, l1=0.0,
     mask=None, lower=None, upper=None, **hyper)
     -> (new_theta, new_state, n_nonfinite)
trajectory(rule, theta0, grads, convention="torch", **kw)
     -> (theta, state, total_nonfinite)

Order of the per-element operations in one step (the kernels' fused order):

1. maximize:        g = -g
2. clipvalue:       g = clip(g, -c, c)            (NaN stays NaN)
3. norm clipping:   g = g * grad_scale            (scale from clip_scale)
4. coupled L2:      g = g + l2 * theta
5. pruning mask:    mask == 0 -> theta = 0, state = 0, gradient ignored
6. weight decay:    theta = theta - (lr * weight_decay) * theta  (decoupled)
7. the update rule, which also yields the prox threshold per unit l1
8. l1 prox:         theta = sign(theta) * max(|theta| - tau, 0)  (+0.0 zeros)
9. bounds:          theta = min(max(theta, lower), upper)
"""

import math

import numpy as np

RULES = ("sgd", "adagrad", "rmsprop", "adam", "adamax", "nadam")
CONVENTIONS = ("torch", "keras")

# Every hyperparameter name that ``step`` understands.  Names in this tuple
# that a rule does not use are accepted and ignored; any other name is a
# TypeError (it is almost certainly a typo).
HYPER_NAMES = (
    "learning_rate",
    "momentum",
    "nesterov",
    "dampening",
    "rho",
    "centered",
    "beta_1",
    "beta_2",
    "epsilon",
    "amsgrad",
    "initial_accumulator_value",
    "lr_decay",
    "momentum_decay",
)

# --------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------

_DEFAULTS = {
    ("sgd", "torch"): dict(learning_rate=1e-3, momentum=0.0, nesterov=False, dampening=0.0),
    # Keras's SGD has no dampening: 0 is what it does
    ("sgd", "keras"): dict(learning_rate=1e-2, momentum=0.0, nesterov=False, dampening=0.0),
    ("adagrad", "torch"): dict(
        learning_rate=1e-2, epsilon=1e-10, initial_accumulator_value=0.0, lr_decay=0.0
    ),
    ("adagrad", "keras"): dict(
        learning_rate=1e-3, epsilon=1e-7, initial_accumulator_value=0.1, lr_decay=0.0
    ),
    ("rmsprop", "torch"): dict(
        learning_rate=1e-2, rho=0.99, epsilon=1e-8, momentum=0.0, centered=False
    ),
    ("rmsprop", "keras"): dict(
        learning_rate=1e-3, rho=0.9, epsilon=1e-7, momentum=0.0, centered=False
    ),
    ("adam", "torch"): dict(
        learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8, amsgrad=False
    ),
    ("adam", "keras"): dict(
        learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False
    ),
    ("adamax", "torch"): dict(learning_rate=2e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
    ("adamax", "keras"): dict(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    ("nadam", "torch"): dict(
        learning_rate=2e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8, momentum_decay=0.004
    ),
    # Keras' Nadam has no momentum_decay argument; its schedule 0.96^t is
    # torch's 0.96^(t * psi) with psi = 1.
    ("nadam", "keras"): dict(
        learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, momentum_decay=1.0
    ),
}


def _check_rule(rule, convention):
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; expected one of {CONVENTIONS}")


def defaults(rule, convention="torch"):
    """The hyperparameter defaults of ``rule`` under ``convention`` (a new dict)."""
    _check_rule(rule, convention)
    return dict(_DEFAULTS[(rule, convention)])


def _resolve(rule, convention, hyper):
    """Merge user hyperparameters over the defaults; ``None`` means default."""
    hyper = dict(hyper)
    if "lr" in hyper:  # ``lr`` is an alias of ``learning_rate``
        if hyper.get("learning_rate") is not None:
            raise TypeError("give either 'lr' or 'learning_rate', not both")
        hyper["learning_rate"] = hyper.pop("lr")
    unknown = sorted(set(hyper) - set(HYPER_NAMES))
    if unknown:
        raise TypeError(f"unknown hyperparameter(s) {unknown}")
    h = defaults(rule, convention)
    for name, value in hyper.items():
        if name in h and value is not None:
            h[name] = value
    return h


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------


def _state_keys(rule, h):
    """Names of the state arrays of ``rule`` with resolved hyperparameters ``h``."""
    if rule == "sgd":
        return ("momentum_buffer",) if h["momentum"] > 0 else ()
    if rule == "adagrad":
        return ("sum",)
    if rule == "rmsprop":
        keys = ["square_avg"]
        if h["centered"]:
            keys.append("grad_avg")
        if h["momentum"] > 0:
            keys.append("momentum_buffer")
        return tuple(keys)
    if rule == "adam":
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if h["amsgrad"] else ())
    if rule == "adamax":
        return ("exp_avg", "exp_inf")
    if rule == "nadam":
        return ("exp_avg", "exp_avg_sq")
    raise AssertionError(rule)


def init_state(rule, theta, convention="torch", **hyper):
    """Fresh optimizer state for a parameter array shaped like ``theta``.

    All arrays are float64 zeros, except AdaGrad's ``sum`` which starts at
    ``initial_accumulator_value`` (0 in torch, 0.1 in Keras).  Nadam also
    carries the Python float ``mu_product`` = Π_0 = 1.0.
    """
    _check_rule(rule, convention)
    h = _resolve(rule, convention, hyper)
    shape = np.shape(theta)
    state = {key: np.zeros(shape, dtype=np.float64) for key in _state_keys(rule, h)}
    if rule == "adagrad":
        state["sum"] = np.full(shape, float(h["initial_accumulator_value"]), dtype=np.float64)
    if rule == "nadam":
        state["mu_product"] = 1.0
    return state


# --------------------------------------------------------------------------
# Gradient pre-processing
# --------------------------------------------------------------------------


def clip_scale(grads, clipnorm):
    """Global-norm clipping factor for a list of gradient arrays.

        norm  = sqrt(sum_i sum_j g_ij^2)        (accumulated in float64)
        scale = clipnorm / max(norm, clipnorm)

    So scale == 1.0 when norm <= clipnorm.  ``clipnorm=None`` means no
    clipping (1.0).  A non-finite norm gives clipnorm / inf = 0.0 for an
    infinite norm and NaN for a NaN norm (np.maximum propagates NaN).
    """
    if clipnorm is None:
        return 1.0
    clipnorm = float(clipnorm)
    total = 0.0
    for g in grads:
        g = np.asarray(g, dtype=np.float64)
        total += float(np.sum(g * g))
    norm = math.sqrt(total) if total == total else float("nan")
    return float(clipnorm / np.maximum(norm, clipnorm))


def _clip_value(g, c):
    """g = clip(g, -c, c); np.maximum / np.minimum keep NaN as NaN."""
    return np.minimum(np.maximum(g, -c), c)


# --------------------------------------------------------------------------
# Update rules.  Each takes (theta, g, state, t, h) with float64 arrays,
# returns (theta, state, tau_per_l1), where tau_per_l1 is the prox threshold
# per unit of l1:  tau_i = l1_i * tau_per_l1_i  (lr_t / D_i; steps 7-8 of the module docstring).
# Notation: bc1 = 1 - beta_1^t, bc2 = 1 - beta_2^t, eta = learning_rate.
# --------------------------------------------------------------------------


def _momentum_factor(mu):
    """1 - mu for heavy-ball momentum in (0, 1), else 1: the l1 threshold's extra divisor."""
    return 1.0 - mu if 0.0 < mu < 1.0 else 1.0


def _sgd_torch(theta, g, st, t, h):
    """torch.optim.SGD (torch's algorithm page: the buffer of the first step is g itself,
    undamped).

    momentum > 0:  b = g if t == 1 else mu*b + (1 - dampening)*g
                   d = g + mu*b (nesterov) else b
    momentum = 0:  d = g
    theta = theta - eta*d;  tau = eta*l1*(1 - dampening) / (1 - mu)   (fastopt: at a fixed
    point b = (1 - dampening)*g/(1-mu), so the step is that many times eta long and this
    threshold makes it solve the problem with l1)
    """
    eta, mu, damp = h["learning_rate"], h["momentum"], h["dampening"]
    if mu > 0:
        b = g.copy() if t == 1 else mu * st["momentum_buffer"] + (1.0 - damp) * g
        d = g + mu * b if h["nesterov"] else b
        st["momentum_buffer"] = b
    else:
        d = g
    tau = eta * (1.0 - damp) / _momentum_factor(mu) if 0.0 < mu < 1.0 else eta
    return theta - eta * d, st, np.full_like(theta, tau)


def _sgd_keras(theta, g, st, t, h):
    """keras.optimizers.SGD; v is stored as ``momentum_buffer``.

    momentum > 0:  v = mu*v - eta*g
                   theta = theta + mu*v - eta*g (nesterov) else theta + v
    momentum = 0:  theta = theta - eta*g
    tau = eta*l1 / (1 - mu)   (as in _sgd_torch)
    """
    eta, mu = h["learning_rate"], h["momentum"]
    if mu > 0:
        v = mu * st["momentum_buffer"] - eta * g
        st["momentum_buffer"] = v
        theta = theta + (mu * v - eta * g) if h["nesterov"] else theta + v
    else:
        theta = theta - eta * g
    return theta, st, np.full_like(theta, eta / _momentum_factor(mu))


def _adagrad_torch(theta, g, st, t, h):
    """torch.optim.Adagrad.

    eta' = eta / (1 + (t-1)*lr_decay)
    s = s + g^2;  D = sqrt(s) + eps
    theta = theta - eta' * g / D;  tau = eta' * l1 / D
    """
    eta_t = h["learning_rate"] / (1.0 + (t - 1) * h["lr_decay"])
    s = st["sum"] + g * g
    D = np.sqrt(s) + h["epsilon"]
    st["sum"] = s
    return theta - eta_t * g / D, st, eta_t / D


def _adagrad_keras(theta, g, st, t, h):
    """keras.optimizers.Adagrad (no lr_decay).

    s = s + g^2;  D = sqrt(s + eps)
    theta = theta - eta * g / D;  tau = eta * l1 / D
    """
    eta = h["learning_rate"]
    s = st["sum"] + g * g
    D = np.sqrt(s + h["epsilon"])
    st["sum"] = s
    return theta - eta * g / D, st, eta / D


def _rmsprop_torch(theta, g, st, t, h):
    """torch.optim.RMSprop (rho is torch's ``alpha``).

    s = rho*s + (1-rho)*g^2
    centered: a = rho*a + (1-rho)*g;  D = sqrt(s - a^2) + eps
    else:     D = sqrt(s) + eps
    momentum > 0: B = mu*B + g/D;  theta = theta - eta*B
    else:         theta = theta - eta*g/D
    tau = eta * l1 / (D * (1 - mu))   (1 - mu only with momentum; see _sgd_torch)
    """
    eta, rho, eps, mu = h["learning_rate"], h["rho"], h["epsilon"], h["momentum"]
    s = rho * st["square_avg"] + (1.0 - rho) * g * g
    st["square_avg"] = s
    if h["centered"]:
        a = rho * st["grad_avg"] + (1.0 - rho) * g
        st["grad_avg"] = a
        D = np.sqrt(s - a * a) + eps
    else:
        D = np.sqrt(s) + eps
    if mu > 0:
        B = mu * st["momentum_buffer"] + g / D
        st["momentum_buffer"] = B
        theta = theta - eta * B
    else:
        theta = theta - eta * g / D
    return theta, st, eta / (D * _momentum_factor(mu))


def _rmsprop_keras(theta, g, st, t, h):
    """keras.optimizers.RMSprop.

    s = rho*s + (1-rho)*g^2
    centered: a = rho*a + (1-rho)*g;  D = sqrt(s - a^2 + eps)
    else:     D = sqrt(s + eps)
    inc = eta*g/D
    momentum > 0: M = mu*M + inc;  theta = theta - M
    else:         theta = theta - inc
    tau = eta * l1 / (D * (1 - mu))   (1 - mu only with momentum; see _sgd_torch)
    """
    eta, rho, eps, mu = h["learning_rate"], h["rho"], h["epsilon"], h["momentum"]
    s = rho * st["square_avg"] + (1.0 - rho) * g * g
    st["square_avg"] = s
    if h["centered"]:
        a = rho * st["grad_avg"] + (1.0 - rho) * g
        st["grad_avg"] = a
        D = np.sqrt(s - a * a + eps)
    else:
        D = np.sqrt(s + eps)
    inc = eta * g / D
    if mu > 0:
        M = mu * st["momentum_buffer"] + inc
        st["momentum_buffer"] = M
        theta = theta - M
    else:
        theta = theta - inc
    return theta, st, eta / (D * _momentum_factor(mu))


def _adam_moments(g, st, h):
    """m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  w = v, or with amsgrad
    vmax = max(vmax, v) and w = vmax.  Returns w (the second moment used)."""
    b1, b2 = h["beta_1"], h["beta_2"]
    st["exp_avg"] = b1 * st["exp_avg"] + (1.0 - b1) * g
    v = b2 * st["exp_avg_sq"] + (1.0 - b2) * g * g
    st["exp_avg_sq"] = v
    if h["amsgrad"]:
        st["max_exp_avg_sq"] = np.maximum(st["max_exp_avg_sq"], v)
        return st["max_exp_avg_sq"]
    return v


def _adam_torch(theta, g, st, t, h):
    """torch.optim.Adam / AdamW.

    D = sqrt(w) / sqrt(bc2) + eps
    theta = theta - (eta / bc1) * m / D;  tau = eta * l1 / D
    """
    eta = h["learning_rate"]
    bc1 = 1.0 - h["beta_1"] ** t
    bc2 = 1.0 - h["beta_2"] ** t
    w = _adam_moments(g, st, h)
    D = np.sqrt(w) / math.sqrt(bc2) + h["epsilon"]
    return theta - (eta / bc1) * st["exp_avg"] / D, st, eta / D


def _adam_keras(theta, g, st, t, h):
    """keras.optimizers.Adam.

    alpha = eta * sqrt(bc2) / bc1
    theta = theta - alpha * m / (sqrt(w) + eps)
    tau = eta * sqrt(bc2) * l1 / (sqrt(w) + eps)
    """
    eta = h["learning_rate"]
    bc1 = 1.0 - h["beta_1"] ** t
    bc2 = 1.0 - h["beta_2"] ** t
    w = _adam_moments(g, st, h)
    alpha = eta * math.sqrt(bc2) / bc1
    E = np.sqrt(w) + h["epsilon"]
    return theta - alpha * st["exp_avg"] / E, st, eta * math.sqrt(bc2) / E


def _adamax_torch(theta, g, st, t, h):
    """torch.optim.Adamax.

    m = b1*m + (1-b1)*g;  u = max(b2*u, |g| + eps)
    theta = theta - (eta / bc1) * m / u;  tau = eta * l1 / u
    """
    eta, b1 = h["learning_rate"], h["beta_1"]
    bc1 = 1.0 - b1**t
    m = b1 * st["exp_avg"] + (1.0 - b1) * g
    u = np.maximum(h["beta_2"] * st["exp_inf"], np.abs(g) + h["epsilon"])
    st["exp_avg"], st["exp_inf"] = m, u
    return theta - (eta / bc1) * m / u, st, eta / u


def _adamax_keras(theta, g, st, t, h):
    """keras.optimizers.Adamax.

    m = b1*m + (1-b1)*g;  u = max(b2*u, |g|)
    theta = theta - eta * m / (bc1 * (u + eps));  tau = eta * l1 / (u + eps)
    """
    eta, b1 = h["learning_rate"], h["beta_1"]
    bc1 = 1.0 - b1**t
    m = b1 * st["exp_avg"] + (1.0 - b1) * g
    u = np.maximum(h["beta_2"] * st["exp_inf"], np.abs(g))
    st["exp_avg"], st["exp_inf"] = m, u
    E = u + h["epsilon"]
    return theta - eta * m / (bc1 * E), st, eta / E


def _nadam_mu(t, h):
    """Nadam momentum schedule mu_t = b1 * (1 - 0.5 * 0.96^(t*psi))."""
    return h["beta_1"] * (1.0 - 0.5 * 0.96 ** (t * h["momentum_decay"]))


def _nadam(theta, g, st, t, h):
    """torch.optim.NAdam and keras.optimizers.Nadam (same form, psi differs).

    mu_t, mu_{t+1} from _nadam_mu;  Pi_t = Pi_{t-1} * mu_t  (``mu_product``)
    m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  D = sqrt(v / bc2) + eps
    theta = theta - eta * [(1-mu_t)/(1-Pi_t) * g
                           + mu_{t+1}/(1 - Pi_t*mu_{t+1}) * m] / D
    tau = eta * l1 / D
    """
    eta, b1, b2 = h["learning_rate"], h["beta_1"], h["beta_2"]
    bc2 = 1.0 - b2**t
    mu_t = _nadam_mu(t, h)
    mu_next = _nadam_mu(t + 1, h)
    pi_t = float(st["mu_product"]) * mu_t
    st["mu_product"] = pi_t
    m = b1 * st["exp_avg"] + (1.0 - b1) * g
    v = b2 * st["exp_avg_sq"] + (1.0 - b2) * g * g
    st["exp_avg"], st["exp_avg_sq"] = m, v
    D = np.sqrt(v / bc2) + h["epsilon"]
    num = (1.0 - mu_t) / (1.0 - pi_t) * g + mu_next / (1.0 - pi_t * mu_next) * m
    return theta - eta * num / D, st, eta / D


_UPDATE = {
    ("sgd", "torch"): _sgd_torch,
    ("sgd", "keras"): _sgd_keras,
    ("adagrad", "torch"): _adagrad_torch,
    ("adagrad", "keras"): _adagrad_keras,
    ("rmsprop", "torch"): _rmsprop_torch,
    ("rmsprop", "keras"): _rmsprop_keras,
    ("adam", "torch"): _adam_torch,
    ("adam", "keras"): _adam_keras,
    ("adamax", "torch"): _adamax_torch,
    ("adamax", "keras"): _adamax_keras,
    ("nadam", "torch"): _nadam,
    ("nadam", "keras"): _nadam,
}


# --------------------------------------------------------------------------
# Post-processing
# --------------------------------------------------------------------------


def _l1_prox(theta, tau):
    """Soft threshold theta = sign(theta) * max(|theta| - tau, 0).

    A zero it produces is +0.0 (never -0.0).  NaN stays NaN: s = |theta| - tau
    is NaN when theta (or tau) is NaN, and then the result is NaN.
    """
    s = np.abs(theta) - tau
    return np.where(s > 0, np.copysign(s, theta), np.where(np.isnan(s), np.nan, 0.0))


def _project(theta, lower, upper):
    """Box projection theta = min(max(theta, lower), upper); NaN stays NaN."""
    if lower is not None:
        theta = np.maximum(theta, np.asarray(lower, dtype=np.float64))
    if upper is not None:
        theta = np.minimum(theta, np.asarray(upper, dtype=np.float64))
    return theta


def _as_f64(x, shape, name):
    a = np.array(x, dtype=np.float64)  # always a fresh copy
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
    return a


# --------------------------------------------------------------------------
# One step
# --------------------------------------------------------------------------


def step(
    rule,
    theta,
    grad,
    state,
    t,
    *,
    convention="torch",
    maximize=False,
    clipvalue=None,
    grad_scale=1.0,
    l2=0.0,
    weight_decay=0.0,
    l1=0.0,
    mask=None,
    lower=None,
    upper=None,
    **hyper,
):
    """One optimizer step; returns (new_theta, new_state, n_nonfinite).

    Nothing passed in is mutated: theta, grad and the state arrays are cast to
    float64 copies.  ``t`` counts from 1.  ``hyper`` holds the rule's
    hyperparameters (missing or None ones take ``defaults(rule, convention)``;
    ``learning_rate`` is the already scheduled eta of this step).
    ``n_nonfinite`` counts the non-finite entries of the raw ``grad`` among
    unmasked coordinates (all coordinates when ``mask`` is None).
    """
    _check_rule(rule, convention)
    h = _resolve(rule, convention, hyper)
    t = int(t)
    if t < 1:
        raise ValueError(f"t counts from 1, got {t}")

    theta = np.array(theta, dtype=np.float64)
    shape = theta.shape
    g = _as_f64(grad, shape, "grad")

    st = {}
    for key in _state_keys(rule, h):
        if key not in state:
            raise KeyError(f"state of {rule!r} with these hyperparameters needs {key!r}")
        st[key] = _as_f64(state[key], shape, f"state[{key!r}]")
    if rule == "nadam":
        st["mu_product"] = float(state["mu_product"])

    keep = None
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise ValueError(f"mask has shape {mask.shape}, expected {shape}")
        keep = mask != 0
        n_nonfinite = int(np.count_nonzero(~np.isfinite(g) & keep))
    else:
        n_nonfinite = int(np.count_nonzero(~np.isfinite(g)))

    with np.errstate(all="ignore"):
        # 1-4: gradient pre-processing
        if maximize:
            g = -g
        if clipvalue is not None:
            g = _clip_value(g, float(clipvalue))
        if grad_scale != 1.0:
            g = g * float(grad_scale)
        if l2 != 0:
            g = g + float(l2) * theta

        # 5 (mask) is applied at the end: every operation is element-wise, so
        # computing the masked coordinates and overwriting them with 0 is the
        # same as skipping them.

        # 6: decoupled weight decay
        eta = float(h["learning_rate"])
        if weight_decay != 0:
            theta = theta - (eta * float(weight_decay)) * theta

        # 7: the update rule
        theta, st, tau_per_l1 = _UPDATE[(rule, convention)](theta, g, st, t, h)

        # 8: l1 prox, only where l1 is nonzero
        l1 = np.asarray(l1, dtype=np.float64)
        if np.any(l1 != 0):
            theta = np.where(l1 != 0, _l1_prox(theta, l1 * tau_per_l1), theta)

        # 9: bounds
        theta = _project(theta, lower, upper)

    theta = np.asarray(theta, dtype=np.float64).reshape(shape)
    if keep is not None:
        theta = np.where(keep, theta, 0.0)
        for key in _state_keys(rule, h):
            st[key] = np.where(keep, st[key], 0.0)
    for key in _state_keys(rule, h):
        st[key] = np.asarray(st[key], dtype=np.float64).reshape(shape)
    return theta, st, n_nonfinite


def trajectory(rule, theta0, grads, convention="torch", **kw):
    """Run ``step`` for t = 1..len(grads) from ``init_state``.

    ``kw`` holds hyperparameters and step options (maximize, clipvalue,
    grad_scale, l2, weight_decay, l1, mask, lower, upper).  ``learning_rate``
    (or ``lr``) may be a float or a callable ``lr(step_index_from_0)``.
    ``clipnorm`` (extra, optional) sets grad_scale of each step to
    ``clip_scale([grad], clipnorm)`` on that step's raw gradient.
    Returns (theta, state, total_nonfinite).
    """
    kw = dict(kw)
    if "lr" in kw:
        if kw.get("learning_rate") is not None:
            raise TypeError("give either 'lr' or 'learning_rate', not both")
        kw["learning_rate"] = kw.pop("lr")
    lr = kw.pop("learning_rate", None)
    clipnorm = kw.pop("clipnorm", None)
    hyper = {k: v for k, v in kw.items() if k in HYPER_NAMES}
    theta = np.array(theta0, dtype=np.float64)
    state = init_state(rule, theta, convention, **hyper)
    total = 0
    for i, g in enumerate(grads):
        eta = lr(i) if callable(lr) else lr
        step_kw = dict(kw)
        if clipnorm is not None:
            step_kw["grad_scale"] = clip_scale([g], clipnorm)
        theta, state, n = step(
            rule, theta, g, state, i + 1, convention=convention, learning_rate=eta, **step_kw
        )
        total += n
    return theta, state, total
