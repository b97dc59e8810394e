//! The handout: `.kat/<env>/handout/<NN>/` per fleet member (`clusters` shape) or attendee
//! (`namespaces` shape) with its kubeconfig (0600), `member.json`, a README.txt, and one
//! `index.html` listing them all. Both shapes write through here; each directory is
//! self-contained (paths inside it are relative) so it can be copied to an attendee whole.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::write_atomic;

pub const DIR: &str = "handout";
const MEMBER_FILE: &str = "member.json";
const KUBECONFIG_FILE: &str = "kubeconfig";

/// What one member (or attendee) is handed.
#[derive(Debug, Clone, Default)]
pub struct HandoutEntry {
    /// The directory name: `07`.
    pub id: String,
    /// `demo-07` (or the attendee's name).
    pub member: String,
    /// The environment it lives in: the member itself for `clusters`, the shared one for
    /// `namespaces`.
    pub environment: String,
    /// The kubeconfig handed out (its text is never printed).
    pub kubeconfig: Option<KubeconfigSource>,
    pub context: Option<String>,
    /// The attendee's namespace (`namespaces` shape); none for a whole cluster.
    pub namespace: Option<String>,
    /// Name and URL of each web address, from the member's recorded outputs.
    pub urls: Vec<(String, String)>,
    /// How to sign in: commands, never secrets.
    pub sign_in: Vec<String>,
}

/// Where an entry's kubeconfig comes from.
#[derive(Clone)]
pub enum KubeconfigSource {
    /// A file kat wrote for the environment (a member's own cluster), copied in.
    File(PathBuf),
    /// Made for the handout (an attendee's ServiceAccount token): written only here.
    Text(String),
}

