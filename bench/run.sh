#!/usr/bin/env bash
# shoal vs nginx vs HAProxy, side by side, one worker each, same backend, same load.
# See bench/README.md for what is measured and how. Usage: bench/run.sh --help
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
HELPER="$BENCH_DIR/bench_helper.py"

SHOAL_BIN=""
ROUNDS=3
DURATION=10
CONNS=50
WARMUP=2
ONLY="shoal,nginx,haproxy"
H2=0
H2_STREAMS=10
OUT=""
KEEP_TMP=0
PERF_DIR=""
RETRIES=1
RETRY_BUDGET=6      # at most this many re-measurements in the whole run
WAIT_IDLE=30
NOISY_LIMIT=10
NICE=-10
PROXY_CPU=0
LOAD_CPU=1

usage() {
    cat <<EOF
Usage: $0 [options]
  --shoal PATH        shoal binary (default: cargo build --release -p shoal, use target/release/shoal)
  --rounds N          rounds; each round runs every proxy once, in turn (default $ROUNDS)
  --duration S        seconds of measured load per run (default $DURATION)
  --connections C     concurrent connections (default $CONNS)
  --warmup S          seconds of unmeasured load before each run (default $WARMUP)
  --only LIST         shoal|nginx|haproxy, or a comma list (default all three)
  --h2                also run h2load over HTTP/2 cleartext (prior knowledge)
  --h2-streams M      h2load max concurrent streams per connection (default $H2_STREAMS)
  --out FILE          also write a markdown fragment (table, ratios, versions, per-round rows)
  --retries N         measure a run again (up to N times) when more than $NOISY_LIMIT% of a CPU went to
                      other processes during it, e.g. a cargo build (default $RETRIES)
  --retry-budget N    at most N re-measurements in the whole invocation (default $RETRY_BUDGET)
  --wait-idle S       at start and before a re-measurement, wait up to S s for the machine to
                      be idle (default $WAIT_IDLE)
  --nice N            nice level for backend, proxies and load tools; 0 = off (default $NICE)
  --perf DIR          after the measured rounds, profile shoal under the same wrk load in one extra,
                      unmeasured run: perf record (cpu-clock, dwarf call graphs) into DIR/perf.data,
                      flat report in DIR/perf-report.txt (needs: apt-get install -y linux-perf)
  --keep-tmp          keep the temp dir (configs, logs, raw tool output)
Exit status: 0 ok, 1 setup/start failure, 2 usage, 3 measured but some run was flagged
(non-2xx responses or socket errors).
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --shoal) SHOAL_BIN="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --connections) CONNS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --only) ONLY="$2"; shift 2 ;;
        --h2) H2=1; shift ;;
        --h2-streams) H2_STREAMS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --keep-tmp) KEEP_TMP=1; shift ;;
        --perf) PERF_DIR="$2"; shift 2 ;;
        --retries) RETRIES="$2"; shift 2 ;;
        --wait-idle) WAIT_IDLE="$2"; shift 2 ;;
        --retry-budget) RETRY_BUDGET="$2"; shift 2 ;;
        --nice) NICE="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done

[[ "$NICE" =~ ^-?[0-9]+$ ]] || { echo "--nice: not a number: $NICE" >&2; exit 2; }
for n in "$ROUNDS" "$DURATION" "$CONNS" "$WARMUP" "$H2_STREAMS" "$RETRIES" "$WAIT_IDLE" "$RETRY_BUDGET"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CONNS" -ge 1 ] || { echo "rounds, duration, connections must be >= 1" >&2; exit 2; }

PROXIES=()
IFS=',' read -r -a _only <<<"$ONLY"
for p in shoal nginx haproxy; do         # fixed order within a round
    for q in "${_only[@]}"; do [ "$q" = "$p" ] && PROXIES+=("$p"); done
done
for q in "${_only[@]}"; do
    case "$q" in shoal|nginx|haproxy) ;; *) echo "--only: unknown proxy '$q'" >&2; exit 2 ;; esac
