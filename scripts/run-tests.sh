#!/usr/bin/env bash
# Installs what the project needs, builds it, and runs every test:
#   1. ctest: GoogleTest unit tests of every module, the engine's Python bridge tests (pytest),
#      and our engine against Python's controller;
#   2. the controller/engine integration suite (tests/integration/run.sh, the unmodified Python
#      ipyparallel client against real processes) over the implementation combinations below;
#   3. our controller's start-up/config tests, ipcluster's tests (incl. the multi-host SSH
#      topology in network namespaces, MPI, a private single-node Slurm, fakes of the other
#      batch systems), the benchmark smoke run;
#   4. a CI-sized selection of IPython Parallel's own test suite against our binaries.
# Exits non-zero if anything fails. IPP_TEST_QUICK=1 runs one combination only;
# IPP_TEST_FULL=1 adds the mixed-engine cell and the Python reference cell.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1
bash scripts/build.sh || exit 1

py=/usr/bin/python3
export IPP_BIN_DIR="$PWD/build/bin"
status=0
summary=()
step() {
  local name=$1; shift
  echo
  echo "=== $name"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    summary+=("PASS  ${took}s  $name")
  else
    summary+=("FAIL  ${took}s  $name (exit $rc)")
    status=1
  fi
}
pytest_step() {
  local name=$1; shift
  step "$name" bash -c '"$0" -m pytest "$@"; rc=$?; [ $rc -eq 5 ] && { echo "no tests ran" >&2; exit 1; }; exit $rc' "$py" "$@"
}

step "unit tests and engine suites (ctest)" bash -c 'cd build && ctest --output-on-failure -j2'

# The mixed cell (Python and C++ engines under one controller) is covered in CI by the engine
# suite's mixed-cluster test; `tests/integration/run.sh --matrix` runs every cell.
combos=("cpp python" "cpp cpp" "python cpp")
[ "${IPP_TEST_FULL:-0}" = 1 ] && combos+=("cpp mixed" "python python")
[ "${IPP_TEST_QUICK:-0}" = 1 ] && combos=("cpp cpp")
for combo in "${combos[@]}"; do
  set -- $combo
  step "integration suite: controller=$1 engines=$2" \
    env IPP_TEST_REQUIRE_CPP=1 bash tests/integration/run.sh -q --controller="$1" --engine="$2"
done

pytest_step "ipcontroller start-up, config, restart and chaos" -q tests/integration/test_controller_config.py tests/integration/test_controller_restart.py tests/integration/test_chaos.py tests/integration/test_quiet_log.py tests/integration/test_engine_exits.py tests/integration/test_hostile_requests.py tests/integration/test_secrets_in_logs.py tests/integration/test_storm.py tests/integration/test_curve.py
pytest_step "status endpoint, metrics, dashboard in Chromium, ipcluster status" -q tests/integration/test_status.py tests/integration/test_status_page.py
pytest_step "ipcluster (local, SSH, MPI, Slurm, PBS/SGE/LSF/HTCondor launchers)" -q tests/integration/cluster
pytest_step "batch-system test tools (private Slurm, recording fakes, Python's scripts)" -q tests/integration/hpc
pytest_step "benchmark smoke" -q tests/integration/test_bench_smoke.py
step "IPython Parallel's own suite (CI selection) against our binaries" \
  bash tests/conformance/run.sh --ci
step "IPython Parallel's own suite (CI selection) with our engines too" \
  bash tests/conformance/run.sh --ci --engine=cpp

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
passed=0; failed=0
for line in "${summary[@]}"; do
  case "$line" in PASS*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
echo "steps: $passed passed, $failed failed"
exit $status
