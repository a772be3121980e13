#!/usr/bin/env python3
"""compare.py: side-by-side tables of seed-harness runs (harness.py) or moescope trainer runs,
from their run logs only (metrics.jsonl, alerts.jsonl; seed_view.jsonl where present).

    python3 bench/seed/compare.py RUN [RUN ...] [--at 500,1000,1500]

Prints markdown:
  1. per run and MoE layer: the ground-truth label of docs/metrics.md (computed from the raw
     counts by bench/detector_suite/evaluate.py's `condition`, held for 3 intervals), the first
     step the collapse condition was met and held, the clauses met, the first step the
     detector's status was `collapsed`, the first critical alert, the last status;
  2. per run, layer and step in --at: entropy_norm, N_eff, largest token share, starved experts,
     status, the seed monitor's largest top-1 share, and the val loss at that step;
  3. the loss curves: train loss (interval mean) and val loss of every run at the eval steps.
With --brief STEP, one row per run instead, over its records up to STEP only, so runs of
different lengths compare at equal steps (the README's ablation table): each layer's ground-truth
label (c collapsed, t transient, h healthy), the detector's status at STEP, the largest token
share of every layer at STEP, and the val loss at STEP (or the last eval before it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "detector_suite"))
from evaluate import HELD, condition, read_jsonl  # noqa: E402  (the ground truth, spelled once)


def load_run(run):
    recs = read_jsonl(os.path.join(run, "metrics.jsonl"))
    if not recs:
        raise SystemExit(f"compare: {run} has no metrics.jsonl records")
    h = os.path.join(run, "harness.json")
    name = os.path.basename(os.path.normpath(run))
    if os.path.exists(h):
        meta = json.load(open(h))
        k = meta["top_k"]
    else:  # a moescope trainer run
        meta = json.load(open(os.path.join(run, "config.json")))
        k = meta["moe"]["top_k"]
    view = {r["step"]: r["layers"] for r in read_jsonl(os.path.join(run, "seed_view.jsonl"))}
    return {"name": name, "k": k, "train": [r for r in recs if r.get("type") == "train" and r.get("moe")],
            "eval": [r for r in recs if r.get("type") == "eval"],
            "alerts": read_jsonl(os.path.join(run, "alerts.jsonl")), "view": view}


def layer_rows(run):
    layers = {}
    for r in run["train"]:
        for l in r["moe"]:
            layers.setdefault(l["layer"], []).append((r["step"], l))
    return layers


def summary(run):
    out = []
    for L, rows in sorted(layer_rows(run).items()):
        conds = [condition(l["counts"], run["k"]) for _, l in rows]
        label = [i >= HELD - 1 and all(conds[j][0] for j in range(i - HELD + 1, i + 1)) for i in range(len(rows))]
        frac = sum(label) / len(label)
        gt = "collapsed" if frac >= 0.5 else ("healthy" if not any(label) else "transient")
        first_gt = next((rows[i][0] for i in range(len(rows)) if label[i]), None)
        first_det = next((s for s, l in rows if l.get("status") == "collapsed"), None)
        crit = [a for a in run["alerts"] if a.get("layer") == L and a.get("severity") == "critical"]
        why = sorted({w for c in conds for w in c[1]})
        out.append((L, gt, f"{frac:.2f}", first_gt, ",".join(why) or "-", first_det,
                    (crit[0]["step"], crit[0]["rule"]) if crit else None, rows[-1][1].get("status")))
    return out


def nearest(rows, step):
    return min(rows, key=lambda r: abs(r[0] - step)) if rows else None


def brief(runs, step):
    print(f"| run | ground truth to step {step} | detector at step {step} | largest token share at step {step} | val loss |")
    print("|---|---|---|---|---|")
    for run in runs:
        run = dict(run, train=[r for r in run["train"] if r["step"] <= step])
        sm = summary(run)
        gt = " ".join(g[0] for _, g, *_ in sm)
        last = " ".join(s[-1] or "-" for s in sm)
        shares = " / ".join(f"{nearest(rows, step)[1]['max_token_share']:.2f}" for _, rows in sorted(layer_rows(run).items()))
        ev = [r for r in run["eval"] if "val_loss" in r and r["step"] <= step]
        vl = f"{ev[-1]['val_loss']:.3f} (step {ev[-1]['step']})" if ev else "-"
        print(f"| {run['name']} | {gt} | {last} | {shares} | {vl} |")


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--at", default="", help="comma list of steps for the per-layer table (default: 4 even points)")
    p.add_argument("--brief", type=int, default=0, help="one row per run at this step (see the docstring)")
    a = p.parse_args(argv)
    runs = [load_run(r) for r in a.runs]
    if a.brief:
        brief(runs, a.brief)
        return

    print("| run | layer | ground truth (share of intervals) | condition first held | clauses | detector `collapsed` first | first critical alert | last status |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        for L, gt, frac, fg, why, fd, crit, last in summary(run):
            c = f"{crit[0]} ({crit[1]})" if crit else "-"
            print(f"| {run['name']} | {L} | {gt} ({frac}) | {fg if fg is not None else '-'} | {why} | "
                  f"{fd if fd is not None else '-'} | {c} | {last} |")

    print()
    print("| run | step | layer | entropy_norm | N_eff | largest token share | starved | status | seed top-1 max share | val loss |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        last = run["train"][-1]["step"]
        ats = [int(s) for s in a.at.split(",") if s] or [round(last * q / 4) for q in (1, 2, 3, 4)]
        ev = [(r["step"], r) for r in run["eval"] if "val_loss" in r]
        for s in ats:
            if s > last:
                continue
            for L, rows in sorted(layer_rows(run).items()):
                st, l = nearest(rows, s)
                v = run["view"].get(st, {}).get(str(L))
                top1 = f"{max(v['top1_share']):.2f}" if v else "-"
                e = [r for r in ev if r[0] == st]
                vl = f"{e[0][1]['val_loss']:.4f}" if e else ""
                print(f"| {run['name']} | {st} | {L} | {l['entropy_norm']:.3f} | {l['n_eff']:.2f} | "
                      f"{l['max_token_share']:.2f} | {len(l.get('starved', []))} | {l.get('status')} | {top1} | {vl} |")

    print()
    steps = sorted({r["step"] for run in runs for r in run["eval"] if "val_loss" in r})
    print("| step | " + " | ".join(f"{r['name']} train / val" for r in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for s in steps:
        cells = []
        for run in runs:
            tr = [r for r in run["train"] if r["step"] == s]
            ev = [r for r in run["eval"] if r["step"] == s and "val_loss" in r]
            t = f"{tr[0]['loss']:.3f}" if tr and "loss" in tr[0] else "-"
            v = f"{ev[0]['val_loss']:.3f}" if ev else "-"
            cells.append(f"{t} / {v}")
        print(f"| {s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
