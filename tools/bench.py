#!/usr/bin/env python3
"""kbal benchmark: kbal against no proxy, HAProxy, nginx and Apache httpd.

`sudo make bench` runs this (python3, standard library only). With
--topology lo (the default) everything runs on 127.0.0.1: two kbal-backends,
then for each target its proxy, started in the foreground from a
configuration written into a temp dir, on free ports. With --topology netns
the same runs cross veth pairs between four network namespaces that the
bench creates (and deletes on every exit path):

    client   10.78.1.2/24  <->  10.78.1.1  balancer (IPv4 forwarding on)
    member1  10.78.2.2/24  <->  10.78.2.1  balancer
    member2  10.78.3.2/24  <->  10.78.3.1  balancer

wrk and the idle client in the client namespace, the proxies in the
balancer's listening on 10.78.1.1, the two kbal-backends in member1 and
member2; the baseline is then "ipfwd": the client straight to member1
through the balancer namespace's plain IP forwarding.
Every run is bounded (wrk -d DURATION, the idle client by a deadline) and
every process this script starts is stopped by its PID on every exit path.

  tools/bench.py                          # 3 rounds of 5 s, all scenarios and targets
  tools/bench.py --quick                  # 1 round of 2 s, for development
  tools/bench.py --targets kbal,haproxy --scenarios ka-small,idle --rounds 5
  tools/bench.py --topology netns         # across veths, against IP forwarding

The medians are printed as markdown and written into docs/benchmarks.md
("Latest results" for lo, "Latest results (namespace topology)" for netns:
that section is replaced, or added at the end; the rest is kept).
docs/benchmarks.md describes the method.
"""

import argparse
import contextlib
import ctypes
import datetime
import errno
import json
import os
import pwd
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, 'tools', 'bench')
BUILD = os.path.join(ROOT, 'build')
KBALD = os.path.join(BUILD, 'kbald')
BACKEND = os.path.join(BUILD, 'kbal-backend')
LOAD = os.path.join(BUILD, 'kbal-load')
KBALCTL = os.path.join(BUILD, 'kbalctl')
EXAMPLE = os.path.join(ROOT, 'docs', 'examples', 'apache-balancer.conf')
DOC = os.path.join(ROOT, 'docs', 'benchmarks.md')
RESULTS_HEADING = '## Latest results'
NETNS_RESULTS_HEADING = '## Latest results (namespace topology)'
APACHE_MODULES_DIR = '/usr/lib/apache2/modules'
POLICY_RC_D = '/usr/sbin/policy-rc.d'
BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled'

ALL_TARGETS = ['noproxy', 'noproxy1', 'kbal', 'kbal-packet', 'kbal-packet1', 'haproxy', 'nginx',
               'apache', 'kbal-b', 'kbal-packet-b', 'kbal-packet1-b']
# kbal-packet: KbalSplice packet on Apache's example (two members: since
# 2026-12-06 the packet path joins keep-alive connections and its program
# decides each request and judges each answer's head, docs/packet.md,
# "Each request decided"; before, they were framed on sockmap);
# kbal-packet1: the example with one member (kbal_conf_packet_alike(): the
# configuration decides every later request alike), against noproxy1 (one
# member, the baseline until 2026-12-03);
# kbal-b, kbal-packet-b and kbal-packet1-b (another kbald binary,
# --kbald-b: an A/B run)
DEFAULT_TARGETS = [t for t in ALL_TARGETS if not t.endswith('-b')]
KBALD_B = None                # --kbald-b: the B side's kbald


def kbal_kind(target):
    """'kbal' (the sockmap path), 'kbal-packet', or None: what a kbal
    target runs, whichever binary (A: build/kbald, B: --kbald-b)."""
    return {'kbal': 'kbal', 'kbal-b': 'kbal', 'kbal-packet': 'kbal-packet',
            'kbal-packet1': 'kbal-packet', 'kbal-packet-b': 'kbal-packet',
            'kbal-packet1-b': 'kbal-packet'}.get(target)


def packet1(target):
    """kbal-packet1 on either binary: the one-member configuration"""
    return target in ('kbal-packet1', 'kbal-packet1-b')


def decided(target):
    """kbal-packet on either binary: the example, each request decided by
    the packet program (its count is pkt_kept)"""
    return target in ('kbal-packet', 'kbal-packet-b')


def one_member_conf(text):
    """example_conf()'s text made one the packet path joins keep-alive
    connections of (kbal-packet1): WAS2, the manager, the Set-Cookie Header
    and ProxyPassReverse left out (as tests/e2e kbaltest.packet_alike())."""
    text = re.sub(r'^<Location /balancer-manager>\n.*?^</Location>\n', '', text,
                  flags=re.M | re.S)
    drop = re.compile(r'^(Header add Set-Cookie|ProxyPassReverse|ProxyPass /balancer-manager !|'
                      r'# WAS2$|BalancerMember .* route=2)')
    return '\n'.join(l for l in text.split('\n') if not drop.match(l))


def kbald_of(target):
    return KBALD_B if target.endswith('-b') else KBALD
ALL_SCENARIOS = ['ka-small', 'ka-sticky', 'ka-browser', 'two-rules', 'new-conn', 'conn2', '1m', '1m-sticky', 'upload',
                 'idle']
ALL_TOPOLOGIES = ['lo', 'netns']

# --topology netns: the namespaces' roles, the balancer's address toward
# each (x.1) and each one's own (x.2); /24s, default routes via the balancer
NETNS_DIR = '/run/netns'
NETNS_SUBNETS = {'client': '10.78.1', 'member1': '10.78.2', 'member2': '10.78.3'}
# ipfwd's address: held by both members, routed by the balancer over both
NETNS_SHARED = '10.78.9.1'
NETNS_SHARED_PORT = 18090
NETNS_SUFFIX = {'client': 'c', 'balancer': 'b', 'member1': 'm1', 'member2': 'm2'}
CLONE_NEWNET = 0x40000000
NETNS_CMD_TIMEOUT = 10.0      # each ip/sysctl command while setting up, bounded

BROWSER_UA = ('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
              'Chrome/131.0.0.0 Safari/537.36')
# Debian's /etc/apache2/mods-available/setenvif.conf, as apache2 ships it
DEBIAN_BROWSERMATCH = [
    'BrowserMatch "Mozilla/2" nokeepalive',
    'BrowserMatch "MSIE 4\\.0b2;" nokeepalive downgrade-1.0 force-response-1.0',
    'BrowserMatch "RealPlayer 4\\.0" force-response-1.0',
    'BrowserMatch "Java/1\\.0" force-response-1.0',
    'BrowserMatch "JDK/1\\.0" force-response-1.0',
    'BrowserMatch "Microsoft Data Access Internet Publishing Provider" redirect-carefully',
    'BrowserMatch "MS FrontPage" redirect-carefully',
    'BrowserMatch "^WebDrive" redirect-carefully',
    'BrowserMatch "^WebDAVFS/1\\.[012]" redirect-carefully',
    'BrowserMatch "^gnome-vfs/1\\.0" redirect-carefully',
    'BrowserMatch "^gvfs/1" redirect-carefully',
    'BrowserMatch "^XML Spy" redirect-carefully',
    'BrowserMatch "^Dreamweaver-WebDAV-SCM1" redirect-carefully',
    'BrowserMatch " Konqueror/4" redirect-carefully',
]

# wrk scenarios: connections, path, extra headers, lua script (tools/bench/);
# extra: lines added to kbal's and Apache's configuration;
# conf: the proxies' configuration, when not the default one (start_peer)
WRK_SCENARIOS = {
    'ka-small': dict(conns=50, path='/', headers=[], script='report.lua',
                     title='keep-alive, small responses, 50 connections'),
    # what a browser sends once it has the route cookie: kbal's kernel keeps
    # these requests (without it, Apache's example sets the cookie on every
    # answer, so kbald decides each request: ka-small)
    'ka-sticky': dict(conns=50, path='/', headers=['Cookie: ROUTEID=route.1'],
                      script='report.lua',
                      title='keep-alive, small responses, every request with the route cookie '
                            'of member 1, 50 connections'),
    # ka-sticky as a browser sends it, to a configuration with Debian's
    # setenvif.conf: its BrowserMatch lines read the User-Agent, so the
    # kernel keeps a request only with the User-Agent kbald decided for
    # (a hash of it, each kept request's compared)
    'ka-browser': dict(conns=50, path='/', headers=['Cookie: ROUTEID=route.1', 'User-Agent: '
                                                    + BROWSER_UA],
                       script='report.lua', extra=DEBIAN_BROWSERMATCH,
                       title="keep-alive, small responses, the route cookie of member 1 and a "
                             "browser's User-Agent, Debian's BrowserMatch lines, 50 connections"),
    # two balancers, one per path prefix (conf two-rules: /api/ to member 1
    # only, the rest to member 2 only); alternate.lua counts an answer from
    # the other member as misrouted. The baseline cannot route: it is the
    # usual one, both members on one port, its answers not checked
    'two-rules': dict(conns=50, path='/', headers=[], script='alternate.lua',
                      conf='two-rules',
                      title='keep-alive, small responses, each connection alternating '
                            '/api/x (member 1) and / (member 2), two balancers, 50 '
                            'connections (the baseline does not route: both members, '
                            'paths unchecked)'),
    'new-conn': dict(conns=50, path='/', headers=['Connection: close'],
                     script='report.lua',
                     title='a new connection per request (Connection: close), 50 connections'),
    '1m': dict(conns=8, path='/bytes/1048576', headers=[], script='report.lua',
               title='1 MiB responses, keep-alive, 8 connections'),
    # the same with the route cookie: kbal's kernel keeps these, and splices
    # the answers (1m without it measures kbald's copy on Apache's example)
    '1m-sticky': dict(conns=8, path='/bytes/1048576', headers=['Cookie: ROUTEID=route.1'],
                      script='report.lua',
                      title='1 MiB responses, keep-alive, the route cookie of member 1, '
                            '8 connections'),
    'upload': dict(conns=8, path='/', headers=[], script='upload.lua',
                   title='1 MiB POST bodies, keep-alive, 8 connections'),
    # wrk has no per-connection request count: build/kbal-load (tools/kbal-load.c)
    'conn2': dict(conns=50, path='/', requests=2, tool='kbal-load',
                  title='two requests per connection, the second with Connection: close, '
                        '50 connections (what a connection and its handover cost: '
                        'CPU per connection is twice the CPU per request)'),
}

NOFILE = 65536
CLK_TCK = os.sysconf('SC_CLK_TCK')
PEER_START_TIMEOUT = 5.0      # LISTEN in /proc/net/tcp, bounded
IDLE_DEADLINE = 60.0          # the whole idle client, bounded
IDLE_WINDOW = 256             # connections being opened at once
IDLE_STALL = 10.0             # give up when no response completes for this long
QUIET_LIMIT = 0.15            # busy CPUs of others tolerated before a run ...
QUIET_WAIT = 20.0             # ... waiting at most this long per run for it
QUIET_BUDGET = 300.0          # ... and this long over the whole bench

