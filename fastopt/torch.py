"""fastopt's fused kernels as ``torch.optim`` optimizers for models trained on the CPU.

``SGD``, ``Adagrad``, ``RMSprop``, ``Adam``, ``AdamW``, ``Adamax`` and ``NAdam`` are
``torch.optim.Optimizer`` subclasses with torch's names, signatures, defaults, checks and
numerics, so a training loop, its learning-rate schedulers and its checkpoints work
unchanged::

    >>> import torch, fastopt.torch
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = fastopt.torch.Adam(model.parameters(), lr=1e-2)
    >>> loss = model(torch.ones(3, 4)).square().sum(); loss.backward()
    >>> opt.step(); opt.zero_grad()

A step updates every parameter that has a gradient in one call of the compiled kernels: the
parameters and the state tensors (torch tensors in ``opt.state``, torch's keys) are bound
once to the kernels through zero-copy NumPy views, and only the gradients are bound at each
step.  Parameters must be CPU, dense, contiguous float32 or float64 tensors; anything else is
a ValueError naming the parameter, never a silent copy that would lose the update.

Each param group also takes what torch.optim lacks (``fastopt.sparsity``, fastopt's
options):

- ``l1``: an exact proximal l1 step (exact zeros), strength >= 0;
- ``pruning``: a pruning schedule (``fastopt.sparsity.PolynomialDecay`` or
  ``ConstantSparsity``) pruning the group's tensors by magnitude, per tensor or over the
  group (``pruning_scope`` "per_array" or "global"); put the biases in a group of their
  own to prune weights only.  The masks are state tensors (``state[p]["mask"]``, uint8,
  1 = kept): pruned weights and their optimizer state are exactly 0 and stay 0, so momentum
  never revives them;
- ``clipnorm`` (each gradient's norm) and ``global_clipnorm`` (the group's gradients'
  norm);
- ``nan_policy``: "propagate" (torch's behaviour), "skip" (a group whose gradients hold an
  inf or NaN is left untouched for that step) or "raise" (FloatingPointError naming the
  parameter, nothing updated).

``num_threads`` (the optimizer's, not a group's) is fastopt's: None uses OpenMP's current
maximum.  ``foreach`` and ``fused`` are accepted and change nothing (the kernels are fused
and run over every tensor at once); ``capturable=True`` and ``differentiable=True`` are
refused (CUDA graphs and autograd through the step are not what the kernels do).

``to_csr(tensors)`` exports pruned weights as ``scipy.sparse.csr_array`` matrices.

This module imports torch; ``import fastopt`` does not import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import scipy.sparse

try:
    import torch
except ImportError as error:  # pragma: no cover - exercised where torch is absent
    raise ImportError("fastopt.torch needs PyTorch: install it with the extra, "
                      "pip install 'fastopt[torch]'") from error

from fastopt import _dispatch
from fastopt import sparsity as _sparsity
from fastopt._settings import _check_clip, _check_nan_policy, _check_pruning
from fastopt._threads import check_num_threads
from fastopt._validation import EMPTY, EMPTY_MASK, check_nonnegative
from fastopt.sparsity import SCOPES as PRUNING_SCOPES

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "to_csr"]

# fastopt's options of a param group, with their defaults
GROUP_OPTIONS: dict[str, Any] = {"l1": 0.0, "pruning": None, "pruning_scope": "per_array",
                                 "clipnorm": None, "global_clipnorm": None,
                                 "nan_policy": "propagate"}
_SCHEDULES = {"PolynomialDecay": _sparsity.PolynomialDecay,
              "ConstantSparsity": _sparsity.ConstantSparsity}


def _scalar_dtype() -> torch.dtype:
    """The dtype of torch's ``step`` and ``mu_product`` tensors (torch's own rule)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _name(gi: int, j: int, p: torch.Tensor) -> str:
    return f"param_groups[{gi}]['params'][{j}] (shape {tuple(p.shape)})"


