"""fastinit.dask: lazy Dask arrays whose values are the in-memory fill's,
bit for bit, for any chunks and any scheduler; Zarr stores filled chunk by
chunk with bounded memory."""
import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask[array] is not installed (pip install 'fastinit[dask]')")
import ml_dtypes  # noqa: E402,F401
import fastinit as fi  # noqa: E402
import fastinit.dask as fd  # noqa: E402

SEED = 20261201


def _bits(a):
    a = np.asarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def _ref(name, shape, dtype, *args, seed=SEED, **kw):
    out = np.empty(shape, dtype)
    fd.FILLERS[name](out, *args, seed=seed, **kw)
    return out


#: (filler, its arguments, keywords, shape, chunkings): uneven last chunks,
#: chunks of one element, one chunk, 1-D to 4-D.
CASES = [
    ("normal", (0.5, 0.02), {}, (1001,), [(1001,), (100,), (7,), (1,)]),
    ("uniform", (-1.0, 2.0), {}, (37, 53), [(10, 53), (37, 5), (4, 11), ((1, 36), (50, 3))]),
    ("he_normal", (), {}, (48, 20, 3), [(48, 20, 3), (17, 6, 2), (5, 20, 1)]),
    ("trunc_normal", (0.0, 0.02, -0.04, 0.04), {}, (9, 8, 7, 6), [(4, 3, 7, 6), (9, 1, 2, 5), (2, 8, 7, 1)]),
    ("variance_scaling", (2.0, "fan_avg", "truncated_normal"), {"layout": "in_out"}, (3, 3, 64, 32),
     [(1, 3, 64, 32), (3, 2, 30, 7)]),
    ("xavier_uniform", (1.5,), {"stream": "w"}, (300, 70), [(128, 64), (299, 70)]),
    ("lecun_normal", (), {}, (64, 40), [(33, 17)]),
    ("constant", (0.25,), {}, (10, 10), [(3, 4)]),
    ("zeros", (), {}, (5, 6), [(2, 2)]),
]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64", "float16"])
@pytest.mark.parametrize("name,args,kw,shape,chunkings", CASES, ids=[c[0] for c in CASES])
def test_any_chunks_give_the_in_memory_fill(name, args, kw, shape, chunkings, dtype):
    ref = _ref(name, shape, dtype, *args, **kw)
    for chunks in chunkings:
        lazy = getattr(fd, name)(shape, *args, chunks=chunks, dtype=dtype, seed=SEED, **kw)
        assert lazy.dtype == np.dtype(dtype) and lazy.shape == shape
        got = lazy.compute(scheduler="sync")
        assert np.array_equal(_bits(got), _bits(ref)), chunks


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_threaded_and_process_schedulers(scheduler):
    shape = (200, 30, 4)
    ref = _ref("he_normal", shape, "bfloat16", stream="emb")
    lazy = fd.he_normal(shape, chunks=(37, 16, 4), dtype="bfloat16", seed=SEED, stream="emb")
    assert np.array_equal(_bits(lazy.compute(scheduler=scheduler, num_workers=2)), _bits(ref))
    ref64 = _ref("normal", (1000,), "float64", 1.0, 3.0)
    lazy64 = fd.normal((1000,), 1.0, 3.0, chunks=333, dtype="float64", seed=SEED)
    assert np.array_equal(_bits(lazy64.compute(scheduler=scheduler, num_workers=2)), _bits(ref64))


def test_the_graph_pickles_and_names_are_deterministic():
    a = fd.trunc_normal((100, 10), 0.0, 1.0, chunks=(30, 5), seed=SEED)
    b = pickle.loads(pickle.dumps(a))
    assert np.array_equal(b.compute(scheduler="sync"), a.compute(scheduler="sync"))
    graph = dict(a.__dask_graph__())
    assert pickle.loads(pickle.dumps(graph)).keys() == graph.keys()
    assert fd.trunc_normal((100, 10), 0.0, 1.0, chunks=(30, 5), seed=SEED).name == a.name   # same definition
    assert fd.trunc_normal((100, 10), 0.0, 1.0, chunks=(30, 5), seed=SEED + 1).name != a.name


