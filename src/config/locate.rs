//! Finds where a key path (`provider.nodes.count`) is written in a block-style YAML document, so
//! that checks made after parsing (min ≤ count ≤ max) point at a line like parse errors do.

/// 1-based (line, column) of the last key of `path`, or of the deepest key found.
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    let mut from = 0usize;
    let mut parent_indent: isize = -1;
    for segment in path {
        let mut hit = None;
        for (i, raw) in lines.iter().enumerate().skip(from) {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
                continue;
            }
            let indent = (raw.len() - trimmed.len()) as isize;
            if indent <= parent_indent {
                break; // left the parent's block
            }
            let key = trimmed.trim_start_matches("- ");
            let key = key
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            if key == *segment && trimmed.contains(':') {
                hit = Some((i, indent));
                break;
            }
        }
        match hit {
            Some((i, indent)) => {
                found = Some((i + 1, indent as usize + 1));
                from = i + 1;
                parent_indent = indent;
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::locate;

    const DOC: &str = "# c\nenvironment: demo\nprovider:\n  name: sim\n  nodes:\n    count: 5\n    max: 2\ndatabase:\n  mode: rds\n";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(locate(DOC, &["provider", "nodes", "max"]), Some((7, 5)));
        assert_eq!(locate(DOC, &["database", "mode"]), Some((9, 3)));
    }

    #[test]
    fn does_not_leave_the_parent_block() {
        // `mode` exists, but not under `provider`.
        assert_eq!(locate(DOC, &["provider", "mode"]), Some((3, 1)));
    }

    #[test]
    fn missing_top_level_key_is_none() {
        assert_eq!(locate(DOC, &["registry"]), None);
    }
}
