"""fastopt.sparsity: TF-MOT pruning schedules, exact-count magnitude pruning, sparsity counts,
scipy.sparse export, and the exactness of the l1 soft threshold in the kernels.

The last class, TestOptimizerPruning, tests the optimizers' ``pruning=`` /
``pruning_scope=`` options and minimize's ``pruning`` option.
"""

import math
import pickle

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st

import fastopt
from fastopt import _dispatch
# Names are imported from the module itself: the package may also export a function called
# ``sparsity``, which would shadow the submodule attribute ``fastopt.sparsity``.
from fastopt.sparsity import (ConstantSparsity, PolynomialDecay, from_csr, nnz,
                              prune_magnitude, sparsity, to_csr)


# ------------------------------------------------------------------------------ oracles
def tfmot_should_prune(t, begin, end, frequency):
    """TF-MOT's _should_prune_in_step: end_step inclusive, a negative end_step = forever."""
    return t >= begin and (t <= end or end < 0) and (t - begin) % frequency == 0


def tfmot_polynomial(t, s_i, s_f, begin, end, power):
    """TF-MOT's PolynomialDecay sparsity (in float64 here; TF-MOT computes in float32)."""
    p = min(1.0, max(0.0, (t - begin) / (end - begin)))
    return s_f + (s_i - s_f) * (1 - p) ** power


def kept(n, s):
    return 0 if n == 0 else max(round(n * (1 - s)), 1)


def oracle_masks(arrays, s, scope, masks=None):
    """Full-sort oracle with the documented tie rule: larger |w| first (NaN as +inf, pruned
    by ``masks`` as -inf), then lower position (array order, then C-order flat index)."""
    keys = []
    for i, a in enumerate(arrays):
        k = np.abs(np.asarray(a, dtype=np.float64)).ravel()
        k[np.isnan(k)] = np.inf
        if masks is not None and masks[i] is not None:
            k[np.asarray(masks[i]).ravel() == 0] = -np.inf
        keys.append(k)
    groups = [keys] if scope == "global" else [[k] for k in keys]
    out = []
    for group in groups:
        key = np.concatenate(group) if group else np.empty(0)
        order = np.lexsort((np.arange(key.size), -key))   # primary: -key, then the index
        keep = np.zeros(key.size, dtype=np.uint8)
        keep[order[:kept(key.size, s)]] = 1
        out += np.split(keep, np.cumsum([k.size for k in group])[:-1])
    return [m.reshape(np.shape(a)) for m, a in zip(out, arrays)]


