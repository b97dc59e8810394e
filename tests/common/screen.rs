//! What a terminal shows after a typescript is played on it: enough of a VT100 (printable text
//! with xterm's deferred wrap, CR, LF, cursor up and down, erase line and below; colours ignored)
//! to tell what the live view left on screen.

pub fn replay(typescript: &str, width: usize) -> Vec<String> {
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = typescript.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() != Some(&'[') {
                    chars.next();
                    continue;
                }
                chars.next();
                let mut param = String::new();
                let mut command = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        command = c;
                        break;
                    }
                    param.push(c);
                }
                let n: usize = param.trim_start_matches('?').parse().unwrap_or(1).max(1);
                // Any cursor movement ends a pending wrap.
                col = col.min(width - 1);
                match command {
                    'A' => row = row.saturating_sub(n),
                    'B' => row += n,
                    'K' => rows[row].clear(),
                    'J' => rows.truncate(row + 1),
                    'G' => col = n - 1,
                    _ => {}
                }
            }
            '\r' => col = 0,
            '\n' => row += 1,
            c if c.is_control() => {}
            c => {
                if col == width {
                    row += 1;
                    col = 0;
                }
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                let line = &mut rows[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
        while rows.len() <= row {
            rows.push(Vec::new());
        }
    }
    rows.into_iter()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_string())
        .collect()
}

/// util-linux `script` running `shell` (a command line for sh) in `dir` on a pseudo-terminal and
/// recording what the terminal showed into `typescript`: a person's run, so without the test
/// environment's `CI` and `RUST_LOG`. The caller adds stdin, stdout and any environment.
pub fn on_a_pty(
    dir: &std::path::Path,
    shell: &str,
    typescript: &std::path::Path,
) -> std::process::Command {
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", shell])
        .arg(typescript)
        .current_dir(dir)
        .env_remove("CI")
        .env_remove("RUST_LOG")
        .env("TERM", "xterm");
    cmd
}
