import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def sentinel():
    """A float32 buffer pattern used to show that a call wrote nothing."""
    return 12345.5
