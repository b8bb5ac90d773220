#!/usr/bin/env bash
# Scale benchmark (issue 12): a synthetic trace of TOKENS tokens x 58 MoE layers x top-8 over
# 256 experts (uint8 ids: TOKENS * 464 bytes of routing; 4.64 GB at the default 10 million),
# then every step that reads it, each in its own process under /usr/bin/time -v:
#   1. trace synth   -> writes the .moet (the whole set is generated in memory, then saved)
#   2. trace info    -> imports the .moet (mmap, every checksum verified)
#   3. analyze       -> imports it and runs the whole analysis
#   4. trace convert of a JSONL file of JSONL_TOKENS tokens (the text import path)
# and prints, per step, the wall time, the peak RSS and the ratio peak RSS / routing bytes
# (issue 12 asks for <= 1.5). Progress of the synth goes to stderr.
# Usage: bash bench/run_scale_bench.sh [TOKENS] [JSONL_TOKENS]     (defaults 10000000, 1000000)
#   TOKENS=0 skips steps 1-3 (the JSONL step alone needs JSONL_TOKENS * ~2 KB of scratch).
#   MOEPLAN=build/moeplan SCRATCH=/tmp (needs TOKENS * 464 bytes free, deleted at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-10000000}
jsonl_tokens=${2:-1000000}
moeplan=${MOEPLAN:-build/moeplan}
scratch=$(mktemp -d "${SCRATCH:-/tmp}/moeplan-scale.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
layers=58 k=8 experts=256
per_request=1000  # 500 prefill + 500 decode tokens per request

run() {  # label routing_bytes command...
  local label=$1 bytes=$2; shift 2
  echo "== $label: $*" >&2
  /usr/bin/time -v -o "$scratch/time.txt" "$@" >"$scratch/out.txt"
  local rss_kb wall
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$scratch/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$scratch/time.txt")
  awk -v l="$label" -v r="$rss_kb" -v b="$bytes" -v w="$wall" 'BEGIN {
    printf "%-34s wall %9s  peak RSS %8.0f MiB  routing %8.0f MiB  ratio %.3f\n",
           l, w, r / 1024, b / 1048576, r * 1024 / b }'
}

requests=$(( tokens / per_request ))
bytes=$(( requests * per_request * layers * k ))
moet="$scratch/scale.moet"
if (( tokens > 0 )); then
run "trace synth ($requests requests)" "$bytes" \
  "$moeplan" trace synth -o "$moet" --requests "$requests" --layers "$layers" --experts "$experts" \
  --top-k "$k" --prefill-tokens 500 --decode-tokens 500 --domains 4 --seed 1
run "trace info (.moet, mmap)" "$bytes" "$moeplan" trace info "$moet"
head -n 4 "$scratch/out.txt" >&2
run "analyze (.moet, mmap)" "$bytes" "$moeplan" analyze --progress "$moet"
head -n 3 "$scratch/out.txt" >&2
rm -f "$moet"
fi

# The text path: a JSONL file written from a smaller synthetic set.
jreq=$(( jsonl_tokens / per_request ))
jbytes=$(( jreq * per_request * layers * k ))
"$moeplan" trace synth -q -o "$scratch/small.moet" --requests "$jreq" --layers "$layers" \
  --experts "$experts" --top-k "$k" --prefill-tokens 500 --decode-tokens 500 --domains 4 --seed 1
"$moeplan" trace convert "$scratch/small.moet" -o "$scratch/small.jsonl" 2>/dev/null
echo "JSONL file: $(du -m "$scratch/small.jsonl" | cut -f1) MiB for $jsonl_tokens tokens" >&2
run "trace convert (JSONL, $jsonl_tokens tok)" "$jbytes" \
  "$moeplan" trace convert --progress "$scratch/small.jsonl" -o "$scratch/back.moet"
run "analyze (JSONL, $jsonl_tokens tok)" "$jbytes" "$moeplan" analyze --progress "$scratch/small.jsonl"
