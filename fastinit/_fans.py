"""Fans and gains: ``compute_fans`` and ``calculate_gain`` (torch's table)."""
import math
import numbers

LAYOUTS = ("out_in", "in_out")

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                "conv_transpose2d", "conv_transpose3d", "sigmoid")
NONLINEARITIES = _LINEAR_LIKE + ("tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain).

    ============================  ===========================
    nonlinearity                  gain
    ============================  ===========================
    linear, conv*, sigmoid        1
    tanh                          5/3
    relu                          sqrt(2)
    leaky_relu                    sqrt(2 / (1 + slope^2)), slope = ``param`` (default 0.01)
    selu                          3/4 (self-normalising networks, as in torch)
    ============================  ===========================
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"param must be a number (the negative slope) for leaky_relu; got {param!r}")
        if not math.isfinite(slope):
            raise ValueError(f"param must be finite; got {param!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"nonlinearity must be one of {', '.join(NONLINEARITIES)}; got {nonlinearity!r}")


def compute_fans(shape, layout="out_in"):
    """(fan_in, fan_out) of a weight of ``shape``.

    ``layout="out_in"`` is torch's ``(out, in, *kernel)``;
    ``layout="in_out"`` is JAX/Keras' ``(*kernel, in, out)``.  The receptive
    field (the product of the kernel dimensions) multiplies both fans.
    Needs at least 2 dimensions, as in torch.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}; got {layout!r}")
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out cannot be computed for a buffer with fewer than 2 dimensions "
            f"(shape {shape}); pass fan_in= / fan_out= explicitly")
    if layout == "out_in":
        receptive = math.prod(shape[2:])
        return shape[1] * receptive, shape[0] * receptive
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive
