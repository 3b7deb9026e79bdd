// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* user/conf_*.c: Apache's mod_proxy_balancer syntax into struct kbal_conf. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>
#include "proxy_header.h"
#include "unit.h"
#include "conf.h"
#include "rewrite.h"
#include "conf_parse.h"
#include "inaddr.h"

#include "conf_run.h"

static const char *ip(const struct sockaddr_in6 *sa)
{
	static char buf[INET6_ADDRSTRLEN];

	return kbal_in6_ntop(&sa->sin6_addr, buf, sizeof(buf));
}

/* Apache's own example, as kbald -t must accept it */
static const char example[] =
	"LoadModule proxy_module modules/mod_proxy.so\n"                          /* 1 */
	"LoadModule proxy_http_module modules/mod_proxy_http.so\n"
	"LoadModule proxy_balancer_module modules/mod_proxy_balancer.so\n"
	"LoadModule slotmem_shm_module modules/mod_slotmem_shm.so\n"
	"LoadModule lbmethod_byrequests_module modules/mod_lbmethod_byrequests.so\n"
	"Listen 127.0.0.1:8080\n"                                                  /* 6 */
	"ProxyRequests Off\n"
	"<Proxy *>\n"
	"Order deny,allow\n"
	"Allow from all\n"
	"</Proxy>\n"
	"Header add Set-Cookie \"ROUTEID=route.%{BALANCER_WORKER_ROUTE}e; path=/;\" env=BALANCER_ROUTE_CHANGED\n"
	"<Proxy balancer://mycluster>\n"                                           /* 13 */
	"# WAS1\n"
	"BalancerMember http://127.0.0.1:18081 route=1\n"                          /* 15 */
	"# WAS2\n"
	"BalancerMember http://127.0.0.1:18082 route=2\n"                          /* 17 */
	"ProxySet lbmethod=byrequests\n"
	"ProxySet stickysession=ROUTEID\n"
	"</Proxy>\n"
	"ProxyPass /balancer-manager !\n"                                          /* 21 */
	"ProxyPass / balancer://mycluster/\n"                                      /* 22 */
	"ProxyPassReverse / balancer://mycluster/\n"                               /* 23 */
	"ProxyPreserveHost On\n"
	"<Location /balancer-manager>\n"                                           /* 25 */
	"    SetHandler balancer-manager\n"
	"</Location>\n";

UNIT_TEST(conf_example_loads)
{
	struct run *r = run(example);
	const struct kbal_conf *c = r->c;
	const struct kbal_conf_balancer *b = &c->balancers[0];

	if (!ASSERT_EQ(r->rc, 0, "load") || !ASSERT_STREQ(r->err, "", "no error"))
		goto out;
	ASSERT_STREQ(c->file, "t.conf", "file");
	ASSERT_EQ(c->nlisten, 1, "nlisten");
	ASSERT_STREQ(ip(&c->listen[0].addr), "127.0.0.1", "listen addr");
	ASSERT_EQ(ntohs(c->listen[0].addr.sin6_port), 8080, "listen port");
	ASSERT_EQ(c->listen[0].line, 6, "listen line");

	ASSERT_EQ(c->nbalancers, 1, "nbalancers");
	ASSERT_STREQ(b->name, "mycluster", "balancer name");
	ASSERT_EQ(b->line, 13, "balancer line");
	ASSERT_EQ(b->lbmethod, KBAL_LB_BYREQUESTS, "lbmethod");
	ASSERT_STREQ(b->sticky, "ROUTEID", "sticky");
	ASSERT_EQ(b->flags, 0, "flags");
	ASSERT_EQ(b->timeout_ms, 0, "balancer timeout: no wait for a member by default");
	ASSERT_EQ(b->splice, KBAL_SPLICE_PACKET, "splice: packet by default");
	ASSERT_EQ(b->splice_set, 0, "splice: the default, not asked for");
	if (!ASSERT_EQ(b->nmembers, 2, "nmembers"))
		goto out;
	for (int i = 0; i < 2; i++) {
		const struct kbal_conf_member *m = &b->members[i];
		char url[64], hostport[64], route[4];

		snprintf(url, sizeof(url), "http://127.0.0.1:%d", 18081 + i);
		snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", 18081 + i);
		snprintf(route, sizeof(route), "%d", 1 + i);
		ASSERT_STREQ(m->url, url, "member url");
		ASSERT_STREQ(m->hostport, hostport, "member hostport");
		ASSERT_STREQ(ip(&m->addr), "127.0.0.1", "member addr");
		ASSERT_TRUE(kbal_in6_is_v4(&m->addr.sin6_addr), "member family: IPv4, mapped");
		ASSERT_EQ(ntohs(m->addr.sin6_port), 18081 + i, "member port");
		ASSERT_STREQ(m->route, route, "member route");
		ASSERT_EQ(m->lbfactor, 100, "loadfactor default (hundredths)");
		ASSERT_EQ(m->lbset, 0, "lbset default");
		ASSERT_EQ(m->retry_sec, 60, "retry default");
		ASSERT_EQ(m->status, 0, "status default");
		ASSERT_EQ(m->connect_timeout_ms, 0, "no connect timeout of its own");
		ASSERT_EQ(m->line, 15 + 2 * i, "member line");
	}

	ASSERT_EQ(c->nheader, 1, "nheader");
	ASSERT_STREQ(c->header[0].name, "Set-Cookie", "header name");
	ASSERT_STREQ(c->header[0].value, "ROUTEID=route.%{BALANCER_WORKER_ROUTE}e; path=/;", "header value");
	ASSERT_STREQ(c->header[0].env, "BALANCER_ROUTE_CHANGED", "header env");
	ASSERT_EQ(c->header[0].action, KBAL_HEADER_ADD, "header action");
	ASSERT_EQ(c->header[0].line, 12, "header line");

	if (!ASSERT_EQ(c->npass, 2, "npass"))
		goto out;
	ASSERT_STREQ(c->pass[0].path, "/balancer-manager", "pass 0 path");
	ASSERT_EQ(c->pass[0].exclude, 1, "pass 0 excluded");
	ASSERT_EQ(c->pass[0].balancer, -1, "pass 0 balancer");
	ASSERT_EQ(c->pass[0].location, -1, "pass 0 server level");
	ASSERT_EQ(c->pass[0].line, 21, "pass 0 line");
	ASSERT_STREQ(c->pass[1].path, "/", "pass 1 path");
	ASSERT_EQ(c->pass[1].exclude, 0, "pass 1 proxied");
	ASSERT_EQ(c->pass[1].balancer, 0, "pass 1 balancer");
	ASSERT_STREQ(c->pass[1].target, "/", "pass 1 target");
	ASSERT_EQ(c->pass[1].line, 22, "pass 1 line");

	ASSERT_EQ(c->nreverse, 1, "nreverse");
	ASSERT_STREQ(c->reverse[0].path, "/", "reverse path");
	ASSERT_EQ(c->reverse[0].balancer, 0, "reverse balancer");
	ASSERT_STREQ(c->reverse[0].target, "/", "reverse target");
	ASSERT_EQ(c->reverse[0].line, 23, "reverse line");

	ASSERT_EQ(c->preserve_host, 1, "preserve host");
	ASSERT_EQ(c->nlocation, 1, "nlocation");
	ASSERT_STREQ(c->location[0].path, "/balancer-manager", "location path");
	ASSERT_EQ(c->location[0].handler, KBAL_HANDLER_MANAGER, "location handler");
	ASSERT_EQ(c->location[0].line, 25, "location line");
	ASSERT_EQ(c->timeout_ms, 60000, "server timeout");
	ASSERT_EQ(c->splice_set, 0, "no server KbalSplice");
	ASSERT_TRUE(c->server_name[0] != '\0', "server name from gethostname()");

	/* no warning: every request is decided (the packet path is not
	 * asked for by name) */
	ASSERT_EQ(r->nwarn, 0, r->warn);

	ASSERT_EQ(kbal_conf_match_pass(c, -1, "/balancer-manager", 17), 0, "manager excluded");
	ASSERT_EQ(kbal_conf_match_pass(c, -1, "/index.html", 11), 1, "rest proxied");
	ASSERT_EQ(kbal_conf_match_location(c, -1, "/balancer-manager?b=x", 21), KBAL_HANDLER_MANAGER, "manager");
	ASSERT_EQ(kbal_conf_match_location(c, -1, "/x", 2), KBAL_HANDLER_NONE, "no handler");
out:
	done(r);
}

UNIT_TEST(conf_load_file)
{
	char path[] = "/tmp/kbal-test-conf-XXXXXX", err[512];
	struct kbal_conf *c = malloc(sizeof(*c));
	int fd = mkstemp(path);

	if (!ASSERT_TRUE(fd >= 0, "mkstemp"))
		goto out;
	ASSERT_EQ(write(fd, example, sizeof(example) - 1), (long long)sizeof(example) - 1, "write");
	close(fd);
	ASSERT_EQ(kbal_conf_load(path, c, err, sizeof(err), NULL, NULL), 0, "load file");
	ASSERT_EQ(c->balancers[0].nmembers, 2, "members from file");
	ASSERT_STREQ(c->file, path, "file name");
	unlink(path);
	ASSERT_EQ(kbal_conf_load(path, c, err, sizeof(err), NULL, NULL), -1, "missing file");
	ASSERT_HAS(err, "No such file or directory", "missing file error");
out:
	free(c);
}

#define HEAD "Listen 8080\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001 route=a\n</Proxy>\n"
#define TAIL "ProxyPass / balancer://c/\n"

UNIT_TEST(conf_errors_name_the_line)
{
	expect_err("Listen 8080\n\n# comment\nProxyRequests On\n",
		   "t.conf:4: forward proxy (ProxyRequests On) is not supported: kbal is a reverse proxy");
	expect_err(HEAD "Foo bar\n",
		   "t.conf:5: Invalid command 'Foo', perhaps misspelled or not supported by kbal");
	expect_err("Listen 8080\n\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001\n",
		   "t.conf:3: <Proxy balancer://c> was not closed");
	expect_err(HEAD "<Location /x>\nSetHandler balancer-manager\n",
		   "t.conf:5: <Location /x> was not closed");
	expect_err("Listen 8080\n<Proxy balancer://c>\n<Location /x>\n",
		   "t.conf:3: <Location> is not allowed inside <Proxy balancer://...> "
		   "(<Proxy balancer://c> at line 2)");
	expect_err("Listen 8080\n<Location /x>\n</Proxy>\n",
		   "t.conf:3: Expected </Location> but saw </Proxy> (<Location /x> is at line 2)");
	expect_err("Listen 8080\n</Proxy>\n", "t.conf:2: </Proxy> without matching <Proxy> section");
	expect_err("Listen 8080\n<Proxy balancer://c\n", "t.conf:2: <Proxy> directive missing closing '>'");
	expect_err("Listen 8080\nSetHandler balancer-manager\n",
		   "t.conf:2: SetHandler is not allowed at server level");
	expect_err("Listen 8080\n<Proxy *>\nBalancerMember http://127.0.0.1:1\n</Proxy>\n",
		   "t.conf:3: BalancerMember is not allowed inside <Proxy *> (<Proxy *> at line 2)");
	expect_err(HEAD "ProxyPreserveHost\n", "t.conf:5: ProxyPreserveHost: missing argument");
	expect_err(HEAD "ProxyPreserveHost Maybe\n", "t.conf:5: ProxyPreserveHost: must be On or Off");
	expect_err(HEAD "Header add X-A \"unterminated\n", "t.conf:5: unterminated \" quote");
}

UNIT_TEST(conf_kbal_host)
{
	struct run *r = run(HEAD "KbalHost 1 10.90.1.11\nKbalHost 3 10.90.1.13\n");

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->nhost, 2, "two hosts");
		ASSERT_EQ(r->c->host[1].addr, htonl(0x0a5a010b), "host 1's address");
		ASSERT_EQ(r->c->host[2].addr, 0, "no host 2");
		ASSERT_EQ(r->c->host[3].addr, htonl(0x0a5a010d), "host 3's address");
	}
	done(r);
	expect_err(HEAD "KbalHost 0 10.0.0.1\n", "t.conf:5: KbalHost 0: the id must be 1 to 7");
	expect_err(HEAD "KbalHost 8 10.0.0.1\n", "t.conf:5: KbalHost 8: the id must be 1 to 7");
	expect_err(HEAD "KbalHost 1 ::1\n",
		   "t.conf:5: KbalHost 1 ::1: not an IPv4 address (the host's own)");
	expect_err(HEAD "KbalHost 1 10.0.0.1\nKbalHost 1 10.0.0.2\n",
		   "t.conf:6: KbalHost 1: given twice (line 5)");
	expect_err(HEAD "KbalHost 1 10.0.0.1\nKbalHost 2 10.0.0.1\n",
		   "t.conf:6: KbalHost 2: 10.0.0.1 is host 1's already");
}

UNIT_TEST(conf_listen)
{
	struct run *r = run("Listen 8080\nListen 127.0.0.2:81 http\n<Proxy balancer://c>\n"
			    "BalancerMember http://127.0.0.1:9001\n</Proxy>\n" TAIL);

	if (ASSERT_EQ(r->rc, 0, r->err) && ASSERT_EQ(r->c->nlisten, 2, "nlisten")) {
		ASSERT_STREQ(ip(&r->c->listen[0].addr), "0.0.0.0", "Listen PORT binds all");
		ASSERT_EQ(ntohs(r->c->listen[0].addr.sin6_port), 8080, "port");
		ASSERT_STREQ(ip(&r->c->listen[1].addr), "127.0.0.2", "addr");
	}
	done(r);
	r = run("Listen [::1]:8080\nListen [::]:8081\nListen 8081\nListen [2001:db8::1]:80\n"
		"<Proxy balancer://c>\nBalancerMember http://[::1]:9001\n</Proxy>\n" TAIL);
	if (ASSERT_EQ(r->rc, 0, r->err) && ASSERT_EQ(r->c->nlisten, 4, "nlisten")) {
		ASSERT_STREQ(ip(&r->c->listen[0].addr), "::1", "[::1]");
		ASSERT_EQ(ntohs(r->c->listen[0].addr.sin6_port), 8080, "its port");
		ASSERT_STREQ(ip(&r->c->listen[1].addr), "::", "[::]");
		ASSERT_STREQ(ip(&r->c->listen[2].addr), "0.0.0.0", "0.0.0.0 beside [::]: each family's");
		ASSERT_STREQ(ip(&r->c->listen[3].addr), "2001:db8::1", "an address");
	}
	done(r);
	expect_err("Listen ::1:80\n", "t.conf:1: Listen ::1:80: expected [IP:]PORT, an IPv6 "
		   "address in brackets");
	expect_err("Listen [::1\n", "t.conf:1: Listen [::1: expected [IP:]PORT, an IPv6 "
		   "address in brackets");
	expect_err("Listen [::1]\n", "t.conf:1: Listen [::1]: expected [IPV6]:PORT");
	expect_err("Listen [::]:80\nListen [::1]:80\n",
		   "t.conf:2: Listen [::1]:80: the Listen at line 1 already takes this port");
	expect_err("Listen [::1]:80\nListen [0::1]:80\n",
		   "t.conf:2: Listen [0::1]:80: the Listen at line 1 already takes this port");
	expect_err("Listen 0\n", "t.conf:1: Listen 0: must be an integer from 1 to 65535");
	expect_err("Listen 127.0.0.1:65536\n",
		   "t.conf:1: Listen 127.0.0.1:65536: must be an integer from 1 to 65535");
	expect_err("Listen 127.0.0.1\n", "t.conf:1: Listen 127.0.0.1: must be an integer from 1 to 65535");
	expect_err("Listen 8443 https\n", "t.conf:1: Listen 8443 https: only http is supported (no TLS)");
	expect_err("Listen 127.0.0.1:80\nListen 127.0.0.1:80\n",
		   "t.conf:2: Listen 127.0.0.1:80: the Listen at line 1 already takes this port");
	expect_err("Listen 127.0.0.1:80\n\nListen 80\n",
		   "t.conf:3: Listen 80: the Listen at line 1 already takes this port");
	expect_err("<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001\n</Proxy>\n" TAIL,
		   "t.conf: no Listen directive");
}

