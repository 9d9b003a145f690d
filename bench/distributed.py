"""fastopt.distributed on a LocalCluster: time per epoch, speed-up, bytes per step.

What is compared, in one run on this machine:

  problem  l1-logistic regression, mean log-loss + lam ||w||_1, on a synthetic CSR design:
           ``--rows`` x ``--features`` with ``--nnz-per-row`` N(0, 1) entries per row at
           uniform random columns, a truth with 1% nonzeros (+-U(1, 3)), y ~ Bernoulli(
           sigmoid(X w*)), lam = 0.3 lam_max.  The rows come in ``--chunks`` chunks, each
           generated *on a worker* from its own seed (``da.from_delayed``): no data goes
           through the driver.  The single-process baseline builds the same matrix locally.
           fun returns the mean loss and gradient over its rows (two CSR mat-vecs).
  runs     * single process: ``fastopt.minimize`` (Adam, ``num_threads=1``), one epoch of
             minibatches of ``--batch`` rows, and ``--iters`` full-batch iterations;
           * ``fastopt.distributed.minimize`` strategy "sync" on a LocalCluster of 1 and of 2
             single-threaded worker processes: the same epoch and iterations;
           * strategy "local" on 2 workers, ``sync_every`` 10 and 100: one epoch.
  reported seconds per epoch (minibatch) or per iteration (full batch); speed-up over the
           single process; steps; bytes per step: the array payload the driver sent (x) and
           received (gradients, parameters, scalars), from ``res.comm``, and the TCP bytes
           through the worker processes' sockets, sent + received, summed over workers
           (Linux TCP_INFO of every socket they hold: tasks, data, heartbeats); the final
           objective.
  model    per step, from this run's numbers: t_fun(B), the single process's time per batch
           (fun and update); t_fix, what a distributed step adds at W = 1 (sync step time
           minus t_fun); then a sync step on W workers costs t_fix + t_fun(B) / W +
           (W + K - 2) 8 d / bw (the transfers beyond W = 1, bw = 1.25 GB/s, 10 GbE, assumed
           for a real cluster) and a local round of k steps t_fix + k t_fun(B) / W +
           (W + 3 K - 2) 8 d / bw (per chunk, its parameters, its gradient at the round's
           start and, l1 with Adam, its per-coordinate thresholds).  Printed: the model for
           W = 1..32 workers with their own cores, per epoch, next to the measured W = 1, 2
           rows.

This machine has 2 cores shared by the driver, the scheduler and the workers, so 2 workers
cannot double the speed; the model separates what scales (c B / W) from what does not.

Usage: python bench/distributed.py [--quick] [--rows N] [--features D] [--nnz-per-row K]
                                   [--batch B] [--iters I] [--json FILE]
"""

import argparse
import os
import sys
import time

try:
    import harness                   # bench/harness.py: machine, timing, tables
except ImportError:                  # imported as bench.distributed
    from bench import harness

# this file's name would shadow the `distributed` package: drop bench/ from the path
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [q for q in sys.path if os.path.abspath(q or os.curdir) != _HERE]

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import fastopt  # noqa: E402

SEED = 0
FULL = {"rows": 400_000, "features": 100_000, "nnz_per_row": 50, "batch": 4_000, "iters": 5}
QUICK = {"rows": 40_000, "features": 10_000, "nnz_per_row": 50, "batch": 1_000, "iters": 5}
BANDWIDTH = 1.25e9          # bytes/s assumed for a real cluster's network (10 GbE)


def make_chunk(k, rows, features, nnz_per_row, w_true):
    """Chunk k of the problem: (X CSR rows x features, y), from its own seed."""
    rng = np.random.default_rng([SEED, k])
    cols = rng.integers(0, features, size=(rows, nnz_per_row))
    vals = rng.standard_normal((rows, nnz_per_row))
    X = sp.csr_matrix((vals.ravel(), cols.ravel(),
                       np.arange(0, rows * nnz_per_row + 1, nnz_per_row)),
                      shape=(rows, features))
    X.sum_duplicates()
    z = X @ w_true
    y = (rng.random(rows) < 0.5 * (1 + np.tanh(z / 2))).astype(np.float64)
    return X, y


