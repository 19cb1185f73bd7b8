"""What ``python -m fastinit bench`` times for one buffer: plain stores into
it (the fastest is the write ceiling), fastinit's fillers, and the same draws by the peers
(NumPy, torch, JAX on the CPU; torch, CuPy, JAX on a GPU).  Each row is
(library, method, function, timer).

The facts of what is timed live here once, for the suites in ``bench/`` and
the scripts in ``tools/`` too: the dtypes, the fillers' arguments, the rows
view of a buffer, the buffers themselves and the plain stores."""
import functools

import numpy as np

DTYPES = ("float32", "bfloat16", "float64")

#: the draws every benchmark times, as positional arguments after the buffer,
#: the same for fastinit's fillers and ``torch.nn.init``'s: uniform on
#: [-0.1, 0.1), normal with std 0.02, and that normal truncated at 2 std
ARGS = {"uniform_": (-0.1, 0.1), "normal_": (0.0, 0.02), "trunc_normal_": (0.0, 0.02, -0.04, 0.04)}

#: fastinit's rows: the draws of ``ARGS``, then he_normal_ (of the rows view) and zeros_
FASTINIT = (*ARGS, "he_normal_", "zeros_")

#: torch's CPU trunc_normal_ redraws until every value is inside (about
#: 0.01-0.04 G/s): timed up to this size only
TORCH_CPU_TRUNC_MAX_LOG2 = 22

#: torch's draws on a GPU tensor ``t`` (``rows``: its rows view, for the fan-in)
TORCH_CUDA = {
    "uniform_": lambda torch, t, rows: t.uniform_(),
    "normal_": lambda torch, t, rows: t.normal_(),
    "kaiming_normal_": lambda torch, t, rows: torch.nn.init.kaiming_normal_(rows),
    "trunc_normal_": lambda torch, t, rows: torch.nn.init.trunc_normal_(t),
}


def two_d(a, cols=32):
    """A 1-d NumPy array or torch tensor as rows of ``cols`` (one row when
    shorter), the same memory: what the fan-in fillers get."""
    return a.reshape(-1, cols) if a.shape[0] >= cols else a.reshape(1, -1)


def cpu_buffer(n, dtype):
    """``n`` zeros of ``dtype`` (a name; bfloat16 from ml_dtypes): zeroed,
    so its pages are touched before any timing."""
    if dtype == "bfloat16":
        import ml_dtypes
        return np.zeros(n, ml_dtypes.bfloat16)
    return np.zeros(n, dtype)


def fastinit_calls(fi, buf, rows):
    """fastinit's rows: (method, function) for each of ``FASTINIT``."""
    calls = {m: functools.partial(getattr(fi, m), buf, *args, seed=1) for m, args in ARGS.items()}
    calls.update(he_normal_=functools.partial(fi.he_normal_, rows, seed=1), zeros_=functools.partial(fi.zeros_, buf))
    return [(m, calls[m]) for m in FASTINIT]


def _jax_rows(dtype, n):
    import jax
    import jax.numpy as jnp
    if dtype == "float64" and not jax.config.jax_enable_x64:
        return []
    dt = getattr(jnp, dtype)
    key = jax.random.PRNGKey(0)
    fns = {"random.uniform (allocates)": jax.jit(lambda k: jax.random.uniform(k, (n,), dt)),
           "random.normal (allocates)": jax.jit(lambda k: jax.random.normal(k, (n,), dt)),
           "random.truncated_normal (allocates)":
               jax.jit(lambda k: jax.random.truncated_normal(k, -2.0, 2.0, (n,), dt))}
    return [("jax", name, (lambda f=f: f(key).block_until_ready()), "wall") for name, f in fns.items()]


@functools.lru_cache(maxsize=None)
def _pool(threads):
    """One pool of threads for the plain stores of every buffer."""
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(threads, thread_name_prefix="bench-store")


