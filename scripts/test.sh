#!/usr/bin/env bash
# Runs every test of the solution. Provisions what the tests need first: PostgreSQL and Redis on
# loopback (scripts/test-services.sh; SHOPASTRO_TEST_PG / SHOPASTRO_TEST_REDIS point at your own
# servers instead), then builds and runs the xunit suites. Exit code: non-zero on any failure.
set -euo pipefail
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"

eval "$(scripts/test-services.sh start)"
echo "PostgreSQL: ${SHOPASTRO_TEST_PG%%;Password*}  Redis: $SHOPASTRO_TEST_REDIS" >&2

# The tools the OpenAPI tests run (tests/OpenApi): the Redocly CLI (npm, pinned in tests/tools/package-lock.json) and
# Kiota (a dotnet tool, pinned in .config/dotnet-tools.json). Both are quick when already installed.
if ! command -v npm >/dev/null; then
  echo "npm not found: installing Debian's nodejs and npm" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2 || echo "WARNING: no npm; the OpenAPI lint test will fail" >&2
fi
if ! cmp -s tests/tools/package-lock.json tests/tools/node_modules/.installed-lock.json; then
  (cd tests/tools && npm ci --no-audit --no-fund >&2 && cp package-lock.json node_modules/.installed-lock.json)
fi
dotnet tool restore >&2

results="$repo/artifacts/test-results"
# The browser tests' screenshots (artifacts/screenshots) are this run's only: one left by an earlier run must not
# stand in for a test that failed before taking its own.
rm -rf "$results" "$repo/artifacts/screenshots"
mkdir -p "$results"

status=0
dotnet test ShopAstro.Actors.sln --configuration Release \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$results" "$@" || status=$?

# One plain closing line with the totals of every test run.
python3 - "$results" <<'PY' || true
import sys, glob, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for path in glob.glob(f"{sys.argv[1]}/**/*.trx", recursive=True):
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
    skipped += int(counters.get("notExecuted", 0))
    # Name each failure (with the first lines of its message) so the tail of a CI log says what broke.
    for result in ET.parse(path).getroot().iter(f"{{{ns['t']}}}UnitTestResult"):
        if result.get("outcome") in ("Failed", "Error", "Timeout"):
            message = result.find("t:Output/t:ErrorInfo/t:Message", ns)
            text = (message.text or "").strip().splitlines() if message is not None else []
            print(f"FAILED {result.get('testName')} ({result.get('duration')})")
            for line in text[:6]:
                print(f"    {line[:300]}")
    # The coherence checks' counts (schedules explored, operations checked, faults injected, violations).
    for result in ET.parse(path).getroot().iter(f"{{{ns['t']}}}UnitTestResult"):
        output = result.find("t:Output/t:StdOut", ns)
        for line in (output.text or "").splitlines() if output is not None else []:
            if line.startswith(("SIMULATION:", "HISTORY:", "OPENAPI:", "VALIDATION:", "REDOCLY:", "KIOTA:")):
                print(line)
print(f"Tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
