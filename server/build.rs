//! Tells `rust-embed` where the built web app is, as a clean absolute path
//! (its debug mode refuses paths containing `..`), and rebuilds the server
//! when the app changes so a release binary always embeds the current app.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("server/ lives in the workspace");
    let dist = workspace.join("dist");
    println!("cargo:rustc-env=MALTEN_DIST_DIR={}", dist.display());
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed=build.rs");
}
