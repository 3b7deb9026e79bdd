# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""<Location> access rules on proxied paths (issue 17): Require (ip, all,
valid-user), Order/Allow/Deny and Basic credentials apply to the requests a
ProxyPass rule proxies, side by side with Debian's apache2 on the same
configuration: the status, the WWW-Authenticate, whether the connection
stays; a refused request never reaches the member; on one kept-alive
connection a refused path between two proxied ones is refused each time
(the kernel keeps no request some rule could refuse), and where every rule
lets the client in by its address the kernel still keeps the requests."""

import os
import shutil
import tempfile

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, check, eq
from test_manager import basic, htpasswd_file

T = 10.0

MODULES = """\
LoadModule authn_core_module modules/mod_authn_core.so
LoadModule authn_file_module modules/mod_authn_file.so
LoadModule auth_basic_module modules/mod_auth_basic.so
LoadModule authz_host_module modules/mod_authz_host.so
LoadModule authz_user_module modules/mod_authz_user.so
"""

# 127.0.0.1 is the client: /private refuses it, /lan lets it in, /compat
# refuses it the old way, /members asks for a user
CONF = PROXY_HEAD + MODULES + """\
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
<Location /private>
    Require ip 10.0.0.0/8
</Location>
<Location /private/open>
    Require all granted
</Location>
<Location /lan>
    Require ip 127.0.0.0/8 10.0.0.0/8
</Location>
<Location /compat>
    Order deny,allow
    Deny from all
    Allow from 10.1.2.3
</Location>
<Location /members>
    AuthType Basic
    AuthName "Members"
    AuthUserFile HTPASSWD
    Require valid-user
</Location>
"""

PATHS = [("/x", None), ("/private/a", None), ("/private/open/b", None), ("/privatex", None),
         ("/lan/c", None), ("/compat/d", None), ("/members/e", None),
         ("/members/f", ("bob", "md5-pw")), ("/members/g", ("bob", "wrong")),
         ("/members/h", ("alice", "bcrypt-pw")), ("/y", None)]


def answers(port):
    """Each path on one kept-alive connection (a new one where the answer
    closed it): status, WWW-Authenticate, the member's X-Backend line,
    whether the connection was kept."""
    out = []
    c = Conn(port, timeout=T)
    try:
        for path, cred in PATHS:
            r = c.get(path, headers=[basic(*cred)] if cred else ())
            closed = (r.header("Connection") or "").lower() == "close"
            out.append((path, r.status, r.header("WWW-Authenticate"),
                        r.header("X-Backend") if r.status == 200 else None, closed))
            if closed:
                c.close()
                c = Conn(port, timeout=T)
    finally:
        c.close()
    return out


def readable_htpasswd(d):
    """htpasswd_file() in d, which Apache's www-data may read"""
    path = htpasswd_file(d)
    os.chmod(d, 0o755)
    os.chmod(path, 0o644)
    return path


def test_access_rules_on_proxied_paths_as_apache():
    d = tempfile.mkdtemp(prefix="kbal-access-")
    try:
        conf = CONF.replace("HTPASSWD", readable_htpasswd(d))
        with Env(conf=conf, backends=(1,)) as env, apache_beside(env) as aport:
            theirs = answers(aport)
            got = {a[0]: a[1:3] for a in theirs}
            # the test's reading of Apache's, so that a change in either shows
            eq(got["/private/a"], (403, None), "Apache: Require ip refuses 127.0.0.1")
            eq(got["/private/open/b"], (200, None), "Apache: a later section's rules replace")
            eq(got["/compat/d"], (403, None), "Apache: Deny from all")
            eq(got["/members/e"], (401, 'Basic realm="Members"'), "Apache: no credentials")
            eq(got["/members/f"][0], 200, "Apache: bob's password")
            before = len(env.backend_log(1))
            ours = answers(env.port)
            for a, k in zip(theirs, ours):
                eq(k, a, "kbal's answer to GET %s against Apache's" % a[0])
            # what reached the member: the paths let in, and only them
            seen = [l.split()[1] for l in env.backend_log(1)[before:]]
            eq(seen, [p for p, s, _, _, _ in ours if s == 200],
               "the requests the member got (none of those refused)")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_refused_path_between_kept_requests():
    """One kept-alive connection, a proxied path, a refused one, again:
    the kernel, which carries a connection's later requests, must not let
    the refused ones through (this client is refused somewhere, so kbald
    decides each of its requests)."""
    d = tempfile.mkdtemp(prefix="kbal-access-")
    try:
        with Env(conf=CONF.replace("HTPASSWD", htpasswd_file(d)), backends=(1,)) as env:
            with env.connect() as c:
                for i in range(4):
                    eq(c.get("/app/%d" % i).status, 200, "proxied request %d" % i)
                    eq(c.get("/private/%d" % i).status, 403, "refused request %d" % i)
                    eq(c.get("/compat/%d" % i).status, 403, "refused the old way %d" % i)
                    r = c.get("/members/%d" % i, headers=[basic("carol", "sha1-pw")])
                    eq(r.status, 200, "carol's request %d" % i)
                    eq(c.get("/members/%d" % i).status, 401, "no credentials %d" % i)
            seen = [l.split()[1] for l in env.backend_log(1)]
            eq(seen, [p for i in range(4) for p in ("/app/%d" % i, "/members/%d" % i)],
               "what the member got")
    finally:
        shutil.rmtree(d, ignore_errors=True)


