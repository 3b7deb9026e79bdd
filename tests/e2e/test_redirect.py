# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""mod_alias's Redirect, RedirectMatch, RedirectPermanent and RedirectTemp
(issue 17), side by side with Debian's apache2 on the same configuration:
the status, the Location (the rest of the path escaped, the query kept,
a relative target made absolute with the client's Host), the page; a path
a ProxyPass rule proxies is proxied, not redirected (httpd translates with
mod_proxy first), and a `ProxyPass PATH !` path is redirected."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, eq

T = 10.0

CONF = PROXY_HEAD + """\
LoadModule alias_module modules/mod_alias.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /app/excluded !
ProxyPass /app balancer://c
Redirect permanent /old http://example.test/new
Redirect /rel /elsewhere/
RedirectMatch "^/img/(.*)\\.gif$" "http://cdn.test/$1.png"
RedirectMatch 307 ^/q/(.*)$ http://q.test/?x=$1
Redirect seeother /so http://so.test/
Redirect gone /gone
Redirect 404 /nf
RedirectTemp /t http://t.test/
RedirectPermanent /p http://p.test/
Redirect /app/excluded http://excluded.test/
Redirect /app http://never.test/
"""

PATHS = ["/old", "/old/a%20b?x=1&y", "/oldx", "/rel/x", "/img/a/b.gif", "/img/a.png",
         "/q/zz?k=v", "/so", "/gone/x", "/nf", "/t/x", "/p", "/app/z", "/app/excluded/y",
         "/nothing"]


def answers(port, paths=PATHS, body=True):
    """GET each path on a kept-alive connection (a new one where an answer
    closed it): path, status, Location (the port as PORT), and the page
    (body) or, answered by the member, its X-Backend"""
    out = []
    with Conn(port, timeout=T) as c:
        for p in paths:
            r = c.get(p)
            loc = (r.header("Location") or "").replace(str(port), "PORT")
            page = r.text.replace(str(port), "PORT") if body and r.status != 200 else \
                r.header("X-Backend")
            out.append((p, r.status, loc, page))
            if (r.header("Connection") or "").lower() == "close":
                c.close()
                c = Conn(port, timeout=T)
    return out


def test_redirects_as_apache():
    with Env(conf=CONF, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        got = {p: (s, l) for p, s, l, _ in theirs}
        # the test's reading of Apache's, so that a change in either shows
        eq(got["/old/a%20b?x=1&y"], (301, "http://example.test/new/a%20b?x=1&y"),
           "Apache: the rest of the path and the query")
        eq(got["/oldx"][0], 404, "Apache: a prefix ends at a segment")
        eq(got["/rel/x"], (302, "http://127.0.0.1:PORT/elsewhere//x"),
           "Apache: relative, the rest after the target as it is")
        eq(got["/app/z"][0], 200, "Apache: the proxied path is proxied")
        eq(got["/app/excluded/y"], (302, "http://excluded.test//y"), "Apache: ProxyPass ! path")
        for a, k in zip(theirs, answers(env.port)):
            eq(k, a, "kbal's answer to GET %s against Apache's" % a[0])


ERRDOC = PROXY_HEAD + """\
LoadModule alias_module modules/mod_alias.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /nope !
ProxyPass / balancer://c/
ErrorDocument 503 "Down for maintenance, back soon"
ErrorDocument 404 http://errors.test/404
ErrorDocument 400 plain
"""


def test_error_documents_as_apache():
    """ErrorDocument on kbald's own answers: a text as the body, a URL as
    a 302 there; the member is down (503)"""
    def answers(port):
        out = []
        for p in ("/app", "/nope", "/nope/x?y"):
            with Conn(port, timeout=T) as c:
                r = c.get(p)
                out.append((p, r.status, r.header("Location"), r.header("Content-Type"),
                            r.text))
        with Conn(port, timeout=T) as c:
            c.send(b"GET / HTTP/1.1\r\n\r\n")      # no Host: 400
            r = c.read_response()
            out.append(("no Host", r.status, r.header("Location"), r.header("Content-Type"),
                        r.text))
        return out

    with Env(conf=ERRDOC, backends=()) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        eq([t[1:3] for t in theirs], [(503, None), (302, "http://errors.test/404"),
                                      (302, "http://errors.test/404"), (400, None)],
           "Apache's (the test's expectation)")
        eq(theirs[0][4], "Down for maintenance, back soon", "Apache's text")
        eq(answers(env.port), theirs, "kbal's against Apache's")


CANON = PROXY_HEAD + """\
LoadModule alias_module modules/mod_alias.so
ServerName canon.test
UseCanonicalName On
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /m/ balancer://c/
ProxyPassReverse /m/ balancer://c/
Redirect /rel /elsewhere
"""


def test_canonical_name_as_apache():
    """UseCanonicalName On: a relative Redirect and a rewritten Location
    name ServerName, not the client's Host"""
    def answers(port):
        with Conn(port, timeout=T) as c:
            return [(p, r.status, r.header("Location"))
                    for p in ("/rel/x", "/m/redirect") for r in [c.get(p)]]

    with Env(conf=CANON, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        eq(theirs, [("/rel/x", 302, "http://canon.test/elsewhere/x"),
                    ("/m/redirect", 302, "http://canon.test/m//landing")],
           "Apache's (the test's expectation)")
        eq(answers(env.port), theirs, "kbal's against Apache's")


# Redirect [status] URL inside <Location> and <LocationMatch> (mod_alias'
# per-directory form, httpd's fixups): every request the section takes,
# proxied paths too, before the member; a relative URL made absolute, the
# query appended where the URL has none; the last section wins; on a
# proxied path after the section's access rules, on another before them
IN_LOC = PROXY_HEAD + """\
LoadModule alias_module modules/mod_alias.so
LoadModule authz_host_module modules/mod_authz_host.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /nope !
ProxyPass / balancer://c/
<Location /moved>
Redirect permanent http://new.test/place
</Location>
<Location /moved/back>
Redirect 308 http://back.test/
</Location>
<Location /rel>
Redirect /elsewhere
</Location>
<Location /q>
Redirect 307 http://q.test/?fixed=1
</Location>
<Location /nope/old>
Redirect seeother http://other.test/
</Location>
<Location /nope/locked>
Require ip 10.9.8.7
Redirect http://locked.test/
</Location>
<Location /plocked>
Require ip 10.9.8.7
Redirect http://plocked.test/
</Location>
<LocationMatch "\\.php$">
Redirect http://php.test/
</LocationMatch>
"""

IN_LOC_PATHS = ["/moved", "/moved/x?a=1", "/movedx", "/moved/back/y", "/rel/a?b=2", "/q/z?y=3",
                "/nope/old/1", "/nope/new", "/nope/locked/z", "/plocked/y", "/a.php", "/a.php5", "/x",
                "/moved"]


def test_redirect_in_location_as_apache():
    with Env(conf=IN_LOC, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport, IN_LOC_PATHS, body=False)
        got = {p: (s, l) for p, s, l, _ in theirs}
        # the test's reading of Apache's
        eq(got["/moved/x?a=1"], (301, "http://new.test/place?a=1"), "Apache: the query appended")
        eq(got["/moved/back/y"], (308, "http://back.test/"), "Apache: the later section")
        eq(got["/rel/a?b=2"], (302, "http://127.0.0.1:PORT/elsewhere?b=2"), "Apache: relative")
        eq(got["/q/z?y=3"], (307, "http://q.test/?fixed=1"), "Apache: the URL's own query")
        eq(got["/nope/new"][0], 404, "Apache: not proxied, no section")
        eq(got["/nope/locked/z"][0], 302, "Apache: not proxied, the Redirect before the "
           "section's access rules")
        eq(got["/plocked/y"][0], 403, "Apache: proxied, the access rules first")
        eq(got["/x"][0], 200, "Apache: proxied")
        before = len(env.backend_log(1))
        for a, k in zip(theirs, answers(env.port, IN_LOC_PATHS, body=False)):
            eq(k, a, "kbal's answer to GET %s against Apache's" % a[0])
        seen = [l.split()[1] for l in env.backend_log(1)[before:]]
        eq(seen, [p for p, s, _, _ in theirs if s == 200], "what reached the member")
        eq(env.stats()["kept"], 0, "requests the kernel kept (kbald decides each)")
