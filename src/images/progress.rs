//! One progress bar per image copy, drawn in kat's live view when there is one (the same
//! MultiProgress as the stage spinners, so lines never tear), hidden otherwise.

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone)]
pub struct ImageBar(ProgressBar);

impl ImageBar {
    /// `total`: the bytes of every blob of the image (skipped ones count as done at once).
    pub fn new(image: &str, total: u64) -> ImageBar {
        let bar = match crate::ui::live_view() {
            Some(multi) => multi.add(ProgressBar::new(total)),
            None => ProgressBar::hidden(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "  {msg:40!} {bar:24} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}",
            )
            .expect("template is valid"),
        );
        bar.set_message(image.to_string());
        bar.set_length(total);
        ImageBar(bar)
    }

    pub fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