# (binary, Debian packages to try in order) per target; wrk for all
PACKAGES = {
    'wrk': ('/usr/bin/wrk', ['wrk']),
    'haproxy': ('/usr/sbin/haproxy', ['haproxy']),
    'nginx': ('/usr/sbin/nginx', ['nginx-light', 'nginx']),
    'apache': ('/usr/sbin/apache2', ['apache2']),
}
DISTRO_DAEMONS = ('haproxy', 'nginx', 'apache2')
KBAL_EXTRA_CONF = []          # --kbal-conf: directives added to kbal's configuration


class Interrupted(Exception):
    pass


class RunError(Exception):
    pass


class State:
    """Everything that must be undone on exit."""

    def __init__(self):
        self.procs = []          # Proc objects still running
        self.tmpdir = None
        self.keep_tmpdir = False  # --keep-logs
        self.pins = set()        # pin dirs we asked kbald to create
        self.sockets = set()     # idle-client sockets
        self.policy_restore = None
        self.cleaning = False
        self.notes = []          # anything odd, for the report
        self.kbald_stops = 0     # kbald stopped with SIGTERM ...
        self.kbald_pins_left = 0  # ... and how often its pin dir was left
        self.lo_clsact_before = False  # a clsact qdisc on lo that is not ours
        self.bpf_stats_before = None   # kernel.bpf_stats_enabled to restore
        self.netns = []          # namespaces we (are about to) create, to delete
        self.home_ns_fd = None   # our own network namespace, to return to


STATE = State()


def log(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


def note(msg):
    log('NOTE: ' + msg)
    STATE.notes.append(msg)


def on_signal(signum, _frame):
    if STATE.cleaning:
        return
    raise Interrupted(signal.Signals(signum).name)


# ------------------------------------------------------------- topology ----

_LIBC = None


def setns_net(fd):
    """setns(fd, CLONE_NEWNET) for this thread (we have only the one)."""
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    if _LIBC.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, 'setns: ' + os.strerror(e))


class Topology:
    """Where each party runs and at which address.

    lo: all in our own namespace on 127.0.0.1. netns: the client (wrk, the
    idle client), the balancer (the proxies) and member1/member2 (the
    kbal-backends) each in a namespace of its own (see netns_up)."""

    def __init__(self, kind):
        self.kind = kind
        if kind == 'lo':
            self.ns = {}
            self.proxy_addr = '127.0.0.1'
            self.member_addrs = ['127.0.0.1', '127.0.0.1']
            self.baseline = 'noproxy'
        else:
            self.ns = {r: 'kbb%d%s' % (os.getpid(), x) for r, x in NETNS_SUFFIX.items()}
            self.proxy_addr = NETNS_SUBNETS['client'] + '.1'
            self.member_addrs = [NETNS_SUBNETS['member1'] + '.2',
                                 NETNS_SUBNETS['member2'] + '.2']
            self.baseline = 'ipfwd'

    def name(self, target):
        """A target as the report names it: noproxy is ipfwd in netns."""
        return self.baseline if target == 'noproxy' else target

    def wrap(self, role, argv):
        """argv to run in role's namespace (nsenter --net: the mount
        namespace, and so /sys and /sys/fs/bpf, stay ours; nsenter execs
        argv, so the PID is argv's)."""
        if not self.ns:
            return argv
        return ['nsenter', '--net=' + os.path.join(NETNS_DIR, self.ns[role]), '--'] + argv

    @contextlib.contextmanager
    def enter(self, role):
        """This thread in role's namespace for the with block (sockets made
        in it stay there), then back in ours."""
        if not self.ns:
            yield
            return
        fd = os.open(os.path.join(NETNS_DIR, self.ns[role]), os.O_RDONLY)
        try:
            setns_net(fd)
        finally:
            os.close(fd)
        try:
            yield
        finally:
            setns_net(STATE.home_ns_fd)

    def describe(self):
        return ('four network namespaces joined by veth pairs (offloads at their '
                'defaults): client %s.2 <-> %s.1 balancer (IPv4 forwarding on) %s.1 '
                '<-> %s.2 member1, %s.1 <-> %s.2 member2; wrk and the idle client in '
                'the client, the proxies in the balancer listening on %s, a '
                'kbal-backend in each member; ipfwd: the client to %s, an address '
                'both members hold on lo, which the balancer forwards to either '
                '(one route with two next hops, hashed on addresses and ports)' % (
                    NETNS_SUBNETS['client'], NETNS_SUBNETS['client'],
                    NETNS_SUBNETS['member1'], NETNS_SUBNETS['member1'],
                    NETNS_SUBNETS['member2'], NETNS_SUBNETS['member2'], self.proxy_addr,
                    NETNS_SHARED))


TOPO = Topology('lo')


def ns_cmd(argv):
    """Run a setup command to completion, bounded; raise on failure."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=NETNS_CMD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit('bench: %s: no end after %.0f s' % (' '.join(argv), NETNS_CMD_TIMEOUT))
    if r.returncode != 0:
        raise SystemExit('bench: %s exited %d: %s' % (' '.join(argv), r.returncode,
                                                       r.stdout.decode(errors='replace').strip()))
    return r.stdout.decode(errors='replace')


def netns_up(topo):
    """Create topo's four namespaces and their veth pairs (see the module
    docstring). Each name is registered in STATE.netns before it is created,
    so that cleanup() deletes it on every exit path."""
    for role, name in topo.ns.items():
        if os.path.exists(os.path.join(NETNS_DIR, name)):
            raise SystemExit('bench: network namespace %s exists already (not made by this '
                             'run: left alone); delete it (ip netns del %s) if it is a '
                             'leftover' % (name, name))
    for role in ('balancer', 'client', 'member1', 'member2'):
        STATE.netns.append(topo.ns[role])
        ns_cmd(['ip', 'netns', 'add', topo.ns[role]])
    bal = topo.ns['balancer']
    ns_cmd(topo.wrap('balancer', ['ip', 'link', 'set', 'lo', 'up']))
    for role in ('client', 'member1', 'member2'):
        net = NETNS_SUBNETS[role]
        bdev, dev = 'to-' + role, 'to-balancer'
        ns_cmd(topo.wrap('balancer', ['ip', 'link', 'add', bdev, 'type', 'veth', 'peer',
                                      'name', dev, 'netns', topo.ns[role]]))
        ns_cmd(topo.wrap('balancer', ['ip', 'addr', 'add', net + '.1/24', 'dev', bdev]))
        ns_cmd(topo.wrap('balancer', ['ip', 'link', 'set', bdev, 'up']))
        ns_cmd(topo.wrap(role, ['ip', 'link', 'set', 'lo', 'up']))
        ns_cmd(topo.wrap(role, ['ip', 'addr', 'add', net + '.2/24', 'dev', dev]))
        ns_cmd(topo.wrap(role, ['ip', 'link', 'set', dev, 'up']))
        ns_cmd(topo.wrap(role, ['ip', 'route', 'add', 'default', 'via', net + '.1']))
    ns_cmd(topo.wrap('balancer', ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']))
    # ipfwd over both members: NETNS_SHARED on each member's lo, and one
    # route to it over both in the balancer, a flow's next hop chosen by a
    # hash of its ports and addresses (ECMP, L4 policy)
    for role in ('member1', 'member2'):
        ns_cmd(topo.wrap(role, ['ip', 'addr', 'add', NETNS_SHARED + '/32', 'dev', 'lo']))
    ns_cmd(topo.wrap('balancer', ['sysctl', '-q', '-w',
                                  'net.ipv4.fib_multipath_hash_policy=1']))
    ns_cmd(topo.wrap('balancer', ['ip', 'route', 'add', NETNS_SHARED + '/32'] + [
        w for role in ('member1', 'member2')
        for w in ('nexthop', 'via', NETNS_SUBNETS[role] + '.2', 'dev', 'to-' + role)]))
    log('namespaces %s (%s forwards)' % (
        ', '.join('%s %s' % (r, n) for r, n in topo.ns.items()), bal))


def netns_down():
    """Delete the namespaces we created (their veths go with them)."""
    for name in list(STATE.netns):
        if os.path.exists(os.path.join(NETNS_DIR, name)):
            rc, out = run_quiet(['ip', 'netns', 'del', name])
            if rc != 0:
                log('cleanup: ip netns del %s: %s' % (name, out.strip()))
                continue
        STATE.netns.remove(name)


# ---------------------------------------------------------------- /proc ----

def read(path, default=''):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def proc_stat_fields(pid):
    """(ppid, starttime) of a process, or None."""
    s = read('/proc/%d/stat' % pid)
    if not s:
        return None
    rest = s[s.rfind(')') + 2:].split()
    return int(rest[1]), int(rest[19])


def descendants(pid):
    """[(pid, starttime)] of every descendant of pid."""
    children = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        f = proc_stat_fields(int(d))
        if f:
            children.setdefault(f[0], []).append((int(d), f[1]))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c[0])
    return out


def tree_rss_kib(pid):
    """VmRSS of pid and all its descendants, KiB."""
    total = 0
    for p in [pid] + [c for c, _ in descendants(pid)]:
        m = re.search(r'^VmRSS:\s+(\d+) kB', read('/proc/%d/status' % p), re.M)
        if m:
            total += int(m.group(1))
    return total


def machine_mem_kib():
    """(used, slab) KiB: MemTotal - MemAvailable, and the kernel's slab
    (where socket structures live)."""
    m = dict(re.findall(r'^(\w+):\s+(\d+) kB', read('/proc/meminfo'), re.M))
    return (int(m['MemTotal']) - int(m['MemAvailable']),
            int(m['SReclaimable']) + int(m['SUnreclaim']))


def cpu_jiffies():
    """(busy, softirq) jiffies summed over all CPUs: busy is everything but
    idle and iowait (guest time is already inside user)."""
    f = [int(x) for x in read('/proc/stat').splitlines()[0].split()[1:]]
    f += [0] * (8 - len(f))
    user, nice, system, _idle, _iowait, irq, softirq, steal = f[:8]
    return user + nice + system + irq + softirq + steal, softirq


def task_jiffies(pid):
    """utime + stime of a process (all its threads), 0 once it is gone.
    Tick accounting (no IRQ_TIME_ACCOUNTING here): a softirq is charged to
    the task it interrupted as well as to /proc/stat's softirq."""
    st = read('/proc/%d/stat' % pid)
    if not st:
        return 0
    rest = st[st.rfind(')') + 2:].split()
    return int(rest[11]) + int(rest[12])


def kernel_thread_jiffies():
    """{'kworker': j, 'ksoftirqd': j}: CPU time of those kernel threads
    now (sk_psock_backlog, which sends every sockmap-redirected skb, runs
    in kworkers; softirqs deferred under load in ksoftirqd)."""
    out = {'kworker': 0, 'ksoftirqd': 0}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        comm = read('/proc/%s/comm' % d).strip()
        kind = 'kworker' if comm.startswith('kworker') else \
            'ksoftirqd' if comm.startswith('ksoftirqd') else None
        if kind:
            out[kind] += task_jiffies(int(d))
    return out


