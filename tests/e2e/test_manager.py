# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The balancer-manager page is kbald's own, as long as a `ProxyPass PATH !`
before `ProxyPass /` keeps it from being proxied (first match wins)."""

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

from kbaltest import EXAMPLE_CONF, Env, Topo, check, eq, line_of, run_kbald

EXCLUDE = "ProxyPass /balancer-manager !"
PASS_ALL = "ProxyPass / balancer://mycluster/"
# the two rules the other way round: ProxyPass / shadows the manager
SWAPPED = (EXAMPLE_CONF.replace(EXCLUDE, "@@").replace(PASS_ALL, EXCLUDE)
           .replace("@@", PASS_ALL))


def test_manager_page_served_locally():
    with Env() as env:
        r = env.get("/balancer-manager")
        eq(r.status, 200, "status")
        check("html" in (r.header("Content-Type") or "").lower(),
              "Content-Type %r" % r.header("Content-Type"))
        for want in ("mycluster", env.member_url(1), env.member_url(2)):
            check(want in r.text, "%r not in the manager page" % want)
        eq(r.header("X-Backend"), None, "X-Backend on the manager page")
        eq(env.backend_log(1) + env.backend_log(2), [], "requests that reached a member")
        # the path the balancer's keep-alive connections take
        check("<td>packet (default)</td>" in r.text, "no KbalSplice: %r" % r.text[:1500])
    for splice in ("packet", "sockmap"):
        with Env(conf=EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                           "ProxySet lbmethod=byrequests\nKbalSplice "
                                           + splice)) as env:
            r = env.get("/balancer-manager")
            check("<td>%s</td>" % splice in r.text, "KbalSplice %s: %r" % (splice, r.text[:1500]))


def test_manager_shadowed_by_proxypass():
    check(SWAPPED.index(PASS_ALL) < SWAPPED.index(EXCLUDE), "rules not swapped")
    with Env(conf=SWAPPED) as env:
        r = env.get("/balancer-manager")
        eq(r.status, 200, "status")
        check(r.header("X-Backend") in ("WAS1", "WAS2"),
              "manager page not proxied: X-Backend %r" % r.header("X-Backend"))
        eq(env.backend_log(1) + env.backend_log(2), ["GET /balancer-manager"],
           "requests at the members")
        rc, out = run_kbald(["-t", "-f", env.conf_path])
        eq(rc, 0, "kbald -t status (a warning is not an error); output:\n" + out)
        for needle in (PASS_ALL, EXCLUDE):
            n = line_of(env.conf, needle)
            check((":%d:" % n) in out or ("line %d" % n) in out,
                  "kbald -t does not name line %d (%s):\n%s" % (n, needle, out))


# ---- who may reach it (authz.h) ----------------------------------------------

MANAGER_LOC = "<Location /balancer-manager>\n    SetHandler balancer-manager\n"


def manager_status(env, source, path="/balancer-manager"):
    with env.connect(source=source) as c:
        r = c.get(path)
        return r.status, r.text


def test_manager_access_rules():
    # Apache's recommended block: only the addresses it names reach the
    # page; another client gets 403, as from httpd, and nothing of it
    # reaches a member (127.0.0.2 is another client on this host)
    cases = [("Require ip 127.0.0.1\n", {"127.0.0.1": 200, "127.0.0.2": 403}),
             ("Require local\n", {"127.0.0.1": 200, "127.0.0.2": 200}),
             ("<RequireAll>\nRequire local\nRequire not ip 127.0.0.2\n</RequireAll>\n",
              {"127.0.0.1": 200, "127.0.0.2": 403}),
             ("Order deny,allow\nDeny from all\nAllow from 127.0.0.2\n",
              {"127.0.0.1": 403, "127.0.0.2": 200}),
             ("Require all denied\n", {"127.0.0.1": 403, "127.0.0.2": 403})]
    for rules, want in cases:
        conf = EXAMPLE_CONF.replace(MANAGER_LOC, MANAGER_LOC + rules)
        check(rules in conf, "rules not in the configuration: %r" % rules)
        with Env(conf=conf) as env:
            for source, status in want.items():
                got, text = manager_status(env, source)
                eq(got, status, "%s from %s" % (rules.strip().replace("\n", "; "), source))
                if status == 200:
                    check("mycluster" in text, "the page: %r" % text[:200])
                # on a connection the kernel carried too: handed back, the same answer
                with env.connect(source=source) as c:
                    c.get("/k1", cookie="ROUTEID=route.1")
                    c.get("/k2", cookie="ROUTEID=route.1")
                    eq(c.get("/balancer-manager").status, status,
                       "%s from %s, on a spliced connection" % (rules.strip(), source))
            eq([l for l in env.backend_log(1) + env.backend_log(2) if "manager" in l], [],
               "requests for the manager that reached a member")


def test_manager_without_rules_is_local_only():
    # no access rule: loopback clients only, and the log says so; a client
    # in another namespace (10.77.1.2) gets 403
    with Topo() as topo, Env(topo=topo) as env:
        with env.connect() as c:
            eq(c.get("/balancer-manager").status, 403, "from 10.77.1.2, no access rule")
        with env.connect() as c:
            eq(c.get("/app").status, 200, "a proxied path from there")
        check("only loopback clients reach it" in env.kbald_stderr(),
              "kbald's log does not say so:\n" + env.kbald_stderr())
    with Env() as env:
        eq(manager_status(env, "127.0.0.2")[0], 200, "from 127.0.0.2 (loopback), no access rule")


# ---- changes in Apache's field names (manager_form.h) ------------------------


ST_DRAIN = 1 << 4
ST_DISABLED = 1 << 0


def page_nonce(text, balancer="mycluster"):
    """The nonce of the balancer's forms on the page (as a script scrapes it
    from Apache's page)."""
    forms = re.findall(r'<form .*?</form>', text, re.S)
    for f in forms:
        if 'name="b" value="%s"' % balancer in f:
            m = re.search(r'name="nonce" value="([^"]*)"', f)
            return m.group(1) if m else None
    return None