def _check_param(p: torch.Tensor, name: str) -> None:
    """A parameter the kernels can update in place, or a ValueError naming it."""
    problem = None
    if p.device.type != "cpu":
        problem = f"is on {p.device}; fastopt.torch steps CPU tensors"
    elif p.layout != torch.strided:
        problem = f"has layout {p.layout}; fastopt.torch steps dense tensors"
    elif p.dtype not in (torch.float32, torch.float64):
        problem = f"has dtype {p.dtype}; fastopt.torch steps float32 and float64 tensors"
    elif not p.is_contiguous():
        problem = "is not contiguous; make it so, e.g. p.data = p.data.contiguous()"
    if problem:
        raise ValueError(f"parameter {name} {problem} (updating a copy would lose the update)")


def _grad_array(p: torch.Tensor, name: str) -> np.ndarray:
    """p's gradient as a C-contiguous NumPy array of p's dtype (a copy only of a gradient
    that is not contiguous), or a ValueError naming the parameter."""
    g = p.grad
    assert g is not None
    if g.layout != torch.strided:
        raise ValueError(f"parameter {name} has a sparse gradient ({g.layout}); "
                         "fastopt.torch takes dense gradients")
    if g.device.type != "cpu" or g.dtype != p.dtype or g.shape != p.shape:
        raise ValueError(f"the gradient of parameter {name} must be a CPU {p.dtype} tensor "
                         f"of its shape, got {g.dtype} {tuple(g.shape)} on {g.device}")
    return np.ascontiguousarray(g.detach().numpy())


def _view(t: torch.Tensor) -> np.ndarray:
    """A flat NumPy view of a contiguous CPU tensor (its memory, no copy)."""
    return t.detach().numpy().reshape(-1)


def _check_flag(group: dict[str, Any], key: str) -> None:
    if group.get(key):
        raise ValueError(f"{key}=True is not supported by fastopt.torch (CPU kernels "
                         f"outside autograd): use {key}=False")


