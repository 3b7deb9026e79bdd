#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What native XDP costs on veth before any program logic: the floor under
an XDP variant of the packet splice (docs/packet.md).

Three network namespaces of its own (client, balancer with IPv4 forwarding,
member) joined by veth pairs; build/kbal-backend in the member, wrk in the
client, straight through the balancer's forwarding. Each round measures
with nothing on the balancer's two veths and with an XDP_PASS program
attached natively to both (build/xdp-floor.bpf.o), keep-alive small
responses (50 connections) and 1 MiB responses (8 connections), and prints
the medians and their ratio. Traffic stays in the namespaces, which are
deleted on every exit; the processes it started are stopped by PID.

    sudo python3 tools/xdp-floor.py [--rounds 3] [--duration 3]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = os.path.join(ROOT, "build", "kbal-backend")
XDP_OBJ = os.path.join(ROOT, "build", "xdp-floor.bpf.o")
TAG = "kbxf%d" % os.getpid()
NS = {h: "%s-%s" % (TAG, h) for h in ("client", "bal", "member")}
ADDR = {"client": ("10.79.1.2", "10.79.1.1"), "member": ("10.79.2.2", "10.79.2.1")}
PORT = 18090


def sh(*argv, ns=None, check=True, timeout=60):
    if ns:
        argv = ("ip", "netns", "exec", NS[ns]) + argv
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check and p.returncode:
        sys.exit("%s: %s" % (" ".join(argv), p.stderr.decode().strip()))
    return p.stdout.decode()


def build():
    for h in NS:
        sh("ip", "netns", "add", NS[h])
        sh("ip", "link", "set", "lo", "up", ns=h)
    for h, (addr, bal) in ADDR.items():
        dev, bdev = "%s-%s" % (TAG, h[0]), "%s-b%s" % (TAG, h[0])
        sh("ip", "link", "add", bdev, "netns", NS["bal"], "type", "veth", "peer", "name", dev,
           "netns", NS[h])
        sh("ip", "addr", "add", addr + "/24", "dev", dev, ns=h)
        sh("ip", "addr", "add", bal + "/24", "dev", bdev, ns="bal")
        sh("ip", "link", "set", dev, "up", ns=h)
        sh("ip", "link", "set", bdev, "up", ns="bal")
        sh("ip", "route", "add", "default", "via", bal, ns=h)
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns="bal")
    return ["%s-b%s" % (TAG, h[0]) for h in ADDR]


def wrk(path, conns, duration):
    out = sh("wrk", "-t1", "-c%d" % conns, "-d%ds" % duration,
             "http://%s:%d%s" % (ADDR["member"][0], PORT, path), ns="client",
             timeout=duration + 30)
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        sys.exit("wrk: no Requests/sec in %r" % out)
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid():
        sys.exit("xdp-floor: needs root (namespaces, XDP)")
    for f in (BACKEND, XDP_OBJ):
        if not os.path.exists(f):
            sys.exit("xdp-floor: %s not built (make bench builds it)" % f)
    backend = None
    try:
        bdevs = build()
        backend = subprocess.Popen(["ip", "netns", "exec", NS["member"], BACKEND, "--listen",
                                    "%s:%d" % (ADDR["member"][0], PORT), "--name", "WAS1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        res = {}
        for r in range(args.rounds):
            for mode in ("none", "xdp"):
                for d in bdevs:
                    if mode == "xdp":
                        sh("ip", "link", "set", "dev", d, "xdpdrv", "obj", XDP_OBJ,
                           "sec", "xdp", ns="bal")
                    else:
                        sh("ip", "link", "set", "dev", d, "xdpdrv", "off", ns="bal")
                for scen, path, conns in (("ka-small", "/", 50), ("1m", "/bytes/1048576", 8)):
                    v = wrk(path, conns, args.duration)
                    res.setdefault((scen, mode), []).append(v)
                    print("round %d %-8s %-4s %10.0f req/s" % (r + 1, scen, mode, v), flush=True)
        print("\n| scenario | forwarding, nothing on the veths | with XDP_PASS (native) | ratio |")
        print("|---|---:|---:|---:|")
        for scen in ("ka-small", "1m"):
            a, b = statistics.median(res[(scen, "none")]), statistics.median(res[(scen, "xdp")])
            print("| %s | %.0f req/s | %.0f req/s | %.2f |" % (scen, a, b, b / a))
    finally:
        if backend is not None:
            backend.terminate()
            try:
                backend.wait(5)
            except subprocess.TimeoutExpired:
                backend.kill()
                backend.wait()
        for h in NS:
            subprocess.run(["ip", "netns", "del", NS[h]], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
