#!/usr/bin/env bash
# Builds the web app into dist/ with trunk (release, wasm-opt -Oz), using the
# toolchain route scripts/setup.sh chose. Run setup first (make does).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
cd "$ROOT"

export PATH="$MALTEN_TOOLS_DIR/node_modules/.bin:$PATH"
if [ "$(malten_wasm_route)" = debian ]; then
    # No rustup wasm32 std here: build std from Debian's sources with
    # Debian's newer compiler, and link with rustup's rust-lld (Debian's
    # wasm-ld is too old). A separate target dir keeps the two compilers'
    # host artifacts from invalidating each other.
    sysroot=$(rustc --print sysroot)
    host=$(rustc -vV | sed -n 's/^host: //p')
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$sysroot/lib/rustlib/$host/bin/rust-lld"
    export PATH="/usr/bin:$PATH"
    export RUSTC=/usr/bin/rustc
    export RUSTC_BOOTSTRAP=1
    export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
    export CARGO_TARGET_DIR="$ROOT/target/wasm-build-std"
fi
exec trunk build --release "$@"
