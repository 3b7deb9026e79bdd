#!/bin/sh
# Installs the Debian packages kbal builds and tests with, if any is missing.
# `apt-get update` runs once, before the first install.
set -eu
PKGS="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev iproute2 node-llhttp
make gcc pkg-config curl python3 util-linux ethtool libaprutil1-dev apache2-utils
chromium chromium-driver python3-selenium apache2 libclang-rt-14-dev libsystemd-dev
scdoc prometheus man-db logrotate nginx-light dpkg-dev debhelper fakeroot lintian
libpcre2-dev libcap-dev bird2 exabgp"
# libclang-rt-14-dev: clang's libFuzzer and sanitizer runtimes (make fuzz),
# only recommended by Debian's clang-14, which --no-install-recommends skips;
# libsystemd-dev: sd_notify(); scdoc: the man pages; prometheus: promtool,
# which checks the metrics endpoint's text (its server is never started);
# logrotate checks the installed snippet; nginx-light is a member that
# reads the PROXY protocol (tests/e2e/test_proxy_protocol.py); dpkg-dev,
# debhelper, fakeroot and lintian build and check the Debian package;
# libcap-dev: User's capabilities (user/privs.c); bird2 and exabgp: the
# cluster tests' router (BGP into the kernel's ECMP routes) and each kbal
# host's announcement with its healthcheck (tests/e2e/test_cluster.py,
# docs/scale-out.md); neither's service is started
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# the package is there but its sources are not (removed by hand, or by an
# older kbal Makefile that took them for intermediate files): install again
reinstall=""
case "$missing" in
*node-llhttp*) ;;
*) [ -f /usr/share/llhttp/llhttp.c ] || reinstall="node-llhttp" ;;
esac
[ -z "$missing$reinstall" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "kbal: missing Debian packages:$missing $reinstall" >&2
	echo "kbal: run as root (sudo make ...) to install them" >&2
	exit 1
fi
echo "kbal: installing$missing${reinstall:+ (again: $reinstall)}"
export DEBIAN_FRONTEND=noninteractive
# no package's service starts (apache2, prometheus): the tests run their
# own, on ports of their own. An existing policy-rc.d is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# kbal tools/deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -q
[ -z "$missing" ] || apt-get install -y -q --no-install-recommends $missing
[ -z "$reinstall" ] || apt-get install -y -q --reinstall --no-install-recommends $reinstall
