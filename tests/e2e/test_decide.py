# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Every request of a kept-alive client connection decided as Apache's
mod_proxy_balancer decides it, also after the connection was handed to the
kernel (kbald serves the first request itself and hands the connection over
at the second): the kernel may keep a later request only when it is decided
the same (same ProxyPass rule, a sticky route naming the same member or
none, the member still usable); any other goes back to kbald at its first
byte. Nothing may be lost, duplicated or reordered.

Each test keeps a client connection alive over at least 6 requests (one
connection, or several side by side or one after the other), so that the
later ones are past the handover, and checks byte for byte what
the client got and, from each member's answer ("backend=NAME path=URL") and
log ("METHOD URL"), which member got each request with which path."""

import os
import signal

from kbaltest import (EXAMPLE_CONF, PROXY_HEAD, Env, build_request, check, chunked, crc_line, eq,
                      FLOW_SPLICED, kernel_keeps_unrouted, pattern, wait_until)

# short: a request the balancer loses fails the test in seconds, not at the
# runner's --timeout
T = 5.0

# Two balancers. `ProxyPass /api balancer://api` is Apache's usual way, and
# strips the prefix: /api/x reaches the api member as /x (/apix is not
# under /api: a rule ends at a path segment). The api balancer has WAS1,
# the app balancer WAS2 (and WAS3 with app_members=(2, 3)).
TWO = PROXY_HEAD + """\
<Proxy balancer://api>
BalancerMember http://127.0.0.1:{b1} route=1
</Proxy>
<Proxy balancer://app>
@APP@
ProxySet lbmethod=byrequests
</Proxy>
ProxyPass /balancer-manager !
@API_RULE@
ProxyPass / balancer://app/
ProxyPreserveHost On
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
"""

STRIP_RULE = "ProxyPass /api balancer://api"
# the same split with paths passed unchanged (which the kernel can keep)
SAME_RULE = "ProxyPass /api/ balancer://api/api/"


def two_balancers(rule=STRIP_RULE, app_members=(2,)):
    app = "\n".join("BalancerMember http://127.0.0.1:{b%d} route=%d" % (n, n)
                    for n in app_members)
    return TWO.replace("@APP@", app).replace("@API_RULE@", rule)


def api_path(rule, path):
    """The path the api member gets for path under rule, or None when the
    app balancer takes it (httpd's alias_match and its ProxyPass mapping)."""
    if rule == STRIP_RULE:
        if path.startswith("/api/") or path == "/api" or path.startswith("/api?"):
            rest = path[4:]
            return rest if rest.startswith("/") else "/" + rest
        return None
    if rule == SAME_RULE:
        return path if path.startswith("/api/") else None
    raise AssertionError("unknown rule %r" % rule)


def answer(member, path):
    return "backend=WAS%d path=%s\n" % (member, path)


def member_of(r, allowed=(1, 2, 3), what="the response"):
    """The member number in r's X-Backend, which must be one of allowed."""
    b = r.header("X-Backend")
    check(b in ["WAS%d" % n for n in allowed], "%s: X-Backend %r, expected one of %s; got %r"
          % (what, b, ", ".join("WAS%d" % n for n in allowed), r))
    return int(b[3:])


def logged(env, n):
    """The request lines member n logged: ["GET /x", ...]."""
    return env.backend_log(n)


def asked_in_turn(c, paths, first=1, cookie=None, member=None, route="member", what=None):
    """Each of paths asked on c in turn with cookie (None: no Cookie line),
    named request first, first + 1, ... and what ("with COOKIE" or "without
    a cookie" if None): each a 200 with member's answer (None: WAS1's or
    WAS2's, whichever answered) and the Set-Cookie of route ("member": the
    answering member's, None: none)."""
    what = what or ("with %s" % cookie if cookie else "without a cookie")
    for i, p in enumerate(paths):
        r = c.get(p, cookie=cookie)
        n = member_of(r, (1, 2)) if member is None else member
        sets = [] if route is None else [
            "ROUTEID=route.%s; path=/;" % (n if route == "member" else route)]
        eq((r.status, r.text, r.header_all("Set-Cookie")), (200, answer(n, p), sets),
           "request %d %s" % (first + i, what))


# requests alternating between the balancers from the second on (Apache's
# rule: /api/x, /api/y reach the api member as /x, /y), with a query
# string, a deeper path and /apix, which is not under /api
PATHS = ["/", "/api/x", "/a", "/api/y", "/b", "/api/z?q=1", "/apix", "/api/x/deep",
         "/c", "/d", "/api/v", "/api/w", "/e", "/api/u", "/f"]
# a run on the app balancer first: the connection is handed over to the app
# member at its second request and the kernel may keep /b../d; /api/x is
# the first request it must not keep
RUN_FIRST = ["/", "/a", "/b", "/c", "/d", "/api/x", "/e", "/api/y", "/api/z", "/f",
             "/api/w", "/g"]


def check_get(c, rule, path, app_members=(2,), cookie=None, what=""):
    """GET path on c; the answer must come from the balancer rule gives it
    to, with the path Apache gives the member. Returns the member."""
    r = c.get(path, cookie=cookie)
    return check_answer(r, rule, path, app_members, what or "GET %s" % path)


def check_answer(r, rule, path, app_members=(2,), what=""):
    mapped = api_path(rule, path)
    if mapped is not None:
        eq((r.status, r.header("X-Backend"), r.text), (200, "WAS1", answer(1, mapped)),
           "%s (the api balancer's member, path %s)" % (what, mapped))
        return 1
    what = "%s (an app member, path %s)" % (what, path)
    n = member_of(r, app_members, what)
    eq((r.status, r.text), (200, answer(n, path)), what)
    return n


def check_logs(env, rule, paths, method="GET", app_members=(2,)):
    """The api member got exactly the api requests, in order, with their
    mapped paths; the app members exactly the others."""
    api = ["%s %s" % (method, api_path(rule, p)) for p in paths if api_path(rule, p) is not None]
    app = ["%s %s" % (method, p) for p in paths if api_path(rule, p) is None]
    eq(logged(env, 1), api, "what the api member (WAS1) got")
    got = []
    for n in app_members:
        got += logged(env, n)
    if len(app_members) == 1:
        eq(got, app, "what the app member (WAS%d) got" % app_members[0])
    else:
        eq(sorted(got), sorted(app), "what the app members got")


# ---- 1. alternating paths, one request at a time ----------------------------

def alternating(rule, paths):
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        for i, p in enumerate(paths):
            check_get(c, rule, p, what="request %d, GET %s" % (i + 1, p))
        check(c.idle(0.3), "bytes after the last response")
        check_logs(env, rule, paths)


def test_alternating_paths_two_balancers():
    # Apache's ProxyPass /api balancer://api: /api/x arrives as /x
    alternating(STRIP_RULE, PATHS)


def test_alternating_paths_two_balancers_same_path():
    # ProxyPass /api/ balancer://api/api/: paths unchanged
    alternating(SAME_RULE, PATHS)


def test_alternating_paths_after_kept_run():
    alternating(STRIP_RULE, RUN_FIRST)


def test_alternating_paths_after_kept_run_same_path():
    alternating(SAME_RULE, RUN_FIRST)


def interleaved(rule):
    """Four connections, each alternating, their requests interleaved one
    at a time; the app balancer has two members (byrequests)."""
    app_members = (2, 3)
    with Env(conf=two_balancers(rule, app_members), backends=(1, 2, 3)) as env:
        conns = [env.connect(timeout=T) for _ in range(4)]
        sent = []
        try:
            for i in range(8):
                for k, c in enumerate(conns):
                    p = "/api/c%d-%d" % (k, i) if (i + k) % 2 else "/c%d-%d" % (k, i)
                    check_get(c, rule, p, app_members, what="connection %d request %d, GET %s"
                              % (k, i + 1, p))
                    sent.append(p)
            for k, c in enumerate(conns):
                check(c.idle(0.1), "bytes after the last response on connection %d" % k)
        finally:
            for c in conns:
                c.close()
        check_logs(env, rule, sent, app_members=app_members)


def test_alternating_paths_interleaved_connections():
    interleaved(STRIP_RULE)


def test_alternating_paths_interleaved_connections_same_path():
    interleaved(SAME_RULE)


# ---- 2. alternating paths, pipelined ------------------------------------------

PIPE = ["/p1", "/api/p2", "/p3", "/api/p4", "/api/p5", "/p6", "/p7", "/api/p8?x=y", "/p9",
        "/api/p10"]


def pipelined(rule, before):
    """The requests before one at a time, then PIPE in one send(); the
    answers must come in order, each from its balancer."""
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        for p in before:
            check_get(c, rule, p, what="GET %s before the pipeline" % p)
        c.send(b"".join(build_request("GET", p, host=c.host_header) for p in PIPE))
        for i, p in enumerate(PIPE):
            r = c.read_response()
            check_answer(r, rule, p, what="pipelined response %d of %d (GET %s)"
                         % (i + 1, len(PIPE), p))
        check(c.idle(0.3), "more than %d responses" % len(PIPE))
        after = ["/after", "/api/after"]
        for p in after:
            check_get(c, rule, p, what="GET %s after the pipeline" % p)
        check_logs(env, rule, before + PIPE + after)


def test_alternating_paths_pipelined():
    # every request in one send(), from the connection's first byte
    pipelined(STRIP_RULE, [])


def test_alternating_paths_pipelined_same_path():
    pipelined(SAME_RULE, [])


def test_alternating_paths_pipelined_after_handover():
    # two requests one at a time (handed over at the second), then the pipeline
    pipelined(STRIP_RULE, ["/first", "/second"])


def test_alternating_paths_pipelined_after_handover_same_path():
    pipelined(SAME_RULE, ["/first", "/second"])


def test_request_for_the_other_balancer_while_a_long_answer_arrives():
    """The kernel carries a long answer (4 MB from the app member) and the
    client's next request, for the api balancer, comes while most of it is
    still on its way: the client's socket goes back to kbald (its stream
    parser stops) with the member's answer under way. Every byte of the
    answer arrives, in order, then the api member's answer. Until
    2026-12-06 the parser could stop while the client socket's psock worker
    was idle for a moment between two pieces of the answer: the next piece
    met the stopped parser's error on the socket, the worker took that for
    a hard error and sent nothing more (the answer stalled at 64 KiB, about
    one connection in three). Now the member's later bytes are held for
    kbald, who copies them (sockmap.bpf.c, peer_back)."""
    rule = SAME_RULE
    size, n = 4000000, 60
    with Env(conf=two_balancers(rule)) as env:
        for i in range(n):
            # a short exchange first leaves kbald a kept connection to the
            # app member, which the long answer then takes (the client's
            # from then on): the first handover at a first request
            with env.connect(timeout=T) as w:
                check_get(w, rule, "/warm%d" % i, what="connection %d: the warm-up" % i)
            with env.connect(timeout=T) as c:
                c.request("GET", "/bytes/%d" % size)
                r = c.read_head()
                eq((r.status, r.header("Content-Length")), (200, str(size)),
                   "connection %d: the long answer's head" % i)
                early = c.read_exact(1000 * (i % 2))   # a little of it read, or none
                c.request("GET", "/api/x%d" % i)
                body = early + c.read_exact(size - len(early))
                check(body == pattern(size), "connection %d: the 4 MB answer differs" % i)
                check_answer(c.read_response(), rule, "/api/x%d" % i,
                             what="connection %d: the request sent during the answer" % i)
                check_get(c, rule, "/after%d" % i, what="connection %d: after it" % i)
        eq(logged(env, 1), ["GET /api/x%d" % i for i in range(n)], "the api member's requests")
        eq(logged(env, 2), [x for i in range(n) for x in ("GET /warm%d" % i, "GET /bytes/%d" % size, "GET /after%d" % i)],
           "the app member's requests")
        # the requests that came while the answer was sent were queued for
        # kbald in mailboxes (not on their sockets' own ingress: a 6.18
        # hazard, docs/design.md), and every slot went back to the pool
        st = env.stats()
        print("  mailboxes taken %d, none free %d" % (st["sk_mbox"], st["sk_mbox_none"]))
        check(st["sk_mbox"] > 0, "a handed-back request went through a mailbox")
        eq(st["sk_mbox_none"], 0, "sockets that found no free mailbox")
        taken = [e["formatted"]["key"] for e in env.bpftool_dump("kbal_mbox_owner")
                 if e["formatted"]["value"]]
        eq(taken, [], "mailboxes still taken")


def test_restart_while_a_request_waits_in_a_mailbox():
    """The client reads none of a long answer and asks the api balancer
    meanwhile: its request waits for kbald in a mailbox (the answer's
    bytes still go to it). A restart in place hands the mailboxes over
    with the connections: once the client reads, the whole answer, then
    the api member's answer to that request, arrive in order."""
    rule = SAME_RULE
    # more than the client's socket buffers take (tcp_wmem, tcp_rmem): the
    # client's socket still has some of it to send when the request comes
    size = 48 * 1000 * 1000
    with Env(conf=two_balancers(rule)) as env:
        with env.connect(timeout=T) as w:
            check_get(w, rule, "/warm")
        with env.connect(timeout=15) as c:
            c.request("GET", "/bytes/%d" % size)
            r = c.read_head()
            eq(r.status, 200, "the long answer's head")
            _answer_held_and_stuck(env)
            c.request("GET", "/api/during")
            wait_until(lambda: env.stats()["sk_mbox"] == 1, 5.0, "the request in a mailbox")
            seen = env.kbald_stderr().count("restarted: took over")
            os.kill(env.kbald.pid, signal.SIGHUP)
            wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                       "the new image")
            check(pattern(size) == c.read_exact(size), "the long answer differs")
            check_answer(c.read_response(), rule, "/api/during",
                         what="the request that waited in a mailbox")
            check_get(c, rule, "/after", what="after it")
        eq(logged(env, 1), ["GET /api/during"], "the api member's requests")
        taken = [e["formatted"]["key"] for e in env.bpftool_dump("kbal_mbox_owner")
                 if e["formatted"]["value"]]
        eq(taken, [], "mailboxes still taken")


