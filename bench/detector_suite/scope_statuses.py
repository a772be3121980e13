#!/usr/bin/env python3
# scope_statuses.py: per `scope --model` run under DIR (hf_shapes.sh), every MoE layer's statuses
# over the interval records, the smallest N_eff / E, the most starved experts in an interval,
# the fewest slots per expert, and any critical alert.
#   python3 bench/detector_suite/scope_statuses.py runs/detector_suite/hf_shapes
import json
import os
import sys

root = sys.argv[1]
print("| scope run | layer | intervals | statuses seen | min N_eff / E | max starved | min slots / expert | critical alerts |")
print("|---|---|---|---|---|---|---|---|")
for n in sorted(os.listdir(root)):
    d = os.path.join(root, n)
    if not n.endswith("-scope") or not os.path.exists(os.path.join(d, "done")):
        continue
    recs = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    alerts = [json.loads(l) for l in open(os.path.join(d, "alerts.jsonl"))] if os.path.exists(os.path.join(d, "alerts.jsonl")) else []
    layers = {}
    for r in recs:
        if r.get("type") != "train":
            continue
        for l in r["moe"]:
            layers.setdefault(l["layer"], []).append(l)
    for L, ls in sorted(layers.items()):
        E = len(ls[0]["counts"])
        crit = sorted({a["rule"] for a in alerts if a["layer"] == L and a["severity"] == "critical"})
        print(f"| {n[:-6]} | {L} | {len(ls)} | {','.join(sorted({l['status'] for l in ls}))} | "
              f"{min(l['n_eff'] for l in ls) / E:.3f} | {max(len(l['starved']) for l in ls)} | "
              f"{min(sum(l['counts']) / E for l in ls):.1f} | {','.join(crit) or 'none'} |")
