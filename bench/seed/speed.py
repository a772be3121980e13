#!/usr/bin/env python3
"""speed.py: REF-CPU training throughput of the seed project's own PyTorch model against moescope's,
side by side in one run (issue 30; DEVELOPERS.md "REF-CPU").

The seed (github:abi2024/DeepSeek-V3-Architecture-Implementation) is imported from its tree
(--seed-src or $MOESCOPE_SEED_SRC, holding src/model.py and src/config.py), never copied. Its model
is built at REF-CPU's shape (configs/ref-cpu.toml): width 256, 4 layers, 4 heads, latent 32
(kv_compression_ratio 8), 1 shared + 8 routed experts of hidden 512, top-2, vocabulary 256,
batch 8 x 256. Its attention keeps its own head width (256/4 = 64 for q, k and v, no RoPE), so
it does somewhat more work per token than moescope's MLA (nope 32 + rope 16, v 32).

A training step is the seed's train.py step: random windows of TinyShakespeare, forward with
loss, backward, clip 1.0, AdamW (lr 3e-4). Cells, each at every --threads count:
  fp32      the model as the seed runs it on a CPU
  bf16      the same under torch.autocast("cpu", dtype=torch.bfloat16)
  compile   torch.compile(model) (inductor, fp32), when it compiles on this CPU
  compile-bf16  torch.compile under autocast bf16
moescope's cells run build/bench/train_step_bench (the real Trainer at configs/ref-cpu.toml) in a
subprocess, interleaved with the seed's round by round, so both sides see the same machine.
Per cell: 3 warm-up steps (plus compilation), then --steps timed steps per round; the median step
time of all rounds gives tokens/s. Also prints torch's own 1024^3 matmul peaks (fp32, bf16) in this
process at all threads, and every cell's share of the better one with FLOPs per token counted
for each model (moescope's from src/model/flops.h, as train_step_bench prints them).

    MOESCOPE_SEED_SRC=/work/seed-src .venv/bin/python bench/seed/speed.py \
        --moescope build/bench/train_step_bench --threads 1,2 --steps 20 --rounds 2
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# REF-CPU (configs/ref-cpu.toml); batch 8 x 256.
SHAPE = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512, num_experts=8,
             num_shared_experts=1, top_k=2, kv_compression_ratio=8, vocab_size=256, max_seq_length=256)
BATCH, SEQ = 8, 256


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed-src", default=os.environ.get("MOESCOPE_SEED_SRC"))
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt"))
    p.add_argument("--threads", default=f"1,{os.cpu_count()}")
    p.add_argument("--modes", default="fp32,bf16,compile,compile-bf16")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--moescope", default=os.path.join(ROOT, "build", "bench", "train_step_bench"),
                   help="train_step_bench binary ('' to skip moescope's cells)")
    p.add_argument("--moescope-dtypes", default="fp32,bf16")
    return p.parse_args(argv)


def import_seed(path):
    if not path or not os.path.isfile(os.path.join(path, "src", "model.py")):
        raise SystemExit("speed: give the seed's tree (with src/model.py) by --seed-src or MOESCOPE_SEED_SRC")
    sys.path.insert(0, os.path.abspath(path))
    from src.config import ProjectConfig  # noqa: E402  (the seed's)
    from src.model import DeepSeekForCausalLM  # noqa: E402
    return ProjectConfig, DeepSeekForCausalLM


def seed_flops_per_token(c):
    """Training FLOPs per token of the seed's model: 3 x the forward's (2 per multiply-add), causal attention
    counted over half the window, as src/model/flops.h counts moescope's."""
    d, h, r, f, L = c.hidden_size, c.hidden_size, c.hidden_size // c.kv_compression_ratio, c.intermediate_size, \
        c.num_hidden_layers
    attn_w = d * h + d * r + r * 2 * h + h * d                # q, kv_down, kv_up, o
    moe_w = (c.num_shared_experts + c.top_k) * 3 * d * f + d * c.num_experts
    attn_sv = 2 * SEQ * h / 2                                  # q.k and p.v over causal half (per token)
    fwd = 2 * (L * (attn_w + moe_w) + d * c.vocab_size) + L * 2 * attn_sv
    return 3 * fwd


def matmul_peak(dtype, n=1024, secs=1.0):
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < secs:
        a @ b
        k += 1
    return 2 * n ** 3 * k / (time.perf_counter() - t0) / 1e9