class _Optimizer(torch.optim.Optimizer):
    """The common machinery: the kernel plan over every parameter with a gradient, its
    groups (buckets of slots with one param group, step count and carried number), the
    per-step binding of the gradients, and fastopt's per-group options."""

    rule: ClassVar[str] = ""
    # torch's state names in the kernel slot's order (s1, s2, s3)
    state_slots: ClassVar[tuple[str, ...]] = ()
    # whether torch keeps a ``step`` tensor in the state
    counts_steps: ClassVar[bool] = True
    # the state's counters, kept as torch keeps them: the step (a float tensor), NAdam's
    # product of momenta
    counters: ClassVar[tuple[str, ...]] = ("step",)

    def __init__(self, params: Any, defaults: dict[str, Any], num_threads: int | None,
                 options: dict[str, Any]) -> None:
        for key in ("capturable", "differentiable"):
            _check_flag(defaults, key)
        unknown = sorted(set(options) - set(GROUP_OPTIONS))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{unknown[0]!r}")
        self.num_threads = check_num_threads(num_threads)
        self._plan: Any = None
        super().__init__(params, {**defaults, **GROUP_OPTIONS, **options})

    # ---------------------------------------------------------------- groups and state
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``, with the group's options checked (torch's checks
        and fastopt's) and its parameters checked to be steppable in place."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self._check_group(group, len(self.param_groups) - 1)
        except BaseException:
            self.param_groups.pop()
            raise
        self._plan = None

    def _check_group(self, group: dict[str, Any], gi: int) -> None:
        for key in ("capturable", "differentiable"):
            _check_flag(group, key)
        self._check_hyper(group)
        check_nonnegative(group["l1"], "l1")
        for key in ("clipnorm", "global_clipnorm"):
            _check_clip(group[key], key)
        if group["clipnorm"] is not None and group["global_clipnorm"] is not None:
            raise ValueError("give at most one of clipnorm and global_clipnorm in a group")
        _check_nan_policy(group["nan_policy"], "nan_policy")
        _check_pruning(group["pruning"], "pruning")
        if group["pruning_scope"] not in PRUNING_SCOPES:
            raise ValueError(f"Invalid pruning_scope: {group['pruning_scope']!r} "
                             "(expected 'per_array' or 'global')")
        for j, p in enumerate(group["params"]):
            _check_param(p, _name(gi, j, p))

    def _check_hyper(self, group: dict[str, Any]) -> None:
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("num_threads", None)
        self._plan = None
        for group in self.param_groups:
            for key, value in GROUP_OPTIONS.items():
                group.setdefault(key, value)

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "num_threads": self.num_threads}

    def state_dict(self) -> dict[str, Any]:
        """torch's state dict (``state`` by parameter index with torch's keys, and
        ``param_groups``); a group's pruning schedule is saved as a dict of plain values
        (its class name and ``get_config()``), so ``torch.load(weights_only=True)`` reads
        it.  The state tensors are the optimizer's own, as torch returns them."""
        sd = super().state_dict()
        for group in sd["param_groups"]:
            schedule = group.get("pruning")
            if schedule is not None:
                group["pruning"] = {"schedule": type(schedule).__name__,
                                    **schedule.get_config()}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict`` (a state dict of this class, or of the torch.optim
        class of the same name), the groups checked as ``add_param_group`` checks them."""
        for group in state_dict["param_groups"]:
            for key in ("capturable", "differentiable"):
                _check_flag(group, key)
        super().load_state_dict(state_dict)
        for gi, group in enumerate(self.param_groups):
            spec = group.get("pruning")
            if isinstance(spec, dict):
                spec = dict(spec)
                group["pruning"] = _SCHEDULES[spec.pop("schedule")](**spec)
            self._check_group(group, gi)
            for p in group["params"]:
                state = self.state.get(p)
                if state and "mask" in state:   # torch casts it to the parameter's dtype
                    state["mask"] = (state["mask"] != 0).to(torch.uint8)
                if state and "mu_product" in state:     # and this one too
                    state["mu_product"] = state["mu_product"].to(_scalar_dtype())
        self._plan = None

    def _fresh_state(self, p: torch.Tensor, group: dict[str, Any]) -> dict[str, torch.Tensor]:
        """torch's initial state of a parameter (made at its first step, as torch does)."""
        state = {"step": torch.tensor(0.0, dtype=_scalar_dtype())}
        for key in self._state_names(group):
            state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return list(self.state_slots)

    def _structure(self, group: dict[str, Any]) -> tuple[Any, ...]:
        """What the plan's slots fix for a group: the kernel's structural flags, the
        per-slot options (sign, clip, l2, decoupled decay, l1), and whether it prunes."""
        wd = float(group["weight_decay"])
        decoupled = group.get("decoupled_weight_decay", False)
        options = (-1.0 if group["maximize"] else 1.0, math.inf,
                   0.0 if decoupled else wd, wd if decoupled else 0.0, float(group["l1"]))
        return (tuple(self._flags(group).items()), options, group["pruning"] is not None)

    def _flags(self, group: dict[str, Any]) -> dict[str, bool]:
        return {}

    def _hyper(self, group: dict[str, Any], h: dict[str, Any]) -> None:
        """Write the group's hyperparameters into the kernel's dict ``h`` (fastopt's names)."""

    def _bucket_key(self, state: dict[str, Any]) -> tuple[int, float]:
        """(steps taken, carried number) of a parameter, from its state."""
        return int(state["step"]), 1.0

    # ---------------------------------------------------------------- the plan
    def _build(self) -> None:
        """Bind every parameter that has a gradient, with its state (made now when it has
        none), to a kernel slot, in buckets of (param group, steps taken, carried number):
        each bucket is a group of the plan, with its own hyperparameters, step count and
        carried number, so torch's per-parameter steps hold."""
        bound, unbound, slots, shapes, options = [], [], [], [], []
        members: list[tuple[int, int, int]] = []       # per slot: bucket, group, index
        buckets: dict[tuple[int, int, float], int] = {}
        counters: list[tuple[np.ndarray, ...]] = []    # per slot: its state's counters
        self._pending: dict[torch.Tensor, torch.Tensor] = {}
        self._structures = []
        for gi, group in enumerate(self.param_groups):
            self._check_group(group, gi)
            structure = self._structure(group)
            self._structures.append(structure)
            flags = {"keras": False, **dict(structure[0])}
            names = self._state_names(group)
            for j, p in enumerate(group["params"]):
                if p.grad is None:
                    unbound.append(p)
                    continue
                state = self.state.get(p)
                if not state:       # made at the first step, as torch makes it
                    state = self._fresh_state(p, group)
                    if state:
                        self.state[p] = state
                elif "step" not in state and group["pruning"] is not None:   # SGD's
                    state["step"] = torch.tensor(float(self._bucket_key(state)[0]),
                                                 dtype=_scalar_dtype())
                key = (gi, *self._bucket_key(state))
                tensors = {}
                for k in names:
                    t = state.get(k)
                    if t is None:
                        t = torch.zeros_like(p, memory_format=torch.preserve_format)
                        if k == "momentum_buffer" and not self.counts_steps:
                            self._pending[p] = t    # SGD's enters the state after a step
                        else:
                            state[k] = t
                    elif (t.device.type != "cpu" or t.dtype != p.dtype or t.shape != p.shape
                          or not t.is_contiguous()):
                        t = state[k] = t.detach().to("cpu", p.dtype).contiguous()
                    tensors[k] = _view(t)
                empty = EMPTY[_np_dtype(p)]
                s1, s2, s3 = [tensors.get(k, empty) for k in self.state_slots] + \
                    [empty] * (3 - len(self.state_slots))
                mask = state.get("mask")
                slots.append(_dispatch.Slot(self.rule, _view(p), s1, s2, s3,
                                            EMPTY_MASK if mask is None else _view(mask),
                                            empty, empty, empty, **flags))
                shapes.append(tuple(p.shape))
                options.append(structure[1])
                bound.append(p)
                members.append((buckets.setdefault(key, len(buckets)), gi, j))
                counters.append(tuple(_view_scalar(state[k]) for k in self.counters
                                      if k in state))
        self._bound, self._unbound, self._members = bound, unbound, members
        # per slot, its mask (EMPTY_MASK: none)
        self._masks = [_view(self.state[p]["mask"]) if "mask" in self.state.get(p, {})
                       else EMPTY_MASK for p in bound]
        self._n_groups = len(self.param_groups)
        self._plan = None
        if not bound:
            return
        keys = sorted(buckets, key=buckets.__getitem__)
        self._bucket_groups = [self.param_groups[k[0]] for k in keys]
        self._bucket_hypers: list[dict[str, Any]] = [{} for _ in keys]
        for group, h in zip(self._bucket_groups, self._bucket_hypers):
            self._hyper(group, h)
        # per bucket, the counters of its parameters' states (torch's step, mu_product)
        self._counters: list[list[tuple[np.ndarray, ...]]] = [[] for _ in keys]
        for (b, _, _), c in zip(members, counters):
            if c:
                self._counters[b].append(c)
        self._slots, self._shapes = slots, shapes
        plan = _dispatch.Plan(slots, shapes, self._bucket_hypers, [m[0] for m in members])
        plan.set_options(options)
        self._progress = _dispatch.Progress(len(keys))
        self._progress.steps = tuple(k[1] for k in keys)
        self._progress.carries = tuple(k[2] for k in keys)
        self._plan = plan

    def _stale(self) -> bool:
        """Whether the plan no longer fits the groups: gradients that appeared, groups
        added, or options that the slots fix changed."""
        if len(self.param_groups) != self._n_groups:
            return True
        if any(p.grad is not None for p in self._unbound):
            return True
        return any(self._structure(g) != s for g, s in zip(self.param_groups, self._structures))

    # ---------------------------------------------------------------- the step
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient (the others are skipped, as
        torch skips them), in one call of the kernels; returns ``closure()``'s loss when a
        closure is given (called with gradients enabled, before the update)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self._plan is None or self._stale():
            self._build()
            if self._plan is None:
                return loss
        try:
            grads = [p.grad.numpy() for p in self._bound]
        except (AttributeError, RuntimeError, TypeError):
            grads = None
        if grads is None or not self._plan.fits(grads):
            if any(p.grad is None for p in self._bound):   # a gradient set to None
                self._build()
                if self._plan is None:
                    return loss
            grads = [_grad_array(p, _name(gi, j, p))
                     for p, (_, gi, j) in zip(self._bound, self._members)]
        self._run(grads)
        return loss

    def _run(self, grads: list[np.ndarray]) -> None:
        rates = []
        for group, h in zip(self._bucket_groups, self._bucket_hypers):
            lr = float(group["lr"])
            if not lr >= 0:
                raise ValueError(f"Invalid learning rate: {group['lr']} (in a param group)")
            rates.append(lr)
            self._hyper(group, h)
        skip: set[int] = set()
        scales = None
        if any(s[2] for s in self._structures) or any(
                g["clipnorm"] is not None or g["global_clipnorm"] is not None
                or g["nan_policy"] != "propagate" for g in self.param_groups):
            skip, scales = self._options(grads)
        before = self._progress.steps
        carries = self._carries()
        if not skip:
            self._plan.step(grads, rates, scales, self.num_threads, self._progress)
        else:
            self._step_some(grads, rates, scales, skip)
        # the torch state's counters follow the kernels'
        for b, (views, s) in enumerate(zip(self._counters, self._progress.steps)):
            if s != before[b]:
                values = (s,) if carries is None else (s, carries[b])
                for v in views:
                    for view, value in zip(v, values):
                        view[()] = value
        for p, buf in self._pending.items():
            self.state[p]["momentum_buffer"] = buf
        self._pending = {}

    def _carries(self) -> list[Any] | None:
        """NAdam sets the carried numbers of the step (see NAdam); the others carry none."""
        return None

    def _step_some(self, grads: list[np.ndarray], rates: list[float],
                   scales: list[float] | None, skip: set[int]) -> None:
        """A step of the slots whose param groups are not in ``skip`` (nan_policy "skip"),
        through a plan of those slots, built for this step."""
        keep = [i for i, m in enumerate(self._members) if m[1] not in skip]
        if not keep:
            return
        used = sorted({self._members[i][0] for i in keep})
        index = {b: k for k, b in enumerate(used)}
        plan = _dispatch.Plan([self._slots[i] for i in keep], [self._shapes[i] for i in keep],
                              [self._bucket_hypers[b] for b in used],
                              [index[self._members[i][0]] for i in keep])
        plan.set_options([self._structures[self._members[i][1]][1] for i in keep])
        progress = _dispatch.Progress(len(used))
        steps, carries = list(self._progress.steps), list(self._progress.carries)
        progress.steps = tuple(steps[b] for b in used)
        progress.carries = tuple(carries[b] for b in used)
        plan.step([grads[i] for i in keep], [rates[b] for b in used],
                  None if scales is None else [scales[i] for i in keep],
                  self.num_threads, progress)
        for k, b in enumerate(used):
            steps[b], carries[b] = progress.steps[k], progress.carries[k]
        self._progress.steps, self._progress.carries = tuple(steps), tuple(carries)

    def _options(self, grads: list[np.ndarray]) -> tuple[set[int], list[float] | None]:
        """The per-group options that act before the kernels: nan_policy (the groups to
        skip), pruning (new masks) and norm clipping (the scales)."""
        threads = _dispatch.resolve_threads(self.num_threads)
        skip: set[int] = set()
        for i, (_, gi, j) in enumerate(self._members):
            policy = self.param_groups[gi]["nan_policy"]
            if policy == "propagate" or gi in skip:
                continue
            bad = _dispatch.count_nonfinite(grads[i].reshape(-1), self._masks[i], threads)
            if bad and policy == "raise":
                raise FloatingPointError(
                    f"non-finite gradient: {bad} entries of the gradient of parameter "
                    f"{_name(gi, j, self._bound[i])} are inf or NaN; parameters left "
                    "untouched")
            if bad:
                skip.add(gi)
        self._prune(skip)
        scales = None
        for gi, group in enumerate(self.param_groups):
            c = group["clipnorm"] if group["clipnorm"] is not None else group["global_clipnorm"]
            if c is None:
                continue
            scales = [1.0] * len(grads) if scales is None else scales
            mine = [i for i, m in enumerate(self._members) if m[1] == gi]
            sq = [_dispatch.sum_squares(grads[i].reshape(-1), self._masks[i], threads)
                  for i in mine]
            if group["clipnorm"] is not None:
                for i, q in zip(mine, sq):
                    scales[i] = 1.0 if math.sqrt(q) <= c else c / math.sqrt(q)
            else:
                norm = math.sqrt(math.fsum(sq))
                for i in mine:
                    scales[i] = 1.0 if norm <= c else c / norm
        return skip, scales

    def _prune(self, skip: set[int]) -> None:
        """Recompute the masks of the groups whose pruning schedule prunes at their step
        (the steps their parameters have taken); masks only grow."""
        rebuild = False
        steps = self._progress.steps
        for gi, group in enumerate(self.param_groups):
            schedule = group["pruning"]
            mine = [(i, p) for i, (p, m) in enumerate(zip(self._bound, self._members))
                    if m[1] == gi]
            if schedule is None or gi in skip or not mine:
                continue
            step = steps[self._members[mine[0][0]][0]]
            if not schedule.should_prune(step):
                continue
            current = [self._masks[i].reshape(p.shape) if self._masks[i].size else None
                       for i, p in mine]
            masks = _sparsity.prune_magnitude([p.detach().numpy() for _, p in mine],
                                              schedule.sparsity_at(step),
                                              scope=group["pruning_scope"], masks=current)
            for (_, p), m in zip(mine, masks):
                state = self.state[p]
                if "mask" in state:
                    _view(state["mask"])[:] = m.reshape(-1)
                else:
                    state["mask"] = torch.from_numpy(np.ascontiguousarray(m, np.uint8))
                    rebuild = True
        if rebuild:
            self._build()


