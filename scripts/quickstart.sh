#!/usr/bin/env bash
# Installs what the project needs, builds it and starts a local cluster in the foreground:
# one controller and N engines (default 2) in the profile given (default "default").
# Ctrl-C stops everything. Usage: scripts/quickstart.sh [N] [profile]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2}
profile=${2:-default}
bash scripts/install-deps.sh
bash scripts/build.sh
if [ -x build/bin/ipcluster ] && build/bin/ipcluster --help 2>/dev/null | grep -q start; then
  exec build/bin/ipcluster start -n "$n" --profile="$profile"
fi
# Until ipcluster lands: the controller and local engines, stopped together on Ctrl-C.
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
build/bin/ipcontroller --profile="$profile" & pids+=($!)
engine=(/usr/bin/python3 -m ipyparallel.engine)
if [ -x build/bin/ipengine ] && build/bin/ipengine --help >/dev/null 2>&1; then engine=(build/bin/ipengine); fi
sleep 1
for _ in $(seq "$n"); do "${engine[@]}" --profile="$profile" & pids+=($!); done
echo "cluster running: connect with ipyparallel.Client(profile='$profile'); Ctrl-C stops it" >&2
wait "${pids[0]}"
