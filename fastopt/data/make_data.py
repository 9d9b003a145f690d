"""Regenerate the datasets shipped in this folder (run once; needs scikit-learn).

    python fastopt/data/make_data.py

The package itself never imports scikit-learn: it reads the .npz files with ``np.load``.
See README.md in this folder for the sources and licences.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits

HERE = Path(__file__).resolve().parent


def main():
    bc = load_breast_cancer()
    # 569 x 30 float64 features exactly as distributed (not standardized: problems.py does
    # that), 0/1 labels (1 = benign), feature names for reference.
    np.savez_compressed(HERE / "breast_cancer.npz",
                        X=bc.data.astype(np.float64), y=bc.target.astype(np.uint8),
                        feature_names=np.array(bc.feature_names, dtype=str))
    dg = load_digits()
    # 1797 8x8 images flattened to 64 pixels with values 0..16, and labels 0..9.
    assert dg.data.min() >= 0 and dg.data.max() <= 16 and np.all(dg.data == np.round(dg.data))
    np.savez_compressed(HERE / "digits.npz",
                        X=dg.data.astype(np.uint8), y=dg.target.astype(np.uint8))
    for name in ("breast_cancer.npz", "digits.npz"):
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