def _np_dtype(p: torch.Tensor) -> np.dtype[Any]:
    return np.dtype(np.float32) if p.dtype == torch.float32 else np.dtype(np.float64)


def _view_scalar(t: torch.Tensor) -> np.ndarray:
    """A 0-d NumPy view of a 0-d CPU tensor (a step count)."""
    return t.detach().numpy()


def to_csr(weights: Any) -> Any:
    """Pruned weights as ``scipy.sparse.csr_array`` matrices holding only their nonzeros
    (``fastopt.sparsity.to_csr``): a CPU tensor of 1 or 2 dimensions gives one matrix (1-D:
    1 x n); a ``torch.nn.Module`` gives a dict, parameter name -> matrix, of its 2-D
    parameters (the weights of its linear layers).  The dtype is kept.

    >>> layer = torch.nn.Linear(3, 2); _ = torch.nn.init.zeros_(layer.weight)
    >>> to_csr(layer)["weight"].nnz
    0
    """
    if isinstance(weights, torch.nn.Module):
        return {name: to_csr(p) for name, p in weights.named_parameters() if p.dim() == 2}
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"to_csr takes a tensor or a torch.nn.Module, got "
                        f"{type(weights).__name__}")
    if weights.device.type != "cpu" or weights.layout != torch.strided:
        raise ValueError(f"to_csr takes a dense CPU tensor, got a {weights.layout} tensor on "
                         f"{weights.device}")
    matrix: scipy.sparse.csr_array = _sparsity.to_csr(weights.detach().numpy())
    return matrix


