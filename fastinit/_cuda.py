"""CUDA kernels: numba-cuda grid-stride loops over Philox counter blocks.

The twin of ``_cpu``: the math is the same ``_philox`` and ``_transforms``
code, compiled by NVVM instead of the CPU's LLVM, so the bits are the same
(contract section 3).  Only the loops differ:

* ``contig``: a C-contiguous run of consecutive global indices.  One thread
  computes one counter block (4 elements of the 32-bit family, 2 of the
  64-bit one) and writes the elements of it that lie in the run; a
  grid-stride loop with 64-bit indices covers any size.
* ``rows``: anything else (strided views, shards cut along inner
  dimensions): one thread per (row, block of that row).

The element and block values are ``_kernels``', shared with the CPU.
Normals and truncated normals take the staged functions of ``_transforms``
per element (``_kernels.element_fn(staged=True)``: the central branch of the
inverse CDF, then the full function only for the flagged far-tail elements,
in a branch that a warp rarely takes): the same operations, so the same
bits as the CPU kernels.

Bit-identity with the CPU needs one thing numba-cuda does not offer as an
option: NVVM contracts ``a * b + c`` into an FMA by default and emits
``mul.f32`` / ``add.f32`` that ptxas may contract too, while the CPU never
contracts.  Our kernels are compiled with NVVM's ``-fma=0`` (every plain
operation becomes ``mul.rn`` / ``add.rn``, which nothing fuses); the FMAs
the math asks for are explicit (``fma.rn``).  ``test_cuda`` checks the PTX.

This module imports numba-cuda; ``api`` imports it only for a GPU buffer.
"""
import contextlib
import ctypes
import sys
import threading

import numba
import numpy as np
from numba import cuda, types
from numba.core import config as _numba_config

from . import _distributions, _dtypes, _kernels
from ._buffers import Contig
from ._kernels import row_start
from ._ops import jitable
from ._philox import key_and_stream

U64 = np.uint64
#: NUMBA_ENABLE_CUDASIM=1: kernels run in numba-cuda's simulator, in Python
#: on host memory (the tests run them there: CI has no GPU).
SIMULATOR = bool(_numba_config.ENABLE_CUDASIM)

#: Launch configuration: threads per block, and the grid is capped at
#: ``blocks_per_sm`` blocks per multiprocessor (or ``max_blocks``) so that
#: large buffers run a grid-stride loop.  Tests shrink these to run many
#: blocks and many loop trips.
#: ``transpose``: the contiguous kernel writes through shared memory so that
#: warp stores are coalesced (``_make_contig``).
CONFIG = {"threads_per_block": 256, "blocks_per_sm": 16, "max_blocks": None, "transpose": True}
#: The shared scratch of the contiguous kernel is sized for this many threads.
MAX_THREADS_PER_BLOCK = 256

#: float32 -> float16 by ``cvt.rn.f16.f32``: IEEE rounding, the CPU's bits.
NATIVE_F16 = True


def _storage(kind):
    """The numba type the kernels store (``_dtypes``' storage type)."""
    return numba.from_dtype(np.dtype(_dtypes.KINDS[kind].storage))


# ----------------------------------------------------------------- stores
@jitable
def _put(out, g, lo, hi, v):
    """out[g - lo] = v if g is in the run [lo, hi] of global indices."""
    if g >= lo and g <= hi:
        out[g - lo] = v


@jitable
def _put_row(flat, mem, ms, g, lo, hi, v):
    """flat[mem + (g - lo) ms] = v if g is in the row [lo, hi]."""
    if g >= lo and g <= hi:
        flat[mem + np.int64(g - lo) * ms] = v


def _store_fn(E):
    """Store a block's values: all of them when the block lies inside the
    run [lo, hi] of global indices, else the ones that do."""
    if E == 4:
        def store(out, first, lo, hi, v):
            if first >= lo and first + U64(3) <= hi:
                base = first - lo
                out[base] = v[0]
                out[base + U64(1)] = v[1]
                out[base + U64(2)] = v[2]
                out[base + U64(3)] = v[3]
            else:
                _put(out, first, lo, hi, v[0])
                _put(out, first + U64(1), lo, hi, v[1])
                _put(out, first + U64(2), lo, hi, v[2])
                _put(out, first + U64(3), lo, hi, v[3])
        return jitable(store)

    def store(out, first, lo, hi, v):
        if first >= lo and first + U64(1) <= hi:
            base = first - lo
            out[base] = v[0]
            out[base + U64(1)] = v[1]
        else:
            _put(out, first, lo, hi, v[0])
            _put(out, first + U64(1), lo, hi, v[1])
    return jitable(store)


