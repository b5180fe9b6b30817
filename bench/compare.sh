#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/compare.sh: jobd against redis-server and gearmand, the same load
# shape against each, in one run, and a table of ratios (docs/benchmarks.md).
#
#   bench/compare.sh [BUILD_DIR]        (default: ./build)
#
# Needs (benchmarking only, not CI): redis-server redis-tools
# gearman-job-server libgearman-dev (for bench/gearman/, built when found),
# wrk (the HTTP row: jobd's REST API, keep-alive; env JOBD_HTTP_PORT).
# Everything listens on 127.0.0.1 on ports of its own (env JOBD_PORT,
# REDIS_PORT, GEARMAN_PORT); everything started here is stopped here, by
# pid. Env: DURATION (measured seconds per run, 3), REPS (rounds; each
# figure is the median over rounds, 5), WORKERS (echo workers, nproc - 1),
# IDLE (idle connections, 10000), ARRAY_MB (the array echo's size, 8),
# JSON_ROUNDS (rounds of the 1M-number JSON echo, 3), JOBD_BIN (another jobd binary to run,
# e.g. an older build), JOBD_BIN_B (a second jobd, on JOBD_PORT_B, measured
# in the same rounds as the first for an A/B table: closed and open loop),
# KEEP=1 keeps the temp dir. A third jobd on JOBD_PORT_P runs every plugin
# in worker processes (isolation: process, docs/isolation.md) and is
# measured in the same rounds (PROCESS=0 leaves it out).
set -uo pipefail

BUILD=$(cd "${1:-build}" && pwd)
JOBD_PORT=${JOBD_PORT:-27878}
JOBD_PORT_B=${JOBD_PORT_B:-27879}
JOBD_HTTP_PORT=${JOBD_HTTP_PORT:-27880}
JOBD_BIN_B=${JOBD_BIN_B:-}
JOBD_PORT_P=${JOBD_PORT_P:-27880}
PROCESS=${PROCESS:-1}
REDIS_PORT=${REDIS_PORT:-26379}
GEARMAN_PORT=${GEARMAN_PORT:-24730}
DURATION=${DURATION:-3}
REPS=${REPS:-5}
IDLE=${IDLE:-10000}
NPROC=$(nproc)
WORKERS=${WORKERS:-$((NPROC > 1 ? NPROC - 1 : 1))}
BENCH=$BUILD/bench/jobd-bench
JOBD_BIN=${JOBD_BIN:-$BUILD/src/daemon/jobd}
GM_LOAD=$BUILD/bench/gearman/gm-load
GM_WORKER=$BUILD/bench/gearman/gm-echo-worker

for f in "$BENCH" "$BUILD/src/daemon/jobd" "$BUILD/tests/plugins/spin.so"; do
	[ -e "$f" ] || { echo "compare.sh: $f missing: build first" >&2; exit 2; }
done
have_redis=1 have_gearman=1
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || have_redis=0
command -v gearmand >/dev/null && [ -x "$GM_LOAD" ] || have_gearman=0
have_wrk=1
command -v wrk >/dev/null || have_wrk=0

ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d /tmp/jobd-compare.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ "${KEEP:-0}" = 1 ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

wait_port() { # port: until something accepts there (5 s)
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "compare.sh: nothing listens on port $1" >&2
	exit 2
}

# key=value from a RESULT line
val() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# --- servers ------------------------------------------------------------------

cat >"$TMP/jobd.yaml" <<EOF
listen: "127.0.0.1:$JOBD_PORT"
plugin_dirs: ['$BUILD/plugins', '$BUILD/tests/plugins']
state_dir: '$TMP/state'
log_level: warning
http:
  listen: ["127.0.0.1:$JOBD_HTTP_PORT"]
limits:
  max_connections: $((IDLE + 1000))
  max_frame_size: 64MiB
plugins:
  echo:
    workers: $WORKERS
  spin:
    workers: 1
