"""fastopt.torch against torch.optim on torch models: ``optimizer.step()`` and a whole
training step, side by side.

What is compared
    ``opt.step()`` of a fastopt.torch optimizer against the torch.optim optimizer of the
    same name, same hyperparameters (defaults, float32), on two models:

        "MLP"        784-512-256-10 (535,818 parameters in 6 tensors)
        "20 tensors" ten Linear(160, 160) layers (257,600 parameters in 20 tensors)

        fastopt.torch    torch.optim (implementation)
        Adam             Adam(fused=True)        torch's fastest CPU Adam
        NAdam            NAdam()                 its default (no fused CPU kernel)
        RMSprop          RMSprop()               its default
        Adamax           Adamax()                its default

    Thread counts 1 and 2: ``torch.set_num_threads(k)`` and fastopt ``num_threads=k``.
    "train" times a whole step on the MLP (forward of a 64-row batch, cross-entropy,
    backward, ``opt.zero_grad()`` and ``opt.step()``).

Protocol
    Each optimizer steps its own copy of the model, whose gradients are set once (fixed
    N(0, 1) * 1e-3 values) for "step"; the two are timed in interleaved rounds with
    bench/harness.py's ``median_seconds`` (warm-up, batches of a few milliseconds, one
    untimed lead-in call per batch), and each reports its median.  "x" is torch's median
    time over fastopt's: > 1 means fastopt is faster.  The machine may be shared: repeat
    (``--repeat``) and read the spread.

    python bench/torch_optim.py [--quick] [--repeat 3]
"""

import argparse
import copy

import torch

import fastopt.torch as ft
from harness import fmt_ms, median_seconds, table_header, table_row

PAIRS = [("Adam", dict(fused=True), "fused"), ("NAdam", {}, "default"),
         ("RMSprop", {}, "default"), ("Adamax", {}, "default")]
COLUMNS = [("rule", 8), ("model", 10), ("what", 6), ("thr", 3), ("torch impl", 10),
           ("fastopt us", 11), ("torch us", 10), ("x", 6)]


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                               torch.nn.Linear(512, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 10))


def twenty():
    return torch.nn.Sequential(*[torch.nn.Linear(160, 160) for _ in range(10)])


def with_grads(model):
    g = torch.Generator().manual_seed(1)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    return model


def step_pair(name, extra, make, threads):
    a = make()
    b = with_grads(copy.deepcopy(a))      # (a deep copy leaves the gradients behind)
    with_grads(a)
    ours = getattr(ft, name)(a.parameters(), num_threads=threads)
    theirs = getattr(torch.optim, name)(b.parameters(), **extra)
    return {"fastopt": ours.step, "torch": theirs.step}


def train_pair(name, extra, threads):
    model = mlp()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 784, generator=g), torch.randint(0, 10, (64,), generator=g)

    def trainer(m, opt):
        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
        return step
    other = copy.deepcopy(model)
    return {"fastopt": trainer(model, getattr(ft, name)(model.parameters(),
                                                         num_threads=threads)),
            "torch": trainer(other, getattr(torch.optim, name)(other.parameters(), **extra))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    plan = (7, 0.002) if args.quick else (21, 0.005)
    print(f"torch {torch.__version__}, float32; us: median per call; x: torch / fastopt")
    print(table_header(COLUMNS))
    for _ in range(args.repeat):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for name, extra, impl in PAIRS:
                cases = [("MLP", "step", step_pair(name, extra, mlp, threads)),
                         ("20 tensors", "step", step_pair(name, extra, twenty, threads)),
                         ("MLP", "train", train_pair(name, extra, threads))]
                for model, what, fns in cases:
                    t = median_seconds(fns, plan)
                    print(table_row([name, model, what, str(threads), impl,
                                     fmt_ms(t["fastopt"] * 1e6), fmt_ms(t["torch"] * 1e6),
                                     f"{t['torch'] / t['fastopt']:.2f}"], COLUMNS), flush=True)


if __name__ == "__main__":
    main()