class SeedCell:
    """One (mode, threads) cell of the seed's model: built once, stepped round by round."""

    def __init__(self, cls_cfg, cls_model, data, mode, threads):
        self.mode, self.threads, self.data = mode, threads, data
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.cfg = cls_cfg(batch_size=BATCH, device="cpu", dtype=torch.float32, use_gradient_checkpointing=False,
                           expert_bias_update_rate=0.001, router_jitter_noise=0.0, learning_rate=3e-4, **SHAPE)
        self.model = cls_model(self.cfg).train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=3e-4)
        self.fwd = torch.compile(self.model) if mode.startswith("compile") else self.model
        self.bf16 = mode.endswith("bf16")
        self.times = []
        for _ in range(3):
            self.step()

    def step(self):
        ix = torch.randint(len(self.data) - SEQ - 1, (BATCH,))
        x = torch.stack([self.data[i:i + SEQ] for i in ix])
        y = torch.stack([self.data[i + 1:i + SEQ + 1] for i in ix])
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            _, loss, _ = self.fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()

    def run(self, steps):
        torch.set_num_threads(self.threads)
        for _ in range(steps):
            t0 = time.perf_counter()
            self.step()
            self.times.append(time.perf_counter() - t0)

    def tokens_per_s(self):
        return BATCH * SEQ / statistics.median(self.times)


def moescope_round(binary, threads, dtypes, steps):
    """One round of moescope's cells; returns {(dtype, threads): tokens/s} and the peaks it printed."""
    out = subprocess.run([binary, "--models", "moe", "--threads", ",".join(map(str, threads)), "--dtypes",
                          ",".join(dtypes), "--steps", str(steps), "--rounds", "1"],
                         check=True, capture_output=True, text=True).stdout
    cells = {}
    for line in out.splitlines():
        m = re.match(r"moe\s+(\w+)\s+(\d+)\s+\d+\s+[\d.]+\s+([\d.]+)\s+([\d.]+)", line)
        if m:  # tokens/s and achieved GFLOP/s
            cells[(m.group(1), int(m.group(2)))] = (float(m.group(3)), float(m.group(4)))
    peaks = re.search(r"fp32 ([\d.]+) GFLOP/s, bf16 ([\d.]+)", out)
    cpu = next((l for l in out.splitlines() if l.startswith("cpu:")), "")
    return cells, (float(peaks.group(1)), float(peaks.group(2))) if peaks else None, cpu


def main(argv=None):
    a = parse_args(argv)
    threads = [int(t) for t in a.threads.split(",") if t]
    modes = [m for m in a.modes.split(",") if m]
    ProjectConfig, Model = import_seed(a.seed_src)
    with open(a.data, encoding="utf-8") as f:
        text = f.read()
    data = torch.tensor([min(ord(c), 255) for c in text], dtype=torch.long)
    torch.set_num_threads(max(threads))
    p32, p16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    print(f"torch {torch.__version__}; torch matmul peak (1024^3, {max(threads)} threads): fp32 {p32:.1f}, "
          f"bf16 {p16:.1f} GFLOP/s")
    cells, failed = {}, {}
    for mode in modes:
        for t in threads:
            try:
                cells[(mode, t)] = SeedCell(ProjectConfig, Model, data, mode, t)
            except Exception as e:  # torch.compile needs a working inductor toolchain
                failed[(mode, t)] = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    ms, ms_peaks, cpu = {}, None, ""
    for _ in range(a.rounds):
        for c in cells.values():
            c.run(a.steps)
        if a.moescope:
            got, ms_peaks, cpu = moescope_round(a.moescope, threads, a.moescope_dtypes.split(","), a.steps)
            for k, v in got.items():
                ms.setdefault(k, []).append(v)
    if cpu:
        print(cpu)
    if ms_peaks:
        print(f"moescope's matmul peak (its LibTorch, same machine): fp32 {ms_peaks[0]:.1f}, bf16 {ms_peaks[1]:.1f} GFLOP/s")
    fl_seed = seed_flops_per_token(next(iter(cells.values())).cfg) if cells else 0
    fl_ms = statistics.median(g * 1e9 / t for v in ms.values() for t, g in v) if ms else 0
    peak = max(p32, p16, *(ms_peaks or ()))
    print(f"FLOPs per token: seed {fl_seed / 1e6:.1f} M, moescope {fl_ms / 1e6:.1f} M; shares of the best peak "
          f"measured, {peak:.1f} GFLOP/s")
    print(f"{'model':10s} {'mode':13s} {'threads':>7s} {'tokens/s':>9s} {'% peak':>7s}")
    best_seed, best_ms = 0.0, 0.0
    for (mode, t), c in cells.items():
        tps = c.tokens_per_s()
        best_seed = max(best_seed, tps)
        print(f"{'seed':10s} {mode:13s} {t:7d} {tps:9.0f} {100 * tps * fl_seed / 1e9 / peak:6.1f}%")
    for (mode, t), why in failed.items():
        print(f"{'seed':10s} {mode:13s} {t:7d}   failed: {why}")
    for (dt, t), v in sorted(ms.items()):
        tps = statistics.median(t for t, _ in v)
        best_ms = max(best_ms, tps)
        print(f"{'moescope':10s} {dt:13s} {t:7d} {tps:9.0f} {100 * tps * fl_ms / 1e9 / peak:6.1f}%")
    if best_seed and best_ms:
        print(f"best against best: moescope {best_ms:.0f} / seed {best_seed:.0f} = {best_ms / best_seed:.2f}x")


if __name__ == "__main__":
    main()
