#!/usr/bin/env bash
# Installs what building baracuda needs on a Debian machine with the CUDA toolkit, when missing:
# CMake, a C compiler, SQLite, xxHash (header-only) and Criterion (tests).
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(gcc)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
[ -f /usr/include/xxhash.h ] || need+=(libxxhash-dev)
[ -f /usr/include/criterion/criterion.h ] || need+=(libcriterion-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -f /usr/local/cuda/include/cuda.h ] || [ -f /usr/include/cuda.h ] || {
  echo "deps: the CUDA toolkit headers (cuda.h, nvrtc.h, nvJitLink.h) are required" >&2; exit 1; }
