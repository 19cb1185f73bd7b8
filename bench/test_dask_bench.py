"""fastinit.dask against dask.array.random on a LocalCluster, and a Zarr
store written chunk by chunk (``bench/dask_bench.py``).

    python bench/dask_bench.py                       # 2^30 float32, and 2^33 (32 GiB) to Zarr
    pytest bench/test_dask_bench.py --benchmark-disable    # smoke run: small sizes

The full run's figures are in bench/NOTES.md and the README.
"""
import pytest

pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'fastinit[dask]')")
pytest.importorskip("zarr", minversion="3", reason="zarr >= 3 is not installed")
from dask_bench import run  # noqa: E402  (bench/ is on pytest's pythonpath)


def test_smoke_run_reports_rates_invariance_and_zarr(tmp_path):
    out = run(["--log2", "20", "--chunk-log2", "17", "--zarr-log2", "22", "--zarr-chunk-log2", "18",
               "--repeat", "1", "--dd-mib", "16", "--dir", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert all(r > 0 for r in out["rates"].values()) and out["normal_ratio"] > 0
    assert out["invariance"]["fastinit_equal_elements"] == 1000          # the same values for any chunks
    assert out["invariance"]["dask_equal_elements"] < 1000               # Dask's change with the chunks
    z = out["zarr"]
    assert z["gib"] == pytest.approx(2 ** 22 * 4 / 2 ** 30) and z["gbs"] > 0 and z["disk_gbs"] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]          # the store was deleted
