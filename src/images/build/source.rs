//! What one image is built from, as blueprint.yaml declares it, and the key kat.lock pins its
//! digest under: the same source, ref, context, Dockerfile and arguments give the same image, so
//! an unchanged key is not built again.

use std::collections::BTreeMap;

use crate::blueprint::BuildSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSource {
    pub git: String,
    pub reference: String,
    /// Directory in the repository; None: its root.
    pub context: Option<String>,
    /// Path of the Dockerfile inside the context; None: `Dockerfile`.
    pub dockerfile: Option<String>,
    pub args: BTreeMap<String, String>,
}

impl BuildSource {
    /// The source of `spec`, its arguments merged with the image's `build_args`. Refuses a ref
    /// that may move (a branch) unless `branch: true` says so.
    pub fn of(spec: &BuildSpec, build_args: &BTreeMap<String, String>) -> Result<Self, String> {
        let (mut source, branch) = match spec {
            BuildSpec::Url(url) => (parse_url(url)?, false),
            BuildSpec::Parts(p) => (
                BuildSource {
                    git: p.git.clone(),
                    reference: p.reference.clone(),
                    context: p.context.clone().filter(|c| !c.is_empty() && c != "."),
                    dockerfile: p.dockerfile.clone(),
                    args: p.args.clone(),
                },
                p.branch,
            ),
        };
        source
            .args
            .extend(build_args.iter().map(|(k, v)| (k.clone(), v.clone())));
        if source.git.is_empty() || source.reference.is_empty() {
            return Err(format!(
                "`build` (`{spec}`) needs a git URL and a ref: `<url>#<commit or tag>[:<dir>]`"
            ));
        }
        if !branch && !is_pinned(&source.reference) {
            return Err(format!(
                "build ref `{}` is neither a commit (40 hex digits) nor a tag (`refs/tags/…`, or a version such as `v1.2.0`): a branch moves, so two environments would run different code; pin a commit or tag, or write `build: {{git, ref, branch: true}}` to build the branch on purpose",
                source.reference
            ));
        }
        Ok(source)
    }

    /// BuildKit's git context: `<url>#<ref>[:<dir>]`.
    pub fn context_url(&self) -> String {
        match &self.context {
            Some(c) => format!("{}#{}:{c}", self.git, self.reference),
            None => format!("{}#{}", self.git, self.reference),
        }
    }

    /// kat.lock's key for the digest this source was built at.
    pub fn key(&self) -> String {
        let mut key = self.context_url();
        if let Some(d) = &self.dockerfile {
            key.push_str(&format!(" dockerfile={d}"));
        }
        for (k, v) in &self.args {
            key.push_str(&format!(" {k}={v}"));
        }
        key
    }
}

/// `<url>#<ref>[:<dir>]`; the URL's own `https:` is before the `#`.
fn parse_url(url: &str) -> Result<BuildSource, String> {
    let (git, rest) = url.split_once('#').ok_or_else(|| {
        format!("`build: {url}` names no ref: write `<url>#<commit or tag>[:<dir>]`")
    })?;
    let (reference, context) = match rest.split_once(':') {
        Some((r, c)) => (r, Some(c.to_string()).filter(|c| !c.is_empty() && c != ".")),
        None => (rest, None),
    };
    Ok(BuildSource {
        git: git.to_string(),
        reference: reference.to_string(),
        context,
        dockerfile: None,
        args: BTreeMap::new(),
    })
}

/// A full commit id, or a tag: `refs/tags/…` or a version number. A name alone cannot be told
/// from a branch without asking the remote, so other names need `branch: true`.
fn is_pinned(reference: &str) -> bool {
    let commit = reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit());
    let version = reference
        .strip_prefix('v')
        .unwrap_or(reference)
        .starts_with(|c: char| c.is_ascii_digit());
    commit || reference.starts_with("refs/tags/") || version
}

/// The 1-based line of blueprint.yaml's `build` entry for the image a validation message names
/// (`image `<key>`: …`).
pub fn line_of_build(yaml: &str, message: &str) -> Option<usize> {
    let key = message.strip_prefix("image `")?.split('`').next()?;
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{key}:")))?;
    lines[start..]
        .iter()
        .position(|l| l.contains("build"))
        .map(|i| start + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::BuildParts;

    #[test]
    fn the_short_form_splits_url_ref_and_context() {
        let s = BuildSource::of(
            &BuildSpec::Url("https://github.com/a/b.git#0.9.0:backend".into()),
            &BTreeMap::from([("X".to_string(), "1".to_string())]),
        )
        .unwrap();
        assert_eq!(s.git, "https://github.com/a/b.git");
        assert_eq!(s.reference, "0.9.0");
        assert_eq!(s.context.as_deref(), Some("backend"));
        assert_eq!(s.key(), "https://github.com/a/b.git#0.9.0:backend X=1");
    }

    #[test]
    fn a_branch_is_refused_unless_asked_for() {
        let url = BuildSpec::Url("https://github.com/a/b.git#main".into());
        let e = BuildSource::of(&url, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("`main`") && e.contains("branch: true"), "{e}");
        let parts = BuildSpec::Parts(BuildParts {
            git: "https://github.com/a/b.git".into(),
            reference: "main".into(),
            context: None,
            dockerfile: Some("Dockerfile.prod".into()),
            args: BTreeMap::new(),
            branch: true,
        });
        let s = BuildSource::of(&parts, &BTreeMap::new()).unwrap();
        assert_eq!(
            s.key(),
            "https://github.com/a/b.git#main dockerfile=Dockerfile.prod"
        );
        for pinned in [
            "87a78fa9ee5588fd20dced959cfc78770bf611c2",
            "v1.2.0",
            "refs/tags/release",
        ] {
            let spec = BuildSpec::Url(format!("https://x/y.git#{pinned}"));
            assert!(BuildSource::of(&spec, &BTreeMap::new()).is_ok(), "{pinned}");
        }
    }

    #[test]
    fn the_refused_build_is_found_by_line() {
        let yaml =
            "images:\n  web:\n    ref: web:1\n  api:\n    ref: api:1\n    build: \"x#main\"\n";
        assert_eq!(
            line_of_build(yaml, "image `api`: build ref `main` …"),
            Some(6)
        );
    }
}