def _answer_held_and_stuck(env):
    """Wait until a long answer the client does not read is held (its
    target's worker far behind) and the sockets' buffers are full: the held
    bytes stop growing, and some wait for the client."""
    last = []

    def held_still():
        last.append(env.stats()["sk_held"])
        return len(last) > 10 and last[-1] == last[-11] > 0
    wait_until(held_still, 10.0, "the answer held, the buffers full", interval=0.05)


def test_more_requests_waiting_than_mailboxes():
    """kbald under a low descriptor limit keeps 2 mailboxes (a 32nd of the
    limit): three clients each send a request for the api balancer during
    an answer they do not read yet. Two requests wait in mailboxes, the
    third on its socket's own ingress, as before mailboxes (sk_mbox_none);
    each client gets its whole answer, then the api member's, and every
    slot is free at the end."""
    rule = SAME_RULE
    length = 24 * 1000 * 1000
    with Env(conf=two_balancers(rule), kbald_wrap=["prlimit", "--nofile=96:96", "--"]) as env:
        with env.connect(timeout=T) as w:
            check_get(w, rule, "/warm")
        conns = [env.connect(timeout=15) for _ in range(3)]
        try:
            for c in conns:
                c.request("GET", "/bytes/%d" % length)
                eq(c.read_head().status, 200, "a long answer's head")
            # all three in the kernel's hands (a slow build, ASan's, may
            # still have one in its first exchange, whose next request
            # kbald reads itself), then their answers held
            try:
                wait_until(lambda: [f["state"] for _, f in env.flows()] == [FLOW_SPLICED] * 3,
                           10.0, "the three connections spliced")
            except AssertionError as e:
                raise AssertionError("%s: flows %r, stats %r" % (e, env.flows(), env.stats()))
            _answer_held_and_stuck(env)
            for i, c in enumerate(conns):
                c.request("GET", "/api/during%d" % i)
            try:
                wait_until(lambda: env.stats()["sk_mbox"] + env.stats()["sk_mbox_none"] == 3,
                           5.0, "the three requests queued for kbald")
            except AssertionError as e:
                raise AssertionError("%s: stats %r, flows %r" % (e, env.stats(), env.flows()))
            st = env.stats()
            eq((st["sk_mbox"], st["sk_mbox_none"]), (2, 1), "(in a mailbox, on its own socket)")
            for i, c in enumerate(conns):
                check(pattern(length) == c.read_exact(length), "client %d: the answer differs" % i)
                check_answer(c.read_response(), rule, "/api/during%d" % i,
                             what="client %d: the request sent during the answer" % i)
        finally:
            for c in conns:
                c.close()
        eq(sorted(logged(env, 1)), ["GET /api/during%d" % i for i in range(3)],
           "the api member's requests")
        taken = [e["formatted"]["key"] for e in env.bpftool_dump("kbal_mbox_owner")
                 if e["formatted"]["value"]]
        eq(taken, [], "mailboxes still taken")


