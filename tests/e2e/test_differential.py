# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Seeded differential tests: kbal against Debian's apache2, request by
request, on kept-alive client connections.

For each configuration (Apache's example with the sticky ROUTEID cookie,
also with MaxKeepAliveRequests 5, test_decide.py's two balancers with
either /api rule, and its one balancer of two members without
stickysession) and each seed, a random.Random(seed)
makes a plan: a few client connections, opened together, and a sequence of
groups of requests (one, or 2-5 pipelined in one send), each on one of the
connections. The plan runs on a freshly started apache2 (apache_beside)
and then on a freshly started kbald (a new Env for each seed: byrequests'
state is global, so both start from nothing), strictly one group after
the other, one server at a time. Then, request by request: the status,
the interim responses, the member that answered (X-Backend), what it
answered (for a GET "backend=NAME path=URL", the path it got; for a body
"len=N crc32=..."), the Set-Cookie, Location, Connection and Keep-Alive
lines; per connection whether it stayed open; per member, the request
lines it logged ("METHOD URL"), in order.

What the plans vary: paths on either side of the rules (/, /a, /api,
/api/x, /apix, query strings, a URL naming the sticky session, dot
segments, an escaped letter, double slashes, bytes mod_proxy %-encodes,
path parameters, absolute-form targets), the member's /redirect
(ProxyPassReverse), /cookies (its own Set-Cookie lines), /bytes/N and
/status/404; GET, HEAD, DELETE, OPTIONS, POST and PUT (Content-Length
bodies up to 200 KB, chunked bodies, Expect: 100-continue; a GET with a
body); HTTP/1.1, and HTTP/1.0 with
Connection: keep-alive (a connection of either, or both); the ROUTEID
cookie (route.1, route.2, a route no member has, one without the
"route." part, one among other cookies or behind a longer name, white
space or a ',' after the value, twice, on two Cookie lines, none),
switched mid-connection;
the Host header, switched mid-connection; Connection: close, /status/500
or /status/503 (httpd ends the connection after those) on a connection's
last request.

