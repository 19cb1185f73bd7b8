"""The golden-hash cases: (function, dtype, shape, seed, stream, kwargs)."""
import hashlib

import ml_dtypes
import numpy as np

import fastinit as fi

DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
          "bfloat16": ml_dtypes.bfloat16}
CALLS = {
    "uniform_": (fi.uniform_, dict(low=-0.5, high=2.0)),
    "normal_": (fi.normal_, dict(mean=0.25, std=0.02)),
    "trunc_normal_": (fi.trunc_normal_, dict(mean=0.0, std=1.0, a=-0.5, b=3.0)),
    "xavier_uniform_": (fi.xavier_uniform_, {}),
    "xavier_normal_": (fi.xavier_normal_, {}),
    "he_uniform_": (fi.he_uniform_, {}),
    "he_normal_": (fi.he_normal_, dict(mode="fan_out", nonlinearity="relu")),
    "lecun_uniform_": (fi.lecun_uniform_, {}),
    "lecun_normal_": (fi.lecun_normal_, {}),
    "variance_scaling_": (fi.variance_scaling_, dict(scale=2.0, mode="fan_avg", distribution="truncated_normal")),
}
SHAPES = [(257, 33), (4, 3, 5, 7)]
SEEDS = [(0, 0), (2**64 - 1, "decoder.layers.0.mlp.w1")]

CASES = {}
for name in CALLS:
    for dname in DTYPES:
        for shape in SHAPES:
            for seed, stream in SEEDS:
                CASES[f"{name}|{dname}|{'x'.join(map(str, shape))}|{seed}|{stream}"] = (name, dname, shape, seed, stream)


def digest(case, device=None):
    """The sha256 of the case's buffer filled on the CPU, or on a GPU
    (``device`` = numba.cuda, real or the simulator) and copied back."""
    name, dname, shape, seed, stream = case
    fn, kwargs = CALLS[name]
    buf = np.zeros(shape, DTYPES[dname])
    if device is not None:
        buf = device.to_device(buf)
    fn(buf, seed=seed, stream=stream, **kwargs)
    if device is not None:
        buf = buf.copy_to_host()
    return hashlib.sha256(buf.tobytes()).hexdigest()