UNIT_TEST(conf_modules)
{
	expect_err("LoadModule proxy_module m.so\nLoadModule ssl_module modules/mod_ssl.so\n",
		   "t.conf:2: module ssl_module is not supported by kbal");
	expect_err("LoadModule lbmethod_heartbeat_module m.so\n",
		   "t.conf:1: module lbmethod_heartbeat_module is not supported by kbal");
	expect_err("LoadModule headers_module\n", "t.conf:1: LoadModule: missing argument");
}

UNIT_TEST(conf_member_url)
{
	struct run *r;

	expect_err("Listen 80\n<Proxy balancer://c>\nBalancerMember https://127.0.0.1:9001\n",
		   "t.conf:3: BalancerMember https://127.0.0.1:9001: https members need TLS, not supported");
	expect_err("Listen 80\n<Proxy balancer://c>\nBalancerMember ajp://127.0.0.1:8009\n",
		   "t.conf:3: BalancerMember ajp://127.0.0.1:8009: only http://HOST[:PORT] members are supported");
	expect_err("Listen 80\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001/app\n",
		   "t.conf:3: BalancerMember http://127.0.0.1:9001/app: a member URL has no path "
		   "(kbal does not rewrite paths)");
	expect_err("Listen 80\n<Proxy balancer://c>\nBalancerMember http://[::1:9001\n",
		   "t.conf:3: BalancerMember http://[::1:9001: expected http://HOST[:PORT], an IPv6 "
		   "address in brackets");
	expect_err("Listen 80\n<Proxy balancer://c>\nBalancerMember http://::1:9001\n",
		   "t.conf:3: BalancerMember http://::1:9001: expected http://HOST[:PORT], an IPv6 "
		   "address in brackets");
	r = run("Listen 80\n<Proxy balancer://c>\nBalancerMember http://[::1]:9001/\n"
		"BalancerMember http://[::1]\n</Proxy>\n" TAIL);
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		const struct kbal_conf_member *m = r->c->balancers[0].members;

		ASSERT_STREQ(m[0].url, "http://[::1]:9001", "url");
		ASSERT_STREQ(m[0].hostport, "[::1]:9001", "Host in brackets");
		ASSERT_STREQ(ip(&m[0].addr), "::1", "addr");
		ASSERT_EQ(ntohs(m[0].addr.sin6_port), 9001, "port");
		ASSERT_STREQ(m[1].hostport, "[::1]", "port 80 left out");
	}
	done(r);
	expect_err("Listen 80\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:0\n",
		   "t.conf:3: BalancerMember http://127.0.0.1:0: must be an integer from 1 to 65535");
	expect_err("Listen 80\n<Proxy balancer://c>\nBalancerMember http://\n",
		   "t.conf:3: BalancerMember http://: expected http://HOST[:PORT], an IPv6 address in brackets");

	r = run("Listen 80\n<Proxy balancer://c>\nBalancerMember http://no-such-host.invalid\n");
	ASSERT_EQ(r->rc, -1, "unresolvable");
	ASSERT_HAS(r->err, "t.conf:3: BalancerMember http://no-such-host.invalid: cannot resolve "
		   "host 'no-such-host.invalid'", "resolve error");
	done(r);

	/* default port 80 is left out of hostport; a trailing / is not kept */
	r = run("Listen 80\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1/\n</Proxy>\n" TAIL);
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_STREQ(r->c->balancers[0].members[0].url, "http://127.0.0.1", "url");
		ASSERT_STREQ(r->c->balancers[0].members[0].hostport, "127.0.0.1", "hostport");
		ASSERT_EQ(ntohs(r->c->balancers[0].members[0].addr.sin6_port), 80, "port 80");
	}
	done(r);
}

UNIT_TEST(conf_member_params)
{
	struct run *r = run("Listen 80\n<Proxy balancer://c>\n"
			    "BalancerMember http://127.0.0.1:1 loadfactor=100 lbset=2 retry=0 status=+H "
			    "connectiontimeout=250ms timeout=5 max=10 keepalive=on disablereuse=Off ping=2\n"
			    "BalancerMember http://127.0.0.1:2 ping=300ms status=+H-D timeout=3 STATUS=D loadfactor=1.5\n"
			    "BalancerMember http://127.0.0.1:3 status=-D+DS ttl=90 enablereuse=off "
			    "loadfactor=1.15 keepalive=Off\n"
			    "BalancerMember http://127.0.0.1:4 disablereuse=on enablereuse=on max=0 status=+R\n"
			    "</Proxy>\n" TAIL);
	const struct kbal_conf_member *m = r->c->balancers[0].members;

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(m[0].lbfactor, 10000, "loadfactor=100: 10000 hundredths");
		ASSERT_EQ(m[1].lbfactor, 150, "loadfactor=1.5, as Apache 2.4 keeps it");
		/* (int)(1.15 * 100.0) is 114 in Apache's set_worker_param() too */
		ASSERT_EQ(m[2].lbfactor, 114, "loadfactor=1.15 truncated as Apache's");
		ASSERT_EQ(m[0].keepalive, 1, "keepalive=on");
		ASSERT_EQ(m[2].keepalive, 0, "keepalive=Off");
		ASSERT_EQ(m[3].status, KBAL_ST_SPARE, "status=+R: a hot spare");
		ASSERT_EQ(m[0].timeout_ms, 5000, "timeout=5: the answer's timeout");
		ASSERT_EQ(m[3].timeout_ms, 0, "no timeout=: Timeout's");
		ASSERT_EQ(m[0].ping_ms, 2000, "ping=2: seconds by default, as Apache's");
		ASSERT_EQ(m[1].ping_ms, 300, "ping=300ms");
		ASSERT_EQ(m[3].ping_ms, 0, "no ping=");
		ASSERT_EQ(m[0].lbset, 2, "lbset");
		ASSERT_EQ(m[0].retry_sec, 0, "retry");
		ASSERT_EQ(m[0].status, KBAL_ST_HOT_STANDBY, "status=+H");
		ASSERT_EQ(m[0].connect_timeout_ms, 250, "connectiontimeout wins over timeout");
		ASSERT_EQ(m[1].status, KBAL_ST_HOT_STANDBY | KBAL_ST_DISABLED, "+H-D then D");
		ASSERT_EQ(m[1].connect_timeout_ms, 3000, "timeout=3");
		ASSERT_EQ(m[2].status, KBAL_ST_DISABLED | KBAL_ST_STOPPED, "-D+DS");
		/* the pool: Apache's reuse switches, max= and ttl= */
		ASSERT_EQ(m[0].reuse, 1, "disablereuse=Off");
		ASSERT_EQ(m[0].pool_max, 10, "max=10");
		ASSERT_EQ(m[0].pool_ttl_ms, KBAL_POOL_TTL_MS, "ttl default");
		ASSERT_EQ(m[1].reuse, 1, "reuse by default");
		ASSERT_EQ(m[1].pool_max, KBAL_POOL_MAX, "max default");
		ASSERT_EQ(m[2].reuse, 0, "enablereuse=off");
		ASSERT_EQ(m[2].pool_ttl_ms, 90000, "ttl=90 (seconds)");
		ASSERT_EQ(m[3].reuse, 1, "the last of disablereuse/enablereuse wins");
		ASSERT_EQ(m[3].pool_max, 0, "max=0");
	}
	done(r);

#define M "Listen 80\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:1 "
#define LF_ERR ": must be a number from 1 to 100 (hundredths count, as Apache's: 1.5, 2.25)"
	expect_err(M "loadfactor=0\n", "t.conf:3: BalancerMember loadfactor=0" LF_ERR);
	expect_err(M "loadfactor=0.99\n", "t.conf:3: BalancerMember loadfactor=0.99" LF_ERR);
	expect_err(M "loadfactor=101\n", "t.conf:3: BalancerMember loadfactor=101" LF_ERR);
	expect_err(M "loadfactor=1.5x\n", "t.conf:3: BalancerMember loadfactor=1.5x" LF_ERR);
	expect_err(M "loadfactor=.5\n", "t.conf:3: BalancerMember loadfactor=.5" LF_ERR);
#undef LF_ERR
	expect_err(M "status=+C\n", "t.conf:3: BalancerMember status=+C: C is the state the "
		   "health checks set (hcmethod=), not a starting one (D disables a member)");
	expect_err(M "ping=0\n", "t.conf:3: BalancerMember ping=0: must be a time from 1 ms to "
		   "24 h (N seconds, Nms, Nmi or Nh)");
	expect_err(M "keepalive=yes\n", "t.conf:3: BalancerMember keepalive=yes: must be On or Off");
	expect_err(M "timeout=5ms\n", "t.conf:3: BalancerMember timeout=5ms: whole seconds from 1 "
		   "to 86400, as Apache reads it");
	expect_err(M "lbset=100\n", "t.conf:3: BalancerMember lbset=100: must be an integer from 0 to 99");
	expect_err(M "status=+X\n", "t.conf:3: BalancerMember status=+X: status is [+|-]LETTER..., "
		   "LETTER one of D S E H R N I");
	expect_err(M "status=+\n", "t.conf:3: BalancerMember status=+: status is [+|-]LETTER..., "
		   "LETTER one of D S E H R N I");
	expect_err(M "timeout=0\n", "t.conf:3: BalancerMember timeout=0: whole seconds from 1 "
		   "to 86400, as Apache reads it");
	expect_err(M "route=" "0123456789012345678901234567890123\n",
		   "t.conf:3: BalancerMember route=0123456789012345678901234567890123: longer than 31 characters");
	expect_err(M "route=a;b\n",
		   "t.conf:3: BalancerMember route=a;b: a route is printable ASCII without ; , \" or \\");
	expect_err(M "frobnicate=1\n",
		   "t.conf:3: BalancerMember frobnicate=1: unknown BalancerMember parameter 'frobnicate'");
	expect_err(M "route\n", "t.conf:3: BalancerMember route: parameters have the form key=value");
	expect_err(M "redirect=a;b\n",
		   "t.conf:3: BalancerMember redirect=a;b: a route is printable ASCII without ; , \" or \\");
	expect_err(M "keepalive=maybe\n", "t.conf:3: BalancerMember keepalive=maybe: must be On or Off");
	expect_err(M "disablereuse=yes\n", "t.conf:3: BalancerMember disablereuse=yes: must be On or Off");
	expect_err(M "ttl=0\n", "t.conf:3: BalancerMember ttl=0: must be a time from 1 ms "
		   "to 24 h (N seconds, Nms, Nmi or Nh)");
	expect_err(M "max=-1\n", "t.conf:3: BalancerMember max=-1: must be an integer from 0 to 65535");
	expect_err(M "route=1\nBalancerMember http://127.0.0.1:2 route=1\n",
		   "t.conf:4: BalancerMember http://127.0.0.1:2: route=1 is already used by the member at line 3");
	expect_err(M "route=1\nBalancerMember http://127.0.0.1:1 route=2\n",
		   "t.conf:4: BalancerMember http://127.0.0.1:1: already a member of balancer://c (line 3)");
#undef M
}

