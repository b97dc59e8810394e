//! Errors name what is wrong and where; blueprints load from a user path.

use std::path::Path;

use serde_json::json;

use super::support::*;
use crate::blueprint::{load, parse_manifests, BlueprintError, RenderedFile};

const USER_BLUEPRINT: &str = r#"
name: hello
description: a user blueprint
source: https://example.com/hello
namespace: hello
components:
  - name: web
    description: web server
    image: web
    port: 8080
images:
  web: { ref: "nginxinc/nginx-unprivileged:1.27.3-alpine" }
values:
  greeting:
    description: what the ConfigMap says
    default: hello
"#;

fn write_blueprint(dir: &Path, yaml: &str, templates: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("blueprint.yaml"), yaml).unwrap();
    for (name, text) in templates {
        std::fs::write(dir.join("templates").join(name), text).unwrap();
    }
}

#[test]
fn missing_required_value_names_it_and_how_to_set_it() {
    let cx = context("in-cluster", false);
    let err = load("todo").unwrap().render(&cx).unwrap_err();
    assert!(
        matches!(&err, BlueprintError::MissingValue { missing, .. } if missing.len() == 1 && missing[0].key == "frontend_image"),
        "{err}"
    );
    let msg = err.to_string();
    for part in [
        "todo",
        "`frontend_image`",
        "blueprint.values.frontend_image",
        "--set frontend_image=",
    ] {
        assert!(msg.contains(part), "{msg} lacks {part}");
    }
}

#[test]
fn every_missing_value_is_named_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = USER_BLUEPRINT.replace(
        "values:\n",
        "values:\n  api_image:\n    description: the API image\n    required: true\n  web_image:\n    description: the web image\n    required: true\n",
    );
    write_blueprint(dir.path(), &yaml, &[("x.yaml", "")]);
    let cx = context("in-cluster", false);
    let err = load(&dir.path().display().to_string())
        .unwrap()
        .render(&cx)
        .unwrap_err();
    let msg = err.to_string();
    for part in [
        "`api_image`",
        "`web_image`",
        "--set api_image=... --set web_image=...",
    ] {
        assert!(msg.contains(part), "{msg} lacks {part}");
    }
}

#[test]
fn unknown_value_key_names_it_and_the_allowed_ones() {
    let mut cx = context("in-cluster", false);
    cx.values.insert("api_replicaz".into(), json!(2));
    let err = render("nanomon", &cx).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`api_replicaz`") && msg.contains("api_replicas, frontend_replicas"),
        "{msg}"
    );
}

#[test]
fn values_override_defaults() {
    let mut cx = context("in-cluster", false);
    cx.values.insert("api_replicas".into(), json!(3));
    let objects = objects("nanomon", &cx);
    assert_eq!(
        named(&objects, "Deployment", "api").unwrap()["spec"]["replicas"],
        3
    );
}

#[test]
fn built_images_need_a_registry() {
    let mut cx = context("in-cluster", false);
    cx.registry = None;
    let err = render("ratings", &cx).unwrap_err();
    assert!(matches!(err, BlueprintError::NoRegistry { .. }), "{err}");
    assert!(
        err.to_string().contains("mslearn-aks-workshop-ratings"),
        "{err}"
    );
}

#[test]
fn blueprint_loads_and_renders_from_a_user_path() {
    let dir = tempfile::tempdir().unwrap();
    let template = "{% import \"kat/k8s.j2\" as k -%}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: {{ namespace }}\n  labels:\n    {{ k.labels(blueprint.name, \"web\") | indent(4) }}\ndata:\n  greeting: {{ values.greeting }}\n";
    write_blueprint(
        dir.path(),
        USER_BLUEPRINT,
        &[("web.yaml", template), ("_notes.j2", "{# helper #}")],
    );
    let bp = load(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(bp.info().name, "hello");
    assert!(!bp.needs_database());
    let mut cx = context("none", false);
    cx.values.insert("greeting".into(), json!("hi"));
    let files = bp.render(&cx).unwrap();
    assert_eq!(files.len(), 1, "helpers are not rendered");
    assert_eq!(files[0].path, "hello/web.yaml");
    let objects = parse_manifests(&files).unwrap();
    assert_eq!(objects[0].source, "hello/web.yaml#0");
    assert_eq!(objects[0].object["data"]["greeting"], "hi");
    assert_eq!(
        objects[0].object["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "hello"
    );
}

#[test]
fn undefined_variable_names_template_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ values.nmae }}\n";
    write_blueprint(dir.path(), USER_BLUEPRINT, &[("broken.yaml", template)]);
    let err = load(dir.path().to_str().unwrap())
        .unwrap()
        .render(&context("none", false))
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BlueprintError::Template { .. }), "{msg}");
    assert!(msg.contains("templates/broken.yaml:4:"), "{msg}");
    assert!(msg.contains("undefined"), "{msg}");
}

#[test]
fn template_syntax_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let template = "apiVersion: v1\n{% if %}\n";
    write_blueprint(dir.path(), USER_BLUEPRINT, &[("bad.yaml", template)]);
    let err = load(dir.path().to_str().unwrap())
        .unwrap()
        .render(&context("none", false))
        .unwrap_err();
    assert!(err.to_string().contains("templates/bad.yaml:2"), "{err}");
}

#[test]
fn unpinned_image_is_rejected_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = USER_BLUEPRINT.replace("1.27.3-alpine", "latest");
    write_blueprint(dir.path(), &yaml, &[("x.yaml", "")]);
    let err = load(dir.path().to_str().unwrap()).unwrap_err();
    assert!(err.to_string().contains("not pinned"), "{err}");
}

#[test]
fn unknown_builtin_lists_the_builtins() {
    let err = load("nanomom").unwrap_err();
    assert!(
        err.to_string()
            .contains("fastapi-react, nanomon, ratings, todo, voting-app"),
        "{err}"
    );
}

#[test]
fn malformed_manifest_names_file_and_document_index() {
    let file = |content: &str| RenderedFile {
        path: "app/x.yaml".into(),
        content: content.into(),
    };
    let good = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";

    let missing_kind = format!("---\n{good}---\napiVersion: v1\nmetadata:\n  name: b\n");
    let err = parse_manifests(&[file(&missing_kind)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("app/x.yaml#1") && err.contains("`kind`"),
        "{err}"
    );

    let bad_yaml = format!("{good}---\nkind: [unclosed\n");
    let err = parse_manifests(&[file(&bad_yaml)]).unwrap_err().to_string();
    assert!(err.contains("app/x.yaml#1"), "{err}");

    let with_empty = format!("---\n---\n{good}");
    let objects = parse_manifests(&[file(&with_empty)]).unwrap();
    assert_eq!(objects.len(), 1, "empty documents are skipped");
}