def cpu_snapshot(pids):
    """Everything the breakdown compares: /proc/stat, kernel threads, and
    the processes in pids ({role: [pid]})."""
    busy, soft = cpu_jiffies()
    snap = {'busy': busy, 'softirq': soft}
    snap.update(kernel_thread_jiffies())
    for role, ps in pids.items():
        snap[role] = sum(task_jiffies(p) for p in ps if p)
    return snap


def listening(port, addr='127.0.0.1'):
    """A LISTEN socket on addr:port (or the wildcard) in this thread's
    network namespace."""
    want = ':%04X' % port
    hexaddr = '%08X' % int.from_bytes(socket.inet_aton(addr), sys.byteorder)
    for path in ('/proc/thread-self/net/tcp',):
        for line in read(path).splitlines()[1:]:
            f = line.split()
            if len(f) > 3 and f[3] == '0A' and f[1].endswith(want) and \
                    f[1].split(':')[0] in (hexaddr, '00000000'):
                return True
    return False


def daemon_pids():
    """PIDs of haproxy/nginx/apache2 processes on the machine (to report
    distro services we did not start; we never touch them)."""
    out = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            comm = read('/proc/%s/comm' % d).strip()
            if comm in DISTRO_DAEMONS:
                out[int(d)] = comm
    return out


# ------------------------------------------------------------ processes ----

class Proc:
    """A process we started, in its own session (a terminal's Ctrl-C reaches
    only us; we stop it ourselves), output in a log file."""

    def __init__(self, name, argv, logpath, env=None):
        self.name = name
        self.argv = argv
        self.logpath = logpath
        self.logf = open(logpath, 'wb')
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=self.logf, stderr=subprocess.STDOUT,
                                  env=env, start_new_session=True)
        self.pid = self.p.pid
        STATE.procs.append(self)

    def alive(self):
        return self.p.poll() is None

    def log_tail(self, n=15):
        lines = read(self.logpath).splitlines()
        return '\n'.join('    ' + x for x in lines[-n:])

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after timeout; descendants that outlive it
        (same PID and start time as before) get SIGKILL. Returns the exit code."""
        if self.alive():
            kids = descendants(self.pid)
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                note('%s (pid %d) stuck: state %s, wchan %s, kernel stack %s'
                     % (self.name, self.pid, read_proc(self.pid, 'stat').split(')')[-1].split()[:1],
                        read_proc(self.pid, 'wchan'),
                        ' < '.join(l.split(' ', 1)[-1] for l in
                                   read_proc(self.pid, 'stack').splitlines()[:12])))
                note('%s (pid %d) ignored SIGTERM for %.0f s: SIGKILL'
                     % (self.name, self.pid, timeout))
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(5)
            deadline = time.monotonic() + 3
            for kpid, start in kids:
                while time.monotonic() < deadline:
                    f = proc_stat_fields(kpid)
                    if not f or f[1] != start:
                        break
                    time.sleep(0.02)
                f = proc_stat_fields(kpid)
                if f and f[1] == start:
                    note('%s child %d outlived it: SIGKILL' % (self.name, kpid))
                    try:
                        os.kill(kpid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if not self.logf.closed:
            self.logf.close()
        if self in STATE.procs:
            STATE.procs.remove(self)
        return self.p.returncode


def cleanup():
    STATE.cleaning = True
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if STATE.home_ns_fd is not None:
        try:        # a signal may have come inside a Topology.enter block
            setns_net(STATE.home_ns_fd)
        except OSError as e:
            log('cleanup: back to our network namespace: %s' % e)
    for s in STATE.sockets:
        try:
            s.close()
        except OSError:
            pass
    STATE.sockets = set()
    for p in reversed(list(STATE.procs)):
        try:
            p.stop(timeout=5)
        except Exception as e:  # keep cleaning whatever happens
            log('cleanup: stopping %s (pid %d): %s' % (p.name, p.pid, e))
    for pin in STATE.pins:
        if os.path.exists(pin):
            log('cleanup: removing leftover pin dir %s' % pin)
            shutil.rmtree(pin, ignore_errors=True)
    try:
        netns_down()
    except Exception as e:  # keep cleaning whatever happens
        log('cleanup: deleting namespaces %s: %s' % (', '.join(STATE.netns), e))
    if STATE.bpf_stats_before is not None:
        try:
            with open(BPF_STATS, 'w') as f:
                f.write(STATE.bpf_stats_before)
        except OSError as e:
            log('cleanup: restoring %s: %s' % (BPF_STATS, e))
        STATE.bpf_stats_before = None
    if STATE.policy_restore:
        try:
            STATE.policy_restore()
        except OSError as e:
            log('cleanup: restoring %s: %s' % (POLICY_RC_D, e))
        STATE.policy_restore = None
    if STATE.tmpdir and os.path.isdir(STATE.tmpdir):
        if STATE.keep_tmpdir:
            log('kept the peers\' configurations and logs in %s' % STATE.tmpdir)
        else:
            shutil.rmtree(STATE.tmpdir, ignore_errors=True)


# ------------------------------------------------------------- packages ----

def run_quiet(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=30)
        return r.returncode, r.stdout.decode(errors='replace')
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)


def block_service_starts():
    """policy-rc.d that exits 101 while we install: the packages' services
    must not start. An existing one that already says 101 is left as is."""
    mine = ('#!/bin/sh\n# kbal tools/bench.py: no service starts while it '
            'installs packages; removed afterwards\nexit 101\n')
    old = None
    if os.path.exists(POLICY_RC_D):
        content = read(POLICY_RC_D)
        if os.access(POLICY_RC_D, os.X_OK) and re.search(r'^\s*exit 101\s*$', content, re.M) \
                and 'exit 0' not in content:
            return
        st = os.stat(POLICY_RC_D)
        with open(POLICY_RC_D, 'rb') as f:
            old = (f.read(), st.st_mode & 0o7777)

    def restore():
        if old is None:
            os.unlink(POLICY_RC_D)
        else:
            with open(POLICY_RC_D, 'wb') as f:
                f.write(old[0])
            os.chmod(POLICY_RC_D, old[1])

    with open(POLICY_RC_D, 'w') as f:
        f.write(mine)
    os.chmod(POLICY_RC_D, 0o755)
    STATE.policy_restore = restore


def ensure_packages(targets):
    need = ['wrk'] + [t for t in targets if t in PACKAGES]
    missing = [n for n in need if not os.access(PACKAGES[n][0], os.X_OK)]
    if not missing:
        return
    before = daemon_pids()
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    block_service_starts()
    try:
        log('apt-get update (missing: %s)' % ', '.join(missing))
        subprocess.run(['apt-get', 'update', '-q'], check=True, env=env,
                       stdin=subprocess.DEVNULL, stdout=sys.stderr)
        pkgs = []
        for n in missing:
            cands = PACKAGES[n][1]
            pick = cands[-1]
            for c in cands:
                rc, out = run_quiet(['apt-cache', 'show', '--no-all-versions', c])
                if rc == 0 and 'Package:' in out:
                    pick = c
                    break
            pkgs.append(pick)
        log('apt-get install %s' % ' '.join(pkgs))
        subprocess.run(['apt-get', 'install', '-y', '-q', '--no-install-recommends'] + pkgs,
                       check=True, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr)
    finally:
        if STATE.policy_restore:
            STATE.policy_restore()
            STATE.policy_restore = None
    started = {p: c for p, c in daemon_pids().items() if p not in before}
    if started:
        note('the package install started services anyway (left alone, not ours): %s'
             % ', '.join('%s pid %d' % (c, p) for p, c in sorted(started.items())))
    still = [n for n in missing if not os.access(PACKAGES[n][0], os.X_OK)]
    if still:
        raise SystemExit('bench: still missing after install: %s' % ', '.join(still))


def versions(targets):
    v = {}
    rc, out = run_quiet(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])
    if rc == 0:
        dirty = run_quiet(['git', '-C', ROOT, 'status', '--porcelain', '--',
                           'user', 'bpf', 'include'])[1].strip()
        v['kbal'] = 'kbal ' + out.strip() + (' (+ uncommitted changes)' if dirty else '')
    v['wrk'] = run_quiet(['wrk', '-v'])[1].split(' Copyright')[0].strip()
    if 'haproxy' in targets:
        v['haproxy'] = run_quiet(['haproxy', '-v'])[1].splitlines()[0].split(' - ')[0]
    if 'nginx' in targets:
        v['nginx'] = run_quiet(['nginx', '-v'])[1].strip().replace('nginx version: ', '')
    if 'apache' in targets:
        m = re.search(r'Server version: (.*)', run_quiet(['apache2', '-v'])[1])
        v['apache'] = m.group(1).strip() if m else 'apache2'
    return v


# ---------------------------------------------------------------- peers ----

def free_port(addr='127.0.0.1'):
    """A free port on addr, in this thread's network namespace."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((addr, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def http_get(port, path='/', timeout=3.0, addr='127.0.0.1'):
    """One request on a fresh connection (Connection: close); the raw reply.
    The connection is made in this thread's network namespace."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.sendall(('GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n'
                   % (path, addr, port)).encode())
        data = b''
        while len(data) < 1 << 20 and time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
    return data


def template(name, **subs):
    with open(os.path.join(BENCH_DIR, name)) as f:
        text = f.read()
    for k, v in subs.items():
        text = text.replace('@%s@' % k, str(v))
    left = re.findall(r'@[A-Z0-9]+@', text)
    if left:
        raise RunError('%s: unfilled %s' % (name, ', '.join(sorted(set(left)))))
    return text


def example_conf(addr, port, backends, for_apache):
    """docs/examples/apache-balancer.conf with our addresses: Listen ->
    addr:port, the BalancerMembers -> the backends ((addr, port) pairs) in
    order; for Apache the module paths become absolute."""
    with open(EXAMPLE) as f:
        lines = f.read().splitlines()
    out, i = [], 0
    for line in lines:
        if re.match(r'\s*Listen\s', line, re.I):
            line = 'Listen %s:%d' % (addr, port)
        m = re.match(r'(\s*BalancerMember\s+http://)[^/\s]+(.*)', line, re.I)
        if m:
            line = '%s%s:%d%s' % ((m.group(1),) + backends[i % len(backends)] + (m.group(2),))
            i += 1
        if for_apache:
            line = re.sub(r'^(\s*LoadModule\s+\S+\s+)modules/', r'\1%s/' % APACHE_MODULES_DIR,
                          line, flags=re.I)
        out.append(line)
    return '\n'.join(out) + '\n'


_APACHE_BUILTIN = None


def two_rules_conf(text, backends):
    """example_conf()'s text with its balancer split in two by path (the
    two-rules scenario): balancer://api holds member 1 (route=1) for /api/,
    balancer://app member 2 (route=2) for the rest; neither sticky (one
    member each). The rest of the example is kept."""
    (a1, p1), (a2, p2) = backends[:2]
    balancers = ('<Proxy balancer://api>\n# WAS1\nBalancerMember http://%s:%d route=1\n'
                 'ProxySet lbmethod=byrequests\n</Proxy>\n'
                 '<Proxy balancer://app>\n# WAS2\nBalancerMember http://%s:%d route=2\n'
                 'ProxySet lbmethod=byrequests\n</Proxy>\n' % (a1, p1, a2, p2))
    rules = ('ProxyPass /balancer-manager !\n'
             'ProxyPass /api/ balancer://api/api/\n'
             'ProxyPass / balancer://app/\n'
             'ProxyPassReverse /api/ balancer://api/api/\n'
             'ProxyPassReverse / balancer://app/\n')
    text, n1 = re.subn(r'^<Proxy balancer://mycluster>\n.*?^</Proxy>\n', lambda m: balancers,
                       text, flags=re.M | re.S)
    text, n2 = re.subn(r'^ProxyPass /balancer-manager !\n(?:ProxyPass(?:Reverse)? / '
                       r'balancer://mycluster/\n)+', lambda m: rules, text, flags=re.M)
    if (n1, n2) != (1, 1):
        raise RunError('two-rules: %s no longer has the balancer and rules this expects'
                       % os.path.relpath(EXAMPLE, ROOT))
    return text


def apache_loadmodules(example_text, extra=()):
    """LoadModule lines for what httpd needs beyond what the example loads,
    skipping modules compiled into Debian's apache2 (apache2 -l)."""
    global _APACHE_BUILTIN
    if _APACHE_BUILTIN is None:
        _APACHE_BUILTIN = set(re.findall(r'mod_(\w+)\.c', run_quiet(['apache2', '-l'])[1]))
    loaded = set(re.findall(r'^\s*LoadModule\s+(\w+)_module', example_text, re.M | re.I))
    want = ['mpm_event', 'unixd', 'authz_core', 'access_compat', 'headers', 'proxy',
            'proxy_http', 'proxy_balancer', 'slotmem_shm', 'lbmethod_byrequests']
    if any(line.startswith('BrowserMatch') for line in extra):
        want.append('setenvif')
    out = []
    for m in want:
        if m in loaded or m in _APACHE_BUILTIN:
            continue
        out.append('LoadModule %s_module %s/mod_%s.so' % (m, APACHE_MODULES_DIR, m))
    return '\n'.join(out)


