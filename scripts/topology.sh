#!/usr/bin/env bash
# The production topology on loopback, without Docker: PostgreSQL + Redis, two silo processes and two
# edge API processes (Orleans clients of the silos, found through Redis membership).
#
# Usage:
#   scripts/topology.sh start     # build Release if needed, start everything, wait until both edges are
#                                 # ready, print the env lines below (reuses a topology already running)
#   scripts/topology.sh stop      # SIGTERM, then SIGKILL after a grace period; idempotent
#   scripts/topology.sh status    # what runs, exit 0 only when all four processes run
#   scripts/topology.sh env       # print the env lines of the running topology again
#
#   eval "$(scripts/topology.sh start)"
#   curl -H "Authorization: Bearer $SHOPASTRO_TOPOLOGY_TOKEN" "$SHOPASTRO_TOPOLOGY_EDGE1/health/ready"
#
# stdout carries ONLY these lines (progress goes to stderr, process output to .topology/*.log):
#   export SHOPASTRO_TOPOLOGY_EDGE1='http://127.0.0.1:PORT'
#   export SHOPASTRO_TOPOLOGY_EDGE2='http://127.0.0.1:PORT'
#   export SHOPASTRO_TOPOLOGY_TOKEN='...'          (admin token, all stores)
#
# PostgreSQL and Redis, first match wins:
#   SHOPASTRO_TOPOLOGY_PG / SHOPASTRO_TOPOLOGY_REDIS   your own (Npgsql connection string / host:port)
#   SHOPASTRO_TEST_PG / SHOPASTRO_TEST_REDIS           those of scripts/test-services.sh, already exported
#   otherwise scripts/test-services.sh start           (installs and starts them on free loopback ports)
# The consent store is the database shopastro_topology on that server (created when missing, kept
# between runs, like the admin token and the anonymisation key in .topology/). `stop` leaves
# PostgreSQL and Redis running: scripts/test-services.sh stop stops those.
#
# Knobs: SHOPASTRO_TOPOLOGY_CONFIG (Release), SHOPASTRO_TOPOLOGY_NO_BUILD=1 (use the build output as it
# is), SHOPASTRO_TOPOLOGY_TIMEOUT (seconds to wait for readiness, 180), SHOPASTRO_TOPOLOGY_DB
# (shopastro_topology), SHOPASTRO_TOPOLOGY_STATE (state folder, .topology under the repository).

set -euo pipefail

# The real stdout (fd 3) carries only the env lines.
exec 3>&1 1>&2

SCRIPT_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
STATE=${SHOPASTRO_TOPOLOGY_STATE:-$REPO/.topology}
CONFIG=${SHOPASTRO_TOPOLOGY_CONFIG:-Release}
TIMEOUT=${SHOPASTRO_TOPOLOGY_TIMEOUT:-180}
DB_NAME=${SHOPASTRO_TOPOLOGY_DB:-shopastro_topology}
STOP_GRACE=${SHOPASTRO_TOPOLOGY_STOP_GRACE:-30}
SILO_DLL="$REPO/Silo/bin/$CONFIG/net10.0/ShopAstro.Silo.dll"
EDGE_DLL="$REPO/EdgeApi/bin/$CONFIG/net10.0/ShopAstro.EdgeApi.dll"
# Stop order: the edges (clients) first, then the silos.
PROCS=(edge1 edge2 silo1 silo2)

log()  { printf '[topology] %s\n' "$*" >&2; }
warn() { printf '[topology] WARNING: %s\n' "$*" >&2; }
die()  { printf '[topology] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

# Single-quote a value for a POSIX shell.
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "SHOPASTRO_TOPOLOGY_TIMEOUT must be a number of seconds"
[[ $DB_NAME =~ ^[a-z_][a-z0-9_]*$ ]] || die "SHOPASTRO_TOPOLOGY_DB must be a plain lower-case identifier"

# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------
dll_of() { case $1 in silo*) echo "$SILO_DLL" ;; *) echo "$EDGE_DLL" ;; esac; }

