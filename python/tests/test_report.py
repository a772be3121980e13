"""test_report.py: `moescope report` on a run directory written by the Python watcher (a tiny
qwen3_moe trained in a plain loop): the command succeeds, its health table (embedded in the
page) is the last record's, layer by layer, and it draws the heatmap PNG."""
import json
import os
import subprocess

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
import moescope  # noqa: E402

from conftest import tiny_qwen3_moe, token_batches  # noqa: E402


def test_report_reads_a_python_written_run(tmp_path, moescope_binary):
    binary = moescope_binary
    model = tiny_qwen3_moe()
    run = str(tmp_path / "run")
    w = moescope.watch(model, run, log_every=2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for x in token_batches(6):
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        w.step()
    out = tmp_path / "report.html"
    r = subprocess.run([binary, "report", "--run", run, "-o", str(out), "--png", str(tmp_path / "png")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    with open(os.path.join(run, "metrics.jsonl")) as f:
        last = [r for r in map(json.loads, f) if r["type"] == "train"][-1]
    assert last["step"] == 6
    # the page's embedded data: the health table is the last record's, layer by layer
    start = html.index("window.MOESCOPE_STATIC = ") + len("window.MOESCOPE_STATIC = ")
    static, _ = json.JSONDecoder().raw_decode(html[start:])
    health = next(v for k, v in static["responses"].items() if k.startswith("/api/health"))
    assert [l["layer"] for l in health["layers"]] == [l["layer"] for l in last["moe"]] == [0, 1]
    for h, l in zip(health["layers"], last["moe"]):
        assert h["entropy_norm"] == l["entropy_norm"]
        assert h["max_token_share"] == l["max_token_share"]
    assert os.path.getsize(tmp_path / "png" / "heatmap.png") > 0