def body_pipelined_behind_an_answer(size):
    """A client that reads none of a long answer yet sends a POST for the
    other balancer, its body larger than kbald's head buffer: the whole
    request waits for kbald (the client's socket cannot stop its stream
    parser while the answer is still sent to it), then the answer arrives
    whole, then the POST's answer. Until 2026-12-06 the parser stopped past
    8 KiB queued (KBAL_SK_PASS_MAX) and the answer's unsent tail was lost."""
    rule = SAME_RULE
    length = 48 * 1000 * 1000
    body = os.urandom(size)
    with Env(conf=two_balancers(rule)) as env:
        with env.connect(timeout=T) as w:
            check_get(w, rule, "/warm")
        with env.connect(timeout=15) as c:
            c.request("GET", "/bytes/%d" % length)
            eq(c.read_head().status, 200, "the long answer's head")
            _answer_held_and_stuck(env)
            c.request("POST", "/api/up", body=body)
            check(pattern(length) == c.read_exact(length), "the long answer differs")
            r = c.read_response()
            eq((r.status, r.header("X-Backend"), r.text), (200, "WAS1", crc_line(body)),
               "the POST sent during the answer")
            check_get(c, rule, "/after", what="after it")
        eq(logged(env, 1), ["POST /api/up"], "the api member's requests")
        eq(env.stats()["sk_mbox"], 1, "the request and its body went through a mailbox")
        taken = [e["formatted"]["key"] for e in env.bpftool_dump("kbal_mbox_owner")
                 if e["formatted"]["value"]]
        eq(taken, [], "mailboxes still taken")


def test_body_pipelined_behind_an_answer_still_sent():
    body_pipelined_behind_an_answer(20000)


def test_long_body_pipelined_behind_an_answer_still_sent():
    body_pipelined_behind_an_answer(200000)


# ---- 3. bodies -----------------------------------------------------------------

# (side, coding, size): the connection is handed over to the app member at
# its second GET; the first two POSTs stay on it (the kernel may keep a
# Content-Length body), the third switches right after a body
BODY_PLAN = [("app", "Content-Length", 1000), ("app", "Content-Length", 300000),
             ("api", "Content-Length", 70000), ("app", "chunked", 5),
             ("api", "100-continue", 4096), ("app", "Content-Length", 12345),
             ("api", "chunked", 200000), ("app", "100-continue", 1),
             ("api", "Content-Length", 777), ("app", "chunked", 65536)]


def bodies(rule):
    """GETs, then POSTs alternating between the balancers: Content-Length,
    chunked, Expect: 100-continue, small and larger than a socket buffer."""
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        gets = ["/g1", "/g2"]
        for p in gets:
            check_get(c, rule, p)
        posted = []
        for k, (side, how, size) in enumerate(BODY_PLAN):
            body = os.urandom(size)
            p = "/api/up%d" % k if side == "api" else "/up%d" % k
            what = "POST %s (%s, %d bytes, request %d)" % (p, how, size, len(gets) + k + 1)
            if how == "Content-Length":
                c.request("POST", p, body=body)
            elif how == "chunked":
                c.request("POST", p, headers=[("Transfer-Encoding", "chunked")],
                          body=chunked(body, (1, 100, 4096, 65536, 7)))
            else:
                c.request("POST", p, headers=[("Expect", "100-continue"),
                                              ("Content-Length", str(size))])
                r = c.read_response(interim=True)
                eq(r.status, 100, "interim response of %s" % what)
                c.send(body)
            r = c.read_response()
            want = 1 if api_path(rule, p) is not None else 2
            eq((r.status, r.header("X-Backend"), r.text), (200, "WAS%d" % want, crc_line(body)),
               what)
            posted.append(p)
        check(c.idle(0.3), "bytes after the last response")
        last = "/api/last"
        check_get(c, rule, last, what="GET after the POSTs")
        api = ["GET %s" % api_path(rule, p) for p in gets if api_path(rule, p)]
        api += ["POST %s" % api_path(rule, p) for p in posted if api_path(rule, p)]
        api += ["GET %s" % api_path(rule, last)]
        app = ["GET %s" % p for p in gets if not api_path(rule, p)]
        app += ["POST %s" % p for p in posted if not api_path(rule, p)]
        eq(logged(env, 1), api, "what the api member (WAS1) got")
        eq(logged(env, 2), app, "what the app member (WAS2) got")


