#!/usr/bin/env python3
"""Writes crates/core/data/o200k_base.tokens, the o200k_base vocabulary routewise counts with.

Input: OpenAI's `o200k_base.tiktoken` (gzipped or not; one `base64-token rank` line per token,
in rank order). The `bpe-openai` crate carries a copy in its `data/` directory, so after
`cargo fetch` this finds it in the cargo registry with no download:

    scripts/o200k-table.py [path/to/o200k_base.tiktoken.gz]

Output format, read by crates/core/src/tokens/vocabulary.rs: for each rank from 0, one byte
holding the token's length (1..=255) and then the token's bytes. The ranks must be 0..n with no
gap, which this checks; a unit test checks every token against `bpe-openai`.
"""
import base64
import glob
import gzip
import os
import sys

def source_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    found = sorted(glob.glob(f"{home}/registry/src/*/bpe-openai-*/data/o200k_base.tiktoken.gz"))
    if not found:
        sys.exit("no o200k_base.tiktoken.gz in the cargo registry: run `cargo fetch` or pass a path")
    return found[-1]

def main():
    path = source_path()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        lines = f.read().split(b"\n")
    out = bytearray()
    expected_rank = 0
    for line in lines:
        if not line.strip():
            continue
        token_b64, rank = line.split()
        token = base64.b64decode(token_b64)
        if int(rank) != expected_rank:
            sys.exit(f"rank {int(rank)} where {expected_rank} was expected: ranks must be 0..n")
        if not 1 <= len(token) <= 255:
            sys.exit(f"token {expected_rank} is {len(token)} bytes long: the format holds 1..=255")
        out.append(len(token))
        out += token
        expected_rank += 1
    target = os.path.join(os.path.dirname(__file__), "..", "crates", "core", "data", "o200k_base.tokens")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as f:
        f.write(out)
    print(f"{expected_rank} tokens, {len(out)} bytes -> {os.path.normpath(target)} (from {path})")

if __name__ == "__main__":
    main()
