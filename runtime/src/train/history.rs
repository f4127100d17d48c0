//! Per-epoch logs and the `History` `fit` returns, which saves itself to
//! CSV and JSON and draws its learning curves (`plot.rs`, feature `plot`).

use super::callbacks::python_repr;
use crate::error::Result;
use std::path::Path;

/// Named values of one epoch or one evaluation, in Keras's order
/// (`loss`, metrics, then `val_loss`, validation metrics).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs {
    entries: Vec<(String, f32)>,
}

impl Logs {
    /// Adds or replaces `name`.
    pub fn set(&mut self, name: &str, value: f32) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name.to_string(), value)),
        }
    }

    /// The value logged under `name`.
    pub fn get(&self, name: &str) -> Option<f32> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f32)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), *v))
    }
}

/// Keras's log format: `loss: 0.6500 - binary_accuracy: 0.5000`.
impl std::fmt::Display for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, value)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" - ")?;
            }
            write!(f, "{name}: {value:.4}")?;
        }
        Ok(())
    }
}

/// Every logged value of every epoch (Keras's `history.history`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Zero-based epoch numbers that ran.
    pub epochs: Vec<usize>,
    series: Vec<(String, Vec<f32>)>,
}

impl History {
    /// Records one epoch's logs.
    pub fn record(&mut self, epoch: usize, logs: &Logs) {
        self.epochs.push(epoch);
        for (name, value) in logs.iter() {
            match self.series.iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(value),
                None => self.series.push((name.to_string(), vec![value])),
            }
        }
    }

    /// The per-epoch values of `name` (`"loss"`, `"val_accuracy"`, …).
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.series.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The names recorded, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.series.iter().map(|(n, _)| n.as_str())
    }

    /// The history as CSV: a header `epoch,<names in logged order>`, then
    /// one row per epoch (zero-based) with each value as Python prints it
    /// (`repr`, as Keras's `CSVLogger` and pandas' `to_csv` write floats),
    /// empty when a name was not logged that epoch; lines end in `\n`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("epoch");
        for (name, _) in &self.series {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for (row, epoch) in self.epochs.iter().enumerate() {
            out.push_str(&epoch.to_string());
            for (_, values) in &self.series {
                out.push(',');
                if let Some(v) = self.value_at(values, row) {
                    out.push_str(&python_repr(v.into()));
                }
            }
            out.push('\n');
        }
        out
    }

    /// The history as JSON, shaped like Keras's `history.history` plus the
    /// epochs: `{"epoch": [0, 1], "history": {"loss": [0.5, 0.4], …}}`.
    /// Values are written as Python's `json.dump` writes them (`NaN`,
    /// `Infinity` for non-finite values; a name missing at an epoch is `null`).
    pub fn to_json(&self) -> String {
        let epochs: Vec<String> = self.epochs.iter().map(usize::to_string).collect();
        let mut out = format!("{{\"epoch\": [{}], \"history\": {{", epochs.join(", "));
        for (i, (name, values)) in self.series.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let values: Vec<String> = (0..self.epochs.len())
                .map(|row| match self.value_at(values, row) {
                    None => "null".into(),
                    Some(v) if v.is_nan() => "NaN".into(),
                    Some(v) if v.is_infinite() => if v > 0.0 { "Infinity" } else { "-Infinity" }.into(),
                    Some(v) => python_repr(v.into()),
                })
                .collect();
            out.push_str(&format!("{}: [{}]", json_string(name), values.join(", ")));
        }
        out.push_str("}}");
        out
    }

    /// Writes [`History::to_csv`] to `path` (atomically).
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = self.to_csv();
        crate::io::write_atomically(path.as_ref(), |w| w.write_all(text.as_bytes()))
    }

    /// Writes [`History::to_json`] to `path` (atomically).
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = self.to_json();
        crate::io::write_atomically(path.as_ref(), |w| w.write_all(text.as_bytes()))
    }

    /// The value of a series at epoch row `row`. A name that first appears
    /// at a later epoch (a callback's `learning_rate`) has fewer values:
    /// they belong to the last epochs.
    pub(crate) fn value_at(&self, values: &[f32], row: usize) -> Option<f32> {
        let missing = self.epochs.len() - values.len();
        row.checked_sub(missing).map(|i| values[i])
    }

    /// The series in logged order (what `plot.rs` draws).
    #[cfg(feature = "plot")]
    pub(crate) fn series(&self) -> &[(String, Vec<f32>)] {
        &self.series
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
