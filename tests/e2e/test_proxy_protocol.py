# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""KbalProxyProtocol v1|v2: each member connection starts with a PROXY
protocol header naming its client (docs/configuration.md). Requests the
kernel keeps carry no X-Forwarded-For (the kernel cannot add bytes to a
request: docs/design.md), so the header is how a member knows the client of
every request. Such a member connection is one client's: none is kept for
another. The members here (kbal-backend --proxy-protocol) refuse a
connection without the header with a 400, and log each request with the
client its connection's header named; /proxy-client answers it."""

import kbaltest
from kbaltest import EXAMPLE_CONF, Env, check, eq, kernel_keeps_unrouted, packet_alike
from test_requests import TWO, answer, where

PP = ("--proxy-protocol",)


def client_of(c):
    return "%s:%d" % c.sock.getsockname()


def run_clients(env, conf_what, members=(1, 2)):
    # two keep-alive clients, interleaved: each request's member connection
    # names the client who sent it, kept in the kernel or not
    with env.connect() as c1, env.connect() as c2:
        for k in range(5):
            for c in (c1, c2):
                r = c.get("/proxy-client")
                eq((r.status, r.text), (200, "proxy=%s\n" % client_of(c)),
                   "%s: request %d of %s" % (conf_what, k + 1, client_of(c)))
        mine = {client_of(c1), client_of(c2)}
    lines = sum((env.backend_log(n) for n in members), [])
    eq(len(lines), 10, "%s: requests the members got" % conf_what)
    for l in lines:
        check(l.startswith("GET /proxy-client proxy=") and l.split("proxy=")[1] in mine,
              "%s: a request's PROXY header names no client of ours: %r" % (conf_what, l))
    for n in members:
        eq(env.member(n)["idle"], 0, "%s: member %d's connections kept for another client"
           % (conf_what, n))


def test_every_request_carries_its_client_v1():
    conf = kernel_keeps_unrouted(EXAMPLE_CONF) + "KbalProxyProtocol v1\n"
    with Env(conf=conf, backend_args={1: PP, 2: PP}) as env:
        run_clients(env, "v1")
        check(env.stats()["kept"] >= 4, "requests the kernel kept: %r" % env.stats())


def test_every_request_carries_its_client_v2():
    conf = kernel_keeps_unrouted(EXAMPLE_CONF) + "KbalProxyProtocol v2\n"
    with Env(conf=conf, backend_args={1: PP, 2: PP}) as env:
        run_clients(env, "v2")
        check(env.stats()["kept"] >= 4, "requests the kernel kept: %r" % env.stats())


def test_packet_path_carries_the_header():
    # one member: the packet path joins only where every later request is
    # decided alike (kbaltest.packet_alike)
    conf = packet_alike(EXAMPLE_CONF) + "KbalProxyProtocol v2\n"
    with Env(conf=conf, backend_args={1: PP}) as env:
        run_clients(env, "packet", members=(1,))
        check(env.stats()["pkt_rewritten"] > 0, "packets the packet path joined: %r"
              % env.stats())


def test_one_balancer_only():
    # the api balancer's member wants the header, the app's refuses it; a
    # connection alternating between them (kbald decides each request,
    # each api request on a connection of its own) and one with runs
    conf = TWO.replace("<Proxy balancer://api>", "<Proxy balancer://api>\nKbalProxyProtocol v1")
    with Env(conf=conf, backend_args={1: PP}) as env:
        for paths in (["/a1", "/api/x1", "/a2", "/api/x2", "/a3"],
                      ["/b1", "/b2", "/b3", "/api/y1", "/api/y2", "/api/y3", "/b4"]):
            with env.connect() as c:
                for p in paths:
                    r = c.get(p)
                    eq((r.status, r.text), (200, answer(where(p), p)), "GET %s" % p)
                want = ["GET %s proxy=%s" % (p, client_of(c)) for p in paths if where(p) == 1]
                eq([l for l in env.backend_log(1) if l.split()[1] in paths], want,
                   "what the api member got, each with its client")
        eq(len(env.backend_log(2)), 7, "the app member's requests (no header)")
        eq(env.member(1)["idle"], 0, "api member: connections kept")


NGINX_CONF = """\
daemon off;
master_process off;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ }}
http {{
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format pp '$proxy_protocol_addr:$proxy_protocol_port $request';
    access_log {d}/access.log pp;
    server {{
        listen 127.0.0.1:{port} proxy_protocol;
        location / {{ return 200 "pp=$proxy_protocol_addr:$proxy_protocol_port\\n"; }}
    }}
}}
"""


def test_nginx_member_reads_the_header():
    # a member that parses the PROXY protocol as deployed: Debian's nginx
    # with `listen ... proxy_protocol`, which refuses a connection without
    # a valid header; both versions, kept-alive clients the kernel carries
    import os
    import shutil
    import subprocess
    import tempfile
    from apache import port_open
    from kbaltest import LIVE_PROCS, stop_proc, wait_until
    for version in ("v1", "v2"):
        conf = EXAMPLE_CONF.replace("BalancerMember http://127.0.0.1:{b2} route=2\n", "")
        conf = kernel_keeps_unrouted(conf) + "KbalProxyProtocol %s\n" % version
        d = tempfile.mkdtemp(prefix="kbal-nginx-")
        nginx = None
        try:
            with Env(conf=conf, backends=(), kbald=False) as env:
                with open(d + "/nginx.conf", "w") as f:
                    f.write(NGINX_CONF.format(d=d, port=env.ports["b1"]))
                nginx = subprocess.Popen(["nginx", "-c", d + "/nginx.conf"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                LIVE_PROCS.append(nginx)
                wait_until(lambda: port_open(env.ports["b1"]), 10.0, "nginx listening")
                env._start_kbald()
                with env.connect() as c:
                    for k in range(6):
                        r = c.get("/pp%d" % k)
                        eq((r.status, r.text), (200, "pp=%s\n" % client_of(c)),
                           "%s: request %d, as nginx read its PROXY header" % (version, k + 1))
                    me = client_of(c)
                kept = env.stats()["kept"]
                check(kept >= 3, "%s: requests the kernel kept: %d" % (version, kept))
            log = open(d + "/access.log").read().splitlines()
            eq(log, ["%s GET /pp%d HTTP/1.1" % (me, k) for k in range(6)],
               "%s: nginx's access log" % version)
        finally:
            if nginx is not None:
                stop_proc(nginx)
            shutil.rmtree(d, ignore_errors=True)