# ------------------------------------------------------------------------------ schedules
class TestSchedules:
    def test_polynomial_decay_literal_values(self):
        s = PolynomialDecay(0.0, 0.5, begin_step=100, end_step=500, power=3, frequency=100)
        # p = (t - 100) / 400; s = 0.5 - 0.5 (1 - p)^3, derived by hand (all dyadic)
        expected = {
            0: (False, 0.0),               # before begin: p clipped to 0
            99: (False, 0.0),
            100: (True, 0.0),              # at begin
            150: (False, 0.1650390625),    # between pruning turns: p = 1/8, 0.5 - 0.5 * (7/8)^3
            200: (True, 0.5 - 0.5 * 0.421875),   # p = 1/4
            300: (True, 0.4375),           # p = 1/2: 0.5 - 0.5/8
            500: (True, 0.5),              # at end: inclusive
            600: (False, 0.5),             # after end, even though (600 - 100) % 100 == 0
            10**40: (False, 0.5),
        }
        for t, (prune, value) in expected.items():
            assert s(t) == (prune, value)
            assert s.should_prune(t) is prune
            assert s.sparsity_at(t) == value

    def test_constant_sparsity_literal_values(self):
        s = ConstantSparsity(0.25, begin_step=10, frequency=7)      # end_step=-1: for ever
        assert [s.should_prune(t) for t in (0, 9, 10, 11, 16, 17, 24)] == [
            False, False, True, False, False, True, True]
        assert s.should_prune(10 + 7 * 10**30) and not s.should_prune(11 + 7 * 10**30)
        assert s(3) == (False, 0.25) and s(17) == (True, 0.25)
        bounded = ConstantSparsity(0.25, begin_step=10, end_step=24, frequency=7)
        assert bounded.should_prune(24) and not bounded.should_prune(31)
        once = ConstantSparsity(0.5, begin_step=5, end_step=5, frequency=1)
        assert [t for t in range(20) if once.should_prune(t)] == [5]

    @pytest.mark.parametrize("cfg", [
        (0.0, 0.9, 0, 1000, 3, 100), (0.2, 0.8, 7, 50, 2, 3), (0.5, 0.1, 3, 4, 1, 1),
        (0.1, 0.7, 0, 30, 0.5, 7), (0.3, 0.95, 100, 101, 3, 1)])
    def test_polynomial_decay_matches_tfmot_closed_form(self, cfg):
        s_i, s_f, begin, end, power, freq = cfg
        s = PolynomialDecay(s_i, s_f, begin, end, power=power, frequency=freq)
        for t in list(range(0, end + 2 * freq + 5)) + [end * 10 + 3, 2**70]:
            assert s.should_prune(t) == tfmot_should_prune(t, begin, end, freq)
            assert s.sparsity_at(t) == tfmot_polynomial(t, s_i, s_f, begin, end, power)

    @pytest.mark.parametrize("begin,end,freq", [(0, -1, 1), (0, -1, 100), (5, 5, 3),
                                                (3, 40, 7), (0, 0, 100)])
    def test_constant_sparsity_matches_tfmot(self, begin, end, freq):
        s = ConstantSparsity(0.6, begin, end, freq)
        for t in range(0, 300):
            assert s(t) == (tfmot_should_prune(t, begin, end, freq), 0.6)

    def test_steps_are_any_python_or_numpy_int(self):
        s = PolynomialDecay(0.1, 0.9, begin_step=np.int64(2), end_step=10**30, frequency=10**29)
        assert s.begin_step == 2 and type(s.begin_step) is int
        assert s.should_prune(np.int32(2)) and s.should_prune(2 + 10**29)
        assert 0.1 < s.sparsity_at(5 * 10**29) < 0.9
        assert s.sparsity_at(10**500) == 0.9
        assert s.sparsity_at(-5) == s.sparsity_at(0)   # before begin: no error, p = 0
        assert not s.should_prune(-8)

    @pytest.mark.parametrize("make,exc,match", [
        (lambda: ConstantSparsity(1.0, 0), ValueError,
         r"Invalid target_sparsity value: 1.0"),
        (lambda: ConstantSparsity(-0.1, 0), ValueError, r"Invalid target_sparsity value: -0.1"),
        (lambda: ConstantSparsity(math.nan, 0), ValueError, r"Invalid target_sparsity value: nan"),
        (lambda: ConstantSparsity("0.5", 0), TypeError,
         r"Invalid target_sparsity: '0.5' \(expected a real number\)"),
        (lambda: ConstantSparsity(True, 0), TypeError,
         r"Invalid target_sparsity: True \(expected a real number\)"),
        (lambda: ConstantSparsity(0.5, -1), ValueError, r"begin_step should be >= 0"),
        (lambda: ConstantSparsity(0.5, 1.0), TypeError, r"begin_step must be an int"),
        (lambda: ConstantSparsity(0.5, 10, 5), ValueError,
         r"begin_step should be <= end_step if end_step != -1"),
        (lambda: ConstantSparsity(0.5, 0, -2), ValueError, r"end_step can be -1 or >= 0"),
        (lambda: ConstantSparsity(0.5, 0, frequency=0), ValueError, r"frequency should be > 0"),
        (lambda: ConstantSparsity(0.5, 0, frequency=2.5), TypeError, r"frequency must be an int"),
        (lambda: PolynomialDecay(0.0, 0.5, 0, -1), ValueError, r"end_step cannot be -1"),
        (lambda: PolynomialDecay(0.0, 0.5, 5, 5), ValueError,
         r"end_step should be > begin_step for PolynomialDecay"),
        (lambda: PolynomialDecay(0.0, 0.5, 6, 5), ValueError, r"begin_step should be <= end_step"),
        (lambda: PolynomialDecay(1.0, 0.5, 0, 10), ValueError,
         r"Invalid initial_sparsity value: 1.0"),
        (lambda: PolynomialDecay(0.0, 1.0, 0, 10), ValueError,
         r"Invalid final_sparsity value: 1.0"),
        (lambda: PolynomialDecay(0.0, 0.5, 0, 10, power=0), ValueError, r"power should be > 0"),
        (lambda: PolynomialDecay(0.0, 0.5, 0, 10, power=-1), ValueError, r"power should be > 0"),
        (lambda: PolynomialDecay(0.0, 0.5, 0, 10, power=math.inf), ValueError, r"power should"),
        (lambda: PolynomialDecay(0.0, 0.5, 0, 10, power=math.nan), ValueError, r"power should"),
        (lambda: PolynomialDecay(0.0, 0.5, 0, 10, power="3"), TypeError, r"power must be a real"),
        (lambda: PolynomialDecay(0.0, 0.5, 0, 10, frequency=-3), ValueError,
         r"frequency should be > 0"),
        (lambda: ConstantSparsity(0.5, 0).should_prune(1.0), TypeError, r"step must be an int"),
        (lambda: PolynomialDecay(0.0, 0.5, 0, 10).sparsity_at(True), TypeError,
         r"step must be an int"),
    ])
    def test_bad_arguments(self, make, exc, match):
        with pytest.raises(exc, match=match):
            make()

    def test_repr_eq_config_pickle(self):
        s = PolynomialDecay(0.1, 0.8, begin_step=3, end_step=90, power=2, frequency=5)
        assert repr(s) == ("PolynomialDecay(initial_sparsity=0.1, final_sparsity=0.8, "
                           "begin_step=3, end_step=90, power=2, frequency=5)")
        assert eval(repr(s)) == s
        assert PolynomialDecay(**s.get_config()) == s
        assert pickle.loads(pickle.dumps(s)) == s
        c = ConstantSparsity(0.5, 0)
        assert repr(c) == ("ConstantSparsity(target_sparsity=0.5, begin_step=0, end_step=-1, "
                           "frequency=100)")
        assert eval(repr(c)) == c and c != s


