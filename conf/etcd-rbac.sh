#!/bin/bash
# etcd-rbac.sh: creates the etcd v3 users and roles zdu-agent and zdu-coordinator use,
# each allowed exactly the keys it needs, and optionally turns etcd authentication on.
#
#   ETCDCTL_ENDPOINTS=http://192.0.2.21:2379,http://192.0.2.22:2379 \
#     etcd-rbac.sh [--prefix /zdu] [--enable-auth] NODE...
#
# Run it once from an operator's host with etcdctl 3.4 or later (Debian: etcd-client), and
# again whenever a node is added (it is idempotent: users and roles that exist are kept,
# permissions are granted again). NODE is the node's name as the agent knows it (etcd.node,
# default its host name) and as the coordinator's plan names it.
#
# Keys (PREFIX defaults to /zdu, the agent's and the plan's etcd.prefix):
#   PREFIX/maintenance/nodes/NODE   a node's maintenance flag (flag file format)
#   PREFIX/maintenance/nodes/NODE/SERVICE   one service's flag on that node
#   PREFIX/maintenance/all          the cluster-wide maintenance flag
#   PREFIX/agents/NODE              the agent's state (JSON), under the agent's lease
#   PREFIX/guard/SERVICE            the fleet guard's claim: nodes it let go down lately
#   PREFIX/coordinator/lock         the coordinator's lease lock
#   PREFIX/coordinator/journal      the rollout journal (zdu-coordinator --resume)
#
# Roles and users:
#   zdu-agent-NODE   (user and role, one per node)
#       read       PREFIX/maintenance/all           watches the cluster-wide flag
#       readwrite  PREFIX/maintenance/nodes/NODE    watches its own flag; the agent writes
#                                                   it for `zdu-agent --maintenance on|off`
#       readwrite  prefix PREFIX/maintenance/nodes/NODE/   its services' flags, likewise
#                                                   (`--service NAME`)
#       read       range [PREFIX/maintenance/nodes/NODE, .../NODE0)   the one range the
#                                                   agent watches for its key and its
#                                                   services' (etcd checks a range watch
#                                                   against the whole range): it also holds
#                                                   nodes named NODE followed by a character
#                                                   sorting before "0" (NODE-b, NODE.dc2),
#                                                   whose flags the agent may read, not write
#       readwrite  PREFIX/agents/NODE               publishes its state
#       read       prefix PREFIX/agents/            the fleet guard counts its peers
#       readwrite  prefix PREFIX/guard/             the fleet guard claims going down
#     A node's credentials can neither change another node's keys, nor read another node's
#     flag (but for the names above), nor change the cluster-wide flag, nor the coordinator's
#     keys (they read the other agents' published states: the guard needs them).
#   zdu-coordinator  (user and role)
#       readwrite  prefix PREFIX/maintenance/       drains and releases nodes (and may set
#                                                   the cluster-wide flag: --all)
#       read       prefix PREFIX/agents/            reads the agents' state
#       readwrite  prefix PREFIX/coordinator/       its lock and journal
#   root             (user with the root role; only with --enable-auth)
#       etcd requires it before authentication can be enabled; it administers etcd.
#
# Passwords: taken from the environment when set, otherwise generated (24 random characters)
# and printed on stdout, once, as "USER PASSWORD" lines, for the operator to put in each
# node's etcd.password_file (mode 0600, owner the agent's user) and in the plan. The
# environment variables are
#   ZDU_ETCD_PASSWORD_<NODE>       the node's agent user, NODE upper-cased with every
#                                  character other than A-Z and 0-9 made "_"
#                                  (node api-1.dc2: ZDU_ETCD_PASSWORD_API_1_DC2)
#   ZDU_ETCD_COORDINATOR_PASSWORD  zdu-coordinator
#   ZDU_ETCD_ROOT_PASSWORD         root (with --enable-auth)
# A password given for a user that exists already replaces its password; a user that exists
# and has no password in the environment keeps its own (nothing is printed for it).
# Passwords are handed to etcdctl on its standard input, never on a command line.
#
# etcdctl's own settings come from the environment as usual: ETCDCTL_ENDPOINTS (required
# here, so that the script never configures a cluster by accident), ETCDCTL_CACERT,
# ETCDCTL_CERT, ETCDCTL_KEY, and, once authentication is on, ETCDCTL_USER=root (with
# ETCDCTL_PASSWORD) for a second run. ETCDCTL (default etcdctl) names the binary.
#
# --enable-auth creates root (if missing), then turns authentication on, last, so a failure
# before it leaves etcd open as it was. Until then etcd accepts anyone: the users and roles
# only take effect with authentication on.
#
# Exit status: 0 done; 1 an etcdctl command failed (it is named); 2 usage.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

die() {
	echo "etcd-rbac.sh: $*" >&2
	exit 2
}

prefix=/zdu
enable_auth=0
nodes=()
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) [ $# -ge 2 ] || usage; prefix=$2; shift ;;
	--prefix=*) prefix=${1#*=} ;;
	--enable-auth) enable_auth=1 ;;
	-h|--help) usage ;;
	--) shift; nodes+=("$@"); break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) nodes+=("$1") ;;
	esac
	shift
