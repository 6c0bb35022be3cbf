//! The pins that keep the WASM build reproducible must agree.

use std::path::Path;

fn workspace_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)).unwrap()
}

#[test]
fn trunk_uses_the_wasm_bindgen_version_in_cargo_lock() {
    let lock = workspace_file("Cargo.lock");
    let locked = lock
        .split("[[package]]")
        .find(|package| package.contains("\nname = \"wasm-bindgen\"\n"))
        .and_then(|package| package.lines().find_map(|l| l.strip_prefix("version = ")))
        .expect("wasm-bindgen is in Cargo.lock")
        .trim_matches('"')
        .to_owned();
    let trunk = workspace_file("Trunk.toml");
    assert!(
        trunk.contains(&format!("wasm_bindgen = \"{locked}\"")),
        "Trunk.toml must pin wasm_bindgen = \"{locked}\" (the version in Cargo.lock)"
    );
    let manifest = workspace_file("Cargo.toml");
    assert!(manifest.contains(&format!("wasm-bindgen = \"={locked}\"")));
}
