# Sourced by the other scripts: where Malten's build tools live.
# Tools installed with `cargo install` go to ~/.cargo/bin as usual; the rest
# (wasm-opt from npm) go to MALTEN_TOOLS_DIR, outside the repository, so a
# fresh clone reuses them.
export MALTEN_TOOLS_DIR=${MALTEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/malten-tools}
case ":$PATH:" in
    *":$HOME/.cargo/bin:"*) ;;
    *) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac
