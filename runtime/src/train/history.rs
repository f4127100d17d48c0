//! Per-epoch logs and the `History` `fit` returns.

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
}
