//! Behaviour of the builtin blueprints and the renderer.

mod support;

mod render_dump {
    use super::support::*;

    /// `KAT_DUMP=nanomon cargo test --lib dump -- --nocapture` prints a blueprint's rendering.
    #[test]
    fn dump() {
        let Ok(name) = std::env::var("KAT_DUMP") else { return };
        let mode = std::env::var("KAT_DB").unwrap_or_else(|_| "in-cluster".into());
        let files = render(&name, &context(&mode, false)).unwrap();
        for f in files {
            println!("### {}\n{}", f.path, f.content);
        }
    }
}
