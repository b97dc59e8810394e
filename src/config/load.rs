//! Reads kat.yaml into [`KatConfig`], turning every parse or type error into a [`ConfigError`] that
//! names file, line, column and key path.

use std::path::{Path, PathBuf};

use miette::{NamedSource, SourceSpan};

use super::error::{ConfigError, Located};
use super::locate::locate;
use super::model::KatConfig;

/// The text a config came from, kept to locate errors found after parsing.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// None: no file, defaults only.
    pub path: Option<PathBuf>,
    pub text: String,
}

impl ConfigSource {
    pub fn display_name(&self) -> String {
        self.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "kat.yaml".into())
    }

    /// An error about `key` (dotted path), placed at its line when the file has it.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let segments: Vec<&str> = key.split('.').collect();
        match (self.path.as_ref(), locate(&self.text, &segments)) {
            (Some(_), Some((line, column))) => self.invalid(key, message.into(), line, column),
            _ => ConfigError::setting(key, message),
        }
    }

    fn invalid(&self, key: &str, message: String, line: usize, column: usize) -> ConfigError {
        let offset = offset_of(&self.text, line, column);
        ConfigError::Invalid(Box::new(Located {
            file: self.display_name(),
            line,
            column,
            key: key.to_string(),
            message,
            help: None,
            source_code: NamedSource::new(self.display_name(), self.text.clone()),
            span: SourceSpan::from((offset, 1)),
        }))
    }
}

fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .lines()
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

pub fn load_file(path: &Path) -> Result<(KatConfig, ConfigSource), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let source = ConfigSource {
        path: Some(path.to_path_buf()),
        text,
    };
    let config = parse_str(&source)?;
    Ok((config, source))
}

pub fn parse_str(source: &ConfigSource) -> Result<KatConfig, ConfigError> {
    let only_comments = source
        .text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---");
    if only_comments {
        return Ok(KatConfig::default());
    }
    let de = serde_yaml_ng::Deserializer::from_str(&source.text);
    serde_path_to_error::deserialize::<_, KatConfig>(de).map_err(|err| {
        let key = key_path(err.path());
        let inner = err.inner();
        let message = plain_types(&strip_key_prefix(&strip_position(&inner.to_string()), &key));
        let (line, column) = inner
            .location()
            .map(|l| (l.line(), l.column()))
            .or_else(|| locate(&source.text, &key.split('.').collect::<Vec<_>>()))
            .unwrap_or((1, 1));
        let err = source.invalid(&key, message.clone(), line, column);
        match allowed_help(&message) {
            Some(help) => err.with_help(help),
            None => err,
        }
    })
}

/// `provider.nodes.count`; `(root)` for a document-level error.
fn key_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." || text.is_empty() {
        "(root)".into()
    } else {
        text
    }
}

/// serde_yaml_ng appends " at line L column C"; kat prints the position itself.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// serde_yaml_ng starts messages with the parent's path; kat prints the full path itself.
fn strip_key_prefix(message: &str, key: &str) -> String {
    match message.split_once(": ") {
        Some((prefix, rest)) if key.starts_with(prefix) => rest.to_string(),
        _ => message.to_string(),
    }
}

/// serde names Rust types ("expected struct DatabaseConfig", "expected u32"); a kat.yaml writer
/// knows mappings and numbers.
fn plain_types(message: &str) -> String {
    let Some(i) = message.find("expected ") else {
        return message.to_string();
    };
    let (head, wanted) = message.split_at(i + "expected ".len());
    let plain = match wanted {
        w if w.starts_with("struct ") || w.starts_with("a map") => {
            "a mapping of keys (`kat schema` lists them)"
        }
        "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64" => "a whole number",
        "f32" | "f64" => "a number",
        w if w.starts_with("a sequence") => "a list",
        w => w,
    };
    format!("{head}{plain}")
}

/// Turns serde's "expected one of `a`, `b`" into a help line.
fn allowed_help(message: &str) -> Option<String> {
    let i = message.find("expected one of ")?;
    Some(format!(
        "allowed: {}",
        &message[i + "expected one of ".len()..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KatConfig, ConfigError> {
        parse_str(&ConfigSource {
            path: Some("kat.yaml".into()),
            text: text.into(),
        })
    }

    #[track_caller]
    fn assert_err(text: &str, expected: &str) {
        let msg = parse(text).unwrap_err().to_string();
        assert!(msg.contains(expected), "{msg:?} lacks {expected:?}");
    }

    #[test]
    fn errors_name_line_column_key_and_allowed_values() {
        assert_err(
            "provider:\n  name: gke\n",
            "kat.yaml:2:9: provider.name: unknown variant `gke`, expected one of `sim`, `eks`",
        );
        assert_err(
            "provider:\n  nodes:\n    cuont: 3\n",
            "kat.yaml:3:5: provider.nodes.cuont: unknown field `cuont`, expected one of `instance_type`, `count`",
        );
        assert_err(
            "provider:\n  nodes:\n    count: three\n",
            "kat.yaml:3:12: provider.nodes.count: invalid type: string \"three\", expected a whole number",
        );
        assert_err(
            "timeouts:\n  default: 5x\n",
            "kat.yaml:2:3: timeouts.default: invalid duration `5x`",
        );
        assert_err("environment: [a\n", "kat.yaml:");
        assert_err(
            "database: rds\n",
            "kat.yaml:1:11: database: invalid type: string \"rds\", expected a mapping of keys (`kat schema` lists them)",
        );
    }

    #[test]
    fn empty_or_comment_only_file_means_defaults() {
        assert_eq!(parse("# nothing\n\n").unwrap(), KatConfig::default());
    }

    #[test]
    fn allowed_values_become_help() {
        let err = parse("database:\n  mode: aurora\n").unwrap_err();
        let ConfigError::Invalid(located) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            located.help.as_deref(),
            Some("allowed: `none`, `in-cluster`, `managed`")
        );
    }
}
