"""fastopt.torch against torch.optim itself: the same training loops (two param groups, LR
schedulers, zero_grad both ways, closures) give torch's trajectories; checkpoints resume
exactly and load across the two; pruning, l1, clipping and nan_policy per group; and the
refusals of what cannot be stepped in place (the table at the end)."""

import io
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastopt.torch as ft  # noqa: E402
from fastopt.sparsity import ConstantSparsity, PolynomialDecay  # noqa: E402

# (class name, constructor keywords, the second group's own values)
CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-3), dict(lr=0.02, momentum=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), dict(weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, maximize=True), dict(lr=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3), dict(lr=0.02, dampening=0.0)),
    ("Adagrad", dict(lr=0.05, lr_decay=1e-2, weight_decay=1e-3,
                     initial_accumulator_value=0.1), dict(lr=0.1, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=1e-3),
     dict(alpha=0.9)),
    ("RMSprop", dict(lr=0.01), dict(lr=0.02, momentum=0.3)),
    ("Adam", dict(lr=0.01, weight_decay=1e-3), dict(lr=0.02, betas=(0.8, 0.99))),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True), dict(eps=1e-6)),
    ("AdamW", dict(lr=0.01), dict(weight_decay=0.1, betas=(0.5, 0.9))),
    ("Adamax", dict(lr=0.01, weight_decay=1e-3), dict(lr=0.03, betas=(0.8, 0.99))),
    ("NAdam", dict(lr=0.01, weight_decay=1e-3), dict(momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=1e-2, decoupled_weight_decay=True),
     dict(betas=(0.8, 0.99))),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def make_model(dtype):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 3)).to(dtype)


def batch(t, dtype):
    g = torch.Generator().manual_seed(100 + t)      # the same numbers for both dtypes
    return (torch.randn(16, 5, generator=g, dtype=torch.float64).to(dtype),
            torch.randn(16, 3, generator=g, dtype=torch.float64).to(dtype))


def groups(model, own):
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    return [{"params": weights}, {"params": biases, **own}]


def train(module, name, kwargs, own, dtype, steps=12, set_to_none=True, closure=False,
          scheduler=None, model=None, opt=None, start=0):
    """Train the two-layer model (two param groups) with ``module``'s class ``name``."""
    model = make_model(dtype) if model is None else model
    opt = getattr(module, name)(groups(model, own), **kwargs) if opt is None else opt
    sched = None if scheduler is None else scheduler(opt)
    for t in range(start, start + steps):
        x, y = batch(t, dtype)

        def loss_fn(x=x, y=y):
            opt.zero_grad(set_to_none=set_to_none)
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        if closure:
            loss = opt.step(loss_fn)
            assert isinstance(loss, torch.Tensor) and loss.dim() == 0
        else:
            loss_fn()
            opt.step()
        if sched is not None:
            sched.step()
    return model, opt


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def close(a, b, tol):
    for x, y in zip(params(a), params(b)):
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)


@pytest.mark.parametrize("name, kwargs, own", CASES, ids=IDS)
def test_float64_trajectory_is_torchs(name, kwargs, own):
    ours, _ = train(ft, name, kwargs, own, torch.float64)
    theirs, _ = train(torch.optim, name, kwargs, own, torch.float64)
    close(ours, theirs, 1e-12)
    assert not all(torch.equal(p, q) for p, q in zip(params(ours), params(make_model(
        torch.float64))))


@pytest.mark.parametrize("name, kwargs, own", CASES, ids=IDS)
def test_float32_trajectory_is_torchs(name, kwargs, own):
    """float32 within 1e-5 relative of torch's float32, and as close to the float64
    trajectory as torch's own float32 is (within a factor 2: the rounding errors of two
    float32 runs differ step by step)."""
    ours, _ = train(ft, name, kwargs, own, torch.float32)
    theirs, _ = train(torch.optim, name, kwargs, own, torch.float32)
    exact, _ = train(torch.optim, name, kwargs, own, torch.float64)
    for p, q in zip(params(ours), params(theirs)):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    err = [max((p.double() - q).abs().max().item() for p, q in zip(params(m), params(exact)))
           for m in (ours, theirs)]
    assert err[0] <= 2 * err[1], err


