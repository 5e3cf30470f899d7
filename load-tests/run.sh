#!/usr/bin/env bash
# The load test, as an operator would run the system: one silo process and one edge API process
# (PostgreSQL storage, Redis membership), loaded over HTTP and SignalR, next to their ceilings.
#
# Usage: load-tests/run.sh [--profile short|full] [--keep-db] [--product DIR] [--label NAME] [--only writes|checks|sweep|batch]
#                          [--setting KEY=VALUE]...
#   short (default): about 6-8 minutes; full: about 25-30 minutes (1,000,000 activated subjects for memory).
#
# Writes load-tests/results/<UTC timestamp>-<profile>/report.md, report.json, latency-vs-load.png
# and copies them to load-tests/results/latest-<profile>.{md,json,png}.
#   --product DIR: measure another build of the product (DIR/silo and DIR/edge, e.g. published from an earlier
#   commit) with this harness and its ceilings, for before/after figures; --label NAME names its results folder.
#   --only writes|checks|sweep|batch: only the durable writes (and the single check, the single check and the open-loop
#   sweep, or the batch), for working on one path; its report
#   stays in its own folder (like a labelled run), never the latest.
#   --setting KEY=VALUE: a configuration key of the silo and the edge (e.g. Consent:DecisionLease=00:00:15),
#   repeatable; the run is named after it (like a labelled run), never the latest.
set -euo pipefail

PROFILE=short
EXTRA=()
PRODUCT=""
LABEL=
ONLY=
SETTINGS=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --profile) PROFILE=${2:?--profile needs short or full}; shift 2 ;;
        --profile=*) PROFILE=${1#--profile=}; shift ;;
        --keep-db) EXTRA+=(--keep-db); shift ;;
        --product) PRODUCT=${2:?--product needs a folder holding silo/ and edge/}; shift 2 ;;
        --label) LABEL=-${2:?--label needs a name}; shift 2 ;;
        --only) ONLY=${2:?--only needs writes, checks, sweep or batch}; shift 2 ;;
        --setting) [[ ${2:-} == *=* ]] || { echo "--setting needs KEY=VALUE" >&2; exit 64; }
                   SETTINGS+="${SETTINGS:+;}$2"; KEY=${2%%=*}; LABEL+="-$(printf '%s=%s' "${KEY##*:}" "${2#*=}" | tr -c 'A-Za-z0-9.=\n-' '_')"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 64 ;;
    esac
done
[[ $PROFILE == short || $PROFILE == full ]] || { echo "--profile must be short or full" >&2; exit 64; }
if [[ -n $ONLY ]]; then
    [[ $ONLY == writes || $ONLY == checks || $ONLY == sweep || $ONLY == batch ]] || { echo "--only must be writes, checks, sweep or batch" >&2; exit 64; }
    EXTRA+=(--only "$ONLY"); LABEL="$LABEL-only-$ONLY"
fi
[[ -z $SETTINGS ]] || EXTRA+=(--settings "$SETTINGS")

ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd -P)
cd "$ROOT"
log() { printf '[load-tests] %s\n' "$*" >&2; }

# 1. PostgreSQL and Redis. Services that were already running (other engineers' tests) are reused and left running.
STARTED_SERVICES=0
if [[ -z ${SHOPASTRO_TEST_PG:-} || -z ${SHOPASTRO_TEST_REDIS:-} ]]; then
    if ! scripts/test-services.sh status >/dev/null 2>&1; then STARTED_SERVICES=1; fi
    eval "$(scripts/test-services.sh start)"
fi
: "${SHOPASTRO_TEST_PG:?PostgreSQL was not provisioned}" "${SHOPASTRO_TEST_REDIS:?Redis was not provisioned}"

HARNESS_PID=""
cleanup() {
    local rc=$?
    if [[ -n $HARNESS_PID ]] && kill -0 "$HARNESS_PID" 2>/dev/null; then
        kill -TERM "$HARNESS_PID" 2>/dev/null || true
        wait "$HARNESS_PID" 2>/dev/null || true
    fi
    if [[ $STARTED_SERVICES == 1 ]]; then
        log "stopping the PostgreSQL and Redis this run started"
        scripts/test-services.sh stop || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 2. Tools: wrk (test-services.sh installs it); dotnet-counters and dotnet-trace when NuGet serves them.
command -v wrk >/dev/null || { log "wrk is required (apt-get install wrk)"; exit 1; }
for tool in dotnet-counters dotnet-trace; do
    if [[ ! -x $HOME/.dotnet/tools/$tool ]]; then
        dotnet tool install -g "$tool" >/dev/null 2>&1 || log "$tool could not be installed; the report will say so"
    fi
done

# 3. Release build, published to a private folder so that concurrent builds of the repository cannot swap
#    assemblies under the running processes.
BIN="$ROOT/load-tests/bin/publish"
log "building Release (Silo, EdgeApi, load-test harness)"
if [[ -n $PRODUCT ]]; then
    # Another build of the product (e.g. published from an earlier commit) measured by this harness: before/after.
    SILO_DLL=$(readlink -f "$PRODUCT/silo/ShopAstro.Silo.dll"); EDGE_DLL=$(readlink -f "$PRODUCT/edge/ShopAstro.EdgeApi.dll")
    [[ -f $SILO_DLL && -f $EDGE_DLL ]] || { log "--product $PRODUCT needs silo/ShopAstro.Silo.dll and edge/ShopAstro.EdgeApi.dll"; exit 64; }
else
    dotnet publish Silo -c Release -o "$BIN/silo" -nologo -v quiet >&2
    dotnet publish EdgeApi -c Release -o "$BIN/edge" -nologo -v quiet >&2
    SILO_DLL="$BIN/silo/ShopAstro.Silo.dll"; EDGE_DLL="$BIN/edge/ShopAstro.EdgeApi.dll"
fi
dotnet publish load-tests/ShopAstro.LoadTests -c Release -o "$BIN/harness" -nologo -v quiet >&2

# 4. Run every scenario; the harness starts and stops the silo, the edge and the ceilings itself.
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT="$ROOT/load-tests/results/$STAMP-$PROFILE$LABEL"
log "running the $PROFILE profile; report in $OUT"
set +e
dotnet "$BIN/harness/ShopAstro.LoadTests.dll" run --profile "$PROFILE" --repo "$ROOT" \
    --silo "$SILO_DLL" --edge "$EDGE_DLL" --out "$OUT" \
    --pg "$SHOPASTRO_TEST_PG" --redis "$SHOPASTRO_TEST_REDIS" --command "load-tests/run.sh --profile $PROFILE" "${EXTRA[@]}" &
HARNESS_PID=$!
wait "$HARNESS_PID"
RC=$?
HARNESS_PID=""
set -e

# 5. The latest report of each profile (a labelled run, e.g. of an earlier build, stays only in its folder).
if [[ -f $OUT/report.md && -z $LABEL ]]; then
    cp "$OUT/report.md" "load-tests/results/latest-$PROFILE.md"
    cp "$OUT/report.json" "load-tests/results/latest-$PROFILE.json"
    [[ -f $OUT/latency-vs-load.png ]] && cp "$OUT/latency-vs-load.png" "load-tests/results/latest-$PROFILE.png"
    # The copied markdown links the chart of its own folder.
    sed -i "s#(latency-vs-load.png)#(latest-$PROFILE.png)#" "load-tests/results/latest-$PROFILE.md"
    log "report: $OUT/report.md (and load-tests/results/latest-$PROFILE.md)"
elif [[ -f $OUT/report.md ]]; then
    log "report: $OUT/report.md"
fi
exit "$RC"
