# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""IPv6 wherever an address goes (issue 17), on ::1 in the test's own
namespace: listeners [::1] and [::] (IPv4 clients too, as httpd's),
members http://[::1]:PORT, and each family to the other; bodies of a few
MiB both ways, byte for byte, on kept-alive connections the kernel splices
(sockmap); the sticky route, the access log's %h, X-Forwarded-For, the
Host a [::1] member is sent, the manager's member URLs; KbalSplice packet
giving an IPv6 flow to sockmap with its reason; and what Debian's apache2
writes on the same configuration."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

from apache import apache_beside
from kbaltest import (KBALD, PROXY_HEAD, Conn, Env, check, check_pattern, crc_line, eq,
                      hand_over, wait_until)

T = 20.0
MIB = 1 << 20


def conf(listen, member, d, extra=""):
    """Two members on member's address, sticky, the manager, an access log
    in d with the client's address first"""
    return PROXY_HEAD.replace("Listen 127.0.0.1:{listen}", "Listen %s:{listen}" % listen) + """\
Header add Set-Cookie "ROUTEID=.%%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
<Proxy balancer://mycluster>
BalancerMember http://%s:{b1} route=1
BalancerMember http://%s:{b2} route=2
ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /balancer-manager !
ProxyPass / balancer://mycluster/
ProxyPreserveHost On
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
LogFormat "%%h %%a \\"%%r\\" %%>s" v6
CustomLog %s/access.log v6
%s""" % (member, member, d, extra)


def ipv6_here():
    """::1 on lo: the runner's namespace brings lo up; a kernel booted
    with IPv6 off has none, and these tests cannot run"""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise AssertionError("no ::1 in the test's namespace: %s" % e)


def log_lines(d):
    try:
        with open(os.path.join(d, "access.log")) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def sent(r):
    """{header: [values]} of the head /echo-headers sends back"""
    out = {}
    for ln in r.text.split("\r\n")[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            out.setdefault(k.strip().lower(), []).append(v.strip())
    return out


def exercise(env, client, d):
    """Everything one listener and member pair should do: the Host
    (preserved: the kernel keeps requests whose Host kbald need not
    rewrite) and X-Forwarded-For the member gets, a sticky keep-alive connection the
    kernel carries (sockmap) with bodies of 3 MiB each way, the access
    log; client: the address the member and the log should name."""
    with env.connect(timeout=T) as c:
        r = c.get("/echo-headers", cookie="ROUTEID=.1")
        eq(r.status, 200, "first request")
        h = sent(r)
        eq(h.get("host"), [c.host_header], "Host sent to member 1, preserved")
        eq(h.get("x-forwarded-for"), [client], "X-Forwarded-For")
        eq(h.get("x-forwarded-host"), [c.host_header], "X-Forwarded-Host: the client's Host")
        # the second request hands the connection over; then the kernel
        # keeps each request with the member's route
        eq(c.get("/second", cookie="ROUTEID=.1").header("X-Backend"), "WAS1", "second")
        before = env.stats()
        for i in range(6):
            r = c.get("/k%d" % i, cookie="ROUTEID=.1")
            eq((r.status, r.text), (200, "backend=WAS1 path=/k%d\n" % i), "kept request %d" % i)
        body = bytes((i * 13 + 5) & 0xff for i in range(256)) * (3 * MIB // 256)
        r = c.request("POST", "/upload", headers=[("Cookie", "ROUTEID=.1")], body=body)
        r = c.read_response()
        eq((r.status, r.text), (200, crc_line(body)), "3 MiB up, byte for byte")
        r = c.get("/bytes/%d" % (3 * MIB), cookie="ROUTEID=.1")
        eq((r.status, len(r.body)), (200, 3 * MIB), "3 MiB down")
        check_pattern(r.body, "3 MiB down")
        st = env.stats()
        check(st["kept"] - before["kept"] >= 8 and st["back"] == before["back"],
              "requests the kernel kept: %r then %r" % (before, st))
        check(st["redirected_bytes"] - before["redirected_bytes"] >= 6 * MIB,
              "bytes the kernel carried: %r then %r" % (before, st))
        flows = env.flows()
        eq(len(flows), 1, "one flow: %r" % flows)
        eq(flows[0][1]["path"], 1, "its path: sockmap")
        out = env.kbalctl("flows")
        want = ("[%s]" if ":" in client else "%s") % client
        check(re.search(r"^%s:\d+ +1 +spliced +sockmap " % re.escape(want), out, re.M),
              "kbalctl flows names the client: %r" % out)
    # sticky to the other member, on a connection of its own
    r = env.get("/s", cookie="ROUTEID=.2")
    eq((r.status, r.header("X-Backend")), (200, "WAS2"), "sticky route 2")
    wait_until(lambda: any("GET /s HTTP" in l for l in log_lines(d)), 5.0, "the log's line")
    for l in log_lines(d):
        if l.startswith("FLOW"):
            continue
        check(l.startswith("%s %s \"" % (client, client)), "an access log line: %r" % l)
    check(any(l.startswith('%s %s "GET /echo-headers HTTP/1.1" 200' % (client, client))
              for l in log_lines(d)), "the first request's line: %r" % log_lines(d))


def test_v6_listener_v6_members():
    ipv6_here()
    d = tempfile.mkdtemp(prefix="kbal-v6-")
    try:
        with Env(conf=conf("[::1]", "[::1]", d),
                 addrs=dict(listen="::1", b1="::1", b2="::1")) as env:
            urls = sorted(m["url"] for m in env.members().values())
            eq(urls, sorted(env.member_url(n) for n in (1, 2)), "kbal_members' URLs")
            eq([m["addr"] for m in env.members().values()], [[0] * 15 + [1]] * 2,
               "kbal_members' addresses: ::1")
            exercise(env, "::1", d)
            # the manager lists the members by their URLs
            r = env.get("/balancer-manager")
            eq(r.status, 200, "the manager")
            for n in (1, 2):
                check(env.member_url(n) in r.text, "%s on the page" % env.member_url(n))
            out = env.kbalctl("members")
            for n in (1, 2):
                check("[::1]:%d" % env.ports["b%d" % n] in out, "kbalctl members: %r" % out)
            check("listening on [::1]:%d" % env.port in env.kbald_stderr(), env.kbald_stderr())
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_v6_listener_v4_members():
    ipv6_here()
    d = tempfile.mkdtemp(prefix="kbal-v6-")
    try:
        with Env(conf=conf("[::1]", "127.0.0.1", d), addrs=dict(listen="::1")) as env:
            exercise(env, "::1", d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_v4_listener_v6_members():
    ipv6_here()
    d = tempfile.mkdtemp(prefix="kbal-v6-")
    try:
        with Env(conf=conf("127.0.0.1", "[::1]", d), addrs=dict(b1="::1", b2="::1")) as env:
            exercise(env, "127.0.0.1", d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_any_listener_takes_both_families():
    """Listen [::]:PORT takes IPv4 clients too (httpd leaves IPV6_V6ONLY
    off), named by their IPv4 address as APR does, not ::ffff:127.0.0.1;
    Require ip of each family on the manager"""
    ipv6_here()
    d = tempfile.mkdtemp(prefix="kbal-v6-")
    try:
        text = conf("[::]", "[::1]", d).replace(
            "    SetHandler balancer-manager\n",
            "    SetHandler balancer-manager\n    Require ip ::1/128 10.0.0.0/8\n")
        with Env(conf=text, addrs=dict(listen="::1", b1="::1", b2="::1")) as env:
            with Conn(env.port, host="127.0.0.1", timeout=T) as c:
                r = c.get("/echo-headers", cookie="ROUTEID=.2")
                eq((r.status, sent(r).get("x-forwarded-for")), (200, ["127.0.0.1"]),
                   "an IPv4 client of [::]")
                eq(c.get("/balancer-manager").status, 403, "Require ip ::1: not 127.0.0.1")
            with Conn(env.port, host="::1", timeout=T) as c:
                r = c.get("/echo-headers", cookie="ROUTEID=.2")
                eq((r.status, sent(r).get("x-forwarded-for")), (200, ["::1"]),
                   "an IPv6 client of [::]")
                eq(c.get("/balancer-manager").status, 200, "Require ip ::1/128")
            wait_until(lambda: len([l for l in log_lines(d) if "/echo-headers" in l]) == 2,
                       5.0, "two lines")
            got = sorted(l.split(" ")[0] for l in log_lines(d) if "/echo-headers" in l)
            eq(got, ["127.0.0.1", "::1"], "%h of each")
    finally:
        shutil.rmtree(d, ignore_errors=True)


PACKET = PROXY_HEAD.replace("127.0.0.1:{listen}", "{listen_addr}:{listen}") + """\
<Proxy balancer://one>
BalancerMember http://{b1_addr}:{b1}
KbalSplice packet
</Proxy>
ProxyPass / balancer://one/
ProxyPreserveHost On
"""


def test_packet_asked_v6_takes_sockmap():
    """KbalSplice packet rewrites IPv4 headers only: a flow with an IPv6
    client, or an IPv4 client and an IPv6 member, takes the sockmap path
    and says why (kbald -t and its start, kbalctl flows' WHY); an IPv4
    flow beside them is still joined packet by packet"""
    ipv6_here()
    for listen, member in (("[::1]", "[::1]"), ("127.0.0.1", "[::1]")):
        text = PACKET.replace("{listen_addr}", listen).replace("{b1_addr}", member)
        addrs = {k: v.strip("[]") for k, v in (("listen", listen), ("b1", member))}
        with Env(conf=text, backends=(1,), addrs=addrs) as env:
            check("balancer://one: KbalSplice packet joins IPv4 connections only: those of "
                  "its IPv6 clients or members take the sockmap path" in env.kbald_stderr(),
                  env.kbald_stderr())
            with env.connect(timeout=T) as c:
                hand_over(c)
                for i in range(4):
                    r = c.get("/p%d" % i)
                    eq((r.status, r.text), (200, "backend=WAS1 path=/p%d\n" % i),
                       "%s to %s: request %d" % (listen, member, i))
                r = c.get("/bytes/%d" % (2 * MIB))
                check_pattern(r.body, "2 MiB down")
                eq([f["path"] for _, f in env.flows()], [1],
                   "%s to %s: the path, sockmap" % (listen, member))
                out = env.kbalctl("flows")
                check(re.search(r"spliced +sockmap +\d+ +ipv6$", out, re.M),
                      "%s to %s: kbalctl flows: %r" % (listen, member, out))
    text = PACKET.replace("{listen_addr}", "127.0.0.1").replace("{b1_addr}", "[::1]")
    r = subprocess.run([KBALD, "-t", "-f", "/dev/stdin"],
                       input=text.replace("{listen}", "1").replace("{b1}", "2"), text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    check(r.returncode == 0 and "KbalSplice packet joins IPv4 connections only" in r.stdout,
          "kbald -t: %r" % r.stdout)
    # the same configuration on IPv4 alone: joined, no such warning
    text = PACKET.replace("{listen_addr}", "127.0.0.1").replace("{b1_addr}", "127.0.0.1")
    with Env(conf=text, backends=(1,)) as env:
        check("IPv4 connections only" not in env.kbald_stderr(), env.kbald_stderr())
        with env.connect(timeout=T) as c:
            hand_over(c)
            wait_until(lambda: [f["path"] for _, f in env.flows()] == [3], 5.0,
                       "an IPv4 flow on the packet path")
            eq(c.get("/after").text, "backend=WAS1 path=/after\n", "a request after")


APACHE = PROXY_HEAD.replace("127.0.0.1:{listen}", "[::1]:{listen}") + """\
<Proxy balancer://mycluster>
BalancerMember http://[::1]:{b1} route=1
</Proxy>
ProxyPass / balancer://mycluster/
ProxyPassReverse / balancer://mycluster/
LogFormat "%%h \\"%%r\\" %%>s" v6
CustomLog %s/access.log v6
"""


def test_ipv6_as_apache():
    """Beside Debian's apache2 on [::1], member [::1]: the Host and the
    X-Forwarded-* lines the member gets, the access log's %h"""
    ipv6_here()
    d = tempfile.mkdtemp(prefix="kbal-v6-")
    os.chmod(d, 0o777)
    try:
        with Env(conf=APACHE % d, backends=(1,), addrs=dict(listen="::1", b1="::1")) as env:
            with apache_beside(env) as aport:
                got, loc = {}, {}
                for who, port in (("apache", aport), ("kbal", env.port)):
                    with Conn(port, host="::1", timeout=T) as c:
                        r = c.get("/echo-headers")
                        eq(r.status, 200, who)
                        h = sent(r)
                        got[who] = (h.get("host"), h.get("x-forwarded-for"),
                                    h.get("x-forwarded-host"))
                        # the member's own URL in a Location, as the client's
                        r = c.get("/redirect")
                        loc[who] = (r.status, r.header("Location"))
                eq(loc["apache"], (302, "http://[::1]:%d/landing" % aport),
                   "Apache's ProxyPassReverse of a [::1] member (the test's reading)")
                eq(loc["kbal"], (302, "http://[::1]:%d/landing" % env.port),
                   "kbal's ProxyPassReverse of a [::1] member")
                eq(got["apache"][:2], (["[::1]:%d" % env.ports["b1"]], ["::1"]),
                   "Apache's Host and X-Forwarded-For (the test's reading)")
                eq(got["kbal"], (got["apache"][0], got["apache"][1],
                                     [h.replace(str(aport), str(env.port))
                                      for h in got["apache"][2]]), "kbal as Apache")
                wait_until(lambda: len([l for l in log_lines(d)
                                        if "/echo-headers" in l]) == 2, 5.0, "both lines")
            hs = [l.split(" ")[0] for l in log_lines(d) if "/echo-headers" in l]
            eq(hs, ["::1", "::1"], "%h: Apache's then kbal's")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_restart_keeps_v6_connections():
    """A restart in place takes over a spliced IPv6 connection, and the
    [::1] and [::] listeners (their queues with them): the client goes on,
    a new client of each family comes in"""
    ipv6_here()
    d = tempfile.mkdtemp(prefix="kbal-v6-")
    try:
        text = conf("[::1]", "[::1]", d).replace(
            "Listen [::1]:{listen}", "Listen [::1]:{listen}\nListen [::]:{b3}")
        with Env(conf=text, addrs=dict(listen="::1", b1="::1", b2="::1")) as env:
            with env.connect(timeout=T) as c:
                hand_over(c, cookie="ROUTEID=.2")
                eq(c.get("/before", cookie="ROUTEID=.2").header("X-Backend"), "WAS2", "before")
                # the flow's entry says so once kbald's loop has written it
                wait_until(lambda: [f["path"] for _, f in env.flows()] == [1], 5.0,
                           "spliced before (flows: %r)" % env.flows())
                seen = env.kbald_stderr().count("restarted: took over")
                os.kill(env.kbald.pid, signal.SIGHUP)
                wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen,
                           10.0, "the restart")
                for i in range(4):
                    r = c.get("/after%d" % i, cookie="ROUTEID=.2")
                    eq((r.status, r.text), (200, "backend=WAS2 path=/after%d\n" % i),
                       "after the restart, %d" % i)
                r = c.get("/bytes/%d" % MIB, cookie="ROUTEID=.2")
                check_pattern(r.body, "1 MiB after the restart")
            for host in ("::1", "127.0.0.1"):
                with Conn(env.ports["b3"], host=host, timeout=T) as c2:
                    r = c2.get("/new", cookie="ROUTEID=.1")
                    eq((r.status, r.header("X-Backend")), (200, "WAS1"),
                       "a new client on %s" % host)
            check(re.search(r"restarted: took over 1 connection\(s\) \(0 on the packet path\) "
                            r"and 2 listener\(s\)", env.kbald_stderr()),
                  "the connection and both listeners taken over: %s" % env.kbald_stderr())
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_proxy_source_address_v6():
    """ProxySourceAddress of IPv6 (an address added to lo in the test's
    namespace, removed after) binds the connections to IPv6 members (their
    /peer says so) and leaves those to IPv4 members alone, which a bind to
    an IPv6 address could not reach"""
    ipv6_here()
    src = "fd00:6b62::2"
    text = PROXY_HEAD + """\
<Proxy balancer://mycluster>
BalancerMember http://[::1]:{b1} route=1
BalancerMember http://127.0.0.1:{b2} route=2
ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass / balancer://mycluster/
ProxySourceAddress %s
""" % src
    subprocess.run(["ip", "-6", "addr", "add", src + "/128", "dev", "lo", "nodad"], check=True,
                   timeout=10)
    try:
        with Env(conf=text, addrs=dict(b1="::1")) as env:
            r = env.get("/peer", cookie="ROUTEID=.1")
            eq(r.status, 200, "to the IPv6 member")
            check(re.match(r"^peer=\[%s\]:\d+\n$" % src, r.text), "its peer: %r" % r.text)
            r = env.get("/peer", cookie="ROUTEID=.2")
            eq(r.status, 200, "to the IPv4 member")
            check(re.match(r"^peer=127\.0\.0\.1:\d+\n$", r.text), "its peer: %r" % r.text)
    finally:
        subprocess.run(["ip", "-6", "addr", "del", src + "/128", "dev", "lo"], timeout=10)
