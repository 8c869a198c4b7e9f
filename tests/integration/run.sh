#!/usr/bin/env bash
# Run the controller/engine integration suite.
#
#   tests/integration/run.sh                      python controller x python engines (default)
#   tests/integration/run.sh --controller=cpp     our ipcontroller with Python engines
#   tests/integration/run.sh --engine=mixed       half Python, half C++ engines
#   tests/integration/run.sh --matrix             {python,cpp} controller x {python,cpp,mixed} engines
#   tests/integration/run.sh -k lbview -x         any other pytest arguments pass through
#   tests/integration/run.sh test_hub.py          only the named modules
#   tests/integration/run.sh --all                every test under tests/integration
#
# Environment: IPP_TEST_CONTROLLER / IPP_TEST_ENGINE / IPP_TEST_MATRIX=1 select implementations,
# IPP_BIN_DIR points at the C++ binaries (default <repo>/build/bin), IPP_TEST_TIMEOUT_SCALE
# stretches every timeout (e.g. 3 under sanitizers), PYTHON overrides the interpreter.
#
# Exit status: pytest's, except that "no tests collected" (5) counts as failure. With
# IPP_TEST_REQUIRE_CPP=1, skipped tests (C++ binaries missing) also count as failure.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-/usr/bin/python3}"

if ! "$python" -c 'import ipyparallel, pytest, zmq, psutil' 2>/dev/null; then
  echo "run.sh: $python lacks ipyparallel/pytest/pyzmq/psutil (Debian: python3-ipyparallel python3-pytest)" >&2
  exit 2
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT

# The controller/engine compatibility suite; other suites under this directory (cluster/, engine/,
# test_controller_config.py) are selected by naming them, or all at once with --all.
suite=(test_direct.py test_lbview.py test_dependency.py test_broadcast.py test_hub.py
       test_engine_death.py test_shutdown.py test_bad_input.py)
args=()
explicit=0
for a in "$@"; do
  case "$a" in
    --all) explicit=1; args+=(.) ;;
    *.py|*.py::*|*/) explicit=1; args+=("$a") ;;
    *) [ -e "$here/$a" ] && explicit=1; args+=("$a") ;;
  esac
done
[ "$explicit" -eq 1 ] || args=("${suite[@]}" ${args[@]+"${args[@]}"})

cd "$here"
"$python" -m pytest -c "$here/pytest.ini" --rootdir="$here" ${args[@]+"${args[@]}"} 2>&1 | tee "$report"
status=${PIPESTATUS[0]}

if [ "$status" -eq 5 ]; then
  echo "run.sh: no tests were collected; treating as failure" >&2
  exit 1
fi
if [ "$status" -eq 0 ] && [ "${IPP_TEST_REQUIRE_CPP:-0}" != "0" ] && grep -Eq '[0-9]+ skipped' "$report"; then
  echo "run.sh: tests were skipped although IPP_TEST_REQUIRE_CPP is set" >&2
  exit 1
fi
exit "$status"