def apache_user():
    for u in ('www-data', 'daemon'):
        try:
            pw = pwd.getpwnam(u)
            import grp
            return u, grp.getgrgid(pw.pw_gid).gr_name
        except KeyError:
            continue
    return 'nobody', 'nogroup'


def conf_template(name, conf_kind):
    """haproxy.cfg.in, or haproxy.KIND.cfg.in for a scenario's own conf."""
    if not conf_kind:
        return name
    base, ext = name.split('.', 1)
    return '%s.%s.%s' % (base, conf_kind, ext)


class Peer:
    def __init__(self, target, addr, port, proc, pin=None):
        self.target, self.addr, self.port, self.proc, self.pin = target, addr, port, proc, pin


def start_peer(target, backends, rundir, conf_kind=None, extra=()):
    """target in the balancer's namespace on a free port of
    TOPO.proxy_addr, proxying to backends ((addr, port) pairs).
    conf_kind: a scenario's own configuration (its conf key), e.g.
    'two-rules': tools/bench/NAME.two-rules.EXT.in for haproxy and nginx,
    two_rules_conf() for kbal and Apache; None: the default one. extra:
    lines added to kbal's and Apache's configuration (a scenario's)."""
    os.makedirs(rundir, exist_ok=True)
    addr = TOPO.proxy_addr
    with TOPO.enter('balancer'):
        port = free_port(addr)
    env = dict(os.environ, LANG='C', LC_ALL='C')
    pin = None
    b1, b2 = ['%s:%d' % b for b in backends[:2]]
    if kbal_kind(target):
        conf = os.path.join(rundir, 'kbal.conf')
        text = example_conf(addr, port, backends, for_apache=False)
        if conf_kind == 'two-rules':
            text = two_rules_conf(text, backends)
        elif packet1(target):
            text = one_member_conf(text)
        # kbal: the sockmap path; kbal-packet: the packet-level splice
        # where eligible (tcx on lo, or on the interfaces of the flow's
        # addresses), kbal's default, said explicitly here
        # the idle keep-alive wait the other peers are given here (their
        # configurations: 120 s), in Apache's directive (default 5 s), and
        # no bound on a connection's requests, as Apache's peer here
        # (MaxKeepAliveRequests 0: apache.conf.in; the default 100 closes
        # a connection after its 101st)
        text = text.replace('ProxyPreserveHost On', 'ProxyPreserveHost On\nKeepAliveTimeout 120'
                            '\nMaxKeepAliveRequests 0')
        text = text.replace('ProxySet lbmethod=byrequests',
                            'ProxySet lbmethod=byrequests\nKbalSplice %s'
                            % ('packet' if kbal_kind(target) == 'kbal-packet' else 'sockmap')
                            + ''.join('\n' + line for line in KBAL_EXTRA_CONF))
        text += ''.join('\n' + line for line in extra)
        with open(conf, 'w') as f:
            f.write(text)
        pin = '/sys/fs/bpf/kbal-bench-%d' % os.getpid()
        if os.path.exists(pin):
            note('pin dir %s existed before kbald started: removed' % pin)
            shutil.rmtree(pin, ignore_errors=True)
        STATE.pins.add(pin)
        argv = [kbald_of(target), '-f', conf, '--pin-dir', pin]
    elif target == 'haproxy':
        conf = os.path.join(rundir, 'haproxy.cfg')
        with open(conf, 'w') as f:
            f.write(template(conf_template('haproxy.cfg.in', conf_kind), ADDR=addr, PORT=port,
                             B1=b1, B2=b2))
        argv = ['haproxy', '-db', '-f', conf]
    elif target == 'nginx':
        conf = os.path.join(rundir, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(template(conf_template('nginx.conf.in', conf_kind), ADDR=addr, PORT=port,
                             B1=b1, B2=b2, DIR=rundir))
        argv = ['nginx', '-p', rundir + '/', '-e', os.path.join(rundir, 'error.log'),
                '-c', conf, '-g', 'daemon off;']
    elif target == 'apache':
        conf = os.path.join(rundir, 'apache.conf')
        os.makedirs(os.path.join(rundir, 'run'), exist_ok=True)
        ex = example_conf(addr, port, backends, for_apache=True)
        if conf_kind == 'two-rules':
            ex = two_rules_conf(ex, backends)
        user, group = apache_user()
        with open(conf, 'w') as f:
            f.write(template('apache.conf.in', DIR=rundir, USER=user, GROUP=group,
                             ADDR=addr, LOADMODULES=apache_loadmodules(ex, extra)))
            f.write(ex)
            f.write(''.join('\n' + line for line in extra))
        argv = ['apache2', '-d', rundir, '-f', conf, '-DFOREGROUND']
    else:
        raise ValueError(target)
    proc = Proc(target, TOPO.wrap('balancer', argv), os.path.join(rundir, target + '.out'),
                env=env)
    peer = Peer(target, addr, port, proc, pin)
    deadline = time.monotonic() + PEER_START_TIMEOUT
    while True:
        with TOPO.enter('balancer'):
            if listening(port, addr):
                break
        if not proc.alive():
            stop_peer(peer)
            raise RunError('%s exited (%s) before listening:\n%s'
                           % (target, proc.p.returncode, peer_logs(rundir, proc)))
        if time.monotonic() > deadline:
            stop_peer(peer)
            raise RunError('%s not listening on %s:%d after %.0f s:\n%s'
                           % (target, addr, port, PEER_START_TIMEOUT, peer_logs(rundir, proc)))
        time.sleep(0.02)
    reply = client_get(addr, port)
    if reply is not None:
        stop_peer(peer)
        raise RunError('%s: a GET / did not get 200: %r' % (target, reply[:200]))
    return peer


def peer_logs(rundir, proc):
    text = proc.log_tail()
    err = os.path.join(rundir, 'error.log')
    if os.path.exists(err):
        text += '\n' + '\n'.join('    ' + x for x in read(err).splitlines()[-10:])
    return text


def log_summary(path, last=3):
    """The last distinct lines of a log, each with how often it appeared."""
    counts = {}
    if not os.path.exists(path):
        return ''
    with open(path, errors='replace') as f:
        for line in f:
            line = line.strip()
            if line:
                counts[line] = counts.get(line, 0) + 1
                counts[line] = counts.pop(line)     # move to the end: last seen
    tail = list(counts.items())[-last:]
    return ' | '.join('%s%s' % (l[:300], ' (x%d)' % n if n > 1 else '') for l, n in tail)


def read_proc(pid, name):
    """/proc/PID/NAME, or '' (what a stuck process is doing, for the notes)."""
    try:
        with open('/proc/%d/%s' % (pid, name)) as f:
            return f.read().strip()
    except OSError:
        return ''


def lo_has_clsact():
    r = subprocess.run(['tc', 'qdisc', 'show', 'dev', 'lo'], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return b'clsact' in r.stdout


def stop_peer(peer):
    """SIGTERM (Proc.stop); kbald must have removed its pin dir by then."""
    was_running = peer.proc.alive()
    rc = peer.proc.stop()
    if was_running and rc not in (0, -signal.SIGTERM):
        note('%s (pid %d) exited %s on SIGTERM' % (peer.target, peer.proc.pid, rc))
    if kbal_kind(peer.target) == 'kbal-packet' and not STATE.lo_clsact_before and \
            lo_has_clsact():
        note('kbald (pid %d) left a clsact qdisc on lo: removed' % peer.proc.pid)
        subprocess.run(['tc', 'qdisc', 'del', 'dev', 'lo', 'clsact'])
    if peer.pin:
        STATE.kbald_stops += 1
        if os.path.exists(peer.pin):
            STATE.kbald_pins_left += 1
            note('kbald (pid %d) exited %s and left its pin dir %s: removed'
                 % (peer.proc.pid, rc, peer.pin))
            shutil.rmtree(peer.pin, ignore_errors=True)
    return rc


def client_get(addr, port):
    """A GET / from the client's side (its namespace in netns mode): None
    when it got a 200, else what came back (or the error)."""
    try:
        with TOPO.enter('client'):
            reply = http_get(port, addr=addr)
    except OSError as e:
        reply = ('(%s)' % e).encode()
    return None if re.match(rb'HTTP/1\.[01] 200 ', reply) else reply


def start_backend(name, tmp, role, addr, shared=None):
    """A kbal-backend in role's namespace on a free port of addr; in netns,
    checked with a GET from the client's namespace (through the balancer's
    forwarding). shared: (addr, port) it also listens on with SO_REUSEPORT,
    with the other member (noproxy on lo)."""
    argv = [BACKEND, '--listen', addr + ':0', '--name', name]
    if shared:
        argv += ['--shared', '%s:%d' % shared]
    proc = Proc(name, TOPO.wrap(role, argv), os.path.join(tmp, 'backend-%s.out' % name))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = re.search(r'listening on %s:(\d+)' % re.escape(addr), read(proc.logpath))
        if m:
            port = int(m.group(1))
            reply = client_get(addr, port) if TOPO.ns else None
            if reply is not None:
                raise SystemExit('bench: %s at %s:%d: a GET / from the client namespace '
                                     'did not get 200: %r' % (name, addr, port, reply[:200]))
            return proc, port
        if not proc.alive():
            break
        time.sleep(0.02)
    raise SystemExit('bench: %s did not start:\n%s' % (name, proc.log_tail()))


# ----------------------------------------------------------------- runs ----

def run_wrk(url, sc, duration, logpath, measure=True, pids=None, check_route=True):
    """check_route False: alternate.lua does not check which member
    answered (a baseline, which does not route by path)."""
    spec = WRK_SCENARIOS[sc]
    if spec.get('tool') == 'kbal-load':
        argv = [LOAD, url.split('/')[2], '--conns', str(spec['conns']),
                '--requests', str(spec['requests']), '--duration', str(duration),
                '--path', spec['path']]
    else:
        argv = ['wrk', '-t1', '-c%d' % spec['conns'], '-d%ds' % duration, '--latency',
                '-s', os.path.join(BENCH_DIR, spec['script'])]
        for h in spec['headers']:
            argv += ['-H', h]
        argv.append(url + spec['path'].lstrip('/'))
    env = dict(os.environ, KBAL_BENCH_LUA=BENCH_DIR,
               KBAL_BENCH_CHECK_ROUTE='1' if check_route else '0')
    pids = dict(pids or {})
    c0 = cpu_jiffies()
    p = Proc('wrk', TOPO.wrap('client', argv), logpath, env=env)
    pids['client'] = [p.p.pid]
    s0 = cpu_snapshot(pids)
    try:
        rc = p.p.wait(duration + 30)
    except subprocess.TimeoutExpired:
        p.stop()
        raise RunError('wrk did not finish in %d s' % (duration + 30))
    c1 = cpu_jiffies()
    s1 = cpu_snapshot(pids)
    p.stop()
    out = read(logpath)
    m = re.search(r'^KBAL_BENCH (\{.*\})$', out, re.M)
    if rc != 0 or not m:
        raise RunError('wrk exited %s:\n%s' % (rc, '\n'.join('    ' + x for x in out.splitlines()[-10:])))
    if not measure:
        return None
    w = json.loads(m.group(1))
    if w['requests'] <= 0:
        raise RunError('wrk completed no request:\n' + out)
    secs = w['duration_us'] / 1e6
    busy, soft = c1[0] - c0[0], c1[1] - c0[1]
    per_req = 1e6 / CLK_TCK / w['requests']
    # the client's own time is read after it exited (its stat is gone
    # then): wrk's own figure is not needed, the rest is what it leaves
    breakdown = {k: (s1[k] - s0[k]) * per_req for k in s0}
    return {
        'breakdown': breakdown,
        'requests': w['requests'],
        'rps': w['requests'] / secs,
        'mibps': (w['bytes_read'] + w['requests'] * w['request_bytes']) / secs / 2**20,
        'p50_ms': w['p50_us'] / 1000.0,
        'p99_ms': w['p99_us'] / 1000.0,
        'cpu_us': busy * 1e6 / CLK_TCK / w['requests'],
        'softirq_pct': 100.0 * soft / busy if busy else 0.0,
        'errors': {k[4:]: w.get(k, 0) for k in ('err_connect', 'err_read', 'err_write',
                                                'err_timeout', 'err_status',
                                                'err_misrouted')},
    }


def idle_open(addr, port, n, deadline):
    """Open n connections to addr:port, each sending one GET and reading
    its whole response, then staying open. Non-blocking, epoll, at most
    IDLE_WINDOW being opened at once, until deadline. Returns (open sockets,
    error counts). The sockets are made in the client's namespace (in
    netns: this thread is in it for the call)."""
    with TOPO.enter('client'):
        return _idle_open(addr, port, n, deadline)


def _idle_open(addr, port, n, deadline):
    req = ('GET / HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: kbal-bench-idle\r\n\r\n'
           % (addr, port)).encode()
    sel = selectors.DefaultSelector()
    done, pending, started = [], 0, 0
    err = {'connect': 0, 'closed': 0, 'status': 0, 'timeout': 0}

    def fail(s, kind):
        nonlocal pending
        err[kind] += 1
        sel.unregister(s)
        s.close()
        pending -= 1

    progress = time.monotonic()
    try:
        while (started < n or pending) and time.monotonic() < deadline:
            if time.monotonic() - progress > IDLE_STALL:
                break           # nothing completed for a while: the peer is full
            while started < n and pending < IDLE_WINDOW:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                started += 1
                rc = s.connect_ex((addr, port))
                if rc not in (0, errno.EINPROGRESS):
                    err['connect'] += 1
                    s.close()
                    continue
                sel.register(s, selectors.EVENT_WRITE, [False, b''])
                pending += 1
            for key, _mask in sel.select(timeout=min(0.2, max(0.0, deadline - time.monotonic()))):
                s, d = key.fileobj, key.data
                if not d[0]:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        fail(s, 'connect')
                        continue
                    try:
                        s.send(req)
                    except OSError:
                        fail(s, 'connect')
                        continue
                    d[0] = True
                    sel.modify(s, selectors.EVENT_READ, d)
                    continue
                try:
                    chunk = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    fail(s, 'closed')
                    continue
                if not chunk:
                    fail(s, 'closed')
                    continue
                d[1] += chunk
                buf = d[1]
                end = buf.find(b'\r\n\r\n')
                if end < 0:
                    continue
                head = buf[:end].decode('latin-1')
                body = len(buf) - end - 4
                m = re.search(r'^content-length:\s*(\d+)', head, re.I | re.M)
                if m:
                    complete = body >= int(m.group(1))
                elif re.search(r'^transfer-encoding:.*chunked', head, re.I | re.M):
                    complete = buf.endswith(b'0\r\n\r\n')
                else:
                    complete = False
                if not complete:
                    continue
                if not re.match(r'HTTP/1\.[01] 200 ', head):
                    fail(s, 'status')
                    continue
                sel.unregister(s)
                pending -= 1
                d[1] = b''
                progress = time.monotonic()
                done.append(s)
                STATE.sockets.add(s)
        for key in list(sel.get_map().values()):
            fail(key.fileobj, 'timeout')
        err['timeout'] += n - started
    finally:
        sel.close()
    return done, err


def idle_held(socks):
    """How many of socks are still open (not readable with EOF)."""
    sel = selectors.DefaultSelector()
    try:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        closed = 0
        for key, _ in sel.select(timeout=0):
            try:
                if key.fileobj.recv(1, socket.MSG_PEEK) == b'':
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        return len(socks) - closed
    finally:
        sel.close()


def idle_close(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
        STATE.sockets.discard(s)


def run_idle(addr, port, rss_pid, n):
    """RSS of the peer (pid and descendants) and the machine's used memory,
    before and after n connections each did one request and stayed open."""
    # warm-up: 100 connections, one request each, closed
    socks, _ = idle_open(addr, port, 100, time.monotonic() + 10)
    idle_close(socks)
    time.sleep(0.5)
    rss0 = tree_rss_kib(rss_pid) if rss_pid else None
    mem0 = machine_mem_kib()
    t0 = time.monotonic()
    socks, err = idle_open(addr, port, n, t0 + IDLE_DEADLINE)
    opened = time.monotonic() - t0
    try:
        time.sleep(1.0)
        rss1 = tree_rss_kib(rss_pid) if rss_pid else None
        mem1 = machine_mem_kib()
        held = idle_held(socks)
    finally:
        idle_close(socks)
    return {
        'n': n,
        'opened': len(socks),
        'held': held,
        'open_s': opened,
        'rss_before_mib': rss0 / 1024.0 if rss0 is not None else None,
        'rss_after_mib': rss1 / 1024.0 if rss1 is not None else None,
        'rss_per_conn': (rss1 - rss0) * 1024.0 / max(1, held) if rss0 is not None else None,
        'mem_per_conn': (mem1[0] - mem0[0]) * 1024.0 / max(1, held),
        'slab_per_conn': (mem1[1] - mem0[1]) * 1024.0 / max(1, held),
        'errors': err,
    }


def background_cpu(secs=0.5):
    """Busy CPUs (0.0 .. nproc) over secs while nothing of ours is working."""
    c0 = cpu_jiffies()[0]
    time.sleep(secs)
    return (cpu_jiffies()[0] - c0) / float(CLK_TCK) / secs


def wait_quiet(ctx):
    """The machine may be shared: before a run, wait (bounded: QUIET_WAIT per
    run, QUIET_BUDGET over the whole bench) until the busy CPU of whatever is
    not ours drops below QUIET_LIMIT. Returns the last sample."""
    bg = background_cpu()
    t0 = time.monotonic()
    while bg > QUIET_LIMIT and time.monotonic() - t0 < QUIET_WAIT and \
            ctx['quiet_waited'] < QUIET_BUDGET:
        bg = background_cpu(1.0)
    ctx['quiet_waited'] += time.monotonic() - t0
    return bg


# segments dropped beyond a receiver's window (Linux 6.17+), retransmission
# timeouts, retransmissions lost again, all retransmitted segments: what a
# sender overrunning its peer shows (docs/packet.md, "Windows at the switch")
TCP_COUNTERS = ('BeyondWindow', 'TCPTimeouts', 'TCPLostRetransmit', 'RetransSegs')


def tcp_counters():
    """TCP_COUNTERS summed over the namespaces the bench uses (ours alone
    on lo): a peer's drops and timeouts wherever they happen."""
    tot = dict.fromkeys(TCP_COUNTERS, 0)
    for role in list(TOPO.ns) or [None]:
        with TOPO.enter(role) if role else contextlib.nullcontext():
            text = read('/proc/thread-self/net/netstat') + read('/proc/thread-self/net/snmp')
        lines = text.splitlines()
        for head, vals in zip(lines[::2], lines[1::2]):
            if not head.startswith(('TcpExt:', 'Tcp:')):
                continue
            for k, v in zip(head.split()[1:], vals.split()[1:]):
                if k in tot:
                    tot[k] += int(v)
    return tot


def measure(target, sc, args, ctx, tag):
    rundir = os.path.join(STATE.tmpdir, tag)
    os.makedirs(rundir, exist_ok=True)
    for name, b in ctx['backends'].items():
        if not b.alive():
            raise SystemExit('bench: backend %s died:\n%s' % (name, b.log_tail()))
    peer = None
    bg = wait_quiet(ctx)
    try:
        if target == 'noproxy' and ctx['shared']:
            (addr, port), rss_pid = ctx['shared'], None
        elif target in ('noproxy', 'noproxy1'):
            (addr, port), rss_pid = ctx['members'][0], None
        else:
            peer = start_peer(target, ctx['members'], rundir,
                              WRK_SCENARIOS.get(sc, {}).get('conf'),
                              WRK_SCENARIOS.get(sc, {}).get('extra', ()))
            addr, port, rss_pid = peer.addr, peer.port, peer.proc.pid
        url = 'http://%s:%d/' % (addr, port)
        if sc == 'idle':
            res = run_idle(addr, port, rss_pid, args.idle_conns)
            if peer and res['held'] < res['n']:
                res['log'] = ' | '.join(x for x in (
                    log_summary(peer.proc.logpath),
                    log_summary(os.path.join(rundir, 'error.log'))) if x)
        else:
            if args.warmup > 0:
                run_wrk(url, sc, args.warmup, os.path.join(rundir, 'wrk-warmup.out'), False,
                        check_route=peer is not None)
            pids = {'proxy': [rss_pid] + [p for p, _ in descendants(rss_pid)] if rss_pid else [],
                    'members': [b.p.pid for b in ctx['backends'].values()]}
            kbald = kbal_kind(target) is not None
            progs0 = bpf_prog_stats(rss_pid) if kbald else None
            kept0 = kernel_kept(peer, target) if kbald else None
            tcp0 = tcp_counters()
            res = run_wrk(url, sc, args.duration, os.path.join(rundir, 'wrk.out'), pids=pids,
                          check_route=peer is not None)
            tcp1 = tcp_counters()
            progs1 = bpf_prog_stats(rss_pid) if kbald else None
            kept1 = kernel_kept(peer, target) if kbald else None
            if (res and kept0 is not None and kept1 is not None and res['requests'] > 0 and
                    (kbal_kind(target) == 'kbal' or decided(target))):
                # the requests the sockmap path's framing (or the packet
                # program, kbal-packet) kept in the kernel; kbald decided
                # the others (not for kbal-packet1: its program decides
                # nothing, the configuration routes every request alike)
                res['kept'] = (kept1 - kept0) / res['requests']
            if res:
                res['tcp'] = {k: tcp1[k] - tcp0[k] for k in TCP_COUNTERS}
            if res and progs0 is not None and progs1 is not None and res['requests'] > 0:
                res['bpf'] = {n: ((c - progs0.get(n, (0, 0))[0]) / res['requests'],
                                  (t - progs0.get(n, (0, 0))[1]) / res['requests'])
                              for n, (c, t) in progs1.items()}
        if peer and not peer.proc.alive():
            raise RunError('%s exited (%s) during the run:\n%s'
                           % (target, peer.proc.p.returncode, peer_logs(rundir, peer.proc)))
        if kbal_kind(target) == 'kbal-packet':
            res['pkt'] = packet_check(peer)
        res['background'] = bg
        return res
    finally:
        if peer:
            stop_peer(peer)


def bpf_prog_ids(pid):
    """IDs of the BPF programs process pid holds a descriptor of."""
    ids = set()
    fddir = '/proc/%d/fdinfo' % pid
    try:
        fds = os.listdir(fddir)
    except OSError:
        return ids
    for fd in fds:
        m = re.search(r'^prog_id:\s*(\d+)', read(os.path.join(fddir, fd)), re.M)
        if m:
            ids.add(int(m.group(1)))
    return ids


def bpf_prog_stats(pid):
    """{program name: (runs, ns)} summed over the BPF programs process pid
    holds, from the kernel's own accounting (kernel.bpf_stats_enabled, on
    for the whole bench); None if unreadable."""
    ids = bpf_prog_ids(pid) if pid else set()
    rc, out = run_quiet(['bpftool', '-j', 'prog', 'show'])
    if rc != 0 or not ids:
        return None
    try:
        progs = json.loads(out)
    except ValueError:
        return None
    res = {}
    for p in progs:
        if p.get('id') in ids:
            c, t = res.get(p.get('name', '?'), (0, 0))
            res[p.get('name', '?')] = (c + p.get('run_cnt', 0), t + p.get('run_time_ns', 0))
    return res


def kbal_stats(pin):
    """kbalctl stats of the kbald pinning under pin: {name: count}, or None."""
    rc, out = run_quiet([KBALCTL, '--pin-dir', pin, 'stats'])
    if rc != 0:
        return None
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^(\w+)\s+(\d+)\s*$', out, re.M)}


def kernel_kept(peer, target):
    """The requests the kernel kept so far: the sockmap path's framing
    (sk_kept), and on kbal-packet the packet program's too (pkt_kept: a
    connection the packet path does not join is framed on sockmap)."""
    st = kbal_stats(peer.pin) or {}
    if 'sk_kept' not in st:
        return None
    return st['sk_kept'] + (st.get('pkt_kept', 0) if decided(target) else 0)


def packet_check(peer):
    """Did kbald (KbalSplice packet) join flows during the run (warm-up
    included)? Its counters while it still runs, and the interfaces it
    says it attached to."""
    stats = kbal_stats(peer.pin) or {}
    ifs = re.findall(r'packet splice: attached to (\S+)', read(peer.proc.logpath))
    return {'rewritten': stats.get('pkt_rewritten'), 'dropped': stats.get('pkt_dropped'),
            'unparsed': stats.get('pkt_unparsed'), 'frame_lost': stats.get('pkt_frame_lost'),
            'back': stats.get('pkt_back'), 'held': stats.get('pkt_held'), 'ifs': ifs}


def run_one(target, sc, args, ctx, rnd):
    for attempt in (1, 2):
        ctx['seq'] += 1
        tag = '%03d-%s-%s' % (ctx['seq'], target, sc)
        try:
            res = measure(target, sc, args, ctx, tag)
            log('round %d %-8s %-8s %s' % (rnd + 1, sc, TOPO.name(target), brief(sc, res)))
            return res
        except RunError as e:
            note('round %d, %s, %s, attempt %d failed: %s' % (rnd + 1, sc, TOPO.name(target),
                                                               attempt, e))
            time.sleep(1)
    return None


def brief(sc, r):
    pkt = ''
    if r.get('pkt'):
        pkt = ('; packet path: pkt_rewritten %s (dropped %s, unparsed %s; framing lost %s, '
               'given back %s, held %s), attached to %s') % (
            r['pkt']['rewritten'], r['pkt']['dropped'], r['pkt']['unparsed'],
            r['pkt'].get('frame_lost'), r['pkt'].get('back'), r['pkt'].get('held'),
            ','.join(r['pkt']['ifs']) or 'nothing')
    if sc == 'idle':
        s = 'held %d/%d in %.1fs, machine %.0f B/conn, slab %.0f B/conn' % (
            r['held'], r['n'], r['open_s'], r['mem_per_conn'], r['slab_per_conn'])
        if r['rss_per_conn'] is not None:
            s += ', RSS %.0f B/conn' % r['rss_per_conn']
        return s + pkt
    errs = sum(r['errors'].values())
    return '%.0f req/s %.1f MiB/s p50 %.3f ms p99 %.3f ms cpu %.1f us/req softirq %.0f%%%s%s' % (
        r['rps'], r['mibps'], r['p50_ms'], r['p99_ms'], r['cpu_us'], r['softirq_pct'],
        ' errors %d' % errs if errs else '', pkt)


# --------------------------------------------------------------- report ----

def med(rs, key):
    vals = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt_ms(v):
    if v is None:
        return '—'
    if v < 10:
        return '%.3f' % v
    if v < 100:
        return '%.1f' % v
    return '%.0f' % v


def fmt(v, f):
    return '—' if v is None else f % v


def fmt_errors(rs, kinds):
    tot = {k: sum(r['errors'][k] for r in rs) for k in kinds}
    s = ', '.join('%s %d' % (k, v) for k, v in tot.items() if v)
    return s or '0'


def render(results, targets, scenarios, args):
    """The tables, markdown. The baseline (noproxy; ipfwd in netns) is the
    target named noproxy; in netns the headings say the topology."""
    out = []
    where = '' if TOPO.kind == 'lo' else ' (namespace topology)'
    for sc in scenarios:
        if sc == 'idle':
            continue
        spec = WRK_SCENARIOS[sc]
        out.append('### %s%s: %s' % (sc, where, spec['title']))
        out.append('')
        out.append('| target | req/s | spread | MiB/s | p50 ms | p99 ms | CPU µs/req | softirq | '
                   'req/s vs %s | req/s vs haproxy | added CPU vs haproxy | errors | runs |'
                   % TOPO.baseline)
        out.append('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|')
        m = {}
        for t in targets:
            rs = results[sc][t]
            m[t] = {k: med(rs, k) for k in ('rps', 'mibps', 'p50_ms', 'p99_ms', 'cpu_us',
                                           'softirq_pct')}
        for t in targets:
            rs = results[sc][t]
            if not rs:
                out.append('| %s | failed | | | | | | | | | | | 0/%d |' % (TOPO.name(t),
                                                                         args.rounds))
                continue
            x = m[t]
            # a one-member target against the one-member baseline, if run
            one = packet1(t) and m.get('noproxy1', {}).get('rps')
            base = m.get('noproxy1' if one else 'noproxy', {})
            hap = m.get('haproxy', {})
            vs_np = x['rps'] / base['rps'] if base.get('rps') else None
            vs_hp = x['rps'] / hap['rps'] if hap.get('rps') else None
            added = None
            if t != 'noproxy' and base.get('cpu_us') is not None and hap.get('cpu_us') is not None:
                hap_added = hap['cpu_us'] - base['cpu_us']
                if hap_added > 0:
                    added = (x['cpu_us'] - base['cpu_us']) / hap_added
            rps = [r['rps'] for r in rs]
            spread = '±%.0f%%' % (50.0 * (max(rps) - min(rps)) / x['rps']) if len(rps) > 1 else '—'
            out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |' % (
                TOPO.name(t), '{:,.0f}'.format(x['rps']), spread, fmt(x['mibps'], '%.1f'),
                fmt_ms(x['p50_ms']), fmt_ms(x['p99_ms']), fmt(x['cpu_us'], '%.1f'),
                fmt(x['softirq_pct'], '%.0f%%'),
                fmt(vs_np, '%.2f') + (' (noproxy1)' if one else ''), fmt(vs_hp, '%.2f'),
                fmt(added, '%.2f'),
                fmt_errors(rs, ('connect', 'read', 'write', 'timeout', 'status',
                                'misrouted')),
                len(rs), args.rounds))
        out.append('')
    out += render_round_ratios(results, targets, scenarios, where)
    out += render_tcp(results, targets, scenarios, where)
    out += render_breakdown(results, targets, scenarios, where)
    out += render_bpf(results, targets, scenarios, where)
    if 'idle' in scenarios:
        out.append('### idle%s: %d idle keep-alive connections (each did one request)'
                   % (where, args.idle_conns))
        out.append('')
        out.append('| target | held | opened in s | proxy RSS before MiB | after MiB | '
                   'proxy RSS/conn B | machine mem/conn B | kernel slab/conn B | errors | runs |')
        out.append('|---|---:|---:|---:|---:|---:|---:|---:|---|---:|')
        for t in targets:
            rs = results['idle'][t]
            if not rs:
                out.append('| %s | failed | | | | | | | | 0/%d |' % (TOPO.name(t), args.rounds))
                continue
            out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |' % (
                TOPO.name(t), '%d/%d' % (min(r['held'] for r in rs), args.idle_conns),
                fmt(med(rs, 'open_s'), '%.1f'),
                fmt(med(rs, 'rss_before_mib'), '%.1f'), fmt(med(rs, 'rss_after_mib'), '%.1f'),
                fmt(med(rs, 'rss_per_conn'), '%.0f'), fmt(med(rs, 'mem_per_conn'), '%.0f'),
                fmt(med(rs, 'slab_per_conn'), '%.0f'),
                fmt_errors(rs, ('connect', 'closed', 'status', 'timeout')),
                len(rs), args.rounds))
        out.append('')
    return '\n'.join(out)


