#!/bin/sh
# The test command of the README: configures ./build on first use, then runs every suite on
# every backend present (GPU suites without a device report SKIP). Extra arguments go to
# `meson test` (e.g. --suite vulkan).
set -e
cd "$(dirname "$0")/.."
# The CUDA toolkit, when installed, is not on PATH by default.
if [ -x /usr/local/cuda/bin/nvcc ]; then PATH=/usr/local/cuda/bin:$PATH; export PATH; fi
[ -f build/build.ninja ] || meson setup build
exec meson test -C build --print-errorlogs "$@"