EOF
mkdir -p "$TMP/state"
"$JOBD_BIN" -c "$TMP/jobd.yaml" 2>"$TMP/jobd.log" &
JOBD_PID=$!
PIDS+=("$JOBD_PID")
wait_port "$JOBD_PORT"
wait_port "$JOBD_HTTP_PORT"
if [ -n "$JOBD_BIN_B" ]; then
	mkdir -p "$TMP/state-b"
	sed -e "s/:$JOBD_PORT\"/:$JOBD_PORT_B\"/" -e "s|/state'|/state-b'|" \
		-e "/^http:/,/^limits:/{/^limits:/!d}" \
		"$TMP/jobd.yaml" >"$TMP/jobd-b.yaml"
	"$JOBD_BIN_B" -c "$TMP/jobd-b.yaml" 2>"$TMP/jobd-b.log" &
	PIDS+=("$!")
	wait_port "$JOBD_PORT_B"
fi

if [ "$PROCESS" = 1 ]; then
	mkdir -p "$TMP/state-p"
	{ sed -e "s/:$JOBD_PORT\"/:$JOBD_PORT_P\"/" -e "s|/state'|/state-p'|" \
		"$TMP/jobd.yaml"; } >"$TMP/jobd-p.yaml"
	sed -i '1i isolation: process' "$TMP/jobd-p.yaml"
	JOBD_WORKER_PATH=${JOBD_WORKER_PATH:-$BUILD/src/worker/jobd-worker} \
		"$JOBD_BIN" -c "$TMP/jobd-p.yaml" 2>"$TMP/jobd-p.log" &
	JOBD_PID_P=$!
	PIDS+=("$JOBD_PID_P")
	wait_port "$JOBD_PORT_P"
fi

if [ $have_redis = 1 ]; then
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
		--appendonly no --maxclients $((IDLE + 1000)) \
		--logfile "$TMP/redis.log" &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	wait_port "$REDIS_PORT"
fi
if [ $have_gearman = 1 ]; then
	gearmand --listen 127.0.0.1 --port "$GEARMAN_PORT" \
		--log-file "$TMP/gearmand.log" &
	GEARMAN_PID=$!
	PIDS+=("$GEARMAN_PID")
	wait_port "$GEARMAN_PORT"
	"$GM_WORKER" 127.0.0.1 "$GEARMAN_PORT" 4 &
	PIDS+=("$!")
	sleep 0.5
fi

echo "machine: $NPROC CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
echo "jobd: echo with $WORKERS worker(s); $REPS rounds of ${DURATION}s, medians"
[ -n "$JOBD_BIN_B" ] && echo "A: $JOBD_BIN; B: $JOBD_BIN_B (same rounds, A first)"
echo

# --- closed loop: 50 connections, 64-byte payload, D=1 and D=16 -----------------

declare -A R # R[name]=list of rps, P[name]=list of p99
declare -A P
add() { R[$1]="${R[$1]:-} $2"; P[$1]="${P[$1]:-} $3"; }
jb() { # name, args...: one jobd-bench run
	local name=$1 out
	shift
	out=$("$BENCH" -t "$DURATION" -w 1 "$@" | tail -1) || true
	add "$name" "$(val "$out" rps)" "$(val "$out" p99_us)"
}
rb() { # name, pipeline, requests
	local out
	out=$(redis-benchmark -p "$REDIS_PORT" -t ping_mbulk -c 50 -P "$2" \
		-n "$3" --csv 2>/dev/null | tail -1 | tr -d '"')
	add "$1" "$(cut -d, -f2 <<<"$out")" \
		"$(awk -F, '{print $7 * 1000}' <<<"$out")"
}
gb() { # name, depth
	local out
	out=$("$GM_LOAD" -H 127.0.0.1 -p "$GEARMAN_PORT" -c 50 -d "$2" -s 64 \
		-t "$DURATION" -w 1 | tail -1) || true
	add "$1" "$(val "$out" rps)" "$(val "$out" p99_us)"
}

# The same 64-byte echo over HTTP: POST /v1/plugins/echo/call, keep-alive,
# one request at a time per connection (HTTP/1.1 has no ids to multiplex).
cat >"$TMP/echo.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"p":"0123456789012345678901234567890123456789012345678901"}'
LUA
hb() { # name: one wrk run, 50 connections
	local out rps p99
	out=$(wrk -t 2 -c 50 -d "${DURATION}s" --latency -s "$TMP/echo.lua" \
		"http://127.0.0.1:$JOBD_HTTP_PORT/v1/plugins/echo/call" 2>&1) || true
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u);
		sub(/[a-z]+$/, "", v); f = (u == "s" ? 1e6 : u == "ms" ? 1e3 : 1);
		printf "%.0f", v * f}' <<<"$out")
	add "$1" "${rps:-0}" "${p99:-0}"
}

