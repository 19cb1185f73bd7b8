"""``python -m fastinit bench --plot PATH``: a PNG of G elements/s against
size, one panel per (device, dtype), the write ceiling dashed in black."""
from .report import _name


def plot(results, devices, dtypes, path, m):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [(d, dt) for d in devices for dt in dtypes
              if any(r["device"] == d and r["dtype"] == dt for r in results)]
    fig, axes = plt.subplots(1, len(panels), figsize=(7.2 * len(panels), 4.4), squeeze=False)
    for ax, (device, dtype) in zip(axes[0], panels):
        rs = [r for r in results if r["device"] == device and r["dtype"] == dtype]
        names = list(dict.fromkeys(_name(r) for r in rs))
        colors = plt.get_cmap("tab20").colors
        style = {"fastinit": ("-", "o", 2.0), "numpy": (":", "s", 1.2), "torch": ("-.", "^", 1.2),
                 "jax": ("--", "v", 1.2), "cupy": ("--", "D", 1.2)}
        for i, name in enumerate(names):
            pts = sorted((r["log2"], r["g_per_s"]) for r in rs if _name(r) == name)
            xs, ys = [2 ** p[0] for p in pts], [p[1] for p in pts]
            if i == 0:
                ax.plot(xs, ys, "k--", lw=2.2, label=f"{name} (write ceiling)")
            else:
                ls, mk, lw = style.get(name.split()[0], ("-", "o", 1.0))
                ax.plot(xs, ys, ls=ls, marker=mk, ms=3.5, lw=lw, color=colors[(i - 1) % len(colors)],
                        label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("elements")
        ax.set_ylabel("G elements/s")
        where = m.get("gpu") if device == "cuda" else f"{m['cpu']}, {m['numba_threads']} threads"
        ax.set_title(f"{dtype} on {device}\n{where}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
