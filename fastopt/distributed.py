"""Training on data that lives in a Dask cluster: ``fastopt.distributed.minimize``.

The parameter vector fits on one machine, the data does not: ``args`` holds ``dask.array``
arrays chunked along rows (axis 0); the chunks stay on the workers that hold them and only
``x``, gradients and a few scalars travel.  Needs ``pip install "fastopt[dask]"``, and fastopt
installed on every worker.

Two strategies::

    >>> import dask.array as da, fastopt.distributed as fd
    >>> X = da.from_array(X_np, chunks=(10_000, -1)); y = da.from_array(y_np, chunks=10_000)
    >>> res = fd.minimize(logloss, w0, args=(X, y), method="adam", jac=True,
    ...                   options={"batch_size": 256, "epochs": 5, "seed": 0, "l1": 1e-3})
    >>> res = fd.minimize(logloss, w0, args=(X, y), jac=True, strategy="local",
    ...                   sync_every=20, options={"batch_size": 256, "epochs": 5, "seed": 0})

``strategy="sync"`` (data parallel): every step, each worker evaluates ``fun(x, *batch)`` on
the rows of the step's minibatch that lie in its chunks; the driver combines the (loss,
gradient) pairs, weighted by rows, in chunk order, and applies the fused fastopt update.  It
is ``fastopt.minimize``'s own loop (stopping rules, callbacks, schedules, l1, pruning,
resume) with a distributed objective, and gives the same iterates: with one chunk exactly,
with several up to the rounding of the weighted sum.

``strategy="local"`` (local SGD / periodic averaging): every chunk has a replica, an
optimizer living on the worker that holds the chunk; each round the replicas take
``sync_every`` steps on their own rows, then the driver averages their parameters (weighted
by rows).  Communication is one round per ``sync_every`` steps.

Local SGD with ``l1``: a replica steps a smooth iterate z (its optimizer without l1 and
bounds; ``l2`` and ``weight_decay`` act on z) and evaluates ``fun`` at the primal point
``clip(soft_threshold(z, tau))``, tau the l1 thresholds of the round's steps so far
(``learning_rate * l1 / D`` each, D the rule's denominator, as in the fused step): the l1 step
is taken lazily within a round, as in dual averaging, and z and tau add up linearly, so the
driver averages them (by rows) and takes that primal point once.  The result has exact zeros
(averaging replicas that each threshold their own steps would not: a coordinate that one
chunk's gradient pulls off zero stays nonzero in the average), and with one replica the
fixed points are the l1 problem's for any ``sync_every``.  The replicas' drift apart leaves
a bias of order ``learning_rate * sync_every`` (the optimum is reached as the learning rate
decays); adaptive rules weight each chunk's steps by its own D.

Minibatches (``batch_size`` B, N rows in chunks of n_k rows).  An epoch has S = N // B
steps (at least 1); step s covers the positions [a_s, b_s) = [s*B, (s+1)*B) of the epoch,
the last step up to N (the N % B rows left over join it), or with ``drop_last`` up to S*B,
as in ``fastopt.minimize``.  Each epoch chunk k draws a permutation of its rows, and step s
takes its rows ``perm[a_s*n_k//N : b_s*n_k//N]`` -- a share of the batch proportional to the
chunk, every row once per epoch unless dropped.  Rows are taken by position (pandas
objects by ``.iloc``).  Chunk 0 draws from ``default_rng(seed)``, chunk k >= 1 from the k-th
child of ``SeedSequence(seed)``, so a run is reproducible with a seed, whatever the placement
of chunks on workers, and with one chunk the batches are exactly ``fastopt.minimize``'s.
Without ``batch_size`` (full batch) ``fun(x, *chunk_args)`` returns the mean loss and
gradient over the rows it is given; the chunk results are weighted by rows.

Communication per step (sync; d parameters, W workers holding data, K chunks): ``x`` goes
once to each worker (W d values, inside the task below 1 MB, scattered above), one gradient
per chunk and a few scalars come back (K d values); an epoch is S steps.  Local strategy:
per round of ``sync_every`` steps, ``x`` once to each worker and, per chunk, its parameters
and its gradient at the round's start (2 K d values; 3 K d with l1 and a rule other than SGD,
whose thresholds are per coordinate), so per step 1/sync_every of that.

Failures.  When a worker dies, Dask reruns its tasks on the others and recomputes the lost
chunks from their lineage (the dask array's graph), so a sync run continues with the same
iterates.  A step whose tasks were cancelled or lost their connection is resubmitted
(``retries`` times); a task that kills workers (Dask's ``KilledWorker``), or a step that
still fails, ends the run with status 8, "A Dask task failed; returning the last good
point.", ``x`` the last point whose objective was evaluated.  In local SGD a replica that
lost its worker is rebuilt on the chunk's new worker from the averaged parameters, with the
run's initial optimizer state (``res.replica_restarts`` counts them).  Errors raised by
``fun`` itself are raised, as ``fastopt.minimize`` raises them.
"""

import concurrent.futures
import copy
import itertools
import math
import os
import time
import uuid
from typing import NamedTuple

import numpy as np