for r in $(seq "$REPS"); do
	echo "round $r/$REPS ..." >&2
	for d in 1 16; do
		jb "jobd_d$d" -p "$JOBD_PORT" -c 50 -d $d -s 64
		[ -n "$JOBD_BIN_B" ] && jb "jobdB_d$d" -p "$JOBD_PORT_B" -c 50 -d $d -s 64
		[ "$PROCESS" = 1 ] && jb "jobdP_d$d" -p "$JOBD_PORT_P" -c 50 -d $d -s 64
		if [ $have_redis = 1 ]; then
			# ~DURATION seconds' worth at the last rate seen
			last=$(median ${R[redis_p$d]:-$((d * 80000))})
			rb "redis_p$d" $d $(awk -v r="$last" -v t="$DURATION" \
				'BEGIN {printf "%d", r * t}')
			jb "redisresp_d$d" --proto resp -s 0 -p "$REDIS_PORT" \
				-c 50 -d $d
		fi
		[ $have_gearman = 1 ] && gb "gearman_d$d" $d
	done
	[ $have_wrk = 1 ] && hb jobd_http
done

m() { median ${R[$1]:-0}; }
mp() { median ${P[$1]:-0}; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
# Median over rounds of a/b within each round: the two ran seconds apart,
# so a machine that drifts between rounds moves both alike.
pratio() {
	paste -d' ' <(tr -s ' ' '\n' <<<"${R[$1]:-}" | sed '/^$/d') \
		<(tr -s ' ' '\n' <<<"${R[$2]:-}" | sed '/^$/d') |
		awk '$2 > 0 {printf "%.4f\n", $1 / $2}' | sort -g |
		awk '{v[NR]=$1} END {if (NR) printf "%.2f", v[int((NR+1)/2)]; else print "-"}'
}
row() { # label, a, b, target
	printf '%-44s %9s %9s %8s\n' "$1" "$(ratio "$(m "$2")" "$(m "$3")")" "$(pratio "$2" "$3")" "$4"
}

printf '%-44s %12s %10s\n' "closed loop, 50 conns, 64 B" "req/s" "p99 us"
for d in 1 16; do
	printf '%-44s %12.0f %10.0f\n' "jobd echo, D=$d" "$(m jobd_d$d)" "$(mp jobd_d$d)"
	[ -n "$JOBD_BIN_B" ] && printf '%-44s %12.0f %10.0f\n' \
		"jobd B echo, D=$d" "$(m jobdB_d$d)" "$(mp jobdB_d$d)"
	[ "$PROCESS" = 1 ] && printf '%-44s %12.0f %10.0f\n' \
		"jobd echo in worker processes, D=$d" "$(m jobdP_d$d)" "$(mp jobdP_d$d)"
	[ $have_redis = 1 ] && printf '%-44s %12.0f %10.0f\n' \
		"redis PING, redis-benchmark -P $d" "$(m redis_p$d)" "$(mp redis_p$d)"
	[ $have_redis = 1 ] && printf '%-44s %12.0f %10.0f\n' \
		"redis PING, jobd-bench --proto resp D=$d" "$(m redisresp_d$d)" "$(mp redisresp_d$d)"
	[ $have_gearman = 1 ] && printf '%-44s %12.0f %10.0f\n' \
		"gearmand + 4 C workers, gm-load D=$d" "$(m gearman_d$d)" "$(mp gearman_d$d)"
done
[ $have_wrk = 1 ] && printf '%-44s %12.0f %10.0f\n' \
	"jobd echo over HTTP, wrk keep-alive" "$(m jobd_http)" "$(mp jobd_http)"
echo
printf '%-44s %9s %9s %8s\n' "ratios: of the medians; paired:" "medians" "paired" "target"
echo "(paired: the median of the ratios within each round)"
if [ $have_redis = 1 ]; then
	row "D=1  jobd / redis-benchmark -P 1" jobd_d1 redis_p1 ">= 0.80"
	row "D=1  jobd / redis (same client)" jobd_d1 redisresp_d1 "-"
	row "D=16 jobd / redis-benchmark -P 16" jobd_d16 redis_p16 ">= 0.35"
	row "D=16 jobd / redis (same client)" jobd_d16 redisresp_d16 "-"
fi
[ $have_wrk = 1 ] && row "jobd HTTP (wrk) / binary protocol D=1" jobd_http jobd_d1 "-"
if [ -n "$JOBD_BIN_B" ]; then
	row "D=1  jobd B / jobd A" jobdB_d1 jobd_d1 "-"
	row "D=16 jobd B / jobd A" jobdB_d16 jobd_d16 "-"
fi
if [ "$PROCESS" = 1 ]; then
	row "D=1  jobd process / thread mode" jobdP_d1 jobd_d1 ">= 0.80"
	row "D=16 jobd process / thread mode" jobdP_d16 jobd_d16 ">= 0.80"
fi
if [ $have_gearman = 1 ]; then
	row "D=1  jobd / gearmand" jobd_d1 gearman_d1 ">= 3"
	row "D=16 jobd / gearmand" jobd_d16 gearman_d16 "-"
fi
echo

# --- open loop at half of jobd's peak ---------------------------------------------

peak=$(awk -v a="$(m jobd_d1)" -v b="$(m jobd_d16)" 'BEGIN {print (a > b ? a : b)}')
half=$(awk -v p="$peak" 'BEGIN {printf "%d", p / 2}')
ol_j=() ol_r=() ol_b=()
for r in $(seq "$REPS"); do
	out=$("$BENCH" -p "$JOBD_PORT" -c 50 -s 64 -r "$half" -t "$DURATION" -w 1 | tail -1) || true
	ol_j+=("$(val "$out" p99_us)")
	if [ -n "$JOBD_BIN_B" ]; then
		out=$("$BENCH" -p "$JOBD_PORT_B" -c 50 -s 64 -r "$half" -t "$DURATION" -w 1 | tail -1) || true
		ol_b+=("$(val "$out" p99_us)")
	fi
	if [ $have_redis = 1 ]; then
		out=$("$BENCH" --proto resp -s 0 -p "$REDIS_PORT" -c 50 -r "$half" -t "$DURATION" -w 1 | tail -1) || true
		ol_r+=("$(val "$out" p99_us)")
	fi
done
echo "open loop at half of jobd's peak ($half req/s offered, 50 conns; latency from the scheduled send)"
printf '%-44s %9.0f\n' "jobd p99 us" "$(median "${ol_j[@]}")"
[ -n "$JOBD_BIN_B" ] && printf '%-44s %9.0f\n' "jobd B p99 us" "$(median "${ol_b[@]}")"
if [ $have_redis = 1 ]; then
	printf '%-44s %9.0f\n' "redis PING p99 us" "$(median "${ol_r[@]}")"
	printf '%-44s %9s %8s\n' "jobd p99 / redis p99" "$(ratio "$(median "${ol_j[@]}")" "$(median "${ol_r[@]}")")" "<= 2"
fi
echo

# --- idle connections ---------------------------------------------------------------

out=$("$BENCH" -p "$JOBD_PORT" --pid "$JOBD_PID" --idle "$IDLE" -c 1 -d 1 -s 64 -t "$DURATION" -w 0.5 | tail -1) || true
echo "$IDLE idle connections held"
printf '%-44s %9.0f %8s\n' "jobd RSS growth, bytes per connection" "$(val "$out" idle_b_per_conn)" "< 4096"
printf '%-44s %9.0f %8s\n' "jobd new client's call p99 us (D=1)" "$(val "$out" p99_us)" "< 5000"
if [ $have_redis = 1 ]; then
	out=$("$BENCH" --proto resp -s 0 -p "$REDIS_PORT" --pid "$REDIS_PID" --idle "$IDLE" -c 1 -d 1 -t "$DURATION" -w 0.5 | tail -1) || true
	printf '%-44s %9.0f\n' "redis RSS growth, bytes per connection" "$(val "$out" idle_b_per_conn)"
fi
echo

# --- a 10 ms CPU job ------------------------------------------------------------------

out=$("$BENCH" -p "$JOBD_PORT" --pid "$JOBD_PID" -P spin -i '{"ms":10}' --stats -c 1 -d 1 -t "$((DURATION * 3))" -w 0.5 | tail -1) || true
n=$(val "$out" requests)
svc=$(val "$out" service_ms)
echo "10 ms CPU job (spin), 1 connection, D=1: $n calls"
printf '%-44s %9.3f\n' "mean call latency ms (client)" "$(awk -v x="$(val "$out" mean_us)" 'BEGIN {print x / 1000}')"
printf '%-44s %9.3f\n' "mean job time ms (worker, jobd stats)" "$svc"
printf '%-44s %8.2f%% %8s\n' "wall overhead (latency - job) / job" \
	"$(awk -v x="$(val "$out" mean_us)" -v s="$svc" 'BEGIN {if (s > 0) print (x / 1000 - s) / s * 100; else print 0}')" "< 1%"
printf '%-44s %8.2f%% %8s\n' "daemon CPU beyond the jobs' 10 ms each" \
	"$(awk -v c="$(val "$out" cpu_s)" -v n="$n" 'BEGIN {if (n) print (c - n * 0.010) / (n * 0.010) * 100; else print 0}')" "< 1%"

if [ "$PROCESS" = 1 ]; then
	out=$("$BENCH" -p "$JOBD_PORT_P" --pid "$JOBD_PID_P" -P spin -i '{"ms":10}' --stats -c 1 -d 1 -t "$((DURATION * 3))" -w 0.5 | tail -1) || true
	n=$(val "$out" requests)
	echo
	echo "10 ms CPU job (spin) in a worker process, 1 connection, D=1: $n calls"
	printf '%-44s %9.3f\n' "mean call latency ms (client)" "$(awk -v x="$(val "$out" mean_us)" 'BEGIN {print x / 1000}')"
	# The job itself is 10 ms of CPU: the worker's own time is not in the
	# daemon's stats (they time the round trip to the worker).
	printf '%-44s %8.2f%% %8s\n' "wall overhead (latency - 10 ms) / 10 ms" \
		"$(awk -v x="$(val "$out" mean_us)" 'BEGIN {print (x / 1000 - 10) / 10 * 100}')" "-"
fi
echo

# --- large data: an f64 array, and the same numbers as JSON ------------------------

ARRAY_MB=${ARRAY_MB:-8}
JSON_ROUNDS=${JSON_ROUNDS:-3}
AE=$BUILD/bench/array-echo
if [ -x "$AE" ]; then
	out=$("$AE" jobd "$JOBD_PORT" "$ARRAY_MB" 20 | tail -1) || true
	echo "${ARRAY_MB} MB f64 array, client to result, 20 rounds after 2 warm-ups"
	printf '%-44s %9.1f\n' "jobd echo (protocol v2 arrays) median ms" "$(val "$out" median_ms)"
	jms=$(val "$out" median_ms)
	if [ $have_redis = 1 ]; then
		out=$("$AE" redis "$REDIS_PORT" "$ARRAY_MB" 20 | tail -1) || true
		printf '%-44s %9.1f\n' "redis SET + GET of the same bytes median ms" "$(val "$out" median_ms)"
		printf '%-44s %9s %8s\n' "jobd / redis" "$(ratio "$jms" "$(val "$out" median_ms)")" "<= 2"
	fi
fi
# The JSON path for the same kind of data: 1M numbers, ~20 MB of text,
# through jobctl (run with JOBD_BIN set to an older build for "before").
if command -v python3 >/dev/null; then
	python3 -c 'import random; random.seed(1); print("{\"x\":[" + ",".join(repr(random.gauss(0, 1)) for _ in range(1000000)) + "]}")' >"$TMP/big.json"
	t=() c=()
	for i in $(seq "$JSON_ROUNDS"); do
		c0=$(awk '{print $14 + $15}' "/proc/$JOBD_PID/stat")
		s0=$(date +%s.%N)
		"$BUILD/src/jobctl/jobctl" -s "127.0.0.1:$JOBD_PORT" --compact call echo "@$TMP/big.json" >/dev/null
		s1=$(date +%s.%N)
		c1=$(awk '{print $14 + $15}' "/proc/$JOBD_PID/stat")
		t+=("$(awk -v a="$s0" -v b="$s1" 'BEGIN {print (b - a) * 1000}')")
		c+=("$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))")
	done
	echo "jobctl call echo @big.json (1M numbers, $(stat -c %s "$TMP/big.json") bytes), $JSON_ROUNDS rounds"
	printf '%-44s %9.0f\n' "wall ms, median" "$(median "${t[@]}")"
	printf '%-44s %9.0f\n' "jobd CPU ms per call, median" "$(median "${c[@]}")"
fi
