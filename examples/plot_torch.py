"""
Pruning a PyTorch model with fastopt.torch
==========================================

:mod:`fastopt.torch` holds fastopt's kernels as ``torch.optim`` optimizers: the same
names, signatures, defaults and state dicts, so a PyTorch training loop keeps its shape.
Each param group also takes what torch.optim lacks, here gradual magnitude pruning: this
example trains a 64-64-10 network on the digits data that ships with fastopt with
``fastopt.torch.NAdam``, pruning the weight matrices to 90% sparsity while the biases,
in a param group of their own, stay dense. The same network trained densely by
``torch.optim.NAdam`` is the baseline.

This example needs PyTorch (``pip install "fastopt[torch]"``); without it, it stops at
once with a message saying so, and the documentation shows it without its output.
"""

import copy

import matplotlib.pyplot as plt
import numpy as np

try:
    import torch
except ImportError:
    raise SystemExit("This example needs PyTorch: pip install 'fastopt[torch]'") from None

import fastopt
import fastopt.torch
from fastopt.problems import load_digits

torch.manual_seed(0)
torch.set_num_threads(1)          # a network this small: more threads would only wait
X, y = load_digits()
order = np.random.default_rng(0).permutation(len(y))
train, test = order[:1350], order[1350:]
X = torch.tensor(X / 16.0, dtype=torch.float32)
y = torch.tensor(y, dtype=torch.int64)
epochs, batch = 20, 32
steps_per_epoch = len(train) // batch

model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
dense = copy.deepcopy(model)                     # the same start, for torch.optim.NAdam

# %%
# Two param groups: the weights with a pruning schedule (from 0 to 90% sparsity between
# epochs 2 and 12, the masks recomputed once an epoch), the biases without. A torch
# scheduler drives the learning rate of both groups, as it would drive torch.optim's.

weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
schedule = fastopt.PolynomialDecay(0.0, 0.9, begin_step=2 * steps_per_epoch,
                                   end_step=12 * steps_per_epoch, frequency=steps_per_epoch)
opt = fastopt.torch.NAdam([{"params": weights, "pruning": schedule},
                           {"params": biases}], lr=1e-2)
dense_opt = torch.optim.NAdam(dense.parameters(), lr=1e-2)
schedulers = [torch.optim.lr_scheduler.StepLR(o, step_size=14, gamma=0.3)
              for o in (opt, dense_opt)]


def accuracy(net):
    with torch.no_grad():
        return (net(X[test]).argmax(1) == y[test]).float().mean().item()


def weight_sparsity():
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


history = {"pruned": [], "dense": [], "sparsity": []}
rng = np.random.default_rng(1)
for _ in range(epochs):
    perm = train[rng.permutation(len(train))]
    for start in range(0, steps_per_epoch * batch, batch):
        rows = torch.from_numpy(perm[start:start + batch])
        for net, o in ((model, opt), (dense, dense_opt)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(net(X[rows]), y[rows]).backward()
            o.step()
    for s in schedulers:
        s.step()
    history["pruned"].append(accuracy(model))
    history["dense"].append(accuracy(dense))
    history["sparsity"].append(weight_sparsity())

print(f"test accuracy: pruned {history['pruned'][-1]:.3f} with "
      f"{history['sparsity'][-1]:.1%} of the weights zero, dense {history['dense'][-1]:.3f}")

# %%

fig, ax1 = plt.subplots(figsize=(7, 4))
epoch_axis = np.arange(1, epochs + 1)
ax1.plot(epoch_axis, history["dense"], "--", label="dense (torch.optim.NAdam)")
ax1.plot(epoch_axis, history["pruned"], label="pruned (fastopt.torch.NAdam)")
ax1.set(xlabel="epoch", ylabel="test accuracy", ylim=(0.8, 1.0),
        title="A 64-64-10 network on the digits, weights pruned to 90%")
ax2 = ax1.twinx()
ax2.plot(epoch_axis, history["sparsity"], color="0.5", linestyle=":", label="sparsity")
ax2.set(ylabel="fraction of the weights that are zero", ylim=(0.0, 1.0))
ax1.legend(loc="lower right")
ax2.legend(loc="center right")
fig.tight_layout()
plt.show()

# %%
# The masks are state tensors (``opt.state[p]["mask"]``, 1 = kept), so ``state_dict()``
# saves them in torch's layout and a resumed run keeps pruning where it stopped; the
# pruned weights and their optimizer state stay exactly zero. ``fastopt.torch.to_csr``
# exports the weight matrices as ``scipy.sparse`` matrices:

masks = [opt.state[w]["mask"] for w in weights]
print("kept by the masks:", [f"{m.float().mean().item():.0%}" for m in masks])
for name, matrix in fastopt.torch.to_csr(model).items():
    print(f"{name}: {matrix.shape}, {matrix.nnz} nonzeros")
