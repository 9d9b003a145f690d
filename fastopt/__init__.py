"""fastopt: fast, exact first-order optimizers for NumPy.

The "faster optimizers" of the deep-learning books (SGD, momentum, Nesterov, AdaGrad,
RMSprop, Adam, AdaMax, Nadam) as fused, multithreaded compiled kernels that update NumPy
arrays in place, with decoupled weight decay, coupled L2, exact-zero l1 proximal steps,
clipping, pruning masks and box bounds folded into the same pass over memory.
"""

from fastopt._dispatch import openmp_enabled
from fastopt._minimize import (adagrad, adam, adamax, amsgrad, minimize, momentum, nadam,
                               nesterov, rmsprop, sgd, show_options)
from fastopt.optimizers import SGD, Adagrad, Adam, Adamax, Nadam, Optimizer, RMSprop
from fastopt import sparsity
from fastopt.sparsity import (ConstantSparsity, PolynomialDecay, from_csr, prune_magnitude,
                              to_csr)
from fastopt.schedules import (Constant, CosineDecay, ExponentialDecay, LinearWarmup,
                               OneCycle, PiecewiseConstant, PowerDecay, ReduceLROnPlateau,
                               Sequential)
from fastopt.lr_finder import find_learning_rate, plot_lr_finder

__version__ = "0.1.0"

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "Adamax", "Nadam",
           "minimize", "show_options", "sgd", "momentum", "nesterov", "adagrad", "rmsprop",
           "adam", "amsgrad", "adamax", "nadam", "openmp_enabled",
           "Constant", "PowerDecay", "ExponentialDecay", "PiecewiseConstant", "CosineDecay",
           "LinearWarmup", "Sequential", "OneCycle", "ReduceLROnPlateau",
           "find_learning_rate", "plot_lr_finder", "sparsity", "PolynomialDecay",
           "ConstantSparsity", "prune_magnitude", "to_csr", "from_csr"]