UNIT_TEST(conf_balancer_params)
{
	/* server-level forms, and a balancer named by ProxyPass before it is defined */
	struct run *r = run("Listen 80\nTimeout 30\nProxyTimeout 20\nKbalSplice off\n"
			    "KbalMemberCongestion reno\n"
			    "ProxyPass /app balancer://Late/app timeout=7\n"
			    "BalancerMember balancer://late http://127.0.0.1:1 route=x\n"
			    "ProxySet balancer://late lbmethod=bybusyness nofailover=On stickysession=JSESSIONID|jsessionid\n"
			    "<Proxy balancer://other>\nKbalSplice sockmap\nProxySet lbmethod=bytraffic maxattempts=3 growth=2\n"
			    "KbalMemberCongestion cubic\nBalancerMember http://127.0.0.1:2\n</Proxy>\n"
			    "ProxyPass /o balancer://other/o\n");
	const struct kbal_conf *c = r->c;

	if (ASSERT_EQ(r->rc, 0, r->err) && ASSERT_EQ(c->nbalancers, 2, "nbalancers")) {
		ASSERT_STREQ(c->balancers[0].name, "Late", "name as first written");
		ASSERT_EQ(c->balancers[0].line, 7, "defined by the BalancerMember line");
		ASSERT_EQ(c->balancers[0].lbmethod, KBAL_LB_BYBUSYNESS, "lbmethod");
		ASSERT_EQ(c->balancers[0].flags, KBAL_BF_NOFAILOVER, "nofailover");
		ASSERT_STREQ(c->balancers[0].sticky, "JSESSIONID", "first sticky name");
		ASSERT_EQ(c->balancers[0].timeout_ms, 7000, "ProxyPass timeout= sets the balancer's");
		/* a balancer's timeout= is how long to wait for a member, no
		 * connect timeout: the request's virtual host's ProxyTimeout is
		 * (ap_proxy_connect_backend(), member.c) */
		ASSERT_EQ(c->balancers[0].members[0].connect_timeout_ms, 0,
			  "member connects within ProxyTimeout, not the balancer's timeout=");
		ASSERT_EQ(c->balancers[0].splice, KBAL_SPLICE_OFF, "inherits KbalSplice off");
		ASSERT_EQ(c->balancers[0].splice_set, 1, "an inherited KbalSplice is asked for");
		ASSERT_EQ(c->balancers[1].lbmethod, KBAL_LB_BYTRAFFIC, "bytraffic");
		ASSERT_EQ(c->balancers[1].splice, KBAL_SPLICE_SOCKMAP, "own KbalSplice");
		ASSERT_STREQ(c->balancers[0].member_cc, "reno", "inherits KbalMemberCongestion");
		ASSERT_STREQ(c->balancers[1].member_cc, "cubic", "own KbalMemberCongestion");
		ASSERT_EQ(c->balancers[1].timeout_ms, 0, "no timeout=: no wait for a member");
		ASSERT_EQ(c->timeout_ms, 20000, "server timeout");
		ASSERT_EQ(c->pass[0].balancer, 0, "resolved later");
		ASSERT_STREQ(c->pass[0].target, "/app", "target as written");
		ASSERT_EQ(r->nwarn, 0, r->warn);
	}
	done(r);

	expect_err(HEAD "ProxySet balancer://c lbmethod=heartbeat\n",
		   "t.conf:5: ProxySet lbmethod=heartbeat: lbmethod heartbeat is not supported by kbal");
	expect_err(HEAD "ProxySet balancer://c lbmethod=random\n",
		   "t.conf:5: ProxySet lbmethod=random: unknown lbmethod (byrequests, bytraffic or bybusyness)");
	r = run(HEAD "ProxySet balancer://c failonstatus=500,503 failontimeout=On forcerecovery=Off "
		"scolonpathdelim=Off timeout=3\n" TAIL);
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		const struct kbal_conf_balancer *b = &r->c->balancers[0];

		ASSERT_EQ(b->nfailonstatus, 2, "two codes");
		ASSERT_EQ(b->failonstatus[0] * 1000 + b->failonstatus[1], 500503, "500 and 503");
		ASSERT_EQ(b->flags, KBAL_BF_FAIL_TIMEOUT | KBAL_BF_NO_RECOVERY,
			  "failontimeout=On, forcerecovery=Off");
		ASSERT_EQ(b->timeout_ms, 3000, "timeout=3: waits 3 s for a member");
	}
	done(r);
	r = run(HEAD "ProxySet balancer://c \"failonstatus=502 504\" forcerecovery=Off\n"
		"ProxySet balancer://c forcerecovery=On\n" TAIL);
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->balancers[0].nfailonstatus, 2, "blanks separate codes too");
		ASSERT_EQ(r->c->balancers[0].flags, 0, "forcerecovery=On again");
	}
	done(r);
	expect_err(HEAD "ProxySet balancer://c failonstatus=50x\n",
		   "t.conf:5: ProxySet failonstatus=50x: one or more HTTP status codes (100 to 599)");
	expect_err(HEAD "ProxySet balancer://c failonstatus=600\n",
		   "t.conf:5: ProxySet failonstatus=600: one or more HTTP status codes (100 to 599)");
	expect_err(HEAD "ProxySet balancer://c failontimeout=maybe\n",
		   "t.conf:5: ProxySet failontimeout=maybe: must be On or Off");
	expect_err(HEAD "ProxySet balancer://c stickysessionsep=ab\n",
		   "t.conf:5: ProxySet stickysessionsep=ab: stickysessionsep must be a single "
		   "character or Off");
	expect_err(HEAD "ProxySet balancer://c stickysession=A|\n",
		   "t.conf:5: ProxySet stickysession=A|: COOKIE or COOKIE|URLPARAM, names without "
		   "spaces");
	expect_err(HEAD "ProxySet balancer://c timeout=500ms\n",
		   "t.conf:5: ProxySet timeout=500ms: whole seconds from 1 to 86400, as Apache reads it");
	expect_err(HEAD "ProxySet balancer://c retry=5\n",
		   "t.conf:5: ProxySet retry=5: unknown ProxySet parameter 'retry'");
	expect_err(HEAD "ProxySet http://127.0.0.1:9001 retry=5\n",
		   "t.conf:5: ProxySet http://127.0.0.1:9001: give member parameters on its BalancerMember line");
	expect_err(HEAD "KbalSplice bogus\n", "t.conf:5: KbalSplice bogus: must be packet, sockmap or off");
	expect_err(HEAD "ProxySet balancer://c nonce=a&b\n",
		   "t.conf:5: ProxySet nonce=a&b: 1 to 39 characters, none of &=%+#?\"<> or blanks");
	expect_err(HEAD "BalancerPersist maybe\n", "t.conf:5: BalancerPersist: must be On or Off");
	expect_err(HEAD "KbalProxyProtocol v3\n",
		   "t.conf:5: KbalProxyProtocol v3: must be v1, v2 or off");
	r = run("Listen 80\nKbalProxyProtocol v1\n<Proxy balancer://a>\nBalancerMember http://127.0.0.1:1\n"
		"</Proxy>\n<Proxy balancer://b>\nKbalProxyProtocol v2\nBalancerMember http://127.0.0.1:2\n"
		"</Proxy>\n<Proxy balancer://c>\nKbalProxyProtocol off\nBalancerMember http://127.0.0.1:3\n"
		"</Proxy>\nProxyPass /a balancer://a/a\nProxyPass /b balancer://b/b\nProxyPass / balancer://c/\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->balancers[0].proxy_protocol, KBAL_PP_V1, "inherits KbalProxyProtocol v1");
		ASSERT_EQ(r->c->balancers[1].proxy_protocol, KBAL_PP_V2, "own KbalProxyProtocol v2");
		ASSERT_EQ(r->c->balancers[2].proxy_protocol, KBAL_PP_OFF, "own KbalProxyProtocol off");
	}
	done(r);
	r = run(HEAD TAIL);
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->balancers[0].proxy_protocol, KBAL_PP_OFF, "no PROXY header unless asked");
	done(r);
	expect_err(HEAD "KbalMemberCongestion a_name_far_too_long\n", "t.conf:5: KbalMemberCongestion "
		   "a_name_far_too_long: a congestion control's name is at most 15 characters");
	r = run(HEAD "KbalMemberCongestion nosuchcc\n");
	ASSERT_EQ(r->rc, -1, "an unknown congestion control");
	ASSERT_HAS(r->err, "t.conf:5: KbalMemberCongestion nosuchcc: not a congestion control this "
		   "kernel has (available: ", "error text");
	ASSERT_HAS(r->err, "reno", "lists what the kernel has");
	done(r);
	r = run(HEAD TAIL);
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_STREQ(r->c->balancers[0].member_cc, "", "the system's default unless asked");
	done(r);
	expect_err("Listen 80\n<Proxy balancer://c>\nProxySet lbmethod=bytraffic\n</Proxy>\n",
		   "t.conf:2: balancer://c has no BalancerMember");
}

UNIT_TEST(conf_proxypass)
{
	expect_err(HEAD "ProxyPass /x balancer://nope/\n",
		   "t.conf:5: ProxyPass /x: balancer://nope is not defined (no BalancerMember for it)");
	expect_err(HEAD TAIL "ProxyPassReverse / balancer://nope/\n",
		   "t.conf:6: ProxyPassReverse /: balancer://nope is not defined (no BalancerMember for it)");
	expect_err(HEAD "ProxyPass / https://127.0.0.1:9001/\n",
		   "t.conf:5: ProxyPass https://127.0.0.1:9001/: https needs TLS, which kbal does not have");
	expect_err(HEAD "ProxyPass / ftp://127.0.0.1:9001/\n",
		   "t.conf:5: ProxyPass ftp://127.0.0.1:9001/: only balancer:// and http:// URLs are "
		   "supported");
	expect_err(HEAD "ProxyPass /x\n", "t.conf:5: ProxyPass needs a path and a URL (or !)");
	expect_err(HEAD "ProxyPass x balancer://c/\n", "t.conf:5: ProxyPass x: the path must start with '/'");
	expect_err(HEAD "ProxyPass /x ! timeout=1\n", "t.conf:5: ProxyPass /x !: takes no parameters");
	expect_err(HEAD "ProxyPass / balancer://c/ noquery\n",
		   "t.conf:5: ProxyPass /: noquery is not supported by kbal");

	struct run *r = run(HEAD "ProxyPass /a balancer://c\nProxyPass /b/ balancer://c/b/ nocanon\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_STREQ(r->c->pass[0].target, "", "no slash kept");
		ASSERT_STREQ(r->c->pass[1].target, "/b/", "target");
		ASSERT_EQ(r->nwarn, 0, r->warn);
	}
	done(r);

	/* a slash on one side only */
	r = run(HEAD "ProxyPass / balancer://c\n");
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_STREQ(r->warn, "t.conf:5: ProxyPass / balancer://c: only one of them ends with '/', so "
		     "members get paths with a slash missing or doubled\n", "slash warning");
	done(r);
}

UNIT_TEST(conf_shadow_warning)
{
	/* the manager's exclusion written after the catch-all */
	struct run *r = run(HEAD
			    "ProxyPass / balancer://c/\n"                   /* 5 */
			    "ProxyPass /balancer-manager !\n"               /* 6 */
			    "ProxyPass /app balancer://c/app\n"             /* 7 */
			    "<Location /balancer-manager>\n"                /* 8 */
			    "SetHandler balancer-manager\n"
			    "</Location>\n");

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	ASSERT_EQ(r->nwarn, 3, "three warnings");
	ASSERT_HAS(r->warn, "t.conf:6: ProxyPass /balancer-manager is never applied: ProxyPass / at "
		   "line 5 matches first (Apache matches in configuration order); move it above line 5\n",
		   "shadowed exclusion");
	ASSERT_HAS(r->warn, "t.conf:7: ProxyPass /app is never applied: ProxyPass / at line 5 matches "
		   "first (Apache matches in configuration order); move it above line 5\n", "shadowed rule");
	ASSERT_HAS(r->warn, "t.conf:8: SetHandler balancer-manager in <Location /balancer-manager> is "
		   "never reached: ProxyPass / at line 5 proxies it first; put \"ProxyPass "
		   "/balancer-manager !\" before that rule\n", "handler never reached");
	ASSERT_TRUE(!strstr(r->warn, "keep-alive"), "nothing local is reachable: no mixing warning");
	ASSERT_EQ(kbal_conf_match_pass(r->c, -1, "/balancer-manager", 17), 0, "catch-all wins");
	done(r);

	/* /app does not shadow /apple, /app/ does not shadow /app */
	r = run(HEAD "ProxyPass /app balancer://c/app\nProxyPass /apple balancer://c/apple\n"
		"ProxyPass /b/ balancer://c/\nProxyPass /b balancer://c\n" TAIL);
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(r->nwarn, 0, r->warn);
	done(r);

	/* <Location>'s own ProxyPass comes first, whatever the order */
	r = run(HEAD TAIL
		"<Location /balancer-manager>\n"                        /* 6 */
		"SetHandler balancer-manager\n"
		"ProxyPass !\n"                                         /* 8 */
		"</Location>\n"
		"ProxyPass /balancer-manager/x balancer://c/\n");        /* 10 */
	if (ASSERT_EQ(r->rc, 0, r->err) && ASSERT_EQ(r->c->npass, 3, "npass")) {
		ASSERT_EQ(r->c->pass[1].location, 0, "Location's rule");
		ASSERT_STREQ(r->c->pass[1].path, "/balancer-manager", "path from the Location");
		ASSERT_EQ(r->c->pass[1].exclude, 1, "excluded");
		ASSERT_EQ(kbal_conf_match_pass(r->c, -1, "/balancer-manager/x", 19), 1, "Location first");
		ASSERT_EQ(kbal_conf_match_pass(r->c, -1, "/y", 2), 0, "server rule");
		ASSERT_EQ(r->nwarn, 1, r->warn);
		ASSERT_HAS(r->warn, "t.conf:10: ProxyPass /balancer-manager/x is never applied: the ProxyPass "
			   "inside <Location /balancer-manager> at line 8 matches first", "Location shadows");
	}
	done(r);
out:
	;
}

/* KbalSplice packet, asked for by name: the packet path frames no request,
 * so it joins only keep-alive connections whose later requests the
 * configuration decides alike; kbald -t says when it joins none of a
 * balancer's, and why */