# ------------------------------------------------------------------------------ pruning
class TestPruneMagnitude:
    def test_kept_count_rounds_half_to_even(self):
        # n * (1 - s) exactly representable: 2.5 -> 2, 3.5 -> 4, 0.5 -> 0 -> at least 1
        for n, s, k in [(4, 0.375, 2), (4, 0.125, 4), (2, 0.75, 1), (10, 0.25, 8),
                        (10, 1.0, 1), (10, 0.0, 10), (1, 0.9, 1), (0, 0.5, 0)]:
            (m,) = prune_magnitude(np.arange(1.0, n + 1), s)
            assert m.sum() == k, (n, s)

    @pytest.mark.parametrize("scope", ["per_array", "global"])
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_matches_sort_oracle_many_sizes(self, scope, dtype):
        rng = np.random.default_rng(1)
        sparsities = [0.0, 0.1, 0.5, 0.9, 0.999, 1.0] + list(rng.random(6))
        shapes = [(0,), (1,), (2,), (3,), (7,), (5, 3), (100,), (31, 33), (0, 4), (1001,)]
        for trial in range(12):
            arrays = []
            for shape in [shapes[i] for i in rng.choice(len(shapes), size=3)]:
                kind = trial % 3
                if kind == 0:        # continuous: no ties
                    a = rng.standard_normal(shape)
                elif kind == 1:      # heavy ties, both signs, many (signed) zeros
                    a = rng.integers(-3, 4, size=shape) * 0.5
                    a[rng.random(shape) < 0.2] = -0.0
                else:                # mostly exact zeros
                    a = np.where(rng.random(shape) < 0.7, 0.0, rng.standard_normal(shape))
                arrays.append(a.astype(dtype))
            for s in sparsities:
                got = prune_magnitude(arrays, s, scope=scope)
                want = oracle_masks(arrays, s, scope)
                assert len(got) == len(arrays)
                for g, w, a in zip(got, want, arrays):
                    assert g.dtype == np.uint8 and g.shape == a.shape and g.flags.c_contiguous
                    np.testing.assert_array_equal(g, w)
                if scope == "global":
                    assert sum(int(g.sum()) for g in got) == kept(sum(a.size for a in arrays), s)
                else:
                    assert [int(g.sum()) for g in got] == [kept(a.size, s) for a in arrays]

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.lists(st.integers(-4, 4), max_size=40), min_size=1, max_size=4),
           st.floats(0.0, 1.0), st.sampled_from(["per_array", "global"]), st.data())
    def test_hypothesis_against_oracle(self, values, s, scope, data):
        arrays = [np.array(v, dtype=np.float64) / 2 for v in values]
        masks = [np.array(data.draw(st.lists(st.booleans(), min_size=a.size, max_size=a.size)),
                          dtype=np.uint8) if data.draw(st.booleans()) else None
                 for a in arrays]
        got = prune_magnitude(arrays, s, scope=scope, masks=masks)
        for g, w in zip(got, oracle_masks(arrays, s, scope, masks)):
            np.testing.assert_array_equal(g, w)

    def test_keeps_largest_magnitudes_signs_ignored(self):
        w = np.array([[0.5, -2.0, 0.1], [3.0, -0.2, 1.0]])
        (m,) = prune_magnitude(w, 0.5)
        np.testing.assert_array_equal(m, [[0, 1, 0], [1, 0, 1]])

    def test_ties_keep_lower_flat_index(self):
        assert prune_magnitude(np.array([1.0, -1.0, 1.0, 0.5]), 0.5)[0].tolist() == [1, 1, 0, 0]
        # -0.0 and +0.0 tie
        assert prune_magnitude(np.array([-0.0, 0.0, 0.0]), 1 / 3)[0].tolist() == [1, 1, 0]
        # the flat index is the C-order index of the array as given (here a transpose)
        a = np.array([[2.0, 1.0], [1.0, 1.0]]).T
        assert prune_magnitude(a, 0.5)[0].tolist() == [[1, 1], [0, 0]]
        # global scope: earlier arrays first among equal magnitudes
        got = prune_magnitude([np.ones(2), np.ones(2)], 0.5, scope="global")
        assert [g.tolist() for g in got] == [[1, 1], [0, 0]]

    def test_global_and_per_array_differ(self):
        arrays = [np.array([10.0, 20.0]), np.array([1.0, 2.0])]
        per = prune_magnitude(arrays, 0.5, scope="per_array")
        glob = prune_magnitude(arrays, 0.5, scope="global")
        assert [m.tolist() for m in per] == [[0, 1], [0, 1]]      # each array keeps 1 of 2
        assert [m.tolist() for m in glob] == [[1, 1], [0, 0]]     # one threshold: 2 of 4

    def test_masks_make_pruning_nested(self):
        w0 = np.array([0.1, 0.2, 3.0, 0.3, 0.4])
        (m1,) = prune_magnitude(w0, 0.4)                          # keep 3
        assert m1.tolist() == [0, 0, 1, 1, 1]
        w1 = np.array([0.0, 0.0, 3.0, 0.0, 0.0])    # pruned -> 0, and two kept weights hit 0
        # without the current masks, the tie at 0 re-admits a pruned entry (index 0) ...
        assert prune_magnitude(w1, 0.6)[0].tolist() == [1, 0, 1, 0, 0]
        # ... with them, pruned entries rank below everything and the masks are nested
        (m2,) = prune_magnitude(w1, 0.6, masks=m1)
        assert m2.tolist() == [0, 0, 1, 1, 0]

    @pytest.mark.parametrize("scope", ["per_array", "global"])
    def test_growing_sparsity_with_masks_is_nested(self, scope):
        rng = np.random.default_rng(5)
        arrays = [rng.standard_normal((20, 30)), rng.standard_normal(50)]
        masks = None
        for s in np.linspace(0, 0.99, 12):
            new = prune_magnitude(arrays, s, scope=scope, masks=masks)
            if masks is not None:
                assert all(np.all(n <= m) for n, m in zip(new, masks))
            masks = new
            for a, m in zip(arrays, masks):
                a[m == 0] = 0.0                                  # as training would
                a[m == 1] += 0.01 * rng.standard_normal(int(m.sum()))
                a[m == 1] *= rng.random(int(m.sum())) < 0.9      # some kept weights hit 0

    def test_nan_counts_as_infinite_magnitude(self):
        w = np.array([np.nan, np.inf, 5.0, 1.0])
        assert prune_magnitude(w, 0.5)[0].tolist() == [1, 1, 0, 0]
        assert prune_magnitude(w, 0.75)[0].tolist() == [1, 0, 0, 0]     # tie: lower index
        assert prune_magnitude(w[::-1].copy(), 0.75)[0].tolist() == [0, 0, 1, 0]
        # an entry the current mask prunes stays pruned even if it is NaN
        m = np.array([0, 1, 1, 1])
        assert prune_magnitude(w, 0.5, masks=m)[0].tolist() == [0, 1, 1, 0]

    def test_empty_arrays(self):
        got = prune_magnitude([np.empty((0, 3)), np.ones(3)], 0.5)
        assert got[0].shape == (0, 3) and got[1].tolist() == [1, 1, 0]
        got = prune_magnitude([np.empty(0), np.array([1.0, 2.0, 3.0])], 0.5, scope="global")
        assert got[0].shape == (0,) and got[1].tolist() == [0, 1, 1]
        assert prune_magnitude([np.empty(0)], 0.5, scope="global")[0].shape == (0,)

    def test_inputs_untouched_and_other_dtypes(self):
        a = np.array([3.0, -1.0, 2.0])
        m = np.array([1, 0, 1], dtype=np.uint8)
        prune_magnitude(a, 0.5, masks=m)
        assert a.tolist() == [3.0, -1.0, 2.0] and m.tolist() == [1, 0, 1]
        assert prune_magnitude(np.array([3, -4, 1]), 0.5)[0].tolist() == [1, 1, 0]   # ints
        # a list is a list of arrays (here three 0-d arrays), never one array
        assert [m.tolist() for m in prune_magnitude([3, -4, 1], 0.5)] == [1, 1, 1]
        assert prune_magnitude(np.array([-128, 5], dtype=np.int8), 0.5)[0].tolist() == [1, 0]
        a32 = np.float32([1e-30, 3e-30, 2e-45])
        assert prune_magnitude(a32, 0.5)[0].tolist() == prune_magnitude(
            a32.astype(np.float64), 0.5)[0].tolist()

    @pytest.mark.parametrize("call,exc,match", [
        (lambda: prune_magnitude(np.ones(3), 1.5), ValueError,
         r"Invalid sparsity value: 1.5"),
        (lambda: prune_magnitude(np.ones(3), -0.1), ValueError, r"Invalid sparsity value: -0.1"),
        (lambda: prune_magnitude(np.ones(3), math.nan), ValueError, r"Invalid sparsity value: nan"),
        (lambda: prune_magnitude(np.ones(3), True), TypeError,
         r"Invalid sparsity: True \(expected a real number\)"),
        (lambda: prune_magnitude(np.ones(3), 0.5, scope="layer"), ValueError,
         r"Invalid scope: 'layer' \(expected 'per_array' or 'global'\)"),
        (lambda: prune_magnitude([np.ones(3), np.ones(2)], 0.5, masks=[None]), ValueError,
         r"'masks' has 1 entries, expected 2"),
        (lambda: prune_magnitude([np.ones(3), np.ones(2)], 0.5, masks=[None, np.ones(3)]),
         ValueError, r"'masks\[1\]' has shape \(3,\), expected \(2,\)"),
        (lambda: prune_magnitude(np.ones(3, complex), 0.5), TypeError, r"expected real numbers"),
        (lambda: prune_magnitude([np.ones(2), np.array(["a"])], 0.5), TypeError,
         r"'arrays\[1\]' has dtype"),
    ])
    def test_bad_arguments(self, call, exc, match):
        with pytest.raises(exc, match=match):
            call()

    def test_selection_does_not_sort(self, monkeypatch):
        """O(n) selection: np.partition, never a full sort."""
        def boom(*args, **kwargs):
            raise AssertionError("full sort used")
        for name in ("sort", "argsort", "lexsort"):
            monkeypatch.setattr(np, name, boom)
        a = np.random.default_rng(0).standard_normal(100_000)
        for scope in ("per_array", "global"):
            (m,) = prune_magnitude(a, 0.9, scope=scope)
            assert m.sum() == 10_000


