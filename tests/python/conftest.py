"""conftest.py: the Python tests that start the moescope binary (Hugging Face fixtures and
export, tokenizer oracle) keep its per-machine probe cache (train.dtype = auto) in a directory of
this test session, never the user's ~/.cache/moescope (as tests/test_main.cpp does for C++)."""
import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_moescope_cache(tmp_path_factory):
    old = os.environ.get("MOESCOPE_CACHE")
    os.environ["MOESCOPE_CACHE"] = str(tmp_path_factory.mktemp("moescope-cache"))
    yield
    if old is None:
        os.environ.pop("MOESCOPE_CACHE", None)
    else:
        os.environ["MOESCOPE_CACHE"] = old
