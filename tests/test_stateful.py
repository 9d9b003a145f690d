"""A stateful property test: random sequences of step / state_dict round trip / learning-rate
change / pruning masks / l1 changes of nothing, checked after every operation against the
NumPy oracle (tests/reference.py) run side by side."""

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import reference
from conftest import CLASSES, CONFIGS, for_convention

VALUES = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)


class OptimizerVsOracle(RuleBasedStateMachine):
    """fastopt's optimizer object and the oracle take the same operations."""

    @initialize(config=st.sampled_from(CONFIGS), convention=st.sampled_from(["torch", "keras"]),
                n=st.integers(0, 9), l1=st.sampled_from([0.0, 0.05]),
                weight_decay=st.sampled_from([0.0, 0.01]), seed=st.integers(0, 2**16))
    def setup(self, config, convention, n, l1, weight_decay, seed):
        rule_name, hyper = config
        hyper = for_convention(rule_name, hyper, convention)
        self.rule, self.convention = rule_name, convention
        self.hyper = dict(hyper)
        self.lr = 0.05
        self.opts = {"l1": l1, "weight_decay": weight_decay}
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal(n)
        self.theta = self.x.copy()
        self.state = reference.init_state(rule_name, self.theta, convention, **hyper)
        self.mask = None
        self.t = 0
        self.opt = CLASSES[rule_name](self.x, learning_rate=self.lr, convention=convention,
                                      **hyper, **self.opts)

    @rule(data=st.data())
    def step(self, data):
        g = np.array(data.draw(st.lists(VALUES, min_size=self.x.size, max_size=self.x.size)),
                     dtype=np.float64)
        self.opt.step(g)
        self.t += 1
        self.theta, self.state, _ = reference.step(
            self.rule, self.theta, g, self.state, self.t, convention=self.convention,
            learning_rate=self.lr, mask=self.mask, **self.hyper, **self.opts)

    @rule(lr=st.sampled_from([0.0, 1e-3, 0.05, 0.2]))
    def set_learning_rate(self, lr):
        self.opt.learning_rate = lr
        self.lr = lr

    @rule()
    def round_trip_state(self):
        """Continue in a new optimizer loaded from state_dict() (over a copy of x)."""
        sd = self.opt.state_dict()
        x = self.x.copy()
        opt = CLASSES[self.rule](x, learning_rate=self.lr, convention=self.convention,
                                 **self.hyper, **self.opts)
        opt.load_state_dict(sd)
        self.x, self.opt = x, opt

    @precondition(lambda self: self.x.size > 0)
    @rule(data=st.data())
    def prune(self, data):
        """Pin a random subset to zero (masks only grow, as pruning does)."""
        keep = np.array(data.draw(st.lists(st.booleans(), min_size=self.x.size,
                                           max_size=self.x.size)))
        if self.mask is not None:
            keep &= self.mask.astype(bool)
        self.mask = keep.astype(np.uint8)
        self.opt.set_masks([self.mask])

    @invariant()
    def matches_oracle(self):
        if not hasattr(self, "opt"):
            return
        np.testing.assert_allclose(self.x, self.theta, rtol=1e-9, atol=1e-12)
        for k, v in self.opt.state[0].items():
            np.testing.assert_allclose(v, self.state[k], rtol=1e-9, atol=1e-12, err_msg=k)
        assert self.opt.step_count == self.t
        zeros = self.x == 0
        assert not np.signbit(self.x[zeros]).any() or self.opts["l1"] == 0


OptimizerVsOracle.TestCase.settings = settings(max_examples=60, stateful_step_count=25,
                                               deadline=None)
test_optimizer_vs_oracle = OptimizerVsOracle.TestCase
