//! What one attendee is handed, in `.kat/<env>/handout/<NN>/` (written by [`crate::handout`], as
//! a fleet member's is): `kubeconfig` (0600, their ServiceAccount's token), `member.json` and a
//! README.txt (where their app answers, how to sign in). The URLs come from the cluster's
//! Ingresses, never from kat.yaml.

use std::path::{Path, PathBuf};

use kat_provider::OpContext;

use crate::handout::{self, HandoutEntry, KubeconfigSource, MemberFile};
use crate::kube::AttendeeReader;

use super::tenancy::TOKEN_SECRET;

/// `.kat/<env>/handout/<NN>`.
pub fn member_dir(state_dir: &Path, member: &str) -> PathBuf {
    handout::dir(state_dir).join(member)
}

/// Reads the attendee's token and URLs from the cluster and writes their handout; returns its
/// directory and what member.json holds.
pub async fn write(
    reader: &AttendeeReader,
    cx: &OpContext,
    state_dir: &Path,
    member: &str,
    namespace: &str,
) -> Result<(PathBuf, MemberFile), String> {
    let token = reader
        .token(cx, namespace, TOKEN_SECRET)
        .await
        .map_err(|e| e.to_string())?;
    let context = format!("{}-{member}", cx.env);
    let text = reader.kubeconfig(&context, &format!("attendee-{member}"), namespace, &token);
    let urls = reader.urls(namespace).await.map_err(|e| e.to_string())?;
    let entry = HandoutEntry {
        id: member.to_string(),
        member: member.to_string(),
        environment: cx.env.clone(),
        kubeconfig: Some(KubeconfigSource::Text(text)),
        sign_in: handout::sign_in_commands(Some(&context), Some(namespace)),
        context: Some(context),
        namespace: Some(namespace.to_string()),
        urls: urls.into_iter().map(|u| (u.name, u.url)).collect(),
    };
    let (dir, file) = handout::write_member(state_dir, &entry)?;
    // Absolute: shown to the lead, who opens it from wherever they are.
    Ok((std::path::absolute(&dir).unwrap_or(dir), file))
}

/// Removes the attendee's handout (at `down`).
pub fn remove(state_dir: &Path, member: &str) -> Result<(), String> {
    handout::remove(state_dir, Some(member))
}
