#!/usr/bin/env bash
# The impact preview at scale: one store with N stored records (default 1,000,000) on PostgreSQL and on the embedded
# default's SQLite, previewed three times each (POST .../policy/preview). Writes load-tests/results/<stamp>-preview/
# preview.md and preview.json and copies them to load-tests/results/latest-preview.{md,json}.
#
# Usage: load-tests/preview.sh [--subjects N]
set -euo pipefail
SUBJECTS=1000000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --subjects) SUBJECTS=${2:?--subjects needs a number}; shift 2 ;;
        -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 64 ;;
    esac
done

ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd -P)
cd "$ROOT"
if [[ -z ${SHOPASTRO_TEST_PG:-} ]]; then
    eval "$(scripts/test-services.sh start)"
fi

BIN="$ROOT/load-tests/bin/publish-preview"
dotnet publish EdgeApi -c Release -o "$BIN/edge" -nologo -v quiet >&2
dotnet publish load-tests/ShopAstro.LoadTests -c Release -o "$BIN/harness" -nologo -v quiet >&2

OUT="$ROOT/load-tests/results/$(date -u +%Y%m%d-%H%M%S)-preview"
dotnet "$BIN/harness/ShopAstro.LoadTests.dll" preview --edge "$BIN/edge/ShopAstro.EdgeApi.dll" \
    --pg "$SHOPASTRO_TEST_PG" --subjects "$SUBJECTS" --out "$OUT"
rm -f "$OUT"/edge-*.log.keep
cp "$OUT/preview.md" load-tests/results/latest-preview.md
cp "$OUT/preview.json" load-tests/results/latest-preview.json
echo "report: $OUT/preview.md (and load-tests/results/latest-preview.md)" >&2
