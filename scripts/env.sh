# Sourced by the other scripts: where Malten's build tools live.
# Tools installed with `cargo install` go to ~/.cargo/bin as usual; the rest
# (wasm-opt from npm) go to MALTEN_TOOLS_DIR, outside the repository, so a
# fresh clone reuses them.
export MALTEN_TOOLS_DIR=${MALTEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/malten-tools}
case ":$PATH:" in
    *":$HOME/.cargo/bin:"*) ;;
    *) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac

# Which wasm32 standard library the frontend build uses, as far as already
# known: `rustup` (the rustup target is installed), `debian` (Debian's
# rustc-web with build-std, chosen by setup.sh earlier), or nothing yet.
# MALTEN_WASM_ROUTE=debian|rustup forces a route (to test the other one).
malten_wasm_route() {
    if [ -n "${MALTEN_WASM_ROUTE:-}" ]; then echo "$MALTEN_WASM_ROUTE"; return; fi
    if rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
        echo rustup; return
    fi
    cat "$MALTEN_TOOLS_DIR/wasm-route" 2>/dev/null || true
}