# ------------------------------------------------------------------------------ the rules
def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _betas(group: dict[str, Any]) -> None:
    _check(0.0 <= group["eps"], f"Invalid epsilon value: {group['eps']}")
    b1, b2 = group["betas"]
    _check(0.0 <= b1 < 1.0, f"Invalid beta parameter at index 0: {b1}")
    _check(0.0 <= b2 < 1.0, f"Invalid beta parameter at index 1: {b2}")
    _check(0.0 <= group["weight_decay"], f"Invalid weight_decay value: {group['weight_decay']}")


_THREADS_DOC = """
    num_threads : int or None, optional (keyword)
        fastopt's threads for the kernels (None: OpenMP's current maximum).
    foreach, fused : ignored
        Accepted for torch's signature; the kernels are fused and step every tensor at
        once.
    capturable, differentiable : False
        True is refused (ValueError).

    A param group also takes ``l1``, ``pruning``, ``pruning_scope``, ``clipnorm``,
    ``global_clipnorm`` and ``nan_policy`` (see :mod:`fastopt.torch`), as keywords here
    (the defaults of the groups) or in a group's dict."""


class SGD(_Optimizer):
    """torch.optim.SGD on fastopt's kernels: (Nesterov) momentum, dampening, coupled weight
    decay.  The state is torch's (the
    momentum buffer), with a ``step`` tensor in a group that prunes (its schedule counts
    steps).
    """ + _THREADS_DOC

    rule = "sgd"
    state_slots = ("momentum_buffer",)
    counts_steps = False    # its momentum buffer's presence tells the first step

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None,
                 num_threads: int | None = None, **options: Any) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused),
                         num_threads, options)

    def _check_hyper(self, group: dict[str, Any]) -> None:
        super()._check_hyper(group)
        _check(group["momentum"] >= 0.0, f"Invalid momentum value: {group['momentum']}")
        _check(group["weight_decay"] >= 0.0,
               f"Invalid weight_decay value: {group['weight_decay']}")
        _check(not group["nesterov"] or (group["momentum"] > 0 and group["dampening"] == 0),
               "Nesterov momentum requires a momentum and zero dampening")

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["momentum_buffer"] if group["momentum"] != 0 else []

    def _fresh_state(self, p: torch.Tensor, group: dict[str, Any]) -> dict[str, torch.Tensor]:
        # torch's SGD keeps only the momentum buffer, from its first step; a pruning
        # schedule needs the step count too
        if group["pruning"] is None:
            return {}
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype())}

    def _bucket_key(self, state: dict[str, Any]) -> tuple[int, float]:
        # the kernel starts the buffer at the first step, t = 1 (a fresh buffer is 0,
        # so a later first step starts it as well)
        if "step" in state:
            return int(state["step"]), 1.0
        return int("momentum_buffer" in state), 1.0

    def _flags(self, group: dict[str, Any]) -> dict[str, bool]:
        return {"momentum": group["momentum"] != 0, "nesterov": bool(group["nesterov"])}

    def _hyper(self, group: dict[str, Any], h: dict[str, Any]) -> None:
        h["momentum"] = float(group["momentum"])
        h["dampening"] = float(group["dampening"])



