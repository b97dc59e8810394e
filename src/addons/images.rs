//! Every container image a set of manifests uses (for `kat fetch`'s image list and registries).

use std::collections::BTreeSet;

use serde_json::Value;

pub fn images_of<'a>(objects: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for o in objects {
        collect(o, &mut found);
    }
    found
}

/// Walks the whole object: pod templates sit at different depths in Deployments, CronJobs and
/// custom resources.
fn collect(v: &Value, found: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if (k == "containers" || k == "initContainers") && child.is_array() {
                    for c in child.as_array().into_iter().flatten() {
                        if let Some(image) = c.get("image").and_then(Value::as_str) {
                            found.insert(image.to_string());
                        }
                    }
                }
                collect(child, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_images_at_any_depth() {
        let cronjob = serde_json::json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"image": "busybox:1.36"}], "containers": [{"image": "app:1.0"}]}}}}}});
        let deploy = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"image": "app:1.0"}]}}}});
        let all: Vec<_> = images_of([&cronjob, &deploy]).into_iter().collect();
        assert_eq!(all, vec!["app:1.0", "busybox:1.36"]);
    }
}
