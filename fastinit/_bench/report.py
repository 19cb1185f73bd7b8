"""The results of ``python -m fastinit bench`` as the user reads them: one
table per (device, dtype), G elements/s against size with the ratio to the
write ceiling; the targets at the largest size; one verdict line per
device."""

#: the targets are for buffers far larger than the caches: checked only
#: when the largest size is at least 2^this
TARGET_MIN_LOG2 = 26

#: What fastinit aims for at the largest size: (device, row, against,
#: ratio); the row's rate must be at least ``ratio`` times the other's.
#: "ceiling" is the write ceiling: on the CPU the fastest plain store into
#: the same buffer on all threads (non-temporal stores included), on a GPU
#: torch's ``fill_``.  A normal costs a log and a polynomial more than a
#: uniform draw from the same Philox words: its targets are shares of the
#: uniform rate.
TARGETS = [
    # on the CPU
    ("cpu", "fastinit zeros_ float32", "ceiling", 0.95),
    ("cpu", "fastinit uniform_ float32", "ceiling", 0.85),
    ("cpu", "fastinit normal_ float32", "fastinit uniform_ float32", 0.5),
    ("cpu", "fastinit he_normal_ float32", "fastinit uniform_ float32", 0.5),
    ("cpu", "fastinit normal_ bfloat16", "fastinit uniform_ bfloat16", 0.5),
    ("cpu", "fastinit trunc_normal_ float32", "fastinit uniform_ float32", 0.45),
    ("cpu", "fastinit normal_ float64", "fastinit uniform_ float64", 0.5),
    # on a GPU, a multiple of the same draw by torch or CuPy
    ("cuda", "fastinit normal_ float32", "torch normal_ float32", 1.5),
    ("cuda", "fastinit he_normal_ float32", "torch normal_ float32", 1.5),
    ("cuda", "fastinit uniform_ float32", "torch uniform_ float32", 1.15),
    ("cuda", "fastinit trunc_normal_ float32", "torch trunc_normal_ float32", 7.0),
    ("cuda", "fastinit normal_ bfloat16", "torch normal_ bfloat16", 2.0),
    ("cuda", "fastinit normal_ float32", "cupy standard_normal(out=) float32", 1.0),
]


def _name(r):
    return f"{r['library']} {r['method']}".strip()


def target_text(row, against, need):
    """A target in the user's words: "zeros_ float32 at >= 0.95 of the
    write ceiling", "normal_ float32 at >= 0.50 of uniform_ float32's rate",
    "normal_ float32 >= 1.50x torch normal_ float32"."""
    what = row.split(" ", 1)[1]
    if against == "ceiling":
        return f"{what} at >= {need:.2f} of the write ceiling"
    if against.startswith("fastinit "):
        return f"{what} at >= {need:.2f} of {against.split(' ', 1)[1]}'s rate"
    return f"{what} >= {need:.2f}x {against}"


def print_table(results, devices, dtypes, sizes):
    big = max(sizes)
    for device in devices:
        for dtype in dtypes:
            rs = [r for r in results if r["device"] == device and r["dtype"] == dtype]
            if not rs:
                continue
            names = list(dict.fromkeys(_name(r) for r in rs))
            print(f"\n{device} {dtype}: G elements/s" + " " * 10 + "".join(f"{'2^' + str(s):>9s}" for s in sizes)
                  + f"   vs ceiling at 2^{big}")
            for name in names:
                by = {r["log2"]: r for r in rs if _name(r) == name}
                cells = "".join(f"{by[s]['g_per_s']:9.3f}" if s in by else f"{'-':>9s}" for s in sizes)
                ratio = f"{by[big]['ratio_to_fill']:8.2f}" if big in by else f"{'-':>8s}"
                print(f"  {name:40s}{cells}   {ratio}")


def _rate(results, device, name, dtype, log2, key="g_per_s"):
    for r in results:
        if r["device"] == device and _name(r) == name and r["dtype"] == dtype and r["log2"] == log2:
            return r[key]
    return None


def check(results, devices):
    """The ``TARGETS`` at the largest size (when it is at least
    2^``TARGET_MIN_LOG2``), printed, and one verdict line per device."""
    targets, lines = [], []
    for device in devices:
        rs = [r for r in results if r["device"] == device]
        big = max(r["log2"] for r in rs)
        normal = _rate(results, device, "fastinit normal_", "float32", big)
        if normal is not None:
            parts = [f"normal_ f32 on {device} at 2^{big}:"]
            for peer in ("numpy standard_normal(out=)", "torch normal_", "cupy standard_normal(out=)",
                         "jax random.normal (allocates)"):
                pr = _rate(results, device, peer, "float32", big)
                if pr:
                    parts.append(f"{normal / pr:.1f}x {peer.split()[0]},")
            parts.append(f"{normal / _rate(results, device, 'fastinit normal_', 'float32', big, 'fill_g_per_s'):.2f}"
                         " of the write ceiling")
            lines.append(" ".join(parts))
        if big < TARGET_MIN_LOG2:
            continue
        for dev, row, peer, need in TARGETS:
            if dev != device:
                continue
            name, dtype = row.rsplit(" ", 1)
            a = _rate(results, device, name, dtype, big)
            if peer == "ceiling":
                against = f"write ceiling {dtype}"
                b = _rate(results, device, name, dtype, big, "fill_g_per_s")
            else:
                against = peer
                b = _rate(results, device, *peer.rsplit(" ", 1), big)
            if a is None or b is None:
                continue
            targets.append({"device": device, "row": row, "against": against, "ratio": a / b,
                            "required": need, "target": target_text(row, peer, need), "met": a / b >= need})
    if targets:
        print("\ntargets (ratios at the largest size):")
        for t in targets:
            print(f"  {t['device']:4s} {t['row']:34s} {t['ratio']:6.2f}x {t['against']:34s} "
                  f"(target >= {t['required']:.2f}) {'ok' if t['met'] else 'BELOW'}")
        lines.append(f"targets: {sum(t['met'] for t in targets)} of {len(targets)} met")
    return targets, lines
