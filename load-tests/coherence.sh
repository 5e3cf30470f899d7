#!/usr/bin/env bash
# The longer forms of the coherence checks (docs/coherence.md):
#   load-tests/coherence.sh simulation [SEEDS]   the deterministic simulation over SEEDS schedules (default 5000; CI: 1000)
#   load-tests/coherence.sh history [SECONDS]    the history check over real processes in network namespaces, as root
#                                                (default 600; CI: 60); SHOPASTRO_HISTORY_SEED fixes the workload
# The output goes to load-tests/results/coherence.log or history.log; the counts and any violation are printed.
set -euo pipefail
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
case "${1:-}" in
  simulation) export SHOPASTRO_SIM_SEEDS=${2:-5000}; filter=Coherence.Simulation; log=coherence ;;
  history) export SHOPASTRO_HISTORY_SECONDS=${2:-600}; filter=Coherence.History; log=history ;;
  *) sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
mkdir -p load-tests/results
dotnet test tests/ShopAstro.Tests.csproj --configuration Release \
  --filter "FullyQualifiedName~$filter" --logger "console;verbosity=detailed" 2>&1 \
  | tee "load-tests/results/$log.log" | grep -E "SIMULATION|HISTORY|Passed!|Failed!|seed [0-9]+:|^\s*S[1-4]"
