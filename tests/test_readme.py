"""Every ```python block of README.md runs, so the README cannot rot.
(tests/test_docs.py runs those of the documentation site with the same
parser and markers.)

Each fenced block whose opening fence is exactly ```python is one test
case, named by the README.md line of its first line of code
(``test_block[line14]``).  It runs as written, with ``exec``, in a fresh
namespace, in a fresh ``tmp_path`` as the working directory (files it
writes, such as a Zarr store, land there); a traceback's line numbers are
README.md's.  Other fences (```bash, plain ```) are not run.

Markers: an HTML comment (invisible on GitHub) on the line right before the
opening fence, no blank line between::

    <!-- readme-test: needs=torch,transformers -->
    <!-- readme-test: skip reason="needs an NVIDIA GPU" -->

- ``needs=a,b``: importable modules the block needs; the case is skipped
  (``pytest.importorskip``, which names the module) when one is absent.
- ``skip reason="..."``: never run here (a GPU, a large machine); the
  reason is required and is the skip's reason.

Both may stand in one comment (``needs=torch skip reason="..."``).  A
``readme-test`` comment that does not parse, or that is not followed by a
```python fence, fails the test module: a typo must not pass silently.  A
block with no marker needs nothing beyond fastinit's own dependencies
(NumPy, numba, ml_dtypes).
"""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*readme-test:(.*?)-->\s*$")
_MARKER_START = re.compile(r"^\s*<!--\s*readme-test")
_OPTION = re.compile(r'\s*(?:needs=([\w.]+(?:,[\w.]+)*)|skip\s+reason="([^"]+)")')


def _parse_marker(text, lineno, name="README.md"):
    """A marker's body -> (needs, skip reason or None)."""
    needs, reason, pos = [], None, 0
    while text[pos:].strip():
        m = _OPTION.match(text, pos)
        if m is None:
            raise ValueError(f"{name}:{lineno}: cannot parse readme-test marker at {text[pos:].strip()!r}")
        if m.group(1):
            needs += m.group(1).split(",")
        else:
            reason = m.group(2)
        pos = m.end()
    if not needs and reason is None:
        raise ValueError(f"{name}:{lineno}: empty readme-test marker")
    return needs, reason


def parse_blocks(text, name="README.md"):
    """The ```python blocks of a Markdown text: a list of dicts with
    ``line`` (1-based line of the first line of code), ``source``, ``needs``
    and ``skip`` (a reason or None).  ``name``: the file, for messages."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m is None:
            if _MARKER_START.match(line):
                # a marker must sit on the line right before a ```python fence
                nxt = _FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
                if _MARKER.match(line) is None or nxt is None or nxt.group(2) != "python":
                    raise ValueError(f"{name}:{i + 1}: a readme-test marker must be a whole-line "
                                     f"HTML comment right before a ```python fence: {line!r}")
            i += 1
            continue
        fence, lang = m.group(1), m.group(2)
        start = i + 1
        end = start
        while end < len(lines) and not (lines[end].strip().startswith(fence[0] * len(fence))
                                        and lines[end].strip().strip(fence[0]) == ""):
            end += 1
        if end == len(lines):
            raise ValueError(f"{name}:{i + 1}: fence {fence}{lang} is never closed")
        if lang == "python":
            needs, skip = [], None
            marker = _MARKER.match(lines[i - 1]) if i > 0 else None
            if marker:
                needs, skip = _parse_marker(marker.group(1), i, name)
            blocks.append(dict(line=start + 1, source="\n".join(lines[start:end]) + "\n",
                               needs=needs, skip=skip))
        i = end + 1
    return blocks


BLOCKS = parse_blocks(README.read_text(encoding="utf-8"))


def test_the_parser_finds_every_python_block():
    text = README.read_text(encoding="utf-8")
    blocks = parse_blocks(text)         # the same text as the fences counted here
    fences = re.findall(r"^```python\s*$", text, re.M)
    assert len(fences) >= 5, "README.md has fewer ```python blocks than it ever had: is this the README?"
    assert len(blocks) >= len(fences) and len(blocks) == len(BLOCKS)
    assert all(b["source"].strip() for b in blocks), "an empty ```python block"
    # every marker comment in the file belongs to one parsed block
    markers = [n for n, line in enumerate(text.splitlines(), 1) if _MARKER_START.match(line)]
    assert sorted(b["line"] - 2 for b in blocks if b["needs"] or b["skip"]) == markers


def test_parse_blocks_reads_markers_and_rejects_bad_ones():
    md = ("text\n```bash\necho\n```\n"
          '<!-- readme-test: needs=torch,transformers skip reason="needs a GPU" -->\n'
          "```python\nx = 1\n```\n\n```python\ny = 2\n```\n")
    a, b = parse_blocks(md)
    assert (a["line"], a["source"], a["needs"], a["skip"]) == (7, "x = 1\n", ["torch", "transformers"], "needs a GPU")
    assert (b["line"], b["source"], b["needs"], b["skip"]) == (11, "y = 2\n", [], None)
    for bad in ("<!-- readme-test: skip -->\n```python\nx\n```\n",            # no reason
                "<!-- readme-test: needs= -->\n```python\nx\n```\n",
                "<!-- readme-test: need=torch -->\n```python\nx\n```\n",      # a typo
                "<!-- readme-test: needs=torch -->\n\n```python\nx\n```\n",   # not right before
                "<!-- readme-test: needs=torch -->\n```bash\nx\n```\n",
                "```python\nx\n"):                                            # never closed
        with pytest.raises(ValueError):
            parse_blocks(bad)


def run_block(block, page, tmp_path, monkeypatch):
    """Run one parsed block of ``page`` (a path relative to the repository,
    for messages) as its markers say, in ``tmp_path``."""
    if block["skip"]:
        pytest.skip(f"{page}:{block['line']}: {block['skip']}")
    for module in block["needs"]:
        pytest.importorskip(module, reason=f"{page}:{block['line']} needs {module}")
    monkeypatch.chdir(tmp_path)
    # padded so that a traceback's line numbers are the page's
    code = compile("\n" * (block["line"] - 1) + block["source"], str(page), "exec")
    exec(code, {"__name__": "__readme__"})


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b['line']}" for b in BLOCKS])
def test_block(block, tmp_path, monkeypatch):
    run_block(block, README.name, tmp_path, monkeypatch)
