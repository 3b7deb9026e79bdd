#!/bin/bash
# `sudo make demo`: two demo backends and kbald on the Apache example, all
# on loopback. Ctrl-C stops everything it started and removes the pins.
set -u
cd "$(dirname "$0")/.."
CONF=docs/examples/apache-balancer.conf
PIN=${KBAL_PIN_DIR:-/sys/fs/bpf/kbal}
pids=()

cleanup() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	[ -d "$PIN" ] && { echo "demo: removing leftover pins in $PIN"; rm -rf "$PIN"; }
	exit 0
}
trap cleanup INT TERM EXIT

if [ "$(id -u)" != 0 ]; then
	echo "demo: kbald loads BPF programs: run it as root (sudo make demo)" >&2
	exit 1
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
for port in 8080 18081 18082; do
	if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
		echo "demo: 127.0.0.1:$port is already in use; stop what listens there first" >&2
		exit 1
	fi
done

build/kbal-backend --listen 127.0.0.1:18081 --name WAS1 & pids+=($!)
build/kbal-backend --listen 127.0.0.1:18082 --name WAS2 & pids+=($!)
build/kbald -t -f "$CONF" || exit 1
build/kbald -f "$CONF" --pin-dir "$PIN" & pids+=($!)
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break
	sleep 0.1
done

cat <<MSG

kbal is serving $CONF on http://127.0.0.1:8080/ (maps in $PIN)

  curl -si http://127.0.0.1:8080/                       # a member answers, Set-Cookie: ROUTEID=route.N
  curl -si http://127.0.0.1:8080/                       # the other one (byrequests)
  curl -si -b ROUTEID=route.2 http://127.0.0.1:8080/    # sticky: always WAS2, no new cookie
  curl -s  http://127.0.0.1:8080/balancer-manager       # the manager page, from the maps
  build/kbalctl members                                 # members, status, counters
  build/kbalctl set mycluster 1 status=+D               # disable WAS1: the next requests go to WAS2
  bpftool map dump pinned $PIN/kbal_members             # the same state, as bpftool sees it
  bpftool map dump pinned $PIN/kbal_flows               # live flows: client address -> member
  bpftool map dump pinned $PIN/kbal_pkt                 # keep-alive flows joined packet by packet
  kill -HUP ${pids[2]}                                  # restart in place (edit $CONF first): no connection lost

Ctrl-C stops the backends and kbald and removes the pins.
MSG
wait "${pids[2]}"
