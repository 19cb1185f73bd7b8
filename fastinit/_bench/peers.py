"""What ``python -m fastinit bench`` times for one buffer: plain stores into
it (the fastest is the write ceiling), fastinit's fillers, and the same draws by the peers
(NumPy, torch, JAX on the CPU; torch, CuPy, JAX on a GPU).  Each row is
(library, method, function, timer)."""
import functools

import numpy as np

#: torch's CPU trunc_normal_ redraws until every value is inside (about
#: 0.01-0.04 G/s here): timed up to this size only
TORCH_CPU_TRUNC_MAX_LOG2 = 22


def _fillers(fi, buf, two_d):
    """fastinit's rows: (method, function)."""
    return [("uniform_", lambda: fi.uniform_(buf, -0.1, 0.1, seed=1)),
            ("normal_", lambda: fi.normal_(buf, std=0.02, seed=1)),
            ("trunc_normal_", lambda: fi.trunc_normal_(buf, std=0.02, a=-0.04, b=0.04, seed=1)),
            ("he_normal_", lambda: fi.he_normal_(two_d, seed=1)),
            ("zeros_", lambda: fi.zeros_(buf))]


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


def _plain_stores(buf):
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
        store = _cpu.nontemporal_kernel("constant", kind.code)
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
    if dtype == "bfloat16":
        import ml_dtypes
        buf = np.zeros(n, ml_dtypes.bfloat16)        # zeroed: pages touched before timing
    else:
        buf = np.zeros(n, dtype)
    plain = _plain_stores(buf)
    two_d = buf.reshape(-1, 32) if n >= 32 else buf.reshape(1, -1)
    rows = list(plain)
    rows += [("fastinit", m, f, "cpu") for m, f in _fillers(fi, buf, two_d)]
    if "numpy" in peers and dtype != "bfloat16":
        rng = np.random.Generator(np.random.PCG64(0))
        rows += [("numpy", "random(out=)", lambda: rng.random(out=buf, dtype=buf.dtype), "cpu"),
                 ("numpy", "standard_normal(out=)", lambda: rng.standard_normal(out=buf, dtype=buf.dtype), "cpu")]
    if "torch" in peers:
        import torch
        t = torch.from_numpy(buf) if dtype != "bfloat16" else torch.zeros(n, dtype=torch.bfloat16)
        t2 = t.view(-1, 32) if n >= 32 else t.view(1, -1)
        init = torch.nn.init
        rows += [("torch", "uniform_", lambda: init.uniform_(t, -0.1, 0.1), "cpu"),
                 ("torch", "normal_", lambda: init.normal_(t, std=0.02), "cpu"),
                 ("torch", "kaiming_normal_", lambda: init.kaiming_normal_(t2), "cpu")]
        if log2 <= TORCH_CPU_TRUNC_MAX_LOG2:
            rows.append(("torch", "trunc_normal_", lambda: init.trunc_normal_(t, std=0.02, a=-0.04, b=0.04), "cpu"))
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
    two_d = t.view(-1, 32) if n >= 32 else t.view(1, -1)
    rows = [("torch", "fill_", lambda: t.fill_(1.0), "cuda")]
    rows += [("fastinit", m, f, "cuda") for m, f in _fillers(fi, t, two_d)]
    if "torch" in peers:
        rows += [("torch", "uniform_", lambda: t.uniform_(), "cuda"),
                 ("torch", "normal_", lambda: t.normal_(), "cuda"),
                 ("torch", "kaiming_normal_", lambda: torch.nn.init.kaiming_normal_(two_d), "cuda"),
                 ("torch", "trunc_normal_", lambda: torch.nn.init.trunc_normal_(t), "cuda")]
    if "cupy" in peers and dtype != "bfloat16":
        import cupy as cp
        a = cp.asarray(t)                             # the same memory
        rng = cp.random.default_rng(0)
        rows.append(("cupy", "standard_normal(out=)", lambda: rng.standard_normal(out=a, dtype=a.dtype), "cuda"))
    if "jax" in peers:
        rows += _jax_rows(dtype, n)
    return rows
