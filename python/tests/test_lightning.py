"""test_lightning.py: MoescopeLightningCallback on a Lightning Trainer (CPU, gradient
accumulation 2): one record per log_every optimizer steps whose counts equal the ids captured
independently, every micro-batch counted once; the headline metrics (moe/*) logged through the
LightningModule equal the last record's."""
import json
import os

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")
from moescope.integrations.lightning import MoescopeLightningCallback  # noqa: E402

from conftest import IdCapture, tiny_qwen3_moe  # noqa: E402


class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = tiny_qwen3_moe()

    def training_step(self, batch, i):
        return self.model(input_ids=batch, labels=batch).loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3)


def test_lightning_callback_counts(tmp_path):
    m = Module()
    cap = IdCapture(m)
    data = torch.utils.data.DataLoader(torch.randint(0, 64, (32, 16), generator=torch.Generator().manual_seed(0)),
                                       batch_size=4)
    run = str(tmp_path / "run")
    cb = MoescopeLightningCallback(run, log_every=2)
    pl.Trainer(max_steps=4, accumulate_grad_batches=2, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False, callbacks=[cb],
               default_root_dir=str(tmp_path)).fit(m, data)
    with open(os.path.join(run, "metrics.jsonl")) as f:
        recs = [r for r in map(json.loads, f) if r["type"] == "train"]
    assert [r["step"] for r in recs] == [2, 4]
    for L in cb.watcher.layers.values():
        logged = [sum(c) for c in zip(*[next(l for l in r["moe"] if l["layer"] == L.layer)["counts"] for r in recs])]
        assert logged == cap.counts(L.name, 8)
    assert sum(recs[0]["moe"][0]["counts"]) == 2 * 2 * 4 * 16 * 2
    assert json.load(open(os.path.join(run, "watch.json")))["framework"] == "lightning"


def test_lightning_callback_logs_the_headline_metrics(tmp_path):
    m = Module()
    data = torch.utils.data.DataLoader(torch.randint(0, 64, (16, 16), generator=torch.Generator().manual_seed(1)),
                                       batch_size=4)
    run = str(tmp_path / "run")
    cb = MoescopeLightningCallback(run, log_every=2)
    tr = pl.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, callbacks=[cb],
                    default_root_dir=str(tmp_path))
    tr.fit(m, data)
    with open(os.path.join(run, "metrics.jsonl")) as f:
        last = [r for r in map(json.loads, f) if r["type"] == "train"][-1]
    assert last["step"] == 4
    got = {k: float(v) for k, v in tr.callback_metrics.items() if k.startswith("moe/")}
    want = {"moe/entropy_norm_min": min(l["entropy_norm"] for l in last["moe"]),
            "moe/n_eff_min": min(l["n_eff"] for l in last["moe"]),
            "moe/maxvio_batch_max": last["moe_summary"]["maxvio_batch_max"],
            "moe/collapsed_layers": sum(l["status"] == "collapsed" for l in last["moe"]),
            "moe/dropping_layers": sum(l["status"] == "dropping" for l in last["moe"])}
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-6), k  # logged as float32 tensors by Lightning