def _row_store_fn(E):
    """Store the values of a block that lie in the row [lo, hi] of global
    indices, element g at memory index mem + (g - lo) * ms."""
    if E == 4:
        def store(flat, mem, ms, first, lo, hi, v):
            _put_row(flat, mem, ms, first, lo, hi, v[0])
            _put_row(flat, mem, ms, first + U64(1), lo, hi, v[1])
            _put_row(flat, mem, ms, first + U64(2), lo, hi, v[2])
            _put_row(flat, mem, ms, first + U64(3), lo, hi, v[3])
        return jitable(store)

    def store(flat, mem, ms, first, lo, hi, v):
        _put_row(flat, mem, ms, first, lo, hi, v[0])
        _put_row(flat, mem, ms, first + U64(1), lo, hi, v[1])
    return jitable(store)


# ----------------------------------------------------------------- kernels
@jitable
def _thread_and_step():
    # 64-bit from the start: cuda.grid(1) is 32-bit and wraps past 2^31 threads
    t = U64(cuda.blockIdx.x) * U64(cuda.blockDim.x) + U64(cuda.threadIdx.x)
    return t, U64(cuda.gridDim.x) * U64(cuda.blockDim.x)


@jitable
def _run_blocks(out, g0, EE):
    """(last global index, first block, number of blocks) of the run of
    out.shape[0] elements from global index g0; no overflow at 2^64."""
    hi = g0 + (U64(out.shape[0]) - U64(1))
    b0 = g0 // EE
    return hi, b0, hi // EE - b0 + U64(1)


def _make_contig(block, E, storage):
    """The contiguous kernel.  A thread block's blocks of elements are
    consecutive, so its BD threads hold BD * E consecutive values; written
    straight, each warp store would hit every E-th element (strided, E times
    the store transactions).  Where the thread block's whole chunk lies in
    the run, the values go through shared memory instead (a transpose: write
    E per thread, read one per thread per pass) and every warp store covers
    32 consecutive elements.  The loop condition is uniform over the thread
    block, so that every thread reaches the barriers."""
    BUILD = _SOURCE
    EE = U64(E)
    store = _store_fn(E)
    # one pad element per 32 (4- and 2-byte elements) or per 16 (8-byte,
    # served per half-warp): no bank conflicts on either side
    PAD = U64(4 if E == 2 else 5)
    SMEM = MAX_THREADS_PER_BLOCK * E + (MAX_THREADS_PER_BLOCK * E >> int(PAD))

    def contig(out, g0, k0, k1, s0, s1, prm):
        assert BUILD == BUILD              # a cell naming the sources (see _cpu_loops.jit)
        sm = cuda.shared.array(SMEM, storage)
        hi, b0, nb = _run_blocks(out, g0, EE)
        tid = U64(cuda.threadIdx.x)
        bd = U64(cuda.blockDim.x)
        tb = U64(cuda.blockIdx.x) * bd                  # the thread block's first thread
        step = U64(cuda.gridDim.x) * bd
        while tb < nb:
            t = tb + tid
            cfirst = (b0 + tb) * EE                     # the chunk's first global index
            if cfirst >= g0 and hi - cfirst >= bd * EE - U64(1):      # (cfirst <= hi: tb < nb)
                v = block(b0 + t, k0, k1, s0, s1, prm)
                for k in range(E):
                    e = tid * EE + U64(k)
                    sm[e + (e >> PAD)] = v[k]
                cuda.syncthreads()
                base = cfirst - g0
                for k in range(E):
                    e = U64(k) * bd + tid
                    out[base + e] = sm[e + (e >> PAD)]
                cuda.syncthreads()
            elif t < nb:
                b = b0 + t
                store(out, b * EE, g0, hi, block(b, k0, k1, s0, s1, prm))
            tb += step
    return contig


