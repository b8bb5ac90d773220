#!/usr/bin/env python3
"""Baseline for the import benchmark: a straightforward Python reader of the Paper C JSON set.

It does what `moeplan trace info` does for this format: json.load every file, keep the MoE
layers (non-null keys), and build each request's routing as a flat list
[token][moe_layer][k] (prefill tokens first, then one token per decode step), then count.
Prints one JSON line: {"files": N, "tokens": T, "seconds": S}.
Usage: bench_import.py DIR [DIR...]
"""
import json
import os
import re
import sys
import time


def natural_key(path):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def trace_files(dirs):
    out = []
    for d in dirs:
        found = []
        for root, _, names in os.walk(d):
            found += [os.path.join(root, n) for n in names if n.endswith(".json")]
        out += sorted(found, key=natural_key)
    return out


def read_request(path):
    with open(path) as f:
        steps = json.load(f)
    moe = sorted((int(k) for k, v in steps[0].items() if v is not None))
    ids = []
    tokens = 0
    for step in steps:
        n = len(step[str(moe[0])])
        for t in range(n):
            for layer in moe:
                ids.extend(step[str(layer)][t])
        tokens += n
    return tokens, ids


def main():
    files = trace_files(sys.argv[1:])
    start = time.perf_counter()
    tokens = 0
    for path in files:
        n, _ = read_request(path)
        tokens += n
    seconds = time.perf_counter() - start
    print(json.dumps({"files": len(files), "tokens": tokens, "seconds": seconds}))


if __name__ == "__main__":
    main()
