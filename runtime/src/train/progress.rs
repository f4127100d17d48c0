//! Keras's progress output: `verbose = 1` draws a progress bar per epoch,
//! `verbose = 2` prints one line per epoch, `0` prints nothing.

use super::callbacks::{Callback, CallbackContext};
use super::history::Logs;
use crate::error::Result;
use crate::network::Network;
use std::io::Write;
use std::time::{Duration, Instant};

const BAR_WIDTH: usize = 30;
/// Redraw the bar at most this often (terminal writes are syscalls).
const REDRAW: Duration = Duration::from_millis(50);

pub(crate) struct Progress {
    verbose: u8,
    /// Like Keras, redraw the bar in place only on a terminal; logs get the final line.
    dynamic: bool,
    steps: usize,
    epoch_start: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    pub fn new(verbose: u8) -> Self {
        use std::io::IsTerminal;
        let dynamic = std::io::stdout().is_terminal();
        Progress { verbose, dynamic, steps: 0, epoch_start: Instant::now(), last_draw: None }
    }

    pub fn begin_epoch(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.begin_steps(steps);
        if self.verbose > 0 {
            println!("Epoch {}/{}", epoch + 1, epochs);
        }
    }

    /// Starts a bar of `steps` without an `Epoch` header (`evaluate`).
    pub fn begin_steps(&mut self, steps: usize) {
        self.steps = steps;
        self.epoch_start = Instant::now();
        self.last_draw = None;
    }

    /// Whether [`Progress::update`] would draw after step `done` (so the
    /// caller only collects running values when they are shown).
    pub fn wants_update(&self, done: usize) -> bool {
        self.verbose == 1 && self.dynamic && done != self.steps && self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW)
    }

    /// After step `done` (1-based) with the running values.
    pub fn update(&mut self, done: usize, running: &[(String, f32)]) {
        if !self.wants_update(done) {
            return;
        }
        let now = Instant::now();
        self.last_draw = Some(now);
        let elapsed = (now - self.epoch_start).as_secs_f64();
        let eta = elapsed / done as f64 * (self.steps - done) as f64;
        let mut line = format!("\r{} - ETA: {:.0}s", self.bar(done), eta);
        for (name, value) in running {
            line.push_str(&format!(" - {name}: {}", format_value(*value)));
        }
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{line}");
        let _ = out.flush();
    }

    pub fn end_epoch(&mut self, logs: &Logs) {
        if self.verbose == 0 {
            return;
        }
        let elapsed = self.epoch_start.elapsed().as_secs_f64();
        let mut line = if self.verbose == 1 {
            let per_step = elapsed / self.steps.max(1) as f64;
            let start = if self.dynamic { "\r" } else { "" };
            format!("{start}{} - {:.0}s {}", self.bar(self.steps), elapsed, per_step_str(per_step))
        } else {
            format!("{}/{} - {:.0}s", self.steps, self.steps, elapsed)
        };
        for (name, value) in logs.iter() {
            line.push_str(&format!(" - {name}: {}", format_value(value)));
        }
        println!("{line}");
    }

    fn bar(&self, done: usize) -> String {
        let digits = self.steps.to_string().len();
        let filled = BAR_WIDTH * done / self.steps.max(1);
        let mut bar = format!("{done:>digits$}/{} [", self.steps);
        if filled > 0 {
            bar.push_str(&"=".repeat(filled - 1));
            bar.push(if done < self.steps { '>' } else { '=' });
        }
        bar.push_str(&".".repeat(BAR_WIDTH - filled));
        bar.push(']');
        bar
    }
}

/// Keras prints `%.4f`, or `%.4e` for tiny magnitudes.
fn format_value(v: f32) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        // Rust writes `9.5637e-4`; Python's `%.4e` writes `9.5637e-04`.
        let s = format!("{v:.4e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = exponent.strip_prefix('-').map_or(("+", exponent), |d| ("-", d));
        format!("{mantissa}e{sign}{digits:0>2}")
    } else {
        format!("{v:.4}")
    }
}

fn per_step_str(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.0}s/step")
    } else if seconds >= 1e-3 {
        format!("{:.0}ms/step", seconds * 1e3)
    } else {
        format!("{:.0}us/step", seconds * 1e6)
    }
}

/// Keras's `ProgbarLogger`: the progress output `fit` prints for
/// `verbose` 1 (a bar per epoch) or 2 (a line per epoch), as a callback.
///
/// `fit` draws it itself from its `verbose` argument (after the other
/// callbacks, so it shows what they log); add one to `fit(…).verbose(0)`
/// to place it yourself, or to `evaluate_with_callbacks`.
pub struct ProgbarLogger {
    progress: Progress,
    running: Vec<(String, f32)>,
}

impl ProgbarLogger {
    /// `verbose`: 1 a progress bar, 2 one line per epoch, 0 nothing.
    pub fn new(verbose: u8) -> Self {
        ProgbarLogger { progress: Progress::new(verbose), running: Vec::new() }
    }
}

impl<N: Network> Callback<N> for ProgbarLogger {
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        let params = ctx.params();
        self.progress.begin_epoch(epoch, params.epochs, params.steps);
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if self.progress.wants_update(batch + 1) {
            self.running.clear();
            self.running.extend(logs.iter().map(|(n, v)| (n.to_string(), v)));
            self.progress.update(batch + 1, &self.running);
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, _: usize, logs: &mut Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        self.progress.end_epoch(logs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_matches_keras_drawing() {
        let mut p = Progress::new(1);
        p.steps = 6;
        assert_eq!(p.bar(6), "6/6 [==============================]");
        assert_eq!(p.bar(3), "3/6 [==============>...............]");
        p.steps = 30;
        assert_eq!(p.bar(1), " 1/30 [>.............................]");
        assert_eq!(format_value(0.65), "0.6500");
        assert_eq!(format_value(0.000_956_37), "9.5637e-04");
        assert_eq!(per_step_str(0.003), "3ms/step");
    }
}
