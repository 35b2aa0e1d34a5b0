//! Embeds hls.js (installed by `make` into web/node_modules) for the player
//! page, so a single binary serves everything a viewer needs.

use std::path::Path;

fn main() {
    // Read when the script runs, not baked in when it is compiled: checkouts sharing a target
    // directory can share this script's binary.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let source = Path::new(&manifest_dir).join("../../web/node_modules/hls.js/dist/hls.min.js");
    println!("cargo:rerun-if-changed={}", source.display());
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("hls.min.js");
    let script = std::fs::read(&source).unwrap_or_else(|_| {
        println!("cargo:warning=hls.js not found under web/node_modules; run `make build` so the player page works");
        b"document.body.textContent='This build has no hls.js: run make build.';".to_vec()
    });
    std::fs::write(out, script).expect("write hls.js into OUT_DIR");
}