def test_alternating_with_bodies():
    bodies(STRIP_RULE)


def test_alternating_with_bodies_same_path():
    bodies(SAME_RULE)


# ---- 4. a member disabled midway --------------------------------------------

# one balancer of two members, no sticky session: nothing ties a request to
# a member but the balancer's decision
ONE_BAL = TWO.replace("<Proxy balancer://api>\nBalancerMember http://127.0.0.1:{b1} route=1\n"
                      "</Proxy>\n", "").replace("@API_RULE@\n", "").replace(
    "@APP@", "BalancerMember http://127.0.0.1:{b1} route=1\n"
             "BalancerMember http://127.0.0.1:{b2} route=2")


def test_member_disabled_midway():
    check("balancer://api" not in ONE_BAL and "@" not in ONE_BAL, "ONE_BAL: %s" % ONE_BAL)
    with Env(conf=ONE_BAL) as env, env.connect(timeout=T) as c:
        for i in range(4):
            p = "/k%d" % i
            r = c.get(p)
            n = member_of(r, (1, 2))
            eq((r.status, r.text), (200, answer(n, p)), "request %d" % (i + 1))
        # n: the member of the 4th request, the connection's since the
        # handover; disabled the way the project does it (kbalctl writes
        # the pinned status, as the manager's form would)
        env.kbalctl("set", "app", str(n), "status=+D")
        kept = env.stats()["kept"]
        for i in range(6):
            p = "/d%d" % i
            r = c.get(p)
            eq((r.status, r.header("X-Backend"), r.text), (200, "WAS%d" % (3 - n), answer(3 - n, p)),
               "request %d, after WAS%d (request 4's member) was disabled" % (i + 5, n))
        check(c.idle(0.3), "bytes after the last response")
        # kbald decided /d0 and /d1 (the second of a run on one balancer:
        # the kernel's again, on the other member), the kernel kept the
        # four after them
        check(env.stats()["kept"] - kept >= 4,
              "requests the kernel kept after the disable: %d" % (env.stats()["kept"] - kept))
        eq([l for l in logged(env, n) if l.startswith("GET /d")], [],
           "requests the disabled WAS%d got" % n)
        eq([l for l in logged(env, 3 - n) if l.startswith("GET /d")],
           ["GET /d%d" % i for i in range(6)], "requests WAS%d got after the disable" % (3 - n))
        env.kbalctl("set", "app", str(n), "status=-D")
        r = c.get("/back")
        eq((r.status, r.text), (200, answer(member_of(r, (1, 2)), "/back")),
           "a request once WAS%d is enabled again" % n)


def test_sticky_member_disabled_midway():
    # Apache's example: the cookie names WAS1; once WAS1 is disabled the
    # request fails over to WAS2, which sets its own route (as a fresh
    # connection's request shows)
    with Env() as env:
        with env.connect(timeout=T) as c:
            for i in range(5):
                r = c.get("/k%d" % i, cookie="ROUTEID=route.1")
                eq((r.status, r.text), (200, answer(1, "/k%d" % i)), "route.1 request %d" % (i + 1))
            env.kbalctl("set", "mycluster", "1", "status=+D")
            got = []
            for i in range(4):
                r = c.get("/d%d" % i, cookie="ROUTEID=route.1")
                eq((r.status, r.header("X-Backend"), r.text), (200, "WAS2", answer(2, "/d%d" % i)),
                   "route.1 request %d after WAS1 was disabled" % (i + 6))
                got.append(r.header_all("Set-Cookie"))
        fresh = env.get("/fresh", cookie="ROUTEID=route.1")
        eq((fresh.status, fresh.text), (200, answer(2, "/fresh")), "a fresh connection's request")
        check(fresh.header_all("Set-Cookie") != [],
              "no Set-Cookie on a fresh connection's failed-over request: %r" % fresh)
        for i, cookies in enumerate(got):
            eq(cookies, fresh.header_all("Set-Cookie"),
               "Set-Cookie of failed-over request %d (as on a fresh connection)" % (i + 6))
        eq([l for l in logged(env, 1) if l.startswith("GET /d")], [], "requests WAS1 got disabled")


def members_on_one_connection(port, tag, n, cookie=None):
    """n GETs /TAG<i> on one kept-alive connection to port: the member of each"""
    from kbaltest import Conn
    got = []
    with Conn(port, timeout=T) as c:
        for i in range(n):
            r = c.get("/%s%d" % (tag, i), cookie=cookie)
            m = member_of(r, (1, 2))
            eq((r.status, r.text), (200, answer(m, "/%s%d" % (tag, i))), "%s%d" % (tag, i))
            got.append(m)
    return got


def test_byrequests_on_a_kept_alive_connection():
    # No sticky route: byrequests weighs both members for each request, so
    # one kept-alive client's requests alternate, as with Apache (side by
    # side: the same sequence from a fresh start). The kernel keeps none of
    # them: its member is not the only candidate.
    from apache import apache_beside
    with Env(conf=ONE_BAL) as env, apache_beside(env) as aport:
        theirs = members_on_one_connection(aport, "a", 10)
        ours = members_on_one_connection(env.port, "k", 10)
        eq(theirs, [1, 2] * 5, "Apache's members, one request after the other")
        eq(ours, theirs, "kbal's members against Apache's")
        st = env.stats()
        eq(st["kept"], 0, "requests the kernel kept")
        for n in (1, 2):
            eq([l for l in logged(env, n) if l.startswith("GET /k")],
               ["GET /k%d" % i for i in range(10) if ours[i] == n], "what WAS%d got" % n)
        # with WAS2 disabled WAS1 is the one candidate: the kernel keeps
        # the requests after the handover, as Apache would route them
        env.kbalctl("set", "app", "2", "status=+D")
        eq(members_on_one_connection(env.port, "s", 8), [1] * 8, "members with WAS2 disabled")
        check(env.stats()["kept"] >= 6, "requests the kernel kept with WAS1 alone: %d"
              % env.stats()["kept"])


