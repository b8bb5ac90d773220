#!/usr/bin/env bash
# Trace benchmarks with their baselines, in one script so the ratios compare like with like.
#  1. Import of the whole Maverick set: moeplan (C++ import_traces) vs a plain Python json.load
#     reader doing the same work (bench/bench_import.py, Debian's python3). Target: >= 30x.
#  2. .moet reload through mmap (checksums verified): routing bytes per second. Target: >= 1 GB/s.
# Usage: bash bench/run_trace_bench.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${MOEPLAN_SHARED:-../shared}
maverick="$shared/data/llama4-maverick-mmlu"
[ -d "$maverick" ] || { echo "needs $maverick" >&2; exit 1; }

# Warm the page cache for both readers equally.
cat "$maverick"/*/*.json >/dev/null

py=$(/usr/bin/python3 bench/bench_import.py "$maverick")
py_s=$(echo "$py" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
build/bench/bench_trace --benchmark_format=json --benchmark_out=build/bench_trace.json \
  --benchmark_out_format=json >/dev/null
/usr/bin/python3 - "$py_s" <<'PY'
import json, sys
py_s = float(sys.argv[1])
res = {b["name"]: b for b in json.load(open("build/bench_trace.json"))["benchmarks"]}
imp = res["BM_ImportMaverick/min_time:2.000/real_time"]
cpp_s = imp["real_time"] / 1e3
print(f"import Maverick set: python json.load {py_s:.3f} s, moeplan {cpp_s*1e3:.1f} ms -> {py_s/cpp_s:.1f}x (target >= 30x)")
rel = [b for n, b in res.items() if n.startswith("BM_ReloadMoetMmap")][0]
gbs = rel["bytes_per_second"] / 1e9
print(f".moet reload (mmap, {rel['routing_MiB']:.0f} MiB routing): {rel['real_time']:.1f} ms -> {gbs:.2f} GB/s (target >= 1 GB/s)")
PY