try:
    import distributed
    from distributed import futures_of, wait
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker
except ImportError as e:          # pragma: no cover - exercised without dask only
    raise ImportError("fastopt.distributed needs Dask: pip install 'fastopt[dask]' "
                      f"(dask[distributed]); {e}") from None

from fastopt import _dispatch
from fastopt._loop import (EPOCHS_DONE, FTOL_MET, BatchPlan, Loop, Objective, Status, Stop,
                           box_of, finite_point, take_rows, wrap_callback)
from fastopt._minimize import check_unused, method_name, prepare

__all__ = ["minimize", "STRATEGIES"]

STRATEGIES = ("sync", "local")
SCATTER_BYTES = 1 << 20         # x larger than this is scattered instead of put in each task
_RETRY = (concurrent.futures.CancelledError, CommClosedError, TimeoutError)


# ====================================================================== worker side
class _Job:
    """What every task needs besides the data and x, sent once to each worker: fun and how
    to call it (which positions of args are chunked dask arrays, the other args as given),
    the minibatch plan, the bounds as (lower, upper) arrays like x (finite differences stay
    inside; with l1, local SGD's primal point is clipped to them), and for local SGD the
    prototype optimizer (with l1, the run's without l1 and bounds: see _replica_steps)."""

    def __init__(self, fun, jac, eps, layout, consts, plan, shuffle, seeds,
                 proto=None, l1=None, nan_policy="raise", run_id=None, bounds=None):
        self.fun, self.jac, self.eps, self.bounds = fun, jac, eps, bounds
        self.layout, self.consts = layout, consts      # layout[i]: index into a chunk, or None
        self.plan, self.shuffle, self.seeds = plan, shuffle, seeds    # plan: minibatches
        self.proto, self.l1, self.nan_policy, self.run_id = proto, l1, nan_policy, run_id

    def call_args(self, blocks, idx):
        """fun's extra arguments: the rows ``idx`` (None: all) of the chunk's blocks in the
        dask positions, the other arguments unchanged."""
        return tuple(self.consts[i] if j is None else
                     (blocks[j] if idx is None else take_rows(blocks[j], idx))
                     for i, j in enumerate(self.layout))

    def piece(self, s, n_k):
        """Rows [start, stop) of a chunk of n_k rows (in its epoch permutation) in step s:
        the chunk's share of the positions [start, stop) of batch s among all N rows."""
        start, stop = self.plan.bounds(s)
        N = self.plan.n
        return start * n_k // N, stop * n_k // N


def _bundle(*blocks):
    """One chunk's blocks of every dask argument, kept together on one worker."""
    return blocks


def _nrows(blocks):
    return int(blocks[0].shape[0])


def _identity(obj):
    return obj


def _epoch_order(prev, n):
    """The permutation of a chunk's n rows for the next epoch, and the generator after it:
    ``prev`` is the chunk's SeedSequence (first epoch) or the previous epoch's result."""
    if isinstance(prev, np.random.SeedSequence):
        rng = np.random.default_rng(prev)
    else:
        rng = copy.deepcopy(prev[1])            # never mutate a task's input
    return rng.permutation(n), rng


def _eval_group(job, x, items):
    """(f, g) of fun on pieces of chunks: items are (k, blocks, order, start, stop), order
    None for a contiguous slice and start None for the whole chunk.  Returns
    ([(k, f, g, rows)], fun evaluations per piece, gradient evaluations per piece)."""
    x = np.asarray(x)
    obj = Objective(job.fun, job.jac, job.eps, bounds=job.bounds)
    out, nfev, njev = [], 0, 0
    for k, blocks, order, start, stop in items:
        if start is None:
            idx, rows = None, _nrows(blocks)
        else:
            idx = slice(start, stop) if order is None else order[0][start:stop]
            rows = stop - start
        f0, j0 = obj.nfev, obj.njev
        f, g = obj.smooth(x, job.call_args(blocks, idx))
        nfev, njev = max(nfev, obj.nfev - f0), max(njev, obj.njev - j0)
        out.append((k, f, g, rows))
    return out, nfev, njev


class _Replica:
    def __init__(self, job, k, x, rnd, step0):
        self.opt = copy.deepcopy(job.proto)          # the run's optimizer and initial state
        self.x = self.opt.params[0]
        np.copyto(self.x, x)
        seed = job.seeds[k]
        if rnd == 0:
            self.restarted = False
        else:                                        # rebuilt after its worker was lost
            self.restarted = True
            self.opt.step_count = step0
            seed = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key + (rnd,),
                                          pool_size=seed.pool_size)
        self.rng = np.random.default_rng(seed)
        self.epoch, self.order = -1, None
        self.round, self.out = -1, None


# local SGD: the replicas of this worker process, by (run id, chunk)
_REPLICAS: dict[tuple[str, int], _Replica] = {}


class _RoundOut(NamedTuple):
    """A replica's round: its parameters at the end (with l1, its smooth iterate z) and its
    l1 threshold tau (None without l1; see _replica_steps); f, g and the rows of its first
    evaluation (at the round's x); each counted step's (f, rows); skipped steps, whether it
    met a non-finite value, fun and gradient evaluations, and whether the replica was
    rebuilt for the round."""
    k: int
    z: np.ndarray
    tau: object
    f0: object
    g0: object
    rows0: int
    losses: list
    skips: int
    bad: bool
    nfev: int
    njev: int
    restarted: bool = False


