#!/bin/sh
# Runs the NVIDIA kvpress reference vectors through `kvpress-tool verify` on one backend; any
# further arguments go to verify (e.g. --models DIR for cases that run the model).
# Exit 77 (skip) when the reference directory or the backend's device is absent.
tool=$1 dir=$2 backend=$3
shift 3
[ -d "$dir" ] || { echo "SKIP: no reference vectors at $dir"; exit 77; }
"$tool" info | grep -Eq "^  $backend +available" || { echo "SKIP: no $backend device"; exit 77; }
exec "$tool" verify "$dir" --backend "$backend" "$@"
