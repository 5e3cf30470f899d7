#!/usr/bin/env bash
# Provision throw-away PostgreSQL and Redis instances on loopback for the
# integration tests.
#
# Usage:
#   scripts/test-services.sh start    # install if needed, start (or reuse), print env exports
#   scripts/test-services.sh stop     # stop whatever this script started (idempotent)
#   scripts/test-services.sh status   # show what is running from the state dir
#   scripts/test-services.sh env      # print the exports of the running services
#
#   eval "$(scripts/test-services.sh start)"     # typical use from a test command
#   source scripts/test-services.sh start        # same, exports into the current shell
#
# Environment variables produced (and honoured if already set, in which case
# the corresponding service is NOT provisioned):
#   SHOPASTRO_TEST_PG     Npgsql connection string
#                         (Host=127.0.0.1;Port=...;Username=shopastro;Password=shopastro;Database=shopastro_test)
#   SHOPASTRO_TEST_REDIS  host:port of Redis (127.0.0.1:PORT)
#
# (A value identical to what this script itself printed earlier - e.g. still
# exported in your shell after a `stop` - is not treated as "already set".)
#
# Optional knobs: SHOPASTRO_TEST_PG_PORT (default first try 55432),
#                 SHOPASTRO_TEST_REDIS_PORT (default first try 56379).
#
# State (data, logs, pid/port files, env file) lives in $REPO/.test-services.
# stdout carries ONLY the export lines; all progress output goes to stderr.

# ---------------------------------------------------------------------------
# When sourced: run ourselves as a child process (so `set -e`/`exit` do not
# leak into the caller's shell) and eval the printed exports.
# ---------------------------------------------------------------------------
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    __shopastro_ts_cmd=start
    case "${1:-}" in start|stop|status|env) __shopastro_ts_cmd=$1 ;; esac
    if [[ $__shopastro_ts_cmd == start || $__shopastro_ts_cmd == env ]]; then
        __shopastro_ts_out=$(bash "${BASH_SOURCE[0]}" "$__shopastro_ts_cmd") || {
            __shopastro_ts_rc=$?
            unset __shopastro_ts_cmd __shopastro_ts_out
            return "$__shopastro_ts_rc"
        }
        eval "$__shopastro_ts_out"
        unset __shopastro_ts_cmd __shopastro_ts_out
        return 0
    else
        bash "${BASH_SOURCE[0]}" "$__shopastro_ts_cmd"
        __shopastro_ts_rc=$?
        unset __shopastro_ts_cmd
        return "$__shopastro_ts_rc"
    fi
fi

set -euo pipefail

# Keep the real stdout on fd 3 for the export lines; everything else -> stderr.
exec 3>&1 1>&2

SCRIPT_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
STATE="$REPO/.test-services"
PG_LINK="$STATE/pg"          # directory (or symlink to one) owned by postgres
REDIS_STATE="$STATE/redis"
ENV_FILE="$STATE/env"
LOCK_FILE="$STATE/.lock"

PG_USER=shopastro
PG_PASSWORD=shopastro
PG_DB=shopastro_test
PG_FIRST_PORT=${SHOPASTRO_TEST_PG_PORT:-55432}
REDIS_FIRST_PORT=${SHOPASTRO_TEST_REDIS_PORT:-56379}
PG_OS_USER=postgres

# Never let the caller's libpq environment (PGHOST, PGPASSWORD, ...) leak in.
while read -r __v; do unset "$__v"; done < <(compgen -e | grep '^PG' || true)
unset __v
export LC_ALL=C.UTF-8 2>/dev/null || true
locale -a 2>/dev/null | grep -qix 'c\.utf-\?8' || export LC_ALL=C