def _local_round(job, x, rnd, step0, steps, schedule, items):
    """Round ``rnd`` of local SGD for this worker's replicas: each takes the steps listed
    (``steps``: an int for full-batch steps, else a list of (epoch, step in epoch)) from x.
    Idempotent: a replica that already ran this round returns the same result again."""
    x = np.asarray(x)
    out = []
    for k, blocks in items:
        key = (job.run_id, k)
        rep = _REPLICAS.get(key)
        if rep is not None and rep.round == rnd:
            out.append(rep.out)
            continue
        if rep is None or rep.round != rnd - 1:
            rep = _REPLICAS[key] = _Replica(job, k, x, rnd, step0)
        else:
            np.copyto(rep.x, x)
        if schedule is not None:
            rep.opt.learning_rate.load_state_dict(schedule)
        rep.out = _replica_steps(job, rep, k, blocks, steps)._replace(restarted=rep.restarted)
        rep.round, rep.restarted = rnd, False
        out.append(rep.out)
    return out


def _replica_steps(job, rep, k, blocks, steps):
    """A replica's steps of one round.  Without l1 it steps its parameters as minimize
    does.  With l1 its optimizer steps a smooth iterate z (no l1, no bounds; z = x at the
    round's start) while the l1 threshold tau accumulates what each step's proximal step
    would take (l1 * _prox_rate), and fun is evaluated at the primal point _primal(z, tau):
    a proximal method with the threshold applied lazily within the round.  z and tau are
    linear in the steps, so the driver averages them and thresholds once (exact zeros)."""
    n_k = _nrows(blocks)
    obj = Objective(job.fun, job.jac, job.eps, job.l1, job.bounds)
    opt, z = rep.opt, rep.x
    skip = job.nan_policy == "skip"
    good = z.copy() if skip else None
    f0 = g0 = None
    tau = None if job.l1 is None else 0.0
    rows0, losses, skips, bad = 0, [], 0, False
    plan = itertools.repeat(None, steps) if isinstance(steps, int) else steps
    for step in plan:
        if step is None:
            idx, b = None, n_k
        else:
            epoch, s = step
            if epoch != rep.epoch:
                rep.epoch = epoch
                rep.order = rep.rng.permutation(n_k) if job.shuffle else None
            start, stop = job.piece(s, n_k)
            if start == stop:
                continue
            idx = slice(start, stop) if rep.order is None else rep.order[start:stop]
            b = stop - start
        x = z if tau is None else _primal(z, tau, job.bounds)
        f, g = obj(x, job.call_args(blocks, idx))
        if not finite_point(f, g):
            if skip and opt.step_count > 0:
                np.copyto(z, good)
                skips += 1
                continue
            bad = True
            break
        if f0 is None:
            f0, g0, rows0 = f, g, b
        losses.append((f, b))
        if skip:
            np.copyto(good, z)
        opt.step(g)
        if tau is not None:
            tau = tau + job.l1 * _prox_rate(opt)
    return _RoundOut(k, z.copy(), tau, f0, g0, rows0, losses, skips, bad, obj.nfev, obj.njev)


def _primal(z, tau, box):
    """The proximal step of ``tau``-weighted l1 and the box at z: the soft threshold
    ``sign(z) * max(|z| - tau, 0)`` (a zero it makes is +0.0, as the kernels make it),
    then the projection onto the box (lower, upper) unless None; of z's dtype."""
    x = np.abs(z) - tau
    np.maximum(x, 0.0, out=x)
    np.copysign(x, z, out=x)
    x += 0.0                            # -0.0 + 0.0 is +0.0
    if box is not None:
        np.clip(x, *box, out=x)
    return x.astype(z.dtype, copy=False)


def _prox_rate(opt):
    """What the fused l1 proximal step of ``opt``'s last update multiplies l1 by:
    ``lr * prox_scale / D``, D the rule's per-coordinate denominator at the state that
    update left (the rules' kernel formulas, from the kernel's own per-step numbers); a
    float for SGD (D = 1), else a float64 array."""
    t = opt.step_count
    h = dict(opt.hyper)
    n, _ = _dispatch.step_numbers(opt.rule, opt.convention == "keras", h,
                                  opt.learning_rate_at(t - 1), t)
    scale = opt._prox_scale()
    if opt.rule == "sgd":
        return n["lr"] * scale
    state = opt.state[0]

    def st(name):
        return state[name].astype(np.float64, copy=False)
    if opt.rule == "adagrad":          # lr (with lr_decay), D = sqrt(s + eps_in) + eps_out
        lr, den = n["lr"], np.sqrt(st("sum") + n["eps_in"]) + n["eps_out"]
    elif opt.rule == "rmsprop":        # D = sqrt(s [- a^2] + eps_in) + eps_out
        w = st("square_avg") - st("grad_avg") ** 2 if h["centered"] else st("square_avg")
        lr, den = n["lr"], np.sqrt(w + n["eps_in"]) + n["eps_out"]
    elif opt.rule == "adam":           # D = sqrt(v or vmax) * sqrt_scale + eps; prox_lr
        w = st("max_exp_avg_sq" if h["amsgrad"] else "exp_avg_sq")
        lr, den = n["prox_lr"], np.sqrt(w) * n["sqrt_scale"] + n["eps"]
    elif opt.rule == "adamax":         # D = u + eps_out
        lr, den = n["lr"], st("exp_inf") + n["eps_out"]
    else:                              # nadam: D = sqrt(v / bc2) + eps
        lr, den = n["lr"], np.sqrt(st("exp_avg_sq") * n["v_scale"]) + n["eps"]
    return lr * scale / den


