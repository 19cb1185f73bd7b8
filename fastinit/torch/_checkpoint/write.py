"""Writing a checkpoint: ``save_checkpoint`` plans it, each rank writes its
blocks into temporary files in ``out`` (``pwrite``, ``O_DIRECT`` where the
file system has it, since buffered writes cost more CPU than filling) and
leaves a marker with its hashes; the last rank to finish computes the
digests, renames the files and writes the index and the config.
"""
import errno
import hashlib
import json
import os
import shutil

import torch

from .. import _program
from .blocks import (DIRECT_ALIGN, cells, hashes_by_tensor, open_direct, part_hashes, rank_world, run_blocks,
                     tensor_digest)
from .layout import INDEX, CheckpointError
from .plan import Plan


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
    rank, world = rank_world(rank, world)
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
            direct[i] = open_direct(path, os.O_WRONLY)

        def digest(blk, buf, parts):
            hashes.extend(part_hashes(buf, parts, blk))

        def write(blk, buf, parts):
            i, b, e = blk
            n = e - b
            mv = memoryview(buf)[:n]
            fd = direct.get(i)
            if fd is not None and b % DIRECT_ALIGN == 0 and n % DIRECT_ALIGN == 0:
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

        run_blocks(plan, blocks, (digest, write), progress, "checkpoint")
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




def _total_parameters(plan):
    return sum(t.numel() for t in plan.schedule.params.values())


def _finalize(plan, out, pid, world, meta, man, config_files):
    markers = [_marker(out, pid, r, world) for r in range(world)]
    try:
        parts = [h for m in markers for h in json.loads(open(m, "rb").read())]
    except (FileNotFoundError, ValueError):
        return None                       # another rank finishes (or has finished) it
    by_tensor = hashes_by_tensor(parts)
    digests = {}
    for f in plan.files:
        for s, tb, te in f.tensors:
            got = by_tensor.get(s.name, {})
            if any(c not in got for c in cells(tb, te)):
                raise CheckpointError(f"the markers in {out} do not cover {s.name}: a rank wrote another plan")
            digests[s.name] = tensor_digest(got[c] for c in cells(tb, te))      # an empty tensor: sha256(b"")
    index = {"metadata": {**meta, "fastinit": {**man, "digests": dict(sorted(digests.items()))}},
             "weight_map": plan.weight_map}
    single = len(plan.files) == 1
    if single:                            # the manifest with its digests, into the header
        header = plan.shard_files(digests)[0].header
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