def test_elected_counts_what_the_kernel_keeps():
    # the manager's Elected (Apache: every request routed to the member)
    # counts the requests the kernel keeps too
    with Env() as env:
        before = env.stats()["kept"]
        members_on_one_connection(env.port, "e", 12, cookie="ROUTEID=route.1")
        kept = env.stats()["kept"] - before
        check(kept >= 10, "requests the kernel kept: %d" % kept)
        eq([env.members()[i]["elected"] for i in (0, 1)], [12, 0], "Elected of WAS1, WAS2")


# ---- 5. the manager on a spliced connection -----------------------------------

def test_manager_on_spliced_connection():
    with Env() as env:
        fresh = env.get("/balancer-manager")
        eq(fresh.status, 200, "the manager's status on a fresh connection")
        fresh_closes = (fresh.header("Connection") or "").lower() == "close"
        eq(fresh_closes, False, "Connection: close on the page (Apache keeps the connection)")
        with env.connect(timeout=T) as c:
            for i in range(4):
                r = c.get("/", cookie="ROUTEID=route.1")
                eq((r.status, r.text), (200, answer(1, "/")), "request %d to /" % (i + 1))
            r = c.get("/balancer-manager", cookie="ROUTEID=route.1")
            eq((r.status, r.header("X-Backend")), (200, None),
               "GET /balancer-manager as request 5 (kbald's page, not a member's answer)")
            check("html" in (r.header("Content-Type") or "").lower(),
                  "Content-Type %r" % r.header("Content-Type"))
            for want in ("mycluster", env.member_url(1), env.member_url(2)):
                check(want in r.text, "%r not in the manager page: %r" % (want, r.text[:300]))
            eq((r.header("Connection") or "").lower() == "close", fresh_closes,
               "Connection: close on the page as on a fresh connection's (%r)"
               % fresh.header("Connection"))
            if fresh_closes:
                check(c.at_eof(2.0), "no EOF after the page that says Connection: close")
            else:
                r = c.get("/", cookie="ROUTEID=route.1")
                eq((r.status, r.text), (200, answer(1, "/")), "request to / after the page")
        if fresh_closes:
            r = env.get("/", cookie="ROUTEID=route.1")
            eq((r.status, r.text), (200, answer(1, "/")), "request to / after the page")
        eq([l for l in logged(env, 1) + logged(env, 2) if "balancer-manager" in l], [],
           "manager requests that reached a member")


# ---- 6. the sticky cookie switches member -------------------------------------

def test_sticky_cookie_switches_member():
    plan = [1] * 4 + [2] * 4 + [1] * 2 + [2, 1, 2, 1]
    with Env() as env, env.connect(timeout=T) as c:
        for i, route in enumerate(plan):
            p = "/s%d" % i
            r = c.get(p, cookie="ROUTEID=route.%d" % route)
            eq((r.status, r.header("X-Backend"), r.text), (200, "WAS%d" % route, answer(route, p)),
               "request %d with ROUTEID=route.%d" % (i + 1, route))
            # the route did not change: no Set-Cookie (env=BALANCER_ROUTE_CHANGED)
            eq(r.header_all("Set-Cookie"), [], "Set-Cookie on request %d" % (i + 1))
        check(c.idle(0.3), "bytes after the last response")
        eq(logged(env, 1), ["GET /s%d" % i for i, rt in enumerate(plan) if rt == 1],
           "what WAS1 got")
        eq(logged(env, 2), ["GET /s%d" % i for i, rt in enumerate(plan) if rt == 2],
           "what WAS2 got")


def test_request_without_cookie_gets_route():
    # Apache's example: a request naming no route gets the route of the
    # member it went to in a Set-Cookie (Header ... env=BALANCER_ROUTE_CHANGED),
    # also after requests the kernel could keep
    with Env() as env, env.connect(timeout=T) as c:
        asked_in_turn(c, ["/s%d" % i for i in range(4)], cookie="ROUTEID=route.2", member=2,
                      route=None)
        asked_in_turn(c, ["/none%d" % i for i in range(3)], first=5)
        r = c.get("/again", cookie="ROUTEID=route.2")
        eq((r.status, r.text, r.header_all("Set-Cookie")), (200, answer(2, "/again"), []),
           "ROUTEID=route.2 again")


WHY_COOKIE = 18   # KBAL_WHY_COOKIE (include/kbal_shared.h): "route-cookie"
HANDOVER_STATS = ("sk_kept", "sk_back", "pkt_kept", "pkt_back", "sk_mbox")


def cookie_clients(splice):
    """Apache's example (KbalSplice SPLICE, None: the default): a client
    that keeps no cookie gets one with every answer, and its connection is
    never handed over (the kernel would hand each next request back); one
    that keeps the cookie is handed over at its next request, which carries
    it, and the kernel keeps every request after that one."""
    conf = EXAMPLE_CONF if splice is None else EXAMPLE_CONF.replace(
        "ProxySet stickysession=ROUTEID", "ProxySet stickysession=ROUTEID\nKbalSplice " + splice)
    with Env(conf=conf) as env:
        before = env.stats()
        with env.connect(timeout=T) as c:
            asked_in_turn(c, ["/n%d" % i for i in range(4)])
            eq([v["why"] for _, v in env.flows()], [WHY_COOKIE],
               "why the cookieless connection's flow is kbald's")
        after = env.stats()
        eq({k: after[k] - before[k] for k in HANDOVER_STATS}, dict.fromkeys(HANDOVER_STATS, 0),
           "what the kernel kept, handed back or queued for a client that keeps no cookie")
        with env.connect(timeout=T) as c:
            r = c.get("/k0")
            n = member_of(r, (1, 2))
            eq(len(r.header_all("Set-Cookie")), 1, "Set-Cookie on the first answer")
            cookie = r.header_all("Set-Cookie")[0].split(";")[0]
            asked_in_turn(c, ["/k%d" % i for i in range(1, 7)], first=2, cookie=cookie, member=n,
                          route=None)
        kept = env.stats()
        eq(kept["kept"] - after["kept"], 5,
           "requests the kernel kept of the 6 with the cookie (all but the first)")
        eq([l for l in logged(env, n) if l.startswith("GET /k")],
           ["GET /k%d" % i for i in range(7)], "what WAS%d got" % n)


def test_cookieless_client_not_handed_over():
    cookie_clients(None)


def test_cookieless_client_not_handed_over_sockmap():
    cookie_clients("sockmap")


