#!/usr/bin/env bash
# The longer form of the history check over real processes (tests/Coherence/History): two silos, three edges,
# PostgreSQL and Redis in network namespaces of their own, under kills, pauses, write failures and partitions.
# Usage (as root): load-tests/history.sh [SECONDS]   (default 600; CI runs 60). SHOPASTRO_HISTORY_SEED fixes the workload.
set -euo pipefail
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
seconds=${1:-600}
mkdir -p load-tests/results
SHOPASTRO_HISTORY_SECONDS=$seconds dotnet test tests/ShopAstro.Tests.csproj --configuration Release \
  --filter "FullyQualifiedName~Coherence.History" --logger "console;verbosity=detailed" 2>&1 \
  | tee load-tests/results/history.log | grep -E "HISTORY|Passed!|Failed!|^\s*S[1-4]"
