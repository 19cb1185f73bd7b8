"""Command line: ``python -m fastinit bench [options]``."""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "bench":
        print("usage: python -m fastinit bench [--log2-size N] [--repeat R] [--no-torch]\n"
              "  bench: fastinit's fillers against NumPy (and torch when installed) and a plain fill")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from ._bench import run
    run(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
