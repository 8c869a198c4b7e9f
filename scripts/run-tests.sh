#!/usr/bin/env bash
# Installs what the project needs, builds it, and runs every test: the GoogleTest unit tests
# (through ctest) and the pytest integration suites that drive the real Python ipyparallel
# client against our binaries. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh

status=0
echo "=== unit tests (ctest)"
(cd build && ctest --output-on-failure -j2) || status=1

py=/usr/bin/python3
run_pytest() {
  local name=$1; shift
  echo "=== $name"
  local rc=0
  "$py" -m pytest "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then echo "$name: no tests ran" >&2; rc=1; fi
  [ "$rc" -eq 0 ] || status=1
}

if [ -d src/engine/python/tests ]; then
  run_pytest "engine bridge (pytest)" -q src/engine/python/tests
fi
export IPP_BIN_DIR="$PWD/build/bin"
run_pytest "integration: our controller, Python engines" -q tests/integration --controller=cpp --engine=python
if [ -x build/bin/ipengine ] && build/bin/ipengine --help >/dev/null 2>&1; then
  run_pytest "integration: our controller, our engines" -q tests/integration --controller=cpp --engine=cpp
fi
exit $status
