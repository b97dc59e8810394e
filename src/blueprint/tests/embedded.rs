//! The copies embedded in the binary match `blueprints/` on disk. Cargo notices edits to the
//! embedded files, but not files added to or removed from `blueprints/` (stable Rust cannot track
//! a directory from a macro), so a new template stays out of the binary until
//! `src/blueprint/source.rs` is recompiled. This test says so instead of letting the other tests
//! pass against the old set.

use std::path::Path;

use crate::blueprint::source;

const STALE: &str = "embedded blueprints are stale: `touch src/blueprint/source.rs` and rebuild";

#[test]
fn embedded_blueprints_match_the_files_on_disk() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints");
    let mut on_disk: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n != "_lib")
        .collect();
    on_disk.sort();
    assert_eq!(source::builtin_names(), on_disk, "{STALE}");
    for name in on_disk {
        let embedded = source::builtin(&name).unwrap();
        let disk = source::from_path(&root.join(&name)).unwrap();
        assert_eq!(embedded.info, disk.info, "{name}: {STALE}");
        assert_eq!(embedded.templates, disk.templates, "{name}: {STALE}");
    }
    let lib = std::fs::read_to_string(root.join("_lib/k8s.j2")).unwrap();
    assert_eq!(
        source::lib_template("kat/k8s.j2"),
        Some(lib.as_str()),
        "{STALE}"
    );
}
