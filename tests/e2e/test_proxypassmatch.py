# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""ProxyPassMatch (issue 17) side by side with Debian's apache2 on the same
configuration and members: regex rules to two balancers with $N
substitution, a regex exclusion, a rule whose URL has no $N (httpd then
appends the whole path to it), ProxyPass rules tried with them in
configuration order, on kept-alive connections alternating between the
balancers. Every answer must come from the member Apache's does, with the
path Apache's member got, byte for byte. With a regex rule the kernel
compares no rule: kbald decides every request and the kernel keeps none
(kbal_stats' sk_kept)."""

import re

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, check, eq

T = 10.0

CONF = PROXY_HEAD + """\
<Proxy balancer://api>
BalancerMember http://127.0.0.1:{b1} route=1
</Proxy>
<Proxy balancer://app>
BalancerMember http://127.0.0.1:{b2} route=2
</Proxy>
ProxyPass /balancer-manager !
ProxyPassMatch ^/api/private(/|$) !
ProxyPassMatch "^/api/v(\\d+)/(.*)$" balancer://api/version$1/$2
ProxyPass /api/ balancer://api/plain/
ProxyPassMatch \\.gif$ balancer://app
ProxyPassMatch ^/img/ balancer://app/
ProxyPassMatch ^/x(.*)$ balancer://api$1
ProxyPassMatch ^/q/(.*)$ balancer://api/q?x=$1
ProxyPassMatch ^/opt(/a)?(/b)$ balancer://api/o$1$2
ProxyPass ~ ^/tilde/([a-z]+) balancer://api/t/$1/\\$1
ProxyPass / balancer://app/
ProxyPreserveHost On
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
"""

# what each path gets under CONF, as httpd's proxy_trans() maps it:
# (member, path the member gets)
EXPECTED = [
    ("/api/v2/users?q=1", 1, "/version2/users?q=1"),  # $1, $2, the query kept
    ("/page", 2, "/page"),                           # ProxyPass /
    ("/api/other", 1, "/plain/other"),               # ProxyPass after a regex
    ("/pics/a.gif", 2, "/pics/a.gif"),               # no $N: the whole path appended
    ("/api/v10/a%20b", 1, "/version10/a%20b"),       # decoded, matched, encoded again
    ("/img/b.png?s=1", 2, "//img/b.png?s=1"),        # no $N after a '/': doubled
    ("/x/abc", 1, "/abc"),                           # balancer://api$1
    ("/api/v3/../v4/z", 1, "/version4/z"),           # matched on the dot-free path
    ("/x", 1, "/"),                                  # $1 empty: "/"
    ("/api/v7/img/q.gif", 1, "/version7/img/q.gif"),  # the first regex wins
    ("/tilde/abc/def", 1, "/t/abc/$1"),              # ProxyPass ~; \\$ is $; no rest
    ("/api/privatex", 1, "/plain/privatex"),         # not under the exclusion
    ("/ap%69/v5/k", 1, "/version5/k"),               # %69 decoded before matching
    ("/z.gif/y", 2, "/z.gif/y"),                     # $ ends the path: ProxyPass /
    ("/q/a%3Fb?y=1", 1, "/q%3Fx=a%3Fb?y=1"),         # a '?' made is encoded
    ("/opt/b", 1, "/o/b"),                           # a group unset: nothing
    ("/opt/a/b", 1, "/o/a/b"),
]

# answered by the server itself: the exclusion (no other rule, 404), and a
# substitution that runs into the balancer's name (balancer://apiyz)
OWN = [("/api/private", 404), ("/api/private/x", 404), ("/xyz", 500)]


def answer(member, path):
    return "backend=WAS%d path=%s\n" % (member, path)


def run_kept_alive(port, paths):
    """GET each path on one kept-alive connection: (status, X-Backend, body)"""
    out = []
    with Conn(port, timeout=T) as c:
        for p in paths:
            r = c.get(p)
            out.append((r.status, r.header("X-Backend"), r.text))
        check(c.idle(0.2), "bytes after the last response")
    return out


def test_regex_rules_as_apache():
    with Env(conf=CONF) as env, apache_beside(env) as aport:
        paths = [p for p, _, _ in EXPECTED]
        want = [(200, "WAS%d" % m, answer(m, mapped)) for _, m, mapped in EXPECTED]
        theirs = run_kept_alive(aport, paths)
        ours = run_kept_alive(env.port, paths)
        for p, w, a, k in zip(paths, want, theirs, ours):
            eq(a, w, "Apache's answer to GET %s (the test's expectation)" % p)
            eq(k, a, "kbal's answer to GET %s against Apache's" % p)
        # the members got exactly that, in order (the api member's log
        # has Apache's requests first, then kbal's)
        api = ["GET %s" % mapped for _, m, mapped in EXPECTED if m == 1]
        app = ["GET %s" % mapped for _, m, mapped in EXPECTED if m == 2]
        eq(env.backend_log(1), api + api, "what the api member got (Apache's, then kbal's)")
        eq(env.backend_log(2), app + app, "what the app member got (Apache's, then kbal's)")
        for p, status in OWN:
            with Conn(aport, timeout=T) as c:
                a = c.get(p)
            with Conn(env.port, timeout=T) as c:
                k = c.get(p)
            eq(a.status, status, "Apache's status for GET %s (the test's expectation)" % p)
            eq(k.status, a.status, "kbal's status for GET %s against Apache's" % p)
            check(k.header("X-Backend") is None, "GET %s reached a member: %r" % (p, k))
        eq(len(env.backend_log(1)) + len(env.backend_log(2)), 2 * len(EXPECTED),
           "no member got a request of the exclusion or the bad substitution")


def test_alternating_balancers_on_one_connection():
    # two balancers alternating, twice round, then the manager's exclusion
    # path on the same connection: each request decided by kbald
    paths = ["/api/v1/a", "/b.gif", "/api/v2/c", "/d", "/x/e", "/img/f", "/api/g",
             "/h"] * 2
    with Env(conf=CONF) as env, apache_beside(env) as aport:
        theirs = run_kept_alive(aport, paths)
        ours = run_kept_alive(env.port, paths)
        eq([t[1] for t in theirs], ["WAS1", "WAS2"] * 8, "Apache's members")
        eq(ours, theirs, "kbal's answers against Apache's")
        st = env.stats()
        eq(st["kept"], 0, "requests the kernel kept with ProxyPassMatch rules")


ONE = PROXY_HEAD + """\
<Proxy balancer://app>
BalancerMember http://127.0.0.1:{b1} route=1
</Proxy>
@MATCH@
ProxyPass / balancer://app/
ProxyPreserveHost On
"""


def kept(match):
    """(the requests either kernel path kept, `kbalctl flows`
    mid-connection, `kbalctl stats`) after 10 GETs of ProxyPass / on one
    kept-alive connection; match: lines before it (a ProxyPassMatch rule,
    a KbalSplice)"""
    with Env(conf=ONE.replace("@MATCH@", match), backends=(1,)) as env:
        paths = ["/k%d" % i for i in range(10)]
        with Conn(env.port, timeout=T) as c:
            out = [c.get(p) for p in paths[:5]]
            flows = env.kbalctl("flows")
            out += [c.get(p) for p in paths[5:]]
            check(c.idle(0.2), "bytes after the last response")
        eq([(r.status, r.header("X-Backend"), r.text) for r in out],
           [(200, "WAS1", answer(1, p)) for p in paths], "answers")
        eq(env.backend_log(1), ["GET %s" % p for p in paths], "what WAS1 got")
        return env.stats()["kept"], flows, env.kbalctl("stats")


def test_kernel_keeps_no_request_with_a_regex_rule():
    # one member, paths as is: the connection is spliced on the packet path
    # (the default) or on sockmap and the kernel keeps the later requests;
    # with a ProxyPassMatch rule (even one no request matches) the kernel
    # compares no rule: kbald keeps the connection and decides (copies)
    # each request, the kernel keeps none, on either path
    for splice, path in (("", "packet"), ("KbalSplice sockmap", "sockmap")):
        n, flows, _ = kept(splice)
        check(n >= 6, "requests the kernel kept without ProxyPassMatch (%s): %d" % (path, n))
        check(re.search(r"\bspliced\s+%s\b" % path, flows),
              "kbalctl flows without ProxyPassMatch: %r" % flows)
        n, flows, stats = kept("ProxyPassMatch ^/never/(.*)$ balancer://app/$1\n" + splice)
        eq(n, 0, "requests the kernel kept with a ProxyPassMatch rule (%s)" % path)
        check(re.search(r"\bcopy\b", flows) and "spliced" not in flows,
              "kbalctl flows with ProxyPassMatch: %r" % flows)
        for name in ("sk_kept", "redirected_skbs", "pkt_kept", "pkt_rewritten"):
            check(re.search(r"^%s\s+0$" % name, stats, re.M), "kbalctl stats: %s: %r" % (name, stats))


def test_internal_error_page_names_server_admin():
    """httpd's 500 page (here a substitution that names no balancer) asks
    the reader to contact ServerAdmin: the virtual host's, else the
    server's (HTML-escaped), else "[no address given]"."""
    vhost = ("<VirtualHost *>\nServerName proxy.example\nServerAdmin vh@example.org\n"
             "</VirtualHost>\n")
    for extra, admin in (("", b"[no address given]"),
                         ('ServerAdmin "ops<1>@example.org"\n', b"ops&lt;1&gt;@example.org"),
                         ("ServerAdmin ops@example.org\n" + vhost, b"vh@example.org")):
        with Env(conf=CONF + extra) as env, apache_beside(env) as aport:
            pages = {}
            for name, port in (("Apache", aport), ("kbal", env.port)):
                with Conn(port, timeout=T) as c:
                    r = c.get("/xyz")
                pages[name] = (r.status, r.header("Content-Type"), r.body)
            eq(pages["Apache"][:2], (500, "text/html; charset=iso-8859-1"),
               "Apache's answer (the test's expectation)")
            check(b"administrator at \n " + admin + b" to inform" in pages["Apache"][2],
                  "Apache's page names %r (the test's expectation): %r" % (admin, pages["Apache"]))
            eq(pages["kbal"], pages["Apache"], "kbal's 500 against Apache's (%r)" % extra)
