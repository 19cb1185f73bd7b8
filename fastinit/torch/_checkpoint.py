"""A model's initial weights written straight to a checkpoint, piece by
piece, with the bits ``materialize_`` gives and the memory of a few blocks.

Layout: Hugging Face's (``save_pretrained``): the state dict without tied
aliases and in its original format (``remove_tied_weights_from_state_dict``
and ``revert_weight_conversion``, run on the meta model), split by
``max_shard_size`` as ``huggingface_hub.split_torch_state_dict_into_shards``
splits real tensors, ``model.safetensors`` or ``model-0000k-of-0000n
.safetensors``, and ``model.safetensors.index.json`` (written also for one
file: its metadata holds the manifest).  Each file is byte for byte what
``safetensors.torch.save_file`` writes for the same tensors.

Why not the ``safetensors`` library for the writing: as of 0.8 its writers
(``save_file``, ``serialize_file`` with ``TensorSpec``) take every tensor
of a file in memory at once.  The format is simple and documented: an
8-byte little-endian header length, a JSON header (``__metadata__``, then
each tensor's dtype, shape and byte range, in the order the library sorts
them: dtype, then name), padded with spaces to 8 bytes, then the bytes.
The library is used for what it can do: its dtype names, and the order it
sorts dtypes in (read from it once, ``_dtype_order``).

How it is written: each file is cut into ``BLOCK``-byte blocks of the
file; a block is filled in memory (the header's bytes, and for each tensor
that crosses it, boxes of its source tensor replayed from the global
index, ``_program.replay`` and the fillers), hashed, and written with
``pwrite`` (``O_DIRECT`` where the file system has it: on the machines
measured, buffered writes cost more CPU than filling).  A second thread
hashes and writes while the next block fills.  Several processes (``rank``
of ``world``) split the blocks into contiguous runs of bytes and write into
the same temporary files; each leaves a marker with its digests, and the
last one to finish renames the files, then writes the index.

The digest of a tensor: the SHA-256 of the concatenated SHA-256 of its
parts, a part being its bytes within one block of its file (a tensor
within one block: ``sha256(sha256(bytes))``).
"""
import errno
import hashlib
import json
import math
import mmap
import os
import queue
import shutil
import struct
import sys
import threading
import time
from typing import NamedTuple

import numpy as np
import torch

from .. import _dtypes
from . import _program
from ._fill import FLOATS, trunc_normal
from ._shard import pieces

