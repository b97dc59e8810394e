//! The built-in blueprints are embedded with `include_dir`, which notices edits to embedded files
//! but not files added or removed: rebuild whenever anything under blueprints/ changes.
fn main() {
    println!("cargo:rerun-if-changed=blueprints");
}