# ------------------------------------------------------------------------------ counts, csr
class TestCountsAndCsr:
    def test_nnz_and_sparsity(self):
        a = np.array([0.0, -0.0, 1.0, np.nan, -np.inf])
        b = np.zeros((2, 3), dtype=np.float32)
        assert nnz(a) == 3 and nnz([a, b]) == 3 and nnz([]) == 0
        assert sparsity(a) == 0.4 and sparsity([a, b]) == 1 - 3 / 11
        assert sparsity([]) == 0.0 and sparsity(np.empty((0, 5))) == 0.0
        assert isinstance(nnz(a), int) and isinstance(sparsity(a), float)

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_csr_round_trip(self, dtype):
        rng = np.random.default_rng(2)
        w = rng.standard_normal((40, 25)).astype(dtype)
        w[rng.random(w.shape) < 0.8] = 0.0
        w[0, :3] = -0.0
        w[1, 1] = np.nan
        m = to_csr(w)
        assert isinstance(m, scipy.sparse.csr_array) and m.dtype == dtype and m.shape == w.shape
        assert m.nnz == np.count_nonzero(w)                     # -0.0 dropped, NaN kept
        assert np.count_nonzero(m.data == 0) == 0
        back = from_csr(m)
        assert back.dtype == dtype and back.flags.c_contiguous and back.shape == w.shape
        np.testing.assert_array_equal(back, w)
        assert not np.signbit(back[back == 0]).any()            # zeros come back as +0.0
        x = rng.standard_normal(25).astype(dtype)
        w[1, 1] = 0.0
        np.testing.assert_allclose(to_csr(w) @ x, w @ x, rtol=1e-5)

    def test_csr_shapes_and_errors(self):
        m = to_csr(np.array([0.0, 2.0, 0.0]))
        assert m.shape == (1, 3) and m.nnz == 1
        assert from_csr(m).shape == (1, 3)
        assert from_csr(scipy.sparse.csc_matrix(np.eye(2, dtype=np.float32))).dtype == np.float32
        with pytest.raises(ValueError, match="to_csr takes a 1-D or 2-D array, got 3 dimensions"):
            to_csr(np.zeros((2, 2, 2)))
        with pytest.raises(ValueError, match="got 0 dimensions"):
            to_csr(1.0)
        with pytest.raises(TypeError, match="from_csr takes a scipy.sparse matrix or array"):
            from_csr(np.eye(2))