#: Bytes of a file filled, hashed and written at a time; a multiple of
#: the 4 KiB that ``O_DIRECT`` needs.  Peak memory is about four blocks.
BLOCK = 64 << 20
_DIRECT_ALIGN = 4096
INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
MANIFEST_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be written or verified as asked."""


# ----------------------------------------------------------------- the plan
class Saved(NamedTuple):
    """One tensor of the checkpoint: the flat run ``[start, start + numel)``
    (C order) of the model's tensor ``source``, stored in ``dtype``."""
    name: str
    source: str
    dtype: torch.dtype
    shape: tuple
    start: int

    @property
    def numel(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.numel * self.dtype.itemsize


class File(NamedTuple):
    name: str
    header: bytes              # length prefix, JSON, padding
    tensors: tuple             # ((Saved, begin, end), ...) in data order, absolute byte offsets
    size: int


def parse_size(size, what="max_shard_size"):
    """Bytes from an int or "5GB" / "500MB" / "2GiB" (``save_pretrained``'s
    units: GB = 10**9, GiB = 2**30)."""
    if isinstance(size, int) and not isinstance(size, bool):
        n = size
    elif isinstance(size, str):
        s = size.strip().upper()
        units = (("TIB", 2 ** 40), ("GIB", 2 ** 30), ("MIB", 2 ** 20), ("KIB", 2 ** 10),
                 ("TB", 10 ** 12), ("GB", 10 ** 9), ("MB", 10 ** 6), ("KB", 10 ** 3), ("B", 1))
        for u, f in units:
            if s.endswith(u):
                try:
                    n = int(float(s[:-len(u)]) * f)
                except ValueError:
                    n = None
                break
        else:
            n = int(s) if s.isdigit() else None
        if n is None:
            raise ValueError(f"{what} must be a number of bytes or a size such as '5GB' or '500MiB'; got {size!r}")
    else:
        raise TypeError(f"{what} must be an int or a string such as '5GB'; got {size!r}")
    if n <= 0:
        raise ValueError(f"{what} must be positive; got {size!r}")
    return n


def _st_names():
    """torch dtype -> safetensors' dtype name (``safetensors.torch._TYPES``)."""
    import safetensors.torch as st
    return {v: k for k, v in st._TYPES.items()}


_ORDER = {}


def _dtype_order(dtype):
    """The rank of ``dtype`` in safetensors' data order (it writes larger
    dtypes first, then by name), read once from the library itself."""
    if not _ORDER:
        import safetensors.torch as st
        names = _st_names()
        probe = {f"{i:03d}": torch.zeros(1, dtype=d) for i, d in enumerate(names)}
        blob = st.save(probe)
        n = struct.unpack("<Q", blob[:8])[0]
        header = json.loads(blob[8:8 + n])
        ordered = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
        _ORDER.update({probe[k].dtype: i for i, k in enumerate(ordered)})
    if dtype not in _ORDER:
        raise CheckpointError(f"safetensors cannot store {dtype}")
    return _ORDER[dtype]


def _header(entries, metadata):
    """The header safetensors writes for ``entries`` [(Saved, begin, end)]
    (relative byte offsets), with ``metadata``."""
    names = _st_names()
    head = {"__metadata__": metadata} if metadata else {}
    for s, b, e in entries:
        head[s.name] = {"dtype": names[s.dtype], "shape": list(s.shape), "data_offsets": [b, e]}
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


class Plan:
    """What a checkpoint of ``module`` holds and where each byte comes from.

    Built on the meta model, nothing allocated: ``materialize_``'s schedule
    (the model's own init program, or a named recipe; checked as
    ``materialize_`` checks it), the state dict ``save_pretrained`` would
    save, each saved tensor's source, and the files.
    """

    def __init__(self, module, *, seed, scheme="own", dtype=None, max_shard_size="5GB", overrides=None,
                 original_format=True, scheme_options=None, source=None):
        from ._module import _InitSchedule
        if dtype is not None and dtype not in FLOATS:
            raise TypeError(f"dtype must be None or one of {_dtypes.SUPPORTED} (what fastinit fills); got {dtype!r}")
        self.max_shard_size = parse_size(max_shard_size)
        self.seed, self.scheme, self.dtype = seed, scheme, dtype
        self.original_format = bool(original_format)
        opts = dict(scheme_options or {})
        try:
            json.dumps(opts)
        except TypeError:
            raise TypeError(f"scheme options must be numbers, strings or lists of them (the manifest records "
                            f"them); got {opts!r}") from None
        self.scheme_options = opts
        self.schedule = sched = _InitSchedule(module, seed, scheme, overrides, True, opts, materializing=True,
                                              dtype=dtype)
        self.seed = sched.seed
        if sched.resets:
            raise CheckpointError(
                f"scheme {scheme!r} runs reset_parameters() of the modules holding {sorted(sched.resets)[:4]}: it "
                f"writes whole tensors in memory, and a checkpoint is written piece by piece; use scheme='own' "
                f"(the model's own program, replayed piece by piece) or give them overrides")
        self.tensors = {**sched.params, **sched.buffers}
        fills = {s[1]: s[2] for s in sched.steps if s[0] == "fill"}
        overrides_ = dict(sched.overrides)
        self.sources = {n: _Source(n, t, fills.get(n), overrides_.get(n), self.seed, dtype)
                        for n, t in self.tensors.items()}
        self.source = source
        self.saved = self._saved(module)
        self.files = self._files()
        self.total_size = sum(f.size for f in self.files)

    # -- which tensors, in which format
    def _saved(self, module):
        sd = module.state_dict()
        storages = None
        if _program._is_hf(module):
            from transformers.modeling_utils import remove_tied_weights_from_state_dict
            sd = remove_tied_weights_from_state_dict(sd, module)
            if self.original_format:
                from transformers.core_model_loading import revert_weight_conversion
                plain = revert_weight_conversion(module, dict(sd))
                try:
                    with _Views():
                        sd = revert_weight_conversion(module, sd)
                except RuntimeError:           # a view the conversion needed contiguous: copies, refused below
                    sd = plain
                if list(sd) != list(plain):
                    raise AssertionError("the conversion gave other names under _Views")
                # the storages save_pretrained's tensors would have (its copies), for the shards
                storages = {n: (_storage_key(t), t.untyped_storage().nbytes() // t.element_size())
                            for n, t in plain.items()}
        by_storage, self.storage = {}, {}
        for n, t in self.tensors.items():
            by_storage.setdefault(_storage_key(t), []).append((n, t))
        out, seen = [], set()
        for name, v in sd.items():
            if not isinstance(v, torch.Tensor):
                raise CheckpointError(f"{name}: the state dict holds a {type(v).__name__}, not a tensor")
            key = _storage_key(v)
            if key in seen and not _program._is_hf(module):
                continue                   # a tied alias (safetensors stores a storage once)
            src = _source_of(v, by_storage.get(key, ()))
            if src is None:
                raise CheckpointError(
                    f"{name}: its saved form is not a contiguous run of one tensor of the model (the "
                    f"model's conversion to its original checkpoint format copies it); pass "
                    f"original_format=False (--model-format) to save the model's own tensors")
            sname, start = src
            t = self.tensors[sname]
            dt = self.dtype if self.dtype is not None and t.dtype.is_floating_point else t.dtype
            _dtype_order(dt)
            seen.add(key)
            out.append(Saved(name, sname, dt, tuple(v.shape), start))
            # the storage it shares in save_pretrained's state dict, and its elements
            self.storage[name] = storages[name] if storages else (key, t.numel())
        if len({s.name for s in out}) != len(out):
            raise CheckpointError("two saved tensors have the same name")
        return out

    def _files(self, digests=None):
        """``huggingface_hub.split_torch_state_dict_into_shards`` as it
        splits real tensors: in state-dict order, a new shard when the next
        tensor would pass ``max_shard_size``, one of its own when it is
        larger; tensors sharing a storage (views of one fused tensor) count
        its size once and go with the first.  Called on the meta model's
        tensors it could not group them (meta storages have no identity),
        hence restated here.

        One file has no index (as ``save_pretrained`` writes it; tools
        such as torchtitan's state-dict adapters read an index's file
        names as shard numbers): its header's metadata holds the manifest,
        as a JSON string beside ``"format": "pt"``, with ``digests`` (until
        they are known, zeros of the same length)."""
        shards, current, size = [], [], 0
        first = {}
        for s in self.saved:
            key, numel = self.storage[s.name]
            if key in first:
                first[key].append(s)
                continue
            group = [s]
            first[key] = group
            n = numel * s.dtype.itemsize
            if n > self.max_shard_size:
                shards.append([group])
                continue
            if size + n > self.max_shard_size:
                shards.append(current)
                current, size = [], 0
            current.append(group)
            size += n
        if current:
            shards.append(current)
        self.storage_size = sum(self.storage[g[0].name][1] * g[0].dtype.itemsize for g in first.values())
        n = len(shards)
        files = []
        for k, groups in enumerate(shards):
            fname = SINGLE if n == 1 else f"model-{k + 1:05d}-of-{n:05d}.safetensors"
            members = [s for g in groups for s in g]
            members.sort(key=lambda s: (_dtype_order(s.dtype), s.name))
            rel, off = [], 0
            for s in members:
                rel.append((s, off, off + s.nbytes))
                off += s.nbytes
            metadata = {"format": "pt"}
            if n == 1:
                metadata["fastinit"] = self.manifest_text(digests)
            header = _header(rel, metadata)
            h = len(header)
            files.append(File(fname, header, tuple((s, h + b, h + e) for s, b, e in rel), h + off))
        return files

    @property
    def weight_map(self):
        return {s.name: f.name for f in self.files for s, _, _ in f.tensors}

    def blocks(self):
        """Every block, in file order: (file index, begin, end)."""
        out = []
        for i, f in enumerate(self.files):
            for b in range(0, f.size, BLOCK):
                out.append((i, b, min(f.size, b + BLOCK)))
        return out

    def mine(self, rank, world):
        """This rank's blocks: a contiguous run of ``total_size / world`` bytes."""
        out, before = [], 0
        for blk in self.blocks():
            if world == 1 or before * world // self.total_size == rank:
                out.append(blk)
            before += blk[2] - blk[1]
        return out

    def fill_block(self, blk, buf):
        """The bytes of block ``blk`` into ``buf``; returns the parts
        [(tensor name, begin, end)] (relative to the block) to hash."""
        i, b, e = blk
        f = self.files[i]
        view = torch.frombuffer(buf, dtype=torch.uint8, count=e - b)
        parts = []
        if b < len(f.header):
            n = min(e, len(f.header)) - b
            view[:n].copy_(torch.frombuffer(bytearray(f.header[b:b + n]), dtype=torch.uint8))
        for s, tb, te in f.tensors:
            lo, hi = max(b, tb), min(e, te)
            if lo >= hi:
                continue
            isz = s.dtype.itemsize
            seg = view[lo - b:hi - b].view(s.dtype)
            self.sources[s.source].fill_flat(seg, s.start + (lo - tb) // isz)
            parts.append((s.name, lo - b, hi - b))
        return parts

    def manifest_text(self, digests=None):
        """The manifest of a one-file checkpoint, for its header (a fixed
        length whatever the digests)."""
        if digests is None:
            digests = {s.name: "0" * 64 for s in self.saved}
        return json.dumps({**self.manifest(), "digests": dict(sorted(digests.items()))}, sort_keys=True,
                          separators=(",", ":"))

    def manifest(self):
        from .. import CONTRACT_VERSION, __version__
        source = self.source
        return {"format": MANIFEST_FORMAT, "seed": self.seed, "scheme": self.scheme,
                "dtype": None if self.dtype is None else str(self.dtype).removeprefix("torch."),
                "original_format": self.original_format, "max_shard_size": self.max_shard_size,
                "contract_version": CONTRACT_VERSION, "fastinit_version": __version__,
                "block": BLOCK, "digest": "sha256 of the sha256 of each part of the tensor within one "
                                          f"{BLOCK >> 20} MiB block of its file",
                "scheme_options": self.scheme_options, "overrides": bool(self.schedule.overrides),
                "source": source}


class _Views(torch.overrides.TorchFunctionMode):
    """While a conversion runs on the meta model: ``contiguous()`` and
    ``clone()`` return the tensor itself, so that what it saves stays a
    view of the model's tensor (a view of meta memory is free; a copy
    forgets where its values come from).  An expert's half of a fused
    ``gate_up_proj`` is a contiguous run of it once the expert is chosen."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.contiguous, torch.Tensor.clone) and args and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


def _storage_key(t):
    return t.untyped_storage()._cdata


def _source_of(v, candidates):
    """(name, flat start) of the tensor ``v`` is a contiguous run of."""
    if not v.is_contiguous():
        return None
    for n, t in candidates:
        if not t.is_contiguous():
            continue
        start = v.storage_offset() - t.storage_offset()
        if 0 <= start and start + v.numel() <= t.numel():
            return n, start
    return None


def flat_boxes(shape, a, b):
    """The flat C-order run ``[a, b)`` of a tensor of ``shape`` as boxes
    (offsets, sizes), each a contiguous part of the run, in order."""
    if a >= b:
        return []
    if not shape:
        return [((), ())]
    inner = math.prod(shape[1:])
    zeros = (0,) * (len(shape) - 1)
    r0, ra = divmod(a, inner)
    r1, rb = divmod(b, inner)
    if r0 == r1:
        return [((r0, *o), (1, *s)) for o, s in flat_boxes(shape[1:], ra, rb)]
    out = []
    if ra:
        out += [((r0, *o), (1, *s)) for o, s in flat_boxes(shape[1:], ra, inner)]
        r0 += 1
    if r1 > r0:
        out.append(((r0, *zeros), (r1 - r0, *shape[1:])))
    if rb:
        out += [((r1, *o), (1, *s)) for o, s in flat_boxes(shape[1:], 0, rb)]
    return out


class _Source:
    """How every box of one model tensor is written: its override, its
    scheduled fill (``_module.apply`` for one piece), or, for a tensor the
    schedule keeps (a loaded one), its values."""

    def __init__(self, name, t, fill, override, seed, dtype):
        self.name, self.t, self.fill, self.override, self.seed = name, t, fill, override, seed
        self.shape = tuple(t.shape)
        self.dtype = dtype if dtype is not None and t.dtype.is_floating_point else t.dtype
        self.cache = {}

    def write(self, local, offsets):
        """Fill ``local``, the box of this tensor at ``offsets``."""
        from .. import api as _fi
        gs, offsets = self.shape, tuple(offsets)
        if self.override is not None:
            kw = {} if (tuple(local.shape) == gs and not any(offsets)) else dict(global_shape=gs, offsets=offsets)
            self.override(local, seed=self.seed, stream=self.name, **kw)
            return
        f = self.fill
        box = tuple(slice(o, o + n) for o, n in zip(offsets, local.shape))
        if f is None:
            if self.t.is_meta:
                raise AssertionError(f"{self.name}: nothing writes it")   # the schedule refused already
            local.copy_(self.t.detach()[box])
        elif f.kind == "program":
            _program.replay(f.args[0], local, gs, offsets, self.seed, self.name, self.cache)
        elif f.kind == "copy":
            local.copy_(f.args[0].expand(gs)[box])
        elif f.kind == "zero_int":
            local.zero_()
        else:
            fn = {"uniform": _fi.uniform_, "normal": _fi.normal_, "trunc_normal": trunc_normal,
                  "constant": _fi.constant_}[f.kind]
            fn(local, *f.args, seed=self.seed, stream=self.name, global_shape=gs, offsets=offsets)
            for row in f.zero_rows:
                if offsets[0] <= row < offsets[0] + local.shape[0]:
                    _fi.zeros_(local[row - offsets[0]])

    def fill_flat(self, seg, start):
        """The flat run ``[start, start + len(seg))`` into the 1-D ``seg``."""
        pos = 0
        for offs, sizes in flat_boxes(self.shape, start, start + seg.numel()):
            n = math.prod(sizes)
            self.write(seg[pos:pos + n].view(sizes), offs)
            pos += n


# ----------------------------------------------------------------- writing
def _digest(hexes):
    return hashlib.sha256(b"".join(bytes.fromhex(h) for h in hexes)).hexdigest()


class _Progress:
    """One line on a terminal (tensors, GB written, GB/s, time left); nothing elsewhere."""

    def __init__(self, total_bytes, total_tensors, what, enabled=None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total, self.tensors, self.what = total_bytes, total_tensors, what
        self.done, self.done_tensors, self.t0, self.last = 0, 0, time.perf_counter(), 0.0

    def update(self, nbytes, tensors_done):
        self.done += nbytes
        self.done_tensors = tensors_done
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.2 or self.done >= self.total):
            self.last = now
            el = max(now - self.t0, 1e-9)
            rate = self.done / el
            left = (self.total - self.done) / rate if rate else float("inf")
            sys.stderr.write(f"\r{self.what}: {self.done_tensors}/{self.tensors} tensors  {self.done / 1e9:.2f}/"
                             f"{self.total / 1e9:.2f} GB  {rate / 1e9:.2f} GB/s  {left:.0f} s left   ")
            sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _Pipeline:
    """Fill on this thread; each of ``works`` (hashing; writing, or reading
    and comparing) runs on a thread of its own, on every filled buffer, so
    that the disk's time overlaps the CPU's.  ``buffer()`` returns a free
    buffer, ``put(blk, buf, parts)`` hands a filled one over; a buffer is
    free again when every work is done with it.  Page-aligned buffers
    (``O_DIRECT``)."""

    def __init__(self, works, n=4):
        self.free = queue.Queue()
        self.buffers = [mmap.mmap(-1, BLOCK) for _ in range(n)]
        for b in self.buffers:
            self.free.put(b)
        self.error = None
        self.lock = threading.Lock()
        self.pending = {}
        self.queues = [queue.Queue() for _ in works]
        self.threads = [threading.Thread(target=self._loop, args=(w, q), daemon=True)
                        for w, q in zip(works, self.queues)]
        for t in self.threads:
            t.start()

    def _loop(self, work, q):
        while True:
            item = q.get()
            if item is None:
                return
            blk, buf, parts = item
            try:
                if self.error is None:
                    work(blk, buf, parts)
            except BaseException as e:       # handed to the filling thread
                self.error = e
            finally:
                with self.lock:
                    self.pending[id(buf)] -= 1
                    if not self.pending[id(buf)]:
                        self.free.put(buf)

    def buffer(self):
        self._check()
        return self.free.get()

    def put(self, blk, buf, parts):
        self._check()
        with self.lock:
            self.pending[id(buf)] = len(self.queues)
        for q in self.queues:
            q.put((blk, buf, parts))

    def close(self):
        for q in self.queues:
            q.put(None)
        for t in self.threads:
            t.join()
        for b in self.buffers:
            try:
                b.close()
            except BufferError:               # a view of it lives on in a traceback: the GC frees it
                pass
        self._check()

    def _check(self):
        if self.error is not None:
            raise self.error


def _part_hashes(buf, parts, blk):
    mv = memoryview(buf)
    return [(name, blk[0], blk[1], hashlib.sha256(mv[b:e]).hexdigest()) for name, b, e in parts]


def _open_direct(path, mode):
    """A descriptor (``mode``: ``os.O_WRONLY`` or ``os.O_RDONLY``) with
    ``O_DIRECT`` where the file system has it, else None."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, mode | flag)
    except OSError:
        return None


def _cells(tb, te):
    """The offsets of the file's blocks that a tensor's bytes ``[tb, te)`` cross."""
    return range(tb // BLOCK * BLOCK, te, BLOCK)


def _by_tensor(hashes):
    """{tensor name: {block offset: hash}} from ``_part_hashes`` records."""
    out = {}
    for name, _, b, h in hashes:
        out.setdefault(name, {})[b] = h
    return out


def _rank_world(rank, world):
    if world is None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    if rank is None:
        rank = int(os.environ.get("RANK", "0"))
    for v, what in ((rank, "rank"), (world, "world")):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{what} must be an int; got {v!r}")
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, world) and world >= 1; got rank={rank}, world={world}")
    return rank, world


def _plan_id(index_meta, plan, world):
    key = json.dumps([index_meta, plan.weight_map, [(f.name, f.size) for f in plan.files], world], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _tmp(out, fname, pid):
    return os.path.join(out, f".{fname}.{pid}.partial")


def _marker(out, pid, rank, world):
    return os.path.join(out, f".fastinit-{pid}-rank{rank}-of-{world}.json")


def _ours(entry, pid):
    """A temporary file or marker of this plan (another rank's, or a killed
    run's of the same command: it is rewritten)."""
    return entry.startswith(".") and pid in entry


def _checkpoint_like(entry):
    return (entry.endswith(".safetensors") or entry in (INDEX, "config.json", "generation_config.json")
            or (entry.startswith(".") and (entry.endswith(".partial") or entry.startswith(".fastinit-"))))


def _prepare_dir(out, pid, overwrite):
    if os.path.exists(out) and not os.path.isdir(out):
        raise CheckpointError(f"out must be a directory; {out} is a file")
    os.makedirs(out, exist_ok=True)
    other = sorted(e for e in os.listdir(out) if not _ours(e, pid))
    if other and not overwrite:
        raise CheckpointError(f"out ({out}) is not empty ({', '.join(other[:4])}{' ...' if len(other) > 4 else ''}); "
                              f"choose an empty directory, or pass overwrite=True (--overwrite)")
    for e in other:
        if _checkpoint_like(e):
            p = os.path.join(out, e)
            if os.path.isfile(p) or os.path.islink(p):
                os.remove(p)


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path, data):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_plan(plan, out, *, rank=None, world=None, overwrite=False, progress=None, config_files=None):
    """Write this rank's blocks of ``plan`` into ``out``; the last rank to
    finish renames the files and writes the index.  Returns the index
    (a dict) from the rank that wrote it, else None."""
    rank, world = _rank_world(rank, world)
    out = os.fspath(out)
    meta = {"total_parameters": _total_parameters(plan), "total_size": plan.storage_size}
    man = plan.manifest()
    pid = _plan_id([meta, man], plan, world)
    _prepare_dir(out, pid, overwrite)
    blocks = plan.mine(rank, world)
    need = sum(e - b for _, b, e in blocks)
    free = shutil.disk_usage(out).free
    if need > free:
        raise CheckpointError(f"out ({out}) has {free / 1e9:.2f} GB free; this checkpoint needs "
                              f"{need / 1e9:.2f} GB{' on this rank' if world > 1 else ''}")
    fds, direct = {}, {}
    files_mine = sorted({i for i, _, _ in blocks})
    hashes = []
    try:
        for i in files_mine:
            f = plan.files[i]
            path = _tmp(out, f.name, pid)
            fds[i] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if os.fstat(fds[i]).st_size != f.size:
                os.ftruncate(fds[i], f.size)
            try:
                os.posix_fallocate(fds[i], 0, f.size)     # a full disk fails here, before any byte
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    raise
            direct[i] = _open_direct(path, os.O_WRONLY)

        def digest(blk, buf, parts):
            hashes.extend(_part_hashes(buf, parts, blk))

        def write(blk, buf, parts):
            i, b, e = blk
            n = e - b
            mv = memoryview(buf)[:n]
            fd = direct.get(i)
            if fd is not None and b % _DIRECT_ALIGN == 0 and n % _DIRECT_ALIGN == 0:
                try:
                    written = os.pwrite(fd, mv, b)
                except OSError as err:
                    if err.errno != errno.EINVAL:
                        raise
                    written = os.pwrite(fds[i], mv, b)
            else:
                written = os.pwrite(fds[i], mv, b)
            while written < n:                     # pwrite may write less
                written += os.pwrite(fds[i], mv[written:], b + written)

        _run_blocks(plan, blocks, (digest, write), progress, "checkpoint")
        for i in files_mine:
            os.fsync(fds[i])
    except OSError as e:
        _cleanup(out, pid, plan, world)
        if e.errno == errno.ENOSPC:
            raise CheckpointError(f"out ({out}): the disk is full ({e}); nothing was left under a final "
                                  f"name") from e
        raise
    except BaseException:
        _cleanup(out, pid, plan, world)
        raise
    finally:
        for d in (*fds.values(), *(v for v in direct.values() if v is not None)):
            os.close(d)
    _atomic_write(_marker(out, pid, rank, world), json.dumps(hashes).encode())
    return _finalize(plan, out, pid, world, meta, man, config_files)


def _cleanup(out, pid, plan, world):
    """After a failure: one process removes its temporary files (several
    leave them to the others; a rerun with ``overwrite`` clears them)."""
    if world == 1:
        for f in plan.files:
            try:
                os.remove(_tmp(out, f.name, pid))
            except FileNotFoundError:
                pass


def _run_blocks(plan, blocks, works, progress, what):
    total = sum(e - b for _, b, e in blocks)
    ends = {}
    for k, (i, b, e) in enumerate(blocks):
        for s, tb, te in plan.files[i].tensors:
            if max(b, tb) < min(e, te):
                ends[s.name] = k
    bar = _Progress(total, len(ends), what, progress)
    pipe = _Pipeline(works)
    try:
        done = 0
        for k, blk in enumerate(blocks):
            buf = pipe.buffer()
            parts = plan.fill_block(blk, buf)
            pipe.put(blk, buf, parts)
            done += sum(1 for n, _, _ in parts if ends.get(n) == k)
            for n, _, _ in parts:          # a tensor's whole-tensor cache, dropped after its last block
                if ends.get(n) == k:
                    src = next(s.source for s, _, _ in plan.files[blk[0]].tensors if s.name == n)
                    plan.sources[src].cache.clear()
            bar.update(blk[2] - blk[1], done)
    finally:
        try:
            pipe.close()
        finally:
            bar.close()


def _total_parameters(plan):
    return sum(t.numel() for t in plan.schedule.params.values())


def _finalize(plan, out, pid, world, meta, man, config_files):
    markers = [_marker(out, pid, r, world) for r in range(world)]
    try:
        parts = [h for m in markers for h in json.loads(open(m, "rb").read())]
    except (FileNotFoundError, ValueError):
        return None                       # another rank finishes (or has finished) it
    by_tensor = _by_tensor(parts)
    digests = {}
    for f in plan.files:
        for s, tb, te in f.tensors:
            got = by_tensor.get(s.name, {})
            if any(c not in got for c in _cells(tb, te)):
                raise CheckpointError(f"the markers in {out} do not cover {s.name}: a rank wrote another plan")
            digests[s.name] = _digest(got[c] for c in _cells(tb, te))      # an empty tensor: sha256(b"")
    index = {"metadata": {**meta, "fastinit": {**man, "digests": dict(sorted(digests.items()))}},
             "weight_map": plan.weight_map}
    single = len(plan.files) == 1
    if single:                            # the manifest with its digests, into the header
        header = plan._files(digests)[0].header
        if len(header) != len(plan.files[0].header):
            raise AssertionError("the manifest's length moved with its digests")
        tmp = _tmp(out, plan.files[0].name, pid)
        try:
            fd = os.open(tmp, os.O_WRONLY)
        except FileNotFoundError:
            if not os.path.exists(os.path.join(out, plan.files[0].name)):
                raise
        else:
            try:
                os.pwrite(fd, header, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
    for fname, data in (config_files or {}).items():
        _atomic_write(os.path.join(out, fname), data)
    for f in plan.files:
        try:
            os.replace(_tmp(out, f.name, pid), os.path.join(out, f.name))
        except FileNotFoundError:
            if not os.path.exists(os.path.join(out, f.name)):
                raise
    _fsync_dir(out)
    if not single:
        _atomic_write(os.path.join(out, INDEX), (json.dumps(index, indent=2, sort_keys=True) + "\n").encode())
    for m in markers:
        try:
            os.remove(m)
        except FileNotFoundError:
            pass
    _fsync_dir(out)
    return index


# ----------------------------------------------------------------- verifying
def verify_plan(plan, out, *, rank=None, world=None, progress=None):
    """Recompute this rank's blocks and compare them with the files and
    the manifest's digests; returns the sorted names of the tensors (and
    files, for a header) that differ."""
    rank, world = _rank_world(rank, world)
    out = os.fspath(out)
    index = read_index(out)
    digests = index["metadata"]["fastinit"].get("digests", {})
    if len(plan.files) == 1:              # the expected header holds the file's own digests (checked below)
        expected = plan._files({n: digests.get(n, "0" * 64) for n in plan.weight_map})
        if len(expected[0].header) == len(plan.files[0].header):
            plan.files = expected
    bad = set()
    if index["weight_map"] != plan.weight_map:
        extra = set(index["weight_map"]) ^ set(plan.weight_map)
        moved = {n for n in set(index["weight_map"]) & set(plan.weight_map)
                 if index["weight_map"][n] != plan.weight_map[n]}
        bad |= extra | moved
    fds, direct = {}, {}
    for i, f in enumerate(plan.files):
        p = os.path.join(out, f.name)
        if not os.path.isfile(p) or os.path.getsize(p) != f.size:
            bad.add(f.name)
        else:
            fds[i] = os.open(p, os.O_RDONLY)
            direct[i] = _open_direct(p, os.O_RDONLY)
    hashes = []
    scratch = mmap.mmap(-1, BLOCK)            # page-aligned, for O_DIRECT

    def digest(blk, buf, parts):
        if blk[0] in fds:
            hashes.extend(_part_hashes(buf, parts, blk))

    def compare(blk, buf, parts):
        i, b, e = blk
        if i not in fds:
            return
        n = None
        if direct.get(i) is not None:
            try:
                n = os.preadv(direct[i], [memoryview(scratch)[:-(-(e - b) // _DIRECT_ALIGN) * _DIRECT_ALIGN]], b)
            except OSError as err:
                if err.errno != errno.EINVAL:
                    raise
        if n is None:
            n = os.preadv(fds[i], [memoryview(scratch)[:e - b]], b)
        got = memoryview(scratch)[:e - b]
        if n < e - b:
            bad.add(plan.files[i].name)
            return
        mine = np.frombuffer(buf, np.uint8, e - b)
        theirs = np.frombuffer(got, np.uint8)
        h = len(plan.files[i].header)
        if b < h and not np.array_equal(mine[:h - b], theirs[:h - b]):
            bad.add(f"{plan.files[i].name} (header)")
        for name, pb, pe in parts:
            if not np.array_equal(mine[pb:pe], theirs[pb:pe]):
                bad.add(name)

    try:
        _run_blocks(plan, plan.mine(rank, world), (digest, compare), progress, "verify")
    finally:
        for d in (*fds.values(), *(v for v in direct.values() if v is not None)):
            os.close(d)
    by_tensor = _by_tensor(hashes)
    for f in plan.files:
        for s, tb, te in f.tensors:
            got = by_tensor.get(s.name)
            if not got:
                continue
            cells = _cells(tb, te)
            if all(c in got for c in cells) and digests.get(s.name) != _digest(got[c] for c in cells):
                bad.add(f"{s.name} (digest)")
    return sorted(bad)


def read_index(out):
    """The index of the checkpoint in ``out`` (``{"metadata": {...,
    "fastinit": manifest}, "weight_map": ...}``); for a one-file
    checkpoint, built from its header (its manifest is there)."""
    out = os.fspath(out)
    path = os.path.join(out, INDEX)
    single = os.path.join(out, SINGLE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            index = json.load(fh)
    elif os.path.isfile(single):
        with open(single, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(min(n, 1 << 30)))
        meta = header.pop("__metadata__", {}) or {}
        index = {"metadata": {}, "weight_map": {k: SINGLE for k in header}}
        if "fastinit" in meta:
            index["metadata"]["fastinit"] = json.loads(meta["fastinit"])
        path = single
    else:
        raise CheckpointError(f"{out} holds neither {INDEX} nor {SINGLE}: not a complete checkpoint")
    if "fastinit" not in index.get("metadata", {}):
        raise CheckpointError(f"{path} has no fastinit manifest: not written by fastinit")
    return index


def verify_tensors(module, plan, names=None):
    """The names of ``module``'s tensors whose values (every local piece,
    DTensor shards included) differ from ``plan``'s, or whose dtype or
    shape does; ``names``: which of the plan's sources to check (default:
    every source the checkpoint saves)."""
    have = dict(module.named_parameters(remove_duplicate=False))
    have.update(module.named_buffers(remove_duplicate=False))
    wanted = names if names is not None else list(dict.fromkeys(s.source for s in plan.saved))
    bad = []
    for n in wanted:
        src, t = plan.sources[n], have.get(n)
        if t is None or tuple(t.shape) != src.shape or t.dtype != src.dtype or t.is_meta:
            bad.append(n)
            continue
        ok = True
        with torch.no_grad():
            for p in pieces(t):
                local = p.local
                rows = max(1, BLOCK // max(1, (local[0].numel() if local.dim() else 1) * local.element_size()))
                for r in range(0, local.shape[0] if local.dim() else 1, rows):
                    part = local[r:r + rows] if local.dim() else local
                    offs = (p.offsets[0] + r, *p.offsets[1:]) if local.dim() else ()
                    want = torch.empty(part.shape, dtype=src.dtype)
                    src.write(want, offs)
                    if not _same_bits(want, part.detach().cpu()):
                        ok = False
                        break
                if not ok:
                    break
        src.cache.clear()
        if not ok:
            bad.append(n)
    return bad


def _same_bits(a, b):
    if a.dtype.is_floating_point or a.dtype.is_complex:
        ints = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
        a = a.contiguous().view(ints[a.element_size()]) if not a.is_complex() else torch.view_as_real(a)
        b = b.contiguous().view(ints[b.element_size()]) if not b.is_complex() else torch.view_as_real(b)
    return torch.equal(a, b)


# ----------------------------------------------------------------- the public functions
def _config_files(module, dtype):
    """config.json (and generation_config.json) as ``save_pretrained``
    writes them: ``dtype`` and ``architectures`` set to what is saved."""
    if not _program._is_hf(module):
        return {}
    import copy
    import tempfile
    config = copy.deepcopy(module.config)
    floats = [t.dtype for t in module.parameters() if t.dtype.is_floating_point]
    dt = dtype if dtype is not None else (floats[0] if floats else torch.float32)
    config.dtype = str(dt).split(".")[1]
    config.architectures = [type(module).__name__.removeprefix("FSDP")]
    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        config.save_pretrained(tmp)
        gen = getattr(module, "generation_config", None)
        if gen is not None and module.can_generate():
            gen.save_pretrained(tmp)
        for fname in sorted(os.listdir(tmp)):
            with open(os.path.join(tmp, fname), "rb") as fh:
                files[fname] = fh.read()
    return files


def _source_spec(module, source):
    if source is not None:
        return {"factory": source} if isinstance(source, str) else dict(source)
    if _program._is_hf(module):
        return {"config": "config.json", "class": type(module).__name__.removeprefix("FSDP")}
    return None


def save_checkpoint(module, out, *, seed, scheme="own", dtype=None, max_shard_size="5GB", overrides=None,
                    original_format=True, rank=None, world=None, overwrite=False, progress=None, source=None,
                    **scheme_options):
    """Write the initial weights of ``module`` (built on the meta device)
    into the directory ``out`` as a Hugging Face checkpoint, without
    allocating the model: every tensor equals, bit for bit, what
    ``materialize_(module, "cpu", seed=seed, scheme=scheme, dtype=dtype,
    overrides=overrides)`` gives, written in blocks of ``BLOCK`` bytes
    (peak memory about three blocks plus the interpreter, whatever the
    model's size).

    Parameters
    ----------
    module : torch.nn.Module on the meta device (tensors off meta are
        saved as they are, as ``materialize_`` keeps them).
    out : directory, empty or absent (``overwrite=True`` replaces a
        checkpoint there); several processes may write into one.
    seed, scheme, dtype, overrides, **scheme_options : as ``materialize_``.
    max_shard_size : int bytes or "5GB" / "500MiB", as ``save_pretrained``.
    original_format : a Hugging Face model's tensors in its checkpoint
        format (``save_pretrained``'s default: Mixture-of-Experts weights
        per expert); False saves the model's own tensors.
    rank, world : this process's part (default: the ``RANK`` and
        ``WORLD_SIZE`` environment variables, else 0 of 1).  Each writes a
        disjoint run of bytes; the last to finish renames the files and
        writes the index, so the files are the same for any ``world``.
    overwrite : replace the checkpoint files already in ``out``.
    progress : a progress line on stderr; default: when it is a terminal.
    source : how ``verify`` rebuilds a model that is not a Hugging Face
        one: "package.module:factory", recorded in the manifest.

    Returns
    -------
    The index (a dict, with the manifest under ``["metadata"]["fastinit"]``)
    from the process that wrote it; None from the others.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    plan = Plan(module, seed=seed, scheme=scheme, dtype=dtype, max_shard_size=max_shard_size, overrides=overrides,
                original_format=original_format, scheme_options=scheme_options, source=_source_spec(module, source))
    return write_plan(plan, out, rank=rank, world=world, overwrite=overwrite, progress=progress,
                      config_files=_config_files(module, dtype))


def _plan_from_manifest(out, module=None, overrides=None, scheme_options=None):
    man = read_index(out)["metadata"]["fastinit"]
    if man.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(f"{out}: manifest format {man.get('format')!r}; this fastinit reads {MANIFEST_FORMAT}")
    if man.get("overrides") and overrides is None:
        raise CheckpointError(f"{out} was written with overrides: pass the same overrides= (and the model) to verify it")
    if module is None:
        module = build_meta(out, manifest=man)
    dtype = None if man["dtype"] is None else getattr(torch, man["dtype"])
    plan = Plan(module, seed=man["seed"], scheme=man["scheme"], dtype=dtype, max_shard_size=man["max_shard_size"],
                overrides=overrides, original_format=man["original_format"],
                scheme_options={**man.get("scheme_options", {}), **(scheme_options or {})},
                source=man.get("source"))
    return plan, man


def verify_checkpoint(out, module=None, *, rank=None, world=None, progress=None, overrides=None, **scheme_options):
    """Recompute, in blocks, every tensor of the checkpoint in ``out`` from
    its manifest (seed, scheme, dtype) and the model (rebuilt on the meta
    device from its config.json or factory, or ``module``), and compare it
    with the file and with the manifest's digest.  With ``rank``/``world``
    each process checks its own run of bytes.  Returns the sorted names of
    the tensors that differ (empty: the checkpoint is what the seed gives)."""
    plan, _ = _plan_from_manifest(out, module, overrides, scheme_options)
    return verify_plan(plan, out, rank=rank, world=world, progress=progress)


def verify_module(module, out, *, meta_model=None, overrides=None, **scheme_options):
    """Whether ``module`` (in memory, whole or sharded: each rank checks
    the pieces it holds) holds the weights of the checkpoint in ``out``,
    recomputed from the manifest (reading the index and config, not the
    tensors).  Returns the sorted names of the tensors that differ.  A
    Hugging Face model in memory has the model's own tensors (fused
    experts, tied aliases), which the check compares."""
    plan, _ = _plan_from_manifest(out, meta_model, overrides, scheme_options)
    return sorted(verify_tensors(module, plan))


def build_meta(spec, *, model_class=None, manifest=None):
    """A model on the meta device, in float32, from ``spec``: a Hugging
    Face ``config.json`` (or a directory holding one; the class its
    ``architectures`` names, else the Auto class for causal language
    models, else ``AutoModel``; ``model_class`` overrides: a transformers
    class name or "package.module:Class"), or "package.module:factory", a
    callable returning the model on the meta device.  No network."""
    import importlib
    spec = os.fspath(spec)
    if manifest is not None:
        src = manifest.get("source") or {}
        if "factory" in src:
            spec = src["factory"]
        elif "config" in src:
            model_class = model_class or src.get("class")
            spec = os.path.join(spec, src["config"])
        else:
            raise CheckpointError(f"{spec}: the manifest does not say how to build the model; pass the model")
    if not os.path.exists(spec) and ":" in spec:
        mod, _, attr = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise CheckpointError(f"model factory {spec!r} cannot be imported: {e}") from None
        with torch.device("meta"):
            model = fn()
        if not isinstance(model, torch.nn.Module):
            raise CheckpointError(f"model factory {spec!r} returned a {type(model).__name__}, not a torch.nn.Module")
        return model
    path = os.path.join(spec, "config.json") if os.path.isdir(spec) else spec
    if not os.path.isfile(path):
        raise CheckpointError(f"model {spec!r} is neither a config.json nor a package.module:factory")
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    except ValueError as e:
        raise CheckpointError(f"{path} is not JSON: {e}") from None
    import transformers
    from transformers import CONFIG_MAPPING
    mt = d.get("model_type")
    if mt not in CONFIG_MAPPING:
        raise CheckpointError(f"{path}: unknown model_type {mt!r} (transformers {transformers.__version__})")
    config = CONFIG_MAPPING[mt].from_dict(d)
    cls = None
    if model_class:
        if ":" in model_class:
            mod, _, attr = model_class.partition(":")
            cls = getattr(importlib.import_module(mod), attr, None)
        else:
            cls = getattr(transformers, model_class, None)
        if cls is None:
            raise CheckpointError(f"model_class {model_class!r} is not a transformers class or package.module:Class")
    else:
        for name in d.get("architectures") or ():
            cls = getattr(transformers, name, None)
            if cls is not None:
                break
    with torch.device("meta"):
        if cls is not None:
            return cls._from_config(config, dtype=torch.float32)
        for auto in (transformers.AutoModelForCausalLM, transformers.AutoModel):
            try:
                return auto.from_config(config, dtype=torch.float32)
            except ValueError:
                continue
    raise CheckpointError(f"{path}: no transformers class builds model_type {mt!r}")


# ----------------------------------------------------------------- command line
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "float64": torch.float64}


def _config_dtype(spec):
    """The dtype a Hugging Face config.json names (``dtype`` / ``torch_dtype``), if fastinit fills it."""
    path = os.path.join(spec, "config.json") if os.path.isdir(spec) else spec
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    except (OSError, ValueError):
        return None
    return _DTYPES.get(d.get("dtype") or d.get("torch_dtype"))


def main_checkpoint(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m fastinit checkpoint",
        description="Write a model's initial weights into a Hugging Face checkpoint (safetensors shards and "
                    "model.safetensors.index.json) without building the model in memory; every tensor equals "
                    "what fastinit.torch.materialize_ gives for the same seed, scheme and dtype.")
    ap.add_argument("model", metavar="CONFIG", help="a Hugging Face config.json (or a directory holding one), or "
                                                    "package.module:factory returning the model on the meta device")
    ap.add_argument("out", metavar="OUT", help="the directory to write (empty or absent)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--scheme", default="own", help="'own' (the model's own init program, the default) or a named "
                                                    "recipe: torch, hf, megatron, olmo, torchtitan")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a named recipe's option (megatron's init_method_std=0.01, ...); repeatable")
    ap.add_argument("--dtype", choices=sorted(_DTYPES), default=None,
                    help="floating tensors' dtype (default: the config's dtype, else as the model is built)")
    ap.add_argument("--max-shard-size", default="5GB", help="as save_pretrained: 5GB, 500MiB, bytes")
    ap.add_argument("--model-class", default=None, help="a transformers class name or package.module:Class "
                                                        "(default: the config's architectures)")
    ap.add_argument("--model-format", action="store_true",
                    help="save the model's own tensors, not the original checkpoint format (fused experts)")
    ap.add_argument("--rank", type=int, default=None, help="this process's part (default: $RANK, else 0)")
    ap.add_argument("--world", type=int, default=None, help="how many processes write OUT (default: $WORLD_SIZE)")
    ap.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in OUT")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        dtype = _DTYPES[a.dtype] if a.dtype else _config_dtype(a.model)
        opts = {}
        for o in a.option:
            k, eq, v = o.partition("=")
            if not eq or not k:
                raise ValueError(f"--option must be KEY=VALUE; got {o!r}")
            try:
                opts[k] = json.loads(v)
            except ValueError:
                opts[k] = v
        model = build_meta(a.model, model_class=a.model_class)
        source = a.model if (":" in a.model and not os.path.exists(a.model)) else None
        index = save_checkpoint(model, a.out, seed=a.seed, scheme=a.scheme, dtype=dtype,
                                max_shard_size=a.max_shard_size, original_format=not a.model_format,
                                rank=a.rank, world=a.world, overwrite=a.overwrite,
                                progress=False if a.quiet else None, source=source, **opts)
    except (CheckpointError, ValueError, TypeError, OSError) as e:
        print(f"fastinit checkpoint: error: {e}", file=sys.stderr)
        return 2
    el = time.perf_counter() - t0
    if index is None:
        rank, world = _rank_world(a.rank, a.world)
        print(f"rank {rank} of {world}: wrote its part of {a.out} in {el:.1f} s; the last rank to finish "
              f"writes the index")
    else:
        size = index["metadata"]["total_size"]
        files = sorted(set(index["weight_map"].values()))
        print(f"wrote {a.out}: {len(index['weight_map'])} tensors, {size / 1e9:.3f} GB in {len(files)} file(s), "
              f"{el:.1f} s ({size / 1e9 / el:.2f} GB/s), seed {a.seed}, scheme {a.scheme}, "
              f"dtype {index['metadata']['fastinit']['dtype'] or 'as built'}")
    return 0


def main_verify(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m fastinit verify",
        description="Recompute every tensor of a checkpoint written by `python -m fastinit checkpoint` from its "
                    "manifest, in blocks, and name every tensor that differs from the file or its digest.")
    ap.add_argument("out", metavar="OUT")
    ap.add_argument("--model", default=None, help="the model (config.json or package.module:factory) when the "
                                                  "manifest does not say")
    ap.add_argument("--model-class", default=None)
    ap.add_argument("--rank", type=int, default=None)
    ap.add_argument("--world", type=int, default=None)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        model = build_meta(a.model, model_class=a.model_class) if a.model else None
        bad = verify_checkpoint(a.out, model, rank=a.rank, world=a.world, progress=False if a.quiet else None)
    except (CheckpointError, ValueError, TypeError, OSError) as e:
        print(f"fastinit verify: error: {e}", file=sys.stderr)
        return 2
    el = time.perf_counter() - t0
    if bad:
        print(f"{a.out}: {len(bad)} tensor(s) differ from what the manifest's seed gives:", file=sys.stderr)
        for n in bad:
            print(f"  {n}", file=sys.stderr)
        return 1
    print(f"{a.out}: every tensor is what the manifest's seed gives ({el:.1f} s)")
    return 0