log()  { printf '[test-services] %s\n' "$*" >&2; }
warn() { printf '[test-services] WARNING: %s\n' "$*" >&2; }
die()  { printf '[test-services] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

is_root() { [[ $EUID -eq 0 ]]; }

# Single-quote a value for a POSIX shell.
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# ---------------------------------------------------------------------------
# apt helpers
# ---------------------------------------------------------------------------
APT_UPDATED=0
apt_lists_empty() {
    ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}
apt_update() {
    [[ $APT_UPDATED -eq 1 ]] && return 0
    log "running apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || return 1
    APT_UPDATED=1
}
# apt_install pkg... : install, running apt-get update first only when the
# package lists are empty or the first attempt fails.
apt_install() {
    is_root || { warn "not root: cannot apt-get install $*"; return 1; }
    command -v apt-get >/dev/null || { warn "apt-get not available: cannot install $*"; return 1; }
    if apt_lists_empty; then apt_update || true; fi
    log "installing: $*"
    if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
            "$@" >&2; then
        return 0
    fi
    [[ $APT_UPDATED -eq 1 ]] && return 1
    warn "apt-get install $* failed; retrying after apt-get update"
    apt_update || return 1
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        "$@" >&2
}

# ---------------------------------------------------------------------------
# port helpers
# ---------------------------------------------------------------------------
PYTHON=""
for __p in /usr/bin/python3 python3; do
    if command -v "$__p" >/dev/null 2>&1 && "$__p" -c 'import socket' >/dev/null 2>&1; then
        PYTHON=$__p; break
    fi
done
unset __p

port_free() {
    local port=$1
    # A PostgreSQL socket for this port in /tmp means someone uses it.
    [[ -S /tmp/.s.PGSQL.$port ]] && return 1
    if [[ -n $PYTHON ]]; then
        "$PYTHON" - "$port" <<'EOF' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# Like redis/postgres themselves: ignore TIME_WAIT leftovers, but still fail
# when anything is listening on the port.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
        return $?
    fi
    if command -v ss >/dev/null 2>&1; then
        [[ -z $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
        return $?
    fi
    # Last resort: is anything accepting connections there?
    ! (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# find_free_port FIRST [EXCLUDE...]
find_free_port() {
    local port=$1; shift
    local limit=$((port + 2000)) ex skip
    while ((port < limit && port < 65536)); do
        skip=0
        for ex in "$@"; do [[ $ex == "$port" ]] && skip=1; done
        if ((skip == 0)) && port_free "$port"; then
            echo "$port"; return 0
        fi
        port=$((port + 1))
    done
    return 1
}

# Is PID alive and is its command line containing all the given words?
pid_matches() {
    local pid=$1; shift
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    local w
    for w in "$@"; do [[ $cmd == *"$w"* ]] || return 1; done
}

# Run a command that leaves a daemon behind with every fd > 2 closed, so the
# daemon does not keep our lock (fd 8) or the caller's stdout pipe (fd 3, e.g.
# `$(scripts/test-services.sh start)`) or any other inherited fd open forever.
without_extra_fds() {
    (
        for __fd in /proc/$BASHPID/fd/*; do
            __fd=${__fd##*/}
            [[ $__fd =~ ^[0-9]+$ ]] && ((__fd > 2)) && eval "exec $__fd>&-" 2>/dev/null
        done
        "$@"
    )
}

wait_pid_gone() { # pid timeout_seconds
    local pid=$1 t=$(( $2 * 10 ))
    while ((t-- > 0)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
PGBIN=""
PGSTATE=""
PGDATA_DIR=""

as_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

pg_find_bin() {
    local best="" v d
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] || continue
        v=$(basename "$(dirname "$d")")
        [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || continue
        if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best" "$v" | sort -V | tail -n1) == "$v" ]]; then
            best=$v
        fi
    done
    [[ -n $best ]] && echo "/usr/lib/postgresql/$best/bin"
}

# Resolve the PG state dir (may be a symlink when the repo path is not
# accessible for the postgres user, e.g. a repo under /root).
pg_resolve_state() {
    if [[ -e $PG_LINK || -L $PG_LINK ]]; then
        PGSTATE=$(readlink -f -- "$PG_LINK" || true)
    else
        PGSTATE=""
    fi
    if [[ -n $PGSTATE ]]; then PGDATA_DIR="$PGSTATE/data"; else PGDATA_DIR=""; fi
}

# Postmaster PID if a postmaster is running on our data dir.
pg_running_pid() {
    [[ -n $PGDATA_DIR && -f $PGDATA_DIR/postmaster.pid ]] || return 1
    local pid
    pid=$(head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
    pid_matches "$pid" postgres "$PGDATA_DIR" || return 1
    echo "$pid"
}

pg_running_port() {
    local port
    port=$(sed -n '4p' "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
    [[ $port =~ ^[0-9]+$ ]] || port=$(cat "$PGSTATE/port" 2>/dev/null || true)
    [[ $port =~ ^[0-9]+$ ]] && echo "$port"
}

pg_ready() { # port
    local isready="${PGBIN:-/usr/bin}/pg_isready"
    [[ -x $isready ]] || isready=$(command -v pg_isready || true)
    if [[ -n $isready ]]; then
        "$isready" -q -h 127.0.0.1 -p "$1" -t 2 >/dev/null 2>&1
    else
        (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

pg_prepare_state_dir() {
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    pg_resolve_state
    if [[ -z $PGSTATE ]]; then
        [[ -L $PG_LINK ]] && rm -f -- "$PG_LINK"   # dangling symlink
        mkdir -p "$PG_LINK"
        PGSTATE=$PG_LINK
    fi
    if is_root; then
        chown "$PG_OS_USER:$PG_OS_USER" "$PGSTATE"
        chmod 700 "$PGSTATE"
        if ! as_pg test -w "$PGSTATE" -a -x "$PGSTATE"; then
            # Repo path not traversable by the postgres user: keep the
            # cluster under /var/tmp and point $STATE/pg at it.
            local alt
            alt="/var/tmp/shopastro-test-services-$(printf '%s' "$REPO" | md5sum | cut -c1-12)/pg"
            warn "user $PG_OS_USER cannot access $PGSTATE (parent directories not traversable);"
            warn "keeping the PostgreSQL cluster in $alt instead (symlinked from $PG_LINK)"
            if [[ -L $PG_LINK ]]; then rm -f -- "$PG_LINK"; else rmdir -- "$PG_LINK" 2>/dev/null || true; fi
            mkdir -p "$(dirname "$alt")"
            chmod 755 "$(dirname "$alt")"
            mkdir -p "$alt"
            chown "$PG_OS_USER:$PG_OS_USER" "$alt"
            chmod 700 "$alt"
            ln -sfn "$alt" "$PG_LINK"
            PGSTATE=$alt
            as_pg test -w "$PGSTATE" -a -x "$PGSTATE" \
                || die "user $PG_OS_USER cannot write to $PGSTATE either"
        fi
    fi
    PGDATA_DIR="$PGSTATE/data"
    touch "$PGSTATE/postgres.log"
    if is_root; then chown "$PG_OS_USER:$PG_OS_USER" "$PGSTATE/postgres.log"; fi
}

pg_initdb() {
    local ver
    ver=$(basename "$(dirname "$PGBIN")")
    if [[ -f $PGDATA_DIR/PG_VERSION ]]; then
        local have
        have=$(cat "$PGDATA_DIR/PG_VERSION")
        if [[ $have == "$ver" ]]; then return 0; fi
        warn "existing test cluster is PostgreSQL $have but binaries are $ver; re-initialising"
    elif [[ -e $PGDATA_DIR ]]; then
        warn "removing incomplete cluster directory $PGDATA_DIR"
    fi
    rm -rf -- "$PGDATA_DIR"

    local locale_args=(--no-locale)
    if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then locale_args=(--locale=C.UTF-8); fi

    log "initdb (PostgreSQL $ver) in $PGDATA_DIR"
    if ! as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 "${locale_args[@]}" \
            --auth-local=trust --auth-host=scram-sha-256 >"$PGSTATE/initdb.log" 2>&1; then
        tail -n 30 "$PGSTATE/initdb.log" >&2 || true
        rm -rf -- "$PGDATA_DIR"
        die "initdb failed (full log: $PGSTATE/initdb.log)"
    fi
    # Unix socket (in /tmp): trust, for provisioning. TCP: 127.0.0.1 only, password.
    cat >"$PGDATA_DIR/pg_hba.conf" <<'EOF'
# Written by scripts/test-services.sh -- throw-away integration-test cluster.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
EOF
    if is_root; then chown "$PG_OS_USER:$PG_OS_USER" "$PGDATA_DIR/pg_hba.conf"; fi
    chmod 600 "$PGDATA_DIR/pg_hba.conf"
}

pg_start_server() {
    local port attempt logsize
    local -a tried=()
    local prev
    prev=$(cat "$PGSTATE/port" 2>/dev/null || true)
    # A stale lock file (crash / container restart) would block startup.
    if [[ -f $PGDATA_DIR/postmaster.pid ]] && ! pg_running_pid >/dev/null; then
        log "removing stale $PGDATA_DIR/postmaster.pid"
        rm -f -- "$PGDATA_DIR/postmaster.pid"
    fi
    for attempt in 1 2 3 4 5; do
        port=""
        if ((attempt == 1)) && [[ $prev =~ ^[0-9]+$ ]] && port_free "$prev"; then
            port=$prev
        else
            port=$(find_free_port "$PG_FIRST_PORT" "${tried[@]}" "${REDIS_PORT_IN_USE:-}") \
                || die "no free TCP port found for PostgreSQL starting at $PG_FIRST_PORT"
        fi
        tried+=("$port")
        log "starting PostgreSQL on 127.0.0.1:$port (log: $PGSTATE/postgres.log)"
        logsize=$(stat -c %s "$PGSTATE/postgres.log" 2>/dev/null || echo 0)
        if without_extra_fds as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGSTATE/postgres.log" -w -t 60 \
                -o "-k /tmp -c listen_addresses=127.0.0.1 -p $port -c fsync=on -c max_connections=300" \
                start </dev/null >&2; then
            echo "$port" >"$PGSTATE/port"
            PG_PORT=$port
            return 0
        fi
        # Port raced away?  Try another one; otherwise fail loudly.
        if tail -c +"$((logsize + 1))" "$PGSTATE/postgres.log" 2>/dev/null \
                | grep -qiE 'could not (bind|create listen)|address already in use'; then
            warn "port $port became busy, trying another"
            continue
        fi
        tail -c +"$((logsize + 1))" "$PGSTATE/postgres.log" | tail -n 30 >&2 || true
        die "PostgreSQL failed to start (log: $PGSTATE/postgres.log)"
    done
    die "PostgreSQL failed to start after several port attempts (log: $PGSTATE/postgres.log)"
}

pg_provision_db() {
    local psql="$PGBIN/psql"
    [[ -x $psql ]] || psql=$(command -v psql || true)
    [[ -n $psql ]] || die "psql not found (install postgresql-client)"
    as_pg "$psql" -X -q -v ON_ERROR_STOP=1 -h /tmp -p "$PG_PORT" -U postgres -d postgres >&2 <<EOF \
        || die "could not create role '$PG_USER' / database '$PG_DB' (see messages above)"
SET client_min_messages = warning;
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')
\gexec
ALTER DATABASE $PG_DB OWNER TO $PG_USER;
EOF
}

pg_start() {
    pg_resolve_state
    # A value that this script itself produced earlier (e.g. still exported in
    # the caller's shell after a `stop`) does not count as "externally provided".
    if [[ -n ${SHOPASTRO_TEST_PG:-} && -n $PGSTATE && -f $PGSTATE/conn \
          && $SHOPASTRO_TEST_PG == "$(cat "$PGSTATE/conn")" ]]; then
        SHOPASTRO_TEST_PG=""
    fi
    if [[ -n ${SHOPASTRO_TEST_PG:-} ]]; then
        log "SHOPASTRO_TEST_PG is set; not provisioning PostgreSQL"
        PG_CONN=$SHOPASTRO_TEST_PG
        return 0
    fi

    # Fast path: the cluster from our state dir is already running.
    local pid
    if pid=$(pg_running_pid); then
        PGBIN=$(cat "$PGSTATE/bindir" 2>/dev/null || true)
        [[ -x ${PGBIN:-}/pg_ctl ]] || PGBIN=$(pg_find_bin || true)
        PG_PORT=$(pg_running_port || true)
        if [[ -n ${PG_PORT:-} ]]; then
            local i
            for i in $(seq 1 50); do pg_ready "$PG_PORT" && break; sleep 0.2; done
            if pg_ready "$PG_PORT"; then
                log "reusing running PostgreSQL (pid $pid) on 127.0.0.1:$PG_PORT"
                if [[ ! -f $PGSTATE/provisioned ]]; then pg_provision_db; touch "$PGSTATE/provisioned"; fi
                PG_CONN="Host=127.0.0.1;Port=$PG_PORT;Username=$PG_USER;Password=$PG_PASSWORD;Database=$PG_DB"
                echo "$PG_CONN" >"$PGSTATE/conn"
                return 0
            fi
        fi
        warn "PostgreSQL (pid $pid) from $PGDATA_DIR is not answering; restarting it"
        if [[ -x ${PGBIN:-}/pg_ctl ]]; then
            as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w -t 30 stop >&2 || true
        fi
        if kill -0 "$pid" 2>/dev/null; then kill -QUIT "$pid" 2>/dev/null || true; wait_pid_gone "$pid" 10 || true; fi
    fi

    # Install if missing.
    PGBIN=$(pg_find_bin || true)
    if [[ -z $PGBIN ]]; then
        apt_install postgresql || die "could not install PostgreSQL (apt-get install postgresql failed)"
        PGBIN=$(pg_find_bin || true)
        [[ -n $PGBIN ]] || die "PostgreSQL installed but no binaries found under /usr/lib/postgresql/*/bin"
    fi
    if is_root; then
        id -u "$PG_OS_USER" >/dev/null 2>&1 || die "OS user '$PG_OS_USER' does not exist (broken postgresql install?)"
        command -v runuser >/dev/null || die "runuser not found (util-linux)"
    fi
    log "using PostgreSQL binaries in $PGBIN"

    pg_prepare_state_dir
    echo "$PGBIN" >"$PGSTATE/bindir"
    pg_initdb
    rm -f -- "$PGSTATE/provisioned"
    pg_start_server
    pg_provision_db
    touch "$PGSTATE/provisioned"
    PG_CONN="Host=127.0.0.1;Port=$PG_PORT;Username=$PG_USER;Password=$PG_PASSWORD;Database=$PG_DB"
    echo "$PG_CONN" >"$PGSTATE/conn"
    log "PostgreSQL ready on 127.0.0.1:$PG_PORT"
}

pg_stop() {
    pg_resolve_state
    [[ -n $PGDATA_DIR && -d $PGDATA_DIR ]] || { log "PostgreSQL: no test cluster in $PG_LINK"; return 0; }
    local pid
    if ! pid=$(pg_running_pid); then
        log "PostgreSQL: not running"
        return 0
    fi
    PGBIN=$(cat "$PGSTATE/bindir" 2>/dev/null || true)
    [[ -x ${PGBIN:-}/pg_ctl ]] || PGBIN="/usr/lib/postgresql/$(cat "$PGDATA_DIR/PG_VERSION" 2>/dev/null)/bin"
    log "stopping PostgreSQL (pid $pid)"
    if [[ -x $PGBIN/pg_ctl ]]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >&2 || true
    else
        kill -INT "$pid" 2>/dev/null || true
    fi
    if ! wait_pid_gone "$pid" 30; then
        warn "PostgreSQL did not stop in time; sending SIGQUIT"
        kill -QUIT "$pid" 2>/dev/null || true
        wait_pid_gone "$pid" 10 || die "could not stop PostgreSQL (pid $pid)"
    fi
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
REDIS_CLI=""

redis_ping() { # port
    if [[ -n $REDIS_CLI ]]; then
        [[ $("$REDIS_CLI" -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
    else
        local reply
        reply=$(exec 9<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&9 && timeout 2 head -c 7 <&9) 2>/dev/null || return 1
        [[ $reply == +PONG* ]]
    fi
}

redis_running_pid() {
    [[ -f $REDIS_STATE/redis.pid ]] || return 1
    local pid
    pid=$(head -n1 "$REDIS_STATE/redis.pid" 2>/dev/null || true)
    pid_matches "$pid" redis || return 1
    echo "$pid"
}

redis_start() {
    if [[ -n ${SHOPASTRO_TEST_REDIS:-} && -f $REDIS_STATE/addr \
          && $SHOPASTRO_TEST_REDIS == "$(cat "$REDIS_STATE/addr")" ]]; then
        SHOPASTRO_TEST_REDIS=""   # produced by us earlier: manage it
    fi
    if [[ -n ${SHOPASTRO_TEST_REDIS:-} ]]; then
        log "SHOPASTRO_TEST_REDIS is set; not provisioning Redis"
        REDIS_ADDR=$SHOPASTRO_TEST_REDIS
        return 0
    fi
    REDIS_CLI=$(command -v redis-cli || true)

    local pid port
    if pid=$(redis_running_pid); then
        port=$(cat "$REDIS_STATE/port" 2>/dev/null || true)
        if [[ $port =~ ^[0-9]+$ ]]; then
            local i
            for i in $(seq 1 25); do redis_ping "$port" && break; sleep 0.2; done
            if redis_ping "$port"; then
                log "reusing running Redis (pid $pid) on 127.0.0.1:$port"
                REDIS_ADDR="127.0.0.1:$port"
                echo "$REDIS_ADDR" >"$REDIS_STATE/addr"
                return 0
            fi
        fi
        warn "Redis (pid $pid) from $REDIS_STATE is not answering; restarting it"
        kill -TERM "$pid" 2>/dev/null || true
        wait_pid_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; wait_pid_gone "$pid" 5 || true; }
    fi

    local redis_server
    redis_server=$(command -v redis-server || true)
    [[ -z $redis_server && -x /usr/bin/redis-server ]] && redis_server=/usr/bin/redis-server
    if [[ -z $redis_server ]]; then
        apt_install redis-server || die "could not install Redis (apt-get install redis-server failed)"
        redis_server=$(command -v redis-server || echo /usr/bin/redis-server)
        [[ -x $redis_server ]] || die "redis-server installed but not found on PATH"
    fi
    REDIS_CLI=$(command -v redis-cli || true)

    mkdir -p "$REDIS_STATE"
    rm -f -- "$REDIS_STATE/redis.pid"
    local prev attempt i
    local -a tried=()
    prev=$(cat "$REDIS_STATE/port" 2>/dev/null || true)
    for attempt in 1 2 3 4 5; do
        if ((attempt == 1)) && [[ $prev =~ ^[0-9]+$ ]] && [[ $prev != "${PG_PORT:-}" ]] && port_free "$prev"; then
            port=$prev
        else
            port=$(find_free_port "$REDIS_FIRST_PORT" "${tried[@]}" "${PG_PORT:-}") \
                || die "no free TCP port found for Redis starting at $REDIS_FIRST_PORT"
        fi
        tried+=("$port")
        log "starting Redis on 127.0.0.1:$port (log: $REDIS_STATE/redis.log)"
        : >"$REDIS_STATE/redis.log"
        if ! without_extra_fds "$redis_server" --port "$port" --bind 127.0.0.1 --daemonize yes --save "" \
                --appendonly no --dir "$REDIS_STATE" --pidfile "$REDIS_STATE/redis.pid" \
                --logfile "$REDIS_STATE/redis.log" </dev/null >&2; then
            tail -n 20 "$REDIS_STATE/redis.log" >&2 || true
            die "redis-server failed to start (log: $REDIS_STATE/redis.log)"
        fi
        # --daemonize returns before the listener is bound: poll.
        for i in $(seq 1 50); do
            redis_ping "$port" && break
            grep -qiE 'could not create server|address already in use' "$REDIS_STATE/redis.log" 2>/dev/null && break
            sleep 0.1
        done
        if redis_ping "$port"; then
            # Make sure it is *our* instance answering (not a port race).
            if [[ -n $REDIS_CLI ]]; then
                local dir
                dir=$("$REDIS_CLI" -h 127.0.0.1 -p "$port" config get dir 2>/dev/null | sed -n 2p || true)
                if [[ -n $dir && $(readlink -f -- "$dir") != "$(readlink -f -- "$REDIS_STATE")" ]]; then
                    warn "another Redis answered on port $port; trying another port"
                    continue
                fi
            fi
            echo "$port" >"$REDIS_STATE/port"
            REDIS_ADDR="127.0.0.1:$port"
            echo "$REDIS_ADDR" >"$REDIS_STATE/addr"
            log "Redis ready on $REDIS_ADDR"
            return 0
        fi
        if grep -qiE 'could not create server|address already in use' "$REDIS_STATE/redis.log" 2>/dev/null; then
            warn "port $port became busy, trying another"
            continue
        fi
        tail -n 20 "$REDIS_STATE/redis.log" >&2 || true
        die "Redis did not come up on port $port (log: $REDIS_STATE/redis.log)"
    done
    die "Redis failed to start after several port attempts (log: $REDIS_STATE/redis.log)"
}

redis_stop() {
    [[ -d $REDIS_STATE ]] || { log "Redis: no state in $REDIS_STATE"; return 0; }
    local pid port
    if ! pid=$(redis_running_pid); then
        log "Redis: not running"
        rm -f -- "$REDIS_STATE/redis.pid"
        return 0
    fi
    port=$(cat "$REDIS_STATE/port" 2>/dev/null || true)
    REDIS_CLI=$(command -v redis-cli || true)
    log "stopping Redis (pid $pid)"
    if [[ -n $REDIS_CLI && $port =~ ^[0-9]+$ ]]; then
        "$REDIS_CLI" -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
    if ! wait_pid_gone "$pid" 10; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_pid_gone "$pid" 10; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_pid_gone "$pid" 5 || die "could not stop Redis (pid $pid)"
        fi
    fi
    rm -f -- "$REDIS_STATE/redis.pid"
}

# ---------------------------------------------------------------------------
# Extra tools (best effort)
# ---------------------------------------------------------------------------
ensure_extras() {
    if [[ ! -x /usr/bin/chromium ]]; then
        apt_install chromium || warn "could not install chromium (browser tests will not work)"
    fi
    if ! command -v wrk >/dev/null 2>&1; then
        apt_install wrk || warn "could not install wrk (load tests will not work)"
    fi
    if ! command -v docker-compose >/dev/null 2>&1; then
        apt_install docker-compose || warn "could not install docker-compose (the compose file check will not work)"
    fi
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
take_lock() {
    mkdir -p "$STATE"
    chmod 755 "$STATE" 2>/dev/null || true
    if command -v flock >/dev/null 2>&1; then
        exec 8>"$LOCK_FILE"
        if ! flock -w 900 8; then die "timed out waiting for $LOCK_FILE (another test-services.sh running?)"; fi
    fi
}

emit_env() {
    local content
    content="export SHOPASTRO_TEST_PG=$(sq "$PG_CONN")
export SHOPASTRO_TEST_REDIS=$(sq "$REDIS_ADDR")"
    printf '%s\n' "$content" >"$ENV_FILE.tmp"
    mv -f -- "$ENV_FILE.tmp" "$ENV_FILE"
    printf '%s\n' "$content" >&3
}

cmd_start() {
    take_lock
    PG_PORT=""
    pg_start
    redis_start
    ensure_extras
    emit_env
    log "environment written to $ENV_FILE"
}

cmd_stop() {
    [[ -d $STATE ]] || { log "nothing to stop ($STATE does not exist)"; return 0; }
    take_lock
    pg_stop
    redis_stop
    log "stopped"
}

cmd_status() {
    local rc=0 pid
    pg_resolve_state
    if pid=$(pg_running_pid); then
        log "PostgreSQL: running (pid $pid) on 127.0.0.1:$(pg_running_port || echo '?')"
    else
        log "PostgreSQL: not running"; rc=1
    fi
    if pid=$(redis_running_pid); then
        log "Redis: running (pid $pid) on 127.0.0.1:$(cat "$REDIS_STATE/port" 2>/dev/null || echo '?')"
    else
        log "Redis: not running"; rc=1
    fi
    return $rc
}

cmd_env() {
    cmd_status >/dev/null 2>&1 || die "services are not running; use '$0 start'"
    [[ -f $ENV_FILE ]] || die "$ENV_FILE missing; use '$0 start'"
    cat "$ENV_FILE" >&3
}

case "${1:-}" in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    env)    cmd_env ;;
    -h|--help|help) usage ;;
    *) usage; die "unknown or missing command '${1:-}' (expected start|stop|status|env)" ;;
esac