UNIT_TEST(conf_packet_alike)
{
#define ONE "Listen 8080\nProxyPreserveHost On\n<Proxy balancer://c>\n" \
	    "BalancerMember http://127.0.0.1:9001\nKbalSplice packet\n</Proxy>\n"
	static const struct { const char *text, *why; } cases[] = {
		{ ONE "ProxyPass / balancer://c/\n", NULL },
		{ "Listen 8080\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001\n"
		  "KbalSplice packet\n</Proxy>\nProxyPass / balancer://c/\n",
		  "each request's Host is rewritten (no ProxyPreserveHost On)" },
		{ "Listen 8080\nProxyPreserveHost On\n<Proxy balancer://c>\n"
		  "BalancerMember http://127.0.0.1:9001\nBalancerMember http://127.0.0.1:9002\n"
		  "KbalSplice packet\n</Proxy>\nProxyPass / balancer://c/\n",
		  "its balancer picks among members for each request" },
		{ ONE "ProxyPass /static !\nProxyPass / balancer://c/\n",
		  "a request's path may take another rule" },
		{ ONE "ProxyPass / balancer://c/app/\n",
		  "a request's path is mapped (its rule's target is another path)" },
		{ ONE "ProxyPass /app balancer://c/app\n",
		  "a path outside its rules is answered by kbald (404)" },
		{ ONE "ProxyPass / balancer://c/\nProxyPassReverse / balancer://c/\n",
		  "ProxyPassReverse rewrites answers" },
		{ ONE "ProxyPass / balancer://c/\nHeader add X-A b\n", "Header changes answers" },
		{ ONE "ProxyPass /balancer-manager !\nProxyPass / balancer://c/\n"
		  "<Location /balancer-manager>\nSetHandler balancer-manager\n</Location>\n",
		  "a request's path may take another rule" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run *r = run(cases[i].text);
		const char *why;

		if (ASSERT_EQ(r->rc, 0, r->err)) {
			ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, -1, &why), !cases[i].why,
				  cases[i].text);
			ASSERT_STREQ(why ? why : "(alike)", cases[i].why ? cases[i].why : "(alike)",
				     cases[i].text);
			/* a later request's member or rule: the program decides
			 * each (docs/packet.md, "Each request decided"), no word */
			if (cases[i].why && !kbal_conf_packet_why_decided(why))
				ASSERT_HAS(r->warn, "balancer://c: KbalSplice packet joins no "
					   "keep-alive connection of it: ", cases[i].text);
			else
				ASSERT_EQ(r->nwarn, 0, r->warn);
		}
		done(r);
	}
	/* a manager on a <VirtualHost> of its own: alike on the server's
	 * addresses, not on the manager's */
	{
		struct run *r = run(ONE "Listen 8081\nProxyPass / balancer://c/\n"
				    "<VirtualHost 127.0.0.1:8081>\n<Location /m>\n"
				    "SetHandler balancer-manager\n</Location>\n</VirtualHost>\n");
		const char *why;

		if (ASSERT_EQ(r->rc, 0, r->err)) {
			ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, -1, &why), 1, "the server's");
			ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, 0, &why), 0, "the manager's host");
			/* the program gives a flow back at a request for the
			 * manager there (a <Location>): no word */
			ASSERT_TRUE(kbal_conf_packet_why_decided(why), why);
			ASSERT_TRUE(!strstr(r->warn, "KbalSplice"), r->warn);
		}
		done(r);
	}
	/* several members, or room for more (given back at a request,
	 * docs/packet.md): not alike, but no word: the program decides each
	 * request (a sticky session, two members picked among); a word with
	 * KbalHost lines, where the packet path joins one member only */
	{
		static const struct { const char *members; int warned; } sev[] = {
			{ "BalancerMember http://127.0.0.1:9001\n"
			  "BalancerMember http://127.0.0.1:9002 lbset=1\n", 0 },
			{ "BalancerMember http://127.0.0.1:9001\n"
			  "BalancerMember http://127.0.0.1:9002 status=+H\n", 0 },
			{ "BalancerMember http://127.0.0.1:9001 status=+D\n"
			  "BalancerMember http://127.0.0.1:9002\n", 0 },
			{ "BalancerMember http://127.0.0.1:9001\n"
			  "BalancerMember http://127.0.0.1:9002\n", 0 },
			/* room for another (a member added moves the gen) */
			{ "BalancerMember http://127.0.0.1:9001\nProxySet growth=1\n", 0 },
			{ "BalancerMember http://127.0.0.1:9001\n"
			  "BalancerMember http://127.0.0.1:9002 lbset=1\n"
			  "ProxySet stickysession=ROUTEID\n", 0 },
			{ "BalancerMember http://127.0.0.1:9001\n"
			  "BalancerMember http://127.0.0.1:9002 lbset=1\n</Proxy>\n"
			  "KbalHost 1 127.0.0.1\n<Proxy balancer://c>\n", 1 },
		};
		char text[1024];

		for (size_t i = 0; i < sizeof(sev) / sizeof(sev[0]); i++) {
			struct run *r;
			const char *why;

			snprintf(text, sizeof(text), "Listen 8080\nProxyPreserveHost On\n"
				 "<Proxy balancer://c>\n%sKbalSplice packet\n</Proxy>\n"
				 "ProxyPass / balancer://c/\n", sev[i].members);
			r = run(text);
			if (ASSERT_EQ(r->rc, 0, r->err)) {
				ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, -1, &why), 0, text);
				if (sev[i].warned)
					ASSERT_HAS(r->warn, "KbalSplice packet joins no keep-alive "
						   "connection of it", text);
				else
					ASSERT_TRUE(!strstr(r->warn, "KbalSplice"), r->warn);
			}
			done(r);
		}
	}
	/* sockmap (the default): no word */
	{
		struct run *r = run(HEAD "ProxyPass /static !\n" TAIL);

		ASSERT_EQ(r->rc, 0, r->err);
		ASSERT_EQ(r->nwarn, 0, r->warn);
		done(r);
	}
#undef ONE
}

UNIT_TEST(conf_match_pass)
{
	struct run *r = run(HEAD "ProxyPass /app balancer://c/\nProxyPass /x/ balancer://c/\n"
			    "ProxyPass /a//b balancer://c/\n" TAIL);
	const struct kbal_conf *c = r->c;
	static const struct { const char *uri; int rule; } cases[] = {
		{ "/app", 0 }, { "/app/", 0 }, { "/app/x/y", 0 }, { "/app?q=1", 0 }, { "/app#f", 0 },
		{ "/apple", 3 }, { "/ap", 3 }, { "/", 3 }, { "/x", 3 }, { "/x/", 1 }, { "/x/y", 1 },
		{ "//app", 0 }, { "/app//z", 0 }, { "/a/b", 2 }, { "/a///b/c", 2 }, { "/a/bc", 3 },
		{ "/%61pp", 0 }, { "/y/../app", 0 }, { "/./app/", 0 }, { "/app/../apple", 3 },
		{ "/app/%2e%2e/apple", 3 }, { "http://h:8080/app?x", 0 }, { "HTTP://h", 3 },
		{ "/%2Fapp", -1 }, { "/..", -1 }, { "/%zz", -1 }, { "*", -1 }, { "", -1 },
		{ "/a%00", -1 },
	};

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ASSERT_EQ(kbal_conf_match_pass(c, -1, cases[i].uri, strlen(cases[i].uri)), cases[i].rule, cases[i].uri);
	/* len bounds the uri: "/apple" cut to "/app" */
	ASSERT_EQ(kbal_conf_match_pass(c, -1, "/apple", 4), 0, "len is honoured");
out:
	done(r);
}

UNIT_TEST(conf_uri_path)
{
	static const struct { const char *uri; const char *path; int rc; } cases[] = {
		{ "/", "/", 1 }, { "/a/./b/../c", "/a/c", 4 }, { "/a/.", "/a/", 3 }, { "/a/..", "/", 1 },
		{ "/a//../b", "/a/b", 4 }, { "//x///y", "/x/y", 4 }, { "/%7Euser?q", "/~user", 6 },
		{ "http://h", "/", 1 }, { "http://h?q", "/", 1 }, { "/a%2fb", NULL, -ENOENT },
		{ "/../a", NULL, -ERANGE }, { "/%4", NULL, -EBADMSG }, { "/%zz", NULL, -EBADMSG },
		{ "/a%00", NULL, -ENOENT }, { "a/b", NULL, -EINVAL },
	};
	char out[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = kbal_conf_uri_path(cases[i].uri, strlen(cases[i].uri), out, sizeof(out));

		ASSERT_EQ(rc, cases[i].rc, cases[i].uri);
		if (cases[i].path)
			ASSERT_STREQ(out, cases[i].path, cases[i].uri);
	}
	ASSERT_EQ(kbal_conf_uri_path("/0123456789", 11, out, 8), -ENAMETOOLONG, "too long");
}

/* a local address as kbald has it (inaddr.h): IPv4 mapped */
static struct sockaddr_in6 sa4(const char *addr, unsigned port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct in_addr a;

	if (inet_pton(AF_INET, addr, &a) == 1)
		kbal_in6_set_v4(&sa.sin6_addr, a.s_addr);
	else
		inet_pton(AF_INET6, addr, &sa.sin6_addr);
	return sa;
}

/* <VirtualHost>: picked by the address the client reached, as httpd's
 * vhost.c; its <Location>s apply after the server's, and only in it */
UNIT_TEST(conf_virtualhost)
{
	struct run *r = run("Listen 8080\nListen 127.0.0.1:8081\nListen 8082\n"
			    "<Proxy balancer://c>\nBalancerMember http://127.0.0.1:9001\n</Proxy>\n"
			    "ProxyPass /bm !\nProxyPass / balancer://c/\n"
			    "ServerAdmin ops@example.org\n"
			    "<VirtualHost 127.0.0.1:8081>\nServerName admin.test\n"
			    "ServerAdmin vh@example.org\n"
			    "<Location /bm>\nSetHandler balancer-manager\nRequire ip 127.0.0.1\n"
			    "</Location>\n</VirtualHost>\n"
			    "<VirtualHost *:8082 _default_:8083>\n</VirtualHost>\n"
			    "<VirtualHost 127.0.0.2>\n</VirtualHost>\n");
	struct sockaddr_in6 a1 = sa4("127.0.0.1", 8081), a0 = sa4("127.0.0.1", 8080),
			   a2 = sa4("10.0.0.1", 8082), a3 = sa4("127.0.0.2", 8080),
			   a4 = sa4("127.0.0.3", 8083);
	const struct kbal_authz *az;

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->nvhost, 3, "three");
		ASSERT_STREQ(r->c->vhost[0].server_name, "admin.test", "its ServerName");
		/* (its 500 page's: heads_error_page_notes()) */
		ASSERT_STREQ(r->c->server_admin, "ops@example.org", "the server's ServerAdmin");
		ASSERT_STREQ(r->c->vhost[0].server_admin, "vh@example.org", "its ServerAdmin");
		ASSERT_STREQ(r->c->vhost[1].server_admin, "", "none: the server's");
		ASSERT_EQ(kbal_conf_vhost(r->c, &a1, NULL, 0), 0, "127.0.0.1:8081");
		ASSERT_EQ(kbal_conf_vhost(r->c, &a0, "admin.test", 10), -1, "127.0.0.1:8080: the server's");
		ASSERT_EQ(kbal_conf_vhost(r->c, &a2, NULL, 0), 1, "*:8082");
		ASSERT_EQ(kbal_conf_vhost(r->c, &a3, NULL, 0), 2, "127.0.0.2, any port");
		ASSERT_EQ(kbal_conf_vhost(r->c, &a4, NULL, 0), 1, "_default_:8083");
		ASSERT_EQ(kbal_conf_match_location_authz(r->c, 0, "/bm", 3, &az),
			  KBAL_HANDLER_MANAGER, "the manager in its virtual host");
		ASSERT_EQ(az->nnode, 2, "with its rules");
		ASSERT_EQ(kbal_conf_match_location(r->c, -1, "/bm", 3), KBAL_HANDLER_NONE,
			  "not on the server's addresses");
		ASSERT_EQ(kbal_conf_match_location(r->c, 1, "/bm", 3), KBAL_HANDLER_NONE,
			  "nor in another virtual host");
		ASSERT_STREQ(r->warn, "", "no warning");
	}
	done(r);
	expect_err(HEAD "<VirtualHost *:8080>\nProxyReceiveBufferSize 1024\n</VirtualHost>\n",
		   "t.conf:6: ProxyReceiveBufferSize is not allowed inside <VirtualHost> by kbal "
		   "(it takes <Location> sections, Redirect, ServerName, ServerAlias, the "
		   "ProxyPass family, most Proxy* settings, LimitRequest*, KeepAlive, "
		   "MaxKeepAliveRequests, Header, RequestHeader and <Proxy balancer://...> "
		   "there: docs/configuration.md lists "
		   "them; the server's other directives apply in every virtual host) "
		   "(<VirtualHost *:8080> at line 5)");
	expect_err(HEAD "ServerAlias www.test\n",
		   "t.conf:5: ServerAlias is not allowed at server level");
	expect_err(HEAD "<VirtualHost *:8080>\n<Location /x>\n</VirtualHost>\n",
		   "t.conf:7: Expected </Location> but saw </VirtualHost> (<Location /x> is at line 6)");
	r = run("Listen 8080\nListen [::1]:8081\n<Proxy balancer://c>\n"
		"BalancerMember http://127.0.0.1:9001\n</Proxy>\nProxyPass / balancer://c/\n"
		"<VirtualHost [::1]:8081>\nServerName six.test\n</VirtualHost>\n"
		"<VirtualHost *:8081>\nServerName any.test\n</VirtualHost>\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		struct sockaddr_in6 l6 = sa4("::1", 8081), o6 = sa4("::2", 8081),
				    l4 = sa4("127.0.0.1", 8081);

		ASSERT_STREQ(r->warn, "", "[::1]:8081 is listened on");
		ASSERT_EQ(kbal_conf_vhost(r->c, &l6, NULL, 0), 0, "[::1]:8081");
		ASSERT_EQ(kbal_conf_vhost(r->c, &o6, NULL, 0), 1, "another IPv6 address: *");
		ASSERT_EQ(kbal_conf_vhost(r->c, &l4, NULL, 0), 1, "an IPv4 one: *");
	}
	done(r);
	expect_err(HEAD "<VirtualHost [::1:80>\n</VirtualHost>\n",
		   "t.conf:5: <VirtualHost [::1:80>: expected ADDR[:PORT], an IPv6 address in "
		   "brackets");
	r = run(HEAD TAIL "<VirtualHost 127.0.0.9:9999>\n</VirtualHost>\n");
	ASSERT_STREQ(r->warn, "t.conf:6: <VirtualHost>: no Listen takes any of its addresses: "
		     "it serves nothing\n", "a virtual host nothing reaches");
	done(r);
}

static void expect_cookie_in(const struct kbal_conf *c, int vhost, const char *line,
			     const char *want);

/* mod_proxy's settings in a <VirtualHost>, merged with the server's as
 * merge_proxy_config() and merge_proxy_dir_config(): ProxyVia and
 * ProxyAddHeaders the virtual host's where it sets them; cookie maps the
 * server's, then its own; the server's balancers its own unless both
 * BalancerInherit and ProxyPassInherit are Off */