def render_round_ratios(results, targets, scenarios, where):
    """req/s against each peer within the same round (the runs closest in
    time, on the machine as it was then): the median of those ratios and
    their range. Less moved by a machine whose speed drifts over a run than
    the ratio of the medians in the table above."""
    peers = [t for t in ('noproxy', 'noproxy1', 'haproxy', 'nginx') if t in targets]
    if not peers:
        return []
    out = ['### req/s against the peers, round by round%s: median (lowest–highest)' % where, '',
           '| scenario | target | %s |' % ' | '.join('vs %s' % TOPO.name(p) for p in peers),
           '|---|---|%s|' % '|'.join('---:' for _ in peers)]
    for sc in scenarios:
        if sc == 'idle':
            continue
        by_round = {t: {r['round']: r['rps'] for r in results[sc][t] if r.get('rps')}
                    for t in targets}
        for t in targets:
            if t in peers or not by_round[t]:
                continue
            cells = []
            for p in peers:
                rs = [by_round[t][k] / by_round[p][k] for k in by_round[t]
                      if by_round[p].get(k)]
                cells.append('%.2f (%.2f–%.2f)' % (statistics.median(rs), min(rs), max(rs))
                             if rs else '—')
            out.append('| %s | %s | %s |' % (sc, TOPO.name(t), ' | '.join(cells)))
    out.append('')
    return out


