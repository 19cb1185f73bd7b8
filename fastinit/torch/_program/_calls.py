"""What the recorder knows of torch's calls: which ones draw, write, make
tables or compute elementwise, and small helpers to read a call's
arguments."""
import torch
from torch.utils import _pytree


#: Tensor methods and torch functions whose result is random.
_RANDOM_CALLS = {"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal",
                 "bernoulli", "multinomial", "poisson", "random_", "exponential_", "geometric_", "cauchy_",
                 "log_normal_", "bernoulli_", "uniform_", "normal_", "dropout", "native_dropout",
                 "_standard_gamma", "binomial"}
#: Factories of deterministic tables, made on the CPU while recording where
#: the program asks for the device of a model's tensor (the meta stand-in),
#: up to ``SMALL_TABLE`` elements (larger ones stay on meta: copying one into
#: the model is refused, rather than holding a model-sized table).
_TABLE_FACTORIES = {"arange", "linspace", "logspace", "zeros", "ones", "full", "eye", "tensor", "as_tensor",
                    "tril_indices", "triu_indices"}
SMALL_TABLE = 1 << 22


#: Factories that take a tensor's shape, dtype and device, not its values.
_LIKE_TABLES = {"zeros_like", "ones_like", "full_like", "new_zeros", "new_ones", "new_full"}
_SHAPE_ONLY = _LIKE_TABLES | {"empty_like", "new_empty", "rand_like", "randn_like", "randint_like"}


def _is_meta_device(d):
    return d is not None and (d == "meta" or (isinstance(d, torch.device) and d.type == "meta"))


#: Elementwise in-place arithmetic with numbers, replayed in order where it
#: applies (``p /= math.sqrt(n_layers)`` after a fill): the Tensor method each
#: stands for.
_SCALAR_TRANSFORMS = {"mul_": "mul_", "__imul__": "mul_", "div_": "div_", "__itruediv__": "div_",
                      "add_": "add_", "__iadd__": "add_", "sub_": "sub_", "__isub__": "sub_",
                      "clamp_": "clamp_", "clamp_min_": "clamp_min_", "clamp_max_": "clamp_max_",
                      "neg_": "neg_"}


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: Elementwise functions (of tensors of one shape, and numbers): what a
#: program computes from a tensor's values and copies back into it.
_ELEMENTWISE = {"log", "exp", "sqrt", "rsqrt", "neg", "abs", "sigmoid", "tanh", "log1p", "expm1", "reciprocal",
                "sin", "cos", "floor", "ceil", "round", "sign", "square", "exp2", "log2", "log10", "float",
                "double", "clamp", "clamp_min", "clamp_max", "maximum", "minimum", "mul", "add", "sub", "div",
                "pow", "__mul__", "__rmul__", "__add__", "__radd__", "__sub__", "__rsub__", "__truediv__",
                "__rtruediv__", "__pow__", "__rpow__", "__neg__", "__abs__"}


#: In-place methods that change no value.
_NOT_WRITES = {"requires_grad_", "retain_grad", "share_memory_", "detach_", "record_stream", "pin_memory"}
_INPLACE_DUNDERS = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__",
                    "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__", "__imatmul__"}


def _pretty(func, name):
    """``torch.rand``, ``Tensor.uniform_``: a call as the program wrote it."""
    q = getattr(func, "__qualname__", name)
    if q.startswith("_VariableFunctionsClass.") or getattr(func, "__module__", None) == "torch":
        return f"torch.{name}"
    if q.startswith(("TensorBase.", "Tensor.")):
        return f"Tensor.{name}"
    mod = getattr(func, "__module__", None)
    return f"{mod}.{q}" if mod else q


def _holds_tensor(x):
    if isinstance(x, torch.Tensor):
        return True
    if isinstance(x, (tuple, list)):
        return any(_holds_tensor(v) for v in x)
    if isinstance(x, dict):
        return any(_holds_tensor(v) for v in x.values())
    return False


def _leaves(args, kwargs):
    """The tensors among a call's arguments (one level of lists and tuples
    looked into directly, deeper ones through pytree)."""
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (tuple, list, dict)):
            yield from (v for v in _pytree.tree_leaves(a) if isinstance(v, torch.Tensor))
