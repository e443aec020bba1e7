"""Markdown tables of bench/online.sh's reports (docs/ONLINE.md): means over the three folds."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])


def load(kind):
    return [json.loads((out / f"{kind}-{fold}.json").read_text()) for fold in (1, 2, 3)]


def name(p):
    return p["name"].split(":")[0]


def by_policy(reports):
    table = {}
    for report in reports:
        for p in report["policies"]:
            table.setdefault(name(p), []).append(p)
    return table


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def figures(title, kind):
    print(f"\n### {title}\n")
    print("| policy | last-half quality | last-half PGR | last-half $/request | last-half strong share | whole-stream PGR | regret |")
    print("|---|---|---|---|---|---|---|")
    for policy, runs in by_policy(load(kind)).items():
        last = [r["last_half"] for r in runs]
        print(
            f"| {policy} | {mean(l['quality'] for l in last):.4f} | {mean(l['pgr'] for l in last):.3f} "
            f"| {mean(l['cost_per_request_usd'] for l in last):.6f} | {mean(l['strong_share'] for l in last):.3f} "
            f"| {mean(r['pgr'] for r in runs):.3f} | {mean(r['regret'] for r in runs):.0f} |"
        )
    print("\nper fold (last-half PGR): " + "; ".join(
        f"{policy} " + " / ".join(f"{r['last_half']['pgr']:.3f}" for r in runs)
        for policy, runs in by_policy(load(kind)).items()
    ))


def warm():
    runs = [r["policies"][0] for r in load("held-warm")]
    print(
        "\nbandit warm-started from the fold's learned model file, held at 30% (last-half PGR per fold): "
        + " / ".join(f"{r['last_half']['pgr']:.3f}" for r in runs)
        + f"; mean {mean(r['last_half']['pgr'] for r in runs):.3f}; last-half quality "
        + f"{mean(r['last_half']['quality'] for r in runs):.4f}"
    )


def drift():
    print("\n### Strong share by window, traffic by category (target 0.30)\n")
    print("| policy | max window error after warm-up, per fold | worst |")
    print("|---|---|---|")
    fixed = by_policy(load("fixed-by-category"))["learned"]
    errors = [max(abs(w["strong_share"] - 0.3) for w in r["windows"][1:]) for r in fixed]
    print(f"| learned, fixed threshold calibrated offline to 30% | {' / '.join(f'{e:.3f}' for e in errors)} | {max(errors):.3f} |")
    for policy, runs in by_policy(load("held-by-category")).items():
        errors = [r["max_window_share_error"] for r in runs]
        print(f"| {policy}, held at 0.30 | {' / '.join(f'{e:.3f}' for e in errors)} | {max(errors):.3f} |")


def drift_per_run():
    print("\n### The same, each run on its own (5 seeds x 3 folds)\n")
    print("| policy | largest window error of any run | median over runs |")
    print("|---|---|---|")
    errors = {}
    for path in sorted(out.glob("held-by-category-*-seed*.json")):
        for p in json.loads(path.read_text())["policies"]:
            errors.setdefault(name(p), []).append(p["max_window_share_error"])
    for policy, values in errors.items():
        values.sort()
        print(f"| {policy} | {values[-1]:.3f} | {values[len(values) // 2]:.3f} |")


def budget():
    print("\n### Budget $0.50 per fold (one simulated day)\n")
    print("| policy | spend per fold | worst distance from $0.50 | failed requests | last-half quality |")
    print("|---|---|---|---|---|")
    for policy, runs in by_policy(load("budget")).items():
        spends = [r["spend_usd"] for r in runs]
        worst = max(abs(s / 0.5 - 1) for s in spends)
        print(
            f"| {policy} | {' / '.join(f'${s:.3f}' for s in spends)} | {worst * 100:.1f}% "
            f"| {sum(r['failed'] for r in runs):.0f} | {mean(r['last_half']['quality'] for r in runs):.4f} |"
        )


def floor():
    print("\n### Quality floor 0.75 (feedback-measured), shuffled\n")
    print("| policy | last-half quality per fold | last-half $/request | last-half strong share |")
    print("|---|---|---|---|")
    for policy, runs in by_policy(load("floor")).items():
        last = [r["last_half"] for r in runs]
        qualities = " / ".join("%.4f" % l["quality"] for l in last)
        print(
            f"| {policy} | {qualities} "
            f"| {mean(l['cost_per_request_usd'] for l in last):.6f} | {mean(l['strong_share'] for l in last):.3f} |"
        )


figures("Held at 30% strong, shuffled", "held-shuffled")
warm()
figures("Each policy as configured (no target), shuffled", "free-shuffled")
drift()
drift_per_run()
budget()
floor()
