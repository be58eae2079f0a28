#!/bin/bash
# probe-latency.sh BUILD_DIR
#
# Does a hung nova-api slow down the agent's replies to HAProxy? p99 agent-check reply
# latency of BUILD_DIR/agent/zdu-agent while it probes a fake nova-api
# (tests/lib/fake_nova.py, its own process) that is
#   healthy : answers the version document at once;
#   hung    : reads the request and never answers (every probe times out);
# measured with probe-bench (-c CONCURRENCY -d DURATION), ROUNDS times each,
# alternating healthy/hung so that machine noise hits both alike. Prints every run, the
# median p99 of each and their ratio hung/healthy. Target: ratio <= 1.10.
#
# The agent probes every 300 ms with a 250 ms timeout: while nova hangs a request is in
# flight 83% of the time.
# Knobs (environment): CONCURRENCY=8 DURATION=5 ROUNDS=3 TARGET=1.10
#                      PROBE_BENCH=path (else BUILD_DIR/tests/bench/probe-bench, else it is
#                      compiled into a temp dir with cc)
#                      STRICT=1: exit 1 when the ratio misses the target (default: report only,
#                      a benchmark on a shared machine is noisy).
# Only 127.0.0.1 is used; every process started here is stopped on exit.
# Exit status: 0 ok, 1 a run failed (or STRICT and over target), 2 usage/setup.
set -u

CONCURRENCY=${CONCURRENCY:-8}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
TARGET=${TARGET:-1.10}
STRICT=${STRICT:-0}

die() { echo "probe-latency: $*" >&2; exit 2; }
[ $# -eq 1 ] || { echo "usage: probe-latency.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
AGENT=$BUILD/agent/zdu-agent
FAKE_NOVA=$SRC/tests/lib/fake_nova.py
PY=/usr/bin/python3
[ -x "$AGENT" ] || die "$AGENT does not exist (build the agent first)"
[ -f "$FAKE_NOVA" ] || die "no $FAKE_NOVA"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zdu-probe-latency.XXXXXX") || die "mktemp failed"
PIDS=()
# shellcheck disable=SC2317  # invoked from the EXIT trap
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${PROBE_BENCH:-}" ]; then
    [ -x "$PROBE_BENCH" ] || die "PROBE_BENCH=$PROBE_BENCH is not executable"
elif [ -x "$BUILD/tests/bench/probe-bench" ]; then
    PROBE_BENCH=$BUILD/tests/bench/probe-bench
else
    PROBE_BENCH=$TMP/probe-bench
    cc -O2 -std=c11 -o "$PROBE_BENCH" "$HERE/probe-bench.c" 2>"$TMP/cc.err" \
        || { cat "$TMP/cc.err" >&2; die "cannot build probe-bench"; }
    echo "probe-latency: probe-bench not built under $BUILD; compiled $PROBE_BENCH"
fi

# ---- fake nova ---------------------------------------------------------------
"$PY" "$FAKE_NOVA" --listen 127.0.0.1:0 --control 127.0.0.1:0 >"$TMP/nova.out" 2>"$TMP/nova.err" </dev/null &
PIDS+=("$!")
for _ in $(seq 100); do grep -q '^ready ' "$TMP/nova.out" && break; sleep 0.1; done
NOVA_PORT=$(sed -n 's/^ready listen=127.0.0.1:\([0-9]*\) .*/\1/p' "$TMP/nova.out")
CTL_PORT=$(sed -n 's/.* control=127.0.0.1:\([0-9]*\)$/\1/p' "$TMP/nova.out")
[ -n "$NOVA_PORT" ] && [ -n "$CTL_PORT" ] || { cat "$TMP/nova.err" >&2; die "fake_nova did not start"; }

# nova_mode NAME: one control command; fails unless fake_nova says ok.
nova_mode() {
    local line
    exec 3<>"/dev/tcp/127.0.0.1/$CTL_PORT" || return 1
    printf 'mode %s\n' "$1" >&3
    IFS= read -r -t 10 line <&3
    exec 3>&-
    [ "$line" = ok ] || { echo "probe-latency: fake_nova mode $1: '$line'" >&2; return 1; }
}

# ---- agent -------------------------------------------------------------------
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return 0; fi
    done
    return 1
}
AGENT_PORT=$(free_port) || die "no free port"
mkdir -p "$TMP/agent"
cat >"$TMP/agent.conf" <<EOF
agent:   { listen = [ "127.0.0.1:$AGENT_PORT" ]; weight = 100; };
flag:    { file = "$TMP/agent/maintenance"; };
control: { socket = "$TMP/agent/control.sock"; };
probe:   { enabled = true; url = "http://127.0.0.1:$NOVA_PORT/v2.1/"; interval_ms = 300;
           timeout_ms = 250; connect_timeout_ms = 250; rise = 2; fall = 3; };
