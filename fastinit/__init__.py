"""fastinit: neural-network initializations written in place, at memory speed.

Every element is a pure function of (seed, stream, dtype family,
distribution and parameters, global element index): the same bits on any
thread count and any sharding.  See docs/contract.md.
"""
from ._fans import calculate_gain, compute_fans
from .api import (constant_, glorot_normal_, glorot_uniform_, he_normal_, he_uniform_,
                  kaiming_normal_, kaiming_uniform_, lecun_normal_, lecun_uniform_,
                  manual_seed, normal_, ones_, trunc_normal_, uniform_, variance_scaling_,
                  xavier_normal_, xavier_uniform_, zeros_)

__version__ = "0.1.0"
#: The version of the value contract this release implements.
CONTRACT_VERSION = 1

__all__ = [
    "uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
    "glorot_uniform_", "glorot_normal_", "he_uniform_", "he_normal_",
    "kaiming_uniform_", "kaiming_normal_", "lecun_uniform_", "lecun_normal_",
    "variance_scaling_", "zeros_", "ones_", "constant_", "manual_seed",
    "calculate_gain", "compute_fans", "CONTRACT_VERSION",
]
