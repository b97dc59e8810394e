//! Long waits in words and as a bar: what the provider expects a step to take (an EKS control
//! plane about 15 minutes), so a person watching knows whether a quiet stage is on time.

use std::time::Duration;

/// Below this an expected duration is not worth a bar: the stage is done before it is read.
pub const LONG_WAIT_MS: u64 = 5_000;

const BAR_WIDTH: usize = 12;

/// `15m`, `90s`, `2h`: rounded, as a person says it.
pub fn rough(ms: u64) -> String {
    let s = (ms + 500) / 1000;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", (s + 30) / 60),
        _ => format!("{}h", (s + 1800) / 3600),
    }
}

/// `▕████░░░░░░░░▏ ~15m`, then, once the usual time has passed, terraform's plainness:
/// `still working, longer than the usual ~15m`.
pub fn bar(elapsed: Duration, expected_ms: u64) -> String {
    let elapsed_ms = elapsed.as_millis() as u64;
    if elapsed_ms > expected_ms {
        return format!(
            "still working, longer than the usual ~{}",
            rough(expected_ms)
        );
    }
    let filled = (elapsed_ms as usize * BAR_WIDTH) / expected_ms.max(1) as usize;
    format!(
        "▕{}{}▏ ~{}",
        "█".repeat(filled),
        "░".repeat(BAR_WIDTH - filled),
        rough(expected_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_a_person_says_them() {
        assert_eq!(rough(15 * 60_000), "15m");
        assert_eq!(rough(90_000), "90s");
        assert_eq!(rough(7_400), "7s");
        assert_eq!(rough(3 * 3_600_000), "3h");
        assert_eq!(bar(Duration::ZERO, 60_000), "▕░░░░░░░░░░░░▏ ~60s");
        assert_eq!(bar(Duration::from_secs(30), 60_000), "▕██████░░░░░░▏ ~60s");
        assert_eq!(
            bar(Duration::from_secs(61), 60_000),
            "still working, longer than the usual ~60s"
        );
    }
}
