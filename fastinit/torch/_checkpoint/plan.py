"""The plan of a checkpoint: which tensors of a meta model it saves, in
which format, from which source tensor, and in which file at which bytes.
Nothing is allocated; ``fill_block`` turns a block of the plan into bytes.
"""
import json

import torch

from .. import _program
from ... import _dtypes
from .._fill import FLOATS
from . import layout
from .layout import MANIFEST_FORMAT, SINGLE, CheckpointError, File, Saved, dtype_order, parse_size, safetensors_header
from .source import Source


class Plan:
    """What a checkpoint of ``module`` holds and where each byte comes from.

    Built on the meta model, nothing allocated: ``materialize_``'s schedule
    (the model's own init program, or a named recipe; checked as
    ``materialize_`` checks it), the state dict ``save_pretrained`` would
    save, each saved tensor's source, and the files.
    """

    def __init__(self, module, *, seed, scheme="own", dtype=None, max_shard_size="5GB", overrides=None,
                 original_format=True, scheme_options=None, source=None):
        from .._module import _InitSchedule
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
        self.sources = {n: Source(n, t, fills.get(n), overrides_.get(n), self.seed, dtype)
                        for n, t in self.tensors.items()}
        self.source = source
        self.saved = self._saved(module)
        self.files = self.shard_files()
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
            dtype_order(dt)
            seen.add(key)
            out.append(Saved(name, sname, dt, tuple(v.shape), start))
            # the storage it shares in save_pretrained's state dict, and its elements
            self.storage[name] = storages[name] if storages else (key, t.numel())
        if len({s.name for s in out}) != len(out):
            raise CheckpointError("two saved tensors have the same name")
        return out

    def shard_files(self, digests=None):
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
            members.sort(key=lambda s: (dtype_order(s.dtype), s.name))
            rel, off = [], 0
            for s in members:
                rel.append((s, off, off + s.nbytes))
                off += s.nbytes
            metadata = {"format": "pt"}
            if n == 1:
                metadata["fastinit"] = self.manifest_text(digests)
            header = safetensors_header(rel, metadata)
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
            for b in range(0, f.size, layout.BLOCK):
                out.append((i, b, min(f.size, b + layout.BLOCK)))
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
        from ... import CONTRACT_VERSION, __version__
        source = self.source
        return {"format": MANIFEST_FORMAT, "seed": self.seed, "scheme": self.scheme,
                "dtype": None if self.dtype is None else str(self.dtype).removeprefix("torch."),
                "original_format": self.original_format, "max_shard_size": self.max_shard_size,
                "contract_version": CONTRACT_VERSION, "fastinit_version": __version__,
                "block": layout.BLOCK, "digest": "sha256 of the sha256 of each part of the tensor within one "
                                                 f"{layout.BLOCK >> 20} MiB block of its file",
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