class Adagrad(_Optimizer):
    """torch.optim.Adagrad on fastopt's kernels (its state made in the constructor, as
    torch makes it).
    """ + _THREADS_DOC

    rule = "adagrad"
    state_slots = ("sum",)

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 num_threads: int | None = None, **options: Any) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused),
                         num_threads, options)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self._fresh_state(p, group)

    def _check_hyper(self, group: dict[str, Any]) -> None:
        super()._check_hyper(group)
        _check(0.0 <= group["lr_decay"], f"Invalid lr_decay value: {group['lr_decay']}")
        _check(0.0 <= group["weight_decay"],
               f"Invalid weight_decay value: {group['weight_decay']}")
        _check(0.0 <= group["initial_accumulator_value"], "Invalid initial_accumulator_value "
               f"value: {group['initial_accumulator_value']}")
        _check(0.0 <= group["eps"], f"Invalid epsilon value: {group['eps']}")

    def _fresh_state(self, p: torch.Tensor, group: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype()),
                "sum": torch.full_like(p, group["initial_accumulator_value"],
                                       memory_format=torch.preserve_format)}

    def _hyper(self, group: dict[str, Any], h: dict[str, Any]) -> None:
        h["epsilon"], h["lr_decay"] = float(group["eps"]), float(group["lr_decay"])


