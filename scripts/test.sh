#!/usr/bin/env bash
# The whole test suite: builds (installing what is missing), runs every GoogleTest via ctest,
# then the same tests again under AddressSanitizer + UBSan, then pytest when Python tests exist.
# Tests that need ../shared skip outside CI and fail under CI=true when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

bash scripts/setup.sh
(cd build && ctest --output-on-failure -j"$jobs")

echo "== sanitizers (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMOEPLAN_SANITIZE=ON -DMOEPLAN_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -LE slow)

if compgen -G "python/tests/test_*.py" >/dev/null || compgen -G "tests/python/test_*.py" >/dev/null; then
  echo "== pytest"
  /usr/bin/python3 -m pytest -q
fi