@pytest.mark.parametrize("sched", [
    lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
    lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=12),
], ids=["StepLR", "OneCycleLR"])
@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam", "RMSprop"])
@pytest.mark.parametrize("set_to_none, closure", [(True, False), (False, True)])
def test_schedulers_zero_grad_closure(name, sched, set_to_none, closure):
    kwargs = dict(lr=0.01, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.01)
    run = dict(steps=12, set_to_none=set_to_none, closure=closure, scheduler=sched)
    ours, opt = train(ft, name, kwargs, {}, torch.float64, **run)
    theirs, topt = train(torch.optim, name, kwargs, {}, torch.float64, **run)
    close(ours, theirs, 1e-12)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]


@pytest.mark.parametrize("name, kwargs, own", CASES, ids=IDS)
def test_state_dict_is_torchs_and_resumes_exactly(name, kwargs, own):
    dtype = torch.float64
    model, opt = train(ft, name, kwargs, own, dtype, steps=5)
    _, topt = train(torch.optim, name, kwargs, own, dtype, steps=5)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["state"].keys() == tsd["state"].keys()
    for i, st in tsd["state"].items():
        assert set(sd["state"][i]) == set(st), name
        for k, v in st.items():
            assert sd["state"][i][k].dtype == v.dtype and sd["state"][i][k].shape == v.shape
            torch.testing.assert_close(sd["state"][i][k], v, rtol=1e-12, atol=1e-12)
    assert [{k: g[k] for k in tg} for g, tg in zip(sd["param_groups"], tsd["param_groups"])] \
        == tsd["param_groups"]
    # through torch.save / torch.load (weights_only), into a fresh model and optimizer
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": sd}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    full, _ = train(ft, name, kwargs, own, dtype, steps=4, model=model, opt=opt, start=5)
    resumed = make_model(dtype)
    resumed.load_state_dict(saved["model"])
    opt2 = getattr(ft, name)(groups(resumed, own), **kwargs)
    opt2.load_state_dict(saved["opt"])
    resumed, _ = train(ft, name, kwargs, own, dtype, steps=4, model=resumed, opt=opt2, start=5)
    assert all(torch.equal(p, q) for p, q in zip(params(full), params(resumed)))


def resumed(first, second, name, kwargs, own, dtype):
    """4 steps with ``first``'s optimizer, its state dict loaded into ``second``'s, 4 more."""
    model, opt = train(first, name, kwargs, own, dtype, steps=4)
    opt2 = getattr(second, name)(groups(model, own), **kwargs)
    opt2.load_state_dict(opt.state_dict())
    return train(second, name, kwargs, own, dtype, steps=4, model=model, opt=opt2, start=4)[0]


@pytest.mark.parametrize("name, kwargs, own", CASES, ids=IDS)
def test_state_dict_loads_across_torch_and_fastopt(name, kwargs, own):
    """A torch.optim state dict continues in fastopt.torch as torch continues without a
    checkpoint, and fastopt.torch's continues in torch.optim as torch's own does (torch's
    load_state_dict casts NAdam's mu_product to the parameters' dtype, which changes its
    rounding; fastopt.torch casts it back)."""
    dtype = torch.float64
    close(resumed(torch.optim, ft, name, kwargs, own, dtype),
          train(torch.optim, name, kwargs, own, dtype, steps=8)[0], 1e-12)
    close(resumed(ft, torch.optim, name, kwargs, own, dtype),
          resumed(torch.optim, torch.optim, name, kwargs, own, dtype), 1e-12)


def test_params_without_grad_are_skipped_and_add_param_group():
    """A parameter without a gradient is skipped (no state, unchanged); one added later
    counts its own steps (torch's per-parameter step), in its own group."""
    runs = []
    for module in (ft, torch.optim):
        model = make_model(torch.float64)
        first, second = model[0], model[2]
        opt = module.Adam(first.parameters(), lr=0.01)
        for t in range(6):
            if t == 3:
                opt.add_param_group({"params": second.parameters(), "lr": 0.02})
            x, y = batch(t, torch.float64)
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            if t < 3:
                second.weight.grad = None
            opt.step()
            if t < 3:
                assert second.weight not in opt.state or not opt.state[second.weight]
        steps = [int(opt.state[p]["step"]) for p in model.parameters()]
        runs.append(model)
        assert steps == [6, 6, 3, 3], steps
    close(*runs, 1e-12)


