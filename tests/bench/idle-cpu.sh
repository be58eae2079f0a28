#!/bin/sh
# idle-cpu.sh PID SECONDS
# Prints (on stdout, as a bare integer) the CPU time in ms -- utime+stime from
# /proc/PID/stat -- that process PID used during the next SECONDS seconds.
# Meant to be run while nothing talks to the process: an idle daemon should
# print 0 (or a few ms).  Exit status: 0 ok, 1 the process vanished, 2 usage.
set -eu

usage() { echo "usage: idle-cpu.sh PID SECONDS" >&2; exit 2; }
[ $# -eq 2 ] || usage
pid=$1 secs=$2
case $pid in ''|*[!0-9]*) usage ;; esac
case $secs in ''|*[!0-9.]*) usage ;; esac

# utime+stime in clock ticks.  The command name (field 2) may contain spaces
# and parentheses, so drop everything up to the last ") " first; then state is
# the 1st field and utime/stime are the 12th/13th.
ticks() {
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    shift 11
    echo $(( $1 + $2 ))
}

hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
t0=$(ticks) || { echo "idle-cpu.sh: no process $pid" >&2; exit 1; }
sleep "$secs" &   # in the background so that SIGTERM/SIGINT also stop the sleep
sleeper=$!
trap 'kill "$sleeper" 2>/dev/null; exit 143' TERM
trap 'kill "$sleeper" 2>/dev/null; exit 130' INT
wait "$sleeper"
trap - TERM INT
t1=$(ticks) || { echo "idle-cpu.sh: process $pid exited during the measurement" >&2; exit 1; }
echo $(( (t1 - t0) * 1000 / hz ))