def manager_post(env, fields, referer="self", path="/balancer-manager"):
    body = urllib.parse.urlencode(fields).encode()
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    with env.connect() as c:
        if referer == "self":
            referer = "http://%s%s" % (c.host_header, path)
        if referer:
            headers.append(("Referer", referer))
        c.request("POST", path, headers=headers, body=body)
        return c.read_response()


def test_manager_drains_and_enables_a_member():
    with Env() as env:
        page = env.get("/balancer-manager").text
        nonce = page_nonce(page)
        check(nonce and re.fullmatch(r"[0-9a-f]{32}", nonce), "the page's nonce: %r" % nonce)
        w1 = env.member_url(1)
        # drain, as a deploy script posts it to Apache
        r = manager_post(env, {"b": "mycluster", "w": w1, "w_status_N": "1", "nonce": nonce})
        eq(r.status, 200, "status")
        check("changed: balancer://mycluster, member %s" % w1 in r.text,
              "the page says what changed: %r" % r.text[:600])
        eq(env.member(1)["status"] & ST_DRAIN, ST_DRAIN, "member 1 draining in kbal_members")
        check("Drn" in env.kbalctl("members"), "kbalctl members shows it draining")
        # a drained member takes no new request without its route
        for i in range(4):
            eq(env.get("/n%d" % i).header("X-Backend"), "WAS2", "request %d while WAS1 drains" % i)
        r = manager_post(env, {"b": "mycluster", "w": w1, "w_status_N": "0", "w_lf": "2",
                               "w_ls": "1", "nonce": nonce})
        eq(r.status, 200, "status")
        m = env.member(1)
        eq((m["status"] & ST_DRAIN, m["loadfactor"], m["lbset"]), (0, 2, 1),
           "member 1 after the second form")


