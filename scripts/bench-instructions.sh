#!/usr/bin/env bash
# Instructions per delivery of a Malten build, counted by valgrind
# (callgrind), so two builds can be compared on a busy machine where
# wall-clock throughput moves by 40 % from run to run (docs/benchmarks.md).
#
#   scripts/bench-instructions.sh BINARY [SUBSCRIBERS] [MESSAGES]
#
# Runs malten-bench's unpaced fan-out twice against BINARY under callgrind,
# with MESSAGES and 2 x MESSAGES, and prints the difference of the server's
# instruction counts divided by the extra deliveries: start-up, connection
# set-up and shutdown cancel out. Needs valgrind and a release malten-bench.
set -euo pipefail
binary=$(realpath "$1")
subscribers=${2:-100}
messages=${3:-200}
bench=${BENCH:-target/release/malten-bench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The benchmark kills its server with SIGKILL, which would lose callgrind's
# counts; so the wrapper it starts is killed instead, and the server under
# valgrind lives on until it gets a SIGTERM here and shuts down cleanly.
cat > "$work/wrap" <<WRAP
#!/usr/bin/env bash
valgrind --tool=callgrind --callgrind-out-file="$work/cg.\$\$" "$binary" "\$@" &
echo \$! > "$work/child"
wait
WRAP
chmod +x "$work/wrap"

count() {
    rm -f "$work"/cg.* "$work/child"
    "$bench" --malten-bin "$work/wrap" --skip-redis --skip-paced --idle 0 \
        --subscribers "$subscribers" --messages "$1" --deadline-secs 1200 >&2
    local child
    child=$(cat "$work/child")
    kill -TERM "$child" 2>/dev/null || true
    while kill -0 "$child" 2>/dev/null; do sleep 0.5; done
    grep -h '^summary:' "$work"/cg.* | awk '{print $2}'
}

first=$(count "$messages")
second=$(count $((2 * messages)))
extra=$((subscribers * messages))
echo "binary=$binary subscribers=$subscribers messages=$messages,$((2 * messages))"
echo "instructions: $first, $second"
echo "instructions per delivery: $(( (second - first) / extra ))"