done
[ ${#nodes[@]} -gt 0 ] || die "no NODE given (see --help)"
# The agent's own rules for etcd.prefix and etcd.node (agent/common/config.c).
case $prefix in
/) ;;
/*/) die "--prefix \"$prefix\" must start with / and not end with /" ;;
/*) ;;
*) die "--prefix \"$prefix\" must start with / and not end with /" ;;
esac
for n in "${nodes[@]}"; do
	if [ -z "$n" ] || ! LC_ALL=C grep -qx '[!-.0-~]*' <<<"$n"; then
		die "node \"$n\" must be printable, without '/' or spaces"
	fi
done
[ -n "${ETCDCTL_ENDPOINTS:-}" ] ||
	die "set ETCDCTL_ENDPOINTS to the cluster's client URLs (http://host:2379,...)"
export ETCDCTL_API=3 ETCDCTL_ENDPOINTS
etcdctl=${ETCDCTL:-etcdctl}
command -v "$etcdctl" >/dev/null || die "$etcdctl not found (Debian: apt-get install etcd-client)"

failed() { # failed OUTPUT ARGS...: names the command, shows etcdctl's error, exits 1
	local out=$1
	shift
	echo "etcd-rbac.sh: etcdctl $* failed:" >&2
	printf '%s\n' "$out" | grep -v '"level":"warn"' >&2 || true
	case $out in
	*"user name is empty"*|*"invalid auth token"*|*"permission denied"*)
		echo "etcd-rbac.sh: authentication is on: set ETCDCTL_USER=root and ETCDCTL_PASSWORD" >&2 ;;
	esac
	exit 1
}

# One etcdctl command; its output goes to stderr (stdout is for the passwords).
ctl() {
	local out
	out=$("$etcdctl" "$@" 2>&1 </dev/null) || failed "$out" "$@"
	printf '%s\n' "$out" >&2
}

# ctl with a password on the standard input.
ctl_pw() {
	local pw=$1 out
	shift
	out=$(printf '%s\n' "$pw" | "$etcdctl" "$@" 2>&1) || failed "$out" "$@"
	printf '%s\n' "$out" >&2
}

exists() { # exists user|role NAME
	"$etcdctl" "$1" get "$2" >/dev/null 2>&1 </dev/null
}

gen_password() {
	# 24 characters of [A-Za-z0-9]: no quoting trouble in a file, a plan or etcdctl.
	local p=""
	while [ ${#p} -lt 24 ]; do
		p+=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9')
	done
	printf '%s' "${p:0:24}"
}

generated=()

# user NAME PASSWORD_FROM_ENV: creates NAME (or sets the given password on it).
user() {
	local name=$1 pw=$2
	case $pw in *[[:space:]]*) die "the password for $name contains white space (etcdctl reads one word)" ;; esac
	if exists user "$name"; then
		if [ -n "$pw" ]; then
			ctl_pw "$pw" user passwd "$name" --interactive=false
		else
			echo "user $name exists: its password is kept" >&2
		fi
		return
	fi
	if [ -z "$pw" ]; then
		pw=$(gen_password)
		generated+=("$name $pw")
	fi
	ctl_pw "$pw" user add "$name" --interactive=false
}

role() {
	exists role "$1" || ctl role add "$1"
}

# grant ROLE read|readwrite KEY [prefix | range END]
grant() {
	if [ "${4:-}" = prefix ]; then
		ctl role grant-permission "$1" "$2" "$3" --prefix=true
	elif [ "${4:-}" = range ]; then
		ctl role grant-permission "$1" "$2" "$3" "$5"
	else
		ctl role grant-permission "$1" "$2" "$3"
	fi
}

env_name() { # the environment variable holding NODE's password
	local v
	# ASCII on purpose: node names are ASCII (agent/common/config.c)
	# shellcheck disable=SC2018,SC2019
	v=$(LC_ALL=C tr 'a-z' 'A-Z' <<<"$1" | LC_ALL=C tr -c 'A-Z0-9\n' '_')
	printf 'ZDU_ETCD_PASSWORD_%s' "$v"
}

for n in "${nodes[@]}"; do
	r=zdu-agent-$n
	role "$r"
	grant "$r" read "$prefix/maintenance/all"
	grant "$r" readwrite "$prefix/maintenance/nodes/$n"
	grant "$r" readwrite "$prefix/maintenance/nodes/$n/" prefix
	grant "$r" read "$prefix/maintenance/nodes/$n" range "$prefix/maintenance/nodes/${n}0"
	grant "$r" readwrite "$prefix/agents/$n"
	grant "$r" read "$prefix/agents/" prefix
	grant "$r" readwrite "$prefix/guard/" prefix
	v=$(env_name "$n")
	user "$r" "${!v:-}"
	ctl user grant-role "$r" "$r"
done

role zdu-coordinator
grant zdu-coordinator readwrite "$prefix/maintenance/" prefix
grant zdu-coordinator read "$prefix/agents/" prefix
grant zdu-coordinator readwrite "$prefix/coordinator/" prefix
user zdu-coordinator "${ZDU_ETCD_COORDINATOR_PASSWORD:-}"
ctl user grant-role zdu-coordinator zdu-coordinator

if [ $enable_auth = 1 ]; then
	role root
	user root "${ZDU_ETCD_ROOT_PASSWORD:-}"
	ctl user grant-role root root
fi

# The passwords before enabling authentication: should that fail, they are still known.
if [ ${#generated[@]} -gt 0 ]; then
	echo "# generated passwords (USER PASSWORD); shown once, keep them safe"
	printf '%s\n' "${generated[@]}"
fi

if [ $enable_auth = 1 ]; then
	ctl auth enable
	echo "etcd authentication is on: etcdctl now needs --user (ETCDCTL_USER=root ...)" >&2
fi