def test_pruning_weights_only_and_momentum_does_not_revive():
    model = make_model(torch.float64)
    schedule = PolynomialDecay(0.0, 0.75, begin_step=0, end_step=8, frequency=2)
    weights, biases = groups(model, {})
    opt = ft.SGD([{**weights, "pruning": schedule}, biases], lr=0.05, momentum=0.9)
    train(ft, "SGD", {}, {}, torch.float64, steps=14, model=model, opt=opt)
    for p in weights["params"]:
        mask = opt.state[p]["mask"]
        assert mask.dtype == torch.uint8
        assert (p == 0).double().mean().item() == pytest.approx(0.75, abs=0.5 / p.numel())
        assert torch.equal(p == 0, mask == 0)
        assert torch.all(opt.state[p]["momentum_buffer"][mask == 0] == 0)
    for p in biases["params"]:
        assert "mask" not in opt.state[p] and torch.all(p != 0)
    # the masks and the schedule go through torch.save / torch.load(weights_only=True),
    # and the run resumes exactly
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    copy = make_model(torch.float64)
    copy.load_state_dict(model.state_dict())
    w2, b2 = groups(copy, {})
    opt2 = ft.SGD([w2, b2], lr=0.05, momentum=0.9)
    opt2.load_state_dict(torch.load(buffer, weights_only=True))
    assert opt2.param_groups[0]["pruning"] == schedule
    for m, o in ((model, opt), (copy, opt2)):
        train(ft, "SGD", {}, {}, torch.float64, steps=3, model=m, opt=o, start=14)
    assert all(torch.equal(p, q) for p, q in zip(params(model), params(copy)))
    sparse = ft.to_csr(model)
    assert set(sparse) == {"0.weight", "2.weight"}
    assert sparse["0.weight"].nnz == int((model[0].weight != 0).sum())
    np.testing.assert_array_equal(sparse["0.weight"].toarray(), model[0].weight.detach())


def test_l1_gives_exact_zeros_and_clipping_matches_torch():
    model = make_model(torch.float64)
    opt = ft.Adam([{"params": model[0].parameters(), "l1": 0.5}], lr=0.05)
    train(ft, "Adam", {}, {}, torch.float64, steps=10, model=model, opt=opt)
    assert (model[0].weight == 0).sum() > 10
    runs = []
    for clip in (True, False):
        model = make_model(torch.float64)
        opt = (ft.SGD(model.parameters(), lr=0.1, global_clipnorm=0.05) if clip
               else torch.optim.SGD(model.parameters(), lr=0.1))
        for t in range(5):
            x, y = batch(t, torch.float64)
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            if not clip:        # c / norm (torch's clip_grad_norm_ uses c / (norm + 1e-6))
                norm = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm()
                for p in model.parameters():
                    p.grad *= min(1.0, 0.05 / norm.item())
            opt.step()
        runs.append(model)
    close(*runs, 1e-12)


def test_nan_policy_per_group():
    model = make_model(torch.float64)
    weights, biases = groups(model, {})
    opt = ft.Adam([{**weights, "nan_policy": "skip"}, {**biases, "nan_policy": "raise"}],
                  lr=0.01)
    train(ft, "Adam", {}, {}, torch.float64, steps=2, model=model, opt=opt)
    before = params(model)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model[0].weight.grad[0, 0] = float("nan")
    opt.step()                      # the weights' group is skipped, the biases step
    assert torch.equal(model[0].weight, before[0]) and not torch.equal(model[0].bias, before[1])
    assert int(opt.state[model[0].weight]["step"]) == 2
    assert int(opt.state[model[0].bias]["step"]) == 3
    model[2].bias.grad[1] = float("inf")
    with pytest.raises(FloatingPointError, match=r"param_groups\[1\]\['params'\]\[1\]"):
        opt.step()


def test_import_fastopt_does_not_import_torch_and_missing_torch_is_named():
    code = ("import sys, fastopt; assert 'torch' not in sys.modules; "
            "sys.modules['torch'] = None\n"
            "try:\n    import fastopt.torch\nexcept ImportError as e:\n    print(e)")
    # (from "/": the package the tests import, never the uncompiled source folder)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                         check=True).stdout
    assert "fastopt[torch]" in out