def test_manager_refuses_changes_without_nonce_or_from_elsewhere():
    with Env() as env:
        nonce = page_nonce(env.get("/balancer-manager").text)
        w1 = env.member_url(1)
        ask = {"b": "mycluster", "w": w1, "w_status_D": "1"}
        for what, fields, referer, says in (
                ("no nonce", ask, "self", "the request has no nonce"),
                ("a stale nonce", dict(ask, nonce="0" * 32), "self", "the nonce is stale"),
                ("a cross-site Referer", dict(ask, nonce=nonce), "http://evil.example/x",
                 "treated as cross-site"),
                ("no Referer", dict(ask, nonce=nonce), None, "treated as cross-site")):
            r = manager_post(env, fields, referer=referer)
            eq(r.status, 200, "%s: status (Apache answers its page)" % what)
            check("nothing changed" in r.text and says in r.text,
                  "%s: the page does not say why: %r" % (what, r.text[:600]))
            eq(env.member(1)["status"] & ST_DISABLED, 0, "%s: member 1 disabled" % what)
        # a GET's query selects, it does not change (Apache reads b, w, nonce
        # and xml from it only)
        with env.connect() as c:
            q = urllib.parse.urlencode(dict(ask, nonce=nonce))
            c.request("GET", "/balancer-manager?" + q,
                      headers=[("Referer", "http://%s/balancer-manager" % c.host_header)])
            eq(c.read_response().status, 200, "GET with fields")
        eq(env.member(1)["status"] & ST_DISABLED, 0, "member 1 disabled by a GET's query")
        # and the same change with the nonce does it
        r = manager_post(env, dict(ask, nonce=nonce))
        eq(env.member(1)["status"] & ST_DISABLED, ST_DISABLED, "member 1 disabled by the form")
        for i in range(3):
            eq(env.get("/d%d" % i).header("X-Backend"), "WAS2", "request %d, WAS1 disabled" % i)


def test_manager_nonce_from_the_configuration():
    conf = EXAMPLE_CONF.replace("ProxySet stickysession=ROUTEID",
                                "ProxySet stickysession=ROUTEID nonce=fixed-nonce-1")
    with Env(conf=conf) as env:
        eq(page_nonce(env.get("/balancer-manager").text), "fixed-nonce-1", "the page's nonce")
        manager_post(env, {"b": "mycluster", "w": env.member_url(2), "w_status_H": "1",
                           "nonce": "fixed-nonce-1"})
        eq(env.member(2)["status"] & (1 << 3), 1 << 3, "member 2 hot standby")
    conf = EXAMPLE_CONF.replace("ProxySet stickysession=ROUTEID",
                                "ProxySet stickysession=ROUTEID nonce=None")
    with Env(conf=conf) as env:
        check("Changes through this page are off" in env.get("/balancer-manager").text,
              "the page does not say that changes are off")
        r = manager_post(env, {"b": "mycluster", "w": env.member_url(2), "w_status_D": "1",
                               "nonce": ""})
        check("changes are off" in r.text, "the answer: %r" % r.text[:400])
        eq(env.member(2)["status"], 0, "member 2's status with nonce=None")


