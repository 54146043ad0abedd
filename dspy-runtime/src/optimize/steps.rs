//! An optimizer's progress: a bar on a terminal, a line per step otherwise, nothing when off.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) enum Steps {
    Off,
    Bar(ProgressBar),
    Lines {
        name: &'static str,
        total: usize,
        done: usize,
    },
}

impl Steps {
    /// Progress over `total` steps of optimizer `name`.
    pub(crate) fn new(on: bool, name: &'static str, total: usize) -> Steps {
        if !on {
            return Steps::Off;
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if bar.is_hidden() {
            return Steps::Lines {
                name,
                total,
                done: 0,
            };
        }
        if let Ok(style) =
            ProgressStyle::with_template("{prefix} {msg} {wide_bar} {pos}/{len} [{elapsed}<{eta}]")
        {
            bar.set_style(style);
        }
        bar.set_prefix(name);
        Steps::Bar(bar)
    }

    /// One more step done; `msg` says what it was.
    pub(crate) fn step(&mut self, msg: &str) {
        self.advance(1, msg);
    }

    /// `n` more steps done; `msg` says what they were.
    pub(crate) fn advance(&mut self, n: usize, msg: &str) {
        match self {
            Steps::Off => {}
            Steps::Bar(bar) => {
                bar.set_message(msg.to_string());
                bar.inc(n as u64);
            }
            Steps::Lines { name, total, done } => {
                *done += n;
                eprintln!("{name} [{done}/{total}] {msg}");
            }
        }
    }

    pub(crate) fn finish(self) {
        if let Steps::Bar(bar) = self {
            bar.finish();
        }
    }
}
