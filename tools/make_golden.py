"""Write tests/data/golden.json: sha256 of fastinit's output per case.

Run only when the stream changes on purpose (a new contract version):

    python tools/make_golden.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from golden_cases import CASES, digest  # noqa: E402

if __name__ == "__main__":
    out = {case_id: digest(case) for case_id, case in CASES.items()}
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "golden.json")
    with open(path, "w") as f:
        json.dump({"contract": 1, "sha256": out}, f, indent=1, sort_keys=True)
    print(f"wrote {len(out)} hashes to {os.path.normpath(path)}")
