"""watch_overhead.py: the Python watcher's cost per training step (moescope.watch on a tiny
qwen3_moe from transformers), as a ratio against the same loop unwatched, in one process.

    PYTHONPATH=build/python OMP_NUM_THREADS=1 .venv/bin/python bench/watch_overhead.py [--device cpu|cuda]

Two identical models and optimizers, one watched (log_every 10, co-activation every 10th
record as by default); the loops alternate in blocks of `--block` steps, so drift in the
machine's speed hits both alike. Reported: the mean step time of each and the overhead
(watched / plain - 1), including the record every 10 steps (its one host transfer, the C++
metrics and the file writes); and, less exposed to a shared machine's noise, the watcher's own
time (its forward hooks, whole, and step(), timed inside the watched loop) as a share of the plain step time.
Target: at most 3% of the step time.
"""
import argparse
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/python/tests")
from conftest import tiny_qwen3_moe  # noqa: E402

import moescope  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    a = ap.parse_args()
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    plain, watched = tiny_qwen3_moe(layers=a.layers).to(dev), tiny_qwen3_moe(layers=a.layers).to(dev)
    opts = {id(m): torch.optim.AdamW(m.parameters(), lr=1e-3) for m in (plain, watched)}
    tmp = tempfile.mkdtemp()
    own = [0.0]  # seconds inside the watcher (its hooks, whole, and step)

    def timed(fn):
        def f(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                own[0] += time.perf_counter() - t0
        return f

    # the hooks watch() registers, timed whole (their checks and the observe inside them)
    mw = sys.modules["moescope.watch"]  # the module (moescope.watch is the function)
    hook, loss_hook = mw._hook, mw._loss_hook
    mw._hook = lambda *args: timed(hook(*args))
    mw._loss_hook = lambda *args: timed(loss_hook(*args))
    w = moescope.watch(watched, tmp + "/run", log_every=10)
    w.step = timed(w.step)
    g = torch.Generator().manual_seed(0)
    data = [torch.randint(0, 64, (a.batch, a.seq), generator=g).to(dev) for _ in range(16)]
    times = {"plain": [], "watched": []}

    def step(model, i, watch):
        x = data[i % len(data)]
        t0 = time.perf_counter()
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opts[id(model)].step()
        opts[id(model)].zero_grad()
        if watch:
            w.step()
        sync()
        return time.perf_counter() - t0

    for i in range(20):  # warm-up
        step(plain, i, False), step(watched, i, True)
    own[0] = 0.0
    i = 0
    while i < a.steps:
        for _ in range(a.block):
            times["plain"].append(step(plain, i, False))
        for _ in range(a.block):
            times["watched"].append(step(watched, i, True))
        i += a.block
    # Whole blocks of 10 steps (each holds one record), so the mean includes the record's cost.
    mp, mw = statistics.mean(times["plain"]), statistics.mean(times["watched"])
    print(f"device {dev}, {a.layers} MoE layers, batch {a.batch}x{a.seq}, {a.steps} steps each, log_every 10")
    print(f"plain   mean step {mp * 1e3:.2f} ms (median {statistics.median(times['plain']) * 1e3:.2f})")
    print(f"watched mean step {mw * 1e3:.2f} ms (median {statistics.median(times['watched']) * 1e3:.2f})")
    print(f"overhead {100 * (mw / mp - 1):+.2f}% of the step time (target <= 3%)")
    print(f"watcher's own time {own[0] / len(times['watched']) * 1e3:.3f} ms per step = "
          f"{100 * own[0] / sum(times['plain']):.2f}% of the plain step time")


if __name__ == "__main__":
    main()
