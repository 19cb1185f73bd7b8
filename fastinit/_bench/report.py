"""The results of ``python -m fastinit bench`` as the user reads them: one
table per (device, dtype), G elements/s against size with the ratio to the
write ceiling; the targets at the largest size; one verdict line per
device."""

#: the targets are for buffers far larger than the caches: checked only
#: when the largest size is at least 2^this
TARGET_MIN_LOG2 = 26

#: What fastinit aims for at the largest size: (device, row, against,
#: ratio); the row's rate must be at least ``ratio`` times the other's.
#: "fill" is the write ceiling, a plain fill of the same buffer (NumPy's
#: ``fill`` on the CPU, torch's ``fill_`` on a GPU); "fill float32" the
#: ceiling of a float32 buffer of as many elements.
TARGETS = [
    # on the CPU, a share of the write ceiling
    ("cpu", "fastinit uniform_ float32", "fill", 0.55),
    ("cpu", "fastinit normal_ float32", "fill", 0.30),
    ("cpu", "fastinit he_normal_ float32", "fill", 0.30),
    ("cpu", "fastinit trunc_normal_ float32", "fill", 0.25),
    ("cpu", "fastinit normal_ bfloat16", "fill float32", 0.30),
    ("cpu", "fastinit normal_ float64", "fill", 0.20),
    ("cpu", "fastinit zeros_ float32", "fill", 0.95),
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
    """A target in the user's words: "normal_ float32 at >= 0.30 of the
    write ceiling", "normal_ float32 >= 1.50x torch normal_ float32"."""
    what = row.split(" ", 1)[1]
    if against == "fill":
        return f"{what} at >= {need:.2f} of the write ceiling"
    if against == "fill float32":
        return f"{what} at >= {need:.2f} of the float32 write ceiling"
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
                  + f"   vs fill at 2^{big}")
            for name in names:
                by = {r["log2"]: r for r in rs if _name(r) == name}
                cells = "".join(f"{by[s]['g_per_s']:9.3f}" if s in by else f"{'-':>9s}" for s in sizes)
                ratio = f"{by[big]['ratio_to_fill']:8.2f}" if big in by else f"{'-':>8s}"
                print(f"  {name:40s}{cells}   {ratio}")


def _rate(results, device, name, dtype, log2):
    for r in results:
        if r["device"] == device and _name(r) == name and r["dtype"] == dtype and r["log2"] == log2:
            return r["g_per_s"]
    return None


def check(results, devices):
    """The ``TARGETS`` at the largest size (when it is at least
    2^``TARGET_MIN_LOG2``), printed, and one verdict line per device."""
    targets, lines = [], []
    for device in devices:
        rs = [r for r in results if r["device"] == device]
        big = max(r["log2"] for r in rs)
        fill = "fill" if device == "cpu" else "torch fill_"
        normal = _rate(results, device, "fastinit normal_", "float32", big)
        if normal is not None:
            parts = [f"normal_ f32 on {device} at 2^{big}:"]
            for peer in ("numpy standard_normal(out=)", "torch normal_", "cupy standard_normal(out=)",
                         "jax random.normal (allocates)"):
                pr = _rate(results, device, peer, "float32", big)
                if pr:
                    parts.append(f"{normal / pr:.1f}x {peer.split()[0]},")
            parts.append(f"{normal / _rate(results, device, fill, 'float32', big):.2f} of the write ceiling")
            lines.append(" ".join(parts))
        if big < TARGET_MIN_LOG2:
            continue
        for dev, row, peer, need in TARGETS:
            if dev != device:
                continue
            name, dtype = row.rsplit(" ", 1)
            if peer == "fill":
                pname, pdtype = fill, dtype
            elif peer == "fill float32":
                pname, pdtype = fill, "float32"
            else:
                pname, pdtype = peer.rsplit(" ", 1)
            a, b = _rate(results, device, name, dtype, big), _rate(results, device, pname, pdtype, big)
            if a is None or b is None:
                continue
            targets.append({"device": device, "row": row, "against": f"{pname} {pdtype}", "ratio": a / b,
                            "required": need, "target": target_text(row, peer, need), "met": a / b >= need})
    if targets:
        print("\ntargets (ratios at the largest size):")
        for t in targets:
            print(f"  {t['device']:4s} {t['row']:34s} {t['ratio']:6.2f}x {t['against']:34s} "
                  f"(target >= {t['required']:.2f}) {'ok' if t['met'] else 'BELOW'}")
        lines.append(f"targets: {sum(t['met'] for t in targets)} of {len(targets)} met")
    return targets, lines
