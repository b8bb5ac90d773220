#!/usr/bin/env bash
# Analysis benchmarks, in one script so the numbers compare like with like.
#  1. The whole visible Maverick set (both subjects, JSON import included): `moeplan analyze
#     --json` vs the plain Python + numpy reference bench/bench_analysis.py (Debian's python3),
#     which is checked against the oracle so both do the same metrics. Target: >= 30x.
#  2. A synthetic DeepSeek-V3-sized trace (256 experts, top-8, 58 MoE layers, 100k tokens):
#     wall time and peak RSS of `moeplan analyze --json` (from /usr/bin/time -v), next to the
#     peak RSS of just loading the trace (`moeplan trace info`). Target: seconds.
# Usage: bash bench/run_analysis_bench.sh   (MOEPLAN_BIN, default build/moeplan; MOEPLAN_SHARED)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MOEPLAN_BIN:-build/moeplan}
shared=${MOEPLAN_SHARED:-../shared}
maverick="$shared/data/llama4-maverick-mmlu"
oracle="$shared/oracles/analysis/maverick_visible.json"
[ -x "$bin" ] || { echo "needs $bin (build first)" >&2; exit 1; }
[ -d "$maverick" ] || { echo "needs $maverick" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Warm the page cache for both equally.
cat "$maverick"/*/*.json >/dev/null
check=()
[ -f "$oracle" ] && check=(--check "$oracle")
for i in 1 2 3; do
  /usr/bin/python3 bench/bench_analysis.py --experts 128 "${check[@]}" \
    "$maverick/abstract_algebra" "$maverick/anatomy" >"$tmp/py$i.json"
done

# moeplan: the whole command (process start, import, analysis, JSON out). Best of 5 against
# the Python reference's best of 3, by wall time and by CPU time (user + sys, all threads; the
# CPU ratio is the steadier one on a shared machine).
/usr/bin/python3 - "$tmp" "$bin" "$maverick" <<'PY'
import json, resource, subprocess, sys, time
runs = [json.load(open(f"{sys.argv[1]}/py{i}.json")) for i in (1, 2, 3)]
py_s = min(r["seconds"] for r in runs)
py_cpu = min(r["cpu_seconds"] for r in runs)
cmd = [sys.argv[2], "analyze", sys.argv[3] + "/abstract_algebra", sys.argv[3] + "/anatomy",
       "--experts", "128", "--json"]
best, best_cpu = float("inf"), float("inf")
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    best = min(best, time.perf_counter() - t)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    best_cpu = min(best_cpu, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
# In-process, like the Python figure (which excludes interpreter start and `import numpy`):
# bench_analysis's import + analysis of the same set, best of its repetitions.
bench = subprocess.run([sys.argv[2].replace("moeplan", "bench/bench_analysis"),
                        "--benchmark_filter=BM_ImportAndAnalyzeMaverick", "--benchmark_format=json",
                        "--benchmark_repetitions=3"], check=True, capture_output=True, text=True)
inproc = min(b["real_time"] for b in json.loads(bench.stdout)["benchmarks"]
             if b.get("run_type") == "iteration") / 1e3
print(f"analyze Maverick set in-process (import + all metrics), target >= 30x:\n"
      f"  python+numpy {py_s:.3f} s, moeplan {inproc * 1e3:.1f} ms -> {py_s / inproc:.1f}x")
print(f"analyze Maverick set, whole command (process start + import + analysis + JSON out):\n"
      f"  wall: python+numpy {py_s:.3f} s, moeplan {best * 1e3:.1f} ms -> {py_s / best:.1f}x\n"
      f"  cpu:  python+numpy {py_cpu:.3f} s, moeplan {best_cpu * 1e3:.1f} ms -> {py_cpu / best_cpu:.1f}x")
PY

# Synthetic DeepSeek-V3-sized trace: 1000 requests x (60 prefill + 40 decode) = 100k tokens.
"$bin" trace synth --requests 1000 --experts 256 --top-k 8 --layers 58 --prefill-tokens 60 \
  --decode-tokens 40 --domains 4 --seed 7 -q -o "$tmp/v3.moet"
measure() {  # prints "wall_s peak_rss_MiB"
  /usr/bin/time -v "$@" >/dev/null 2>"$tmp/time.txt"
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]}
              /Maximum resident set size/ {r = $2 / 1024}
              END {printf "%.2f %.0f\n", s, r}' "$tmp/time.txt"
}
read -r info_s info_rss < <(measure "$bin" trace info "$tmp/v3.moet")
read -r an_s an_rss < <(measure "$bin" analyze "$tmp/v3.moet" --json)
echo "synthetic V3-sized (100k tokens, 58 layers, 256 experts, top-8; $(du -m "$tmp/v3.moet" | cut -f1) MiB .moet):" \
  "analyze ${an_s} s, peak RSS ${an_rss} MiB (loading alone: ${info_rss} MiB)"
