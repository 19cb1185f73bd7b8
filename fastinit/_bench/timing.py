"""The timers of ``python -m fastinit bench``: seconds per call, best of a
few samples, each sample long enough to time (small buffers: several calls
back to back), the samples of one buffer's methods taken in rounds; on a
GPU by CUDA events on torch's current stream.  Also the warm per-call cost
of the whole Python path on the CPU.  The timers of ``bench/`` and
``tools/`` are these."""
import time

import numpy as np

#: a timing sample lasts at least this long (small buffers: several calls)
MIN_SAMPLE_S = 0.005

#: timing samples per method, the best kept
REPEAT = 5


def _sync(timer):
    if timer == "cuda":
        import torch
        return torch.cuda.synchronize
    return lambda: None


def _calls_per_sample(fn, sync):
    t = time.perf_counter()
    fn()
    sync()
    once = max(time.perf_counter() - t, 1e-7)
    return max(1, min(10000, int(MIN_SAMPLE_S / once)))


def _sample(fn, timer, k):
    """One timing sample: seconds per call of ``k`` back-to-back calls, by
    CUDA events on torch's current stream (timer "cuda") or the wall clock."""
    if timer == "cuda":
        import torch
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(k):
            fn()
        b.record()
        b.synchronize()
        return a.elapsed_time(b) / 1e3 / k
    t = time.perf_counter()
    for _ in range(k):
        fn()
    return (time.perf_counter() - t) / k


def _sampler(fn, timer):
    """Warm ``fn`` up (compile, first touch) and return a function that
    takes one timing sample: seconds per call."""
    sync = _sync(timer)
    fn()                                         # warm-up: compiles, touches
    sync()
    k = _calls_per_sample(fn, sync)
    return lambda: _sample(fn, timer, k)


def time_call(fn, timer, repeat=REPEAT):
    """Seconds per call, best of ``repeat`` samples (after a warm-up), each
    sample long enough to time."""
    sample = _sampler(fn, timer)
    return min(sample() for _ in range(repeat))


def best_of(fn, repeat=REPEAT, calls=1, timer="cpu"):
    """Seconds per call, best of ``repeat`` samples of exactly ``calls``
    back-to-back calls each (after one warm-up call)."""
    sync = _sync(timer)
    fn()
    sync()
    return min(_sample(fn, timer, calls) for _ in range(repeat))


def time_rows(calls, repeat, progress=None):
    """Seconds per call of each ``(fn, timer)`` in ``calls``, best of
    ``repeat`` samples, taken in rounds: one sample of every call per
    round.  A shared machine runs slower for seconds at a time; in rounds
    such a spell costs every call a sample, not one call all of its
    samples, so the ratios between calls (what the bench reports) hold.
    ``progress(i)`` is called before call i is warmed up."""
    samplers = []
    for i, (fn, timer) in enumerate(calls):
        if progress is not None:
            progress(i)
        samplers.append(_sampler(fn, timer))
    best = [float("inf")] * len(calls)
    for _ in range(repeat):
        for i, sample in enumerate(samplers):
            best[i] = min(best[i], sample())
    return best


def per_call():
    """Microseconds per call of the whole Python path, warm, CPU."""
    import fastinit as fi
    out = {}
    print("\nper call (whole Python path, warm, CPU):")
    for k in (1, 4096):
        b = np.empty(k, np.float32)
        for fname in ("normal_", "uniform_", "trunc_normal_"):
            fn = getattr(fi, fname)
            us = time_call(lambda: fn(b, seed=1), "cpu") * 1e6
            out[f"{fname} {k}"] = us
            print(f"  {fname:14s} {k:5d} elements: {us:6.1f} us")
    return out