def test_seed_none_is_drawn_once_when_defined():
    fi.manual_seed(3)
    lazy = fd.normal((500,), chunks=50)
    first = lazy.compute(scheduler="sync")
    assert np.array_equal(first, lazy.compute(scheduler="threads"))    # not per block, not per compute
    fi.manual_seed(3)
    seed = fi._call.resolve_seed(None)
    assert np.array_equal(first, _ref("normal", (500,), "float32", seed=seed))


def test_bad_input_fails_when_defined(monkeypatch):
    computed = []
    monkeypatch.setattr(fd, "_block", lambda *a, **k: computed.append(1))
    for call, exc, msg in [
            (lambda: fd.normal((3, -1)), ValueError, "shape must be a tuple of non-negative integers"),
            (lambda: fd.normal("abc"), ValueError, "shape"),
            (lambda: fd.normal((10, 10), chunks=((3, 3, 3), (10,))), ValueError, "chunks .* do not tile the shape"),
            (lambda: fd.normal((10, 10), chunks=(3,)), ValueError, "do not tile"),
            (lambda: fd.normal((10,), chunks=((3, 3),)), ValueError, "do not tile"),
            (lambda: fd.normal((10,), dtype="int32"), TypeError, "dtype must be one of"),
            (lambda: fd.normal((10,), dtype="complex64"), TypeError, "dtype must be one of"),
            (lambda: fd.normal((10,), 0.0, -1.0), ValueError, "std must be >= 0"),
            (lambda: fd.trunc_normal((10,), 0.0, 1.0, 2.0, 1.0), ValueError, "a must be < b"),
            (lambda: fd.he_normal((10,)), ValueError, "fan"),
            (lambda: fd.he_normal((10, 10), mode="sideways"), ValueError, "mode must be one of"),
            (lambda: fd.xavier_uniform((10, 10), layout="io"), ValueError, "layout must be one of"),
            (lambda: fd.uniform((10,), seed=-1), ValueError, "seed must be in"),
            (lambda: fd.uniform((10,), stream=1.5), TypeError, "stream must be an integer"),
            (lambda: fd.constant((10,), 1e6, dtype="float16"), ValueError, "does not fit in float16"),
            (lambda: fd.normal((10,), bogus=1), TypeError, "bogus")]:
        with pytest.raises(exc, match=msg):
            call()
    assert computed == []


def test_every_filler_is_here_with_its_name():
    assert set(fd.FILLERS) == {n[:-1] for n in fi.api.__all__ if n.endswith("_")}
    for name in fd.FILLERS:
        assert callable(getattr(fd, name)) and getattr(fd, name).__name__ == name
    assert fi.dask is fd


# ----------------------------------------------------------------- Zarr
def _zarr():
    return pytest.importorskip("zarr", minversion="3", reason="zarr >= 3 is not installed (pip install 'fastinit[dask]')")


def test_zarr_round_trip(tmp_path):
    zarr = _zarr()
    shape = (300, 200)
    lazy = fd.he_uniform(shape, chunks=(64, 50), seed=SEED, stream="proj")
    lazy.to_zarr(str(tmp_path / "w.zarr"), compressors=None)
    back = zarr.open_array(str(tmp_path / "w.zarr"), mode="r")
    assert back.metadata.zarr_format == 3
    assert np.array_equal(back[...], _ref("he_uniform", shape, "float32", stream="proj"))


@pytest.mark.parametrize("shards", [None, (60, 80)])
def test_fill_an_existing_zarr_array_in_place(tmp_path, shards):
    zarr = _zarr()
    z = zarr.create_array(str(tmp_path / "e.zarr"), shape=(120, 90), chunks=(30, 40), shards=shards,
                          dtype="float64", compressors=None)
    assert fd.fill_zarr(z, "normal", 0.0, 0.5, seed=SEED) is z
    ref = _ref("normal", (120, 90), "float64", 0.0, 0.5)
    assert np.array_equal(zarr.open_array(str(tmp_path / "e.zarr"), mode="r")[...], ref)
    with pytest.raises(ValueError, match="name must be one of"):
        fd.fill_zarr(z, "gaussian")


