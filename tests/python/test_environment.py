"""test_environment.py: the pinned Python environment is the one the tests run in.

Every package of python/requirements.lock is installed at exactly its pinned version, and torch
runs on this machine's CPU whether or not a GPU is present (PyPI's torch is a CUDA build).
"""
import importlib.metadata as md
import os
import pathlib

ROOT = pathlib.Path(os.environ.get("MOESCOPE_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))


def pinned():
    for line in (ROOT / "python" / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            yield name, version


def test_every_pin_is_installed_at_its_version():
    wrong = []
    for name, version in pinned():
        try:
            got = md.version(name)
        except md.PackageNotFoundError:
            got = None
        if got != version:
            wrong.append(f"{name}: pinned {version}, installed {got}")
    assert not wrong, "\n".join(wrong)


def test_torch_runs_on_the_cpu():
    import torch
    import transformers

    assert torch.__version__.startswith("2."), torch.__version__
    assert transformers.__version__.startswith("5."), transformers.__version__
    a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert torch.equal(a @ a.T, torch.tensor([[14., 38., 62.], [38., 126., 214.], [62., 214., 366.]]))
