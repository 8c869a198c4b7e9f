#!/usr/bin/env bash
# Builds the project with sanitizers and runs the unit tests and one integration cell (our
# controller x our engines) under them.
#
#   scripts/run-sanitizers.sh asan      AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   scripts/run-sanitizers.sh tsan      ThreadSanitizer (build-tsan/)
#   scripts/run-sanitizers.sh asan unit only the unit tests
#
# Any sanitizer report stops the process that made it (halt_on_error), so the test that drove
# it fails; afterwards the logs the tests kept are searched for reports as well. Leaks are
# checked in our code: CPython's own allocations at interpreter exit are suppressed
# (tests/support/lsan.supp). ThreadSanitizer ignores the message hand-overs inside Debian's
# uninstrumented libzmq (tests/support/tsan.supp). Exit status: non-zero if anything failed or
# reported.
set -uo pipefail
cd "$(dirname "$0")/.."
kind=${1:-asan}
what=${2:-all}
case "$kind" in
  asan) flags=address,undefined; dir=build-asan ;;
  tsan) flags=thread; dir=build-tsan ;;
  *) echo "usage: $0 asan|tsan [unit|all]" >&2; exit 2 ;;
esac
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPP_SANITIZE="$flags" \
  -DIPP_WITH_JEMALLOC=OFF "${launcher[@]}" >/dev/null || exit 1
cmake --build "$dir" -j2 || exit 1

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
supp="$PWD/tests/support/lsan.supp"
# allocator_may_return_null: a peer announcing a frame of 2^56 bytes makes libzmq call malloc
# with that size; glibc returns NULL and libzmq drops the connection, ASan (and TSan) would
# abort instead
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=1:log_path=$logs/asan"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:allocator_may_return_null=1:suppressions=$PWD/tests/support/tsan.supp:log_path=$logs/tsan"
status=0
(cd "$dir" && ctest -L unit -j2 --output-on-failure) || status=1
if [ "$what" = all ]; then
  IPP_BIN_DIR="$PWD/$dir/bin" IPP_TEST_TIMEOUT_SCALE=4 IPP_TEST_REQUIRE_CPP=1 \
    bash tests/integration/run.sh -q --controller=cpp --engine=cpp || status=1
fi
if compgen -G "$logs/*" >/dev/null; then
  echo "sanitizer reports:" >&2
  cat "$logs"/* >&2
  status=1
else
  echo "no sanitizer reports"
fi
exit $status