def render_tcp(results, targets, scenarios, where):
    """TCP's own counters per run, medians and the largest: a sender that
    overruns its peer (segments beyond the window, timeouts) shows here,
    whatever the averages say."""
    out = []
    rows = []
    for sc in scenarios:
        for t in targets:
            rs = [r['tcp'] for r in results[sc][t] if r.get('tcp')]
            if rs:
                rows.append('| %s | %s | %s |' % (sc, TOPO.name(t), ' | '.join(
                    '%g (%d)' % (statistics.median(r[k] for r in rs), max(r[k] for r in rs))
                    for k in TCP_COUNTERS)))
    if not rows:
        return out
    out.append('### TCP counters%s per run: median (largest)' % where)
    out.append('')
    out.append('| scenario | target | %s |' % ' | '.join(TCP_COUNTERS))
    out.append('|---|---|%s' % ('---:|' * len(TCP_COUNTERS)))
    out += rows
    out.append('')
    return out


def render_breakdown(results, targets, scenarios, where):
    """Where the machine's CPU goes, per request, medians: the proxy
    process, the members, kworkers (sk_psock_backlog for sockmap), ksoftirqd,
    and softirq wherever it ran (also inside the processes' figures: a tick
    is charged to both)."""
    out = []
    for sc in scenarios:
        if sc == 'idle' or not any(r.get('breakdown') for t in targets for r in results[sc][t]):
            continue
        out.append('### Where the CPU goes%s, %s (µs per request; softirq overlaps the others)'
                   % (where, sc))
        out.append('')
        out.append('| target | whole machine | proxy process | members | kworkers | ksoftirqd | '
                   'softirq (anywhere) | client and rest |')
        out.append('|---|---:|---:|---:|---:|---:|---:|---:|')
        for t in targets:
            rs = [r for r in results[sc][t] if r.get('breakdown')]
            if not rs:
                continue

            def m(k):
                return statistics.median(r['breakdown'].get(k, 0.0) for r in rs)
            whole = m('busy')
            rest = whole - m('proxy') - m('members') - m('kworker') - m('ksoftirqd')
            out.append('| %s | %.1f | %s | %.1f | %.1f | %.1f | %.1f | %.1f |' % (
                TOPO.name(t), whole, '—' if t in ('noproxy', 'noproxy1') else '%.1f' % m('proxy'),
                m('members'), m('kworker'), m('ksoftirqd'), m('softirq'), rest))
        out.append('')
    return out


