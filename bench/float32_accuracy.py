"""float32 accuracy: how far a float32 run strays from the float64 run, fastopt against its
peer library (torch.optim for convention="torch", Keras 3 for convention="keras").

What is measured
    Every rule and variant (SGD plain / momentum / Nesterov / dampening, AdaGrad, RMSprop
    plain / centered / momentum / both, Adam, AMSGrad, AdaMax, Nadam) runs 100 steps on a
    fixed problem, once with float32 parameters and once with float64, in fastopt and in the
    peer.  The error of a library is

        max over the steps t of  ||x32_t - x64_t||_inf / ||x64_t||_inf

    each library's float32 trajectory against its own float64 one (fastopt's and the peer's
    float64 trajectories agree to ~1e-15), the largest over the seeds.

The problem
    A logistic regression with 1000 parameters (500 rows of N(0, 1) / sqrt(1000) features,
    labels from a random plane, mean loss plus 1e-3 ||x||^2 / 2), started at x = 0.  The
    gradient of every step is computed in float64 from the run's own point and rounded to
    the run's dtype, so the float32 runs differ from the float64 ones only by the
    optimizer's arithmetic (and the rounding of the gradient, the same for both libraries).

The peers
    torch.optim's default (single-tensor) CPU implementation, on float32 and float64
    parameters, with torch's default dtype set to the run's.  Keras 3 (JAX backend, x64
    enabled so that float64 variables stay float64; Keras computes in the variable's
    dtype) runs in another Python (``--keras-python``, e.g. a virtual environment with
    keras and jax), which this script calls with ``--keras-only``: it prints the Keras
    errors as JSON and imports neither fastopt nor torch.  A peer that is not installed is
    reported as "-".

Usage: python bench/float32_accuracy.py [--seeds 0,1,2] [--steps 100]
                                        [--keras-python /path/to/python] [--json FILE]
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

N_PARAMS = 1000
N_ROWS = 500
L2 = 1e-3

# name, fastopt class, fastopt hyperparameters, torch class and arguments (None: no such
# variant in torch), Keras class and arguments (None: none in Keras), learning rate
CASES = [
    ("sgd", "SGD", {}, ("SGD", {}), ("SGD", {}), 0.5),
    ("sgd momentum", "SGD", {"momentum": 0.9}, ("SGD", {"momentum": 0.9}),
     ("SGD", {"momentum": 0.9}), 0.1),
    ("sgd nesterov", "SGD", {"momentum": 0.9, "nesterov": True},
     ("SGD", {"momentum": 0.9, "nesterov": True}),
     ("SGD", {"momentum": 0.9, "nesterov": True}), 0.1),
    ("sgd dampening", "SGD", {"momentum": 0.9, "dampening": 0.3},
     ("SGD", {"momentum": 0.9, "dampening": 0.3}), None, 0.1),
    ("adagrad", "Adagrad", {}, ("Adagrad", {}), ("Adagrad", {}), 0.05),
    ("rmsprop", "RMSprop", {}, ("RMSprop", {}), ("RMSprop", {}), 0.003),
    ("rmsprop centered", "RMSprop", {"centered": True}, ("RMSprop", {"centered": True}),
     ("RMSprop", {"centered": True}), 0.003),
    ("rmsprop momentum", "RMSprop", {"momentum": 0.9}, ("RMSprop", {"momentum": 0.9}),
     ("RMSprop", {"momentum": 0.9}), 0.001),
    ("rmsprop centered momentum", "RMSprop", {"centered": True, "momentum": 0.9},
     ("RMSprop", {"centered": True, "momentum": 0.9}),
     ("RMSprop", {"centered": True, "momentum": 0.9}), 0.001),
    ("adam", "Adam", {}, ("Adam", {}), ("Adam", {}), 0.01),
    ("amsgrad", "Adam", {"amsgrad": True}, ("Adam", {"amsgrad": True}),
     ("Adam", {"amsgrad": True}), 0.01),
    ("adamax", "Adamax", {}, ("Adamax", {}), ("Adamax", {}), 0.01),
    ("nadam", "Nadam", {}, ("NAdam", {}), ("Nadam", {}), 0.01),
]

# fastopt's hyperparameter names -> torch's / Keras's, where they differ
TORCH_NAMES = {"rho": "alpha", "epsilon": "eps"}


def problem(seed):
    """The logistic regression of ``seed``: its gradient(x) in float64, and x0."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((N_ROWS, N_PARAMS)) / np.sqrt(N_PARAMS)
    y = (a @ rng.standard_normal(N_PARAMS) > 0).astype(np.float64)

    def gradient(x):
        x = np.asarray(x, dtype=np.float64)
        z = 1.0 / (1.0 + np.exp(-(a @ x)))
        return a.T @ (z - y) / N_ROWS + L2 * x

    return gradient, np.zeros(N_PARAMS)


