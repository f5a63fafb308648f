#!/bin/sh
# Everything about the CUDA backend that needs a real NVIDIA GPU, in one command. Elsewhere the
# CUDA suites skip (exit 77) and the CUDA simulator (tests/cuda_sim) stands in for the GPU.
#
# usage: tests/cuda_gpu.sh [BUILD_DIR] [GOLDEN_DIR]
#   BUILD_DIR   a build with the CUDA backend (default build-cuda; configured and built here
#               when it does not exist). A build made on another machine and copied here works
#               too: the test programs are run directly, not through meson.
#   GOLDEN_DIR  NVIDIA kvpress reference vectors (default ../shared/golden/kvpress-0.5.4)
# Environment: KVP_CUDA_SYNC=1 waits after every kernel, so that a fault names its kernel;
# SANITIZE=0 skips compute-sanitizer; BENCH=0 skips the benchmark.
#
# Exit status: the number of failed steps (0 = all passed). A skipped suite (77) is a failure
# here: on a GPU machine nothing may skip.
set -u
cd "$(dirname "$0")/.."
build=${1:-build-cuda}
golden=${2:-../shared/golden/kvpress-0.5.4}
if [ -x /usr/local/cuda/bin/nvcc ]; then PATH=/usr/local/cuda/bin:$PATH; export PATH; fi

failed=0
summary=""
step() {
    name=$1
    shift
    printf '\n=== %s\n' "$name"
    "$@"
    rc=$?
    if [ $rc -eq 0 ]; then
        summary="$summary
  ok      $name"
    else
        failed=$((failed + 1))
        summary="$summary
  FAILED  $name (exit $rc)"
    fi
}

nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv 2>/dev/null ||
    echo "nvidia-smi: not available"

if [ ! -d "$build" ]; then
    # Build for the GPU that is here (compute capability 9.0 -> 90), plus the defaults.
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d '.')
    archs="80;90"
    case "$cc" in 80 | 90 | "") ;; *) archs="$archs;$cc" ;; esac
    meson setup "$build" -Dcuda=enabled "-Dnvcc_archs=$archs" || exit 1
fi
[ -f "$build/build.ninja" ] && [ -z "${NO_REBUILD:-}" ] && { ninja -C "$build" || exit 1; }

tool=$build/tools/kvpress-tool
step "kvpress-tool info lists a CUDA device" sh -c "'$tool' info && '$tool' info | grep -Eq '^  cuda +available'"
export KVP_TEST_BACKEND=cuda
for t in test_api test_ops test_presses; do
    if [ -x "$build/tests/$t" ]; then step "$t on cuda" "$build/tests/$t"; fi
done
step "zero-copy interop (test_interop_cuda)" "$build/tests/test_interop_cuda"
if [ -d "$golden" ]; then
    step "kvpress reference vectors on cuda" "$tool" verify "$golden" --backend cuda
else
    echo "no reference vectors at $golden: skipping verify"
fi

if [ "${SANITIZE:-1}" != 0 ] && command -v compute-sanitizer >/dev/null; then
    # Out-of-bounds and misaligned accesses, shared-memory races, barrier misuse, reads of
    # device memory nobody wrote: on every case of the op table.
    for tool_name in memcheck racecheck synccheck initcheck; do
        step "compute-sanitizer $tool_name, test_ops" compute-sanitizer --tool "$tool_name" \
            --error-exitcode 9 "$build/tests/test_ops"
    done
    step "compute-sanitizer memcheck, test_interop_cuda" compute-sanitizer --tool memcheck \
        --error-exitcode 9 "$build/tests/test_interop_cuda"
fi

if [ "${BENCH:-1}" != 0 ]; then
    step "bench (cuda, bf16)" "$tool" bench --backend cuda --dtype bf16 --n 4096,32768,131072
fi

printf '\n=== summary%s\n' "$summary"
exit $failed