def render_bpf(results, targets, scenarios, where):
    """kbald's BPF programs per request, from the kernel's run-time
    accounting: how often each ran and what it cost, medians. The exact
    cost of the programs themselves, which the whole-machine CPU figures
    can only bound."""
    out = []
    rows = []
    for sc in scenarios:
        for t in targets:
            rs = [r['bpf'] for r in results[sc][t] if r.get('bpf')]
            for name in sorted({n for b in rs for n in b}):
                runs = statistics.median(b.get(name, (0, 0))[0] for b in rs)
                ns = statistics.median(b.get(name, (0, 0))[1] for b in rs)
                if runs >= 0.01:
                    rows.append('| %s | %s | %s | %.2f | %.0f | %.0f |' % (
                        sc, TOPO.name(t), name, runs, ns / runs if runs else 0, ns))
    kept = []
    for sc in scenarios:
        for t in targets:
            ks = [r['kept'] for r in results[sc][t] if r.get('kept') is not None]
            if ks:
                kept.append('| %s | %s | %.1f%% | %.1f%% |' % (
                    sc, TOPO.name(t), 100 * statistics.median(ks),
                    100 - 100 * statistics.median(ks)))
    if kept:
        out.append('### Who decided the requests%s: the kernel (sockmap framing, '
                   '`sk_kept`; kbal-packet: and the packet program, `pkt_kept`) or kbald, '
                   'median share' % where)
        out.append('')
        out.append('| scenario | target | kernel | kbald |')
        out.append('|---|---|---:|---:|')
        out += kept
        out.append('')
    if not rows:
        return out
    out.append('### kbald\'s BPF programs%s (per request; kernel.bpf_stats_enabled)' % where)
    out.append('')
    out.append('| scenario | target | program | runs/req | ns/run | ns/req |')
    out.append('|---|---|---|---:|---:|---:|')
    out += rows
    out.append('')
    return out


def machine_info():
    cpu = re.search(r'^model name\s*:\s*(.*)$', read('/proc/cpuinfo'), re.M)
    mem = re.search(r'^MemTotal:\s+(\d+) kB', read('/proc/meminfo'), re.M)
    return '%s, %d CPUs (%s), %.1f GiB memory' % (
        'Linux ' + os.uname().release, os.cpu_count(),
        cpu.group(1).strip() if cpu else 'unknown CPU',
        int(mem.group(1)) / 2**20 if mem else 0)


def write_doc(section, heading=RESULTS_HEADING, doc=DOC):
    """Put section (which starts with the line heading) into doc: it
    replaces the section under exactly that heading line, up to the next
    level-2 heading ("## ") or the end; without one it goes at the end.
    Everything else is kept as it is."""
    tail = ''
    if os.path.exists(doc):
        text = read(doc)
        lines = text.splitlines(keepends=True)
        start = next((i for i, l in enumerate(lines) if l.rstrip('\r\n') == heading), None)
        if start is None:
            head = text.rstrip('\n') + '\n\n'
        else:
            end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith('## ')),
                       len(lines))
            head, tail = ''.join(lines[:start]), ''.join(lines[end:])
    else:
        head = '# Benchmarks\n\nSee tools/bench.py for the method.\n\n'
    if tail:
        section = section.rstrip('\n') + '\n\n' + tail
    with open(doc + '.tmp', 'w') as f:
        f.write(head + section)
    os.replace(doc + '.tmp', doc)


# ----------------------------------------------------------------- main ----