def test_routeless_balancer_owes_no_cookie():
    """Apache's example without route= on its members (WAS2 in a later
    lbset, so that the kernel may keep a request naming no route): no
    answer takes the cookie (the route changes only to a member's that has
    one), so a cookieless client's connection is handed over and the
    kernel keeps its requests after the first, as any other's (not
    route-cookie). Once kbalctl gives WAS1 a route at run time, a new
    cookieless client's answers take that route's cookie and its
    connection stays kbald's: the balancer's routes are read again when
    its gen moves (balancer_has_route())."""
    conf = EXAMPLE_CONF.replace(" route=1", "").replace(" route=2", " lbset=1")
    with Env(conf=conf) as env:
        before = env.stats()
        with env.connect(timeout=T) as c:
            asked_in_turn(c, ["/n%d" % i for i in range(4)], member=1, route=None,
                          what="without a cookie, no member with a route")
            whys = [v["why"] for _, v in env.flows()]
            check(whys and WHY_COOKIE not in whys,
                  "the routeless balancer's connection: flows' whys %r" % whys)
        after = env.stats()
        eq(after["kept"] - before["kept"], 2,
           "requests the kernel kept of the 4 (the first is kbald's, the second "
           "starts the handover)")
        env.kbalctl("set", "mycluster", env.member_url(1), "route=7")
        with env.connect(timeout=T) as c:
            asked_in_turn(c, ["/r%d" % i for i in range(3)], member=1, route=7,
                          what="without a cookie, WAS1's route set at run time")
            whys = [v["why"] for _, v in env.flows()]
            check(WHY_COOKIE in whys, "the connection after kbalctl set route=7: whys %r" % whys)
        kept = env.stats()
        eq({k: kept[k] - after[k] for k in HANDOVER_STATS}, dict.fromkeys(HANDOVER_STATS, 0),
           "what the kernel kept, handed back or queued once a member has a route")


# ---- 7. ProxyPassReverse on a later response ----------------------------------

def test_location_rewritten_on_later_response():
    with Env() as env:
        fresh = {}
        for n in (1, 2):
            r = env.get("/redirect", cookie="ROUTEID=route.%d" % n)
            eq((r.status, r.header("X-Backend")), (302, "WAS%d" % n),
               "/redirect on a fresh connection with route.%d" % n)
            fresh[n] = r.header("Location")
            check(fresh[n] and env.member_url(n) not in fresh[n],
                  "Location not rewritten on a fresh connection: %r" % fresh[n])
        eq(fresh[1], "http://127.0.0.1:%d/landing" % env.port, "the rewritten Location")
        eq(fresh[2], fresh[1], "WAS2's Location rewritten as WAS1's")
        with env.connect(timeout=T) as c:
            for i in range(4):
                r = c.get("/k%d" % i, cookie="ROUTEID=route.1")
                eq((r.status, r.text), (200, answer(1, "/k%d" % i)), "request %d" % (i + 1))
            for k, n in enumerate((1, 1, 2, 1)):
                r = c.get("/redirect", cookie="ROUTEID=route.%d" % n)
                eq((r.status, r.header("X-Backend"), r.header("Location"), r.body),
                   (302, "WAS%d" % n, fresh[n], b""),
                   "/redirect as request %d (route.%d), against a fresh connection's" % (k + 5, n))
                r = c.get("/after%d" % k, cookie="ROUTEID=route.%d" % n)
                eq((r.status, r.text), (200, answer(n, "/after%d" % k)),
                   "the request after redirect %d" % (k + 1))


# ---- 8. the member closes between two requests -------------------------------

def member_closes(rule):
    """/close makes the app member answer with Connection: close and close
    its connection. The client must get that answer whole, from the right
    member, and then exactly what a fresh connection gets after /close: the
    end of the connection, or (kept alive) correct answers to later
    requests on it. Once on a connection whose requests so far all went to
    the app member (the kernel may hold it), once on one that alternated."""
    with Env(conf=two_balancers(rule)) as env:
        with env.connect(timeout=T) as c:
            r = c.get("/close")
            check_answer(r, rule, "/close", what="/close on a fresh connection")
            fresh_closes = (r.header("Connection") or "").lower() == "close"
            # Apache keeps the client's connection when the member closes
            # its own: the answer goes without the member's Connection: close
            eq(fresh_closes, False, "Connection: close passed on from the member")
            if fresh_closes:
                check(c.at_eof(2.0), "no EOF after /close, which said Connection: close")
        sent = ["/close"]
        for k, before in enumerate((["/a", "/b", "/c", "/d", "/e"],
                                    ["/a", "/api/b", "/c", "/api/d", "/e"])):
            with env.connect(timeout=T) as c:
                for p in before:
                    check_get(c, rule, p, what="connection %d: GET %s" % (k + 1, p))
                r = c.get("/close")
                check_answer(r, rule, "/close", what="connection %d: /close as request 6" % (k + 1))
                eq((r.header("Connection") or "").lower() == "close", fresh_closes,
                   "connection %d: Connection: close as on a fresh connection's /close" % (k + 1))
                after = ["/api/x%d" % k, "/y%d" % k, "/api/z%d" % k, "/w%d" % k]
                if fresh_closes:
                    check(c.at_eof(2.0), "connection %d: no EOF after /close (request 6), "
                          "which said Connection: close" % (k + 1))
                else:
                    for p in after:
                        check_get(c, rule, p, what="connection %d: GET %s after /close"
                                  % (k + 1, p))
            if fresh_closes:
                with env.connect(timeout=T) as c:
                    for p in after:
                        check_get(c, rule, p, what="GET %s on a new connection after /close" % p)
            sent += before + ["/close"] + after
        check_logs(env, rule, sent)


def test_member_closes_between_requests():
    member_closes(STRIP_RULE)


def test_member_closes_between_requests_same_path():
    member_closes(SAME_RULE)


def test_chunked_request_at_the_handover_keeps_requests_decided():
    """A chunked request body at the request the connection would be
    handed to the kernel at: the kernel does not frame that body, and the
    requests after it are still each decided (the app path, then /api/
    for the other balancer, on the same connection)"""
    conf = two_balancers(SAME_RULE)
    with Env(conf=conf) as env, env.connect(timeout=T) as c:
        eq(c.get("/a1").text, answer(2, "/a1"), "first")
        c.request("POST", "/a2", headers=[("Transfer-Encoding", "chunked")],
                  body=chunked(b"x" * 5000, (1, 100, 4096)))
        r = c.read_response()
        eq((r.status, r.header("X-Backend")), (200, "WAS2"), "the chunked request")
        for i in range(3):
            eq(c.get("/a%d" % (3 + i)).text, answer(2, "/a%d" % (3 + i)), "app request %d" % i)
            eq(c.get("/api/x%d" % i).text, answer(1, "/api/x%d" % i), "api request %d" % i)


# ---- 10. HTTP/1.0 keep-alive clients --------------------------------------------
# (ApacheBench's -k is one.) The stream parser frames HTTP/1.1 only: kbald
# decides every request of such a client, on a kept member connection, and
# answers with httpd's Connection: Keep-Alive and Keep-Alive lines. Until
# 2026-12-05 a connection kbald decided went on unparsed after an HTTP/1.0
# request: its later requests all reached that request's member.

KA10 = [("Connection", "keep-alive")]


def request10(c, method, path, body=None, cookie=None):
    headers = KA10 + ([("Cookie", cookie)] if cookie else [])
    c.request(method, path, headers, body=body, version="HTTP/1.0")


