//! Kubernetes resource quantities (`500m`, `1.5`, `512Mi`, `1G`) as numbers, and back in the
//! form the API server stores them (so that a second apply writes nothing).

pub const MI: u64 = 1 << 20;
pub const GI: u64 = 1 << 30;

/// `2`, `1.5`, `500m` → millicores.
pub fn cpu_millis(q: &str) -> Option<u64> {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().ok();
    }
    let v: f64 = q.parse().ok()?;
    (v >= 0.0).then(|| (v * 1000.0).round() as u64)
}

/// `512Mi`, `1Gi`, `1G`, `1000` → bytes.
pub fn memory_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", MI),
        ("Gi", GI),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, mult) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * mult);
        }
    }
    q.parse().ok()
}

/// The API server's canonical form: whole cores without a suffix, else millicores.
pub fn cpu_text(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// The API server's canonical form: the largest binary suffix that divides exactly.
pub fn memory_text(bytes: u64) -> String {
    for (suffix, unit) in [("Ti", 1u64 << 40), ("Gi", GI), ("Mi", MI), ("Ki", 1 << 10)] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_and_print_in_the_servers_form() {
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("1.5"), Some(1500));
        assert_eq!(cpu_millis("lots"), None);
        assert_eq!(memory_bytes("512Mi"), Some(512 * MI));
        assert_eq!(memory_bytes("1G"), Some(1_000_000_000));
        assert_eq!(memory_bytes("1.5Gi"), None);
        assert_eq!(cpu_text(2000), "2");
        assert_eq!(cpu_text(250), "250m");
        assert_eq!(memory_text(1536 * MI), "1536Mi");
        assert_eq!(memory_text(2 * GI), "2Gi");
    }
}