def test_manager_xml_view():
    # ?xml=1: Apache's XML, as monitoring scripts parse it; like Apache's
    # handler, only with a same-site Referer (without one the fields are
    # dropped and the HTML page comes)
    import xml.etree.ElementTree as ET
    ns = {"httpd": "http://httpd.apache.org"}
    with Env() as env:
        nonce = page_nonce(env.get("/balancer-manager").text)
        manager_post(env, {"b": "mycluster", "w": env.member_url(2), "w_status_N": "1",
                           "nonce": nonce})
        with env.connect() as c:
            c.request("GET", "/balancer-manager?xml=1",
                      headers=[("Referer", "http://%s/balancer-manager" % c.host_header)])
            r = c.read_response()
        # httpd's ap_set_content_type_ex(r, "text/xml", 1): no charset
        eq((r.status, r.header("Content-Type")), (200, "text/xml"), "XML view")
        root = ET.fromstring(r.body)
        bals = root.findall("httpd:balancers/httpd:balancer", ns)
        eq([b.findtext("httpd:name", namespaces=ns) for b in bals], ["balancer://mycluster"],
           "balancers")
        eq(bals[0].findtext("httpd:stickysession", namespaces=ns), "ROUTEID", "stickysession")
        eq(bals[0].findtext("httpd:lbmethod", namespaces=ns), "byrequests", "lbmethod")
        workers = bals[0].findall("httpd:workers/httpd:worker", ns)
        eq([(w.findtext("httpd:name", namespaces=ns), w.findtext("httpd:route", namespaces=ns),
             w.findtext("httpd:status", namespaces=ns)) for w in workers],
           [(env.member_url(1), "1", "Init Ok "), (env.member_url(2), "2", "Init Drn Ok ")],
           "workers: name, route, status in Apache's words")
        with env.connect() as c:
            c.request("GET", "/balancer-manager?xml=1")
            r = c.read_response()
        check("html" in r.header("Content-Type"), "without a Referer: %r" % r.header("Content-Type"))


def test_own_answers_keep_the_connection():
    # the page, a 403 and a 404 leave a keep-alive connection open, as
    # Apache's do; the next requests on it are proxied as usual, and the
    # kernel takes the connection afterwards
    conf = EXAMPLE_CONF.replace(MANAGER_LOC, MANAGER_LOC + "Require ip 127.0.0.1\n").replace(
        "ProxyPass /balancer-manager !", "ProxyPass /balancer-manager !\nProxyPass /gone !")
    with Env(conf=conf) as env:
        with env.connect(source="127.0.0.1") as c:
            for path, status in (("/balancer-manager", 200), ("/gone", 404),
                                 ("/balancer-manager?xml=1", 200)):
                r = c.get(path)
                eq((r.status, r.header("Connection")), (status, None), "GET %s" % path)
            for i in range(4):
                r = c.get("/k%d" % i, cookie="ROUTEID=route.1")
                eq((r.status, r.text), (200, "backend=WAS1 path=/k%d\n" % i), "GET /k%d" % i)
            eq(c.get("/balancer-manager").status, 200, "the page again, from a spliced connection")
            eq(c.get("/k9", cookie="ROUTEID=route.1").text, "backend=WAS1 path=/k9\n", "after it")
        with env.connect(source="127.0.0.2") as c:
            r = c.get("/balancer-manager")
            eq((r.status, r.header("Connection")), (403, None), "a refused client's 403")
            eq(c.get("/a", cookie="ROUTEID=route.2").text, "backend=WAS2 path=/a\n",
               "its next request, on the same connection")
        # a POST's fields read whole, then the next request
        nonce = page_nonce(env.get("/balancer-manager").text)
        with env.connect() as c:
            body = urllib.parse.urlencode({"b": "mycluster", "w": env.member_url(2),
                                           "w_lf": "3", "nonce": nonce}).encode()
            c.request("POST", "/balancer-manager", body=body,
                      headers=[("Referer", "http://%s/balancer-manager" % c.host_header),
                               ("Content-Type", "application/x-www-form-urlencoded")])
            eq(c.read_response().status, 200, "the form")
            eq(c.get("/b", cookie="ROUTEID=route.2").text, "backend=WAS2 path=/b\n",
               "a request after the form")
        eq(env.member(2)["loadfactor"], 3, "member 2's load factor")


# ---- Basic authentication (authn.h) -----------------------------------------



def basic(user, password):
    return ("Authorization", "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode())
            .decode())


def htpasswd_file(d):
    """Users in the three hash formats Apache's htpasswd writes."""
    path = os.path.join(d, "htpasswd")
    for flag, user, password in (("-B", "alice", "bcrypt-pw"), ("-m", "bob", "md5-pw"),
                                 ("-s", "carol", "sha1-pw")):
        args = ["htpasswd", "-b", flag] + (["-c"] if user == "alice" else []) + [path, user,
                                                                                 password]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=20)
    return path


