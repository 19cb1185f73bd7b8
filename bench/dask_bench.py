"""fastinit.dask against dask.array.random on a dask.distributed cluster,
and a Zarr store larger than memory.

    python bench/dask_bench.py                       # 2^30 float32 on 2 single-thread workers; 2^33 to Zarr
    python bench/dask_bench.py --log2 24 --zarr-log2 26 --json PATH    # smaller
    pytest bench/test_dask_bench.py --benchmark-disable    # smoke run

1. Generation: each array is persisted on a ``LocalCluster`` (2 worker
   processes, 1 thread each; the same chunks, 2^24 elements by default) and
   timed until every block exists, best of ``--repeat`` rounds (each case
   once per round): fastinit's ``normal`` and ``uniform`` against
   ``dask.array.random.default_rng``'s ``standard_normal`` (float32) and
   ``random`` (float32, [0, 1)) and ``uniform`` (float64:
   Generator.uniform has no float32), in G elements/s and as ratios
   measured in the same run.
2. Chunk invariance: the first values of the same array with two chunkings,
   Dask's and fastinit's.
3. Zarr: a float32 array of 2^``zarr-log2`` elements written by
   ``fastinit.dask.fill_zarr`` into a new local store (no compressor:
   random floats do not compress; the zstd ratio of one chunk is printed
   to show it), timed until it is on the disk (``os.sync()``), the
   workers' peak resident memory, and the disk's plain write speed beside
   it: ``dd`` of ``--dd-mib`` (4 GiB) of zeros with ``conv=fdatasync``,
   before the store and after it.  ``--zarr-ones`` writes ones instead
   (Zarr's path and the disk with no compute; not zeros, which equal the
   fill value and which Zarr leaves out of the store).  Then the same
   volume as plain files of one chunk each, written from as many threads
   as the workers have and synced (``--no-plain`` skips it).  The store
   and the files are deleted afterwards.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time

import numpy as np


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _disk_write_gbs(directory, mib):
    path = os.path.join(directory, "dd.bin")
    t = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "conv=fdatasync"],
                   check=True, capture_output=True)
    dt = time.perf_counter() - t
    os.remove(path)
    return mib * 2 ** 20 / dt / 1e9


def _plain_files_gbs(directory, nbytes, chunk_bytes, threads):
    """The same volume written as plain files of one chunk each (Zarr's
    layout without Zarr), from ``threads`` threads, then synced: the disk
    and the page cache at the store's scale, the reference of "near the
    disk's plain write speed"."""
    from concurrent.futures import ThreadPoolExecutor
    data = np.random.default_rng(0).integers(0, 256, chunk_bytes, dtype=np.uint8)
    root = os.path.join(directory, "plain")
    os.makedirs(root)

    def write(i):
        with open(os.path.join(root, str(i)), "wb") as f:
            f.write(data)
    os.sync()
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(nbytes // chunk_bytes)))
    os.sync()
    dt = time.perf_counter() - t
    shutil.rmtree(root)
    return nbytes / dt / 1e9


def _zarr(a, client_kw):
    """The Zarr part, on a fresh cluster (its workers' peak memory is its own)."""
    import distributed
    import zarr
    from numcodecs import Zstd

    import fastinit.dask as fd
    nz = 1 << a.zarr_log2
    cols = 4096
    rows = max(1, min(1 << a.zarr_chunk_log2, nz) // cols)
    where = tempfile.mkdtemp(prefix="fastinit-zarr-", dir=a.dir or tempfile.gettempdir())
    try:
        free = shutil.disk_usage(where).free
        if free < nz * 4 * 1.1 + (5 << 30):
            raise SystemExit(f"not enough disk at {where}: {free / 2**30:.0f} GiB free, {nz * 4 / 2**30:.0f} GiB needed")
        with distributed.LocalCluster(**client_kw) as cluster, distributed.Client(cluster) as client:
            z = zarr.create_array(os.path.join(where, "w.zarr"), shape=(nz // cols, cols), chunks=(rows, cols),
                                  dtype="float32", compressors=None)
            sample = fd.normal((rows, cols), 0.0, 0.02, chunks=(rows, cols), seed=0).compute()
            zratio = sample.nbytes / len(Zstd(level=3).encode(sample))
            fd.fill_zarr(zarr.create_array(os.path.join(where, "warm.zarr"), shape=(2 * rows, cols),
                                           chunks=(rows, cols), dtype="float32", compressors=None),
                         "normal", seed=1)                     # each worker loads the kernel once
            before = client.run(_peak_rss_mib)
            os.sync()
            disk_before = _disk_write_gbs(where, a.dd_mib)
            t = time.perf_counter()
            fd.fill_zarr(z, *a.zarr_fill, seed=0)
            os.sync()                                   # on the disk, as dd's fdatasync
            dt = time.perf_counter() - t
            after = client.run(_peak_rss_mib)
        disk = _disk_write_gbs(where, a.dd_mib)
        shutil.rmtree(os.path.join(where, "w.zarr"))            # the room for the plain files
        plain = _plain_files_gbs(where, nz * 4, rows * cols * 4, 2 * a.zarr_threads) if a.plain else None
    finally:
        shutil.rmtree(where, ignore_errors=True)
    res = dict(filler=a.zarr_fill[0], threads=a.zarr_threads, elements=nz, gib=nz * 4 / 2 ** 30, seconds=dt, gbs=nz * 4 / dt / 1e9, disk_gbs=disk, disk_before_gbs=disk_before, plain_files_gbs=plain,
               chunk_mib=rows * cols * 4 / 2 ** 20, zstd_ratio=zratio, worker_peak_mib=list(after.values()),
               worker_peak_before_mib=list(before.values()))
    plain_txt = f"; plain files of one chunk each, the same volume: {plain:.2f} GB/s" if plain else ""
    print(f"Zarr, {a.zarr_fill[0]}, 2 workers x {a.zarr_threads} threads: {res['gib']:.0f} GiB float32 (chunks of {res['chunk_mib']:.0f} MiB, no compressor: zstd-3 "
          f"shrinks a chunk of these values {zratio:.3f}x) written and synced in {dt:.1f} s: {res['gbs']:.2f} GB/s; the "
          f"disk's plain write (dd, fdatasync) {disk_before:.2f} GB/s before, {disk:.2f} GB/s after; workers' peak RSS "
          f"{', '.join(f'{v:.0f}' for v in after.values())} MiB (after the warm-up: "
          f"{', '.join(f'{v:.0f}' for v in before.values())}){plain_txt}; the store was deleted")
    return res


def run(argv=None):
    from fastinit._bench.machine import summary
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log2", type=int, default=30, help="elements of the generated arrays (log2)")
    p.add_argument("--chunk-log2", type=int, default=24)
    p.add_argument("--zarr-log2", type=int, default=33, help="elements of the Zarr array (log2); 0: skip")
    p.add_argument("--zarr-chunk-log2", type=int, default=22, help="elements per Zarr chunk (log2)")
    p.add_argument("--zarr-threads", type=int, default=2,
                   help="threads per worker for the Zarr write (one computes while another writes)")
    p.add_argument("--zarr-ones", dest="zarr_fill", action="store_const", const=("ones",),
                   default=("normal", 0.0, 0.02),
                   help="write ones instead of normals: Zarr's and the disk's own speed with no compute")
    p.add_argument("--no-plain", dest="plain", action="store_false",
                   help="skip the reference write of the same volume as plain chunk files")
    p.add_argument("--dd-mib", type=int, default=4096, help="MiB dd writes to time the disk")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", default=None, help="where the Zarr store goes (default: a temporary directory)")
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args(argv)

    import dask
    import dask.array as da
    import distributed
    import zarr

    import fastinit as fi
    import fastinit.dask as fd

    n, ch = 1 << a.log2, 1 << min(a.chunk_log2, a.log2)
    out = dict(summary(), dask=dask.__version__, zarr=zarr.__version__, fastinit=fi.__version__, elements=n,
               chunk=ch)
    print(f"fastinit.dask vs dask.array.random: 2^{a.log2} elements, chunks of 2^{min(a.chunk_log2, a.log2)}; "
          f"LocalCluster, 2 workers x 1 thread; CPU: {out['cpu']}, {out['cores']} cores")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        rng = da.random.default_rng(0)
        # a new seed per build: fastinit's task names are deterministic, and a
        # persisted array with the same name would be found already computed
        cases = {
            "fastinit normal (float32)": lambda r: fd.normal((n,), chunks=ch, seed=100 + r),
            "dask standard_normal (float32)": lambda r: rng.standard_normal((n,), chunks=ch, dtype=np.float32),
            "fastinit uniform (float32)": lambda r: fd.uniform((n,), chunks=ch, seed=200 + r),
            "dask random (float32)": lambda r: rng.random((n,), chunks=ch, dtype=np.float32),
            "dask uniform (float64)": lambda r: rng.uniform(0.0, 1.0, (n,), chunks=ch),
        }
        warm = fd.normal((2 * ch,), chunks=ch, seed=1), fd.uniform((2 * ch,), chunks=ch, seed=1)
        distributed.wait(client.persist(list(warm)))          # each worker loads fastinit's kernels once
        del warm
        # in rounds, each case once per round, as fastinit._bench.timing.time_rows (why: its docstring)
        best = dict.fromkeys(cases, float("inf"))
        for r in range(a.repeat):
            for name, make in cases.items():
                arr = make(r)
                t = time.perf_counter()
                done = client.persist(arr)
                distributed.wait(done)
                best[name] = min(best[name], time.perf_counter() - t)
                client.cancel(done)
                del done, arr
        rates = {name: n / best[name] / 1e9 for name in cases}
        for name in cases:
            print(f"  {name:<32} {rates[name]:6.2f} G elements/s  ({best[name]:.2f} s)", flush=True)
        out["rates"] = rates
        out["normal_ratio"] = rates["fastinit normal (float32)"] / rates["dask standard_normal (float32)"]
        out["uniform_ratio"] = rates["fastinit uniform (float32)"] / rates["dask random (float32)"]
        print(f"  fastinit / dask: normal {out['normal_ratio']:.1f}x, uniform {out['uniform_ratio']:.1f}x "
              f"(vs float64 uniform {rates['fastinit uniform (float32)'] / rates['dask uniform (float64)']:.1f}x)")

        small = 1000
        d1 = da.random.default_rng(0).standard_normal(small, chunks=100, dtype=np.float32).compute()
        d2 = da.random.default_rng(0).standard_normal(small, chunks=250, dtype=np.float32).compute()
        f1 = fd.normal(small, chunks=100, seed=0).compute()
        f2 = fd.normal(small, chunks=250, seed=0).compute()
        out["invariance"] = dict(dask_equal_elements=int((d1 == d2).sum()), fastinit_equal_elements=int((f1 == f2).sum()))
        print(f"chunk invariance, 1000 values with chunks of 100 and of 250: equal elements dask "
              f"{out['invariance']['dask_equal_elements']}, fastinit {out['invariance']['fastinit_equal_elements']}; "
              f"elements 500-502:")
        print(f"  dask     {np.round(d1[500:503], 4)} / {np.round(d2[500:503], 4)}")
        print(f"  fastinit {np.round(f1[500:503], 4)} / {np.round(f2[500:503], 4)}")

    if a.zarr_log2:
        out["zarr"] = _zarr(a, client_kw=dict(n_workers=2, threads_per_worker=a.zarr_threads, processes=True,
                                              dashboard_address=None))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    run()