def _replica_states(run_id):
    """{chunk: (round, state_dict)} of this worker's replicas of a run."""
    return {k: (rep.round, rep.opt.state_dict())
            for (r, k), rep in list(_REPLICAS.items()) if r == run_id}


def _forget(run_id):
    for key in [key for key in list(_REPLICAS) if key[0] == run_id]:
        _REPLICAS.pop(key, None)


# ====================================================================== driver side
class _TaskFailed(Exception):
    pass


def _payload(obj):
    """Bytes of array data (8 per scalar) in a nested result."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, (list, tuple)):
        return sum(_payload(o) for o in obj)
    if isinstance(obj, (float, int, np.generic)):
        return 8
    return 0


class _Cluster:
    """The run's data on the cluster: one future per chunk holding that chunk's blocks of
    every dask argument (co-located once, at the start), its row count, where it lives;
    submits a step's tasks there and gathers them, resubmitting a failed step."""

    def __init__(self, client, args, retries, timeout):
        self.client, self.retries, self.timeout = client, int(retries), timeout
        self.run_id = uuid.uuid4().hex[:12]
        self._count = itertools.count()
        self.futures = []                 # everything to release at the end
        self.bytes_sent = self.bytes_received = self.tasks = 0
        self.retried = 0
        import dask.array as da             # here: workers never need it
        dask_args = [a for a in args if isinstance(a, da.Array)]
        if not dask_args:
            raise ValueError("fastopt.distributed.minimize needs the data as dask arrays in "
                             "'args', chunked along axis 0 (rows)")
        if any(a.ndim == 0 for a in dask_args):
            raise ValueError("a dask array in 'args' must have at least one dimension")
        rows = dask_args[0].chunks[0]
        known = [a.shape[0] for a in dask_args if not math.isnan(a.shape[0])]
        if len(set(known)) > 1:
            raise ValueError(f"the dask arrays in 'args' have different numbers of rows: "
                             f"{sorted(set(known))}")
        layout, consts, aligned = [], [], []
        for a in args:
            if isinstance(a, da.Array):
                if a.chunks[0] != rows or any(len(c) > 1 for c in a.chunks[1:]):
                    if any(math.isnan(n) for n in a.chunks[0] + rows):
                        raise ValueError("the dask arrays in 'args' have unknown, different "
                                         "row chunks: call compute_chunk_sizes() first")
                    # same row chunks as the first, one block across the other axes
                    a = a.rechunk({0: rows, **{i: -1 for i in range(1, a.ndim)}})
                layout.append(len(aligned))
                consts.append(None)
                aligned.append(a)
            else:
                layout.append(None)
                consts.append(a)
        self.layout, self.consts = layout, consts
        persisted = client.persist(aligned)
        self.futures += [f for p in persisted for f in futures_of(p)]
        by_key = {f.key: f for f in self.futures}
        blocks = [[by_key[key] for key in _row_keys(p)] for p in persisted]
        self.nchunks = len(blocks[0])
        self.chunks = [client.submit(_bundle, *(b[k] for b in blocks), pure=False,
                                     key=f"fastopt-chunk-{self.run_id}-{k}")
                       for k in range(self.nchunks)]
        self.futures += self.chunks
        wait(self.chunks)
        sizes = rows
        if any(math.isnan(n) for n in sizes):
            sizes = client.gather([client.submit(_nrows, c, pure=False) for c in self.chunks])
        self.nrows = [int(n) for n in sizes]
        self.N = sum(self.nrows)
        if self.N == 0:
            raise ValueError("the dask arrays in 'args' have no rows")
        self.job = None
        self.placed_at = -math.inf
        self.refresh()

    # -------------------------------------------------------------- placement
    def refresh(self):
        """Group the chunks by the worker holding them (split by its threads), from the
        scheduler's current view; a task is pinned to its group's worker loosely, so a
        stale view costs a transfer, not correctness."""
        who = self.client.who_has(self.chunks)
        threads = self.client.nthreads()
        by_worker = {}
        for k, c in enumerate(self.chunks):
            if not self.nrows[k]:
                continue                         # an empty chunk takes no part
            holders = sorted(who.get(c.key, ()))
            by_worker.setdefault(holders[0] if holders else None, []).append(k)
        groups = []
        for addr, ks in by_worker.items():
            n = max(1, min(len(ks), threads.get(addr, 1)))
            groups += [(addr, [int(k) for k in part]) for part in np.array_split(ks, n)
                       if len(part)]
        self.groups = sorted(groups, key=lambda g: g[1][0])
        self.workers = len(by_worker)
        self.placed_at = time.perf_counter()

    def set_job(self, job):
        self.job = self.client.submit(_identity, job, pure=False,
                                      key=f"fastopt-job-{self.run_id}")
        self.futures.append(self.job)

    # -------------------------------------------------------------- running steps
    def run(self, func, x, items_of, kind):
        """Submit ``func(job, x_or_future, items, *extra)`` once per group and return the
        results; ``items_of(ks)`` -> (items, extra) for a group's chunks (items empty: no
        task).  Failures: see the module docstring."""
        last = None
        for attempt in range(self.retries + 1):
            futs = []
            try:
                if attempt or time.perf_counter() - self.placed_at > 2.0:
                    self.refresh()
                xs = x
                if x is not None and x.nbytes > SCATTER_BYTES:
                    xs = self.client.scatter(x, broadcast=True, hash=False)
                for addr, ks in self.groups:
                    items, extra = items_of(ks)
                    if not items:
                        continue
                    key = f"fastopt-{kind}-{self.run_id}-{next(self._count)}"
                    futs.append(self.client.submit(
                        func, self.job, xs, *extra, items, key=key, pure=False,
                        workers=None if addr is None else [addr], allow_other_workers=True))
                    self.bytes_sent += 0 if x is None else x.nbytes
                self.tasks += len(futs)
                if self.timeout is not None:
                    wait(futs, timeout=self.timeout)
                out = self.client.gather(futs)
                self.bytes_received += _payload(out)
                return out
            except KilledWorker as e:
                raise _TaskFailed(e) from None
            except _RETRY as e:
                last = e
                self.retried += 1
            finally:
                for f in futs:
                    f.release()
        raise _TaskFailed(last)

    def submit_chain(self, func, prev, k, kind):
        """A task for chunk k (e.g. its next epoch's permutation), where chunk k lives."""
        addr = next((a for a, ks in self.groups if k in ks), None)
        return self.client.submit(func, prev, self.nrows[k], pure=False,
                                  key=f"fastopt-{kind}-{self.run_id}-{k}-{next(self._count)}",
                                  workers=None if addr is None else [addr],
                                  allow_other_workers=True)

    def close(self):
        for f in self.futures:
            f.release()
        self.futures = []