def auth_conf(path, rules):
    return EXAMPLE_CONF.replace(MANAGER_LOC, MANAGER_LOC + 'AuthType Basic\nAuthName "Balancer '
                                'Manager"\nAuthUserFile %s\n%s' % (path, rules))


def test_manager_basic_auth():
    d = tempfile.mkdtemp(prefix="kbal-auth-")
    try:
        path = htpasswd_file(d)
        with open(path) as f:
            hashes = f.read()
        check("$2y$" in hashes and "$apr1$" in hashes and "{SHA}" in hashes,
              "htpasswd wrote: %s" % hashes)
        with Env(conf=auth_conf(path, "Require valid-user\n")) as env:
            with env.connect() as c:
                r = c.get("/balancer-manager")
                eq((r.status, r.header("WWW-Authenticate")), (401, 'Basic realm="Balancer Manager"'),
                   "no credentials")
                for user, pw in (("alice", "bcrypt-pw"), ("bob", "md5-pw"), ("carol", "sha1-pw")):
                    r = c.get("/balancer-manager", headers=[basic(user, pw)])
                    eq(r.status, 200, "%s's password (on the same connection)" % user)
                    eq(c.get("/balancer-manager", headers=[basic(user, pw + "x")]).status, 401,
                       "%s with a wrong password" % user)
                eq(c.get("/balancer-manager", headers=[basic("mallory", "x")]).status, 401,
                   "an unknown user")
                eq(c.get("/balancer-manager", headers=[("Authorization", "Basic !!!")]).status,
                   401, "a bad encoding")
            check("a wrong password (401)" in env.kbald_stderr(), "the log says why")
        with Env(conf=auth_conf(path, "Require user bob\n")) as env:
            eq(manager_get(env, [basic("bob", "md5-pw")]), 200, "bob, named")
            eq(manager_get(env, [basic("alice", "bcrypt-pw")]), 401, "alice, not named")
        # the address or a user
        with Env(conf=auth_conf(path, "<RequireAny>\nRequire ip 127.0.0.1\nRequire valid-user\n"
                                      "</RequireAny>\n")) as env:
            eq(manager_get(env, [], "127.0.0.1"), 200, "from 127.0.0.1, no credentials")
            eq(manager_get(env, [], "127.0.0.2"), 401, "from 127.0.0.2, no credentials")
            eq(manager_get(env, [basic("carol", "sha1-pw")], "127.0.0.2"), 200,
               "from 127.0.0.2, carol")
        # the address and a user
        with Env(conf=auth_conf(path, "<RequireAll>\nRequire ip 127.0.0.1\nRequire valid-user\n"
                                      "</RequireAll>\n")) as env:
            eq(manager_get(env, [basic("carol", "sha1-pw")], "127.0.0.2"), 403,
               "from 127.0.0.2 with carol's credentials")
            eq(manager_get(env, [basic("carol", "sha1-pw")], "127.0.0.1"), 200,
               "from 127.0.0.1 with them")
            eq(manager_get(env, [], "127.0.0.1"), 401, "from 127.0.0.1 without")
    finally:
        shutil.rmtree(d)


def manager_get(env, headers, source=None):
    with env.connect(source=source) as c:
        return c.get("/balancer-manager", headers=headers).status