def check_kept10(r, what):
    eq(((r.header("Connection") or "").lower(), (r.header("Keep-Alive") or "").startswith("timeout=")),
       ("keep-alive", True), "%s: Connection %r, Keep-Alive %r" %
       (what, r.header("Connection"), r.header("Keep-Alive")))


def test_http10_keepalive_client_alternating_paths():
    rule = STRIP_RULE
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        for i, p in enumerate(PATHS):
            request10(c, "GET", p)
            r = c.read_response()
            check_answer(r, rule, p, what="HTTP/1.0 request %d, GET %s" % (i + 1, p))
            check_kept10(r, "GET %s" % p)
        posts = ["/api/b1", "/b2", "/b3", "/api/b4"]
        for k, p in enumerate(posts):
            body = os.urandom(1000 + 70000 * k)
            request10(c, "POST", p, body=body)
            r = c.read_response()
            want = 1 if api_path(rule, p) is not None else 2
            eq((r.status, r.header("X-Backend"), r.text), (200, "WAS%d" % want, crc_line(body)),
               "HTTP/1.0 POST %s (%d bytes)" % (p, len(body)))
            check_kept10(r, "POST %s" % p)
        # pipelined: one send, the answers in order, each from its balancer
        c.send(b"".join(build_request("GET", p, KA10, host=c.host_header, version="HTTP/1.0")
                        for p in PIPE))
        for i, p in enumerate(PIPE):
            r = c.read_response()
            check_answer(r, rule, p, what="pipelined HTTP/1.0 response %d (GET %s)" % (i + 1, p))
        check(c.idle(0.3), "bytes after the last response")
        eq(env.stats()["kept"], 0, "HTTP/1.0 requests the kernel kept")
        api = ["GET %s" % api_path(rule, p) for p in PATHS if api_path(rule, p)]
        api += ["POST %s" % api_path(rule, p) for p in posts if api_path(rule, p)]
        api += ["GET %s" % api_path(rule, p) for p in PIPE if api_path(rule, p)]
        app = ["GET %s" % p for p in PATHS if not api_path(rule, p)]
        app += ["POST %s" % p for p in posts if not api_path(rule, p)]
        app += ["GET %s" % p for p in PIPE if not api_path(rule, p)]
        eq(logged(env, 1), api, "what the api member (WAS1) got")
        eq(logged(env, 2), app, "what the app member (WAS2) got")


def members10(port, n, cookie=None):
    """n HTTP/1.0 keep-alive GETs on one connection: (member, Keep-Alive) of each"""
    from kbaltest import Conn
    got = []
    with Conn(port, timeout=T) as c:
        for i in range(n):
            request10(c, "GET", "/h%d" % i, cookie=cookie)
            r = c.read_response()
            m = member_of(r, (1, 2))
            eq((r.status, r.text), (200, answer(m, "/h%d" % i)), "HTTP/1.0 GET /h%d" % i)
            got.append((m, r.header("Keep-Alive"), r.header("Connection")))
    return got


def test_http10_keepalive_beside_apache():
    # byrequests over a kept-alive HTTP/1.0 client, then the same with a
    # route cookie that is switched half-way: members, Keep-Alive and
    # Connection lines as Apache's, one request after the other
    from apache import apache_beside
    with Env(conf=ONE_BAL) as env, apache_beside(env) as aport:
        theirs = members10(aport, 8)
        ours = members10(env.port, 8)
        eq([m for m, _, _ in theirs], [1, 2] * 4, "Apache's members")
        eq(ours, theirs, "kbal's (member, Keep-Alive, Connection) against Apache's")
    with Env() as env, env.connect(timeout=T) as c:
        for i, route in enumerate([1, 1, 1, 2, 2, 1]):
            request10(c, "GET", "/s%d" % i, cookie="ROUTEID=route.%d" % route)
            r = c.read_response()
            eq((r.status, r.header("X-Backend"), r.text), (200, "WAS%d" % route,
                                                           answer(route, "/s%d" % i)),
               "HTTP/1.0 request %d with ROUTEID=route.%d" % (i + 1, route))
            check_kept10(r, "request %d" % (i + 1))


# ---- 11. found side by side with apache2 (test_differential.py) ---------------

def test_request_pipelined_behind_a_long_body():
    """A request pipelined right behind a Content-Length body longer than
    kbald's buffer, on a fresh connection (handed over at that request):
    it is decided, as Apache decides it. It went on with the body to the
    first request's member, as it came."""
    rule = SAME_RULE
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        body = os.urandom(70001)
        c.send(build_request("POST", "/up", body=body, host=c.host_header) +
               build_request("GET", "/api/x", host=c.host_header))
        r = c.read_response()
        eq((r.status, r.header("X-Backend"), r.text), (200, "WAS2", crc_line(body)), "the POST")
        check_answer(c.read_response(), rule, "/api/x", what="GET /api/x behind it")
        for p in ("/api/y", "/b", "/api/z"):
            check_get(c, rule, p)
        eq(logged(env, 1), ["GET /api/x", "GET /api/y", "GET /api/z"], "what WAS1 got")
        eq(logged(env, 2), ["POST /up", "GET /b"], "what WAS2 got")


def test_chunked_first_request_keeps_requests_decided():
    """A chunked body on a connection's first request, where it is handed
    over: the requests after it are each decided (they went to its member
    unframed)"""
    rule = SAME_RULE
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        c.request("POST", "/up", headers=[("Transfer-Encoding", "chunked")],
                  body=chunked(b"y" * 70000, (1, 100, 4096, 65536)))
        r = c.read_response()
        eq((r.status, r.header("X-Backend")), (200, "WAS2"), "the chunked POST")
        for p in ("/api/x", "/a", "/api/y", "/api/z"):
            check_get(c, rule, p)
        eq(logged(env, 1), ["GET /api/x", "GET /api/y", "GET /api/z"], "what WAS1 got")


def test_second_request_planned_on_its_own():
    """GET / then GET /api/x on "ProxyPass /api balancer://api": the
    connection is not handed over at /api/x (its rule maps the path), so
    the /api/y, /api/z after it reach the member as /y, /z (the first
    request's plan went on, and the kernel kept /api/y as it came)"""
    rule = STRIP_RULE
    paths = ["/a", "/api/x", "/api/y", "/api/z", "/b", "/api/w"]
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        for p in paths:
            check_get(c, rule, p)
        check_logs(env, rule, paths)


