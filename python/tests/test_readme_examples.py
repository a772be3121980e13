"""test_readme_examples.py: the README's "Watch your own PyTorch training" examples run as
written (in a scratch directory), and their run directories hold moescope records."""
import json
import os
import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def examples():
    text = open(README).read()
    sec = text[text.index("## Watch your own PyTorch training"):]
    sec = sec[:sec.index("\n## ", 5)]
    return re.findall(r"```python\n(.*?)```", sec, re.S)


def run_example(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


def train_records(path):
    with open(path) as f:
        return [r for r in map(json.loads, f) if r["type"] == "train"]


def test_two_examples_exist():
    assert len(examples()) == 2


def test_trainer_example(tmp_path, monkeypatch):
    run_example(examples()[0], tmp_path, monkeypatch)
    recs = train_records(tmp_path / "runs/qwen3-moe/metrics.jsonl")
    assert [r["step"] for r in recs] == [10, 20]
    assert len(recs[0]["moe"]) == 2


def test_plain_loop_example(tmp_path, monkeypatch):
    run_example(examples()[1], tmp_path, monkeypatch)
    recs = train_records(tmp_path / "runs/plain/metrics.jsonl")
    assert [r["step"] for r in recs] == [10, 20, 30, 40, 50]
    assert sum(recs[0]["moe"][0]["counts"]) == 10 * 64 * 2
