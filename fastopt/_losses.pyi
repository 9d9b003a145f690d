# Types of the compiled loss kernels (fastopt/_losses.pyx).
from typing import Any

import numpy as np
from numpy.typing import NDArray

def value_and_grad(loss: str, X: Any, y: NDArray[Any], sample_weight: NDArray[np.floating[Any]],
                   coef: NDArray[np.floating[Any]], intercept: NDArray[np.floating[Any]],
                   grad_coef: NDArray[np.floating[Any]],
                   grad_intercept: NDArray[np.floating[Any]],
                   num_threads: int | None = None) -> float: ...
