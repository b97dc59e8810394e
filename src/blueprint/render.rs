//! Rendering: minijinja in strict mode over the blueprint's templates.

use kat_provider::DatabaseMode;
use std::collections::BTreeMap;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde_json::{json, Map, Value as Json};

use super::context::RenderContext;
use super::error::{BlueprintError, Missing};
use super::source::{is_manifest_template, lib_template, Sources};
use super::spec::BlueprintInfo;
use super::{values, RenderedFile};

pub fn render(src: &Sources, cx: &RenderContext) -> Result<Vec<RenderedFile>, BlueprintError> {
    let info = &src.info;
    check_database(info, cx)?;
    let merged = values::merge(&info.name, &info.values, &cx.values)?;
    let images = resolve_images(info, &merged, cx)?;
    let context = template_context(info, cx, merged, images);

    let env = environment(src);
    let mut out = Vec::new();
    for name in src.templates.keys().filter(|t| is_manifest_template(t)) {
        let template = env
            .get_template(name)
            .map_err(|e| BlueprintError::template(&info.name, name, &e))?;
        let content = template
            .render(Value::from(Serde(&context)))
            .map_err(|e| BlueprintError::template(&info.name, name, &e))?;
        // A template that renders to nothing here (postgres.yaml under a managed database) is
        // not a file of this environment's manifests.
        if is_empty_yaml(&content) {
            continue;
        }
        out.push(RenderedFile {
            path: format!("{}/{name}", info.name),
            content,
        });
    }
    Ok(out)
}

/// Only blank lines, comments and document separators.
fn is_empty_yaml(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

fn environment(src: &Sources) -> Environment<'static> {
    let mut env = Environment::new();
    // A missing value must fail loudly, naming itself, never render as an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // minijinja would JSON-escape `.yaml` templates; YAML output is written as plain text.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let templates = src.templates.clone();
    env.set_loader(move |name| {
        if let Some(lib) = lib_template(name) {
            return Ok(Some(lib.to_string()));
        }
        Ok(templates.get(name).cloned())
    });
    env
}

fn check_database(info: &BlueprintInfo, cx: &RenderContext) -> Result<(), BlueprintError> {
    let Some(db) = &info.database else {
        // Nothing to render for a database: any mode the caller chose is irrelevant.
        return Ok(());
    };
    if !db.modes.contains(&cx.database.mode) {
        return Err(BlueprintError::UnsupportedDatabase {
            blueprint: info.name.clone(),
            mode: cx.database.mode.to_string(),
            supported: crate::blueprint::joined(&db.modes),
        });
    }
    if cx.database.mode == DatabaseMode::Managed
        && cx.database.secret.as_deref().unwrap_or("").is_empty()
    {
        return Err(BlueprintError::MissingDatabaseSecret {
            blueprint: info.name.clone(),
        });
    }
    Ok(())
}

/// Image key → the reference to run: published ones as pinned, built ones under the registry,
/// user-supplied ones from their value.
fn resolve_images(
    info: &BlueprintInfo,
    values: &Map<String, Json>,
    cx: &RenderContext,
) -> Result<BTreeMap<String, String>, BlueprintError> {
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for (key, spec) in &info.images {
        let reference = match (&spec.reference, &spec.build, &spec.value) {
            (Some(r), Some(source), _) => match cx.registry.as_deref() {
                Some(reg) if !reg.is_empty() => format!("{}/{r}", reg.trim_end_matches('/')),
                _ => {
                    return Err(BlueprintError::NoRegistry {
                        blueprint: info.name.clone(),
                        image: key.clone(),
                        source_url: source.to_string(),
                    })
                }
            },
            (Some(r), None, _) => r.clone(),
            (None, _, Some(value)) => match values.get(value) {
                Some(Json::String(s)) if !s.is_empty() => s.clone(),
                _ => {
                    missing.push(Missing {
                        key: value.clone(),
                        description: info
                            .values
                            .get(value)
                            .map(|v| v.description.clone())
                            .unwrap_or_default(),
                    });
                    continue;
                }
            },
            // `validate` has ruled this out at load time.
            (None, _, None) => continue,
        };
        out.insert(key.clone(), reference);
    }
    if !missing.is_empty() {
        return Err(BlueprintError::MissingValue {
            blueprint: info.name.clone(),
            missing,
        });
    }
    Ok(out)
}

fn template_context(
    info: &BlueprintInfo,
    cx: &RenderContext,
    values: Map<String, Json>,
    images: BTreeMap<String, String>,
) -> Json {
    let components: Map<String, Json> = info
        .components
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or(Json::Null);
            // Templates read every field; absent optional ones are null rather than undefined.
            if let Json::Object(m) = &mut v {
                m.insert("namespace".into(), json!(info.namespace_of(c)));
                m.entry("port").or_insert(Json::Null);
                m.entry("autoscaling").or_insert(Json::Null);
                m.entry("expose").or_insert(json!([]));
            }
            (c.name.clone(), v)
        })
        .collect();
    json!({
        "blueprint": { "name": info.name, "source": info.source },
        "namespace": info.namespace,
        "namespaces": info.namespaces(),
        "env": cx.env,
        "values": values,
        "images": images,
        "components": components,
        "database": cx.database,
        "cluster": cx.cluster,
        "ingress": cx.ingress,
        "registry": cx.registry,
        "api": cx.api,
    })
}
