# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""mod_proxy's settings for the connections to members (issue 17):
ProxySourceAddress (the members' connections come from that address; the
health checks, bound the same way, still pass), ProxyReceiveBufferSize
(their SO_RCVBUF), ProxyBadHeader IsError (httpd's default: taken)."""

import re
import subprocess

from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq, wait_until

T = 10.0


def member_sockets(port):
    """(local address, rcvbuf bytes) of the established connections to port"""
    out = subprocess.run(["ss", "-Htnm", "state", "established", "dport", "= :%d" % port],
                         stdout=subprocess.PIPE, text=True, timeout=10).stdout
    socks = []
    for block in re.split(r"\n(?=\S)", out.strip()):
        m = re.match(r"\s*\d+\s+\d+\s+(\S+):\d+\s", block)
        rb = re.search(r"rb(\d+)", block)
        if m:
            socks.append((m.group(1), int(rb.group(1)) if rb else None))
    return socks


def test_source_address_and_receive_buffer():
    conf = EXAMPLE_CONF.replace("ProxyRequests Off", "ProxyRequests Off\n"
                                "ProxySourceAddress 127.0.0.2\n"
                                "ProxyReceiveBufferSize 65536\nProxyBadHeader IsError")
    conf = conf.replace("route=1", "route=1 hcmethod=GET hcinterval=1")
    with Env(conf=conf) as env:
        with Conn(env.port, timeout=T) as c:
            for i in range(3):
                eq(c.get("/s%d" % i, cookie="ROUTEID=route.1").status, 200, "GET /s%d" % i)
            socks = member_sockets(env.ports["b1"])
            check(socks, "no connection to member 1")
            eq(sorted({s[0] for s in socks}), ["127.0.0.2"], "their source address")
            # the kernel doubles SO_RCVBUF for its bookkeeping
            check(all(s[1] == 2 * 65536 for s in socks),
                  "their receive buffers: %r" % socks)
        wait_until(lambda: any(l.startswith("GET / ") or l == "GET /"
                               for l in env.backend_log(1)), 5.0, "a health check")
        # the checks connect from the same address and pass: member 1
        # stays usable (a failed check would send its route elsewhere)
        wait_until(lambda: sum(l.startswith("GET /") and not l.startswith("GET /s")
                               for l in env.backend_log(1)) >= 2, 5.0, "two health checks")
        r = env.get("/after", cookie="ROUTEID=route.1")
        eq((r.status, r.header("X-Backend")), (200, "WAS1"), "a request after them")


def test_errors():
    for line, err in (("ProxySourceAddress 0.0.0.0", "ProxySourceAddress 0.0.0.0: give an IP "
                       "address of this host"),
                      ("ProxySourceAddress ::", "ProxySourceAddress ::: give an IP "
                       "address of this host"),
                      ("ProxyReceiveBufferSize 100", "ProxyReceiveBufferSize must be >= 512 "
                       "bytes, or 0 for system default."),
                      ("ProxyBadHeader Ignore", "ProxyBadHeader Ignore is not supported by "
                       "kbal")):
        r = subprocess.run([__import__("kbaltest").KBALD, "-t", "-f", "/dev/stdin"],
                           input=EXAMPLE_CONF.replace("{listen}", "1").replace(
                               "{b1}", "2").replace("{b2}", "3") + line + "\n",
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        check(r.returncode != 0 and err in r.stdout, "%s: %r" % (line, r.stdout))
