#!/usr/bin/env python3
# scope_statuses.py: per `scope --model` run under DIR (hf_shapes.sh), every MoE layer over its
# interval records: the statuses of the built library's detector (moescope._core.Detector at its
# defaults, fed the logged counts, MaxVio_batch and drop rates; PYTHONPATH=build/python), the
# critical rules it fired, and from the counts the smallest N_eff / E, the most experts under a
# fifth of their fair share (docs/metrics.md "starved") and the fewest slots per expert.
#   PYTHONPATH=build/python .venv/bin/python bench/detector_suite/scope_statuses.py runs/detector_suite/hf_shapes
import json
import math
import os
import sys

from moescope import _core

root = sys.argv[1]
print("| scope run | layer | intervals | statuses seen | final status | min N_eff / E | max starved (of E) | "
      "min slots / expert | critical rules |")
print("|---|---|---|---|---|---|---|---|---|")
for n in sorted(os.listdir(root)):
    d = os.path.join(root, n)
    if not n.endswith("-scope") or not os.path.exists(os.path.join(d, "done")):
        continue
    k = json.load(open(os.path.join(root, n[:-6], "config.json")))["moe"]["top_k"]
    recs = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    det = _core.Detector({})
    layers = {}
    for r in recs:
        if r.get("type") != "train":
            continue
        for l in r["moe"]:
            alerts = json.loads(det.observe(r["step"], l["layer"], l["counts"], k, l.get("maxvio_batch", 0.0),
                                            l.get("drop_rate", 0.0)))
            c = l["counts"]
            E, C = len(c), sum(c)
            h = -sum(x / C * math.log(x / C) for x in c if x > 0) if C else 0.0
            layers.setdefault(l["layer"], []).append({
                "status": det.status(l["layer"]), "neff": math.exp(h) / E, "E": E, "slots": C / E,
                "starved": sum(1 for x in c if C and x / C < 0.2 / E),
                "crit": [a["rule"] for a in alerts if a["severity"] == "critical"]})
    for L, ls in sorted(layers.items()):
        crit = sorted({x for i in ls for x in i["crit"]})
        print(f"| {n[:-6]} | {L} | {len(ls)} | {','.join(sorted({i['status'] for i in ls}))} | {ls[-1]['status']} | "
              f"{min(i['neff'] for i in ls):.3f} | {max(i['starved'] for i in ls)} of {ls[0]['E']} | "
              f"{min(i['slots'] for i in ls):.1f} | {','.join(crit) or 'none'} |")