UNIT_TEST(conf_virtualhost_proxy)
{
	struct run *r = run(HEAD TAIL "ProxyVia On\nProxyAddHeaders Off\n"
			    "ProxyPassReverseCookiePath /app /\n"
			    "<VirtualHost *:8080>\nServerName a.test\nProxyVia Block\n"
			    "ProxyAddHeaders On\nProxyPassInherit Off\n"
			    "ProxyPassReverseCookiePath /x /a\n"
			    "ProxyPassReverseCookieDomain in.test a.test\n</VirtualHost>\n"
			    "<VirtualHost *:8080>\nServerName b.test\nBalancerInherit Off\n"
			    "</VirtualHost>\n"
			    "<VirtualHost *:8080>\nServerName c.test\nBalancerInherit Off\n"
			    "ProxyPassInherit Off\nBalancerMember balancer://own http://127.0.0.1:9002\n"
			    "ProxyPass /own/ balancer://own/\n</VirtualHost>\n"
			    "ProxyPassReverseCookieDomain in.test main.test\n");

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		const struct kbal_conf *c = r->c;

		ASSERT_EQ(kbal_conf_via(c, -1), KBAL_VIA_ON, "the server's ProxyVia");
		ASSERT_EQ(kbal_conf_via(c, 0), KBAL_VIA_BLOCK, "a.test's own");
		ASSERT_EQ(kbal_conf_via(c, 1), KBAL_VIA_ON, "b.test inherits it");
		ASSERT_EQ(kbal_conf_no_xfwd(c, -1), 1, "the server's ProxyAddHeaders Off");
		ASSERT_EQ(kbal_conf_no_xfwd(c, 0), 0, "a.test's On");
		ASSERT_EQ(kbal_conf_no_xfwd(c, 1), 1, "b.test inherits Off");
		ASSERT_EQ(kbal_conf_balancer_in(c, 0, 0), 1,
			  "a.test has the server's balancers (BalancerInherit On)");
		ASSERT_EQ(kbal_conf_balancer_in(c, 1, 0), 1,
			  "b.test too (ProxyPassInherit On)");
		ASSERT_EQ(kbal_conf_balancer_in(c, 2, 0), 0, "c.test, both Off: not the server's");
		ASSERT_EQ(kbal_conf_balancer_in(c, 2, 1), 1, "its own");
		ASSERT_EQ(kbal_conf_match_pass(c, 2, "/x", 2), 0,
			  "the server's rules still c.test's (httpd appends them)");
		ASSERT_STREQ(r->warn, "t.conf:26: ProxyPass /own/ is never applied: ProxyPass / at "
			     "line 5 matches first (Apache matches in configuration order); move "
			     "it above line 5\n"
			     "t.conf:5: ProxyPass / names balancer://c, the server's, which the "
			     "<VirtualHost> at line 21 does not inherit (BalancerInherit Off and "
			     "ProxyPassInherit Off): its requests there are answered 503, as "
			     "httpd's\n", "the server's rule in c.test said");
		/* the server's maps before a.test's, wherever written */
		expect_cookie_in(c, 0, "Set-Cookie: s=1; path=/app/1; domain=IN.test",
				 "Set-Cookie: s=1; path=/; domain=main.test");
		expect_cookie_in(c, 0, "Set-Cookie: s=1; path=/x/1",
				 "Set-Cookie: s=1; path=/a");
		expect_cookie_in(c, 1, "Set-Cookie: s=1; path=/x/1",
				 "Set-Cookie: s=1; path=/x/1");
		expect_cookie_in(c, -1, "Set-Cookie: s=1; path=/x/1; domain=in.test",
				 "Set-Cookie: s=1; path=/x/1; domain=main.test");
	}
	done(r);
	/* LimitRequest* inside: its own, else the server's as they were where
	 * it opened (ap_new_vhost()), else httpd's defaults */
	r = run(HEAD TAIL "LimitRequestLine 200\n"
		"<VirtualHost *:8080>\nLimitRequestFields 7\n</VirtualHost>\n"
		"LimitRequestFieldSize 300\n"
		"<VirtualHost *:8080>\nServerName b.test\n</VirtualHost>\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		const struct kbal_http_limits *l0 = &r->c->vhost[0].limits, *l1 = &r->c->vhost[1].limits;

		ASSERT_EQ(l0->line, 200, "the server's line, given before it");
		ASSERT_EQ(l0->field, 8190, "not the server's field size, given after it");
		ASSERT_EQ(l0->fields, 7, "its own");
		ASSERT_EQ(l1->field, 300, "the next one has it");
		ASSERT_EQ(l1->fields, 100, "httpd's default");
		ASSERT_EQ(r->c->vhost_limits, 1, "they differ from the server's");
	}
	done(r);
	r = run(HEAD TAIL "<VirtualHost *:8080>\n</VirtualHost>\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->vhost_limits, 0, "the same as the server's");
	done(r);
	/* KeepAlive, MaxKeepAliveRequests: its own, else the server's final */
	r = run(HEAD TAIL "<VirtualHost *:8080>\nKeepAlive Off\nLimitRequestBody 0\n</VirtualHost>\n"
		"<VirtualHost *:8080>\nServerName b.test\nMaxKeepAliveRequests 7\n</VirtualHost>\n"
		"MaxKeepAliveRequests 3\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(kbal_conf_keepalive_off(r->c, 0), 1, "its KeepAlive Off");
		ASSERT_EQ(kbal_conf_keepalive_off(r->c, 1), 0, "the server's On");
		ASSERT_EQ(kbal_conf_max_keepalive(r->c, 0), 3, "the server's, written after");
		ASSERT_EQ(kbal_conf_max_keepalive(r->c, 1), 7, "its own");
		ASSERT_EQ(r->c->vhost_keepalive, 1, "said");
		ASSERT_EQ(kbal_conf_limit_body(r->c, 1), 1ull << 30, "the server's LimitRequestBody");
		ASSERT_EQ(kbal_conf_limit_body(r->c, 0), 0, "its own 0: none");
	}
	done(r);
	expect_err(HEAD "<VirtualHost *:8080>\nProxyVia Sometimes\n</VirtualHost>\n",
		   "t.conf:6: ProxyVia accepts one of 'Off', 'On', 'Full' or 'Block'");
	expect_err(HEAD "<VirtualHost *:8080>\nBalancerInherit maybe\n</VirtualHost>\n",
		   "t.conf:6: BalancerInherit: must be On or Off");
}

/* name-based virtual hosts: several on one address, the request's Host
 * picks among them as httpd's check_hostalias(), else the first */
UNIT_TEST(conf_virtualhost_names)
{
	struct run *r = run(HEAD TAIL "Listen 127.0.0.1:8081\nServerName main.test\n"
			    "<VirtualHost *:8080>\nServerName first.test\n</VirtualHost>\n"
			    "<VirtualHost *:8080>\nServerName http://b.test:8080\n"
			    "ServerAlias www.b.test *.b.example w?.test\n</VirtualHost>\n"
			    "<VirtualHost 127.0.0.1:8081>\nServerName ip.test\n</VirtualHost>\n"
			    "<VirtualHost *:8081>\nServerAlias star.test\n"
			    "<Location /bm>\nSetHandler balancer-manager\n</Location>\n</VirtualHost>\n"
			    "<VirtualHost *:8080>\nServerAlias late.test\n</VirtualHost>\n");
	struct sockaddr_in6 s80 = sa4("127.0.0.5", 8080), ip81 = sa4("127.0.0.1", 8081),
			   o81 = sa4("127.0.0.2", 8081), x = sa4("127.0.0.1", 8082);
	const struct {
		const struct sockaddr_in6 *a;
		const char *host;
		int vhost;
	} cases[] = {
		{ &s80, NULL, 0 },               /* no Host: the address's first */
		{ &s80, "first.test", 0 },
		{ &s80, "b.test", 1 },           /* ServerName's scheme, port not the name */
		{ &s80, "B.Test:8080", 1 },      /* case, the Host's port ignored */
		{ &s80, "b.test.", 1 },          /* a trailing dot */
		{ &s80, "www.b.test", 1 },
		{ &s80, "x.y.b.example", 1 },    /* '*' takes any run */
		{ &s80, "b.example", 0 },
		{ &s80, "w1.test", 1 },          /* '?' one byte */
		{ &s80, "w12.test", 0 },
		{ &s80, "unknown.test", 0 },     /* none: the first */
		{ &o81, "main.test", 3 },
		{ &s80, "late.test", 4 },
		{ &s80, "main.test", 4 },        /* no ServerName: the server's (on "*") */
		{ &ip81, "star.test", 2 },       /* the address's own before "*" */
		{ &ip81, "nothing", 2 },
		{ &o81, "ip.test", 3 },          /* another address: only "*" */
		{ &x, "b.test", -1 },            /* no virtual host: the server's */
	};

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->nvhost, 5, "five");
		ASSERT_EQ(r->c->vhost[1].nalias, 3, "three aliases");
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			ASSERT_EQ(kbal_conf_vhost(r->c, cases[i].a, cases[i].host,
						  cases[i].host ? strlen(cases[i].host) : 0),
				  cases[i].vhost, cases[i].host ? cases[i].host : "(no Host)");
		ASSERT_EQ(kbal_conf_vhost_overlap(r->c, 0, 1), 1, "both on *:8080");
		ASSERT_EQ(kbal_conf_vhost_overlap(r->c, 0, 2), 0, "8080 and 8081");
		ASSERT_EQ(kbal_conf_vhost_overlap(r->c, 2, 3), 1, "127.0.0.1:8081 and *:8081");
		ASSERT_EQ(kbal_conf_vhost_overlap(r->c, -1, 3), 0, "the server's");
		ASSERT_EQ(kbal_conf_match_location(r->c, 3, "/bm", 3), KBAL_HANDLER_MANAGER,
			  "the manager in star.test");
		ASSERT_EQ(kbal_conf_match_location(r->c, 2, "/bm", 3), KBAL_HANDLER_NONE,
			  "not in ip.test on the same port");
	}
	done(r);
}

/* a <VirtualHost>'s own ProxyPass rules and balancers: the server's rules
 * first in every virtual host (ProxyPassInherit On), then its own; a
 * balancer name is one balancer */
UNIT_TEST(conf_virtualhost_rules)
{
	struct run *r = run(HEAD "ProxyPreserveHost On\nProxyPass /common/ balancer://c/\n"
			    "<VirtualHost *:8080>\nServerName a.test\n"
			    "<Proxy balancer://a>\nBalancerMember http://127.0.0.1:9002\n</Proxy>\n"
			    "ProxyPass / balancer://a/\n</VirtualHost>\n"
			    "<VirtualHost *:8080>\nServerName b.test\nProxyPreserveHost Off\n"
			    "BalancerMember balancer://b http://127.0.0.1:9003\n"
			    "ProxyPass ~ ^/re/ balancer://b/\n"
			    "<Location /loc>\nProxyPass balancer://c/y\n</Location>\n"
			    "ProxyPass /x/ balancer://b/\n</VirtualHost>\n");
	const char *why;

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		const struct kbal_conf *c = r->c;

		ASSERT_EQ(c->npass, 5, "five rules");
		ASSERT_EQ(c->pass[1].vhost, 0, "a.test's");
		ASSERT_EQ(c->balancers[1].vhost, 0, "balancer://a is a.test's");
		ASSERT_EQ(c->balancers[0].vhost, -1, "balancer://c the server's");
		ASSERT_EQ(kbal_conf_preserve_host(c, -1), 1, "the server's ProxyPreserveHost");
		ASSERT_EQ(kbal_conf_preserve_host(c, 0), 1, "a.test takes the server's");
		ASSERT_EQ(kbal_conf_preserve_host(c, 1), 0, "b.test's own");
		ASSERT_EQ(kbal_conf_match_pass(c, -1, "/common/z", 9), 0, "the server's rule");
		ASSERT_EQ(kbal_conf_match_pass(c, -1, "/q", 2), -1, "no vhost rule on the server");
		ASSERT_EQ(kbal_conf_match_pass(c, 0, "/common/z", 9), 0,
			  "the server's rule first, before a.test's ProxyPass /");
		ASSERT_EQ(kbal_conf_match_pass(c, 0, "/q", 2), 1, "a.test's own");
		ASSERT_EQ(kbal_conf_match_pass(c, 0, "/loc", 4), 1, "b.test's <Location> not in a.test");
		ASSERT_EQ(kbal_conf_match_pass(c, 1, "/q", 2), -1, "nothing of a.test's in b.test");
		ASSERT_EQ(kbal_conf_match_pass(c, 1, "/loc/z", 6), 3, "b.test's <Location>");
		ASSERT_EQ(kbal_conf_match_pass(c, 1, "/re/z", 5), 2, "b.test's ProxyPass ~");
		ASSERT_EQ(kbal_conf_match_pass(c, 1, "/x/", 3), 4, "b.test's /x/");
		/* on a.test's address, b.test's settings and rules too (a
		 * later request's Host may pick it); on an address of the
		 * server's own, where no virtual host is, only the server's
		 * rules */
		ASSERT_EQ(kbal_conf_packet_alike(c, 0, 0, &why), 0, "not alike");
		ASSERT_STREQ(why, "a <VirtualHost> on this address sets another "
			     "ProxyPreserveHost", "why");
		ASSERT_EQ(kbal_conf_packet_alike(c, 0, -1, &why), 0, "not alike either");
		ASSERT_STREQ(why, "a request's path is mapped (its rule's target is another path)",
			     "why, the server's");
		ASSERT_STREQ(r->warn, "", "no warning");
	}
	done(r);
	/* the packet path reads no Host: a virtual host on the address with
	 * another ProxyPreserveHost keeps it out */
	r = run(HEAD "ProxyPreserveHost On\nProxyPass / balancer://c/\n"
		"<VirtualHost *:8080>\nServerName a\n</VirtualHost>\n"
		"<VirtualHost *:8080>\nServerName b\nProxyPreserveHost Off\n</VirtualHost>\n"
		"<VirtualHost *:9999>\nServerName c\nProxyPreserveHost Off\n</VirtualHost>\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, -1, &why), 1, "the server's: alike");
		ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, 0, &why), 0, "a, beside b");
		ASSERT_STREQ(why, "a <VirtualHost> on this address sets another "
			     "ProxyPreserveHost", "why");
		ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, 1, &why), 0, "b");
		ASSERT_STREQ(why, "each request's Host is rewritten (no ProxyPreserveHost On)",
			     "b's why");
	}
	done(r);
	/* a virtual host's own rules count where a later request's Host may
	 * pick it: on its address, not on another (the manager on an address
	 * of its own leaves the server's connections alike) */
	r = run(HEAD "ProxyPreserveHost On\nProxyPass / balancer://c/\nListen 127.0.0.2:8081\n"
		"<VirtualHost 127.0.0.2:8081>\n<Location /balancer-manager>\nProxyPass !\n"
		"SetHandler balancer-manager\n</Location>\n</VirtualHost>\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, -1, &why), 1, "the server's: alike");
		ASSERT_EQ(kbal_conf_packet_alike(r->c, 0, 0, &why), 0, "the manager's address");
		ASSERT_STREQ(why, "a <VirtualHost> has ProxyPass rules of its own (a later "
			     "request's Host may pick it)", "its why");
	}
	done(r);
	/* the server's rule shadows a virtual host's, wherever it is written */
	r = run(HEAD "<VirtualHost *:8080>\nProxyPass /a/b balancer://c/a/b\n</VirtualHost>\n"
		"ProxyPass /a balancer://c/a\n");
	ASSERT_STREQ(r->warn, "t.conf:6: ProxyPass /a/b is never applied: ProxyPass /a at "
		     "line 8 matches first (Apache matches in configuration order); move it "
		     "above line 8\n", "shadowed by the server's");
	done(r);
	r = run(HEAD "<VirtualHost *:8080>\nProxyPass /a balancer://c/a\n</VirtualHost>\n"
		"<VirtualHost *:8080>\nServerName x\nProxyPass /a/b balancer://c/a/b\n"
		"</VirtualHost>\n");
	ASSERT_STREQ(r->warn, "", "another virtual host's rule shadows nothing");
	done(r);
	expect_err(HEAD "<VirtualHost *:8080>\n<Proxy balancer://app>\n"
		   "BalancerMember http://127.0.0.1:9002\n</Proxy>\n</VirtualHost>\n"
		   "<VirtualHost *:8080>\nServerName x\n<Proxy balancer://app>\n",
		   "t.conf:12: balancer://app: named in the <VirtualHost> at line 5 first (at "
		   "line 6), and kbal keeps one balancer per name: give this <VirtualHost>'s one "
		   "a name of its own, or define it at server level, before the <VirtualHost>s, "
		   "for all of them");
	expect_err(HEAD "<VirtualHost *:8080>\nBalancerMember balancer://c http://127.0.0.1:9002\n",
		   "t.conf:6: balancer://c: the server's (named at line 2); kbal keeps one "
		   "balancer per name, so a <VirtualHost> defines no balancer of the server's: "
		   "define it in one place, or give this one a name of its own");
	expect_err(HEAD "<VirtualHost *:8080>\nProxyPass /v balancer://v/\n</VirtualHost>\n"
		   "ProxyPass /v balancer://v/\n",
		   "t.conf:8: balancer://v: named in the <VirtualHost> at line 5 first (at "
		   "line 6), and kbal keeps one balancer per name: give this server's one a "
		   "name of its own, or define it at server level, before the <VirtualHost>s, "
		   "for all of them");
}

