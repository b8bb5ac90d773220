#!/usr/bin/env bash
# Rebuilds the bundled samples in data/samples/ from the real traces in ../shared/data.
# Kept so that the samples' origin is reproducible; users never need to run it.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${MOEPLAN_SHARED:-../shared}
m="$shared/data/llama4-maverick-mmlu"
d="$shared/data/deepseek-v2-lite-puffin/traces"
# 20 requests of each MMLU subject (two domains), the first by request id.
files=()
for i in $(seq 0 19); do files+=("$m/abstract_algebra/$i.json"); done
for i in $(seq 100 119); do files+=("$m/anatomy/$i.json"); done
build/moeplan trace convert "${files[@]}" --experts 128 \
  --model-name meta-llama/Llama-4-Maverick-17B-128E-Instruct -o data/samples/maverick-mmlu-40.moet
# The first 40 Puffin prompts (prompt 1..40).
files=()
for i in $(seq 1 40); do files+=("$d/prompt_${i}_data.csv.zst"); done
build/moeplan trace convert "${files[@]}" --experts 64 --domain puffin \
  --model-name deepseek-ai/DeepSeek-V2-Lite-Chat -o data/samples/deepseek-v2-lite-puffin-40.moet
ls -l data/samples/*.moet
