#!/usr/bin/env bash
# Installs every Debian package the project needs to build, run and test.
# Idempotent: packages already present are left alone. Must run as root (or via sudo).
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config git
  libzmq3-dev cppzmq-dev nlohmann-json3-dev libssl-dev libssh-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev libsqlite3-dev python3-dev pybind11-dev libjemalloc-dev
  python3 python3-ipyparallel python3-pytest python3-pytest-tornado python3-pytest-asyncio
  python3-zmq python3-jupyter-client python3-ipykernel python3-numpy python3-psutil
  python3-matplotlib python3-matplotlib-inline python3-distributed openmpi-bin python3-mpi4py
  openssh-server openssh-client iproute2 procps psmisc
  slurm-wlm munge
  prometheus-cpp-dev libcpp-httplib-dev python3-prometheus-client
  chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
