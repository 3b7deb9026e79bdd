# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The same manager script against kbal and against Apache's own
balancer-manager (Debian's apache2, started by the test on the same
configuration and members): it scrapes the nonce from the page as scripts
written for Apache do, drains a member and enables it again with Apache's
field names, and reads the result from the XML view. Both must end in the
same state, spelled the same way."""

import re
import urllib.parse
import xml.etree.ElementTree as ET

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq

NS = {"httpd": "http://httpd.apache.org"}


def page_nonce(text, balancer="mycluster"):
    """The nonce as a script finds it in Apache's page: the balancer's link."""
    m = re.search(r'\?b=%s&amp;nonce=([^"&]+)"' % re.escape(balancer), text)
    return m.group(1) if m else None


def request(port, method, path, body=None):
    with Conn(port) as c:
        headers = [("Referer", "http://127.0.0.1:%d/balancer-manager" % port)]
        if body is not None:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        c.request(method, path, headers=headers, body=body)
        return c.read_response()


def worker_states(port):
    root = ET.fromstring(request(port, "GET", "/balancer-manager?xml=1").body)
    out = {}
    for w in root.iterfind(".//httpd:worker", NS):
        out[w.findtext("httpd:name", namespaces=NS)] = (
            w.findtext("httpd:status", namespaces=NS), w.findtext("httpd:route", namespaces=NS),
            w.findtext("httpd:lbset", namespaces=NS))
    return out


def drain_script(port, member_url, on):
    """What an operator's script does with Apache's manager."""
    nonce = page_nonce(request(port, "GET", "/balancer-manager").text)
    check(nonce, "no nonce on the page at port %d" % port)
    body = urllib.parse.urlencode({"b": "mycluster", "w": member_url, "w_status_N": on,
                                   "w_ls": "1" if on else "0", "nonce": nonce}).encode()
    eq(request(port, "POST", "/balancer-manager", body).status, 200, "the form's answer")


def test_same_script_on_kbal_and_apache():
    with Env() as env, apache_beside(env) as aport:
        w2 = env.member_url(2)
        before = {}
        for name, port in (("Apache", aport), ("kbal", env.port)):
            before[name] = worker_states(port)
        eq(before["kbal"], before["Apache"], "the XML views before")
        for on, want in (("1", "Init Drn Ok "), ("0", "Init Ok ")):
            after = {}
            for name, port in (("Apache", aport), ("kbal", env.port)):
                drain_script(port, w2, on)
                after[name] = worker_states(port)
            eq(after["Apache"][w2][0], want, "Apache's status after w_status_N=%s" % on)
            eq(after["kbal"], after["Apache"], "kbal against Apache after w_status_N=%s" % on)


def post_fields(port, fields):
    nonce = page_nonce(request(port, "GET", "/balancer-manager").text)
    check(nonce, "no nonce on the page at port %d" % port)
    body = urllib.parse.urlencode(dict(fields, b="mycluster", nonce=nonce)).encode()
    return request(port, "POST", "/balancer-manager", body)


def test_add_worker_on_kbal_and_apache():
    # Apache's Add New Worker with growth=1: the same worker added on both,
    # disabled; a second add finds no free slot on both (both answer 400);
    # enabled with w_status_D=0 on both
    conf = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                "ProxySet lbmethod=byrequests growth=1")
    with Env(conf=conf, backends=(1, 2, 3)) as env, apache_beside(env) as aport:
        w3, w4 = env.member_url(3), "http://127.0.0.1:%d" % env.ports["b4"]
        states = {}
        for name, port in (("Apache", aport), ("kbal", env.port)):
            eq(post_fields(port, {"b_nwrkr": w3, "b_wyes": "1"}).status, 200,
               "%s's answer to the add" % name)
            states[name] = worker_states(port)
        eq(states["Apache"].get(w3, ("?",))[0], "Init Dis ", "Apache's new worker")
        eq(states["kbal"], states["Apache"], "kbal against Apache after the add")
        status = {}
        for name, port in (("Apache", aport), ("kbal", env.port)):
            status[name] = post_fields(port, {"b_nwrkr": w4, "b_wyes": "1"}).status
            eq(worker_states(port), states[name], "%s after an add with no free slot" % name)
        eq(status, {"Apache": 400, "kbal": 400}, "the answers to an add with no free slot")
        for name, port in (("Apache", aport), ("kbal", env.port)):
            eq(post_fields(port, {"w": w3, "w_status_D": "0"}).status, 200, "enabling")
            states[name] = worker_states(port)
        eq(states["Apache"][w3][0], "Init Ok ", "Apache's new worker enabled")
        eq(states["kbal"], states["Apache"], "kbal against Apache after enabling it")


def test_balancer_fields_on_kbal_and_apache():
    # maxattempts unset: httpd's default, the members less one, shown as if
    # set; none for a balancer of one member (was 1, and not shown)
    one = EXAMPLE_CONF.replace("BalancerMember http://127.0.0.1:{b2} route=2\n", "")
    check(one != EXAMPLE_CONF, "a balancer of one member")
    for conf, want in ((EXAMPLE_CONF, ["1"]), (one, [])):
        with Env(conf=conf) as env, apache_beside(env) as aport:
            got = {name: re.findall(r"<httpd:maxattempts>(\d+)</httpd:maxattempts>",
                                    request(port, "GET", "/balancer-manager?xml=1").text)
                   for name, port in (("Apache", aport), ("kbal", env.port))}
            eq(got, {"Apache": want, "kbal": want}, "maxattempts unset, kbal against Apache")
    # the balancer form's b_max (maxattempts) and b_sforce, and a member's
    # route redirection (w_rr) on both: the XML views say the same
    with Env() as env, apache_beside(env) as aport:
        views = {}
        for name, port in (("Apache", aport), ("kbal", env.port)):
            eq(post_fields(port, {"b_max": "1", "b_sforce": "1"}).status, 200,
               "%s's answer" % name)
            eq(post_fields(port, {"w": env.member_url(1), "w_rr": "2"}).status, 200,
               "%s's answer to w_rr" % name)
            xml = request(port, "GET", "/balancer-manager?xml=1").text
            views[name] = (re.findall(r"<httpd:maxattempts>(\d+)</httpd:maxattempts>", xml),
                           re.findall(r"<httpd:nofailover>(\w+)</httpd:nofailover>", xml),
                           re.findall(r"<httpd:redirect>(\w*)</httpd:redirect>", xml))
        eq(views["Apache"], (["1"], ["On"], ["2", ""]), "Apache's XML view")
        eq(views["kbal"], views["Apache"], "kbal against Apache")
