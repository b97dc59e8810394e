//! CPU time spent by the testbed's processes (found by the pid files its start.sh writes beside
//! the kubeconfig) and by this process and its children (kubectl), from /proc. On a machine
//! whose cores the control plane shares with the client, the control plane's CPU for an apply
//! bounds how fast any client can apply.

use std::path::Path;
use std::time::Duration;

pub struct Cpu {
    pids: Vec<(String, u32)>,
    tick: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Per testbed process.
    pub control_plane: Vec<(String, Duration)>,
    /// This process, and the children it has waited for.
    pub own: Duration,
    pub children: Duration,
}

/// utime+stime and cutime+cstime of a /proc/<pid>/stat line, in ticks.
fn ticks(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) may hold spaces; the fields after it follow its ")".
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    (f.len() == 4).then(|| (f[0] + f[1], f[2] + f[3]))
}

impl Cpu {
    pub fn find(kubeconfig: &Path) -> Cpu {
        let dir = kubeconfig.parent().unwrap_or(Path::new("."));
        let mut pids = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.extension().and_then(|e| e.to_str()) != Some("pid") {
                continue;
            }
            if let Some(pid) = std::fs::read_to_string(&p)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                pids.push((name, pid));
            }
        }
        pids.sort();
        let tick = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        Cpu { pids, tick }
    }

    fn read(&self, pid: &str) -> (Duration, Duration) {
        let (own, children) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| ticks(&s))
            .unwrap_or_default();
        let d = |t: u64| Duration::from_secs_f64(t as f64 / self.tick);
        (d(own), d(children))
    }

    pub fn sample(&self) -> Sample {
        let (own, children) = self.read("self");
        Sample {
            control_plane: self
                .pids
                .iter()
                .map(|(n, p)| (n.clone(), self.read(&p.to_string()).0))
                .collect(),
            own,
            children,
        }
    }
}

impl Sample {
    pub fn control_plane_total(&self) -> Duration {
        self.control_plane.iter().map(|(_, d)| *d).sum()
    }

    /// What was spent from `earlier` to this sample.
    pub fn since(&self, earlier: &Sample) -> Sample {
        Sample {
            control_plane: self
                .control_plane
                .iter()
                .map(|(n, d)| {
                    let before = earlier
                        .control_plane
                        .iter()
                        .find(|(m, _)| m == n)
                        .map(|(_, b)| *b)
                        .unwrap_or_default();
                    (n.clone(), d.saturating_sub(before))
                })
                .collect(),
            own: self.own.saturating_sub(earlier.own),
            children: self.children.saturating_sub(earlier.children),
        }
    }

    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .control_plane
            .iter()
            .map(|(n, d)| format!("{n} {:.2}", d.as_secs_f64()))
            .collect();
        format!(
            "control plane {:.2} s ({})",
            self.control_plane_total().as_secs_f64(),
            parts.join(", ")
        )
    }
}
