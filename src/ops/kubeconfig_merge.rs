//! `kat kubeconfig --merge`: the environment's cluster, user and context entries copied into the
//! user's own kubeconfig, replacing entries of the same name, and made current, the way
//! `aws eks update-kubeconfig` does. The file keeps (or gets) mode 0600: it holds credentials.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::KatError;

/// Where kubectl reads first: `$KUBECONFIG`'s first entry, else `~/.kube/config`.
pub fn user_kubeconfig() -> Result<PathBuf, KatError> {
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .as_deref()
        .and_then(|v| std::env::split_paths(v).find(|p| !p.as_os_str().is_empty()))
    {
        return Ok(first);
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        KatError::Usage(
            "neither KUBECONFIG nor HOME is set: kat cannot tell which kubeconfig to merge into"
                .into(),
        )
    })?;
    Ok(Path::new(&home).join(".kube").join("config"))
}

/// Merges `context` and the cluster and user it names from `source` (a kubeconfig's text) into
/// the file at `dest` (created when missing).
pub fn merge_into(source: &str, context: &str, dest: &Path) -> Result<(), KatError> {
    let parse = |text: &str, what: &str| -> Result<Value, KatError> {
        serde_yaml_ng::from_str(text)
            .map_err(|e| KatError::Failure(format!("{what} is not a kubeconfig: {e}")))
    };
    let src = parse(source, "the environment's kubeconfig")?;
    let mut out = match std::fs::read_to_string(dest) {
        Ok(text) if !text.trim().is_empty() => parse(&text, &dest.display().to_string())?,
        Ok(_) => empty(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => empty(),
        Err(e) => {
            return Err(KatError::Failure(format!(
                "cannot read {}: {e}",
                dest.display()
            )))
        }
    };
    let ctx = named(&src, "contexts", context).ok_or_else(|| {
        KatError::Failure(format!(
            "the environment's kubeconfig has no context `{context}`"
        ))
    })?;
    let cluster = ctx["context"]["cluster"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let user = ctx["context"]["user"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for (list, name) in [
        ("clusters", &cluster),
        ("users", &user),
        ("contexts", &context.to_string()),
    ] {
        if let Some(entry) = named(&src, list, name) {
            replace(&mut out, list, entry);
        }
    }
    out["current-context"] = Value::String(context.to_string());
    let text = serde_yaml_ng::to_string(&out)
        .map_err(|e| KatError::Failure(format!("cannot write a kubeconfig: {e}")))?;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| KatError::Failure(format!("cannot create {}: {e}", dir.display())))?;
    }
    kat_provider::fsutil::write_private(dest, text.as_bytes())
        .map_err(|e| KatError::Failure(format!("cannot write {}: {e}", dest.display())))
}

/// Removes `context` and the cluster and user it names from the file at `dest`, if they are
/// there; the current context is unset when it was this one. Returns whether anything changed.
pub fn remove_from(context: &str, dest: &Path) -> Result<bool, KatError> {
    let Ok(text) = std::fs::read_to_string(dest) else {
        return Ok(false);
    };
    let mut config: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| KatError::Failure(format!("{} is not a kubeconfig: {e}", dest.display())))?;
    let Some(ctx) = named(&config, "contexts", context) else {
        return Ok(false);
    };
    for (list, name) in [
        ("contexts", Some(context)),
        ("clusters", ctx["context"]["cluster"].as_str()),
        ("users", ctx["context"]["user"].as_str()),
    ] {
        if let (Some(name), Some(items)) = (name, config[list].as_array_mut()) {
            items.retain(|e| e["name"] != name);
        }
    }
    if config["current-context"] == context {
        config["current-context"] = Value::String(String::new());
    }
    let text = serde_yaml_ng::to_string(&config)
        .map_err(|e| KatError::Failure(format!("cannot write a kubeconfig: {e}")))?;
    kat_provider::fsutil::write_private(dest, text.as_bytes())
        .map_err(|e| KatError::Failure(format!("cannot write {}: {e}", dest.display())))?;
    Ok(true)
}

fn empty() -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []})
}

fn named(config: &Value, list: &str, name: &str) -> Option<Value> {
    config[list]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
}

fn replace(config: &mut Value, list: &str, entry: Value) {
    if !config[list].is_array() {
        config[list] = Value::Array(Vec::new());
    }
    let items = config[list].as_array_mut().expect("made an array above");
    match items.iter_mut().find(|e| e["name"] == entry["name"]) {
        Some(old) => *old = entry,
        None => items.push(entry),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{merge_into, remove_from};

    #[test]
    fn removing_takes_out_only_the_environments_entries() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("config");
        std::fs::write(&dest, "apiVersion: v1\nkind: Config\nclusters:\n- name: mine\n  cluster: {server: 'https://mine'}\nusers:\n- name: mine\n  user: {token: t}\ncontexts:\n- name: mine\n  context: {cluster: mine, user: mine}\ncurrent-context: mine\n").unwrap();
        merge_into(ENV, "kat-a", &dest).unwrap();
        assert!(remove_from("kat-a", &dest).unwrap());
        let got: serde_json::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&dest).unwrap()).unwrap();
        for list in ["clusters", "users", "contexts"] {
            let names: Vec<_> = got[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].clone())
                .collect();
            assert_eq!(names, vec![serde_json::json!("mine")], "{list}");
        }
        assert_eq!(got["current-context"], "");
        assert!(
            !remove_from("kat-a", &dest).unwrap(),
            "a second removal changes nothing"
        );
    }

    const ENV: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: kat-a\n  cluster: {server: 'https://new'}\nusers:\n- name: kat-a\n  user: {token: fresh}\ncontexts:\n- name: kat-a\n  context: {cluster: kat-a, user: kat-a}\ncurrent-context: kat-a\n";

    #[test]
    fn replaces_same_named_entries_keeps_the_others_and_makes_it_current() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("config");
        std::fs::write(&dest, "apiVersion: v1\nkind: Config\nclusters:\n- name: mine\n  cluster: {server: 'https://mine'}\n- name: kat-a\n  cluster: {server: 'https://old'}\nusers:\n- name: mine\n  user: {token: t}\ncontexts:\n- name: mine\n  context: {cluster: mine, user: mine}\ncurrent-context: mine\n").unwrap();
        merge_into(ENV, "kat-a", &dest).unwrap();
        let got: serde_json::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&dest).unwrap()).unwrap();
        assert_eq!(got["current-context"], "kat-a");
        let servers: Vec<&str> = got["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cluster"]["server"].as_str().unwrap())
            .collect();
        assert_eq!(servers, ["https://mine", "https://new"]);
        assert_eq!(got["users"].as_array().unwrap().len(), 2);
        assert_eq!(got["contexts"].as_array().unwrap().len(), 2);
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn creates_the_file_and_refuses_an_unknown_context() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("new/.kube/config");
        merge_into(ENV, "kat-a", &dest).unwrap();
        assert!(std::fs::read_to_string(&dest)
            .unwrap()
            .contains("https://new"));
        let err = merge_into(ENV, "kat-b", &dest).unwrap_err().to_string();
        assert!(err.contains("kat-b"), "{err}");
    }
}
