"""Golden sha256 hashes: any change of the stream fails loudly.

The hashes were written by tools/make_golden.py; regenerate them only with a
new contract version (docs/contract.md, section 5).
"""
import json
import os

import pytest

from golden_cases import CASES, digest

with open(os.path.join(os.path.dirname(__file__), "data", "golden.json")) as f:
    GOLDEN = json.load(f)


def test_every_case_has_a_hash():
    assert GOLDEN["contract"] == 1
    assert set(GOLDEN["sha256"]) == set(CASES)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_golden(case_id):
    assert digest(CASES[case_id]) == GOLDEN["sha256"][case_id]