def test_paths_as_mod_proxy_sends_them():
    """The member's path as mod_proxy's canonicaliser makes it, whoever
    forwards the request: on "ProxyPass / balancer://x/" too (decoded
    escapes, slashes merged, a byte it %-encodes encoded), on a connection
    the kernel keeps requests of (they are handed back to kbald); and "/"
    where "ProxyPass /api balancer://api" leaves nothing of the path"""
    conf = kernel_keeps_unrouted(EXAMPLE_CONF)
    want = [("/a", "/a"), ("/b", "/b"), ("/c", "/c"), ("/%61pi//x", "/api/x"),
            ("/d", "/d"), ("/a|b", "/a%7Cb"), ("/e", "/e"), ("/x{y}?q=|", "/x%7By%7D?q=|"),
            ("/a/./b/../c", "/a/c"), ("/f", "/f")]
    with Env(conf=conf) as env, env.connect(timeout=T) as c:
        for p, sent in want:
            r = c.get(p)
            eq((r.status, r.header("X-Backend"), r.text), (200, "WAS1", answer(1, sent)),
               "GET %s" % p)
        check(env.stats()["kept"] >= 2, "requests the kernel kept: %d" % env.stats()["kept"])
    with Env(conf=two_balancers(STRIP_RULE)) as env, env.connect(timeout=T) as c:
        for p, sent in (("/api?q=1", "/?q=1"), ("/api", "/"), ("/api/?q", "/?q")):
            r = c.get(p)
            eq((r.status, r.header("X-Backend"), r.text), (200, "WAS1", answer(1, sent)),
               "GET %s" % p)


def test_location_names_the_host_as_httpd():
    """ProxyPassReverse's own URL from the client's Host as httpd's
    r->hostname: lower case, no trailing dot, no port 80"""
    with Env() as env, env.connect(timeout=T) as c:
        for host, want in (("Example.TEST:81", "http://example.test:81/landing"),
                           ("WWW.example.test.", "http://www.example.test/landing"),
                           ("h.test:80", "http://h.test/landing"),
                           ("127.0.0.1:%d" % env.port, "http://127.0.0.1:%d/landing" % env.port)):
            r = c.get("/redirect", cookie="ROUTEID=route.1", headers=[("Host", host)])
            eq((r.status, r.header("Location")), (302, want), "Location for Host %s" % host)


def test_connection_close_on_a_kept_connection():
    """Connection: close on a request the kernel would keep: the answer
    says Connection: close and the connection ends, as httpd's (the kernel
    passed it on, and kbald, handed the member's Connection: close,
    dropped it and kept the connection open). Connection: keep-alive
    (browsers') is still the kernel's to keep."""
    rule = SAME_RULE
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        for p in ("/a", "/b", "/c"):
            check_get(c, rule, p)
        kept = env.stats()["kept"]
        r = c.get("/d", headers=[("Connection", "keep-alive")])
        check_answer(r, rule, "/d", what="GET /d, Connection: keep-alive")
        check(env.stats()["kept"] > kept, "Connection: keep-alive not kept by the kernel")
        r = c.get("/e", headers=[("Connection", "close")])
        check_answer(r, rule, "/e", what="GET /e, Connection: close")
        eq(r.header_all("Connection"), ["close"], "Connection on the answer to /e")
        check(c.at_eof(2.0), "the connection is open after Connection: close")


def test_cookie_route_with_white_space_beside_apache():
    """httpd's get_cookie_param() keeps the white space before a ';' or ','
    in the value: "ROUTEID=route.1 ; a=b" names route "1 ", no member, so
    byrequests picks and the answer sets the cookie (kbald trimmed it and
    stuck to route 1)"""
    from apache import apache_beside
    cookies = ["ROUTEID=route.1 ; a=b", "ROUTEID=route.2 ,x=y", "ROUTEID= route.2",
               "ROUTEID=route.1", "ROUTEID=route.2 ", "ROUTEID=route.2 ; a=b"]

    def run(port):
        from kbaltest import Conn
        got = []
        with Conn(port, timeout=T) as c:
            for i, ck in enumerate(cookies):
                r = c.get("/w%d" % i, cookie=ck)
                got.append((r.status, r.header("X-Backend"), r.header_all("Set-Cookie")))
        return got

    with Env() as env, apache_beside(env) as aport:
        theirs = run(aport)
        eq(theirs[0][2], ["ROUTEID=route.1; path=/;"], "Apache: route \"1 \" is no route")
        eq(run(env.port), theirs, "kbal's (status, member, Set-Cookie) against Apache's")


def test_pipelined_from_the_second_request():
    """GET /a on its own, then /b and /api/x in one send: the connection
    is not handed over at /b (a request came with it), each is decided.
    The first request's plan went on for /b, and everything after it
    reached /b's member unframed."""
    rule = SAME_RULE
    with Env(conf=two_balancers(rule)) as env, env.connect(timeout=T) as c:
        check_get(c, rule, "/a")
        c.send(build_request("GET", "/b", host=c.host_header) +
               build_request("GET", "/api/x", host=c.host_header))
        check_answer(c.read_response(), rule, "/b", what="pipelined GET /b")
        check_answer(c.read_response(), rule, "/api/x", what="pipelined GET /api/x")
        for p in ("/api/y", "/c", "/api/z"):
            check_get(c, rule, p)
        check_logs(env, rule, ["/a", "/b", "/api/x", "/api/y", "/c", "/api/z"])


def test_absolute_form_target_names_the_host():
    """An absolute-form request-target's host is the request's Host, as
    httpd replaces the header with it (ap_update_vhost_from_headers_ex()):
    ProxyPassReverse's Location names it, the member gets it as Host
    (ProxyPreserveHost On) and as X-Forwarded-Host"""
    with Env() as env, env.connect(timeout=T) as c:
        r = c.get("http://Other.TEST:81/redirect", cookie="ROUTEID=route.1")
        eq((r.status, r.header("Location")), (302, "http://other.test:81/landing"),
           "Location after GET http://Other.TEST:81/redirect")
        r = c.get("http://A.test./echo-headers", cookie="ROUTEID=route.1")
        lines = r.text.split("\r\n")
        eq([l for l in lines if l.split(":")[0] in ("Host", "X-Forwarded-Host")],
           ["Host: a.test", "X-Forwarded-Host: a.test"], "the member's Host lines")
        r = c.get("/redirect", cookie="ROUTEID=route.1")
        eq(r.header("Location"), "http://127.0.0.1:%d/landing" % env.port,
           "Location after an origin-form GET /redirect")


def test_fragment_or_user_info_in_the_target_beside_apache():
    """httpd's ap_parse_uri() (HttpProtocolOptions Strict, its default)
    refuses a request-target with a fragment, or an absolute-form one with
    user info: 400, and the connection ends (kbald forwarded both)"""
    from apache import apache_beside
    from kbaltest import Conn

    def run(port, target):
        with Conn(port, timeout=T) as c:
            r = c.get(target, cookie="ROUTEID=route.1")
            return (r.status, r.header("X-Backend"), r.header_all("Connection"), r.body,
                    c.at_eof(2.0))

    with Env() as env, apache_beside(env) as aport:
        for target in ("/a#frag", "/a?q#f", "http://u:p@a.test/b", "http://u@a.test/"):
            theirs = run(aport, target)
            eq(theirs[:3] + theirs[4:], (400, None, ["close"], True),
               "Apache's answer to GET %s" % target)
            eq(run(env.port, target), theirs, "kbal's answer to GET %s" % target)
        eq(logged(env, 1) + logged(env, 2), [], "requests that reached a member")