# The pid of a process we started, if it still runs (and is still ours: pid reuse).
proc_pid() {
    local name=$1 pid cmd
    pid=$(cat "$STATE/$name.pid" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$(basename "$(cat "$STATE/$name.dll" 2>/dev/null || dll_of "$name")")"* ]] || return 1
    echo "$pid"
}

tail_log() { # name
    local file="$STATE/$1.log"
    [[ -f $file ]] || return 0
    printf '[topology] ---- last lines of %s ----\n' "$file" >&2
    tail -n 40 "$file" >&2 || true
    printf '[topology] ---- end of %s ----\n' "$file" >&2
}

wait_gone() { # pid seconds
    local pid=$1 t=$(($2 * 10))
    while ((t-- > 0)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    ! kill -0 "$pid" 2>/dev/null
}

stop_all() {
    local name pid
    local -a pids=()
    for name in "${PROCS[@]}"; do
        if pid=$(proc_pid "$name"); then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            # Edges first: give them a moment before the silos go.
            [[ $name == edge* ]] && wait_gone "$pid" 10 >/dev/null || true
        fi
    done
    for pid in "${pids[@]}"; do
        if ! wait_gone "$pid" "$STOP_GRACE"; then
            warn "pid $pid did not stop within ${STOP_GRACE}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 10 || warn "pid $pid is still there after SIGKILL"
        fi
    done
    for name in "${PROCS[@]}"; do rm -f -- "$STATE/$name.pid"; done
    rm -f -- "$STATE/env"
}

# start_proc name dll env-assignments...
start_proc() {
    local name=$1 dll=$2; shift 2
    local -a unset_args=() v
    # Nothing of the caller's own service configuration may leak into the processes.
    while read -r v; do unset_args+=(-u "$v"); done < <(compgen -e | grep -E \
        '^(ConnectionStrings__|Auth__|Orleans__|Consent__|Requests__|Logging__|ASPNETCORE_|DOTNET_ENVIRONMENT$|DOTNET_URLS$|urls$)' || true)
    : >"$STATE/$name.log"
    echo "$dll" >"$STATE/$name.dll"
    # setsid: its own session, so a Ctrl-C of the caller does not reach it; every fd but 0-2 closed.
    (
        cd "$(dirname "$dll")"
        exec env "${unset_args[@]}" ASPNETCORE_ENVIRONMENT=Production DOTNET_ENVIRONMENT=Production "$@" \
            setsid dotnet "$dll" </dev/null >>"$STATE/$name.log" 2>&1 3>&- 8>&-
    ) &
    echo $! >"$STATE/$name.pid"
    disown $! 2>/dev/null || true   # no "Aborted" job notices from this shell
    log "started $name (pid $!, log: $STATE/$name.log)"
}

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
http_status() { # url -> prints the status code (000 when nothing answers)
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true
    else
        python3 - "$1" <<'EOF' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
EOF
    fi
}

# free_ports N: N distinct free loopback ports.
free_ports() {
    if ! command -v python3 >/dev/null 2>&1; then
        # No python: random ports in 20000-59999 that nothing accepts connections on.
        local -a found=() p
        while ((${#found[@]} < $1)); do
            p=$((20000 + RANDOM % 40000))
            [[ " ${found[*]} " == *" $p "* ]] && continue
            (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
            found+=("$p")
        done
        echo "${found[*]}"
        return 0
    fi
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

random_b64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }

# A secret kept in .topology/, created once.
secret_file() { # file generator...
    local file=$1; shift
    if [[ ! -s $file ]]; then
        (umask 077; "$@" >"$file.tmp") && mv -f -- "$file.tmp" "$file"
    fi
    chmod 600 "$file"
    tr -d '\n' <"$file"
}
new_token() { random_b64 32 | tr '+/' '-_' | tr -d '='; }
new_key() { random_b64 32; }

# Npgsql connection string -> PG_HOST PG_PORT PG_USER PG_PASS PG_DB
parse_pg() {
    local part key value
    PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres PG_PASS="" PG_DB=postgres
    local IFS=';'
    for part in $1; do
        [[ $part == *=* ]] || continue
        key=$(printf '%s' "${part%%=*}" | tr -d ' ' | tr '[:upper:]' '[:lower:]')
        value=${part#*=}
        case $key in
            host|server) PG_HOST=$value ;;
            port) PG_PORT=$value ;;
            username|userid|user) PG_USER=$value ;;
            password) PG_PASS=$value ;;
            database|db) PG_DB=$value ;;
        esac
    done
}

ensure_psql() {
    command -v psql >/dev/null 2>&1 && return 0
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing postgresql-client (psql)"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q postgresql-client >&2 \
            || { DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client >&2; } || true
    fi
    command -v psql >/dev/null 2>&1 || die "psql is needed to create the database $DB_NAME (apt-get install postgresql-client)"
}

# Creates $DB_NAME when missing; prints the consent connection string.
ensure_database() { # admin connection string
    parse_pg "$1"
    ensure_psql
    local -a psql_args=(-X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -tA)
    local exists
    exists=$(PGPASSWORD=$PG_PASS PGCONNECT_TIMEOUT=10 psql "${psql_args[@]}" \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" 2>"$STATE/psql.err") \
        || { cat "$STATE/psql.err" >&2; die "cannot reach PostgreSQL at $PG_HOST:$PG_PORT as $PG_USER"; }
    if [[ $exists != 1 ]]; then
        log "creating database $DB_NAME"
        if ! PGPASSWORD=$PG_PASS psql "${psql_args[@]}" -c "CREATE DATABASE $DB_NAME" 2>"$STATE/psql.err"; then
            grep -q 'already exists' "$STATE/psql.err" || { cat "$STATE/psql.err" >&2; die "CREATE DATABASE $DB_NAME failed"; }
        fi
    fi
    # The admin connection string with its database replaced.
    local part out="" IFS=';'
    for part in $1; do
        [[ -n ${part// /} ]] || continue
        case $(printf '%s' "${part%%=*}" | tr -d ' ' | tr '[:upper:]' '[:lower:]') in
            database|db) ;;
            *) out+="$part;" ;;
        esac
    done
    printf '%sDatabase=%s' "$out" "$DB_NAME"
}

needs_build() {
    [[ -f $SILO_DLL && -f $EDGE_DLL ]] || return 0
    local oldest=$SILO_DLL
    [[ $EDGE_DLL -ot $oldest ]] && oldest=$EDGE_DLL
    [[ -n $(find "$REPO/Silo" "$REPO/EdgeApi" "$REPO/Grains" "$REPO/Grains.Interfaces" \
        "$REPO/Directory.Build.props" "$REPO/Directory.Packages.props" \
        \( -name bin -o -name obj \) -prune -o \
        -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.json' \) \
        -newer "$oldest" -print -quit 2>/dev/null) ]]
}

build() {
    if [[ ${SHOPASTRO_TOPOLOGY_NO_BUILD:-} == 1 ]]; then
        [[ -f $SILO_DLL && -f $EDGE_DLL ]] || die "SHOPASTRO_TOPOLOGY_NO_BUILD=1 but $SILO_DLL or $EDGE_DLL is missing"
        return 0
    fi
    needs_build || { log "build output ($CONFIG) is up to date"; return 0; }
    log "building ($CONFIG; log: $STATE/build.log)"
    if ! (cd "$REPO" && dotnet build EdgeApi/ShopAstro.EdgeApi.csproj -c "$CONFIG" -nologo -v q) >"$STATE/build.log" 2>&1 </dev/null 3>&-; then
        grep -E ' error |error [A-Z]+[0-9]+' "$STATE/build.log" | sort -u | tail -n 30 >&2 || tail -n 30 "$STATE/build.log" >&2
        die "dotnet build failed (log: $STATE/build.log)"
    fi
    [[ -f $SILO_DLL && -f $EDGE_DLL ]] || die "build succeeded but $SILO_DLL or $EDGE_DLL is missing"
}

# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------
take_lock() {
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    exec 8>"$STATE/.lock"
    flock -w 600 8 || die "timed out waiting for $STATE/.lock (another topology.sh running?)"
}

all_running() {
    local name
    for name in "${PROCS[@]}"; do proc_pid "$name" >/dev/null || return 1; done
}

cmd_start() {
    take_lock
    if all_running && [[ -f $STATE/env ]]; then
        # shellcheck disable=SC1091
        local e1 e2
        e1=$(sed -n "s/^export SHOPASTRO_TOPOLOGY_EDGE1='\(.*\)'$/\1/p" "$STATE/env")
        e2=$(sed -n "s/^export SHOPASTRO_TOPOLOGY_EDGE2='\(.*\)'$/\1/p" "$STATE/env")
        if [[ $(http_status "$e1/health/ready") == 200 && $(http_status "$e2/health/ready") == 200 ]]; then
            log "the topology is already running and ready; reusing it"
            cat "$STATE/env" >&3
            return 0
        fi
    fi
    stop_all   # whatever is left of an earlier start

    build

    local pg redis
    if [[ -n ${SHOPASTRO_TOPOLOGY_PG:-} ]]; then pg=$SHOPASTRO_TOPOLOGY_PG
    elif [[ -n ${SHOPASTRO_TEST_PG:-} ]]; then pg=$SHOPASTRO_TEST_PG
    fi
    if [[ -n ${SHOPASTRO_TOPOLOGY_REDIS:-} ]]; then redis=$SHOPASTRO_TOPOLOGY_REDIS
    elif [[ -n ${SHOPASTRO_TEST_REDIS:-} ]]; then redis=$SHOPASTRO_TEST_REDIS
    fi
    if [[ -z ${pg:-} || -z ${redis:-} ]]; then
        log "starting PostgreSQL and Redis with scripts/test-services.sh"
        local exports
        exports=$("$REPO/scripts/test-services.sh" start 3>&-) || die "scripts/test-services.sh start failed"
        eval "$exports"
        pg=${pg:-$SHOPASTRO_TEST_PG}
        redis=${redis:-$SHOPASTRO_TEST_REDIS}
    fi

    local consent token key cluster
    consent=$(ensure_database "$pg")
    token=$(secret_file "$STATE/admin-token" new_token)
    key=$(secret_file "$STATE/anonymisation.key" new_key)
    # A cluster id of its own per start: no stale membership rows of an earlier run to vote out.
    cluster="topology-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"

    local -a ports
    read -r -a ports <<<"$(free_ports 6)" || true
    ((${#ports[@]} == 6)) || die "could not find free loopback ports"
    local edge1="http://127.0.0.1:${ports[4]}" edge2="http://127.0.0.1:${ports[5]}"

    local -a common=(
        "ConnectionStrings__Consent=$consent"
        "ConnectionStrings__Redis=$redis"
        "Orleans__ClusterId=$cluster"
    )
    local -a auth=(
        "Auth__Tokens__0__Token=$token"
        "Auth__Tokens__0__Role=admin"
        "Auth__Tokens__0__Stores__0=*"
    )
    log "cluster id $cluster, PostgreSQL $(printf '%s' "$consent" | sed 's/\(password\)=[^;]*/\1=***/I'), Redis $redis"
    start_proc silo1 "$SILO_DLL" "${common[@]}" "Consent__AnonymisationKey=$key" Orleans__AdvertisedIP=127.0.0.1 \
        "Orleans__SiloPort=${ports[0]}" "Orleans__GatewayPort=${ports[1]}"
    start_proc silo2 "$SILO_DLL" "${common[@]}" "Consent__AnonymisationKey=$key" Orleans__AdvertisedIP=127.0.0.1 \
        "Orleans__SiloPort=${ports[2]}" "Orleans__GatewayPort=${ports[3]}"
    start_proc edge1 "$EDGE_DLL" "${common[@]}" "${auth[@]}" "ASPNETCORE_URLS=$edge1"
    start_proc edge2 "$EDGE_DLL" "${common[@]}" "${auth[@]}" "ASPNETCORE_URLS=$edge2"

    log "waiting up to ${TIMEOUT}s for $edge1/health/ready and $edge2/health/ready"
    local deadline=$((SECONDS + TIMEOUT)) name ready1="" ready2=""
    while :; do
        for name in "${PROCS[@]}"; do
            if ! proc_pid "$name" >/dev/null; then
                tail_log "$name"
                stop_all
                die "$name exited during start-up (log: $STATE/$name.log)"
            fi
        done
        [[ -z $ready1 && $(http_status "$edge1/health/ready") == 200 ]] && { ready1=1; log "edge1 ready"; }
        [[ -z $ready2 && $(http_status "$edge2/health/ready") == 200 ]] && { ready2=1; log "edge2 ready"; }
        [[ -n $ready1 && -n $ready2 ]] && break
        if ((SECONDS >= deadline)); then
            local bad
            for bad in edge1 edge2 silo1 silo2; do tail_log "$bad"; done
            stop_all
            die "the edges were not ready within ${TIMEOUT}s (edge1: ${ready1:-not ready}, edge2: ${ready2:-not ready})"
        fi
        sleep 0.5
    done

    local content
    content="export SHOPASTRO_TOPOLOGY_EDGE1=$(sq "$edge1")
export SHOPASTRO_TOPOLOGY_EDGE2=$(sq "$edge2")
export SHOPASTRO_TOPOLOGY_TOKEN=$(sq "$token")"
    (umask 077; printf '%s\n' "$content" >"$STATE/env")
    log "topology ready: edges $edge1 and $edge2 (admin token in $STATE/admin-token)"
    printf '%s\n' "$content" >&3
}

cmd_stop() {
    [[ -d $STATE ]] || { log "nothing to stop"; return 0; }
    take_lock
    stop_all
    log "stopped"
}

cmd_status() {
    local rc=0 name pid
    for name in silo1 silo2 edge1 edge2; do
        if pid=$(proc_pid "$name"); then log "$name: running (pid $pid)"; else log "$name: not running"; rc=1; fi
    done
    if [[ -f $STATE/env ]]; then
        local url
        for url in $(sed -n "s/^export SHOPASTRO_TOPOLOGY_EDGE[12]='\(.*\)'$/\1/p" "$STATE/env"); do
            log "$url/health/ready: $(http_status "$url/health/ready")"
        done
    fi
    return $rc
}

cmd_env() {
    all_running && [[ -f $STATE/env ]] || die "the topology is not running; use '$0 start'"
    cat "$STATE/env" >&3
}

case "${1:-}" in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    env)    cmd_env ;;
    -h|--help|help) usage ;;
    *) usage; die "unknown or missing command '${1:-}' (expected start|stop|status|env)" ;;
esac