/* ProxyPassReverse in a <VirtualHost>: the server's rules first, then that
 * one's, and no other virtual host's */
UNIT_TEST(conf_virtualhost_reverse)
{
	struct run *r = run(HEAD TAIL "<VirtualHost *:8080>\nServerName a\n"
			    "ProxyPassReverse /a/ balancer://c/\n</VirtualHost>\n"
			    "ProxyPassReverse / balancer://c/\n"
			    "<VirtualHost *:8080>\nServerName b\n"
			    "<Location /b/>\nProxyPassReverse balancer://c/x/\n</Location>\n"
			    "</VirtualHost>\n");
	struct kbal_member m = { 0 };
	struct kbal_rev_set rs = { 0 };
	struct kbal_rev_rule out[8];
	size_t n;

	snprintf(m.url, sizeof(m.url), "http://127.0.0.1:9001");
	if (ASSERT_EQ(r->rc, 0, r->err) &&
	    ASSERT_EQ(kbal_rewrite_rev_build(r->c, 0, &m, 1, &rs), 0, "built")) {
		ASSERT_EQ(rs.n, 3, "three rules");
		n = kbal_rewrite_rev_for(&rs, -1, out, 8);
		if (ASSERT_EQ(n, 1, "the server's only"))
			ASSERT_STREQ(out[0].to, "/", "the server's");
		n = kbal_rewrite_rev_for(&rs, 0, out, 8);
		if (ASSERT_EQ(n, 2, "a: the server's and its own")) {
			ASSERT_STREQ(out[0].to, "/", "the server's first");
			ASSERT_STREQ(out[1].to, "/a/", "then a's");
		}
		n = kbal_rewrite_rev_for(&rs, 1, out, 8);
		if (ASSERT_EQ(n, 2, "b: the server's and its <Location>'s")) {
			ASSERT_STREQ(out[1].to, "/b/", "b's");
			ASSERT_STREQ(out[1].from, "http://127.0.0.1:9001/x/", "b's member URL");
		}
	}
	kbal_rewrite_rev_free(&rs);
	done(r);
}

UNIT_TEST(conf_match_location)
{
	struct run *r = run(HEAD TAIL "<Location /bm>\nSetHandler balancer-manager\nProxyPass !\n</Location>\n"
			    "<Location /bm/sub>\n</Location>\n");

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(kbal_conf_match_location(r->c, -1, "/bm", 3), KBAL_HANDLER_MANAGER, "/bm");
		ASSERT_EQ(kbal_conf_match_location(r->c, -1, "/bm/sub/x", 9), KBAL_HANDLER_MANAGER, "merged");
		ASSERT_EQ(kbal_conf_match_location(r->c, -1, "/bmx", 4), KBAL_HANDLER_NONE, "/bmx");
		ASSERT_EQ(kbal_conf_match_location(r->c, -1, "/x/../bm", 8), KBAL_HANDLER_MANAGER, "normalized");
	}
	done(r);
	expect_err(HEAD "<Location /x>\nSetHandler server-info\n</Location>\n",
		   "t.conf:6: SetHandler server-info is not supported by kbal (only balancer-manager, "
		   "and kbal-metrics: kbal's Prometheus endpoint)");
	r = run(HEAD TAIL "<Location /metrics>\nSetHandler kbal-metrics\nRequire ip 10.0.0.0/8\n"
		  "</Location>\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(kbal_conf_match_location(r->c, -1, "/metrics", 8), KBAL_HANDLER_METRICS,
			  "/metrics");
	done(r);
	expect_err(HEAD "<Location ~ \"^/x(\">\n</Location>\n",
		   "t.conf:5: <Location ^/x(>: the regular expression does not compile: missing "
		   "closing parenthesis at offset 4");
	expect_err(HEAD "<LocationMatch ^/x>\n</Location>\n",
		   "t.conf:6: Expected </LocationMatch> but saw </Location> (<LocationMatch ^/x> is "
		   "at line 5)");
	expect_err(HEAD "<Location /x>\nProxyPass !\nProxyPass balancer://c/\n</Location>\n",
		   "t.conf:7: ProxyPass: this <Location> has one already (line 6)");
	expect_err(HEAD "<Location /x>\nProxyPass /x balancer://c/\n</Location>\n",
		   "t.conf:6: ProxyPass /x: inside <Location> the path is the <Location>'s; give only the URL");
}

UNIT_TEST(conf_access_control)
{
	struct run *r = run(HEAD TAIL "<Proxy *>\nOrder allow,deny\nAllow from all\nRequire all granted\n</Proxy>\n"
			    "<Location /bm>\nRequire all granted\nSetHandler balancer-manager\nProxyPass !\n</Location>\n");
	ASSERT_EQ(r->rc, 0, r->err);
	done(r);

	expect_err(HEAD "<Proxy *>\nOrder deny,allow\nDeny from all\nAllow from 127.0.0.1\n</Proxy>\n",
		   "t.conf:7: Deny from all: access control is not supported by kbal yet");
	/* on a proxied path, as httpd */
	r = run(HEAD "<Location /app>\nRequire ip 127.0.0.1\nProxyPass balancer://c/\n</Location>\n");
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(kbal_conf_location_proxied(r->c, 0), 1, "the section's own rule proxies it");
	done(r);
	expect_err(HEAD "<Proxy *>\nRequire all denied\n</Proxy>\n",
		   "t.conf:6: Require inside <Proxy>: only \"Require all granted\" is supported by kbal "
		   "(access rules go in a <Location>)");
	expect_err(HEAD "<Proxy *>\nOrder allow,deny\n</Proxy>\n",
		   "t.conf:6: Order allow,deny without \"Allow from all\" inside <Proxy> denies "
		   "requests: access rules go in a <Location>");
	/* in the manager's <Location>: kept (authz.h), wrong forms named */
	r = run(HEAD TAIL "<Location /bm>\nSetHandler balancer-manager\n<RequireAll>\n"
		"Require ip 127.0.0.0/8 10.1 192.0.2.0/255.255.255.0 ::1\nRequire not ip 127.0.0.2\n"
		"</RequireAll>\nRequire local\nOrder Deny,Allow\nDeny from all\nAllow from 127.0.0.1\n"
		"</Location>\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		const struct kbal_authz *a = &r->c->location[0].authz;

		ASSERT_EQ(a->nnode, 5, "nodes: the list, RequireAll, two Require in it, local");
		ASSERT_EQ(a->node[1].kind, AZ_ALL, "RequireAll");
		ASSERT_EQ(a->node[2].nnet, 4, "ip networks");
		ASSERT_EQ(a->node[3].negate, 1, "not");
		ASSERT_EQ(a->compat, 1, "Order/Allow/Deny");
		ASSERT_EQ(a->deny_all, 1, "Deny from all");
		ASSERT_EQ(a->nallow, 1, "Allow from 127.0.0.1");
	}
	done(r);
#define BM(body) HEAD TAIL "<Location /bm>\nSetHandler balancer-manager\n" body "</Location>\n"
	expect_err(BM("Require not ip 10.0.0.1\n"), "t.conf:8: Require not ip: a negative Require "
		   "has no effect here (put it in <RequireAll> or <RequireNone>)");
	expect_err(BM("Require local\nRequire not ip 10.0.0.1\n"), "t.conf:9: Require not ip: a "
		   "negative Require has no effect in <RequireAny> (put it in <RequireAll> or "
		   "<RequireNone>)");
	expect_err(BM("<RequireAll>\nRequire not local\n</RequireAll>\n"), "t.conf:10: "
		   "<RequireAll> at line 8 holds only negative Require directives, which can never grant");
	expect_err(BM("<RequireAll>\nRequire local\n</RequireAny>\n"),
		   "t.conf:10: Expected </RequireAll> but saw </RequireAny> (<RequireAll> is at line 8)");
	expect_err(BM("<RequireAll>\nRequire local\n"),
		   "t.conf:10: <RequireAll> at line 8 was not closed");
	expect_err(BM("Require ip 10.0.0.300\n"), "t.conf:8: Require ip 10.0.0.300: not an address "
		   "or network");
	expect_err(BM("Require ip 10.0.0.0/255.0.255.0\n"), "t.conf:8: Require ip "
		   "10.0.0.0/255.0.255.0: not an address or network");
	expect_err(BM("Require forward-dns example.com\n"), "t.conf:8: Require forward-dns: not "
		   "supported by kbal yet (all, ip, host, local, user, group and valid-user are)");
	expect_err(BM("Require all maybe\n"), "t.conf:8: Require all maybe: must be granted or "
		   "denied");
	expect_err(BM("Allow from example_com\n"), "t.conf:8: Allow from example_com: not an "
		   "address, network or host name");
	expect_err(BM("Deny 10.0.0.1\n"), "t.conf:8: Deny: must be followed by 'from'");
	expect_err(BM("Order allow,deny,allow\n"), "t.conf:8: Order allow,deny,allow: unknown order "
		   "(Deny,Allow, Allow,Deny or Mutual-failure)");
	expect_err(HEAD "</RequireAll>\n", "t.conf:5: </RequireAll> without matching <RequireAll> "
		   "section");
	expect_err(BM("Require valid-user\n"), "t.conf:8: Require valid-user needs AuthType Basic, "
		   "AuthName and AuthUserFile in the same <Location>");
	expect_err(BM("AuthType Digest\n"), "t.conf:8: AuthType Digest: not supported by kbal "
		   "(Basic is)");
	expect_err(BM("AuthUserFile /nonexistent/htpasswd\n"), "t.conf:8: AuthUserFile "
		   "/nonexistent/htpasswd: No such file or directory");
	expect_err(BM("AuthBasicProvider dbm\n"), "t.conf:8: AuthBasicProvider dbm: not supported "
		   "by kbal (file is)");
#undef BM
	expect_err(HEAD "Require all granted\n", "t.conf:5: Require is not allowed at server level");
}

UNIT_TEST(conf_header)
{
	struct run *r = run(HEAD TAIL "Header onsuccess set X-Backend \"%{BALANCER_WORKER_NAME}e 100%%\"\n");

	if (ASSERT_EQ(r->rc, 0, r->err) && ASSERT_EQ(r->c->nheader, 1, "nheader")) {
		ASSERT_EQ(r->c->header[0].action, KBAL_HEADER_SET, "set");
		ASSERT_STREQ(r->c->header[0].name, "X-Backend", "name");
		ASSERT_STREQ(r->c->header[0].value, "%{BALANCER_WORKER_NAME}e 100%%", "value");
		ASSERT_STREQ(r->c->header[0].env, "", "unconditional");
	}
	done(r);
	r = run(HEAD TAIL "Header always edit* Set-Cookie \"^(.*)$\" \"$1; HttpOnly\" env=!NOPE\n"
		"RequestHeader unset Cookie\nHeader echo ^X-\n");
	if (ASSERT_EQ(r->rc, 0, r->err) && ASSERT_EQ(r->c->nheader, 3, "nheader")) {
		ASSERT_EQ(r->c->header[0].table, KBAL_HDR_ALWAYS, "always");
		ASSERT_EQ(r->c->header[0].action, KBAL_HEADER_EDIT_ALL, "edit*");
		ASSERT_STREQ(r->c->header[0].match, "^(.*)$", "regex");
		ASSERT_STREQ(r->c->header[0].value, "$1; HttpOnly", "replacement");
		ASSERT_EQ(r->c->header[0].env_not, 1, "env=!");
		ASSERT_STREQ(r->c->header[0].env, "NOPE", "its variable");
		ASSERT_EQ(r->c->header[1].table, KBAL_HDR_IN, "RequestHeader");
		ASSERT_EQ(r->c->header[1].action, KBAL_HEADER_UNSET, "unset");
		ASSERT_EQ(r->c->header[2].action, KBAL_HEADER_ECHO, "echo");
		ASSERT_STREQ(r->c->header[2].match, "^X-", "echo's regex on names");
	}
	done(r);
	/* mod_headers' own messages where it has one */
	expect_err(HEAD "Header add X-A\n", "t.conf:5: Header requires three arguments");
	expect_err(HEAD "Header unset X-A x\n", "t.conf:5: Header: Unknown parameter: x");
	expect_err(HEAD "Header frob X-A b\n", "t.conf:5: Header frob: first argument must be "
		   "'add', 'set', 'setifempty', 'append', 'merge', 'unset', 'echo', 'edit', or 'edit*'");
	expect_err(HEAD "Header edit X-A b\n",
		   "t.conf:5: Header edit requires a match and a substitution");
	expect_err(HEAD "Header edit X-A ( b\n",
		   "t.conf:5: Header edit regex could not be compiled: missing closing parenthesis "
		   "at offset 1");
	expect_err(HEAD "Header add X-A b env=\n", "t.conf:5: Header: missing environment "
		   "variable name. envclause should be in the form env=envar");
	expect_err(HEAD "Header add X-A b c d\n", "t.conf:5: Header: Too many arguments to directive");
	expect_err(HEAD "RequestHeader echo X-A\n",
		   "t.conf:5: RequestHeader echo: only valid on Header directives");
	expect_err(HEAD "RequestHeader always set X-A b\n",
		   "t.conf:5: RequestHeader always: first argument must be 'add', 'set', 'setifempty', "
		   "'append', 'merge', 'unset', 'echo', 'edit', or 'edit*'");
	expect_err(HEAD "Header add X-A %q\n", "t.conf:5: Header: Unrecognized header format %q");
	/* a backslash escapes only \\ and \t: "\%q" is '\' and "%q" */
	expect_err(HEAD "Header add X-A \\%q\n", "t.conf:5: Header: Unrecognized header format %q");
	/* what kbal does not do, said */
	expect_err(HEAD "Header add X-A b early\n", "t.conf:5: Header early: early is not supported by kbal");
	expect_err(HEAD "Header add X-A b expr=true\n",
		   "t.conf:5: Header expr=true: expr= conditions are not supported by kbal");
	expect_err(HEAD "Header note X-A n\n",
		   "t.conf:5: Header note: not supported by kbal (nothing reads notes)");
	expect_err(HEAD "Header set Content-Length 0\n",
		   "t.conf:5: Header Content-Length: kbal does not change this header");
	expect_err(HEAD "RequestHeader set Transfer-Encoding x\n",
		   "t.conf:5: RequestHeader Transfer-Encoding: kbal does not change this header");
	expect_err(HEAD "Header add X-A %l\n",
		   "t.conf:5: Header: %l (httpd's worker load) is not supported by kbal");
	expect_err(HEAD "Header add X-A a\\nb\n",
		   "t.conf:5: Header: \\n in the value would end the header line");
}

