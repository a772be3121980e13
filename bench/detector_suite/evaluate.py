#!/usr/bin/env python3
# evaluate.py: labels every MoE layer and log interval of the suite's runs from the ground truth
# of docs/metrics.md ("Ground truth", functions of E and K), computed here independently from the
# raw per-expert counts and drop rates in metrics.jsonl, and compares with the detector's alerts
# and statuses.
#   python3 bench/detector_suite/evaluate.py runs/detector_suite [--half held|tune|all] [--replay] [--json OUT]
# --replay: instead of the run's own alerts.jsonl and logged statuses, feed the logged per-layer
# counts, maxvio_batch and drop_rate through the detector of the built Python package
# (moescope._core.Detector at its default settings; PYTHONPATH=build/python), as a resumed run
# replays its log. With remediation off the detector does not act on training, so this gives
# the verdicts the current detector would have logged on the same run.
# Prints markdown: one row per layer, the layer confusion tables per E and per K (collapse:
# ground truth vs any critical collapse alert; dropping: ground truth vs the `dropping` status),
# the per-interval table, and the detection lead: steps from the first critical alert to the
# first eval at which the validation loss is worse than the run's healthy twin (same E, K, router
# and corpus: the run named healthy-<same tag>) by more than SEP.
import json
import math
import os
import sys

# The written definition's defaults (docs/metrics.md; ScopeConfig in src/core/config.h).
MIN_SLOTS, STARVED_RATIO, NEFF_FRACTION, TOKEN_SHARE, DOMINANCE = 10.0, 0.2, 0.5, 0.5, 4.0
STARVED_N, STARVED_FRACTION, DROP, HELD = 2, 0.25, 0.2, 3
SEP = 0.02  # validation-loss separation (nats)
COLLAPSE_RULES = {"low_neff", "low_entropy", "dominant_expert", "starved_experts", "collapse"}


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


def dominated_bar(k, E):
    return TOKEN_SHARE + (1 - TOKEN_SHARE) * (min(k, E) - 1) / (E - 1) if E > 1 else 1.0


def condition(counts, k):
    """The ground-truth collapse condition of one interval: (holds, which clauses)."""
    E, total = len(counts), sum(counts)
    if total == 0 or total < MIN_SLOTS * E:
        return False, []  # not judged
    loads = [c / total for c in counts]
    h = -sum(p * math.log(p) for p in loads if p > 0)
    why = []
    if math.exp(h) < NEFF_FRACTION * E:
        why.append("concentrated")
    if max(counts) / (total / k) > dominated_bar(k, E):
        why.append("dominated")
    if sum(1 for p in loads if p < STARVED_RATIO / E) >= max(STARVED_N, math.ceil(STARVED_FRACTION * E - 1e-9)):
        why.append("starved")
    return bool(why), why


def held(flags):
    """Per interval: the flag has held in it and the HELD - 1 before it."""
    return [i >= HELD - 1 and all(flags[i - HELD + 1:i + 1]) for i in range(len(flags))]


def layer_label(lab):
    frac = sum(lab) / len(lab) if lab else 0.0
    return ("collapsed" if frac >= 0.5 else "healthy" if not any(lab) else "transient"), frac


def replay(recs, k):
    """(alerts, {(step, layer): status}) of the built library's detector over the logged records."""
    from moescope import _core
    d = _core.Detector({})
    alerts, status = [], {}
    for r in recs:
        if r.get("type") != "train" or "moe" not in r:
            continue
        for l in r["moe"]:
            alerts += json.loads(d.observe(r["step"], l["layer"], l["counts"], k, l.get("maxvio_batch", 0.0),
                                           l.get("drop_rate", 0.0)))
            status[(r["step"], l["layer"])] = d.status(l["layer"])
    return alerts, status


def evaluate_run(run, replayed=False):
    cfg = json.load(open(os.path.join(run, "config.json")))
    k, E = cfg["moe"]["top_k"], cfg["moe"]["n_routed"]
    recs = read_jsonl(os.path.join(run, "metrics.jsonl"))
    alerts = read_jsonl(os.path.join(run, "alerts.jsonl"))
    status = {}
    if replayed:
        alerts, status = replay(recs, k)
    layers, val = {}, {}
    for r in recs:
        if r.get("type") == "eval" and isinstance(r.get("val_loss"), (int, float)):
            val[r["step"]] = r["val_loss"]
        if r.get("type") != "train" or "moe" not in r:
            continue
        for l in r["moe"]:
            layers.setdefault(l["layer"], []).append(
                (r["step"], l["counts"], status.get((r["step"], l["layer"]), l.get("status", "unknown")),
                 l.get("drop_rate", 0.0), l.get("entropy_norm", 0.0),
                 l.get("n_eff", 0.0)))
    out = []
    for L, rows in sorted(layers.items()):
        conds = [condition(c, k) for _, c, *_ in rows]
        lab = held([c[0] for c in conds])
        drop_lab = held([r[3] > DROP for r in rows])
        gt, frac = layer_label(lab)
        dgt, dfrac = layer_label(drop_lab)
        crit = [a for a in alerts if a.get("layer") == L and a.get("severity") == "critical" and a.get("rule") in COLLAPSE_RULES]
        warn = [a for a in alerts if a.get("layer") == L and a.get("severity") == "warning"]
        statuses = [r[2] for r in rows]
        out.append({
            "layer": L, "E": E, "K": k, "gt": gt, "gt_fraction": frac, "drop_gt": dgt, "drop_fraction": dfrac,
            "gt_first_step": next((rows[i][0] for i in range(len(rows)) if lab[i]), None),
            "onset_step": next((rows[i][0] for i in range(len(rows)) if conds[i][0]), None),
            "clauses": sorted({w for c in conds for w in c[1]}),
            "critical": bool(crit), "first_critical": min((a["step"] for a in crit), default=None),
            "critical_rules": sorted({a["rule"] for a in crit}), "warning_rules": sorted({a["rule"] for a in warn}),
            # the detector's dropping state: entered with the critical high_drop_rate alert (the status
            # shows `dropping` unless the layer is also collapsed, the more severe)
            "dropping": "dropping" in statuses or any(a.get("layer") == L and a.get("rule") == "high_drop_rate"
                                                      and a.get("severity") == "critical" for a in alerts),
            "dropping_status": "dropping" in statuses,
            "statuses": sorted(set(statuses)),
            "final_status": rows[-1][2], "final_entropy": rows[-1][4], "final_neff": rows[-1][5],
            "max_drop": max(r[3] for r in rows),
            "intervals": [(a, s == "collapsed") for a, s in zip(lab, statuses)],
        })
    return out, val