def test_manager_json_view():
    # kbal's own view for new scripts: the page's state as JSON, a read
    # that needs no Referer; the shares the page draws as bars
    import json
    with Env() as env:
        with env.connect() as c:
            for i in range(3):
                c.get("/j%d" % i, cookie="ROUTEID=route.1")
            r = env.get("/balancer-manager?json=1")
            eq((r.status, r.header("Content-Type")), (200, "application/json"), "JSON view")
            view = json.loads(r.body)
            bal = view["balancers"][0]
            eq((bal["name"], bal["lbmethod"], bal["stickysession"]),
               ("mycluster", "byrequests", "ROUTEID"), "the balancer")
            members = {m["route"]: m for m in bal["members"]}
            eq(members["1"]["url"], env.member_url(1), "member 1's URL")
            eq(members["1"]["live_flows"], 1, "member 1's live flows (this connection)")
            eq(members["2"]["live_flows"], 0, "member 2's live flows")
            eq(members["1"]["status_words"], "Init Ok ", "status in Apache's words")
            page = env.get("/balancer-manager").text
            check('title="100% of live flows"' in page and 'title="0% of live flows"' in page,
                  "the live-flow bars on the page")
        env.kbalctl("set", "mycluster", "2", "status=+H", "loadfactor=2")
        m2 = [m for m in json.loads(env.get("/balancer-manager?json=1").body)["balancers"][0]
              ["members"] if m["route"] == "2"][0]
        eq((m2["status_words"], m2["loadfactor"], m2["changed_at_run_time"]),
           ("Init Stby Ok ", 2, "status loadfactor"), "member 2 after kbalctl set")


def test_manager_form_body_that_never_comes():
    # a POST whose body stops short: 408 after Timeout, as Apache's, not a
    # gateway's 504 (no member is involved)
    conf = EXAMPLE_CONF + "Timeout 1\n"
    with Env(conf=conf) as env, env.connect(timeout=10) as c:
        c.send(b"POST /balancer-manager HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n\r\nb=mycluster"
               % c.host_header.encode())
        eq(c.read_response().status, 408, "a form's body cut short")


def test_manager_referer_is_read_within_its_header():
    # the Referer's host ends where the header does: a Referer of just
    # "http://127.0.0.1" (no path) is this server, one that names another
    # host in a later header's bytes is not
    with Env() as env:
        nonce = page_nonce(env.get("/balancer-manager").text)
        for referer, changed in (("http://127.0.0.1", True), ("http://127.0.0.1x", False)):
            manager_post(env, {"b": "mycluster", "w": env.member_url(1), "w_ls": "0",
                               "nonce": nonce})
            r = manager_post(env, {"b": "mycluster", "w": env.member_url(1), "w_ls": "5",
                                   "nonce": nonce}, referer=referer)
            eq(env.member(1)["lbset"], 5 if changed else 0, "Referer %s" % referer)
            check(("changed: balancer://" in r.text) == changed, "the page for Referer %s" % referer)


# ---- adding a member (growth=) -------------------------------------------------

GROWTH_CONF = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                   "ProxySet lbmethod=byrequests growth=1")


def manager_xml(env):
    with env.connect() as c:
        return c.get("/balancer-manager?xml=1",
                     headers=[("Referer", "http://%s/balancer-manager" % c.host_header)]).text


