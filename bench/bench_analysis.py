#!/usr/bin/env python3
"""Baseline for the analysis benchmark: a plain Python + numpy reference of `moeplan analyze`.

Reads the Paper C JSON set the way bench_import.py does (json.load per file, prefill tokens
then one token per decode step, MoE layers = non-null keys, domain = folder name), then
computes the metrics of docs/metrics.md with straightforward numpy: counts, imbalance per
phase and hot experts, prefill/decode correlations and overlaps, per-request Pearson, layer
and token coverage, co-activation (k > 1), domain JS divergence and leave-one-out nearest
centroid accuracy. Prints one JSON line {"requests", "tokens", "seconds", "cpu_seconds", "report"} (times
exclude the interpreter and numpy start-up); with
--check ORACLE it also compares the report with an oracle file and exits 1 on a mismatch, so
the timing is known to be of the same work.
Usage: bench_analysis.py [--experts E] [--check ORACLE] DIR [DIR...]
"""
import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np


def natural_key(path):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def trace_files(dirs):
    out = []
    for d in dirs:
        found = []
        for root, _, names in os.walk(d):
            found += [os.path.join(root, n) for n in names if n.endswith(".json")]
        out += [(p, os.path.basename(os.path.normpath(d))) for p in sorted(found, key=natural_key)]
    return out


def read_request(path):
    with open(path) as f:
        steps = json.load(f)
    moe = sorted(int(k) for k, v in steps[0].items() if v is not None)
    rows = []
    for step in steps:
        per_layer = [step[str(layer)] for layer in moe]
        for t in range(len(per_layer[0])):
            rows.append([per_layer[i][t] for i in range(len(moe))])
    prefill = len(steps[0][str(moe[0])])
    return moe, prefill, np.array(rows, dtype=np.int64)  # [token][layer][k]


def load_set(dirs):
    reqs = []
    moe = None
    for path, domain in trace_files(dirs):
        moe, prefill, ids = read_request(path)
        reqs.append({"domain": domain, "prefill": prefill, "ids": ids})
    return moe, reqs


def imbalance(load, E):
    out = {"max_over_mean": [], "cv": [], "gini": [], "norm_entropy": []}
    hot = []
    for l, x in enumerate(load):
        s = x.sum()
        mean = s / E
        out["max_over_mean"].append(float(x.max() * E / s))
        out["cv"].append(float(math.sqrt(E * int((x * x).sum()) - int(s) ** 2) / s))
        xs = np.sort(x)
        out["gini"].append(float((2 * int((np.arange(1, E + 1) * xs).sum()) - (E + 1) * int(s)) / (E * s)))
        p = x[x > 0] / s
        out["norm_entropy"].append(float(-(p * np.log(p)).sum() / math.log(E)))
        for e in np.nonzero(x * E > 16 * s)[0]:
            hot.append([l, int(e), float(x[e] / mean)])
    for k in list(out):
        out[k + "_mean"] = float(np.mean(out[k]))
    out["hot_experts"] = hot
    return out


def pearson(x, y):
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def average_ranks(v):
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + j + 2) / 2
        i = j + 1
    return ranks


def top_ids(v, k):
    return set(np.lexsort((np.arange(len(v)), -v))[:k].tolist())


def mean_present(v):
    p = [x for x in v if x is not None]
    return float(np.mean(p)) if p else None


def coverage(m, top):
    rows = np.sort(m, axis=1)[:, ::-1]
    return float(rows[:, :top].sum() / m.sum()) if m.sum() else 0.0


def pair_matrix(a, b, E):
    """Counts of (a[t][i], b[t][j]) over tokens t and all k x k pairs."""
    return np.bincount((a[:, :, None] * E + b[:, None, :]).ravel(), minlength=E * E).reshape(E, E)


def js_bits(p, q):
    m = (p + q) / 2
    kp = (p[p > 0] * np.log2(p[p > 0] / m[p > 0])).sum()
    kq = (q[q > 0] * np.log2(q[q > 0] / m[q > 0])).sum()
    return float(0.5 * kp + 0.5 * kq)


