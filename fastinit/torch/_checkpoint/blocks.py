"""Blocks through memory, shared by writing and verifying: a block of a
file is filled on this thread while other threads hash it and write it
(or read and compare it), in page-aligned buffers for ``O_DIRECT``; the
hashes of its parts, and a tensor's digest from them.

The digest of a tensor: the SHA-256 of the concatenated SHA-256 of its
parts, a part being its bytes within one block of its file (a tensor
within one block: ``sha256(sha256(bytes))``).
"""
import hashlib
import mmap
import os
import queue
import sys
import threading
import time

from . import layout

#: ``O_DIRECT``'s alignment of offsets and lengths.
DIRECT_ALIGN = 4096


def tensor_digest(hexes):
    """A tensor's digest from the hashes of its parts, in file order."""
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
        self.buffers = [mmap.mmap(-1, layout.BLOCK) for _ in range(n)]
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


def part_hashes(buf, parts, blk):
    mv = memoryview(buf)
    return [(name, blk[0], blk[1], hashlib.sha256(mv[b:e]).hexdigest()) for name, b, e in parts]


def open_direct(path, mode):
    """A descriptor (``mode``: ``os.O_WRONLY`` or ``os.O_RDONLY``) with
    ``O_DIRECT`` where the file system has it, else None."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, mode | flag)
    except OSError:
        return None


def cells(tb, te):
    """The offsets of the file's blocks that a tensor's bytes ``[tb, te)`` cross."""
    return range(tb // layout.BLOCK * layout.BLOCK, te, layout.BLOCK)


def hashes_by_tensor(hashes):
    """{tensor name: {block offset: hash}} from ``part_hashes`` records."""
    out = {}
    for name, _, b, h in hashes:
        out.setdefault(name, {})[b] = h
    return out


def rank_world(rank, world):
    """(rank, world), checked; default: ``$RANK`` and ``$WORLD_SIZE``, else 0 of 1."""
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



def run_blocks(plan, blocks, works, progress, what):
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