def _make_contig_direct(block, E):
    """The contiguous kernel without the transpose (kept to compare speed)."""
    BUILD = _SOURCE
    EE = U64(E)
    store = _store_fn(E)

    def contig(out, g0, k0, k1, s0, s1, prm):
        assert BUILD == BUILD
        hi, b0, nb = _run_blocks(out, g0, EE)
        t, step = _thread_and_step()
        while t < nb:
            b = b0 + t
            store(out, b * EE, g0, hi, block(b, k0, k1, s0, s1, prm))
            t += step
    return contig


def _make_rows(block, E):
    BUILD = _SOURCE
    EE = U64(E)
    store = _row_store_fn(E)

    def rows(flat, base, shape, mstr, gstr, goff, k0, k1, s0, s1, prm):
        assert BUILD == BUILD
        d = len(shape)
        rowlen = shape[d - 1]
        ms = mstr[d - 1]
        nrows = np.int64(1)
        for k in range(d - 1):
            nrows *= shape[k]
        nbr = U64(rowlen) // EE + U64(2)            # blocks a row can touch, at most
        total = U64(nrows) * nbr
        t, step = _thread_and_step()
        while t < total:
            r = np.int64(t // nbr)
            q = t - U64(r) * nbr
            mem, lo = row_start(r, base, shape, mstr, gstr, goff)
            b = lo // EE + q
            hi = lo + U64(rowlen - 1)
            store(flat, mem, ms, b * EE, lo, hi, block(b, k0, k1, s0, s1, prm))
            t += step
    return rows


_SOURCE = _kernels.source_digest(sys.modules[__name__])


def kernel_source(dist, kind, loop, transpose=True):
    """The Python function of the kernel for (distribution, dtype kind,
    loop "contig" or "rows"): what ``cuda.jit`` compiles."""
    family = _kernels.family(kind)
    element = _kernels.element_fn(dist, family, _kernels.encoder(kind, NATIVE_F16), staged=True)
    block = _kernels.block_fn(dist, family, element)
    E = _kernels.per_block(kind)
    if loop == "rows":
        return _make_rows(block, E)
    return _make_contig(block, E, _storage(kind)) if transpose else _make_contig_direct(block, E)


def prm_type(dist, kind):
    """The numba type of the distribution's parameter record (``_params``),
    as a call passes it."""
    return numba.typeof(_distributions.of(dist).example_params(kind))


def signature(dist, kind, loop, ndim=1):
    """The argument types of a kernel (for ``compile_ptx``)."""
    out = _storage(kind)[::1]
    u = types.uint64
    key = (u, u, u, u, prm_type(dist, kind))
    if loop == "contig":
        return (out, u) + key
    return (out, types.int64, types.UniTuple(types.int64, ndim), types.UniTuple(types.int64, ndim),
            types.UniTuple(u, ndim), types.UniTuple(u, ndim)) + key


# ----------------------------------------------------------------- NVVM without contraction
_lock = threading.Lock()           # the NVVM hook's installation
_no_fma = threading.local()
_patched = False


def _install_nvvm_hook():
    """Wrap numba-cuda's ``nvvm.compile_ir`` so that compilations inside
    ``no_contraction()`` run with ``fma=0``.  Other numba-cuda users are not
    affected."""
    global _patched
    if SIMULATOR:
        return
    with _lock:
        if _patched:
            return
        # numba-cuda's codegen calls it through the module attribute, at PTX
        # generation (first launch, or a new compute capability)
        from numba.cuda.cudadrv import nvvm
        orig = nvvm.compile_ir

        def compile_ir(llvmir, **options):
            if getattr(_no_fma, "on", False):
                options["fma"] = False
            return orig(llvmir, **options)
        compile_ir.__wrapped__ = orig
        nvvm.compile_ir = compile_ir
        _patched = True


@contextlib.contextmanager
def no_contraction():
    """Compile CUDA code within with NVVM's -fma=0 (see the module docstring)."""
    _install_nvvm_hook()
    prev = getattr(_no_fma, "on", False)
    _no_fma.on = True
    try:
        yield
    finally:
        _no_fma.on = prev


# ----------------------------------------------------------------- compile and launch
#: Every kernel built in this process (``warmup`` and the benchmarks read it).
KERNELS = _kernels.KernelTable()


#: numba-cuda links with nvJitLink (LTO) when it is installed, and nvJitLink
#: generates the code again with FMA contraction on: the -fma=0 of
#: ``no_contraction`` would reach NVVM and be lost at the link.  Our kernels
#: call no external device code, so LTO buys nothing: off.
JIT_OPTIONS = {} if SIMULATOR else {"lto": False}        # (the simulator compiles nothing)


def _jit(fn):
    """cuda.jit with the on-disk cache at the first usable location (``_cache``)."""
    from ._cache import enable_cuda_cache
    return enable_cuda_cache(cuda.jit(**JIT_OPTIONS)(fn))


def kernel(dist, kind, loop):
    transpose = bool(CONFIG["transpose"]) and loop == "contig"
    return KERNELS.get_or_build((dist, kind, loop, transpose), _build)


def _build(dist, kind, loop, transpose):
    return _jit(kernel_source(dist, kind, loop, transpose))


def _grid(nwork):
    tpb = int(CONFIG["threads_per_block"])
    if not 1 <= tpb <= MAX_THREADS_PER_BLOCK:
        raise ValueError(f"CONFIG['threads_per_block'] must be in [1, {MAX_THREADS_PER_BLOCK}]; got {tpb}")
    cap = CONFIG["max_blocks"]
    if cap is None:
        sms = 1 if SIMULATOR else cuda.get_current_device().MULTIPROCESSOR_COUNT
        cap = sms * int(CONFIG["blocks_per_sm"])
    return max(1, min(int(cap), -(-nwork // tpb))), tpb


def _cuda_stream(handle):
    """A numba stream for a CUDA-array-interface stream handle."""
    if SIMULATOR:
        return 0
    if handle is None:
        return cuda.default_stream()
    if handle in (0, 1):              # the null stream of torch and CuPy: the legacy default stream
        return cuda.legacy_default_stream()
    if handle == 2:
        return cuda.per_thread_default_stream()
    return cuda.external_stream(handle)


def _device_of(ptr):
    """The ordinal of the device that owns ``ptr`` (or None if unknown)."""
    try:
        from cuda.bindings import driver as drv
        cuda.current_context()
        err, ordinal = drv.cuPointerGetAttribute(
            drv.CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, ptr)
        return int(ordinal) if int(err) == 0 else None
    except Exception:          # an old binding or a pointer the driver does not know
        return None


def _view(ptr, n, kind, owner):
    """A 1-D device array of n elements at ``ptr`` in the storage type."""
    if SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        dtype = np.dtype(_dtypes.KINDS[kind].typestr)
        buf = (ctypes.c_char * (n * dtype.itemsize)).from_address(ptr)
        return FakeCUDAArray(np.frombuffer(buf, dtype=dtype))
    desc = {"shape": (n,), "strides": None, "typestr": _dtypes.KINDS[kind].typestr, "data": (ptr, False), "version": 3}
    return cuda.from_cuda_array_interface(desc, owner=owner, sync=False)


def _device_context(ordinal):
    if SIMULATOR or ordinal is None:
        return contextlib.nullcontext()
    return cuda.gpus[ordinal]


def fill(region, dev, dist, prm, seed, stream):
    """Enqueue the kernel for ``region`` (``_buffers.region_device``) on the
    buffer's device and stream."""
    k0, k1, s0, s1 = key_and_stream(seed, stream)
    ordinal = dev.device
    if ordinal is None and not SIMULATOR:
        ordinal = _device_of(dev.ptr)
    with _device_context(ordinal):
        ptr, n = region.flat
        flat = _view(ptr, n, dev.kind, dev.owner)
        E = _kernels.per_block(dev.kind)
        if isinstance(region, Contig):
            g0 = region.g0
            nwork = (int(g0) + n - 1) // E - int(g0) // E + 1       # blocks the run touches
            args = (flat, g0, k0, k1, s0, s1, prm)
        else:
            _, base, shape, mstr, gstr, goff = region
            nwork = int(np.prod(shape[:-1])) * (int(shape[-1]) // E + 2)
            args = (flat, base, tuple(np.int64(x) for x in shape), tuple(np.int64(x) for x in mstr),
                    tuple(U64(x) for x in gstr), tuple(U64(x) for x in goff), k0, k1, s0, s1, prm)
        grid, tpb = _grid(nwork)
        kern = kernel(dist, dev.kind, region.LOOP)
        with no_contraction():
            if SIMULATOR:
                kern[grid, tpb](*args)
            else:
                s = _cuda_stream(dev.cuda_stream)
                kern[grid, tpb, s](*args)
                if dev.sync_after:
                    s.synchronize()
