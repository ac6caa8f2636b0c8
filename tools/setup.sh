#!/usr/bin/env bash
# Set-up command 1 (README): install, build, and run kjit's main job: compile the gpt-oss-120b
# decode kernel (bf16 query, e4m3 KV, attention sinks, head_dim 64) into the cache and list it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
arch_args=()
build/kjit --json doctor | grep -q '"arch"' || arch_args=(--arch sm_90)  # no GPU: target H100
build/kjit compile batch_decode --dtype-q bf16 --dtype-kv e4m3 --sinks --head-dim 64 "${arch_args[@]}"
build/kjit list
