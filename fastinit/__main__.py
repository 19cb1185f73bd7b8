"""Command line: ``python -m fastinit bench [options]`` and ``python -m fastinit bench-model [options]``."""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench-model":
        from ._bench_model import run as run_model
        run_model(argv[1:])
        return 0
    if not argv or argv[0] != "bench":
        print("usage: python -m fastinit bench [--device cpu|cuda|all] [--sizes 10,16,20,24] [--dtypes ...]\n"
              "                                [--peers numpy,torch,jax,cupy|all|none] [--json PATH] [--plot PATH]\n"
              "                                [--quick] [--repeat R]\n"
              "  bench: fastinit against NumPy, torch, JAX (CuPy on a GPU) and a plain fill of the same buffer;\n"
              "  python -m fastinit bench --help for the details\n"
              "       python -m fastinit bench-model [--size 1b] [--dtypes float32,bfloat16] [--device cpu|cuda]\n"
              "  bench-model: a Llama-style model's init, end to end: torch's default, patch(), materialize_")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from ._bench import run
    run(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