def truth(features):
    rng = np.random.default_rng(SEED)
    w = np.zeros(features)
    idx = rng.choice(features, max(1, features // 100), replace=False)
    w[idx] = rng.choice([-1.0, 1.0], idx.size) * rng.uniform(1, 3, idx.size)
    return w


def log_loss(w, X, y):
    z = X @ w
    p = 0.5 * (1 + np.tanh(z / 2))
    return float(np.mean(np.logaddexp(0, z) - y * z)), X.T @ (p - y) / len(y)


def chunk_rows(rows, chunks):
    return [len(part) for part in np.array_split(np.arange(rows), chunks)]


def dask_problem(rows, features, nnz_per_row, chunks, w_true):
    import dask
    import dask.array as da
    Xs, ys = [], []
    for k, n_k in enumerate(chunk_rows(rows, chunks)):
        part = dask.delayed(make_chunk)(k, n_k, features, nnz_per_row, w_true)
        Xs.append(da.from_delayed(part[0], shape=(n_k, features), dtype=np.float64,
                                  meta=sp.csr_matrix((0, features))))
        ys.append(da.from_delayed(part[1], shape=(n_k,), dtype=np.float64))
    return da.concatenate(Xs), da.concatenate(ys)


def local_problem(rows, features, nnz_per_row, chunks, w_true):
    parts = [make_chunk(k, n_k, features, nnz_per_row, w_true)
             for k, n_k in enumerate(chunk_rows(rows, chunks))]
    return sp.vstack([p[0] for p in parts], format="csr"), np.concatenate([p[1] for p in parts])


def objective(w, X, y, lam):
    return log_loss(w, X, y)[0] + lam * np.abs(w).sum()


def _socket_bytes():
    """TCP bytes acked (sent) + received over this process's open sockets (Linux TCP_INFO:
    tcpi_bytes_acked and tcpi_bytes_received at offsets 120 and 128); None if unavailable."""
    import socket
    import struct
    total = 0
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            s = socket.socket(fileno=os.dup(int(fd)))
        except (OSError, ValueError):
            continue
        try:
            if s.type == socket.SOCK_STREAM and s.family in (socket.AF_INET, socket.AF_INET6):
                info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 192)
                if len(info) >= 136:
                    total += sum(struct.unpack_from("QQ", info, 120))
        except OSError:
            pass
        finally:
            s.close()
    return total


def worker_io(client):
    """TCP bytes sent + received by all workers so far (None if not measurable)."""
    counts = list(client.run(_socket_bytes).values())
    return None if any(c is None for c in counts) else sum(counts)


def round_trip(client, repeats=30):
    """Median seconds of a tiny task's round trip through the scheduler."""
    def tiny():
        return 0

    def submit():
        client.submit(tiny, pure=False).result()
    return harness.median_seconds({"round trip": submit}, (repeats, 0.0), warmup=1)["round trip"]


def update_seconds(d, repeats=20):
    """Median seconds of one Adam step with l1 on d parameters."""
    opt = fastopt.Adam(np.zeros(d), learning_rate=1e-3, l1=1e-4, num_threads=1)
    g = np.random.default_rng(0).standard_normal(d)
    return harness.median_seconds({"step": lambda: opt.step(g)}, (repeats, 0.0),
                                  warmup=1)["step"]


def run_all(p, report=print):
    import distributed
    import fastopt.distributed as fd

    rows, d, K = p["rows"], p["features"], 2
    w_true = truth(d)
    X, y = local_problem(rows, d, p["nnz_per_row"], K, w_true)
    lam = 0.3 * np.abs(X.T @ (y - 0.5)).max() / rows
    w0 = np.zeros(d)
    B = p["batch"]
    steps = -(-rows // B)
    mb = {"learning_rate": 0.05, "l1": lam, "batch_size": B, "epochs": 1, "seed": 0,
          "num_threads": 1}
    full = {"learning_rate": 0.05, "l1": lam, "maxiter": p["iters"], "gtol": 0,
            "num_threads": 1}
    results = []

    def record(name, workers, kind, seconds, per, res, io=None):
        row = {"run": name, "workers": workers, "kind": kind, "seconds": seconds,
               "per": per, "steps": res.nit, "objective": None, "payload_per_step": None,
               "worker_io_per_step": None}
        row["objective"] = objective(res.x, X, y, lam)
        if hasattr(res, "comm"):
            sent, received = res.comm["bytes_sent"], res.comm["bytes_received"]
            row["payload_per_step"] = (sent + received) / res.nit
        if io is not None:
            row["worker_io_per_step"] = io / res.nit
        results.append(row)
        report(format_row(row, results))
        return row

    t0 = time.perf_counter()
    single_mb = fastopt.minimize(log_loss, w0, args=(X, y), method="adam", jac=True, options=mb)
    record("single process", 0, "epoch", time.perf_counter() - t0, "epoch", single_mb)
    t0 = time.perf_counter()
    single_fb = fastopt.minimize(log_loss, w0, args=(X, y), method="adam", jac=True,
                                 options=full)
    record("single process", 0, "full batch", time.perf_counter() - t0, "iteration", single_fb)
    model = {}
    for W in (1, 2):
        cluster = distributed.LocalCluster(n_workers=W, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        try:
            Xd, yd = dask_problem(rows, d, p["nnz_per_row"], K, w_true)
            Xd, yd = client.persist([Xd, yd])
            distributed.wait([Xd, yd])
            # warm up the workers (imports) on a tiny run
            fd.minimize(log_loss, w0, jac=True, args=(Xd, yd), options={**full, "maxiter": 1})
            model.setdefault("t_rtt", {})[W] = round_trip(client)
            runs = [("sync", "epoch", mb, {}), ("sync", "full batch", full, {})]
            if W == 2:
                runs += [("local k=10", "epoch", mb, {"strategy": "local", "sync_every": 10}),
                         ("local k=100", "epoch", mb, {"strategy": "local", "sync_every": 100})]
            for name, kind, opts, kw in runs:
                io0 = worker_io(client)
                t0 = time.perf_counter()
                res = fd.minimize(log_loss, w0, jac=True, args=(Xd, yd), method="adam",
                                  options=opts, **kw)
                seconds = time.perf_counter() - t0
                io1 = worker_io(client)
                record(name, W, kind, seconds, "epoch" if kind == "epoch" else "iteration",
                       res, io=None if io0 is None or io1 is None else io1 - io0)
        finally:
            client.close()
            cluster.close()

    one = {r["kind"]: r for r in results if r["workers"] == 1 and r["run"] == "sync"}
    t_fun = {"epoch": results[0]["seconds"] / steps,
             "full batch": results[1]["seconds"] / max(results[1]["steps"], 1)}
    model.update({"t_fun": t_fun, "t_update": update_seconds(d), "d": d, "rows": rows,
                  "batch": B, "steps_per_epoch": steps, "chunks": K,
                  "t_fix": {k: one[k]["seconds"] / max(one[k]["steps"], 1) - t_fun[k]
                            for k in t_fun}})
    return results, model


def format_row(row, results):
    base = next((r for r in results if r["workers"] == 0 and r["kind"] == row["kind"]), row)
    n = row["steps"] if row["kind"] == "epoch" else max(row["steps"], 1)
    per = row["seconds"] if row["kind"] == "epoch" else row["seconds"] / n
    base_per = base["seconds"] / (1 if base["kind"] == "epoch" else max(base["steps"], 1))
    pay = "-" if row["payload_per_step"] is None else f"{row['payload_per_step'] / 1e3:.0f} kB"
    io = ("-" if row["worker_io_per_step"] is None
          else f"{row['worker_io_per_step'] / 1e3:.0f} kB")
    return (f"{row['run']:<16}{row['workers']:>3}  {row['kind']:<11}{per:>9.3f} s/{row['per']:<10}"
            f"{base_per / per:>6.2f}x{n:>7}{pay:>11}{io:>11}{row['objective']:>11.5f}")


HEADER = (f"{'run':<16}{'W':>3}  {'mode':<11}{'time':>11} {'':<9}{'speed':>6} {'steps':>6}"
          f"{'payload/st':>11}{'io/step':>11}{'objective':>11}")


def predict(model):
    """The cost model (see the module docstring) per epoch and per full-batch iteration."""
    d, S, K = model["d"], model["steps_per_epoch"], model["chunks"]
    t_fun, t_fix = model["t_fun"], model["t_fix"]
    x_bytes = 8 * d
    lines = [f"model: t_fun {t_fun['epoch'] * 1e3:.1f} ms per batch of {model['batch']}, "
             f"{t_fun['full batch'] * 1e3:.1f} ms per full batch; t_fix {t_fix['epoch'] * 1e3:.1f}"
             f" / {t_fix['full batch'] * 1e3:.1f} ms; tiny-task round trip "
             f"{model['t_rtt'][1] * 1e3:.1f} ms; fastopt update of d = {d}: "
             f"{model['t_update'] * 1e3:.2f} ms; x = {x_bytes / 1e3:.0f} kB; "
             f"{S} steps per epoch; bw {BANDWIDTH / 1e9:.2f} GB/s (assumed)",
             f"{'W':>4}{'sync s/epoch':>14}{'compute share':>15}{'local k=10':>12}"
             f"{'local k=100':>13}{'full-batch s/it':>17}{'speed-up':>10}"]
    for W in (1, 2, 4, 8, 16, 32):
        Kw = max(W, K)
        extra = (W + Kw - 2) * x_bytes / BANDWIDTH
        step = t_fix["epoch"] + t_fun["epoch"] / W + extra
        local = {k: -(-S // k) * (t_fix["epoch"] + (W + 3 * Kw - 2) * x_bytes / BANDWIDTH)
                 + S * t_fun["epoch"] / W for k in (10, 100)}
        full = t_fix["full batch"] + t_fun["full batch"] / W + extra
        lines.append(f"{W:>4}{S * step:>14.3f}{t_fun['epoch'] / W / step:>15.0%}"
                     f"{local[10]:>12.3f}{local[100]:>13.3f}{full:>17.3f}"
                     f"{t_fun['full batch'] / full:>10.2f}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--features", type=int)
    ap.add_argument("--nnz-per-row", type=int, dest="nnz_per_row")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--iters", type=int)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    p = dict(QUICK if a.quick else FULL)
    for k in p:
        if getattr(a, k) is not None:
            p[k] = getattr(a, k)
    print(f"l1-logistic, CSR {p['rows']} x {p['features']}, {p['nnz_per_row']} nonzeros/row, "
          f"2 chunks, Adam; batch {p['batch']}, {p['iters']} full-batch iterations; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(HEADER)
    results, model = run_all(p)
    print(predict(model))
    harness.write_json(a.json, {"problem": p, "results": results, "model": model},
                       default=float)


if __name__ == "__main__":
    main()
