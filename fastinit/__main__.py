"""Command line: ``python -m fastinit bench [options]``."""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "bench":
        print("usage: python -m fastinit bench [--device cpu|cuda] [--log2-size N] [--repeat R] [--no-torch]\n"
              "  bench: fastinit's fillers against NumPy (and torch when installed) and a plain fill;\n"
              "  --device cuda: on an NVIDIA GPU, against torch, CuPy and JAX")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    rest = list(argv[1:])
    device = "cpu"
    if "--device" in rest:
        i = rest.index("--device")
        device = rest[i + 1] if i + 1 < len(rest) else ""
        del rest[i:i + 2]
    if device == "cuda":
        from ._bench_cuda import run
    elif device == "cpu":
        from ._bench import run
    else:
        print(f"--device must be cpu or cuda; got {device!r}")
        return 2
    run(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