UNIT_TEST(conf_lexer)
{
	/* continuation (also of a comment, as in httpd), case, quotes and
	 * escapes, CRLF, ignored directives */
	static const char text[] =
		"listen 8080\r\n"                                      /* 1 */
		"  # a comment \\\n"
		"<Proxy balancer://swallowed-by-the-comment>\n"
		"<proxy \"balancer://c\">\n"                           /* 4 */
		"BalancerMember http://127.0.0.1:9001 \\\n"            /* 5 */
		"    route=a \\\n"
		"    loadfactor=3\n"
		"</PROXY>\n"
		"PROXYPASS / balancer://c/\n"
		"ServerName 'www.example.com:80'\n"
		"LogLevel warn proxy:debug\n"
		"Header add X-Q \"a \\\"quoted\\\" \\\\ b\\t\" env=BALANCER_ROUTE_CHANGED\n";
	char bad[sizeof(text) + 16];
	struct run *r = run(text);

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->nbalancers, 1, "the continued comment swallowed line 3");
		ASSERT_EQ(r->c->balancers[0].members[0].lbfactor, 300, "continued line");
		ASSERT_STREQ(r->c->balancers[0].members[0].route, "a", "route");
		ASSERT_EQ(r->c->balancers[0].members[0].line, 5, "a continued line counts from its first");
		ASSERT_STREQ(r->c->server_name, "www.example.com:80", "single quotes");
		ASSERT_STREQ(r->c->header[0].value, "a \"quoted\" \\ b\\t", "escapes");
		ASSERT_STREQ(r->c->header[0].env, "BALANCER_ROUTE_CHANGED", "env after a quoted value");
	}
	done(r);

	snprintf(bad, sizeof(bad), "%sBogus\n", text);
	r = run(bad);
	ASSERT_STREQ(r->err, "t.conf:13: Invalid command 'Bogus', perhaps misspelled or not supported by kbal",
		     "line numbers count continued lines");
	done(r);
}

UNIT_TEST(conf_sticky_without_routes)
{
	struct run *r = run("Listen 80\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:1\n"
			    "ProxySet stickysession=ROUTEID\n</Proxy>\n" TAIL);

	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_STREQ(r->warn, "t.conf:2: balancer://c: stickysession=ROUTEID but no member has a route=, "
		     "so no request sticks\n", "warning");
	done(r);
}

/* The reader takes a directive from the first table that names it: the
 * same name in two areas' tables would leave one handler unused. */
UNIT_TEST(conf_keywords_unique)
{
	for (const struct conf_keyword *const *t = conf_keyword_tables; *t; t++) {
		for (const struct conf_keyword *kw = *t; kw->name; kw++) {
			ASSERT_TRUE(kw->fn && kw->min <= kw->max && kw->max <= CONF_MAX_ARGS, kw->name);
			for (const struct conf_keyword *const *u = t; *u; u++)
				for (const struct conf_keyword *o = u == t ? kw + 1 : *u; o->name; o++)
					ASSERT_TRUE(strcasecmp(kw->name, o->name), kw->name);
		}
	}
}

/* KeepAliveTimeout: how long kbald waits for a keep-alive client's next
 * request (Apache's default 5 s), in Apache's syntax */
UNIT_TEST(conf_keepalive_timeout)
{
	struct run *r = run(HEAD);

	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->keepalive_timeout_ms, 5000, "Apache's default");
	done(r);
	r = run(HEAD "KeepAliveTimeout 120\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->keepalive_timeout_ms, 120000, "seconds");
	done(r);
	r = run(HEAD "KeepAliveTimeout 300ms\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->keepalive_timeout_ms, 300, "milliseconds");
	done(r);
	expect_err(HEAD "KeepAliveTimeout soon\n", "t.conf:5: KeepAliveTimeout: must be a time from "
		   "1 ms to 24 h (N seconds, Nms, Nmi or Nh)");
	/* in <VirtualHost>: its own, else the server's (written after it
	 * too); Timeout after ProxyTimeout, the server's before its own */
	r = run(HEAD "<VirtualHost *>\nServerName a.test\nKeepAliveTimeout 2\nTimeout 7\n"
		"</VirtualHost>\n<VirtualHost *>\nServerName b.test\nTimeout 8\n</VirtualHost>\n"
		"<VirtualHost *>\nServerName c.test\nProxyTimeout 9\n</VirtualHost>\n"
		"KeepAliveTimeout 3\nTimeout 30\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		const struct kbal_conf *c = r->c;

		ASSERT_EQ(c->vhost_timeouts, 1, "said");
		ASSERT_EQ(kbal_conf_keepalive_timeout(c, 0), 2000, "a.test's own");
		ASSERT_EQ(kbal_conf_keepalive_timeout(c, 1), 3000, "b.test: the server's");
		ASSERT_EQ(kbal_conf_keepalive_wait(c, 1, 0), 2000, "b.test's wait: its address's");
		ASSERT_EQ(kbal_conf_keepalive_wait(c, 0, -1), 2000, "a.test's wait: its own");
		ASSERT_EQ(kbal_conf_keepalive_wait(c, 2, -1), 3000, "the server's");
		ASSERT_EQ(kbal_conf_timeout(c, 0), 7000, "a.test's Timeout");
		ASSERT_EQ(kbal_conf_timeout(c, 1), 8000, "b.test's Timeout");
		ASSERT_EQ(kbal_conf_timeout(c, 2), 9000, "c.test's ProxyTimeout");
		ASSERT_EQ(kbal_conf_timeout(c, -1), 30000, "the server's");
	}
	done(r);
}

/* MaxKeepAliveRequests: httpd's (core), default 100, 0 no bound; taken,
 * no longer ignored with a warning */
UNIT_TEST(conf_max_keepalive_requests)
{
	struct run *r = run(HEAD);

	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->max_keepalive_requests, 100, "httpd's default");
	done(r);
	r = run(HEAD "MaxKeepAliveRequests 3\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->max_keepalive_requests, 3, "three");
		ASSERT_EQ(r->nwarn, 0, r->warn);
	}
	done(r);
	r = run(HEAD "maxkeepaliverequests 0\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->max_keepalive_requests, 0, "0: no bound");
	done(r);
	r = run(HEAD "MaxKeepAliveRequests 2147483647\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->max_keepalive_requests, 2147483647, "httpd's int");
	done(r);
	expect_err(HEAD "MaxKeepAliveRequests many\n", "t.conf:5: MaxKeepAliveRequests: must be an "
		   "integer from 0 to 2147483647");
	expect_err(HEAD "MaxKeepAliveRequests -1\n", "t.conf:5: MaxKeepAliveRequests: must be an "
		   "integer from 0 to 2147483647");
	expect_err(HEAD "MaxKeepAliveRequests 2147483648\n", "t.conf:5: MaxKeepAliveRequests: "
		   "must be an integer from 0 to 2147483647");
	expect_err(HEAD "MaxKeepAliveRequests 1 2\n", "t.conf:5: MaxKeepAliveRequests: too many "
		   "arguments");
}

/* AcceptFilter: httpd's default on Linux is "data" (TCP_DEFER_ACCEPT);
 * "none" turns it off; https is read and changes nothing (no TLS) */
UNIT_TEST(conf_accept_filter)
{
	struct run *r = run(HEAD);

	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->accept_filter_none, 0, "httpd's default: data");
	done(r);
	r = run(HEAD "AcceptFilter http none\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->accept_filter_none, 1, "http none");
	done(r);
	r = run(HEAD "AcceptFilter http none\nAcceptFilter HTTP httpready\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->accept_filter_none, 0, "the last line wins; any filter is data");
	done(r);
	r = run(HEAD "AcceptFilter https none\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->accept_filter_none, 0, "https: no listener of kbal's");
	done(r);
	expect_err(HEAD "AcceptFilter http\n", "t.conf:5: AcceptFilter: missing argument");
}

UNIT_TEST(conf_growth)
{
	struct kbal_conf_member m;
	char err[256];
	struct run *r = run(HEAD "ProxySet balancer://c growth=2\n" TAIL);

	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->balancers[0].growth, 2, "growth=2: two free slots");
	done(r);
	expect_err(HEAD "ProxySet balancer://c growth=0\n",
		   "t.conf:5: ProxySet growth=0: must be an integer from 1 to 100");
	expect_err(HEAD "ProxySet balancer://c growth=101\n",
		   "t.conf:5: ProxySet growth=101: must be an integer from 1 to 100");
	/* free slots are kbal_members entries: 3 x 101 > 256 */
	expect_err("Listen 80\n<Proxy balancer://a>\nBalancerMember http://127.0.0.1:1\nProxySet growth=100\n"
		   "</Proxy>\n<Proxy balancer://b>\nBalancerMember http://127.0.0.1:2\nProxySet growth=100\n"
		   "</Proxy>\n<Proxy balancer://c>\nBalancerMember http://127.0.0.1:3\nProxySet growth=100\n"
		   "</Proxy>\nProxyPass / balancer://a/\n",
		   "t.conf:10: balancer://c: too many members with the free slots of growth= (at most 256 "
		   "in all balancers)");
	/* a URL added at run time, read as BalancerMember reads it */
	if (ASSERT_EQ(kbal_conf_member_url("http://127.0.0.1:9001/", 1, &m, err, sizeof(err)), 0, err)) {
		ASSERT_STREQ(m.url, "http://127.0.0.1:9001", "url, its '/' left out");
		ASSERT_EQ(ntohs(m.addr.sin6_port), 9001, "port");
		ASSERT_EQ((int)(m.lbfactor * 1000 + m.retry_sec), 100060, "a BalancerMember's defaults");
	}
	ASSERT_EQ(kbal_conf_member_url("https://127.0.0.1:1", 1, &m, err, sizeof(err)), -1, "https");
	ASSERT_STREQ(err, "BalancerMember https://127.0.0.1:1: https members need TLS, not supported",
		     "no file or line in the error");
	ASSERT_EQ(kbal_conf_member_url("http://localhost:1", 1, &m, err, sizeof(err)), -1, "a name");
	ASSERT_HAS(err, "give an IP address here", "numeric: no name looked up");
	ASSERT_EQ(kbal_conf_member_url("http://localhost:1", 0, &m, err, sizeof(err)), 0, err);
}

UNIT_TEST(conf_health_checks)
{
	struct run *r = run("Listen 80\nProxyHCTemplate fast hcmethod=HEAD hcinterval=500ms hcfails=3\n"
			    "<Proxy balancer://c>\n"
			    "BalancerMember http://127.0.0.1:1 hcmethod=GET11 hcuri=/ok hcpasses=2\n"
			    "BalancerMember http://127.0.0.1:2 hctemplate=fast hcpasses=4\n"
			    "BalancerMember http://127.0.0.1:3\n</Proxy>\nProxyPass / balancer://c/\n");

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		const struct kbal_conf_member *m = r->c->balancers[0].members;

		ASSERT_EQ(m[0].hc_method, KBAL_HC_GET11, "GET11");
		ASSERT_STREQ(m[0].hc_uri, "/ok", "hcuri");
		ASSERT_EQ(m[0].hc_passes, 2, "hcpasses");
		ASSERT_EQ(m[1].hc_method, KBAL_HC_HEAD, "from the template");
		ASSERT_EQ(m[1].hc_interval_ms, 500, "hcinterval 500ms");
		ASSERT_EQ(m[1].hc_fails, 3, "hcfails from the template");
		ASSERT_EQ(m[1].hc_passes, 4, "hcpasses after it");
		ASSERT_EQ(m[2].hc_method, KBAL_HC_NONE, "no checks");
	}
	done(r);
	expect_err(HEAD "<Proxy balancer://d>\nBalancerMember http://127.0.0.1:2 hcmethod=PING\n",
		   "t.conf:6: BalancerMember hcmethod=PING: one of NONE, TCP, OPTIONS, HEAD, GET, "
		   "OPTIONS11, HEAD11, GET11");
	expect_err(HEAD "<Proxy balancer://d>\nBalancerMember http://127.0.0.1:2 hcmethod=CPING\n",
		   "t.conf:6: BalancerMember hcmethod=CPING: CPING is AJP's, which kbal does not speak");
	expect_err(HEAD "<Proxy balancer://d>\nBalancerMember http://127.0.0.1:2 hctemplate=x\n",
		   "t.conf:6: BalancerMember hctemplate=x: no ProxyHCTemplate x (it must come before "
		   "its use)");
	expect_err(HEAD "ProxyHCExpr bad {%{REQUEST_STATUS} =~ /(/}\n",
		   "t.conf:5: ProxyHCExpr bad: /(/: missing closing parenthesis at 1");
	expect_err(HEAD "<Proxy balancer://d>\nBalancerMember http://127.0.0.1:2 hcexpr=nope\n"
		   "</Proxy>\n", "t.conf:6: BalancerMember http://127.0.0.1:2 hcexpr=nope: no "
		   "ProxyHCExpr nope");
	r = run(HEAD TAIL "ProxyHCExpr ok {%{REQUEST_STATUS} =~ /^[234]/}\n"
		"<Proxy balancer://d>\nBalancerMember http://127.0.0.1:2 hcmethod=GET hcexpr=ok\n"
		"</Proxy>\n");
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_STREQ(r->c->balancers[1].members[0].hc_expr, "ok", "hcexpr=");
	done(r);
	expect_err(HEAD "ProxyHCTemplate t hcmethod=GET route=9\n",
		   "t.conf:5: ProxyHCTemplate t: route=9: only hc* parameters");
}

UNIT_TEST(conf_plain_worker)
{
	/* ProxyPass to a plain http:// URL: mod_proxy's worker, kept as a
	 * one-member balancer named by its URL, shared by the rules naming
	 * the same scheme, host and port; its parameters are a member's, those
	 * of a later rule that shares it ignored with a warning, as httpd */
	struct run *r = run("Listen 8080\n"
			    "ProxyPass /app http://127.0.0.1:9001/app retry=5 connectiontimeout=2\n"
			    "ProxyPass /x http://127.0.0.1:9001/y/ retry=7\n"          /* 3 */
			    "ProxyPassReverse /app http://127.0.0.1:9001/app\n"
			    "ProxyPassMatch ^/m/(.*)$ http://127.0.0.1:9002/n/$1\n"
			    "ProxyPass / http://127.0.0.1:9002\n");
	const struct kbal_conf_balancer *w;

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	ASSERT_EQ(r->c->nbalancers, 2, "two workers: one per scheme, host and port");
	w = &r->c->balancers[0];
	ASSERT_STREQ(w->name, "http://127.0.0.1:9001", "named by its URL");
	ASSERT_EQ(!!(w->flags & KBAL_BF_WORKER), 1, "a worker, not a balancer");
	ASSERT_EQ(!!(w->flags & KBAL_BF_NO_RECOVERY), 1, "no forcerecovery: 503 until retry=");
	ASSERT_EQ(w->nmembers, 1, "its one member");
	ASSERT_STREQ(w->members[0].url, "http://127.0.0.1:9001", "the member's URL");
	ASSERT_EQ(w->members[0].retry_sec, 5, "the first rule's retry=");
	ASSERT_EQ(w->members[0].connect_timeout_ms, 2000, "connectiontimeout=");
	ASSERT_EQ(r->c->pass[0].balancer, 0, "/app on it");
	ASSERT_STREQ(r->c->pass[0].target, "/app", "its path");
	ASSERT_EQ(r->c->pass[1].balancer, 0, "/x shares it");
	ASSERT_STREQ(r->c->pass[1].target, "/y/", "with a path of its own");
	ASSERT_EQ(r->c->reverse[0].balancer, 0, "ProxyPassReverse to the same worker");
	ASSERT_STREQ(r->c->pass[2].target, "/n/$1", "ProxyPassMatch's $1 after the path");
	ASSERT_EQ(r->c->pass[3].balancer, 1, "another port, another worker");
	ASSERT_STREQ(r->c->pass[3].target, "", "no path");
	ASSERT_STREQ(r->warn, "t.conf:3: ProxyPass /x: ignoring retry=7: the worker "
		     "http://127.0.0.1:9001 has its parameters from line 2\n"
		     "t.conf:3: ProxyPass /x http://127.0.0.1:9001/y/: only one of them ends with "
		     "'/', so members get paths with a slash missing or doubled\n"
		     "t.conf:6: ProxyPass / http://127.0.0.1:9002: only one of them ends with '/', "
		     "so members get paths with a slash missing or doubled\n", "warnings");
out:
	done(r);
	expect_err("Listen 8080\nProxyPass / http://127.0.0.1:9001/ lbmethod=bytraffic\n",
		   "t.conf:2: ProxyPass lbmethod=bytraffic: unknown ProxyPass parameter 'lbmethod'");
}

UNIT_TEST(conf_via_and_add_headers)
{
	struct run *r = run(HEAD TAIL "ProxyVia full\nProxyAddHeaders Off\n");

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->via, KBAL_VIA_FULL, "ProxyVia Full, any case");
		ASSERT_EQ(r->c->no_xfwd, 1, "ProxyAddHeaders Off");
	}
	done(r);
	r = run(HEAD TAIL);
	if (ASSERT_EQ(r->rc, 0, r->err))
		ASSERT_EQ(r->c->via == KBAL_VIA_OFF && !r->c->no_xfwd, 1, "httpd's defaults");
	done(r);
	expect_err(HEAD "ProxyVia Maybe\n",
		   "t.conf:5: ProxyVia accepts one of 'Off', 'On', 'Full' or 'Block'");
	expect_err(HEAD "ProxyAddHeaders Sometimes\n",
		   "t.conf:5: ProxyAddHeaders: must be On or Off");
}

