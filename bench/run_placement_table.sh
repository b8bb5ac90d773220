#!/usr/bin/env bash
# The placement table of docs/placement.md: every algorithm, fitted on the even-indexed
# requests and scored on the odd-indexed ones, on both real sets in ../shared/data, with
# round-robin homes and no spare slots. Prints a Markdown table.
#   bash bench/run_placement_table.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shared=../shared/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/moeplan" trace convert "$shared/llama4-maverick-mmlu" -o "$tmp/maverick.moet" >/dev/null
"$build/moeplan" trace convert "$shared/deepseek-v2-lite-puffin/traces" --domain puffin -o "$tmp/deepseek.moet" >/dev/null
run() {  # name trace model nodes gpus
  "$build/moeplan" place "$tmp/$2.moet" --holdout --algo all --nodes "$4" --gpus-per-node "$5" \
    --model "$3" --json > "$tmp/$1.json"
  python3 - "$tmp/$1.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for a in r["results"]:
    e = a["eval"]
    print(f"| {sys.argv[2]} | {a['algorithm']} | {e['inter_node_sends_per_token_layer']:.4f} | "
          f"{a['inter_node_sends_vs_contiguous']:.3f}x | {e['inter_node_bytes']/1e9:.3f} | "
          f"{e['gpu_load_max_over_mean']:.3f} | {e['padded']['bytes']/1e9:.3f} | {a['seconds']:.2f} |")
PY
}
echo "| set, nodes x GPUs | algorithm | inter-node sends / token-layer | vs contiguous | inter-node GB | GPU load max/mean | padded all-to-all GB | place time (s) |"
echo "|---|---|---|---|---|---|---|---|"
run "DeepSeek-V2-Lite 4x4" deepseek deepseek-v2-lite 4 4
run "DeepSeek-V2-Lite 2x8" deepseek deepseek-v2-lite 2 8
run "Maverick 4x8" maverick llama-4-maverick 4 8
run "Maverick 2x8" maverick llama-4-maverick 2 8
