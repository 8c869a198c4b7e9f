#!/usr/bin/env bash
# Run the installed ipyparallel test suite against our ipcontroller / ipengine.
#
#   tests/conformance/run.sh [--ci] [--controller=cpp|python] [--engine=python|cpp]
#                            [--bin-dir=DIR] [--out=DIR] [MODULE ...] [-- PYTEST_ARGS...]
#
# Each test module runs in its own pytest process (results in OUT/<module>.xml and .log);
# a per-module table of run/passed/failed/skipped is printed at the end.
# --ci runs a selection that finishes in a few minutes on 2 cores (another one with --engine=cpp).
# Exit status: 0 only if every module ran at least one test and none failed or errored.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
TESTS="$($PY -c 'import ipyparallel.tests, os; print(os.path.dirname(ipyparallel.tests.__file__))')"

controller=cpp
engine=python
bin_dir="${IPP_BIN_DIR:-$REPO/build/bin}"
out=""
ci=0
modules=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --ci) ci=1 ;;
        --controller=*) controller="${1#*=}" ;;
        --engine=*) engine="${1#*=}" ;;
        --bin-dir=*) bin_dir="${1#*=}" ;;
        --out=*) out="${1#*=}" ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) modules+=("$1") ;;
    esac
    shift
done

if [ ${#modules[@]} -eq 0 ]; then
    if [ $ci -eq 1 ] && [ "$engine" = cpp ]; then
        # with our engine: the modules that exercise the engine most (views, magics, %pylab)
        modules=(test_view test_magics test_remotefunction)
    elif [ $ci -eq 1 ]; then
        modules=(test_client test_lbview test_dependency test_db test_asyncresult test_mpi test_slurm)
    else
        modules=()
        for f in "$TESTS"/test_*.py; do modules+=("$(basename "$f" .py)"); done
    fi
fi
[ -n "$out" ] || out="$(mktemp -d "${TMPDIR:-/tmp}/ipp-conformance.XXXXXX")"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
echo "controller=$controller engine=$engine bin-dir=$bin_dir results=$out"

# test_mpi runs mpiexec as root on 2 cores: Open MPI wants to be told that this is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# test_slurm needs a running Slurm: start a private single-node one for the run (as root).
slurm_dir=""
stop_slurm() {
    [ -n "$slurm_dir" ] && $PY "$REPO/tests/integration/hpc/slurm_harness.py" stop "$slurm_dir" >/dev/null
    slurm_dir=""
}
trap stop_slurm EXIT
for m in "${modules[@]}"; do
    if [ "${m%.py}" = test_slurm ] && [ -z "${SLURM_CONF:-}" ]; then
        if ! started="$($PY "$REPO/tests/integration/hpc/slurm_harness.py" start)"; then
            echo "cannot start a local Slurm for test_slurm" >&2
            exit 1
        fi
        export SLURM_CONF="$(printf '%s\n' "$started" | sed -n 's/^export SLURM_CONF=//p')"
        slurm_dir="$(dirname "$(dirname "$SLURM_CONF")")"
        echo "local Slurm for test_slurm: $slurm_dir"
    fi
done

# whole-module time limit (SIGTERM lets the plugin stop every process it started)
module_limit="${IPP_CONFORMANCE_MODULE_TIMEOUT:-1200}"
for m in "${modules[@]}"; do
    m="${m%.py}"
    start=$(date +%s)
    # (from the results directory: Python's Slurm launcher leaves slurm-<job>.out in the cwd)
    (cd "$out" && PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" \
    timeout -k 30 "$module_limit" \
        $PY -m pytest -p ipp_cpp_plugin -p no:cacheprovider -v -rfEs \
            -o asyncio_mode=auto \
            --ipp-controller="$controller" --ipp-engine="$engine" --ipp-bin-dir="$bin_dir" \
            --junitxml="$out/$m.xml" "${extra[@]}" "$TESTS/$m.py" >"$out/$m.log" 2>&1)
    rc=$?
    echo "$rc" >"$out/$m.rc"
    printf '%-24s exit %-3s %4ss\n' "$m" "$rc" "$(( $(date +%s) - start ))"
done

$PY "$HERE/summarize.py" "$out" "${modules[@]}"