def _row_keys(arr):
    keys = arr.__dask_keys__()
    while isinstance(keys[0], list) and isinstance(keys[0][0], list):
        keys = [k[0] for k in keys]                  # one block along the other axes
    return [k[0] if isinstance(k, list) else k for k in keys]


def _combine(results, dtype):
    """The row-weighted mean of per-chunk (f, g), summed in chunk order (so a seeded run is
    reproducible whatever the placement; with one chunk, exactly that chunk's f and g)."""
    results = sorted(results, key=lambda r: r[0])
    total = sum(r[3] for r in results)
    f, g = 0.0, None
    for _, fk, gk, rows in results:
        w = rows / total
        if g is None and w == 1.0:
            g = np.array(gk, dtype=dtype, copy=True)
        elif g is None:
            g = (gk * w).astype(dtype, copy=False)
        else:
            g += w * gk
        f += w * fk
    return f, g


def _average(arrays, weights, out):
    """sum_k w_k a_k into out, in order (a single weight 1 copies exactly)."""
    if weights[0] == 1.0:
        np.copyto(out, arrays[0])
    else:
        np.multiply(arrays[0], weights[0], out=out)
    for a, w in zip(arrays[1:], weights[1:]):
        out += w * a
    return out


class _DaskObjective(Objective):
    """The objective on the cluster: ``smooth(x, batch)`` evaluates fun on every chunk's
    part of ``batch`` (a full-batch marker or (epoch, step)) and combines the results; the
    base class adds the l1 penalty and its counts are of whole-objective evaluations."""

    FULL = "full"

    def __init__(self, cluster, fun, jac, eps, l1, seeds, shuffle):
        super().__init__(fun, jac, eps, l1)
        self.cluster, self.seeds, self.shuffle = cluster, seeds, shuffle
        self.orders, self.order_epoch = None, -1
        self.error = None

    def epoch_orders(self, epoch):
        """Chunk permutations of ``epoch``, as futures where the chunks are (a chain of
        tasks, so a lost one is recomputed from its lineage)."""
        if not self.shuffle:
            return None
        while self.order_epoch < epoch:     # one link per epoch (several on a resume)
            old = self.orders
            self.orders = [self.cluster.submit_chain(_epoch_order, p, k, "order")
                           for k, p in enumerate(old or self.seeds)]
            self.order_epoch += 1
            for f in old or ():
                f.release()                 # recomputable from its lineage if needed
        return self.orders

    def release(self):
        for f in self.orders or ():
            f.release()
        self.orders = None

    def smooth(self, x, batch):
        c = self.cluster
        if batch == self.FULL:
            def items_of(ks):
                return [(k, c.chunks[k], None, None, None) for k in ks], ()
        else:
            epoch, s = batch
            orders = self.epoch_orders(epoch)

            def items_of(ks):
                items = []
                for k in ks:
                    start, stop = c.job_plan.piece(s, c.nrows[k])
                    if start < stop:
                        items.append((k, c.chunks[k], None if orders is None else orders[k],
                                      start, stop))
                return items, ()
        try:
            out = c.run(_eval_group, x.copy(), items_of, "grad")
        except _TaskFailed as e:
            self.error = e.args[0]
            raise Stop(Status.TASK_FAILED) from None
        results = [r for group, _, _ in out for r in group]
        self.nfev += max(n for _, n, _ in out)
        self.njev += max(n for _, _, n in out)
        return _combine(results, x.dtype)


