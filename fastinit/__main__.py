"""Command line: ``python -m fastinit bench [options]``, ``python -m fastinit bench-model [options]``,
``python -m fastinit checkpoint CONFIG OUT --seed S [options]``, ``python -m fastinit verify OUT``
and ``python -m fastinit warmup [--quiet]``."""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "warmup":
        from ._warmup import run as run_warmup
        return run_warmup(argv[1:])
    if argv and argv[0] in ("checkpoint", "verify"):
        from .torch._checkpoint import cli
        return (cli.main_checkpoint if argv[0] == "checkpoint" else cli.main_verify)(argv[1:])
    if argv and argv[0] == "bench-model":
        from ._bench.model import run as run_model
        run_model(argv[1:])
        return 0
    if not argv or argv[0] != "bench":
        print("usage: python -m fastinit bench [--device cpu|cuda|all] [--sizes 10,16,20,24] [--dtypes ...]\n"
              "                                [--peers numpy,torch,jax,cupy|all|none] [--json PATH] [--plot PATH]\n"
              "                                [--quick] [--repeat R]\n"
              "  bench: fastinit against NumPy, torch, JAX (CuPy on a GPU) and a plain fill of the same buffer;\n"
              "  python -m fastinit bench --help for the details\n"
              "       python -m fastinit bench-model [--size 1b] [--dtypes float32,bfloat16] [--device cpu|cuda]\n"
              "  bench-model: a Llama-style model's init, end to end: torch's default, patch(), materialize_\n"
              "       python -m fastinit checkpoint CONFIG OUT --seed S [--scheme own] [--dtype bfloat16]\n"
              "                                [--max-shard-size 5GB] [--rank R --world W] [--overwrite]\n"
              "  checkpoint: a model's initial weights written to a Hugging Face checkpoint, bounded memory\n"
              "       python -m fastinit verify OUT [--rank R --world W]\n"
              "  verify: recompute a checkpoint's tensors from its manifest, name those that differ\n"
              "       python -m fastinit warmup [--quiet]\n"
              "  warmup: compile every kernel for this machine into the on-disk cache (Docker images,\n"
              "  cluster nodes, read-only installs; run it as the user and with the NUMBA_CACHE_DIR of the fills)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from ._bench.cli import run
    run(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