log:     { level = "notice"; };
EOF
"$AGENT" --config "$TMP/agent.conf" --foreground >"$TMP/agent.log" 2>&1 </dev/null &
AGENT_PID=$!
PIDS+=("$AGENT_PID")

# wait_reply PREFIX: until the agent's reply starts with PREFIX (max ~15 s).
wait_reply() {
    local r
    for _ in $(seq 300); do
        kill -0 "$AGENT_PID" 2>/dev/null || { tail -n 20 "$TMP/agent.log" >&2; die "zdu-agent exited"; }
        r=$(exec 3<>"/dev/tcp/127.0.0.1/$AGENT_PORT" 2>/dev/null && cat <&3)
        case "$r" in "$1"*) return 0 ;; esac
        sleep 0.05
    done
    echo "probe-latency: reply '$r', waited for '$1'" >&2
    tail -n 20 "$TMP/agent.log" >&2
    return 1
}

jlat() { sed -n "s/.*\"latency_us\":{[^}]*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }
jnum() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }

STATUS=0
declare -A P99S
run() { # run NAME ROUND
    local out rc
    "$PROBE_BENCH" 127.0.0.1 "$AGENT_PORT" -c "$CONCURRENCY" -d "$DURATION" -p "$AGENT_PID" --json \
        >"$TMP/$1.$2.json" </dev/null
    rc=$?
    out=$(cat "$TMP/$1.$2.json")
    printf '%-8s round %d: probes/s %8.0f  p50 %7s us  p99 %7s us  max %8s us  errors %s  mismatches %s\n' \
        "$1" "$2" "$(jnum "$out" probes_per_s)" "$(jlat "$out" p50)" "$(jlat "$out" p99)" \
        "$(jlat "$out" max)" "$(jnum "$out" errors)" "$(jnum "$out" mismatches)"
    if [ $rc -ne 0 ]; then
        echo "probe-latency: probe-bench exit $rc in $1 round $2: $out" >&2
        STATUS=1
    fi
    P99S[$1]="${P99S[$1]:-} $(jlat "$out" p99)"
}

echo "== zdu-agent $AGENT on 127.0.0.1:$AGENT_PORT, fake nova on :$NOVA_PORT; probe-bench -c $CONCURRENCY -d $DURATION, $ROUNDS rounds, $(nproc) CPUs"
nova_mode healthy || die "fake_nova control failed"
wait_reply "up ready 100% #nova-api 2.93" || die "agent not healthy"
for r in $(seq "$ROUNDS"); do
    nova_mode healthy || die "fake_nova control failed"
    wait_reply "up ready 100% #nova-api 2.93" || die "agent not healthy again"
    run healthy "$r"
    nova_mode hang || die "fake_nova control failed"
    wait_reply "down ready 100% #nova-api: timeout after 250 ms" || die "agent did not see the hang"
    run hung "$r"
done
kill -0 "$AGENT_PID" 2>/dev/null || { echo "probe-latency: zdu-agent died" >&2; STATUS=1; }

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
H=$(median <<<"${P99S[healthy]}")
U=$(median <<<"${P99S[hung]}")
echo
awk -v h="$H" -v u="$U" -v t="$TARGET" 'BEGIN {
    r = (h > 0) ? u / h : 0
    printf "== p99 reply latency (median of rounds): nova healthy %.1f us, nova hung %.1f us, hung/healthy %.2f (target <= %.2f): %s\n",
        h, u, r, t, (r <= t) ? "OK" : "OVER TARGET"
    exit (r <= t) ? 0 : 1 }'
over=$?
if [ $over -ne 0 ] && [ "$STRICT" = 1 ]; then
    STATUS=1
fi
exit $STATUS