class _Batches:
    """The loop's minibatches (see Loop.minibatch): the plan's steps per epoch, each
    ``(epoch, step)`` with its row count.  The chunks' permutations follow from the seeds
    and the epoch number (_DaskObjective.epoch_orders), so there is no stream to carry."""

    def __init__(self, cluster):
        self.cluster, self.n = cluster, cluster.N

    def state(self):
        return None

    def __call__(self, epoch, first=0, stream=None):
        job, nrows = self.cluster.job_plan, self.cluster.nrows
        for s in range(first, job.plan.steps):
            yield (epoch, s), sum(b - a for a, b in (job.piece(s, n) for n in nrows))


# ---------------------------------------------------------------------- local SGD
class _LocalLoop(Loop):
    """Rounds of local steps on the replicas, then a row-weighted average of their
    parameters (with l1, and a proximal step); reuses Loop's limits, callbacks, stopping
    rules and result."""

    def average(self, res, weights, box):
        """The row-weighted average of the replicas' parameters; with l1, the proximal step
        (_primal) at the average of their smooth iterates with the average of their
        thresholds (see _replica_steps): with one replica, its own primal point."""
        w = [weights[r.k] for r in res]
        z = _average([r.z for r in res], w, np.empty_like(self.x))
        if res[0].tau is None:
            return z
        tau = _average([r.tau for r in res], w, np.empty(np.shape(res[0].tau)))
        return _primal(z, tau, box)

    def rounds(self, cluster, sync_every, batch_size, epochs):
        x, opt = self.x, self.opt
        weights = [n / cluster.N for n in cluster.nrows]
        self.restarts = 0
        rnd = 0
        schedule_state = getattr(opt.learning_rate, "update", None) is not None
        f, g = math.nan, np.full_like(x, np.nan)
        epoch_loss = math.nan
        nepochs = 0

        def one_round(steps):
            """Run a round; returns f, g at x (the replicas' first evaluations combined),
            the next x, and each step's (f, rows) in chunk order, then step order."""
            nonlocal rnd, f, g
            sched = opt.learning_rate.state_dict() if schedule_state else None

            def items_of(ks):
                extra = (rnd, opt.step_count, steps, sched)
                return [(k, cluster.chunks[k]) for k in ks], extra
            try:
                out = cluster.run(_local_round, x.copy(), items_of, "round")
            except _TaskFailed as e:
                self.objective.error = e.args[0]
                raise Stop(Status.TASK_FAILED) from None
            rnd += 1
            res = sorted((r for group in out for r in group), key=lambda r: r.k)
            self.restarts += sum(r.restarted for r in res)
            self.objective.nfev += max(r.nfev for r in res)
            self.objective.njev += max(r.njev for r in res)
            if any(r.bad for r in res):                   # a replica met a non-finite value
                raise Stop(Status.NAN)
            self.skips += sum(r.skips for r in res)
            if self.skips > self.options["max_skips"]:
                raise Stop(Status.MAX_SKIPS)
            firsts = [(r.k, r.f0, r.g0, r.rows0) for r in res if r.f0 is not None]
            if firsts:                      # the replicas' f include the l1 penalty at x
                f, g = _combine(firsts, x.dtype)
            if not finite_point(f, g):
                raise Stop(Status.NAN)
            x_new = self.average(res, weights, cluster.job_plan.bounds)
            if not np.isfinite(x_new).all():
                raise Stop(Status.NAN)
            return f, g, x_new, [loss for r in res for loss in r.losses]

        def body():
            nonlocal epoch_loss, nepochs
            if batch_size is None:
                f_prev = math.nan
                while True:
                    self.limits()
                    k = int(min(sync_every, self.maxiter - self.nit))
                    f0, g0, x_new, _ = one_round(k)
                    self.accept(f0, g0)                   # f0, g0 are at x
                    if self.gmax(g0) <= self.options["gtol"]:
                        return Status.SUCCESS, None
                    if self.ftol_check(f_prev, f0):
                        return Status.SUCCESS, FTOL_MET
                    f_prev = f0
                    np.copyto(x, x_new)
                    self.nit += k
                    opt.step_count += k
                    self.report(f0, g0)
                    self.feed_plateau(rnd, f0)
            S = cluster.job_plan.plan.steps
            for e in range(epochs):
                total, rows = 0.0, 0
                for s0 in range(0, S, sync_every):
                    self.limits()
                    steps = [(e, s) for s in range(s0, min(s0 + sync_every, S))]
                    steps = steps[:int(min(len(steps), self.maxiter - self.nit))]
                    f0, g0, x_new, losses = one_round(steps)
                    np.copyto(x, x_new)
                    self.accept(f0, g0)
                    self.nit += len(steps)
                    opt.step_count += len(steps)
                    for loss, size in losses:       # as minimize sums an epoch's
                        total += loss * size
                        rows += size
                    self.report(f0, g0)
                nepochs += 1
                last, epoch_loss = epoch_loss, (total / rows if rows else math.nan)
                self.end_epoch(nepochs, epoch_loss, last)
            return Status.SUCCESS, EPOCHS_DONE

        status, message, back = self.run(body)
        f, g = back[:2] if back else self.checkpoint.current.point[:2]
        if batch_size is None and status != Status.SUCCESS and back is None:
            try:                                          # f and g at the returned x
                f, g = self.objective(x, _DaskObjective.FULL)
            except Stop:
                pass
        if batch_size is None and status == Status.MAXITER:
            message = self.short_of_gtol(self.gmax(g))
        extra = {} if batch_size is None else {"nepochs": nepochs}
        res = self.result(status, epoch_loss if batch_size is not None else f, g, message,
                          **extra)
        res.replica_restarts = self.restarts
        return res