def error(run32, run64):
    """max over steps of ||x32 - x64||_inf / ||x64||_inf."""
    return max(float(np.max(np.abs(u.astype(np.float64) - v)) / np.max(np.abs(v)))
               for u, v in zip(run32, run64))


def fastopt_run(case, convention, dtype, seed, steps):
    import fastopt

    _, cls, hyper, _, _, lr = case
    gradient, x0 = problem(seed)
    x = x0.astype(dtype)
    opt = getattr(fastopt, cls)(x, learning_rate=lr, convention=convention, **hyper)
    out = []
    for _ in range(steps):
        opt.step(gradient(x).astype(dtype))
        out.append(x.copy())
    return out


def torch_run(case, dtype, seed, steps):
    import torch

    _, _, _, (cls, kw), _, lr = case
    gradient, x0 = problem(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32 if dtype == np.float32 else torch.float64)
    try:
        x = x0.astype(dtype)
        p = torch.nn.Parameter(torch.from_numpy(x))
        opt = getattr(torch.optim, cls)([p], lr=lr, **kw)
        out = []
        for _ in range(steps):
            p.grad = torch.from_numpy(gradient(x).astype(dtype))
            opt.step()
            out.append(x.copy())
        return out
    finally:
        torch.set_default_dtype(previous)


def keras_run(case, dtype, seed, steps):
    import keras

    _, _, _, _, (cls, kw), lr = case
    gradient, x0 = problem(seed)
    name = "float32" if dtype == np.float32 else "float64"
    v = keras.Variable(x0.astype(dtype), dtype=name)
    opt = getattr(keras.optimizers, cls)(learning_rate=lr, **kw)
    out = []
    for _ in range(steps):
        x = np.asarray(v.numpy())
        opt.apply_gradients([(keras.ops.convert_to_tensor(gradient(x).astype(dtype)), v)])
        out.append(np.asarray(v.numpy()).copy())
    return out


def peer_errors(peer, seeds, steps):
    """{case name: the peer's largest float32 error over the seeds}."""
    run = torch_run if peer == "torch" else keras_run
    slot = 3 if peer == "torch" else 4
    errors = {}
    for case in CASES:
        if case[slot] is None:
            continue
        errors[case[0]] = max(error(run(case, np.float32, s, steps),
                                    run(case, np.float64, s, steps)) for s in seeds)
    return errors


def keras_errors(python, seeds, steps):
    """Keras's errors, computed by ``python`` (an interpreter with keras and jax)."""
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
    cmd = [python, os.path.abspath(__file__), "--keras-only",
           "--seeds", ",".join(map(str, seeds)), "--steps", str(steps)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--keras-python", default=None,
                    help="a Python with keras and jax (default: skip the Keras peer)")
    ap.add_argument("--keras-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.keras_only:
        print(json.dumps(peer_errors("keras", seeds, args.steps)))
        return
    try:
        torch_err = peer_errors("torch", seeds, args.steps)
    except ImportError:
        torch_err = {}
    keras_err = keras_errors(args.keras_python, seeds, args.steps) if args.keras_python else {}
    rows = []
    for case in CASES:
        mine = {conv: max(error(fastopt_run(case, conv, np.float32, s, args.steps),
                                fastopt_run(case, conv, np.float64, s, args.steps))
                          for s in seeds)
                for conv in ("torch", "keras") if conv == "torch" or case[4] is not None}
        rows.append({"case": case[0], "fastopt torch": mine["torch"],
                     "torch": torch_err.get(case[0]), "fastopt keras": mine.get("keras"),
                     "keras": keras_err.get(case[0])})

    def cell(v):
        return f"{v:12.3e}" if v is not None else f"{'-':>12}"

    def ratio(a, b):
        return f"{a / b:8.2f}" if a is not None and b else f"{'-':>8}"

    print(f"float32 error (max over {args.steps} steps and seeds {args.seeds} of "
          "||x32 - x64||_inf / ||x64||_inf)")
    print(f"{'rule':27}{'fastopt':>12}{'torch':>12}{'ratio':>8}   "
          f"{'fastopt':>12}{'keras':>12}{'ratio':>8}")
    print(f"{'':27}{'(torch)':>12}{'':>12}{'':>8}   {'(keras)':>12}")
    for r in rows:
        print(f"{r['case']:27}{cell(r['fastopt torch'])}{cell(r['torch'])}"
              f"{ratio(r['fastopt torch'], r['torch'])}   {cell(r['fastopt keras'])}"
              f"{cell(r['keras'])}{ratio(r['fastopt keras'], r['keras'])}")
    print("ratio: fastopt's error / the peer's (<= 1: fastopt's float32 is at least as close "
          "to its float64 run)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