Left out, and why:
- HTTP/1.1 requests carry no "Connection: keep-alive": answers the kernel
  carries on a spliced connection go without httpd's Keep-Alive and
  Connection: Keep-Alive lines (docs/operating.md, "Which requests carry
  which headers": known, documented). HTTP/1.0 keep-alive connections are
  kbald's to decide, with those lines, and compared.
- The headers a member gets (/echo-headers): the requests the kernel keeps
  reach the member without X-Forwarded-* (documented, same section).
- Date, Server and the order of header lines: httpd rebuilds a proxied
  answer's head from a table.
- A request after one that ends the connection, in the same send: the
  server closes with unread bytes, and whether the client then reads the
  last answer or a reset is up to timing (httpd lingers, it still races).
  Closing requests come last on their connection only.
- Expect: 100-continue in a pipelined group: the client must wait for the
  interim answer before it sends the body; such a request is a group of
  its own.
- The balancer manager: its page carries a nonce and times.
- An absolute-form request-target with user info (http://u@host/):
  httpd answers 400, kbald takes it: a difference not fixed yet.
- An HTTP/1.1 absolute-form request without a Host header: httpd takes
  the target's host, kbald answers 400: not fixed yet either.
"""

import os
import random
import re
import socket
import threading
import time
import zlib

from kbaltest import (EXAMPLE_CONF, Conn, Env, build_request, check, chunked, eq,
                      kernel_keeps_unrouted)

from apache import apache_beside
from test_decide import ONE_BAL, SAME_RULE, STRIP_RULE, two_balancers

T = 5.0

CONFS = {
    "example": EXAMPLE_CONF,
    "strip": two_balancers(STRIP_RULE),
    "same": two_balancers(SAME_RULE),
    "onebal": ONE_BAL,
    "max5": EXAMPLE_CONF + "MaxKeepAliveRequests 5\n",
    # the kernel keeps unrouted requests too (WAS1 the one candidate)
    "lbset": kernel_keeps_unrouted(EXAMPLE_CONF),
    # byrequests over two app members beside the api balancer
    "app3": two_balancers(SAME_RULE, (2, 3)),
}
BACKENDS = {"app3": (1, 2, 3)}

# where a connection ends at the latest (MaxKeepAliveRequests)
CUTS = {"max5": 5}

# paths, by weight: either side of the /api rules, queries, the member's
# special endpoints
PATHS = [
    ("/", 4), ("/a", 4), ("/a/b", 2), ("/b?x=1", 2), ("/api", 2), ("/api/", 2),
    ("/api/x", 5), ("/api/y?q=1&r=2", 3), ("/api/x/deep", 2), ("/apix", 2), ("/api?q=1", 2),
    ("/x?y=z", 2), ("/redirect", 2), ("/api/redirect", 1), ("/cookies", 1),
    ("/api/cookies", 1), ("/bytes/%d", 2), ("/api/bytes/%d", 1), ("/status/404", 1),
    ("/api/status/404", 1), ("/?ROUTEID=route.2", 1), ("/a?ROUTEID=route.1", 1),
    ("/a/./b", 1), ("/a/../api/x", 1), ("/%61pi/x", 1), ("//api/x", 1), ("/api//x", 1),
    ("/a%7cb", 1), ("/a|b", 1), ("/api/x{y}", 1), ("/a;ROUTEID=route.2", 1),
    ("/api/x;jsessionid=1?ROUTEID=route.1", 1), ("/close", 1), ("/api/close", 1),
    ("http://Other.TEST:81/redirect", 1), ("http://a.test./api/x?q", 1),
]
# what the last request of a connection may ask for besides: an answer
# after which httpd ends the connection
LAST_PATHS = [("/status/500", 1), ("/status/503", 1)]
COOKIES = [(None, 3), ("ROUTEID=route.1", 3), ("ROUTEID=route.2", 3), ("ROUTEID=route.9", 1),
           ("ROUTEID=2", 1), ("a=b; ROUTEID=route.1; c=d", 1), ("ROUTEID=route.2;x=1", 1),
           ("XROUTEID=route.1; ROUTEID=route.2", 1), ("ROUTEID=route.1, a=b", 1),
           ("ROUTEID=route.1 ; a=b", 1), ("ROUTEID=route.2; ROUTEID=route.1", 1),
           ("a=b | ROUTEID=route.2", 1), ("ROUTEID=route.1 | ROUTEID=route.2", 1)]
HOSTS = [(None, 4), ("example.test", 1), ("Example.TEST:81", 1), ("127.0.0.1", 1)]
SIZES = [0, 1, 100, 1000, 5000, 65536, 70001, 200000]


def pick(rng, choices):
    return rng.choices([c for c, _ in choices], [w for _, w in choices])[0]


def gen_path(rng, last=False):
    p = pick(rng, PATHS + (LAST_PATHS if last and rng.random() < 0.3 else []))
    if "%d" in p:
        p = p % rng.choice([0, 10, 1000, 70000])
    return p


def gen_request(rng, state, version, last):
    """One request of a connection. state: the connection's current path
    side, cookie and host, each switched now and then."""
    if rng.random() < state["switch"]:
        state["path"] = gen_path(rng, last)
    elif last and rng.random() < 0.15:
        state["path"] = pick(rng, LAST_PATHS)
    path = state["path"]
    plain = state["plain"]
    if rng.random() < (0.05 if plain else 0.2):
        state["cookie"] = pick(rng, COOKIES)
    if rng.random() < (0.02 if plain else 0.1):
        state["host"] = pick(rng, HOSTS)
    r = {"method": "GET", "path": path, "version": version, "cookie": state["cookie"],
         "host": state["host"], "body": None, "coding": None, "conn": None}
    x = rng.random() * (4 if plain else 1)
    if x < 0.12:
        r["method"] = "HEAD"
    elif x < 0.16:
        r["method"] = rng.choice(["DELETE", "OPTIONS"])
    elif x < 0.4:
        r["method"] = rng.choice(["POST", "POST", "POST", "PUT"])
        r["coding"] = rng.choice(["cl", "cl", "chunked", "expect"] if version == "HTTP/1.1"
                                 else ["cl"])
        size = rng.choice(SIZES)
        if r["coding"] != "cl" and size == 0:
            size = 3
        r["body"] = rng.randbytes(size)
    elif x < 0.43:
        # a GET with a body (Content-Length)
        r["coding"] = "cl"
        r["body"] = rng.randbytes(rng.choice([1, 100, 5000]))
    if version == "HTTP/1.0":
        r["conn"] = "keep-alive"
    if last and rng.random() < 0.4:
        r["conn"] = "close"
    return r


def gen_plan(seed, cut=None):
    """[(connection index, [request, ...]), ...]: the groups in the order
    they are sent, each group in one send. cut: a connection's cut-th
    request ends its group (MaxKeepAliveRequests: nothing is sent behind
    the request after which the server ends the connection)."""
    rng = random.Random(seed)
    nconn = rng.choice([1, 1, 2, 3])
    left = {}
    states = {}
    for k in range(nconn):
        left[k] = rng.randint(4, 14)
        # a plain connection: GETs one at a time, mostly on one path,
        # cookie and Host (runs the kernel keeps); the others anything
        plain = rng.random() < 0.4
        vmode = "1.1" if plain else rng.choices(["1.1", "1.0", "mixed"], [6, 2, 1])[0]
        states[k] = {"path": gen_path(rng), "cookie": pick(rng, COOKIES),
                     "host": pick(rng, HOSTS), "vmode": vmode,
                     # long runs on one path (the kernel keeps them) or short
                     "switch": 0.1 if plain else rng.choice([0.1, 0.35]), "plain": plain}
    plan = []
    sent = dict.fromkeys(left, 0)
    while any(left.values()):
        k = rng.choice([k for k, n in left.items() if n])
        st = states[k]
        n = 1 if st["plain"] or rng.random() < 0.6 else rng.randint(2, 5)
        n = min(n, left[k])
        group = []
        for i in range(n):
            last = left[k] == 1
            vmode = st["vmode"]
            version = ("HTTP/1.0" if vmode == "1.0" or (vmode == "mixed" and rng.random() < 0.5)
                       else "HTTP/1.1")
            r = gen_request(rng, st, version, last)
            left[k] -= 1
            if r["coding"] == "expect" and group:
                # Expect: a group of its own (the client waits for the 100)
                plan.append((k, group))
                group = []
            group.append(r)
            sent[k] += 1
            if r["coding"] == "expect" or (cut and sent[k] == cut):
                plan.append((k, group))
                group = []
        if group:
            plan.append((k, group))
    return plan


def describe(r):
    s = "%s %s %s" % (r["method"], r["path"], r["version"])
    if r["body"] is not None:
        s += " [%s %d]" % (r["coding"], len(r["body"]))
    for name in ("cookie", "host", "conn"):
        if r[name]:
            s += " %s=%s" % (name, r[name])
    return s


def request_bytes(r, own_host, body=True):
    headers = []
    headers.append(("Host", r["host"] or own_host))
    if r["cookie"]:
        # "a | b": two Cookie lines (httpd reads them joined by ", ")
        headers += [("Cookie", v) for v in r["cookie"].split(" | ")]
    if r["conn"]:
        headers.append(("Connection", r["conn"]))
    payload = None
    if r["body"] is not None:
        if r["coding"] == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
            payload = chunked(r["body"], (1, 100, 4096, 65536, 7))
        elif r["coding"] == "expect":
            headers += [("Expect", "100-continue"), ("Content-Length", str(len(r["body"])))]
            payload = r["body"] if body else None
        else:
            payload = r["body"]
    return build_request(r["method"], r["path"], headers, payload, version=r["version"])


def summary(resp, method, port):
    """What is compared of one answer; the server's own port reads PORT."""
    def norm(v):
        return v.replace(":%d" % port, ":PORT") if v is not None else None
    body = resp.body
    if method == "HEAD":
        text = None
    elif len(body) <= 200 and all(32 <= b < 127 or b in (9, 10, 13) for b in body):
        text = norm(body.decode())
    else:
        text = "%d bytes crc32=%08x" % (len(body), zlib.crc32(body) & 0xffffffff)
    return {
        "status": resp.status,
        "interim": [i.status for i in resp.interim],
        "X-Backend": resp.header("X-Backend"),
        "body": text,
        "Set-Cookie": resp.header_all("Set-Cookie"),
        "Location": norm(resp.header("Location")),
        "Connection": resp.header_all("Connection"),
        "Keep-Alive": resp.header_all("Keep-Alive"),
    }


def send_all(c, data):
    """data in one send; a thread of its own when it is large, so that
    answers the server writes meanwhile are read (no deadlock)"""
    if len(data) <= 65536:
        c.send(data)
        return None
    t = threading.Thread(target=lambda: _send_quiet(c, data), daemon=True)
    t.start()
    return t


def _send_quiet(c, data):
    try:
        c.send(data)
    except OSError:
        pass    # the server closed: what the reader sees is compared


def run_plan(port, plan, deadline):
    """The plan against the server on port: [(request index, description,
    outcome)] and per connection whether it ended ("open"/"closed")."""
    conns, closed, out = {}, {}, []
    idx = 0
    try:
        for k, group in plan:
            check(time.monotonic() < deadline, "plan over its time bound")
            if k not in conns:
                conns[k] = Conn(port, timeout=T)
                closed[k] = None
            c = conns[k]
            if closed[k] is not None:
                for r in group:
                    out.append((idx, k, describe(r), "not sent: connection ended"))
                    idx += 1
                continue
            own = c.host_header
            if group[0]["coding"] == "expect":
                r = group[0]
                c.send(request_bytes(r, own, body=False))
                try:
                    first = c.read_response(interim=True)
                except (AssertionError, OSError) as e:
                    out.append((idx, k, describe(r), "no answer: %s" % type(e).__name__))
                    closed[k] = "closed"
                    idx += 1
                    continue
                if first.status != 100:
                    # a final answer without a 100: the body is not sent
                    resp = first
                    c_body_skipped = True
                else:
                    t = send_all(c, r["body"])
                    resp = c.read_response(r["method"])
                    resp.interim = [first] + resp.interim
                    if t:
                        t.join(T)
                    c_body_skipped = False
                s = summary(resp, r["method"], port)
                if c_body_skipped:
                    s["body-sent"] = False
                out.append((idx, k, describe(r), s))
                idx += 1
                if closes(resp):
                    closed[k] = ending(c)
                continue
            data = b"".join(request_bytes(r, own) for r in group)
            t = send_all(c, data)
            for i, r in enumerate(group):
                try:
                    resp = c.read_response(r["method"])
                except (AssertionError, OSError) as e:
                    out.append((idx, k, describe(r), "no answer: %s" % (
                        "eof" if c.eof or isinstance(e, ConnectionResetError) else e)))
                    idx += 1
                    closed[k] = "closed"
                    for r2 in group[i + 1:]:
                        out.append((idx, k, describe(r2), "no answer: connection ended"))
                        idx += 1
                    break
                out.append((idx, k, describe(r), summary(resp, r["method"], port)))
                idx += 1
                if closes(resp) and i == len(group) - 1:
                    closed[k] = ending(c)
            if t:
                t.join(T)
        ends = {}
        for k, c in conns.items():
            if closed[k] is None:
                # open, as far as the answers said: nothing more comes
                ends[k] = "closed" if c.at_eof(0.1) else "open"
            else:
                ends[k] = closed[k]
        return out, ends
    finally:
        for c in conns.values():
            c.close()


def closes(resp):
    return any(v.lower() == "close" for v in resp.header_all("Connection"))


def ending(c):
    """After an answer that says Connection: close: the server's end"""
    return "closed" if c.at_eof(2.0) else "open after Connection: close"


def differential(conf_name, seeds, budget=25.0):
    """Each seed's plan against a fresh apache2 and a fresh kbald; the
    first difference fails the test, with the plan up to it."""
    start = time.monotonic()
    total = [0, 0, 0]
    for seed in seeds:
        check(time.monotonic() - start < budget, "seeds over their time bound (%s)" % seed)
        got = run_both(conf_name, seed, gen_plan(seed, CUTS.get(conf_name)))
        total = [a + b for a, b in zip(total, got)]
    print("%s, seeds %s: %d requests alike; the kernel kept %d, handed %d back"
          % (conf_name, ",".join(map(str, seeds)), total[0], total[1], total[2]))


def run_both(conf_name, seed, plan):
    """plan against a fresh apache2, then a fresh kbald; compared"""
    with Env(conf=CONFS[conf_name], backends=BACKENDS.get(conf_name, (1, 2))) as env:
        with apache_beside(env) as aport:
            theirs, theirs_end = run_plan(aport, plan, time.monotonic() + 10)
        their_lines = {n: env.backend_log(n) for n in env.backend_ids}
        marks = {n: len(their_lines[n]) for n in env.backend_ids}
        ours, ours_end = run_plan(env.port, plan, time.monotonic() + 10)
        our_lines = {n: env.backend_log(n)[marks[n]:] for n in env.backend_ids}
        st = env.stats()
    compare(conf_name, seed, plan, theirs, ours, theirs_end, ours_end, their_lines,
            our_lines)
    return len(ours), st["kept"], st["back"]


def plan_text(plan, upto=None):
    lines, idx = [], 0
    for k, group in plan:
        for j, r in enumerate(group):
            if upto is not None and idx > upto:
                return "\n".join(lines)
            lines.append("  %3d conn %d%s %s" % (idx, k, " +" if j else "  ", describe(r)))
            idx += 1
    return "\n".join(lines)


def compare(conf_name, seed, plan, theirs, ours, theirs_end, ours_end, their_lines, our_lines):
    where = "conf %s seed %d" % (conf_name, seed)
    for (i, k, d, a), (_, _, _, b) in zip(theirs, ours):
        if a != b:
            diff = a if not isinstance(a, dict) or not isinstance(b, dict) else {
                f: (a.get(f), b.get(f)) for f in set(a) | set(b) if a.get(f) != b.get(f)}
            raise AssertionError(
                "%s: request %d (conn %d, %s) differs, (Apache's, kbal's): %r\n"
                "Apache: %r\nkbal:   %r\nplan up to it (\"+\": pipelined with the one before):\n%s"
                % (where, i, k, d, diff, a, b, plan_text(plan, i)))
    eq(len(ours), len(theirs), "%s: answers" % where)
    eq(ours_end, theirs_end, "%s: which connections stayed open, kbal's against Apache's" % where)
    for n in sorted(their_lines):
        eq(our_lines[n], their_lines[n], "%s: what WAS%d logged, kbal's against Apache's\n%s"
           % (where, n, plan_text(plan)))


def test_differential_example():
    differential("example", [1, 2, 3, 4, 5, 6])


def test_differential_two_balancers_strip():
    differential("strip", [11, 12, 13, 14, 15, 16])


def test_differential_two_balancers_same():
    differential("same", [21, 22, 23, 24, 25, 26])


def test_differential_one_balancer():
    differential("onebal", [31, 32, 33, 34, 35, 36])


def test_differential_max_keepalive_requests():
    # the connection's end at its 5th request, whoever carries it
    differential("max5", [41, 42, 43, 44, 45, 46])


def test_differential_kernel_keeps_unrouted():
    differential("lbset", [51, 52, 53, 54, 55, 56])


def test_differential_two_app_members():
    differential("app3", [61, 62, 63, 64, 65, 66])
