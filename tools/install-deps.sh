#!/usr/bin/env bash
# Installs what kjit needs to build and test on a fresh Debian machine with the CUDA toolkit
# (NVRTC and headers) already present. Idempotent.
set -euo pipefail
packages=(cmake ninja-build g++ nlohmann-json3-dev libsqlite3-dev libfmt-dev doctest-dev
          libcli11-dev libssl-dev python3-pip
          clang libclang-rt-dev)  # clang + its libFuzzer runtime: tools/fuzz.sh
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
# Python side: tests, the nanobind extension and its pip build backend.
python3 -c "import pytest, numpy, nanobind, scikit_build_core" 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check pytest numpy "nanobind>=2.10.1" scikit-build-core
if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "kjit needs the CUDA toolkit (NVRTC and its headers) under /usr/local/cuda" >&2
  exit 1
fi
