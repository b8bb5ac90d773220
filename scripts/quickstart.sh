#!/usr/bin/env bash
# Quick start: install, build, and run the main job on the bundled real sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
sample=data/samples/maverick-mmlu-40.moet
echo "== moeplan trace info $sample"
build/moeplan trace info "$sample"
echo
echo "== moeplan analyze $sample"
build/moeplan analyze "$sample"