# ------------------------------------------------------------------------------ l1 prox
def soft_threshold_grid(t):
    tiny = np.finfo(np.float64).smallest_subnormal
    around = [np.nextafter(t, 0), t, np.nextafter(t, np.inf), 2 * t, t / 2]
    values = [0.0, tiny, 1e-310, np.finfo(np.float64).tiny, np.inf, 1.0, 1e300, 3.0] + around
    grid = np.array(values + [-v for v in values] + [np.nan, -np.nan])
    return grid


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("t", [0.75, 0.1, 1e-300, 5e-324, 1e300])
def test_l1_prox_is_exact_soft_threshold(convention, t):
    """SGD with lr=1, l1=t and a zero gradient is exactly the soft threshold
    sign(x) * max(|x| - t, 0), with +0.0 for every zero (also from -0.0 and from -x)."""
    grid = soft_threshold_grid(t)
    x = grid.copy()
    opt = fastopt.SGD(x, learning_rate=1.0, l1=t, convention=convention)
    opt.step(np.zeros_like(x))
    expected = np.sign(grid) * np.maximum(np.abs(grid) - t, 0.0)
    np.testing.assert_array_equal(x, expected)               # NaN == NaN here
    assert not np.signbit(x[x == 0]).any()
    assert np.isnan(x[-2:]).all() and np.isinf(x[np.isinf(grid)]).all()


