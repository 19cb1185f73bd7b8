"""Helpers of the fastinit.torch tests: a module's state, compared bit for bit."""
import torch


def state(m):
    """A copy of ``m``'s state dict."""
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def assert_equal_states(a, b):
    """The same names, dtypes and bits."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
