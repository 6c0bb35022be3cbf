#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each, one after the other
# (docs/testing.md, "Fuzzing"). `make fuzz` runs 60 s each
# (FUZZ_SECONDS=...), `make fuzz-smoke` 5 s each, so CI keeps them building
# and running. Stops at the first target that fails; libFuzzer's report
# names the input, saved under fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
cd "$ROOT/fuzz"

SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi

say() { printf '\033[1mfuzz:\033[0m %s\n' "$*" >&2; }

# One build for all targets; `-a`: debug assertions and overflow checks on.
cargo +nightly fuzz build -a
mkdir -p target/logs
for target in "${TARGETS[@]}"; do
    log=target/logs/$target.log
    say "$target: ${SECONDS_EACH}s (log: fuzz/$log)"
    # The committed seeds are in fuzz/corpus/<target>/ (seed-*); what
    # libFuzzer adds there is ignored by git. One process, one core.
    if ! cargo +nightly fuzz run -a "$target" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        say "$target FAILED; the input is under fuzz/artifacts/$target/ (docs/testing.md says how it becomes a test)"
        exit 1
    fi
    grep -E '^stat::number_of_executed_units' "$log" >&2 || true
done
say "${#TARGETS[@]} targets ran ${SECONDS_EACH}s each without a finding"