def test_l1_prox_float32_and_per_coordinate():
    t = np.float32(0.3)
    grid = np.float32([0.0, -0.0, 0.3, -0.3, np.nextafter(t, 1), 1e-45, -1e-45, 2.0, -2.0,
                       np.inf, -np.inf, np.nan])
    x = grid.copy()
    fastopt.SGD(x, learning_rate=1.0, l1=np.full_like(x, t)).step(np.zeros_like(x))
    expected = np.sign(grid) * np.maximum(np.abs(grid) - t, np.float32(0))
    assert expected.dtype == np.float32
    np.testing.assert_array_equal(x, expected)
    assert not np.signbit(x[x == 0]).any()


# ------------------------------------------------------------------------------ wiring
# Tests of the optimizers' pruning options: every optimizer takes
# ``pruning=<schedule>`` and ``pruning_scope="per_array"|"global"``; at update t (from 0),
# when schedule.should_prune(t), masks = prune_magnitude(params, schedule.sparsity_at(t),
# scope, masks=<current masks>) are set with set_masks and applied in the same step.

PRUNING_CONFIGS = [
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {"momentum": 0.5, "centered": True}),
    ("adam", {}),
    ("adam", {"amsgrad": True}),
    ("adamax", {}),
    ("nadam", {}),
    ("adagrad", {}),
]
PRUNING_IDS = [r + "".join(f"-{k}" for k in h) for r, h in PRUNING_CONFIGS]
CLASSES = {"sgd": fastopt.SGD, "adagrad": fastopt.Adagrad, "rmsprop": fastopt.RMSprop,
           "adam": fastopt.Adam, "adamax": fastopt.Adamax, "nadam": fastopt.Nadam}