def test_random_fills_skip_zarrs_empty_chunk_scan(tmp_path, monkeypatch):
    """Random chunks never equal the fill value: fill_zarr writes them
    without Zarr's comparison (write_empty_chunks), on a copy of the
    array's config; a constant fill keeps the scan, so a chunk of the fill
    value is left out of the store."""
    zarr = _zarr()
    from zarr.core.buffer.core import NDBuffer
    scans = []
    scan = NDBuffer.all_equal
    monkeypatch.setattr(NDBuffer, "all_equal", lambda self, *a, **k: scans.append(1) or scan(self, *a, **k))
    z = zarr.create_array(str(tmp_path / "s.zarr"), shape=(60, 40), chunks=(30, 20), dtype="float32",
                          compressors=None)
    fd.fill_zarr(z, "normal", seed=SEED)
    assert scans == []
    assert z.nchunks_initialized == 4
    assert np.array_equal(z[...], _ref("normal", (60, 40), "float32"))
    assert z.async_array.config.write_empty_chunks is False         # the caller's array is as it was
    fd.fill_zarr(z, "zeros")
    assert len(scans) == 4
    assert z.nchunks_initialized == 0                               # chunks of the fill value: not stored
    assert not z[...].any()


def test_zarr_has_no_bfloat16_and_says_so(tmp_path):
    zarr = _zarr()
    with pytest.raises(ValueError, match="bfloat16"):
        zarr.create_array(str(tmp_path / "b.zarr"), shape=(4,), chunks=(2,), dtype=ml_dtypes.bfloat16)


# ----------------------------------------------------------------- dask.distributed
def _worker_peak_rss_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_local_cluster_bits_and_bounded_memory(tmp_path):
    """Two worker processes started here: the same bits; and a Zarr array
    of 1 GiB filled with the workers' peak memory near their chunks, far
    below the array (each worker is also capped at 768 MiB)."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    zarr = _zarr()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="768MiB",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        shape = (3000, 17)
        lazy = fd.xavier_normal(shape, chunks=(999, 5), dtype="bfloat16", seed=SEED, stream=7)
        assert np.array_equal(_bits(lazy.compute()), _bits(_ref("xavier_normal", shape, "bfloat16", stream=7)))
        before = client.run(_worker_peak_rss_mib)
        n = 1 << 28                                            # 1 GiB of float32
        z = zarr.create_array(str(tmp_path / "big.zarr"), shape=(n // 4096, 4096), chunks=(1024, 4096),
                              dtype="float32", compressors=None)                 # 16 MiB chunks
        fd.fill_zarr(z, "uniform", -1.0, 1.0, seed=SEED)
        after = client.run(_worker_peak_rss_mib)
    growth = max(after[w] - before[w] for w in after)
    assert growth < 256, (before, after)                       # not the 1024 MiB of the array
    back = zarr.open_array(str(tmp_path / "big.zarr"), mode="r")
    rows = slice(n // 4096 - 3000, n // 4096 - 2000)         # a stretch of it, checked against memory
    ref = np.empty((1000, 4096), np.float32)
    fi.uniform_(ref, -1.0, 1.0, seed=SEED, global_shape=(n // 4096, 4096), offsets=(n // 4096 - 3000, 0))
    assert np.array_equal(back[rows], ref)


def test_importing_fastinit_does_not_import_dask():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", "import sys, fastinit; print('dask' in sys.modules); "
                        "print(fastinit.dask.__name__, 'dask' in sys.modules)"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.split("\n")[:2] == ["False", "fastinit.dask True"], r.stderr     # loaded on first use