done
[ ${#PROXIES[@]} -gt 0 ] || { echo "--only: nothing to run" >&2; exit 2; }
if [ -n "$OUT" ]; then OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"; fi

# ------------------------------------------------------------------ preflight
need() { command -v "$1" >/dev/null 2>&1 || { echo "missing tool: $1 (apt-get install -y ${2:-$1})" >&2; exit 1; }; }
need nginx; need haproxy; need wrk; need taskset util-linux; need curl; need python3; need timeout coreutils
[ "$H2" = 1 ] && need h2load nghttp2-client
if [ -n "$PERF_DIR" ]; then
    need perf linux-perf
    mkdir -p "$PERF_DIR"; PERF_DIR="$(cd "$PERF_DIR" && pwd)"
fi
if [ "$(nproc --all)" -lt 2 ]; then echo "need at least 2 CPUs (proxy on CPU 0, load+backend on CPU 1)" >&2; exit 1; fi

has_proxy() { local p; for p in "${PROXIES[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

if has_proxy shoal; then
    if [ -z "$SHOAL_BIN" ]; then
        echo "== building shoal (cargo build --release -p shoal)"
        (cd "$REPO_DIR" && cargo build --release -p shoal) || { echo "cargo build failed" >&2; exit 1; }
        SHOAL_BIN="$REPO_DIR/target/release/shoal"
    fi
    SHOAL_BIN="$(cd "$(dirname "$SHOAL_BIN")" && pwd)/$(basename "$SHOAL_BIN")"
    [ -x "$SHOAL_BIN" ] || { echo "shoal binary not executable: $SHOAL_BIN" >&2; exit 1; }
fi

TMP="$(mktemp -d /tmp/shoal-bench.XXXXXX)"
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"

# ------------------------------------------------------------------ process management
STARTED=()          # every pid we started and have not stopped yet

pid_alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# stop_pid PID: TERM, wait up to 5 s, then KILL it and any children it left
stop_pid() {
    local pid="$1" kids i
    kids="$(python3 "$HELPER" children "$pid" 2>/dev/null | tr '\n' ' ' || true)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
        echo "   (pid $pid did not exit on TERM within 5 s; sending KILL)" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    for k in $kids; do
        for i in $(seq 1 20); do pid_alive "$k" || break; sleep 0.1; done
        pid_alive "$k" && kill -KILL "$k" 2>/dev/null || true
    done
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${STARTED[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
    STARTED=("${keep[@]+"${keep[@]}"}")
}

AUTOGROUP_OLD=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${STARTED[@]+"${STARTED[@]}"}"; do stop_pid "$p"; done
    if [ -n "$AUTOGROUP_OLD" ]; then echo "$AUTOGROUP_OLD" >"/proc/$$/autogroup" 2>/dev/null || true; fi
    if [ "$KEEP_TMP" = 1 ]; then echo "temp dir kept: $TMP" >&2; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "interrupted" >&2; exit 130' INT TERM

# start_bg NAME CMD...: start in background with stdout/stderr in $TMP/NAME.{out,err}; sets LAST_PID
start_bg() {
    local name="$1"; shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    LAST_PID=$!
    STARTED+=("$LAST_PID")
}

show_logs() {
    local name="$1" f
    for f in "$TMP/$name.err" "$TMP/$name.out" "$TMP/$name.errorlog"; do
        [ -s "$f" ] && { echo "---- $f (last 40 lines)" >&2; tail -n 40 "$f" >&2; }
    done
    return 0
}

# wait_ready NAME PID URL [curl opts...]: up to 15 s for a 200 with body "hello\n"
wait_ready() {
    local name="$1" pid="$2" url="$3"; shift 3
    local i code=000 body=""
    for i in $(seq 1 150); do
        if ! pid_alive "$pid"; then
            echo "!! $name (pid $pid) exited during start-up" >&2; show_logs "$name"; exit 1
        fi
        code="$(curl -s -o "$TMP/probe.body" -w '%{http_code}' --max-time 1 "$@" "$url" 2>/dev/null || true)"
        if [ "$code" = 200 ]; then
            body="$(cat "$TMP/probe.body")"
            if [ "$body" = "hello" ]; then return 0; fi
            echo "!! $name answered 200 on $url but with body '$body' (expected 'hello')" >&2; show_logs "$name"; exit 1
        fi
        sleep 0.1
    done
    echo "!! $name did not answer 200 on $url within 15 s (last status: $code)" >&2
    show_logs "$name"; exit 1
}

# With sched_autogroup (on here), nice only ranks tasks within one session; across sessions (e.g. a
# cargo build in another terminal) the session's autogroup nice decides. So lower this session's
# autogroup nice for the duration of the run, and restore it on exit.
if [ "$NICE" != 0 ] && [ -w "/proc/$$/autogroup" ]; then
    AUTOGROUP_OLD="$(awk '{print $3}' "/proc/$$/autogroup" 2>/dev/null || true)"
    echo "$NICE" >"/proc/$$/autogroup" 2>/dev/null || AUTOGROUP_OLD=""
fi

# Command prefixes: pin to a CPU at the chosen nice level (so that a build running beside the
# benchmark disturbs it less). nice and taskset both exec, so $! stays the command's own pid.
ON_PROXY_CPU=(nice -n "$NICE" taskset -c "$PROXY_CPU")
ON_LOAD_CPU=(nice -n "$NICE" taskset -c "$LOAD_CPU")

# ------------------------------------------------------------------ ports and configs
read -r BACKEND_PORT NGINX_PORT NGINX_H2_PORT HAPROXY_PORT SHOAL_PORT < <(python3 "$HELPER" ports 5)

mkdir -p "$TMP/backend" "$TMP/nginx"
cat >"$TMP/backend.conf" <<EOF
worker_processes 1;
pid $TMP/backend.pid;
error_log $TMP/backend.errorlog warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/backend/body;
    proxy_temp_path $TMP/backend/proxy;
    fastcgi_temp_path $TMP/backend/fastcgi;
    uwsgi_temp_path $TMP/backend/uwsgi;
    scgi_temp_path $TMP/backend/scgi;
    server {
        listen 127.0.0.1:$BACKEND_PORT backlog=4096;
        location / { default_type text/plain; return 200 "hello\n"; }
    }
}
EOF

NGINX_H2_LISTEN=""
[ "$H2" = 1 ] && NGINX_H2_LISTEN="listen 127.0.0.1:$NGINX_H2_PORT http2 backlog=4096;"
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx.errorlog warn;
events { worker_connections 8192; }
http {
    access_log off;
    # steady-state keep-alive on both sides (the default 1000 would recycle wrk's connections)
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    upstream app {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        $NGINX_H2_LISTEN
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

# HAProxy detects the HTTP/2 preface on a clear-text "mode http" bind, so one port serves both.
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    # HAProxy needs ~2 fds per conn and the nofile hard limit here is 20000
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend app
backend app
    server b1 127.0.0.1:$BACKEND_PORT
EOF

cat >"$TMP/shoal.toml" <<EOF
[server]
workers = 1

[listeners.web]
bind = "127.0.0.1:$SHOAL_PORT"
protocol = "http"

[[listeners.web.routes]]
upstream = "app"

[upstreams.app]
algorithm = "round_robin"
backends = ["127.0.0.1:$BACKEND_PORT"]
EOF

if has_proxy shoal; then
    if ! timeout 10 "$SHOAL_BIN" check --config "$TMP/shoal.toml" >"$TMP/shoal-check.out" 2>&1 </dev/null; then
        echo "!! shoal check --config rejected the bench config:" >&2; cat "$TMP/shoal-check.out" >&2; exit 1
    fi
fi

# ------------------------------------------------------------------ versions
DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
{
    echo "date: $DATE"
    echo "nginx: $(nginx -v 2>&1)"
    echo "haproxy: $(haproxy -v 2>&1 | head -n 1)"
    echo "wrk: $(wrk -v 2>&1 | head -n 1 | sed 's/ *$//')"
    [ "$H2" = 1 ] && echo "h2load: $(h2load --version 2>&1 | head -n 1)"
    if has_proxy shoal; then
        v="$(timeout 5 "$SHOAL_BIN" --version 2>/dev/null </dev/null | head -n 1 || true)"
        echo "shoal: ${v:-unknown} ($SHOAL_BIN; git $(cd "$REPO_DIR" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$REPO_DIR" && [ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && echo '+dirty'))"
    fi
    echo "kernel: $(uname -r); nproc: $(nproc --all); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
} >"$TMP/versions.txt"
PARAMS="rounds=$ROUNDS duration=${DURATION}s connections=$CONNS warmup=${WARMUP}s nice=$NICE; proxy pinned to CPU $PROXY_CPU with 1 worker; backend (nginx, 1 worker) and load generator pinned to CPU $LOAD_CPU"
[ "$H2" = 1 ] && PARAMS="$PARAMS; h2load -c$CONNS -m$H2_STREAMS"

echo "== shoal bench  ($TMP)"
sed 's/^/   /' "$TMP/versions.txt"
echo "   $PARAMS"
python3 "$HELPER" idle "$WAIT_IDLE"

# ------------------------------------------------------------------ backend
start_bg backend "${ON_LOAD_CPU[@]}" nginx -p "$TMP/backend" -e "$TMP/backend.errorlog" -c "$TMP/backend.conf" -g "daemon off;"
BACKEND_PID=$LAST_PID
wait_ready backend "$BACKEND_PID" "http://127.0.0.1:$BACKEND_PORT/"
BACKEND_PIDS="$BACKEND_PID,$(python3 "$HELPER" children "$BACKEND_PID" | paste -sd,)"

# How fast is the backend alone? wrk on CPU 0 (where proxies run later), backend on CPU 1.
bdur=$(( DURATION < 5 ? DURATION : 5 ))
echo "== backend alone (wrk on CPU $PROXY_CPU -> backend on CPU $LOAD_CPU, ${bdur}s), for headroom"
python3 "$HELPER" snap "$BACKEND_PIDS" >"$TMP/snap.before"
python3 "$HELPER" runload "$TMP/backend.wrk" "$TMP/load.cpu" $((bdur + 30)) -- \
    "${ON_PROXY_CPU[@]}" wrk -t1 -c"$CONNS" -d"${bdur}s" --latency "http://127.0.0.1:$BACKEND_PORT/" \
    || { echo "!! wrk against the backend failed:"; cat "$TMP/backend.wrk"; exit 1; } >&2
python3 "$HELPER" snap "$BACKEND_PIDS" >"$TMP/snap.after"
BACKEND_LINE="$(python3 "$HELPER" record --proxy backend --mode h1 --round 0 --tool wrk \
    --before "$TMP/snap.before" --after "$TMP/snap.after" --load-out "$TMP/backend.wrk" \
    --load-cpu "$TMP/load.cpu" --results "$TMP/backend.jsonl" | sed 's/proxy CPU/backend CPU/; s/round 0: //')"
echo "$BACKEND_LINE"

# ------------------------------------------------------------------ one run
start_proxy() {  # sets PROXY_PID, CPU_PIDS (comma list), RSS_PID, H1_URL, H2_URL
    local p="$1"
    case "$p" in
        nginx)
            start_bg nginx "${ON_PROXY_CPU[@]}" nginx -p "$TMP/nginx" -e "$TMP/nginx.errorlog" -c "$TMP/nginx.conf" -g "daemon off;"
            H1_URL="http://127.0.0.1:$NGINX_PORT/"; H2_URL="http://127.0.0.1:$NGINX_H2_PORT/" ;;
        haproxy)
            start_bg haproxy "${ON_PROXY_CPU[@]}" haproxy -db -f "$TMP/haproxy.cfg"
            H1_URL="http://127.0.0.1:$HAPROXY_PORT/"; H2_URL="$H1_URL" ;;
        shoal)
            start_bg shoal "${ON_PROXY_CPU[@]}" "$SHOAL_BIN" run --config "$TMP/shoal.toml"
            H1_URL="http://127.0.0.1:$SHOAL_PORT/"; H2_URL="$H1_URL" ;;
    esac
    PROXY_PID=$LAST_PID
    wait_ready "$p" "$PROXY_PID" "$H1_URL"
    [ "$H2" = 1 ] && wait_ready "$p" "$PROXY_PID" "$H2_URL" --http2-prior-knowledge
    CPU_PIDS="$PROXY_PID"; RSS_PID="$PROXY_PID"
    if [ "$p" = nginx ]; then
        local kids; kids="$(python3 "$HELPER" children "$PROXY_PID" | paste -sd,)"
        [ -n "$kids" ] || { echo "!! nginx master $PROXY_PID has no worker" >&2; show_logs nginx; exit 1; }
        [[ "$kids" == *,* ]] && { echo "!! nginx has more than one child: $kids" >&2; exit 1; }
        CPU_PIDS="$PROXY_PID,$kids"; RSS_PID="$kids"
    fi
    local aff; aff="$(taskset -pc "$RSS_PID" | awk -F': ' '{print $2}')"
    [ "$aff" = "$PROXY_CPU" ] || { echo "!! $p is not pinned to CPU $PROXY_CPU (affinity: $aff)" >&2; exit 1; }
}

measure() {  # measure PROXY ROUND MODE; measures again when other processes disturbed the run
    local p="$1" r="$2" mode="$3" out="$TMP/$1.$2.$3.out" attempt accept rc load
    for attempt in $(seq 1 $((RETRIES + 1))); do
        accept=0; [ "$attempt" -gt "$RETRIES" ] || [ "$RETRY_BUDGET" -le 0 ] && accept=1
        if [ "$mode" = h1 ]; then
            load=(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$H1_URL")
        else
            load=(h2load -t1 -c"$CONNS" -m"$H2_STREAMS" -D"$DURATION" --log-file="$TMP/$p.$r.h2.log" "$H2_URL")
            rm -f "$TMP/$p.$r.h2.log"
        fi
        python3 "$HELPER" snap "$CPU_PIDS" "$BACKEND_PIDS" >"$TMP/snap.before"
        rc=0
        python3 "$HELPER" runload "$out" "$TMP/load.cpu" $((DURATION + 30)) -- \
            "${ON_LOAD_CPU[@]}" "${load[@]}" || rc=$?
        if [ "$rc" -ge 128 ]; then echo "interrupted" >&2; exit 130; fi
        [ "$rc" = 0 ] || { echo "!! ${load[0]} failed against $p (exit $rc):"; cat "$out"; exit 1; } >&2
        python3 "$HELPER" snap "$CPU_PIDS" "$BACKEND_PIDS" >"$TMP/snap.after"
        pid_alive "$PROXY_PID" || { echo "!! $p died during the run" >&2; show_logs "$p"; exit 1; }
        pid_alive "$BACKEND_PID" || { echo "!! the backend died during the run" >&2; show_logs backend; exit 1; }
        rc=0
        python3 "$HELPER" record --proxy "$p" --mode "$mode" --round "$r" \
            --tool "${load[0]}" --h2log "$TMP/$p.$r.h2.log" \
            --before "$TMP/snap.before" --after "$TMP/snap.after" --load-out "$out" \
            --load-cpu "$TMP/load.cpu" --rss-pid "$RSS_PID" --results "$RESULTS" \
            --noisy-limit "$NOISY_LIMIT" --accept-noisy "$accept" || rc=$?
        rm -f "$TMP/$p.$r.h2.log"
        [ "$rc" = 0 ] && return 0
        [ "$rc" = 4 ] || { echo "!! could not record the $p run" >&2; exit 1; }
        RETRY_BUDGET=$((RETRY_BUDGET - 1))
        python3 "$HELPER" idle "$WAIT_IDLE" || true   # let the other load pass (bounded) before again
    done
}

run_one() {  # run_one PROXY ROUND
    local p="$1" r="$2"
    start_proxy "$p"
    timeout $((WARMUP + 30)) "${ON_LOAD_CPU[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$H1_URL" >"$TMP/warmup.out" 2>&1 || true
    measure "$p" "$r" h1
    if [ "$H2" = 1 ]; then
        timeout $((WARMUP + 30)) "${ON_LOAD_CPU[@]}" h2load -t1 -c"$CONNS" -m"$H2_STREAMS" -D"$WARMUP" "$H2_URL" >"$TMP/warmup.out" 2>&1 || true
        measure "$p" "$r" h2
    fi
    stop_pid "$PROXY_PID"
}

for r in $(seq 1 "$ROUNDS"); do
    echo "== round $r/$ROUNDS"
    for p in "${PROXIES[@]}"; do run_one "$p" "$r"; done
done

if [ -n "$PERF_DIR" ] && has_proxy shoal; then
    echo "== profiling shoal (unmeasured run): perf record -F 999 --call-graph dwarf -> $PERF_DIR"
    start_proxy shoal
    timeout $((WARMUP + 30)) "${ON_LOAD_CPU[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$H1_URL" >"$TMP/warmup.out" 2>&1 || true
    "${ON_LOAD_CPU[@]}" wrk -t1 -c"$CONNS" -d"$((DURATION + 2))s" "$H1_URL" >"$TMP/perf-wrk.out" 2>&1 &
    PERF_WRK=$!; STARTED+=("$PERF_WRK")
    sleep 1
    # perf runs on the load CPU so that it takes no time from shoal's CPU
    timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" perf record -F 999 --call-graph dwarf,16384 \
        -p "$PROXY_PID" -o "$PERF_DIR/perf.data" -- sleep "$DURATION" >"$TMP/perf.out" 2>&1 \
        || { echo "!! perf record failed:"; cat "$TMP/perf.out"; } >&2
    stop_pid "$PERF_WRK"
    stop_pid "$PROXY_PID"
    if [ -s "$PERF_DIR/perf.data" ]; then
        perf report -i "$PERF_DIR/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | head -n 80 >"$PERF_DIR/perf-report.txt" || true
        echo "   top symbols (full: $PERF_DIR/perf-report.txt; call graphs: perf report -i $PERF_DIR/perf.data):"
        head -n 15 "$PERF_DIR/perf-report.txt" | sed 's/^/   /'
    fi
fi

echo
echo "== summary ($(date -u +%H:%M:%SZ))"
set +e
if [ -n "$OUT" ]; then
    python3 "$HELPER" summary "$RESULTS" --versions "$TMP/versions.txt" --params "$PARAMS" --backend "$(echo "$BACKEND_LINE" | head -n 1 | sed 's/^ *backend *h1 *//; s/  */ /g')" --date "$DATE" --out "$OUT"
else
    python3 "$HELPER" summary "$RESULTS" --versions "$TMP/versions.txt"
fi
rc=$?
set -e
exit "$rc"