def plain_stores(buf):
    """The write ceiling's candidates (library ""), each storing 1.0 into
    ``buf``'s memory: NumPy's ``fill`` on one thread, the same on all
    threads, and non-temporal stores on all threads (the loop of fastinit's
    large constant fills, without fastinit's Python path)."""
    from fastinit import _cpu, _dtypes, _threads
    kind = _dtypes.of_numpy(buf.dtype)
    mem, one = buf.view(kind.storage), kind.stored(kind.compute(1.0))
    nt = _threads.num_threads()
    pool = _pool(nt)
    # pieces on cache-line boundaries, as fastinit's own split
    cuts = [len(mem) * k // nt // 64 * 64 for k in range(nt)] + [len(mem)]
    pieces = [mem[lo:hi] for lo, hi in zip(cuts, cuts[1:]) if hi > lo]
    rows = [("", "fill", lambda: mem.fill(one), "cpu"),
            ("", f"fill, {nt} threads", lambda: list(pool.map(lambda p: p.fill(one), pieces)), "cpu")]
    if _cpu.NONTEMPORAL:
        store = _cpu.nontemporal_kernel(kind.code)
        store(mem[:64], one)                        # compiled before timing
        rows.append(("", f"non-temporal store, {nt} threads", lambda: list(pool.map(lambda p: store(p, one), pieces)),
                     "cpu"))
    return rows


def cpu_rows(dtype, log2, peers):
    """(library, method, function, timer) for one CPU buffer; the rows of
    library "" come first: plain stores, the fastest of which is the write
    ceiling."""
    import fastinit as fi
    n = 2 ** log2
    buf = cpu_buffer(n, dtype)
    rows = plain_stores(buf)
    rows += [("fastinit", m, f, "cpu") for m, f in fastinit_calls(fi, buf, two_d(buf))]
    if "numpy" in peers and dtype != "bfloat16":
        rng = np.random.Generator(np.random.PCG64(0))
        rows += [("numpy", "random(out=)", lambda: rng.random(out=buf, dtype=buf.dtype), "cpu"),
                 ("numpy", "standard_normal(out=)", lambda: rng.standard_normal(out=buf, dtype=buf.dtype), "cpu")]
    if "torch" in peers:
        import torch
        t = torch.from_numpy(buf) if dtype != "bfloat16" else torch.zeros(n, dtype=torch.bfloat16)
        init = torch.nn.init
        rows += [("torch", "uniform_", functools.partial(init.uniform_, t, *ARGS["uniform_"]), "cpu"),
                 ("torch", "normal_", functools.partial(init.normal_, t, *ARGS["normal_"]), "cpu"),
                 ("torch", "kaiming_normal_", functools.partial(init.kaiming_normal_, two_d(t)), "cpu")]
        if log2 <= TORCH_CPU_TRUNC_MAX_LOG2:
            rows.append(("torch", "trunc_normal_", functools.partial(init.trunc_normal_, t, *ARGS["trunc_normal_"]),
                         "cpu"))
    if "jax" in peers:
        rows += _jax_rows(dtype, n)
    return rows


def cuda_rows(dtype, log2, peers):
    """(library, method, function, timer) for one GPU buffer (a torch
    tensor); the first row is torch's ``fill_`` of it."""
    import fastinit as fi
    import torch
    n = 2 ** log2
    t = torch.zeros(n, dtype=getattr(torch, dtype), device="cuda")
    rows = [("torch", "fill_", lambda: t.fill_(1.0), "cuda")]
    rows += [("fastinit", m, f, "cuda") for m, f in fastinit_calls(fi, t, two_d(t))]
    if "torch" in peers:
        rows += [("torch", m, functools.partial(f, torch, t, two_d(t)), "cuda") for m, f in TORCH_CUDA.items()]
    if "cupy" in peers and dtype != "bfloat16":
        import cupy as cp
        a = cp.asarray(t)                             # the same memory
        rng = cp.random.default_rng(0)
        rows.append(("cupy", "standard_normal(out=)", lambda: rng.standard_normal(out=a, dtype=a.dtype), "cuda"))
    if "jax" in peers:
        rows += _jax_rows(dtype, n)
    return rows