LETS_IN = PROXY_HEAD + MODULES + """\
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
<Location />
    Require ip 127.0.0.0/8
</Location>
<Location /old>
    Order allow,deny
    Allow from 127.0.0.1
</Location>
"""


def test_kernel_keeps_requests_every_rule_lets_in():
    """Where every rule on a proxied path lets this client in by its
    address, they let each of its requests in: the kernel keeps them
    (sk_kept), and each reaches the member."""
    with Env(conf=LETS_IN, backends=(1,)) as env:
        kept = env.stats()["kept"]
        n = 20
        with env.connect() as c:
            for i in range(n):
                path = "/old/%d" % i if i % 2 else "/new/%d" % i
                r = c.get(path)
                eq((r.status, r.header("X-Backend") is not None), (200, True), path)
        check(env.stats()["kept"] - kept >= n // 2,
              "the kernel kept %d of %d requests" % (env.stats()["kept"] - kept, n))
        eq(len(env.backend_log(1)), n, "requests at the member")


def test_refused_by_address_kernel_keeps_nothing_for_that_client():
    """The same configuration, one rule refusing 127.0.0.1: the kernel
    keeps none of that client's requests (any could be the refused path),
    and kbald answers each as Apache would."""
    conf = LETS_IN.replace("Allow from 127.0.0.1", "Allow from 10.0.0.1")
    with Env(conf=conf, backends=(1,)) as env:
        kept = env.stats()["kept"]
        with env.connect() as c:
            for i in range(6):
                eq(c.get("/new/%d" % i).status, 200, "/new/%d" % i)
                eq(c.get("/old/%d" % i).status, 403, "/old/%d" % i)
        eq(env.stats()["kept"] - kept, 0, "requests the kernel kept")
        eq(len(env.backend_log(1)), 6, "requests at the member")



GROUPS = PROXY_HEAD + MODULES + """\
LoadModule authz_groupfile_module modules/mod_authz_groupfile.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
<Location /ops>
    AuthType Basic
    AuthName "Ops"
    AuthUserFile HTPASSWD
    AuthGroupFile GROUPS
    Require group ops admins
</Location>
"""


def test_require_group_as_apache():
    """Require group with AuthGroupFile (mod_authz_groupfile): a user of
    one of the groups gets in, another is asked again (401), as httpd"""
    d = tempfile.mkdtemp(prefix="kbal-access-")
    try:
        groups = os.path.join(d, "groups")
        with open(groups, "w") as f:
            f.write("# the test's groups\nops: carol dave\nadmins:alice\nstaff: bob\n")
        os.chmod(groups, 0o644)
        conf = GROUPS.replace("HTPASSWD", readable_htpasswd(d)).replace("GROUPS", groups)

        def answers(port):
            out = []
            with Conn(port, timeout=T) as c:
                for cred in (None, ("carol", "sha1-pw"), ("alice", "bcrypt-pw"),
                             ("bob", "md5-pw"), ("carol", "wrong"), ("carol", "sha1-pw")):
                    r = c.get("/ops/x", headers=[basic(*cred)] if cred else ())
                    out.append((cred and cred[0], r.status, r.header("WWW-Authenticate")))
            return out

        with Env(conf=conf, backends=(1,)) as env, apache_beside(env) as aport:
            theirs = answers(aport)
            eq([s for _, s, _ in theirs], [401, 200, 200, 401, 401, 200],
               "Apache's answers (the test's reading)")
            eq(answers(env.port), theirs, "kbal's against Apache's")
    finally:
        shutil.rmtree(d, ignore_errors=True)