/* the head a Set-Cookie line becomes under conf's cookie maps, for a
 * request of virtual host vhost (-1: the server's) */
static void expect_cookie_in(const struct kbal_conf *c, int vhost, const char *line,
			     const char *want)
{
	char head[512], out[512];
	ssize_t n;

	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n%s\r\nX: y\r\n\r\n", line);
	n = kbal_rewrite_cookies(c, vhost, head, strlen(head), out, sizeof(out));
	if (!ASSERT_EQ(n > 0, 1, line))
		return;
	out[n] = '\0';
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n%s\r\nX: y\r\n\r\n", want);
	ASSERT_STREQ(out, head, line);
}

static void expect_cookie(const struct kbal_conf *c, const char *line, const char *want)
{
	expect_cookie_in(c, -1, line, want);
}

UNIT_TEST(conf_cookie_maps)
{
	/* ap_proxy_cookie_reverse_map(): a prefix match replaces the whole
	 * attribute value; the path's is case-sensitive, the domain's not */
	struct run *r = run(HEAD TAIL "ProxyPassReverseCookiePath /app /\n"
			    "ProxyPassReverseCookiePath /x /y\n"
			    "ProxyPassReverseCookieDomain backend.internal www.example.com\n");

	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_EQ(r->c->ncookie_path, 2, "two path maps");
		ASSERT_STREQ(r->c->cookie_path[0].fake, "/app", "the member's path");
		ASSERT_STREQ(r->c->cookie_domain[0].real, "www.example.com", "the client's domain");
		expect_cookie(r->c, "Set-Cookie: s=1; Path=/app/sub; HttpOnly",
			      "Set-Cookie: s=1; Path=/; HttpOnly");
		expect_cookie(r->c, "set-cookie: s=1; path=/App", "set-cookie: s=1; path=/App");
		expect_cookie(r->c, "Set-Cookie: s=1;domain=BACKEND.internal.x;path=/xz",
			      "Set-Cookie: s=1;domain=www.example.com;path=/y");
		expect_cookie(r->c, "Set-Cookie: s=1; path=/x; domain=backend.internal",
			      "Set-Cookie: s=1; path=/y; domain=www.example.com");
		expect_cookie(r->c, "Set-Cookie: s=/app; other=path=/app",
			      "Set-Cookie: s=/app; other=path=/app");
		expect_cookie(r->c, "X-Set-Cookie: s=1; path=/app", "X-Set-Cookie: s=1; path=/app");
	}
	done(r);
	expect_err(HEAD "ProxyPassReverseCookiePath /a\n",
		   "t.conf:5: ProxyPassReverseCookiePath: missing argument");
	expect_err(HEAD "ProxyPassReverseCookieDomain a b interpolate\n",
		   "t.conf:5: ProxyPassReverseCookieDomain: interpolate is not supported by kbal (no "
		   "environment variables)");
}

UNIT_TEST(conf_location_match)
{
	/* <LocationMatch> and <Location ~>: regexes on the decoded path, merged
	 * with the <Location> sections in configuration order; ProxyPass in
	 * one takes its pattern as a regex where httpd does (a wildcard in it) */
	struct run *r = run(HEAD "ProxyPass /balancer-manager !\nProxyPass /status !\n"
			    "<LocationMatch \"^/(balancer-manager|status)$\">\n"     /* 7 */
			    "SetHandler balancer-manager\nRequire all granted\n</LocationMatch>\n"
			    "<Location ~ \"^/status\">\nSetHandler balancer-manager\n"
			    "Require ip 10.0.0.0/8\n</Location>\n"
			    "<LocationMatch \"^/api/(.*)$\">\nProxyPass balancer://c/v1/$1\n"
			    "</LocationMatch>\n"
			    "<LocationMatch ^/plain>\nProxyPass balancer://c/\n</LocationMatch>\n"
			    TAIL);
	const struct kbal_authz *az;

	if (!ASSERT_EQ(r->rc, 0, r->err))
		goto out;
	ASSERT_EQ(r->c->nlocation, 4, "four sections");
	ASSERT_EQ(r->c->location[0].regex && r->c->location[1].regex, 1, "both forms are regexes");
	ASSERT_EQ(kbal_conf_match_location_authz(r->c, -1, "/balancer-manager", 17, &az),
		  KBAL_HANDLER_MANAGER, "the regex section's handler");
	ASSERT_EQ(kbal_conf_match_location_authz(r->c, -1, "/balancer-managerx", 18, &az),
		  KBAL_HANDLER_NONE, "anchored at its end");
	ASSERT_EQ(kbal_conf_match_location(r->c, -1, "/%73tatus?x=1", 13), KBAL_HANDLER_MANAGER,
		  "matched on the decoded path, without the query");
	kbal_conf_match_location_authz(r->c, -1, "/status", 7, &az);
	ASSERT_EQ(az == &r->c->location[1].authz, 1, "the later section's rules, in order");
	ASSERT_EQ(r->c->pass[2].regex, 1, "ProxyPass in a <LocationMatch> with a wildcard: a regex");
	ASSERT_STREQ(r->c->pass[2].path, "^/api/(.*)$", "its pattern");
	ASSERT_EQ(r->c->pass[2].location, 2, "its section");
	ASSERT_EQ(r->c->npass, 4, "none for the pattern without a wildcard");
	ASSERT_STREQ(r->warn, "t.conf:19: ProxyPass inside <LocationMatch ^/plain> never matches, "
		     "as in httpd: a pattern without '*', '?' or '[' is taken as a path prefix; "
		     "write ProxyPassMatch ^/plain ... at server level\n", "warning");
out:
	done(r);
	r = run(HEAD "<LocationMatch ^/private>\nRequire ip 10.0.0.0/8\n</LocationMatch>\n" TAIL);
	ASSERT_EQ(r->rc, 0, r->err);
	ASSERT_EQ(kbal_conf_location_proxied(r->c, 0), 1, "a regex section where a rule proxies");
	done(r);
	expect_err(HEAD "<LocationMatch ^/x/.*>\nProxyPassReverse balancer://c/\n"
		   "</LocationMatch>\n", "t.conf:6: ProxyPassReverse inside <LocationMatch>: httpd "
		   "would write the pattern itself into the answers' Location; give it at server "
		   "level with the path");
}

/* ProxyErrorOverride as mod_proxy's set_proxy_error_override() reads it,
 * and which answers it replaces (ap_proxy_should_override()) */
UNIT_TEST(conf_error_override)
{
	struct run *r;

	expect_err(HEAD "ProxyErrorOverride Yes\n",
		   "t.conf:5: ProxyErrorOverride first parameter must be one of: off | on");
	expect_err(HEAD "ProxyErrorOverride Off 404\n",
		   "t.conf:5: ProxyErrorOverride: status codes must follow a value of 'on'");
	expect_err(HEAD "ProxyErrorOverride On 302\n",
		   "t.conf:5: ProxyErrorOverride: status codes to intercept must be valid HTTP "
		   "Status Codes >=400 && <600");
	expect_err(HEAD "ProxyErrorOverride On 4x\n",
		   "t.conf:5: ProxyErrorOverride: status codes to intercept must be numeric");
	r = run(HEAD "ProxyPass / balancer://c/\nProxyErrorOverride On 404\n"
		"<VirtualHost *:8080>\nProxyErrorOverride On 500\n</VirtualHost>\n"
		"<VirtualHost *:8080>\nServerName b\nProxyErrorOverride Off\n</VirtualHost>\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_TRUE(kbal_conf_error_override(r->c, -1, 0, 404), "server 404");
		ASSERT_TRUE(!kbal_conf_error_override(r->c, -1, 0, 500), "server 500");
		ASSERT_TRUE(kbal_conf_error_override(r->c, 0, 0, 404), "vhost: the server's codes");
		ASSERT_TRUE(kbal_conf_error_override(r->c, 0, 0, 500), "vhost: its own");
		ASSERT_TRUE(!kbal_conf_error_override(r->c, 1, 0, 404), "vhost Off");
		ASSERT_TRUE(kbal_conf_error_override_any(r->c), "any");
	}
	done(r);
	r = run(HEAD "ProxyPass / balancer://c/\nProxyErrorOverride On\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		ASSERT_TRUE(kbal_conf_error_override(r->c, -1, 0, 418), "any 4xx");
		ASSERT_TRUE(kbal_conf_error_override(r->c, -1, 0, 599), "any 5xx");
		ASSERT_TRUE(!kbal_conf_error_override(r->c, -1, 0, 399), "not a 3xx");
	}
	done(r);
	/* in <Location>s: the last set says On or Off, the codes join */
	r = run(HEAD "ProxyPass / balancer://c/\n<Location /a>\nProxyErrorOverride On 404\n"
		"</Location>\n<Location /a/b>\nProxyErrorOverride On 500\n</Location>\n"
		"<Location /a/b/c>\nProxyErrorOverride Off\n</Location>\n");
	if (ASSERT_EQ(r->rc, 0, r->err)) {
		uint32_t a = kbal_conf_match_locations(r->c, -1, "/a/x", 4);
		uint32_t ab = kbal_conf_match_locations(r->c, -1, "/a/b/x", 6);
		uint32_t abc = kbal_conf_match_locations(r->c, -1, "/a/b/c", 6);

		ASSERT_EQ(a, 1u, "/a/x in the first section");
		ASSERT_TRUE(!kbal_conf_error_override(r->c, -1, 0, 404), "outside: Off");
		ASSERT_TRUE(kbal_conf_error_override(r->c, -1, a, 404), "/a: 404");
		ASSERT_TRUE(!kbal_conf_error_override(r->c, -1, a, 500), "/a: not 500");
		ASSERT_TRUE(kbal_conf_error_override(r->c, -1, ab, 404), "/a/b: 404 joined");
		ASSERT_TRUE(kbal_conf_error_override(r->c, -1, ab, 500), "/a/b: 500");
		ASSERT_TRUE(!kbal_conf_error_override(r->c, -1, abc, 404), "/a/b/c: Off");
		ASSERT_TRUE(kbal_conf_error_override_any(r->c), "any");
		ASSERT_TRUE(r->c->error_locations, "error_locations");
	}
	done(r);
}

/* AllowEncodedSlashes: %2F a 404 (Off), a '/' (On), kept (NoDecode) */
UNIT_TEST(conf_encoded_slashes)
{
	char out[64];

	ASSERT_EQ(kbal_conf_uri_path_ex("/a%2Fb", 6, out, sizeof(out), KBAL_SLASHES_OFF),
		  -ENOENT, "Off");
	ASSERT_EQ(kbal_conf_uri_path_ex("/a%2F%2Fb", 9, out, sizeof(out), KBAL_SLASHES_ON), 4,
		  "On: slashes merged");
	ASSERT_STREQ(out, "/a/b", "On");
	ASSERT_EQ(kbal_conf_uri_path_ex("/x/..%2F..%2Fy", 14, out, sizeof(out), KBAL_SLASHES_ON),
		  -ERANGE, "On: above the root");
	ASSERT_EQ(kbal_conf_uri_refused("/x/..%2F..%2Fy", 14, KBAL_SLASHES_ON), 400, "On: 400");
	ASSERT_EQ(kbal_conf_uri_refused("/a%2Fb", 6, KBAL_SLASHES_OFF), 0, "Off: a 404, later");
	ASSERT_EQ(kbal_conf_uri_refused("/a%g1", 5, KBAL_SLASHES_OFF), 400, "a bad escape");
	ASSERT_EQ(kbal_conf_uri_path_ex("/x/..%2fy%41", 12, out, sizeof(out),
					KBAL_SLASHES_NODECODE), 10, "NoDecode");
	ASSERT_STREQ(out, "/x/..%2fyA", "NoDecode: no dot segment");
	expect_err(HEAD "AllowEncodedSlashes Maybe\n",
		   "t.conf:5: AllowEncodedSlashes must be On, Off, or NoDecode, not Maybe");
}
