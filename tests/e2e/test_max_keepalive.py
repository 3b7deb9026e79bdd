# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""MaxKeepAliveRequests, side by side with Debian's apache2 on the same
configuration and members: httpd answers a connection's first N requests
keep-alive and the next one with "Connection: close" (ap_set_keepalive():
keep_alive_max - keepalives reaches 0), then closes; requests pipelined
behind that one go unanswered. kbal the same, whoever decides the requests:
kbald, or the kernel, which counts the requests it keeps per client socket
(kbal_sk_http.reqs + msgs against kbal_rules.max_requests) and hands the
last one back to kbald: the sockmap path (sk_last in kbal_stats) and the
packet path, the default (the flow given back at that request: pkt_back)."""

import os
import signal

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, build_request, check, eq, wait_until

T = 5.0
ROUTE1 = "ROUTEID=route.1"


# each kernel path, and the counter that says it handed the last request
# back to kbald (KbalSplice, the default: the packet path)
LAST_BACK = (("KbalSplice sockmap", "sk_last"), ("", "pkt_back"))


def limited(n, conf=EXAMPLE_CONF, splice=""):
    return conf.replace("ProxyRequests Off",
                        "ProxyRequests Off\nMaxKeepAliveRequests %d\n%s" % (n, splice))


def closes(r):
    return "close" if "close" in (r.header("Connection") or "").lower() else "-"


def answers(c, out, n, answer):
    """Up to n answers, answer(i) the i-th: each one's (status, "close" or
    "-") into out, then "eof" where the server ended the connection after
    it, or "unanswered" where a request got nothing."""
    for i in range(n):
        try:
            r = answer(i)
        except (AssertionError, OSError):
            out.append("unanswered")
            return
        out.append((r.status, closes(r)))
        if closes(r) == "close":
            out.append("eof" if c.at_eof(T) else "open")
            return


def one_by_one(port, prefix, n, cookie=ROUTE1):
    """Up to n requests one after the other on one connection: each
    answer's (status, "close" or "-"), then "eof" where the server ended
    the connection after an answer, or "unanswered" where a request got
    nothing."""
    out = []
    with Conn(port, timeout=T) as c:
        answers(c, out, n, lambda i: c.get("%s/%d" % (prefix, i), cookie=cookie))
    return out


def pipelined(port, prefix, first, behind, cookie=ROUTE1):
    """first requests one after the other, then behind more in one write:
    what comes back, as one_by_one says it."""
    out = []
    hdr = [("Cookie", cookie)] if cookie else []
    with Conn(port, timeout=T) as c:
        for i in range(first):
            r = c.get("%s/%d" % (prefix, i), cookie=cookie)
            out.append((r.status, closes(r)))
        c.send(b"".join(build_request("GET", "%s/%d" % (prefix, i), hdr, None, c.host_header)
                        for i in range(first, first + behind)))
        answers(c, out, behind, lambda i: c.read_response())
    return out


def reached(env, prefix):
    """The paths under prefix the members got."""
    return sorted(line.split()[1] for n in (1, 2) for line in env.backend_log(n)
                  if len(line.split()) > 1 and line.split()[1].startswith(prefix + "/"))


KEPT3 = [(200, "-")] * 3 + [(200, "close"), "eof"]


def test_kernel_kept_requests_as_apache():
    # a sticky route to member 1: kbald serves the first request, hands the
    # connection to the kernel at the second, the kernel keeps the third
    # and hands the fourth back as the connection's last
    for splice, last in LAST_BACK:
        kernel_kept_requests(splice, last)


def kernel_kept_requests(splice, last):
    with Env(conf=limited(3, splice=splice), kbald_args=["-v"]) as env, \
            apache_beside(env) as aport:
        theirs = one_by_one(aport, "/a", 8)
        eq(theirs, KEPT3, "Apache, MaxKeepAliveRequests 3")
        st = env.stats()
        ours = one_by_one(env.port, "/k", 8)
        eq(ours, theirs, "kbal against Apache (%s)" % (splice or "the default"))
        after = env.stats()
        eq(after["kept"] - st["kept"], 1, "requests the kernel kept")
        eq(after[last] - st[last], 1, "the last one handed back as such (%s)" % last)
        eq(reached(env, "/k"), ["/k/%d" % i for i in range(4)], "what the members got")
        said = ("handed back (client max-keepalive-requests" if last == "sk_last" else
                "joined flow given back at a request")
        check(said in env.kbald_stderr(), "kbald's log: %s" % said)
        # pipelined behind the last: unanswered, as Apache's
        theirs = pipelined(aport, "/b", 2, 4)
        eq(theirs, [(200, "-")] * 3 + [(200, "close"), "eof"], "Apache, pipelined")
        eq(pipelined(env.port, "/p", 2, 4), theirs, "kbal against Apache, pipelined")
        eq(reached(env, "/p"), ["/p/%d" % i for i in range(4)], "the members got none behind")


def test_kbald_decided_requests_as_apache():
    # KbalSplice off: kbald decides and copies each request
    off = limited(3).replace("ProxyRequests Off", "ProxyRequests Off\nKbalSplice off")
    with Env(conf=off) as env, apache_beside(env) as aport:
        theirs = one_by_one(aport, "/a", 8)
        eq(theirs, KEPT3, "Apache, MaxKeepAliveRequests 3")
        eq(one_by_one(env.port, "/k", 8), theirs, "kbal (KbalSplice off) against Apache")
        eq(env.stats()["kept"], 0, "requests the kernel kept")
    # without a route each answer gets the route's cookie (Header ...
    # env=BALANCER_ROUTE_CHANGED), members alternate: kbald decides each
    with Env(conf=limited(4)) as env, apache_beside(env) as aport:
        theirs = one_by_one(aport, "/a", 8, cookie=None)
        eq(theirs, [(200, "-")] * 4 + [(200, "close"), "eof"], "Apache, no route")
        eq(one_by_one(env.port, "/k", 8, cookie=None), theirs, "kbal against Apache, no route")
        eq(env.stats()["kept"], 0, "requests the kernel kept")
        # the manager's answers (kbald's own) count too
        with Conn(aport, timeout=T) as a, Conn(env.port, timeout=T) as k:
            for i in range(5):
                path = "/balancer-manager" if i % 2 else "/m/%d" % i
                ra, rk = a.get(path, cookie=ROUTE1), k.get(path, cookie=ROUTE1)
                eq((rk.status, closes(rk)), (ra.status, closes(ra)),
                   "request %d (%s), kbal against Apache" % (i, path))
            eq(k.at_eof(T), a.at_eof(T), "the connection ends after the fifth")


def test_default_100_on_a_kernel_carried_connection():
    for splice, last in LAST_BACK:
        conf = EXAMPLE_CONF.replace("ProxyRequests Off", "ProxyRequests Off\n" + splice)
        with Env(conf=conf) as env, apache_beside(env) as aport:
            theirs = one_by_one(aport, "/a", 110)
            eq(theirs, [(200, "-")] * 100 + [(200, "close"), "eof"], "Apache's default 100")
            st = env.stats()
            eq(one_by_one(env.port, "/k", 110), theirs,
               "kbal against Apache (%s)" % (splice or "the default"))
            after = env.stats()
            check(after["kept"] - st["kept"] >= 98,
                  "the kernel kept the requests: %d" % (after["kept"] - st["kept"]))
            eq(after[last] - st[last], 1, "the 101st handed back as the last (%s)" % last)


def test_zero_is_no_bound():
    with Env(conf=limited(0)) as env:
        eq(one_by_one(env.port, "/k", 130), [(200, "-")] * 130, "130 requests, none the last")


def test_count_carried_across_a_restart_in_place():
    # one connection the kernel carries (3 requests, the third kept) and
    # one kbald holds between two requests (1 request): each goes on
    # counting in the next image
    with Env(conf=limited(6), kbald_args=["-v"]) as env, \
            Conn(env.port, timeout=T) as spliced, Conn(env.port, timeout=T) as idle:
        for i in range(3):
            eq(spliced.get("/s/%d" % i, cookie=ROUTE1).status, 200, "spliced request %d" % i)
        eq(idle.get("/i/0", cookie=ROUTE1).status, 200, "idle's first request")
        check(env.stats()["kept"] >= 1, "the kernel kept a request")
        seen = env.kbald_stderr().count("restarted: took over")
        os.kill(env.kbald.pid, signal.SIGHUP)
        wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                   "the new image")
        for c, name, done in ((spliced, "s", 3), (idle, "i", 1)):
            got = []
            for i in range(done, 8):
                r = c.get("/%s/%d" % (name, i), cookie=ROUTE1)
                got.append((r.status, closes(r)))
                if closes(r) == "close":
                    got.append("eof" if c.at_eof(T) else "open")
                    break
            eq(got, [(200, "-")] * (6 - done) + [(200, "close"), "eof"],
               "%s after the restart" % name)


def test_small_bounds_as_apache():
    # the last request is the first exchange's second (1: the one the
    # connection would be handed over at) or the first the kernel would
    # keep (2); with bodies too (POST: kbald forwards it whole)
    for n in (1, 2):
        with Env(conf=limited(n)) as env, apache_beside(env) as aport:
            theirs = one_by_one(aport, "/a", 5)
            eq(theirs, [(200, "-")] * n + [(200, "close"), "eof"], "Apache, bound %d" % n)
            eq(one_by_one(env.port, "/k", 5), theirs, "kbal against Apache, bound %d" % n)
            got = {}
            for name, port in (("Apache", aport), ("kbal", env.port)):
                with Conn(port, timeout=T) as c:
                    out = []
                    for i in range(n + 1):
                        c.request("POST", "/post/%d" % i, [("Cookie", ROUTE1)],
                                  body=b"x" * (1000 * (i + 1)))
                        r = c.read_response()
                        out.append((r.status, closes(r)))
                    out.append(c.at_eof(T))
                got[name] = out
            eq(got["Apache"], [(200, "-")] * n + [(200, "close"), True], "Apache's POSTs")
            eq(got["kbal"], got["Apache"], "POSTs, bound %d" % n)


def test_keepalive_off_as_httpd():
    # KeepAlive Off: every answer says close and the connection ends after
    # it, kept-alive clients and pipelined requests alike, kbald's own
    # answers too
    off = EXAMPLE_CONF.replace("ProxyRequests Off", "ProxyRequests Off\nKeepAlive Off")
    with Env(conf=off) as env, apache_beside(env) as aport:
        theirs = one_by_one(aport, "/a", 3)
        eq(theirs, [(200, "close"), "eof"], "Apache, KeepAlive Off")
        eq(one_by_one(env.port, "/k", 3), theirs, "kbal against Apache")
        theirs = pipelined(aport, "/b", 1, 2)
        eq(pipelined(env.port, "/p", 1, 2), theirs, "kbal against Apache, pipelined")
        with Conn(aport, timeout=T) as a, Conn(env.port, timeout=T) as k:
            ra, rk = a.get("/balancer-manager"), k.get("/balancer-manager")
            eq((rk.status, closes(rk), k.at_eof(T)), (ra.status, closes(ra), a.at_eof(T)),
               "the manager's answer, kbal against Apache")
        eq(reached(env, "/k") + reached(env, "/p"), ["/k/0", "/p/0"], "what the members got")
        eq(env.stats()["kept"], 0, "requests the kernel kept")