def _embedding_step():
    emb = torch.nn.Embedding(4, 2, sparse=True).double()
    opt = ft.SGD(emb.parameters(), lr=0.1)
    emb(torch.tensor([1])).sum().backward()
    opt.step()


def _param(tensor):
    return [torch.nn.Parameter(tensor)]


# (what is refused, the call, the error, its message)
REFUSALS = [
    ("float16", lambda: ft.Adam(_param(torch.zeros(3, dtype=torch.float16))), ValueError,
     r"params'\]\[0\] \(shape \(3,\)\) has dtype torch.float16"),
    ("complex", lambda: ft.Adam(_param(torch.zeros(3, dtype=torch.complex64))), ValueError,
     "has dtype torch.complex64"),
    ("not contiguous", lambda: ft.Adam(_param(torch.zeros(3, 4, dtype=torch.float64).t())),
     ValueError, "is not contiguous"),
    ("not on the CPU", lambda: ft.Adam(_param(torch.zeros(3, device="meta"))), ValueError,
     "is on meta"),
    ("sparse parameter", lambda: ft.SGD(_param(torch.zeros(3, 3).to_sparse())), ValueError,
     "has layout torch.sparse_coo"),
    ("sparse gradient", _embedding_step, ValueError, "has a sparse gradient"),
    ("capturable", lambda: ft.Adam(_param(torch.zeros(3)), capturable=True), ValueError,
     "capturable=True is not supported"),
    ("differentiable", lambda: ft.SGD(_param(torch.zeros(3)), differentiable=True), ValueError,
     "differentiable=True is not supported"),
    ("nesterov dampening",
     lambda: ft.SGD(_param(torch.zeros(3)), momentum=0.9, dampening=0.1, nesterov=True),
     ValueError, "Nesterov momentum requires a momentum and zero dampening"),
    ("lr", lambda: ft.Adam(_param(torch.zeros(3)), lr=-1.0), ValueError,
     "Invalid learning rate: -1.0"),
    ("betas", lambda: ft.NAdam(_param(torch.zeros(3)), betas=(1.0, 0.9)), ValueError,
     "Invalid beta parameter at index 0: 1.0"),
    ("momentum", lambda: ft.RMSprop(_param(torch.zeros(3)), momentum=-0.1), ValueError,
     "Invalid momentum value"),
    ("nesterov", lambda: ft.SGD(_param(torch.zeros(3)), nesterov=True), ValueError,
     "Nesterov momentum requires a momentum"),
    ("l1", lambda: ft.Adam(_param(torch.zeros(3)), l1=-1.0), ValueError, "l1"),
    ("clipnorm", lambda: ft.Adam(_param(torch.zeros(3)), clipnorm=0.0), ValueError,
     "clipnorm"),
    ("both clippings", lambda: ft.Adam(_param(torch.zeros(3)), clipnorm=1.0,
                                       global_clipnorm=1.0), ValueError, "at most one"),
    ("nan_policy", lambda: ft.Adam(_param(torch.zeros(3)), nan_policy="ignore"), ValueError,
     "nan_policy"),
    ("pruning", lambda: ft.Adam(_param(torch.zeros(3)), pruning=0.5), TypeError,
     "pruning schedule"),
    ("pruning_scope", lambda: ft.Adam(_param(torch.zeros(3)), pruning=ConstantSparsity(
        0.5, 0), pruning_scope="layer"), ValueError, "pruning_scope"),
    ("group lr", lambda: ft.Adam(_param(torch.zeros(3))).add_param_group(
        {"params": _param(torch.zeros(2)), "lr": -0.5}), ValueError,
     "Invalid learning rate: -0.5"),
    ("num_threads", lambda: ft.Adam(_param(torch.zeros(3)), num_threads=0), ValueError,
     "num_threads"),
    ("unknown keyword", lambda: ft.Adam(_param(torch.zeros(3)), l3=1.0), TypeError,
     "unexpected keyword argument 'l3'"),
    ("to_csr of 3-D", lambda: ft.to_csr(torch.zeros(2, 2, 2)), ValueError, "1-D or 2-D"),
    ("to_csr of an array", lambda: ft.to_csr(np.zeros(2)), TypeError, "tensor or a"),
]


@pytest.mark.parametrize("call, error, message", [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_refusals(call, error, message):
    with pytest.raises(error, match=message):
        call()
