#!/usr/bin/env bash
# Installs the Debian 12 packages moeplan needs (only those missing), then configures and
# builds into build/. Idempotent; a no-op install costs well under a second.
# Usage: bash scripts/setup.sh [extra cmake args...]   (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libsimdjson-dev nlohmann-json3-dev libyaml-cpp-dev libfmt-dev
  libzstd-dev zstd libxxhash-dev zlib1g-dev libmetis-dev
  python3 python3-numpy python3-pytest
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$jobs"
