#!/bin/bash
# run-bench.sh BUILD_DIR
#
# Compares zdu-agent with the bare epoll reference responder:
#   1. bare-responder on 127.0.0.1:<free port>, probe-bench -c 32 -d 5 -p PID,
#      idle CPU over 5 s, stop it;
#   2. BUILD_DIR/agent/zdu-agent --config TMP/agent.conf --foreground (minimal
#      test config, probe disabled), same load, idle CPU over 5 s, stop it;
#   3. summary table and agent/bare ratios.
# The agent part is skipped (with a message) when the binary does not exist.
# Only 127.0.0.x addresses are used; every process started here is stopped on
# exit; no terminal needed.
# Knobs (environment): CONCURRENCY=32 DURATION=5 IDLE_SECONDS=5
# Exit status: 0 ok, 1 a run failed or saw errors/mismatches, 2 usage/setup.
set -u

CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-5}
IDLE_SECONDS=${IDLE_SECONDS:-5}

die() { echo "run-bench: $*" >&2; exit 2; }
[ $# -eq 1 ] || { echo "usage: run-bench.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
HERE=$(cd "$(dirname "$0")" && pwd)

find_tool() { # the tools live in BUILD/tests/bench when built from the top level
    local t
    for t in "$BUILD/tests/bench/$1" "$BUILD/bench/$1" "$BUILD/$1"; do
        [ -x "$t" ] && { echo "$t"; return 0; }
    done
    t=$(find "$BUILD" -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1)
    [ -n "$t" ] && { echo "$t"; return 0; }
    return 1
}
PROBE_BENCH=$(find_tool probe-bench) || die "probe-bench not built under $BUILD"
BARE=$(find_tool bare-responder) || die "bare-responder not built under $BUILD"
AGENT=$BUILD/agent/zdu-agent
IDLE_CPU=$HERE/idle-cpu.sh

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zdu-bench.XXXXXX") || die "mktemp failed"
PIDS=()
# shellcheck disable=SC2317  # invoked from the EXIT trap
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    PIDS=()
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop PID: SIGTERM, wait up to 5 s, then SIGKILL. Prints a warning if needed.
stop() {
    local p=$1 name=$2
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        echo "run-bench: warning: $name (pid $p) ignored SIGTERM for 5 s, killing it" >&2
        kill -KILL "$p" 2>/dev/null
    fi
    wait "$p" 2>/dev/null
    local np=() q
    for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || np+=("$q"); done
    PIDS=("${np[@]+"${np[@]}"}")
}

# A TCP port on 127.0.0.1 nobody listens on (below the ephemeral range).
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# jget JSON KEY: the number after "KEY": in probe-bench's flat-ish JSON.
jget() { sed -n "s/.*\"$2\":\(-\{0,1\}[0-9.]*\).*/\1/p" <<<"$1"; }

# wait_ready PORT PID: probe until one probe succeeds (max ~10 s).
wait_ready() {
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        "$PROBE_BENCH" 127.0.0.1 "$1" -n 1 -c 1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# run_fg OUTFILE CMD...: run CMD in the background and wait for it, so that a
# SIGINT/SIGTERM to this script is handled at once (and CMD gets cleaned up).
run_fg() {
    local out=$1 p rc
    shift
    "$@" >"$out" </dev/null &
    p=$!
    PIDS+=("$p")
    wait "$p"
    rc=$?
    local np=() q
    for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || np+=("$q"); done
    PIDS=("${np[@]+"${np[@]}"}")
    return $rc
}

STATUS=0
ROWS=()
# bench NAME PORT PID: load + idle CPU; appends a row "name rate p50 p99 max rss hwm idle errors mism".
bench() {
    local name=$1 port=$2 pid=$3 out rc idle=
    echo "== $name: probe-bench -c $CONCURRENCY -d $DURATION against 127.0.0.1:$port (pid $pid)"
    run_fg "$TMP/$name.json" "$PROBE_BENCH" 127.0.0.1 "$port" -c "$CONCURRENCY" -d "$DURATION" -p "$pid" --json
    rc=$?
    out=$(cat "$TMP/$name.json")
    echo "$out"
    if [ -z "$out" ] || [ $rc -ge 2 ]; then
        echo "run-bench: probe-bench failed against $name (exit $rc)" >&2
        STATUS=1
        return 1
    fi
    [ $rc -eq 0 ] || { echo "run-bench: warning: $name: errors or mismatches (see above)" >&2; STATUS=1; }
    kill -0 "$pid" 2>/dev/null || { echo "run-bench: $name died during the run" >&2; STATUS=1; return 1; }
    echo "== $name: idle CPU over $IDLE_SECONDS s"
    sleep 0.5 # let the last connections finish closing
    run_fg "$TMP/$name.idle" "$IDLE_CPU" "$pid" "$IDLE_SECONDS" && idle=$(cat "$TMP/$name.idle")
    [ -n "${idle:-}" ] || idle=NA
    echo "idle cpu: $idle ms"
    ROWS+=("$name $(jget "$out" probes_per_s) $(jget "$out" p50) $(jget "$out" p99) $(jget "$out" max) \
$(jget "$out" rss_kb) $(jget "$out" hwm_kb) $idle $(jget "$out" errors) $(jget "$out" mismatches)")
}

# ---- 1. bare responder -------------------------------------------------------
"$BARE" 127.0.0.1 0 "up ready 100%" >"$TMP/bare.out" 2>"$TMP/bare.err" </dev/null &
BARE_PID=$!
PIDS+=("$BARE_PID")
for _ in $(seq 50); do grep -q listen= "$TMP/bare.out" && break; sleep 0.1; done
BARE_PORT=$(sed -n 's/.*listen=.*:\([0-9]*\)$/\1/p' "$TMP/bare.out")
[ -n "$BARE_PORT" ] || { cat "$TMP/bare.err" >&2; die "bare-responder did not start"; }
wait_ready "$BARE_PORT" "$BARE_PID" || die "bare-responder does not answer"
bench bare "$BARE_PORT" "$BARE_PID"
stop "$BARE_PID" bare-responder

# ---- 2. zdu-agent ------------------------------------------------------------
if [ ! -x "$AGENT" ]; then
    echo "== agent: SKIPPED: $AGENT does not exist (build the agent first)"
else
    AGENT_PORT=$(free_port) || die "no free port"
    mkdir -p "$TMP/agent"
    cat >"$TMP/agent.conf" <<EOF
agent:   { listen = [ "127.0.0.1:$AGENT_PORT" ]; weight = 100; };
flag:    { file = "$TMP/agent/maintenance"; };
control: { socket = "$TMP/agent/control.sock"; };
probe:   { enabled = false; };
EOF
    "$AGENT" --config "$TMP/agent.conf" --foreground >"$TMP/agent.log" 2>&1 </dev/null &
    AGENT_PID=$!
    PIDS+=("$AGENT_PID")
    if ! wait_ready "$AGENT_PORT" "$AGENT_PID"; then
        echo "run-bench: zdu-agent did not answer on 127.0.0.1:$AGENT_PORT; its log:" >&2
        tail -n 20 "$TMP/agent.log" >&2
        STATUS=1
    else
        bench agent "$AGENT_PORT" "$AGENT_PID"
    fi
    stop "$AGENT_PID" zdu-agent
fi

# ---- 3. summary --------------------------------------------------------------
echo
echo "== summary (probe-bench -c $CONCURRENCY -d $DURATION, 127.0.0.1, $(nproc) CPUs; latency in us)"
printf '%s\n' "${ROWS[@]}" | awk '
function ratio(a, b) { return (b + 0 > 0 && a != "NA") ? sprintf("%.2f", a / b) : "n/a" }
{ n++; for (i = 1; i <= NF; i++) v[n, i] = $i; name[$1] = n }
END {
    fmt = "%-10s %10s %10s %10s %10s %9s %9s %9s %7s %7s\n"
    printf fmt, "responder", "probes/s", "p50", "p99", "max", "RSS kB", "HWM kB", "idle ms", "errors", "mism."
    for (r = 1; r <= n; r++)
        printf fmt, v[r,1], sprintf("%.0f", v[r,2]), v[r,3], v[r,4], v[r,5], v[r,6], v[r,7], v[r,8], v[r,9], v[r,10]
    if (("agent" in name) && ("bare" in name)) {
        a = name["agent"]; b = name["bare"]
        printf fmt, "agent/bare", ratio(v[a,2], v[b,2]), ratio(v[a,3], v[b,3]), ratio(v[a,4], v[b,4]),
               ratio(v[a,5], v[b,5]), ratio(v[a,6], v[b,6]), ratio(v[a,7], v[b,7]), ratio(v[a,8], v[b,8]), "", ""
    }
}'
exit $STATUS