def _collect_state(client, cluster, opt):
    """Average the replicas' optimizer states (row-weighted, chunk order) into opt."""
    try:
        found = client.run(_replica_states, cluster.run_id, on_error="ignore")
    except Exception:                               # noqa: BLE001 - best effort
        return
    best = {}
    for states in (found or {}).values():
        if isinstance(states, dict):
            for k, (rnd, sd) in states.items():
                if k not in best or rnd > best[k][0]:
                    best[k] = (rnd, sd)
    if not best:
        return
    ks = sorted(best)
    total = sum(cluster.nrows[k] for k in ks)
    weights = [cluster.nrows[k] / total for k in ks]
    sd = copy.deepcopy(best[ks[0]][1])
    for i, st in enumerate(sd["state"]):
        for name, arr in st.items():
            _average([best[k][1]["state"][i][name] for k in ks], weights, arr)
    sd["step"] = opt.step_count
    lr = opt.learning_rate
    if callable(lr) and hasattr(lr, "state_dict"):
        sd["schedule"] = lr.state_dict()
    opt.load_state_dict(sd)


# ====================================================================== front end
def _get_client(client):
    """The client to use and whether this call started it (and its LocalCluster)."""
    if client is not None:
        return client, False
    try:
        return distributed.get_client(), False
    except ValueError:
        pass
    cluster = distributed.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
    return distributed.Client(cluster, direct_to_workers=True), True


def _seeds(seed, n):
    """Chunk 0: SeedSequence(seed) itself (default_rng(seed)'s stream, minimize's); chunk
    k >= 1: its k-th spawned child."""
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63))
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    root = np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key,
                                  pool_size=root.pool_size)
    return [root] + root.spawn(n - 1)


