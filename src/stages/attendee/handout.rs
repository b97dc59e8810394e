//! What one attendee is handed, in `.kat/<env>/handout/<NN>/`: `kubeconfig` (0600, their
//! ServiceAccount's token) and `member.json` (where their app answers, how to sign in). The URLs
//! come from the cluster's Ingresses, never from kat.yaml.

use std::path::{Path, PathBuf};

use kat_provider::OpContext;
use serde::{Deserialize, Serialize};

use crate::kube::{AttendeeReader, NamedUrl};

use super::tenancy::TOKEN_SECRET;

/// One attendee, for the handout writer (`member.json` has this shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// `01` … `99`.
    pub member: String,
    pub environment: String,
    /// An absolute path under `.kat/<env>/handout/<NN>/`.
    pub kubeconfig: PathBuf,
    pub context: String,
    pub namespace: String,
    pub urls: Vec<NamedUrl>,
    /// Commands that sign in; never a secret.
    pub sign_in: Vec<String>,
}

/// `.kat/<env>/handout/<NN>`.
pub fn member_dir(state_dir: &Path, member: &str) -> PathBuf {
    state_dir.join("handout").join(member)
}

/// Reads the attendee's token and URLs from the cluster and writes their handout files.
pub async fn write(
    reader: &AttendeeReader,
    cx: &OpContext,
    state_dir: &Path,
    member: &str,
    namespace: &str,
) -> Result<Member, String> {
    let token = reader
        .token(cx, namespace, TOKEN_SECRET)
        .await
        .map_err(|e| e.to_string())?;
    let context = format!("{}-{member}", cx.env);
    let text = reader.kubeconfig(&context, &format!("attendee-{member}"), namespace, &token);
    let dir = member_dir(state_dir, member);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Absolute: the handout is read from wherever the attendee (or the lead's index) opens it.
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let kubeconfig = dir.join("kubeconfig");
    write_private(&kubeconfig, text.as_bytes())?;
    let urls = reader.urls(namespace).await.map_err(|e| e.to_string())?;
    let m = Member {
        member: member.to_string(),
        environment: cx.env.clone(),
        sign_in: vec![
            format!("export KUBECONFIG={}", kubeconfig.display()),
            format!("kubectl get pods   # in namespace {namespace}"),
        ],
        kubeconfig,
        context,
        namespace: namespace.to_string(),
        urls,
    };
    let json = serde_json::to_vec_pretty(&m).expect("a member serializes");
    let path = dir.join("member.json");
    std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(m)
}

/// Made 0600 before the token is written into it, so it is never readable by others.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).map_err(fail)?;
    // An older file keeps its mode on open: tighten it before writing.
    #[cfg(unix)]
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)
}

/// The attendees whose handout the last `up` wrote, in member order: what each `member.json`
/// holds (URLs as the cluster's Ingresses had them then). For the fleet's shared handout writer.
pub fn read_members(state_dir: &Path) -> Vec<Member> {
    let Ok(entries) = std::fs::read_dir(state_dir.join("handout")) else {
        return Vec::new();
    };
    let mut out: Vec<Member> = entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("member.json")).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    out.sort_by(|a, b| a.member.cmp(&b.member));
    out
}

/// Removes the attendee's handout (at `down`).
pub fn remove(state_dir: &Path, member: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(member_dir(state_dir, member)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
