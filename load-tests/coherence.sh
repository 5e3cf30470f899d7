#!/usr/bin/env bash
# The longer form of the coherence checks: the deterministic simulation over many more schedules than CI runs.
# Usage: load-tests/coherence.sh [SEEDS]   (default 5000; CI runs the test suite's default)
set -euo pipefail
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
seeds=${1:-5000}
mkdir -p load-tests/results
SHOPASTRO_SIM_SEEDS=$seeds dotnet test tests/ShopAstro.Tests.csproj --configuration Release \
  --filter "FullyQualifiedName~Coherence.Simulation" --logger "console;verbosity=detailed" 2>&1 \
  | tee load-tests/results/coherence.log | grep -E "SIMULATION|Passed!|Failed!|seed [0-9]+:"