def make_params(rng, dtype=np.float64, shapes=((8, 16), (16,), (3, 5, 7))):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def flat_masks(opt):
    return [None if m is None else np.asarray(m).reshape(p.shape)
            for m, p in zip(opt.masks, opt.params)]


class TestOptimizerPruning:
    @pytest.mark.parametrize("convention", ["torch", "keras"])
    @pytest.mark.parametrize("rule,hyper", PRUNING_CONFIGS, ids=PRUNING_IDS)
    def test_pruned_weights_and_state_stay_zero(self, rule, hyper, convention):
        rng = np.random.default_rng(3)
        params = make_params(rng)
        expected = prune_magnitude([p.copy() for p in params], 0.6)
        opt = CLASSES[rule](params, learning_rate=1e-2, convention=convention,
                            pruning=ConstantSparsity(0.6, begin_step=0, end_step=0), **hyper)
        for _ in range(1000):
            opt.step([rng.standard_normal(p.shape) for p in params])
        for p, m, e, state in zip(params, flat_masks(opt), expected, opt.state):
            np.testing.assert_array_equal(m != 0, e != 0)
            assert np.all(p[e == 0] == 0) and not np.signbit(p[e == 0]).any()
            assert np.count_nonzero(p[e == 1]) == e.sum()
            for name, s in state.items():
                assert np.all(s[e == 0] == 0), name

    @pytest.mark.parametrize("scope", ["per_array", "global"])
    def test_polynomial_schedule_counts_and_nesting(self, scope):
        rng = np.random.default_rng(4)
        params = make_params(rng)
        sched = PolynomialDecay(0.0, 0.9, begin_step=5, end_step=105, frequency=10)
        opt = fastopt.Adam(params, learning_rate=1e-2, pruning=sched, pruning_scope=scope)
        previous = None
        pruned_at = []
        for t in range(130):
            opt.step([rng.standard_normal(p.shape) for p in params])
            masks = flat_masks(opt)
            if not sched.should_prune(t):
                if previous is not None:
                    assert all(np.array_equal(m, q) for m, q in zip(masks, previous))
                continue
            pruned_at.append(t)
            s = sched.sparsity_at(t)
            counts = [int(np.count_nonzero(m)) for m in masks]
            if scope == "global":
                assert sum(counts) == kept(sum(p.size for p in params), s)
            else:
                assert counts == [kept(p.size, s) for p in params]
            if previous is not None:
                assert all(np.all((m != 0) <= (q != 0)) for m, q in zip(masks, previous))
            for p, m in zip(params, masks):
                assert np.all(p[m == 0] == 0)
            previous = [m.copy() for m in masks]
        assert pruned_at == list(range(5, 106, 10))
        assert math.isclose(sparsity(params), 0.9, abs_tol=0.01)

    @pytest.mark.parametrize("rule,hyper", PRUNING_CONFIGS[::2], ids=PRUNING_IDS[::2])
    def test_state_dict_round_trip_is_bit_identical(self, rule, hyper):
        rng = np.random.default_rng(6)
        params = make_params(rng)
        grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(300)]
        sched = PolynomialDecay(0.2, 0.8, begin_step=0, end_step=200, frequency=25)
        a = CLASSES[rule](params, learning_rate=1e-2, pruning=sched, **hyper)
        for g in grads[:150]:
            a.step(g)
        sd = a.state_dict()
        assert all(m is not None and m.shape == p.shape for m, p in zip(sd["masks"], params))
        clone = [p.copy() for p in params]
        b = CLASSES[rule](clone, learning_rate=1e-2, pruning=sched, **hyper)
        b.load_state_dict(pickle.loads(pickle.dumps(sd)))
        for g in grads[150:]:
            a.step(g)
            b.step(g)
        for p, q in zip(params, clone):
            assert p.tobytes() == q.tobytes()
        for sa, sb in zip(a.state, b.state):
            assert all(sa[k].tobytes() == sb[k].tobytes() for k in sa)
        for ma, mb in zip(flat_masks(a), flat_masks(b)):
            np.testing.assert_array_equal(ma, mb)

    @pytest.mark.parametrize("num_threads", [2, 3])
    @pytest.mark.parametrize("scope", ["per_array", "global"])
    def test_threads_bit_identical(self, num_threads, scope):
        old = _dispatch.set_parallel_threshold(0)
        try:
            results = []
            for threads in (1, num_threads):
                rng = np.random.default_rng(7)
                params = make_params(rng, np.float32, shapes=((64, 129), (5000,)))
                opt = fastopt.Nadam(params, learning_rate=1e-2, num_threads=threads,
                                    pruning=PolynomialDecay(0.1, 0.95, 0, 60, frequency=7),
                                    pruning_scope=scope)
                for _ in range(80):
                    opt.step([rng.standard_normal(p.shape).astype(np.float32) for p in params])
                results.append((params, flat_masks(opt)))
            (p1, m1), (pk, mk) = results
            assert all(a.tobytes() == b.tobytes() for a, b in zip(p1, pk))
            assert all(np.array_equal(a, b) for a, b in zip(m1, mk))
        finally:
            _dispatch.set_parallel_threshold(old)

    def test_minimize_pruning_option(self):
        rng = np.random.default_rng(8)
        target = rng.standard_normal(200)

        def fun(x):
            return 0.5 * np.sum((x - target) ** 2), x - target

        schedule = PolynomialDecay(0.0, 0.75, begin_step=0, end_step=300, frequency=50)
        res = fastopt.minimize(fun, np.zeros(200), jac=True, method="sgd",
                               options={"learning_rate": 0.5, "maxiter": 400, "gtol": 0,
                                        "pruning": schedule, "pruning_scope": "global"})
        assert res.nnz == 50 and res.sparsity == 0.75
        assert np.count_nonzero(res.x) == 50
        # x_t = (1 - 0.5**t) target on kept coordinates, so |x| ranks like |target|
        np.testing.assert_array_equal(res.x != 0, prune_magnitude(target, 0.75)[0] != 0)

    def test_bad_pruning_scope(self):
        with pytest.raises(ValueError, match="scope"):
            fastopt.SGD(np.zeros(3), pruning=ConstantSparsity(0.5, 0), pruning_scope="layer")
