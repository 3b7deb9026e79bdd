#!/bin/sh
# Regenerates vmlinux.h from the running kernel's BTF (atomically).
set -eu
out=${1:?usage: gen-vmlinux.sh OUT}
mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out"
