//! Evaluation progress: a bar on a terminal, a line per tenth of the devset otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) enum Progress {
    Off,
    Bar(ProgressBar),
    /// Not a terminal: print a line each time another tenth is done.
    Lines {
        total: usize,
        next: usize,
    },
}

impl Progress {
    pub(crate) fn new(on: bool, total: usize) -> Progress {
        if !on || total == 0 {
            return Progress::Off;
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if bar.is_hidden() {
            return Progress::Lines {
                total,
                next: total.div_ceil(10),
            };
        }
        if let Ok(style) =
            ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} [{elapsed}<{eta}]")
        {
            bar.set_style(style);
        }
        Progress::Bar(bar)
    }

    /// Records one more finished example; `sum` is the running score.
    pub(crate) fn step(&mut self, done: usize, sum: f64) {
        let msg = || {
            format!(
                "Average Metric: {sum:.2} / {done} ({:.1}%)",
                100.0 * sum / done as f64
            )
        };
        match self {
            Progress::Off => {}
            Progress::Bar(bar) => {
                bar.set_message(msg());
                bar.inc(1);
            }
            Progress::Lines { total, next } => {
                if done >= *next || done == *total {
                    eprintln!("{} [{done}/{total}]", msg());
                    *next = done + total.div_ceil(10);
                }
            }
        }
    }

    pub(crate) fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish();
        }
    }
}
