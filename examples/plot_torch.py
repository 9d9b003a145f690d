"""
Training a PyTorch model's parameters
=====================================

A CPU tensor's ``.numpy()`` is a NumPy view of the tensor's own memory. fastopt updates
arrays in place, so an optimizer built over those views trains the model directly: torch
computes the gradients with autograd, fastopt takes the step. With the default
``convention="torch"``, fastopt's Adam follows ``torch.optim.Adam``'s formulas, and the
two runs below follow the same path (they differ by float32 rounding, which accumulates
over the steps).

This example needs PyTorch (``pip install torch``); the documentation shows it without its
output where torch is not installed.
"""

import copy

import matplotlib.pyplot as plt
import torch

import fastopt

torch.manual_seed(0)
X = torch.linspace(-3, 3, 256).unsqueeze(1)
y = torch.sin(X) + 0.1 * torch.randn_like(X)
model = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
twin = copy.deepcopy(model)                  # the same start, for torch.optim.Adam


def loss_of(net):
    return torch.nn.functional.mse_loss(net(X), y)


# %%
# The optimizer holds float32 views of the parameters (``detach()`` shares the memory);
# each step reads the gradients autograd left in ``.grad``, also through views.

params = list(model.parameters())
opt = fastopt.Adam([p.detach().numpy() for p in params], learning_rate=0.01)
torch_opt = torch.optim.Adam(twin.parameters(), lr=0.01)

losses, torch_losses = [], []
for _ in range(300):
    model.zero_grad()
    loss = loss_of(model)
    loss.backward()
    opt.step([p.grad.numpy() for p in params])
    losses.append(loss.item())

    torch_opt.zero_grad()
    loss = loss_of(twin)
    loss.backward()
    torch_opt.step()
    torch_losses.append(loss.item())

largest = max((a - b).abs().max().item() for a, b in zip(model.parameters(),
                                                         twin.parameters()))
print(f"final loss: fastopt {losses[-1]:.5f}, torch.optim {torch_losses[-1]:.5f}; "
      f"largest parameter difference {largest:.1e}")

# %%

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(losses, label="fastopt.Adam")
ax1.plot(torch_losses, "--", label="torch.optim.Adam")
ax1.set(yscale="log", xlabel="step", ylabel="mean squared error", title="Training loss")
ax1.legend()
with torch.no_grad():
    ax2.plot(X.squeeze(), y.squeeze(), ".", markersize=3, color="0.6", label="data")
    ax2.plot(X.squeeze(), model(X).squeeze(), label="model")
ax2.set(xlabel="x", title="The fitted model")
ax2.legend()
fig.tight_layout()
plt.show()
