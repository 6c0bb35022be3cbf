#!/usr/bin/env bash
# Installs whatever building (and, with `test` or `bench`, testing or
# benchmarking) Malten needs and is missing. Every step checks first, so a
# second run takes seconds.
#
#   scripts/setup.sh          toolchain for the web app (trunk, wasm-bindgen, wasm-opt, wasm32 std)
#   scripts/setup.sh test     ... plus Chromium and ChromeDriver for the browser tests,
#                             PostgreSQL for the chat API tests, and Redis
#                             (server and redis-cli) for the scale-out tests
#   scripts/setup.sh bench    ... plus redis-server, the comparison peer
#   scripts/setup.sh mutants  cargo-mutants only, for `make mutants`
#   scripts/setup.sh fuzz     the nightly toolchain and cargo-fuzz only, for
#                             `make fuzz` and `make fuzz-smoke` (run by `make test`)
#
# On machines where `rustup target add wasm32-unknown-unknown` works, that is
# used. Where it cannot download (as on our CI machines), Debian's
# rustc-web/cargo-web/rust-web-src build the wasm32 std from source instead;
# see docs/toolchain.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$ROOT/Cargo.lock")
MODE=${1:-build}

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root to run: $*"; return 1; fi
}

APT_UPDATED=
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        say "please install: ${missing[*]} (no apt-get here)"; return 1
    fi
    say "installing Debian packages: ${missing[*]}"
    if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Mutation testing needs cargo-mutants and nothing of the web app's toolchain.
MUTANTS_VERSION=27.1.0
if [ "$MODE" = mutants ]; then
    if [ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $MUTANTS_VERSION" ]; then
        say "installing cargo-mutants $MUTANTS_VERSION (a few minutes on 2 cores, once)"
        cargo install cargo-mutants --version "$MUTANTS_VERSION" --locked
    fi
    say "ready"
    exit 0
fi

# Fuzzing needs a nightly compiler (sanitizer coverage) and cargo-fuzz, and
# nothing of the web app's toolchain.
CARGO_FUZZ_VERSION=0.13.2
if [ "$MODE" = fuzz ]; then
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        say "installing the nightly toolchain (minimal profile)"
        rustup toolchain install nightly --profile minimal
    fi
    if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
        say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 3 minutes on 2 cores, once)"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
    say "ready"
    exit 0
fi

# 1. A wasm32 standard library: rustup's, or Debian's sources built with build-std.
wasm_route() {
    local known
    known=$(malten_wasm_route)
    if [ -n "$known" ]; then echo "$known"; return; fi
    # Where rustup cannot download, this hangs; give up after a minute, once.
    if command -v rustup >/dev/null && timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
        echo rustup; return
    fi
    echo debian
}
mkdir -p "$MALTEN_TOOLS_DIR"
ROUTE=$(wasm_route)
if [ "$ROUTE" = debian ]; then
    apt_install rustc-web cargo-web rust-web-src
    echo debian > "$MALTEN_TOOLS_DIR/wasm-route"
fi
say "wasm32 standard library: $ROUTE route"

# 2. trunk, at the version known to build with this compiler.
if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    say "installing trunk $TRUNK_VERSION (about 15 minutes on 2 cores, once)"
    cargo install trunk --version "$TRUNK_VERSION" --locked
fi

# 3. wasm-bindgen CLI, exactly the version of the crate in Cargo.lock.
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 4 minutes, once)"
    # Not --locked: its lock file pins crates some registries no longer serve.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# 4. A current wasm-opt (Debian's binaryen is too old and miscompiles).
if ! "$MALTEN_TOOLS_DIR/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version_${BINARYEN_VERSION%%.*}"; then
    command -v npm >/dev/null || apt_install nodejs npm
    say "installing wasm-opt (binaryen $BINARYEN_VERSION from npm)"
    npm install --silent --no-audit --no-fund --prefix "$MALTEN_TOOLS_DIR" "binaryen@$BINARYEN_VERSION" >/dev/null
fi

case "$MODE" in
    test)
        # postgresql: the chat tests start a throwaway cluster of their own;
        # redis: the scale-out tests start their own servers and a cluster.
        apt_install chromium chromium-driver postgresql redis-server redis-tools
        command -v node >/dev/null || apt_install nodejs
        ;;
    bench)
        apt_install redis-server redis-tools
        ;;
esac
say "ready"
