import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("media_synth", Path(__file__).parents[1] / "fixtures" / "media" / "synth.py")
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)


@pytest.fixture(scope="session")
def media_synth():
    return synth