class RMSprop(_Optimizer):
    """torch.optim.RMSprop on fastopt's kernels (``alpha`` is fastopt's ``rho``).
    """ + _THREADS_DOC

    rule = "rmsprop"
    state_slots = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, *, num_threads: int | None = None,
                 **options: Any) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                                      centered=centered, weight_decay=weight_decay,
                                      capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable),
                         num_threads, options)

    def _check_hyper(self, group: dict[str, Any]) -> None:
        super()._check_hyper(group)
        _check(0.0 <= group["eps"], f"Invalid epsilon value: {group['eps']}")
        _check(0.0 <= group["momentum"], f"Invalid momentum value: {group['momentum']}")
        _check(0.0 <= group["weight_decay"],
               f"Invalid weight_decay value: {group['weight_decay']}")
        _check(0.0 <= group["alpha"], f"Invalid alpha value: {group['alpha']}")

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return (["square_avg"] + (["momentum_buffer"] if group["momentum"] > 0 else [])
                + (["grad_avg"] if group["centered"] else []))

    def _flags(self, group: dict[str, Any]) -> dict[str, bool]:
        return {"centered": bool(group["centered"]), "momentum": group["momentum"] > 0}

    def _hyper(self, group: dict[str, Any], h: dict[str, Any]) -> None:
        h["rho"], h["epsilon"] = float(group["alpha"]), float(group["eps"])
        h["momentum"] = float(group["momentum"])


