#!/usr/bin/env python3
"""Transfer experiments behind docs/EVALUATION.md ("Routing that transfers").

Every figure is leave-one-benchmark-out APGR on each bundled benchmark's weak/strong pair (the
pairs `routewise eval --holdout-benchmark` uses). Needs numpy and scikit-learn
(`pip install numpy scikit-learn`) and routewise's own signals:

    python3 scripts/transfer/experiments.py

It writes the prompts to a temporary file, runs the `signals_jsonl` example for routewise's
signals, and prints: the complexity score with the shipped weights and the earlier ones; every
complexity component alone; a weight search on two benchmarks tested on the third; a logistic
regression over signals and cheap query features trained on two benchmarks; and RouterBench's
ceiling for any router that only tells its three tasks apart.
"""
import glob, gzip, json, math, re, subprocess, sys, tempfile
import numpy as np
from sklearn.linear_model import LogisticRegression

PAIRS = {  # the pair each benchmark is scored on (as `eval --holdout-benchmark` picks it)
    "mmlu": ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"),
    "routerbench": ("mistralai/mixtral-8x7b-chat", "gpt-4-1106-preview"),
    "llmrouter-dc": ("gemma-2-9b-it", "llama-3.1-nemotron-51b-instruct"),
}
BENCHMARKS = sorted(PAIRS)
PRIOR = {"classification": .1, "sentiment": .1, "extraction": .2, "translation": .25,
         "factual_question": .2, "summarization": .3, "open_ended": .45, "creative_writing": .45,
         "code_generation": .8, "math": .85, "design": 1.0}
SHIPPED = [.10, .15, .65, .05, .05, .05]   # tokens, reasoning, task, domain, code, turns
EARLIER = [.10, .25, .45, .10, .05, .05]


def apgr(score, weak, strong):
    """Area under the PGR curve, prompts sent to the strong model by descending score."""
    rng = np.random.default_rng(0)
    order = np.argsort(-(np.asarray(score, float) + rng.random(len(score)) * 1e-9))
    w, s = np.asarray(weak)[order], np.asarray(strong)[order]
    quality = (w.sum() + np.concatenate([[0], np.cumsum(s - w)])) / len(w)
    return float(np.trapezoid((quality - w.mean()) / (s.mean() - w.mean()), dx=1 / len(w)))


def load():
    rows = []
    for path in sorted(glob.glob("data/benchmarks/*.jsonl.gz")):
        for line in gzip.open(path, "rt"):
            r = json.loads(line)
            weak, strong = PAIRS[r["benchmark"]]
            rows.append((r["benchmark"], r["category"], r["prompt"], r["scores"][weak], r["scores"][strong]))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
        for row in rows:
            f.write(json.dumps({"prompt": row[2]}) + "\n")
        f.flush()
        out = subprocess.run(["cargo", "run", "-q", "--release", "-p", "routewise-core",
                              "--example", "signals_jsonl"], stdin=open(f.name), capture_output=True,
                             text=True, check=True).stdout
    signals = [json.loads(l) for l in out.splitlines()]
    return rows, signals


def components(s):
    return [min(1, math.log1p(s["prompt_tokens"]) / math.log1p(8192)),
            min(1, len(s["reasoning_keywords"]) / 3), PRIOR[s["task_type"]],
            float(bool(s["domains"])), float(s["has_code"]), min(1, (s["turns"] - 1) / 5)]


def query_features(prompt):
    """Cheap descriptors of the question itself (after any solved few-shot examples)."""
    paragraphs = re.split(r"\n\s*\n", prompt)
    solved = [i for i, p in enumerate(paragraphs) if re.search(r"(?i)answer:\s*\S", p)]
    q = "\n\n".join(paragraphs[solved[-1] + 1:] if solved and solved[-1] + 1 < len(paragraphs) else paragraphs[-1:])
    count = lambda pattern: len(re.findall(pattern, q))
    return [math.log1p(count(r"\w+")), math.log1p(count(r"\d+")), math.log1p(count(r"[=+*/^<>\\]")),
            count(r"(?m)^\(?[A-Ea-e][.):] "), float("_" in q), float("?" in q),
            float(bool(re.match(r"(?i)\s*(who|what|when|where|which)\b", q))),
            count(r"(?i)\b(not|except|least|false|incorrect)\b"),
            count(r"(?i)\b(best|most|likely|probably|main)\b")]


def main():
    rows, signals = load()
    bench = np.array([r[0] for r in rows])
    weak, strong = np.array([r[3] for r in rows]), np.array([r[4] for r in rows])
    comp = np.array([components(s) for s in signals])
    per = lambda score: [apgr(score[bench == b], weak[bench == b], strong[bench == b]) for b in BENCHMARKS]
    show = lambda name, values: print(f"{name:<44}" + "".join(f"{v:>14.3f}" for v in values))
    print(f"{'':<44}" + "".join(f"{b:>14}" for b in BENCHMARKS))
    show("complexity, shipped weights", per(comp @ SHIPPED))
    show("complexity, earlier weights", per(comp @ EARLIER))
    for k, name in enumerate(["tokens", "reasoning", "task", "domain", "code"]):
        show(f"  {name} alone", per(comp[:, k]))
    # Weights searched on two benchmarks (best worst-case APGR), tested on the third.
    rng = np.random.default_rng(1)
    candidates = [rng.dirichlet(np.ones(6)) for _ in range(3000)]
    scored = [(w, per(comp @ w)) for w in candidates]
    held = []
    for k in range(3):
        best = max(scored, key=lambda c: min(c[1][i] for i in range(3) if i != k))
        held.append(best[1][k])
    show("weights searched on the other two", held)
    # A classifier over signals and query features, trained on two benchmarks (balanced).
    x = np.column_stack([comp[:, :5], np.array([query_features(r[2]) for r in rows])])
    held = []
    for b in BENCHMARKS:
        train, test = bench != b, bench == b
        mu, sd = x[train].mean(0), x[train].std(0) + 1e-9
        weights = np.array([1.0 / (bench == bench[i]).sum() for i in np.where(train)[0]])
        model = LogisticRegression(C=1.0, max_iter=2000).fit(
            (x[train] - mu) / sd, (strong[train] > weak[train]).astype(int), sample_weight=weights * train.sum())
        held.append(apgr(model.decision_function((x[test] - mu) / sd), weak[test], strong[test]))
    show("logistic regression, signals + query", held)
    # RouterBench: the best any router can do that only tells its tasks apart.
    rb = bench == "routerbench"
    cats = np.array([r[1] for r in rows])[rb]
    gaps = {c: (strong[rb][cats == c] - weak[rb][cats == c]).mean() for c in set(cats)}
    print(f"routerbench, tasks ranked by their true gap: {apgr(np.array([gaps[c] for c in cats]), weak[rb], strong[rb]):.3f}")


if __name__ == "__main__":
    sys.exit(main())