impl std::fmt::Debug for KubeconfigSource {
    // The text holds a token: never in a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeconfigSource::File(p) => write!(f, "File({})", p.display()),
            KubeconfigSource::Text(_) => f.write_str("Text(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberFile {
    pub member: String,
    pub environment: String,
    /// The kubeconfig's file name beside member.json.
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub urls: Vec<Url>,
    pub sign_in: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Url {
    pub name: String,
    pub url: String,
}

pub fn dir(fleet_dir: &Path) -> PathBuf {
    fleet_dir.join(DIR)
}

/// Writes (or rewrites) one entry's directory; returns it and what its member.json holds.
pub fn write_member(
    fleet_dir: &Path,
    entry: &HandoutEntry,
) -> Result<(PathBuf, MemberFile), String> {
    let at = dir(fleet_dir).join(&entry.id);
    std::fs::create_dir_all(&at).map_err(|e| format!("cannot create {}: {e}", at.display()))?;
    let kubeconfig = match &entry.kubeconfig {
        Some(source) => {
            let text = match source {
                KubeconfigSource::File(src) => std::fs::read(src)
                    .map_err(|e| format!("cannot read the kubeconfig {}: {e}", src.display()))?,
                KubeconfigSource::Text(t) => t.clone().into_bytes(),
            };
            // Written 0600 from the start (a temporary file renamed): never readable by others.
            let dest = at.join(KUBECONFIG_FILE);
            write_atomic(&dest, &text, 0o600)
                .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
            Some(KUBECONFIG_FILE.to_string())
        }
        None => None,
    };
    let file = MemberFile {
        member: entry.member.clone(),
        environment: entry.environment.clone(),
        kubeconfig,
        context: entry.context.clone(),
        namespace: entry.namespace.clone(),
        urls: entry
            .urls
            .iter()
            .map(|(name, url)| Url {
                name: name.clone(),
                url: url.clone(),
            })
            .collect(),
        sign_in: entry.sign_in.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).expect("a handout entry serializes");
    write_atomic(&at.join(MEMBER_FILE), &json, 0o644)
        .map_err(|e| format!("cannot write {}: {e}", at.join(MEMBER_FILE).display()))?;
    write_atomic(&at.join("README.txt"), readme(&file).as_bytes(), 0o644)
        .map_err(|e| format!("cannot write {}: {e}", at.join("README.txt").display()))?;
    Ok((at, file))
}

/// The commands that sign in with the handed-out kubeconfig: nothing secret, only where it is.
pub fn sign_in_commands(context: Option<&str>, namespace: Option<&str>) -> Vec<String> {
    let mut c = vec![format!("export KUBECONFIG=\"$PWD/{KUBECONFIG_FILE}\"")];
    if let Some(ctx) = context {
        c.push(format!("kubectl config use-context {ctx}"));
    }
    c.push(match namespace {
        Some(ns) => format!("kubectl -n {ns} get pods"),
        None => "kubectl get pods -A".to_string(),
    });
    c
}

fn readme(f: &MemberFile) -> String {
    let mut s = format!(
        "Your Kubernetes environment: {}\n\nIn this directory:\n",
        f.member
    );
    if let Some(k) = &f.kubeconfig {
        s.push_str(&format!(
            "  {k}      your credentials (keep them to yourself)\n"
        ));
    }
    s.push_str("  member.json     the same facts for scripts\n\nSign in:\n");
    for c in &f.sign_in {
        s.push_str(&format!("  {c}\n"));
    }
    if !f.urls.is_empty() {
        s.push_str("\nAddresses:\n");
        for u in &f.urls {
            s.push_str(&format!("  {:<14} {}\n", u.name, u.url));
        }
    }
    s
}

/// Every entry's member.json under the handout, by directory name.
pub fn read_all(fleet_dir: &Path) -> Vec<(String, MemberFile)> {
    let mut out: Vec<(String, MemberFile)> = std::fs::read_dir(dir(fleet_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().into_string().ok()?;
            let text = std::fs::read_to_string(e.path().join(MEMBER_FILE)).ok()?;
            Some((id, serde_json::from_str(&text).ok()?))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// (Re)writes `index.html` from every member.json: self-contained, no network.
pub fn write_index(fleet_dir: &Path, title: &str) -> Result<PathBuf, String> {
    let entries = read_all(fleet_dir);
    let mut rows = String::new();
    for (id, f) in &entries {
        let urls: Vec<String> = f
            .urls
            .iter()
            .map(|u| format!("<a href=\"{0}\">{1}</a>", esc(&u.url), esc(&u.name)))
            .collect();
        let kubeconfig = match &f.kubeconfig {
            // A namespaces fleet's attendee records an absolute path: the index links the file
            // beside it, so the handout directory can be copied elsewhere whole.
            Some(k) => {
                let name = Path::new(k)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| k.clone());
                format!("<a href=\"{0}/{1}\">{0}/{1}</a>", esc(id), esc(&name))
            }
            None => "-".into(),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            esc(&f.member),
            esc(f.namespace.as_deref().unwrap_or("-")),
            kubeconfig,
            esc(f.context.as_deref().unwrap_or("-")),
            if urls.is_empty() { "-".into() } else { urls.join("<br>") },
            f.sign_in.iter().map(|c| esc(c)).collect::<Vec<_>>().join("<br>"),
        ));
    }
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}}</style></head>\n<body><h1>{t}</h1><p>{n} environments. Each directory holds the kubeconfig, member.json and a README.txt.</p>\n<table><tr><th>member</th><th>namespace</th><th>kubeconfig</th><th>context</th><th>addresses</th><th>sign in</th></tr>\n{rows}</table></body></html>\n",
        t = esc(title),
        n = entries.len()
    );
    let p = dir(fleet_dir).join("index.html");
    std::fs::create_dir_all(dir(fleet_dir))
        .map_err(|e| format!("cannot create {}: {e}", dir(fleet_dir).display()))?;
    write_atomic(&p, html.as_bytes(), 0o644)
        .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    Ok(p)
}

/// Removes one entry, or (`None`) the whole handout.
pub fn remove(fleet_dir: &Path, id: Option<&str>) -> Result<(), String> {
    let p = match id {
        Some(id) => dir(fleet_dir).join(id),
        None => dir(fleet_dir),
    };
    match std::fs::remove_dir_all(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", p.display())),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_and_the_index_are_written_with_a_private_kubeconfig() {
        let d = tempfile::tempdir().unwrap();
        let kc = d.path().join("src-kubeconfig");
        std::fs::write(&kc, "apiVersion: v1\n").unwrap();
        let entry = HandoutEntry {
            id: "03".into(),
            member: "demo-03".into(),
            environment: "demo-03".into(),
            kubeconfig: Some(KubeconfigSource::File(kc)),
            context: Some("kat-demo-03".into()),
            namespace: None,
            urls: vec![("ingress".into(), "http://10.0.0.3".into())],
            sign_in: sign_in_commands(Some("kat-demo-03"), None),
        };
        let (at, file) = write_member(d.path(), &entry).unwrap();
        assert_eq!(file.kubeconfig.as_deref(), Some("kubeconfig"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(at.join("kubeconfig"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let index = std::fs::read_to_string(write_index(d.path(), "demo").unwrap()).unwrap();
        assert!(index.contains("demo-03") && index.contains("http://10.0.0.3"));
        remove(d.path(), None).unwrap();
        assert!(!dir(d.path()).exists());
    }
}