class Adam(_Optimizer):
    """torch.optim.Adam on fastopt's kernels (AMSGrad with ``amsgrad=True``; decoupled
    weight decay, AdamW's, with ``decoupled_weight_decay=True``).
    """ + _THREADS_DOC

    rule = "adam"
    state_slots = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False, num_threads: int | None = None,
                 **options: Any) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(float(b) for b in betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay),
                         num_threads, options)

    def _check_hyper(self, group: dict[str, Any]) -> None:
        super()._check_hyper(group)
        _betas(group)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else [])

    def _flags(self, group: dict[str, Any]) -> dict[str, bool]:
        return {"amsgrad": bool(group["amsgrad"])}

    def _hyper(self, group: dict[str, Any], h: dict[str, Any]) -> None:
        b1, b2 = group["betas"]
        h["beta_1"], h["beta_2"], h["epsilon"] = float(b1), float(b2), float(group["eps"])


class AdamW(Adam):
    """torch.optim.AdamW on fastopt's kernels: Adam with decoupled weight decay.
    """ + _THREADS_DOC

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, num_threads: int | None = None,
                 **options: Any) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, num_threads=num_threads, **options)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class Adamax(_Optimizer):
    """torch.optim.Adamax on fastopt's kernels.
    """ + _THREADS_DOC

    rule = "adamax"
    state_slots = ("exp_avg", "exp_inf")

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False, num_threads: int | None = None,
                 **options: Any) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable),
                         num_threads, options)

    def _check_hyper(self, group: dict[str, Any]) -> None:
        super()._check_hyper(group)
        _betas(group)

    def _hyper(self, group: dict[str, Any], h: dict[str, Any]) -> None:
        b1, b2 = group["betas"]
        h["beta_1"], h["beta_2"], h["epsilon"] = float(b1), float(b2), float(group["eps"])


class NAdam(_Optimizer):
    """torch.optim.NAdam on fastopt's kernels (decoupled weight decay with
    ``decoupled_weight_decay=True``).  ``mu_product`` is kept as torch keeps it (a tensor
    of torch's scalar dtype, multiplied in that dtype), so the steps are torch's.
    """ + _THREADS_DOC

    rule = "nadam"
    state_slots = ("exp_avg", "exp_avg_sq")
    counters = ("step", "mu_product")

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, num_threads: int | None = None,
                 **options: Any) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable),
                         num_threads, options)

    def _check_hyper(self, group: dict[str, Any]) -> None:
        super()._check_hyper(group)
        _betas(group)
        _check(0.0 <= group["momentum_decay"],
               f"Invalid momentum_decay value: {group['momentum_decay']}")

    def _fresh_state(self, p: torch.Tensor, group: dict[str, Any]) -> dict[str, torch.Tensor]:
        state = super()._fresh_state(p, group)
        return {"step": state.pop("step"), "mu_product": torch.tensor(1.0, dtype=_scalar_dtype()),
                **state}

    def _bucket_key(self, state: dict[str, Any]) -> tuple[int, float]:
        return int(state["step"]), float(state["mu_product"])

    def _hyper(self, group: dict[str, Any], h: dict[str, Any]) -> None:
        b1, b2 = group["betas"]
        h["beta_1"], h["beta_2"], h["epsilon"] = float(b1), float(b2), float(group["eps"])
        h["momentum_decay"] = float(group["momentum_decay"])

    def _carries(self) -> list[Any]:
        """torch's mu_product after this step, per bucket: mu_product * mu_t in the
        tensor's dtype; the kernels are given mu_product / mu_t as the carried number, so
        that the product they form is torch's (to the last bit of a double)."""
        products, carries = [], []
        for h, views, s in zip(self._bucket_hypers, self._counters, self._progress.steps):
            mu = h["beta_1"] * (1.0 - 0.5 * (0.96 ** ((s + 1) * h["momentum_decay"])))
            previous = views[0][1]
            product = previous * previous.dtype.type(mu)
            products.append(product)
            carries.append(float(product) / mu if mu else 1.0)
        self._progress.carries = tuple(carries)
        return products