def is_healthy(name):
    return name.startswith("healthy-") or name.startswith("long-healthy-")


def twin_of(name):
    """The healthy twin of a failing run: healthy-<its shape tag> (long-healthy-... for a long run;
    healthy-cap-... for a capacity-limited balanced run, the same shape without the capacity)."""
    parts = name.split("-")
    i = next(i for i, p in enumerate(parts) if p.startswith("e") and p[1:].isdigit())
    prefix = "long-healthy-" if name.startswith("long-") else "healthy-cap-" if "balanced" in name else "healthy-"
    return prefix + "-".join(parts[i:])


def table(rows, key, title):
    keys = sorted({r[key] for r in rows})
    print(f"{title}")
    print()
    print(f"| {key} | collapsed layers: detected | missed | transient: critical / none | healthy layers: false critical | "
          f"clean | dropping layers: detected / missed | not dropping: false dropping | lead over val-loss separation (steps) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for v in keys:
        sel = [r for r in rows if r[key] == v]
        c = lambda g, crit: sum(1 for r in sel if r["gt"] == g and r["critical"] == crit)
        dd = sum(1 for r in sel if r["drop_gt"] == "collapsed" and r["dropping"])
        dm = sum(1 for r in sel if r["drop_gt"] == "collapsed" and not r["dropping"])
        df = sum(1 for r in sel if r["drop_gt"] == "healthy" and r["dropping"])
        leads = [r["lead"] for r in sel if isinstance(r.get("lead"), int)]
        lead = ", ".join(str(x) for x in sorted(leads)) if leads else "-"
        print(f"| {v} | {c('collapsed', True)} | {c('collapsed', False)} | {c('transient', True)} / {c('transient', False)} | "
              f"{c('healthy', True)} | {c('healthy', False)} | {dd} / {dm} | {df} | {lead} |")
    print()


def main():
    root = sys.argv[1]
    half = sys.argv[sys.argv.index("--half") + 1] if "--half" in sys.argv else "all"
    names = sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "done")))
    halves = {n: (open(os.path.join(root, n, "half")).read().strip() if os.path.exists(os.path.join(root, n, "half")) else "tune")
              for n in names}
    if half != "all":
        names = [n for n in names if halves[n] == half]
    runs, vals = {}, {}
    for n in names:
        runs[n], vals[n] = evaluate_run(os.path.join(root, n), "--replay" in sys.argv)
    print(f"Half: {half}; {len(names)} runs; verdicts {'replayed through moescope._core' if '--replay' in sys.argv else 'as logged'}.")
    print()
    print("| run | layer | ground truth (fraction) | clauses seen | critical (first step) | warnings | statuses seen | "
          "final status | final N_eff / E | max drop | dropping truth | lead (steps) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    iv = {(a, b): 0 for a in (True, False) for b in (True, False)}
    for n in names:
        twin = twin_of(n) if not is_healthy(n) else None
        sep = None
        if twin and twin in vals:
            for s in sorted(vals[n]):
                if s in vals[twin] and vals[n][s] - vals[twin][s] > SEP:
                    sep = s
                    break
        for l in runs[n]:
            l["run"] = n
            lead = "-"
            if l["critical"] and sep is not None:
                l["lead"] = sep - l["first_critical"]
                lead = str(l["lead"])
            elif l["critical"] and twin:
                lead = "val loss never separates" if twin in vals else "no twin"
            for a, b in l["intervals"]:
                iv[(a, b)] += 1
            crit = ",".join(l["critical_rules"]) + f" ({l['first_critical']})" if l["critical"] else "none"
            print(f"| {n} | {l['layer']} | {l['gt']} ({l['gt_fraction']:.2f}) | {','.join(l['clauses']) or '-'} | {crit} | "
                  f"{','.join(l['warning_rules']) or '-'} | {','.join(l['statuses'])} | {l['final_status']} | "
                  f"{l['final_neff']:.1f} / {l['E']} | {100 * l['max_drop']:.1f}% | {l['drop_gt']} | {lead} |")
            rows.append(l)
    print()
    table(rows, "E", "Layers per E (collapse: any critical collapse alert; dropping: the detector entered `dropping`, "
                     "a critical high_drop_rate alert)")
    table(rows, "K", "Layers per K")
    print("Intervals: ground-truth collapse label vs status `collapsed`")
    print()
    print("| label | status collapsed | other status |")
    print("|---|---|---|")
    print(f"| collapsed | {iv[(True, True)]} | {iv[(True, False)]} |")
    print(f"| not collapsed | {iv[(False, True)]} | {iv[(False, False)]} |")
    if "--json" in sys.argv:
        json.dump(rows, open(sys.argv[sys.argv.index("--json") + 1], "w"), indent=1)


if __name__ == "__main__":
    main()
