"""Arrays past 2**31 elements: no 32-bit index anywhere in a kernel call.  Slow (about 16 GiB
of memory and tens of seconds); run with ``pytest -m slow``."""

import numpy as np
import pytest

import fastopt

N = 2**31 + 17
PROBES = {0: 2.0, 2**31 - 1: -3.0, 2**31: 0.5, N - 1: 5.0}


def available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.mark.slow
def test_sgd_with_l1_prox_beyond_int32():
    try:
        if available_bytes() < 2 * 4 * N + 2**30:
            pytest.skip("needs about 17 GiB of free memory")
    except OSError:
        pytest.skip("cannot read /proc/meminfo")
    x = np.ones(N, dtype=np.float32)
    for i, v in PROBES.items():
        x[i] = v
    g = np.broadcast_to(np.float32(0.25), (N,))     # copied once into a contiguous gradient
    opt = fastopt.SGD(x, learning_rate=1.0, l1=0.3)
    assert opt.step(g) == 0
    lr, g0, tau = np.float32(1.0), np.float32(0.25), np.float32(1.0) * np.float32(0.3)

    def expected(v):
        y = np.float32(v) - lr * g0
        r = np.float32(abs(y)) - tau
        return np.float32(0.0) if r <= 0 else np.copysign(r, y)

    for i, v in PROBES.items():
        assert x[i] == expected(v), i
        assert not np.signbit(x[i]) or x[i] != 0
    assert x[1] == expected(1.0) and x[N - 2] == expected(1.0)
    assert x[2**31] == 0.0                          # 0.5 - 0.25 - 0.3 < 0: an exact zero
