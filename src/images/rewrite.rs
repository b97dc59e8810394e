//! Rendered manifests pointed at the mirrored copies: every container image that was mirrored
//! is replaced by its `<registry>/<repo>@sha256:…`.

use std::collections::BTreeMap;

use serde_json::Value;

/// Returns how many container images were replaced.
pub fn rewrite<'a>(
    objects: impl IntoIterator<Item = &'a mut Value>,
    mirrored: &BTreeMap<String, String>,
) -> usize {
    objects.into_iter().map(|o| walk(o, mirrored)).sum()
}

/// Pod templates sit at different depths in Deployments, CronJobs and custom resources.
fn walk(v: &mut Value, mirrored: &BTreeMap<String, String>) -> usize {
    let mut n = 0;
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "containers" || k == "initContainers" {
                    for c in child.as_array_mut().into_iter().flatten() {
                        let to = c
                            .get("image")
                            .and_then(Value::as_str)
                            .and_then(|i| mirrored.get(i));
                        if let Some(to) = to.cloned() {
                            c["image"] = Value::String(to);
                            n += 1;
                        }
                    }
                }
                n += walk(child, mirrored);
            }
        }
        Value::Array(items) => n += items.iter_mut().map(|i| walk(i, mirrored)).sum::<usize>(),
        _ => {}
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_images_are_replaced_at_any_depth_and_others_kept() {
        let mut objects = [
            serde_json::json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"image": "busybox:1.36"}],
            "containers": [{"image": "mongo:6.0.13"}, {"image": "localhost:32000/app:1"}]}}}}}}),
        ];
        let map = BTreeMap::from([(
            "mongo:6.0.13".to_string(),
            "localhost:32000/mongo@sha256:ab".to_string(),
        )]);
        assert_eq!(rewrite(objects.iter_mut(), &map), 1);
        let spec = &objects[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["image"],
            "localhost:32000/mongo@sha256:ab"
        );
        assert_eq!(spec["containers"][1]["image"], "localhost:32000/app:1");
        assert_eq!(spec["initContainers"][0]["image"], "busybox:1.36");
    }
}
