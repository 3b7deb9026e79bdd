#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# tools/second-member.sh [ROUNDS] - where the loopback tail of 1 MiB
# responses comes from (docs/benchmarks.md, "An open problem"): the same
# load (8 connections, 1 MiB keep-alive responses, a client reading 8 KiB at
# a time, 4 s) against
#   noproxy-1   member 1 only (the benchmark's no-proxy baseline)
#   noproxy-2   both members, 4 connections each (two clients)
#   packet-1    kbald (KbalSplice packet) with member 1 only
#   packet-2    kbald with both members (byrequests spreads the connections)
#   sockmap-1   kbald (KbalSplice sockmap) with member 1 only
# printing requests, p99 and the members' tail-loss probes (TcpExtTCPLossProbes)
# of each run. Runs as root in a network and mount namespace of its own
# (unshare): all traffic on that namespace's lo, pins on its own bpffs;
# everything it starts is stopped by PID.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
ROUNDS=${1:-2}

if [ -z "${KBAL_SECOND_MEMBER_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "second-member: run it as root" >&2; exit 1; }
	for f in kbald kbal-backend kbal-load; do
		[ -x "$B/$f" ] || { echo "second-member: $B/$f not built (make)" >&2; exit 1; }
	done
	exec env KBAL_SECOND_MEMBER_NS=1 unshare --net --mount "$0" "$@"
fi
mount --make-rprivate /
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

$B/kbal-backend --listen 127.0.0.1:18081 --name WAS1 >/dev/null 2>&1 & pids+=($!)
$B/kbal-backend --listen 127.0.0.1:18082 --name WAS2 >/dev/null 2>&1 & pids+=($!)

conf() {   # conf FILE SPLICE MEMBERS...
	local f=$1 splice=$2; shift 2
	{
		echo "Listen 127.0.0.1:8080"
		echo "<Proxy balancer://c>"
		for m in "$@"; do echo "BalancerMember http://127.0.0.1:$m route=$m"; done
		echo "ProxySet lbmethod=byrequests"
		echo "KbalSplice $splice"
		echo "</Proxy>"
		echo "ProxyPass / balancer://c/"
	} > "$f"
}
conf "$tmp/packet-1.conf" packet 18081
conf "$tmp/packet-2.conf" packet 18081 18082
conf "$tmp/sockmap-1.conf" sockmap 18081

load() {   # load PORT CONNS OUT
	$B/kbal-load 127.0.0.1:$1 --conns $2 --requests 100000 --duration 4 \
		--path /bytes/1048576 --read 8192 > "$3" 2>&1
}
figure() { grep -oE "\"$2\":[0-9]+" "$1" | cut -d: -f2; }

run() {    # run NAME
	local name=$1 kb=
	case $name in
	packet-*|sockmap-*)
		$B/kbald -f "$tmp/$name.conf" --pin-dir /sys/fs/bpf/kbal-sm >/dev/null 2>&1 &
		kb=$!
		pids+=($kb)
		for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break; sleep 0.1; done
		;;
	esac
	nstat -n
	case $name in
	noproxy-1) load 18081 8 "$tmp/a" ;;
	noproxy-2) load 18081 4 "$tmp/a" & local a=$!; load 18082 4 "$tmp/b"; wait $a ;;
	*) load 8080 8 "$tmp/a" ;;
	esac
	local probes=$(nstat | awk '/TcpExtTCPLossProbes/ {print $2}')
	local req=$(figure "$tmp/a" requests) p99=$(figure "$tmp/a" p99_us)
	if [ "$name" = noproxy-2 ]; then
		req=$((req + $(figure "$tmp/b" requests)))
		p99="$p99/$(figure "$tmp/b" p99_us)"
	fi
	printf '%-10s %8s requests  p99 %12s us  loss probes %s\n' "$name" "$req" "$p99" "${probes:-0}"
	if [ -n "$kb" ]; then kill "$kb"; wait "$kb" 2>/dev/null; fi
}

for r in $(seq "$ROUNDS"); do
	echo "round $r"
	for name in noproxy-1 noproxy-2 packet-1 packet-2 sockmap-1; do run "$name"; done
done
