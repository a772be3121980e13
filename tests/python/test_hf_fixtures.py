"""test_hf_fixtures.py: the committed Hugging Face fixtures are what transformers writes and computes.

scripts/make_hf_fixtures.py is run into a temporary directory with the pinned environment. The
same fixture directories and files must come out; config, tokenizer and index files byte for
byte; the safetensors with the same tensors, dtypes and shapes and the same values (within 1e-6:
another CPU's float kernels may round differently; on the machine that made them the files are
byte-identical); expected.json with the same ids, tokens and keys, and every number within 1e-4
relative. So the numbers the C++ tests compare against are transformers' own, and a changed pin
or script shows up here.
"""
import json
import math
import os
import pathlib
import subprocess
import sys

import torch
from safetensors import safe_open

ROOT = pathlib.Path(os.environ.get("MOESCOPE_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))


def json_diff(a, b, where):
    if isinstance(a, dict) and isinstance(b, dict):
        if sorted(a) != sorted(b):
            return [f"{where}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in json_diff(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in json_diff(x, y, f"{where}[{i}]")][:5]
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5)
        return [] if ok else [f"{where}: {a} != {b}"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def tensors_diff(a, b, where):
    with safe_open(a, "pt") as fa, safe_open(b, "pt") as fb:
        if sorted(fa.keys()) != sorted(fb.keys()):
            return [f"{where}: tensor names differ"]
        out = []
        for k in fa.keys():
            x, y = fa.get_tensor(k), fb.get_tensor(k)
            if x.dtype != y.dtype or x.shape != y.shape or not torch.allclose(x.float(), y.float(), rtol=1e-6, atol=1e-6):
                out.append(f"{where}:{k}")
        return out


def test_regenerated_fixtures_match_the_committed_ones(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_hf_fixtures.py"), str(tmp_path)], check=True,
                   capture_output=True)
    committed = ROOT / "tests" / "fixtures" / "hf"
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in committed.iterdir())
    differ = []
    for name in made:
        a, b = tmp_path / name, committed / name
        files = sorted(p.name for p in a.iterdir())
        if files != sorted(p.name for p in b.iterdir()):
            differ.append(f"{name}: files {files}")
            continue
        for f in files:
            if (a / f).read_bytes() == (b / f).read_bytes():
                continue
            if f == "expected.json":
                differ += json_diff(json.loads((a / f).read_text()), json.loads((b / f).read_text()), f"{name}/{f}")
            elif f.endswith(".safetensors"):
                differ += tensors_diff(a / f, b / f, f"{name}/{f}")
            else:
                differ.append(f"{name}/{f}")
    assert not differ, "regenerated fixtures differ from the committed ones: " + ", ".join(differ[:20])