def analyze(moe, reqs, E):
    L = len(moe)
    K = reqs[0]["ids"].shape[2]
    ids = np.concatenate([r["ids"] for r in reqs])  # [T][L][K]
    phase = np.concatenate([np.arange(len(r["ids"])) >= r["prefill"] for r in reqs])  # True = decode
    req_of = np.concatenate([np.full(len(r["ids"]), i) for i, r in enumerate(reqs)])
    rep = {"counts": {"requests": len(reqs), "prefill_tokens": int((~phase).sum()),
                      "decode_tokens": int(phase.sum()), "moe_layers": L, "experts": E, "top_k": K}}

    def loads(mask):
        return np.array([np.bincount(ids[mask, l, :].ravel(), minlength=E) for l in range(L)])

    lp, ld = loads(~phase), loads(phase)
    phases = {"prefill": lp, "decode": ld, "all": lp + ld}
    rep["imbalance"] = {n: imbalance(x, E) for n, x in phases.items() if x.sum() > 0}

    if lp.sum() and ld.sum():
        pd = {"spearman": [], "pearson": []}
        for K_ in (5, 10, 20):
            pd[f"topk_overlap@{K_}"] = []
        for l in range(L):
            pd["pearson"].append(pearson(lp[l], ld[l]))
            pd["spearman"].append(pearson(average_ranks(lp[l]), average_ranks(ld[l])))
            for K_ in (5, 10, 20):
                pd[f"topk_overlap@{K_}"].append(len(top_ids(lp[l], K_) & top_ids(ld[l], K_)) / K_)
        for k in ("spearman", "pearson"):
            pd[k + "_mean"] = mean_present(pd[k])
        for K_ in (5, 10, 20):
            pd[f"topk_overlap@{K_}_mean"] = float(np.mean(pd[f"topk_overlap@{K_}"]))
        offs = np.arange(L)[None, :, None] * E
        per = []
        for r in reqs:
            x, n = r["ids"], r["prefill"]
            if n == 0 or n == len(x):
                continue
            a = np.bincount((x[:n] + offs).ravel(), minlength=L * E)
            b = np.bincount((x[n:] + offs).ravel(), minlength=L * E)
            v = pearson(a, b)
            if v is not None:
                per.append(v)
        pd["per_request_pearson_mean"] = float(np.mean(per)) if per else None
        pd["per_request_pearson_used"] = len(per)
        rep["prefill_decode"] = pd

    top = E // 5
    lc = [coverage(pair_matrix(ids[:, l, :], ids[:, l + 1, :], E), top) for l in range(L - 1)]
    rep["layer_coverage_top20"] = {"per_pair": lc, "mean": float(np.mean(lc))}
    nxt = np.nonzero(req_of[:-1] == req_of[1:])[0]  # t with t+1 in the same request
    tc = [coverage(pair_matrix(ids[nxt, l, :], ids[nxt + 1, l, :], E), top) for l in range(L)]
    rep["token_coverage_top20"] = {"per_layer": tc, "mean": float(np.mean(tc))}

    if K > 1:
        n_pairs = E * (E - 1) // 2
        share, lift = [], []
        for l in range(L):
            x = ids[:, l, :]
            i, j = np.triu_indices(K, 1)
            a, b = np.minimum(x[:, i], x[:, j]), np.maximum(x[:, i], x[:, j])
            c = np.bincount((a * E + b).ravel(), minlength=E * E)[np.triu_indices(E, 1)[0] * E + np.triu_indices(E, 1)[1]]
            share.append(float(np.sort(c)[::-1][:n_pairs // 10].sum() / c.sum()))
            lift.append(float(c.max() * n_pairs / c.sum()))
        rep["coactivation"] = {"top10_pair_share": share, "max_lift": lift,
                               "top10_pair_share_mean": float(np.mean(share)),
                               "max_lift_mean": float(np.mean(lift))}

    labels = sorted({r["domain"] for r in reqs})
    if len(labels) >= 2:
        offs = np.arange(L)[None, :, None] * E
        vec = np.zeros((len(reqs), L * E))
        for i, r in enumerate(reqs):
            c = np.bincount((r["ids"] + offs).ravel(), minlength=L * E).reshape(L, E).astype(np.float64)
            c /= c.sum(axis=1, keepdims=True)
            vec[i] = c.ravel() / np.linalg.norm(c)
        dom = np.array([labels.index(r["domain"]) for r in reqs])
        dl = {d: np.zeros((L, E), dtype=np.int64) for d in range(len(labels))}
        for i, r in enumerate(reqs):
            dl[dom[i]] += np.bincount((r["ids"] + offs).ravel(), minlength=L * E).reshape(L, E)
        js = {}
        for a in range(len(labels)):
            for b in range(a + 1, len(labels)):
                js[labels[a] + "|" + labels[b]] = float(np.mean(
                    [js_bits(dl[a][l] / dl[a][l].sum(), dl[b][l] / dl[b][l].sum()) for l in range(L)]))
        sums = np.array([vec[dom == d].sum(axis=0) for d in range(len(labels))])
        counts = np.array([(dom == d).sum() for d in range(len(labels))])
        correct = 0
        for i in range(len(reqs)):
            best, pick = -np.inf, None
            for d in range(len(labels)):
                c = sums[d] - (vec[i] if d == dom[i] else 0)
                if counts[d] - (d == dom[i]) == 0:
                    continue
                cos = vec[i] @ c / np.linalg.norm(c)
                if cos > best:
                    best, pick = cos, d
            correct += pick == dom[i]
        rep["domains"] = {"labels": labels,
                          "requests_per_domain": {l: int(n) for l, n in zip(labels, counts)},
                          "js_divergence": js, "loo_nearest_centroid_accuracy": correct / len(reqs)}
    return rep


def mismatches(want, got, path=""):
    if isinstance(want, dict):
        for k, v in want.items():
            if k not in got:
                yield f"missing {path}/{k}"
            else:
                yield from mismatches(v, got[k], f"{path}/{k}")
    elif isinstance(want, list):
        if len(want) != len(got):
            yield f"{path}: length {len(got)} != {len(want)}"
        else:
            for i, (w, g) in enumerate(zip(want, got)):
                yield from mismatches(w, g, f"{path}/{i}")
    elif want is None or isinstance(want, (str, bool)) or isinstance(want, int):
        if want != got:
            yield f"{path}: {got} != {want}"
    elif got is None or abs(want - got) > 1e-9 * abs(want):
        yield f"{path}: {got} != {want}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--experts", type=int, default=128)
    ap.add_argument("--check")
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    start, cpu = time.perf_counter(), time.process_time()
    moe, reqs = load_set(args.dirs)
    rep = analyze(moe, reqs, args.experts)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"requests": len(reqs), "tokens": sum(len(r["ids"]) for r in reqs),
                      "seconds": seconds, "cpu_seconds": cpu_seconds, "report": rep}))
    if args.check:
        with open(args.check) as f:
            bad = list(mismatches(json.load(f), rep))
        for b in bad[:20]:
            print("mismatch:", b, file=sys.stderr)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
