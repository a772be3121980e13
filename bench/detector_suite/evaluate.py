#!/usr/bin/env python3
# evaluate.py: labels every MoE layer and log interval of the suite's runs from the ground truth
# of docs/metrics.md ("Ground truth"), computed here independently from the raw per-expert
# counts in metrics.jsonl, and compares with the detector's alerts and statuses.
#   python3 bench/detector_suite/evaluate.py runs/detector_suite [--json OUT]
# Prints markdown: one row per layer, the layer confusion table, the per-interval table, and
# the detection lead (steps from the first critical alert to the first eval at which the
# validation loss is worse than the same corpus's healthy reference run by more than SEP).
import json
import math
import os
import sys

ENTROPY, TOKEN_SHARE, STARVED_SHARE, STARVED_N, STARVED_FRACTION, HELD = 0.75, 0.5, 0.01, 2, 0.25, 3
SEP = 0.02  # validation-loss separation (nats)


def read_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def condition(counts, k):
    """The ground-truth condition of one interval: (holds, which clauses)."""
    total = sum(counts)
    if total == 0:
        return False, []
    loads = [c / total for c in counts]
    h = -sum(p * math.log(p) for p in loads if p > 0)
    ent = h / math.log(len(counts)) if len(counts) > 1 else 1.0
    why = []
    if ent < ENTROPY:
        why.append("entropy")
    E = len(counts)
    # one expert chosen by more than the K-aware share of the tokens (50% at top-1, 1 at K = E)
    bar = TOKEN_SHARE + (1 - TOKEN_SHARE) * (min(k, E) - 1) / (E - 1) if E > 1 else 1.0
    if max(counts) / (total / k) > bar:
        why.append("token_share")
    # a quarter of the experts (and at least 2) starved
    if sum(1 for p in loads if p < STARVED_SHARE) >= max(STARVED_N, math.ceil(STARVED_FRACTION * E - 1e-9)):
        why.append("starved")
    return bool(why), why


def evaluate_run(run):
    cfg = json.load(open(os.path.join(run, "config.json")))
    k = cfg["moe"]["top_k"]
    recs = read_jsonl(os.path.join(run, "metrics.jsonl"))
    alerts = read_jsonl(os.path.join(run, "alerts.jsonl"))
    layers = {}
    val = {}
    for r in recs:
        if r.get("type") == "eval" and isinstance(r.get("val_loss"), (int, float)):
            val[r["step"]] = r["val_loss"]
        if r.get("type") != "train" or "moe" not in r:
            continue
        for l in r["moe"]:
            layers.setdefault(l["layer"], []).append(
                (r["step"], l["counts"], l.get("status", "unknown"), l.get("drop_rate", 0.0),
                 l.get("entropy_norm", 0.0)))
    out = []
    for L, rows in sorted(layers.items()):
        conds = [condition(c, k) for _, c, _, _, _ in rows]
        label = [all(conds[j][0] for j in range(i - HELD + 1, i + 1)) if i >= HELD - 1 else False
                 for i in range(len(rows))]
        frac = sum(label) / len(label)
        gt = "collapsed" if frac >= 0.5 else ("healthy" if not any(label) else "transient")
        crit = [a for a in alerts if a.get("layer") == L and a.get("severity") == "critical"]
        warn = [a for a in alerts if a.get("layer") == L and a.get("severity") == "warning"]
        why = sorted({w for c in conds for w in c[1]})
        first_label = next((rows[i][0] for i in range(len(rows)) if label[i]), None)
        out.append({
            "layer": L, "gt": gt, "gt_fraction": frac, "gt_first_step": first_label, "clauses": why,
            "critical": bool(crit), "first_critical": min((a["step"] for a in crit), default=None),
            "critical_rules": sorted({a["rule"] for a in crit}), "warning_rules": sorted({a["rule"] for a in warn}),
            "final_status": rows[-1][2], "final_entropy": rows[-1][4], "max_drop": max(r[3] for r in rows),
            "intervals": [(lab, st == "collapsed") for lab, (_, _, st, _, _) in zip(label, rows)],
        })
    return out, val


def main():
    root = sys.argv[1]
    names = sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "done")))
    runs, vals, corpus = {}, {}, {}
    for n in names:
        runs[n], vals[n] = evaluate_run(os.path.join(root, n))
        corpus[n] = open(os.path.join(root, n, "corpus")).read().strip()
    refs = {}
    for n in names:
        if n.startswith("healthy") and corpus[n] not in refs:
            refs[corpus[n]] = n
    print("| run | layer | ground truth (fraction of intervals) | clauses seen | critical alerts (first step) | "
          "warnings | final status | final entropy | max drop | lead (steps) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    conf = {}
    iv = {(a, b): 0 for a in (True, False) for b in (True, False)}
    for n in names:
        ref = refs.get(corpus[n])
        sep = None
        if ref and ref != n:
            for s in sorted(vals[n]):
                if s in vals[ref] and vals[n][s] - vals[ref][s] > SEP:
                    sep = s
                    break
        for l in runs[n]:
            key = (l["gt"], l["critical"])
            conf[key] = conf.get(key, 0) + 1
            for lab, col in l["intervals"]:
                iv[(lab, col)] += 1
            lead = "-"
            if l["critical"] and sep is not None:
                lead = str(sep - l["first_critical"])
            elif l["critical"]:
                lead = "val loss never separates" if ref and ref != n else "-"
            crit = ",".join(l["critical_rules"]) + f" ({l['first_critical']})" if l["critical"] else "none"
            print(f"| {n} | {l['layer']} | {l['gt']} ({l['gt_fraction']:.2f}) | {','.join(l['clauses']) or '-'} | {crit} | "
                  f"{','.join(l['warning_rules']) or '-'} | {l['final_status']} | {l['final_entropy']:.3f} | "
                  f"{100 * l['max_drop']:.1f}% | {lead} |")
    print()
    print("Layers: ground truth vs any critical alert")
    print()
    print("| ground truth | critical | no critical |")
    print("|---|---|---|")
    for g in ("collapsed", "transient", "healthy"):
        print(f"| {g} | {conf.get((g, True), 0)} | {conf.get((g, False), 0)} |")
    print()
    print("Intervals: ground-truth label vs status `collapsed`")
    print()
    print("| label | status collapsed | other status |")
    print("|---|---|---|")
    print(f"| collapsed | {iv[(True, True)]} | {iv[(True, False)]} |")
    print(f"| not collapsed | {iv[(False, True)]} | {iv[(False, False)]} |")
    if "--json" in sys.argv:
        json.dump(runs, open(sys.argv[sys.argv.index("--json") + 1], "w"), indent=1)


if __name__ == "__main__":
    main()
