#!/usr/bin/env bash
# Benchmark-only dependencies (bench/, docs/benchmarks.md): Dask distributed for the comparison
# runs, matplotlib for the plots, numpy for the broadcast payload, psutil for process trees.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

pkgs=(python3-distributed python3-matplotlib python3-numpy python3-psutil)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "benchmark dependencies already installed: ${pkgs[*]}"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
