# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""AllowEncodedSlashes Off|On|NoDecode (httpd's core; issue 17) on proxied
paths, side by side with Debian's apache2 on the same configuration and
member: Off (the default) answers 404 to a path with %2F and sends the
member nothing, On decodes it (the path normalised again: slashes merged,
a dot segment above the root a 404), NoDecode passes it on as it came,
other escapes decoded where unreserved (%41: A); a ProxyPass with nocanon
passes the rest of the request-target on as it came."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, eq

CONF = PROXY_HEAD + """\
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /p/ balancer://c/
ProxyPass /q/ balancer://c/ nocanon
@RULE@
"""

PATHS = ["/p/a%2Fb", "/p/a%2fb%41", "/p/a%41b", "/p/x/..%2F..%2Fy", "/p/x/..%2Fy",
         "/p/a%20b%2F", "/p/a%2F%2Fb", "/p/a%252Fb", "/p/a%2541", "/p/a%2Fb?q=%2F",
         "/q/a%2Fb", "/q/a%41b?x=%2F", "/q/a%2541//b"]


def answers(port):
    out = []
    with Conn(port, timeout=10.0) as c:
        for path in PATHS:
            r = c.get(path)
            out.append((path, r.status, r.text if r.status == 200 else ""))
            if (r.header("Connection") or "").lower() == "close":
                break
    return out


def run(rule):
    with Env(conf=CONF.replace("@RULE@", rule), backends=(1,)) as env, \
            apache_beside(env) as aport:
        theirs = answers(aport)
        before = len(env.backend_log(1))
        ours = answers(env.port)
        eq(ours, theirs, "kbal against Apache with %r" % rule)
        eq(len(env.backend_log(1)) - before, sum(a[1] == 200 for a in theirs),
           "requests the member got")
        return dict((a[0], a[1:]) for a in theirs)


def test_encoded_slashes_off():
    theirs = run("")
    eq(theirs["/p/a%2Fb"][0], 404, "Apache's default")
    theirs = run("AllowEncodedSlashes Off")
    eq(theirs["/p/a%41b"], (200, "backend=WAS1 path=/aAb\n"), "Apache's Off")


def test_encoded_slashes_on():
    theirs = run("AllowEncodedSlashes On")
    eq(theirs["/p/a%2Fb"], (200, "backend=WAS1 path=/a/b\n"), "Apache's On")
    eq(theirs["/q/a%2Fb"], (200, "backend=WAS1 path=/a%2Fb\n"), "Apache's On with nocanon")
    eq(theirs["/p/x/..%2F..%2Fy"][0], 404, "Apache's On, above the root")


def test_encoded_slashes_nodecode():
    theirs = run("AllowEncodedSlashes NoDecode")
    eq(theirs["/p/a%2fb%41"], (200, "backend=WAS1 path=/a%2fbA\n"), "Apache's NoDecode")