def minimize(fun, x0, args=(), method=None, jac=None, hess=None, hessp=None, bounds=None,
             constraints=(), tol=None, callback=None, options=None, *, client=None,
             strategy="sync", sync_every=10, retries=2, timeout=None):
    """Minimize ``mean over rows of loss(x; rows)`` where the rows are dask arrays spread over
    a Dask cluster, with a fastopt method; ``fastopt.minimize``'s interface and result.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> (f, gradient)`` with ``jac=True``, or ``-> f`` with ``jac`` a
        callable or a finite-difference scheme (None, the default: '2-point'), as in
        ``fastopt.minimize``; each chunk differentiates its own rows.  Called on the
        workers with the rows of a minibatch (or a whole chunk, in full batch) in place of
        each dask array; ``f`` and the gradient must be means over those rows.
    x0 : array_like, 1-D
    args : tuple
        ``dask.array`` arrays with the same number of rows, chunked along axis 0 only (other
        row chunkings are aligned to the first dask argument's, and other axes merged into
        one block, by rechunking), each chunk a NumPy array or a scipy.sparse CSR matrix /
        array (e.g. built with ``da.from_delayed`` or ``map_blocks(scipy.sparse.csr_matrix)``);
        any other argument is passed unchanged to every call.  The arrays are persisted for
        the run (persist them yourself to keep them in memory between runs).
    method, jac, hess, hessp, bounds, constraints, tol, callback, options
        As in ``fastopt.minimize`` (scipy's signature; every option there: ``batch_size``,
        ``epochs``, ``seed``, ``shuffle``, ``l1``, ``pruning``, schedules, ``opt_state``,
        ``gtol``, ``ftol``, ``maxiter``, ``nan_policy`` ...).  Without ``batch_size``, full
        batch.  Two differences: without a learning rate the method's default is used (no
        ``learning_rate="auto"`` sweep, which would cost a run on the workers), and
        ``polish`` applies to strategy "sync" only (its full-batch steps are evaluated on
        the workers); "local" ignores it.
    client : distributed.Client or None
        None: the current client (``distributed.get_client()``), else a ``LocalCluster``
        with one single-threaded worker process per core, closed at the end.
    strategy : {"sync", "local"}
        "sync": data-parallel steps, the driver updates x (fastopt.minimize's loop).
        "local": local SGD; every chunk's replica takes ``sync_every`` steps on its own rows
        with its own optimizer state (kept on its worker), then the parameters are
        averaged; with l1 the driver takes the l1 step of the whole round at the average
        (exact zeros; see the module docstring).  Pruning needs one mask for all and is
        "sync" only.
    sync_every : int
        Local steps per round (strategy "local").  With minibatches a round ends at the end
        of an epoch.
    retries : int
        Times a failed step (cancelled tasks, lost connection) is resubmitted.
    timeout : float or None
        Seconds a step may take before it counts as failed.

    Returns
    -------
    scipy.optimize.OptimizeResult
        As ``fastopt.minimize`` (x, fun, jac, nit, nfev, njev, status, success, message,
        opt_state, nepochs, nnz, sparsity), plus ``strategy``, ``nchunks``, ``nworkers``
        and ``comm``: tasks, retries, and the array bytes sent to (x) and received from
        (gradients, parameters, scalars) the workers.  nfev and njev count evaluations of
        the whole objective (one call of fun per chunk each).  Status 8: a Dask failure
        ended the run, x is the last good point.

    Local strategy: nit counts local steps (of every replica); the callback is called once
    per round with the averaged x, and fun / jac at the round's starting point (the
    combination of the replicas' first evaluations: exact in full batch, a minibatch
    estimate otherwise).  Full batch stops on gtol / ftol tested at each round's start, and
    returns fun and jac evaluated at the returned x.  res.opt_state is the row-weighted
    average of the replicas' states (resuming starts every replica from it).

    Examples
    --------
    >>> res = fastopt.distributed.minimize(logloss, np.zeros(d), args=(X, y), jac=True,
    ...                                    method="adam", options={"batch_size": 128,
    ...                                    "epochs": 3, "seed": 0})
    >>> res.x, res.comm["bytes_received"]
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Invalid strategy: {strategy!r} (expected 'sync' or 'local')")
    if isinstance(sync_every, bool) or not isinstance(sync_every, (int, np.integer)) \
            or sync_every < 1:
        raise ValueError(f"Invalid sync_every: {sync_every!r} (expected an int >= 1)")
    check_unused(method_name(method), hess, hessp, constraints)
    if not isinstance(args, tuple):
        args = (args,)
    options = dict(options or {})
    if tol is not None:
        options.setdefault("tol", tol)
    opt, x, o, limits = prepare(method, x0, bounds, options, stacklevel=4)
    batch_size = o["batch_size"]
    if strategy == "local" and opt.pruning is not None:
        raise ValueError("pruning needs one mask for all replicas: use strategy='sync'")
    if strategy == "local" and o["return_best"]:
        raise ValueError("return_best is for strategy='sync'")
    l1 = opt.l1_strength(0) if opt.uses_l1 else None
    client, owned = _get_client(client)
    cluster = objective = None
    try:
        cluster = _Cluster(client, args, retries, timeout)
        seeds = _seeds(o["seed"], cluster.nchunks)
        plan = None if batch_size is None else BatchPlan(cluster.N, batch_size,
                                                          o["drop_last"])
        proto = None
        if strategy == "local":
            proto = copy.deepcopy(opt)
            if l1 is not None:      # see _replica_steps
                proto.l1, proto.bounds = 0.0, None
        job = _Job(fun, jac, o["eps"], cluster.layout, cluster.consts, plan,
                   o["shuffle"], seeds, run_id=cluster.run_id, proto=proto, l1=l1,
                   nan_policy=o["nan_policy"], bounds=box_of(opt))
        cluster.job_plan = job
        cluster.set_job(job)
        objective = _DaskObjective(cluster, fun, jac, o["eps"], l1, seeds, o["shuffle"])
        cb = wrap_callback(callback)
        if strategy == "sync":
            loop = Loop(opt, objective, x, args, cb, o, *limits)
            if batch_size is None:
                loop.args = _DaskObjective.FULL
                res = loop.full_batch()
            else:
                res = loop.minibatch(batch_size, o["epochs"], o["shuffle"], o["seed"],
                                     batches=_Batches(cluster), full=_DaskObjective.FULL)
        else:
            loop = _LocalLoop(opt, objective, x, args, cb, o, *limits)
            if batch_size is None:
                loop.args = _DaskObjective.FULL
            res = loop.rounds(cluster, int(sync_every), batch_size, o["epochs"])
            _collect_state(client, cluster, opt)
            res.opt_state = opt.state_dict()
        if res.status == Status.TASK_FAILED and objective.error is not None:
            err = objective.error
            res.message = f"{Status.TASK_FAILED.message} ({type(err).__name__}: {err})"
        res.strategy = strategy
        res.nchunks = cluster.nchunks
        res.nworkers = cluster.workers
        res.comm = {"tasks": cluster.tasks, "retries": cluster.retried,
                    "bytes_sent": cluster.bytes_sent, "bytes_received": cluster.bytes_received}
        return res
    finally:
        if cluster is not None:
            if objective is not None:
                objective.release()
            if strategy == "local":
                try:
                    client.run(_forget, cluster.run_id, on_error="ignore")
                except Exception:                   # noqa: BLE001 - cleanup is best effort
                    pass
            cluster.close()
        if owned:
            cluster_obj = client.cluster
            client.close()
            if cluster_obj is not None:
                cluster_obj.close()