def raise_nofile():
    """RLIMIT_NOFILE 65536 for us and every child (each peer holds 2 fds per
    proxied connection). Without CAP_SYS_RESOURCE the hard limit cannot be
    raised: then the soft limit goes up to it, and the report says so."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            want = hard
            note('RLIMIT_NOFILE: the hard limit is %d and cannot be raised here (no '
                 'CAP_SYS_RESOURCE), so every peer runs with %d fds, not %d; a peer '
                 'that needs two fds per proxied connection in one process cannot '
                 'hold %s' % (hard, hard, NOFILE, '10,000 idle connections'))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))


def parse_args():
    ap = argparse.ArgumentParser(description='kbal benchmark against no proxy, HAProxy, '
                                 'nginx and Apache httpd, all on 127.0.0.1 (--topology lo) '
                                 'or across veths between network namespaces (netns).')
    ap.add_argument('--scenarios', default=','.join(ALL_SCENARIOS),
                    help='comma list of %s' % ', '.join(ALL_SCENARIOS))
    ap.add_argument('--targets', default=','.join(DEFAULT_TARGETS),
                    help='comma list of %s (noproxy is called ipfwd in netns; either name '
                    'works there)' % ', '.join(ALL_TARGETS))
    ap.add_argument('--topology', choices=ALL_TOPOLOGIES, default='lo',
                    help='lo (default): everything on 127.0.0.1; netns: client, balancer '
                    'and two members in network namespaces of their own joined by veth '
                    'pairs, against IP forwarding through the balancer (ipfwd)')
    ap.add_argument('--duration', type=int, help='seconds per wrk run (default 5)')
    ap.add_argument('--rounds', type=int, help='rounds; the table shows medians (default 3)')
    ap.add_argument('--warmup', type=int, default=1,
                    help='seconds of unmeasured wrk before each run (default 1, 0: none)')
    ap.add_argument('--idle-conns', type=int, default=10000,
                    help='connections held by the idle scenario (default 10000)')
    ap.add_argument('--quick', action='store_true',
                    help='1 round of 2 s unless --rounds/--duration say otherwise')
    ap.add_argument('--no-doc', action='store_true', help='do not write docs/benchmarks.md')
    ap.add_argument('--keep-logs', action='store_true',
                    help='keep the temp dir with the peers\' configurations and logs')
    ap.add_argument('--kbal-conf', action='append', default=[], metavar='DIRECTIVE',
                    help='add DIRECTIVE to kbal\'s configuration (both kbal targets, inside '
                    'the balancer), e.g. "KbalMemberCongestion cubic"; repeatable')
    ap.add_argument('--kbald-b', metavar='PATH',
                    help='another kbald binary (an A/B run: the targets kbal-b and '
                    'kbal-packet-b run it; build it from another commit in a worktree)')
    ap.add_argument('--doc', default=DOC, metavar='FILE',
                    help='write the results into FILE instead of docs/benchmarks.md')
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.duration is None:
        args.duration = 2 if args.quick else 5
    args.scenarios = [s for s in args.scenarios.split(',') if s]
    args.targets = [t for t in args.targets.split(',') if t]
    if args.topology == 'netns':
        args.targets = ['noproxy' if t == 'ipfwd' else t for t in args.targets]
    for s in args.scenarios:
        if s not in ALL_SCENARIOS:
            ap.error('unknown scenario %r' % s)
    for t in args.targets:
        if t not in ALL_TARGETS:
            ap.error('unknown target %r' % t)
    if args.duration < 1 or args.duration > 600 or args.rounds < 1 or args.rounds > 50:
        ap.error('--duration 1..600, --rounds 1..50')
    if args.idle_conns < 1 or args.idle_conns > 25000:
        ap.error('--idle-conns 1..25000')
    args.scenarios = [s for s in ALL_SCENARIOS if s in args.scenarios]
    args.targets = [t for t in ALL_TARGETS if t in args.targets]
    for line in args.kbal_conf:
        if not line.strip() or '\n' in line:
            ap.error('--kbal-conf takes one directive per use')
    return args


def main():
    global TOPO
    args = parse_args()
    KBAL_EXTRA_CONF[:] = args.kbal_conf
    global KBALD_B
    KBALD_B = os.path.abspath(args.kbald_b) if args.kbald_b else None
    if any(t.endswith('-b') for t in args.targets) and not KBALD_B:
        raise SystemExit('bench: kbal-b, kbal-packet-b and kbal-packet1-b need --kbald-b PATH')
    TOPO = Topology(args.topology)
    STATE.keep_tmpdir = args.keep_logs
    command = ' '.join(shlex.quote(a) for a in
                       ['tools/bench.py'] + sys.argv[1:]) if 'MAKELEVEL' not in os.environ \
        else 'sudo make bench' + (' BENCH_ARGS=%s' % shlex.quote(' '.join(sys.argv[1:]))
                                  if sys.argv[1:] else '')
    if os.geteuid() != 0:
        raise SystemExit('bench: run as root (sudo make bench): it installs packages, '
                         'loads BPF programs and raises file limits')
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        ensure_packages(args.targets)
        running = daemon_pids()
        if running:
            note('already running, not ours, left alone: %s' % ', '.join(
                '%s pid %d' % (c, p) for p, c in sorted(running.items())))
        raise_nofile()
        uses_kbal = any(t.startswith('kbal') for t in args.targets)
        for path in [BACKEND] + ([KBALD] if uses_kbal else []) + \
                ([KBALCTL] if 'kbal-packet' in args.targets else []) + \
                ([KBALD_B] if KBALD_B else []):
            if not os.access(path, os.X_OK):
                raise SystemExit('bench: %s is missing: run make first' % path)
        if TOPO.ns:
            for tool in ('ip', 'nsenter', 'sysctl'):
                if not shutil.which(tool):
                    raise SystemExit('bench: --topology netns needs %s' % tool)
        if uses_kbal:
            STATE.lo_clsact_before = lo_has_clsact()
            # the BPF programs' own run time (render_bpf): a few ns per run
            # for every program on the machine while the bench runs
            STATE.bpf_stats_before = read(BPF_STATS).strip() or None
            if STATE.bpf_stats_before is not None:
                with open(BPF_STATS, 'w') as f:
                    f.write('1')
            if not os.path.ismount('/sys/fs/bpf'):
                subprocess.run(['mount', '-t', 'bpf', 'bpf', '/sys/fs/bpf'], check=True)
            r = subprocess.run([KBALD, '-t', '-f', EXAMPLE], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            if r.returncode != 0:
                raise SystemExit('bench: kbald -t -f %s failed:\n%s' % (
                    EXAMPLE, r.stdout.decode(errors='replace')))
        vers = versions(args.targets)

        STATE.tmpdir = tempfile.mkdtemp(prefix='kbal-bench-')
        os.chmod(STATE.tmpdir, 0o755)      # Apache's and nginx's workers read below it
        if TOPO.ns:
            STATE.home_ns_fd = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
            netns_up(TOPO)
        a1, a2 = TOPO.member_addrs
        # both members also listen on one shared address: on lo one port
        # (SO_REUSEPORT), in netns an address both hold (ECMP in the
        # balancer): noproxy's connections are spread over both, as kbal's
        shared = (NETNS_SHARED, NETNS_SHARED_PORT) if TOPO.ns else (a1, free_port(a1))
        b1, p1 = start_backend('WAS1', STATE.tmpdir, 'member1', a1, shared)
        b2, p2 = start_backend('WAS2', STATE.tmpdir, 'member2', a2, shared)
        ctx = {'backends': {'WAS1': b1, 'WAS2': b2}, 'members': [(a1, p1), (a2, p2)], 'seq': 0,
               'quiet_waited': 0.0, 'busy_runs': [], 'shared': shared}
        log('backends WAS1 %s:%d, WAS2 %s:%d; %d round(s) of %s x %s, %d s each%s'
            % (a1, p1, a2, p2, args.rounds, ','.join(args.scenarios),
               ','.join(TOPO.name(t) for t in args.targets), args.duration,
               '' if TOPO.kind == 'lo' else ', topology netns'))

        results = {sc: {t: [] for t in args.targets} for sc in args.scenarios}
        n = len(args.targets)
        for rnd in range(args.rounds):
            for sc in args.scenarios:
                order = [args.targets[(rnd + i) % n] for i in range(n)]
                for t in order:
                    r = run_one(t, sc, args, ctx, rnd)
                    if r is not None:
                        r['round'] = rnd
                        results[sc][t].append(r)
                        if r['background'] > QUIET_LIMIT:
                            ctx['busy_runs'].append('round %d %s %s (%.2f CPUs)' % (
                                rnd + 1, sc, TOPO.name(t), r['background']))
                        if sc != 'idle' and sum(r['errors'].values()):
                            note('round %d, %s, %s: wrk errors %s' % (
                                rnd + 1, sc, TOPO.name(t), ', '.join(
                                    '%s %d' % kv for kv in r['errors'].items() if kv[1])))
                        pkt = r.get('pkt')
                        if pkt is not None and pkt['rewritten'] is None:
                            note('round %d, %s, kbal-packet: kbalctl stats failed: no '
                                 'pkt_rewritten' % (rnd + 1, sc))
                        elif pkt is not None and not pkt['rewritten'] and \
                                sc not in ('conn2', 'new-conn', 'two-rules') and \
                                packet1(t):
                            # (conn2 and new-conn join nothing: kbald serves
                            # their one or two requests itself; two-rules'
                            # two balancers have no KbalSplice line)
                            note('round %d, %s, kbal-packet1: no packet rewritten (pkt_rewritten '
                                 '%s; kbald attached to %s): no flow was joined' % (
                                     rnd + 1, sc, pkt['rewritten'],
                                     ', '.join(pkt['ifs']) or 'nothing'))
                        elif pkt is not None and TOPO.ns and packet1(t) and \
                                sc not in ('conn2', 'new-conn', 'two-rules') and \
                                not [i for i in pkt['ifs'] if i != 'lo']:
                            note('round %d, %s, kbal-packet1: kbald attached to no veth '
                                 '(only %s)' % (rnd + 1, sc, ', '.join(pkt['ifs']) or 'nothing'))
                        if sc == 'idle' and r['held'] < r['n']:
                            note('round %d, idle, %s: held %d of %d connections (opened %d; '
                                 'errors: %s)%s' % (rnd + 1, TOPO.name(t), r['held'], r['n'],
                                                    r['opened'],
                                                    ', '.join('%s %d' % kv for kv in
                                                              r['errors'].items() if kv[1])
                                                    or 'none',
                                                   '; its log ends: ' + r['log']
                                                   if r.get('log') else ''))
                    time.sleep(0.3)
        for name, b in ctx['backends'].items():
            b.stop()
        table = render(results, args.targets, args.scenarios, args)
        bgs = [r['background'] for sc in results for t in results[sc] for r in results[sc][t]]
        table += '\n'
        if bgs:
            table += ('Other load on the machine just before each run (busy CPUs of '
                      'processes not ours, after waiting up to %.0f s for it to drop below '
                      '%.2f): median %.2f, max %.2f; waited %.0f s in all.\n' % (
                          QUIET_WAIT, QUIET_LIMIT, statistics.median(bgs), max(bgs),
                          ctx['quiet_waited']))
            table += '\n'
        if ctx['busy_runs']:
            note('%d run(s) started while other processes kept more than %.2f CPUs busy '
                 '(the machine is shared; their req/s and CPU/req are less reliable): %s' % (
                     len(ctx['busy_runs']), QUIET_LIMIT, '; '.join(ctx['busy_runs'])))
        if STATE.kbald_stops:
            table += ('kbald was stopped %d times with SIGTERM; its pin dir was gone '
                      'afterwards %d times.\n' % (STATE.kbald_stops,
                                                  STATE.kbald_stops - STATE.kbald_pins_left))
            table += '\n'
        ended = datetime.datetime.now(datetime.timezone.utc)
        heading = RESULTS_HEADING if TOPO.kind == 'lo' else NETNS_RESULTS_HEADING
        if TOPO.kind != 'lo':
            print('%s\n\nTopology: %s.\n' % (heading, TOPO.describe()))
        print(table)
        section = [heading, '']
        section.append('- date: %s (%.0f min)' % (started.strftime('%Y-%m-%d %H:%M UTC'),
                                                  (ended - started).total_seconds() / 60))
        section.append('- machine: %s' % machine_info())
        section.append('- command: `%s` (%d round(s), wrk -d %ds after %ds warm-up, '
                       'medians)' % (command, args.rounds, args.duration, args.warmup))
        section.append('- versions: %s' % '; '.join(vers.values()))
        if TOPO.kind != 'lo':
            section.append('- topology: %s' % TOPO.describe())
        if args.quick:
            section.append('- **quick run** (development): short runs, not comparable to '
                           'the full run')
        section.append('')
        section.append(table.rstrip('\n'))
        section.append('')
        section.append('### Notes from this run')
        section.append('')
        if STATE.notes:
            section += ['- ' + x.replace('\n', ' ').replace('    ', ' ') for x in STATE.notes]
        else:
            section.append('- nothing odd: no failed run, no wrk error, every peer held '
                           'every idle connection')
        section.append('')
        if not args.no_doc:
            write_doc('\n'.join(section), heading, args.doc)
            log('wrote %s (%s)' % (os.path.relpath(args.doc, ROOT), heading[3:]))
        if STATE.notes:
            print('Notes:')
            for x in STATE.notes:
                print('- ' + x)
        return 0
    except Interrupted as e:
        log('interrupted (%s): cleaning up' % e)
        return 130
    finally:
        cleanup()


if __name__ == '__main__':
    sys.exit(main())