def test_manager_adds_a_member():
    # Apache's Add New Worker (balancer_process_balancer_worker(): b_nwrkr
    # with b_wyes=1): into the free slot growth=1 left, disabled; enabled
    # with the worker form's field, it takes requests
    check("growth=1" in GROWTH_CONF, "growth=1 not in the configuration")
    with Env(conf=GROWTH_CONF, backends=(1, 2, 3)) as env:
        page = env.get("/balancer-manager").text
        nonce = page_nonce(page)
        check("<td>3 [2 Used]</td>" in page, "MaxMembers as Apache's: %r" % page[:1500])
        check('name="b_nwrkr"' in page and 'name="b_wyes"' in page, "no Add New Worker form")
        eq(len(env.members()), 2, "members before (the free slot is none)")
        w3, w4 = env.member_url(3), "http://127.0.0.1:%d" % env.ports["b4"]
        add = {"b": "mycluster", "b_nwrkr": w3, "b_wyes": "1"}
        # a wrong nonce, no Referer, the box not ticked: nothing added
        r = manager_post(env, dict(add, nonce="0" * 32))
        check("the nonce is stale" in r.text, "a wrong nonce: %r" % r.text[:800])
        r = manager_post(env, dict(add, nonce=nonce), referer=None)
        check("treated as cross-site" in r.text, "no Referer: %r" % r.text[:800])
        r = manager_post(env, {"b": "mycluster", "b_nwrkr": w3, "nonce": nonce})
        check("without b_wyes=1" in r.text, "without b_wyes: %r" % r.text[:800])
        eq(len(env.members()), 2, "members after the refused adds")
        # the add (a trailing '/' as a BalancerMember URL may have)
        r = manager_post(env, dict(add, b_nwrkr=w3 + "/", nonce=nonce))
        eq(r.status, 200, "status")
        check("added to balancer://mycluster: member %s, disabled" % w3 in r.text,
              "the page says what was added: %r" % r.text[:800])
        check("<td>3 [3 Used]</td>" in r.text and 'name="b_nwrkr"' not in r.text,
              "no free slot left on the page")
        check(re.search(r"<td>%s</td>.*?Init Dis " % re.escape(w3), r.text, re.S),
              "the page lists it disabled")
        ms = {v["url"]: v for v in env.members().values()}
        eq(ms[w3]["status"] & ST_DISABLED, ST_DISABLED, "its status in kbal_members")
        eq((ms[w3]["balancer"], ms[w3]["loadfactor"], ms[w3]["lbset"]),
           (ms[env.member_url(1)]["balancer"], 1, 0), "its balancer and defaults")
        xml = manager_xml(env)
        check(re.search(r"<httpd:name>%s</httpd:name>.*?<httpd:status>Init Dis </httpd:status>"
                        % re.escape(w3), xml, re.S), "the XML view: %s" % xml)
        bal = json.loads(env.get("/balancer-manager?json=1").body)["balancers"][0]
        eq(bal["slots"], 3, "the JSON view's slots")
        eq([(w["url"], w["status_words"], w["added_at_run_time"]) for w in bal["members"]],
           [(env.member_url(1), "Init Ok ", False), (env.member_url(2), "Init Ok ", False),
            (w3, "Init Dis ", True)], "the JSON view's members")
        check("mycluster %s: added at run time" % w3 in env.kbalctl("status"),
              "kbalctl status:\n" + env.kbalctl("status"))
        check("added at run time" in env.kbald_stderr(), "kbald's log")
        for i in range(6):
            env.get("/d%d" % i)
        eq(env.backend_log(3), [], "requests at the disabled new member")
        # no free slot, the URL a member already, not what kbal can reach:
        # Apache's 400 (balancer_process_balancer_worker()), and the log says why
        for url, why in ((w4, "no free slot for %s (3 of 3 used" % w4),
                         (w3, "%s is a member already" % w3),
                         ("https://127.0.0.1:1", "https members need TLS"),
                         ("http://localhost:1", "give an IP address here")):
            r = manager_post(env, dict(add, b_nwrkr=url, nonce=nonce))
            eq(r.status, 400, "adding %s" % url)
            check([l for l in env.kbald_stderr().splitlines()
                   if "nothing added to balancer://mycluster: " in l and why in l],
                  "the log says why for %s:\n%s" % (url, env.kbald_stderr()))
        eq(sorted(v["url"] for v in env.members().values()),
           sorted([env.member_url(1), env.member_url(2), w3]), "members after the refusals")
        # enabled as any member is
        r = manager_post(env, {"b": "mycluster", "w": w3, "w_status_D": "0", "nonce": nonce})
        check("changed: balancer://mycluster, member %s" % w3 in r.text, r.text[:800])
        names = [env.get("/e%d" % i).header("X-Backend") for i in range(6)]
        eq(sorted(names), ["WAS1", "WAS1", "WAS2", "WAS2", "WAS3", "WAS3"],
           "requests with the new member enabled: %r" % names)
        eq(len(env.backend_log(3)), 2, "requests logged by the new member")
