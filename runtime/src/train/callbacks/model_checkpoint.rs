//! Keras's `ModelCheckpoint`.

use super::format::{check_template, format_template, Value};
use super::{Callback, CallbackContext, Logs, Mode, Monitor};
use crate::error::{Error, Result};
use crate::network::Network;
use std::path::{Path, PathBuf};

/// When [`ModelCheckpoint`] saves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SaveFreq {
    /// At the end of every epoch (Keras's `"epoch"`).
    #[default]
    Epoch,
    /// Every that many training batches (Keras's integer `save_freq`),
    /// counted across epochs; the batch's running logs are used.
    Batches(usize),
}

/// Saves the model while it trains (Keras 3's `ModelCheckpoint`, same
/// arguments, defaults and rules).
///
/// `filepath` is a Python format string: `{epoch}` is the one-based epoch,
/// `{batch}` the one-based batch (with [`SaveFreq::Batches`]), any logged
/// name its value: `"ckpt/w.{epoch:02d}-{val_loss:.2f}.safetensors"` gives
/// `ckpt/w.03-0.41.safetensors`. When training begins, the template is
/// checked with every field of the type it will have (`epoch` and `batch`
/// integers, logged values floats: `{val_loss:d}` is an error then, not
/// after an epoch; `{batch}` only with [`SaveFreq::Batches`]) and a missing
/// directory not named by a field is created. A name that no log holds
/// is found at the first save (another callback may log it). With
/// `save_weights_only` the file holds the weights ([`crate::io::save_weights`],
/// safetensors), otherwise the whole training state ([`crate::train::Model::save`]);
/// either way it is written atomically, so an interrupted run never leaves a
/// half-written file. (Keras insists on `.weights.h5` / `.keras`; kiln
/// writes its own formats whatever the extension.)
///
/// With `save_best_only`, a file is written only when the monitored value
/// improves on the best so far (starting from `initial_value_threshold`);
/// when the monitored value is missing it saves anyway, with Keras's warning.
///
/// ```
/// use kiln::train::ModelCheckpoint;
/// let best = ModelCheckpoint::new("best.ckpt").monitor("val_loss").save_best_only(true);
/// let every = ModelCheckpoint::new("w.{epoch:02d}-{val_loss:.2f}.safetensors").save_weights_only(true);
/// ```
#[derive(Clone, Debug)]
pub struct ModelCheckpoint {
    filepath: String,
    monitor: Monitor,
    verbose: u8,
    save_best_only: bool,
    save_weights_only: bool,
    save_freq: SaveFreq,
    batches_since_save: usize,
    last_batch: Option<usize>,
    current_epoch: usize,
    saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Keras's defaults: `monitor="val_loss"`, `verbose=0`,
    /// `save_best_only=false`, `save_weights_only=false`, `mode="auto"`,
    /// `save_freq="epoch"`, no `initial_value_threshold`.
    pub fn new(filepath: &str) -> Self {
        ModelCheckpoint {
            filepath: filepath.into(),
            monitor: Monitor::new("val_loss", 0.0),
            verbose: 0,
            save_best_only: false,
            save_weights_only: false,
            save_freq: SaveFreq::Epoch,
            batches_since_save: 0,
            last_batch: None,
            current_epoch: 0,
            saved: Vec::new(),
        }
    }

    /// The logged quantity `save_best_only` compares.
    pub fn monitor(mut self, name: &str) -> Self {
        self.monitor.name = name.into();
        self
    }

    /// 1 prints each save (and each epoch that did not improve).
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Save only when the monitored value improves.
    pub fn save_best_only(mut self, best_only: bool) -> Self {
        self.save_best_only = best_only;
        self
    }

    /// Save the weights (safetensors) rather than the whole training state.
    pub fn save_weights_only(mut self, weights_only: bool) -> Self {
        self.save_weights_only = weights_only;
        self
    }

    /// Whether the monitored value should go down or up.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }

    /// Every epoch (default) or every `n` batches.
    pub fn save_freq(mut self, freq: SaveFreq) -> Self {
        self.save_freq = freq;
        self
    }

    /// The value to beat before the first save with `save_best_only`.
    pub fn initial_value_threshold(mut self, threshold: f64) -> Self {
        self.monitor.best = Some(threshold);
        self
    }

    /// The best monitored value so far.
    pub fn best(&self) -> Option<f64> {
        self.monitor.best
    }

    /// Every file written, in order.
    pub fn saved(&self) -> &[PathBuf] {
        &self.saved
    }

    fn file_path(&self, epoch: usize, batch: Option<usize>, logs: &Logs) -> Result<String> {
        format_template(&self.filepath, |name| match name {
            // As Keras: a logged `batch` wins over the batch counter.
            "batch" if logs.get("batch").is_none() => batch.map(|b| Value::Int(b as i64 + 1)),
            "epoch" => Some(Value::Int(epoch as i64 + 1)),
            _ => logs.get(name).map(|v| Value::Float(v.into())),
        })
    }

    fn save<N: Network>(
        &mut self,
        epoch: usize,
        batch: Option<usize>,
        logs: &Logs,
        ctx: &mut CallbackContext<'_, N>,
    ) -> Result<()> {
        let path = self.file_path(epoch, batch, logs)?;
        if !self.should_save(epoch, logs, &path) {
            return Ok(());
        }
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        }
        if path.is_dir() {
            return Err(Error::InvalidArgument {
                name: "filepath",
                reason: format!("{} is an existing directory; give a file path", path.display()),
            });
        }
        if self.save_weights_only {
            ctx.save_weights(&path)?;
        } else {
            ctx.save(&path)?;
        }
        if self.verbose > 0 {
            println!("\nEpoch {}: finished saving model to {}", epoch + 1, path.display());
        }
        self.saved.push(path);
        Ok(())
    }

    /// Keras's `_should_save_model`.
    fn should_save(&mut self, epoch: usize, logs: &Logs, path: &str) -> bool {
        if !self.save_best_only {
            if self.verbose > 0 {
                println!("\nEpoch {}: saving model to {path}", epoch + 1);
            }
            return true;
        }
        let Some(current) = logs.get(&self.monitor.name).map(f64::from) else {
            eprintln!("warning: Can save best model only with {} available.", self.monitor.name);
            return true;
        };
        let best = self.monitor.best.map_or("None".to_string(), |b| format!("{b:.5}"));
        if self.monitor.is_improvement(current, self.monitor.best) {
            if self.verbose > 0 {
                println!(
                    "\nEpoch {}: {} improved from {best} to {current:.5}, saving model to {path}",
                    epoch + 1,
                    self.monitor.name
                );
            }
            self.monitor.best = Some(current);
            true
        } else {
            if self.verbose > 0 {
                println!("\nEpoch {}: {} did not improve from {best}", epoch + 1, self.monitor.name);
            }
            false
        }
    }
}

impl<N: Network> Callback<N> for ModelCheckpoint {
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        if self.save_freq == SaveFreq::Batches(0) {
            return Err(Error::InvalidArgument {
                name: "save_freq",
                reason: "must be at least 1 batch, but is 0".into(),
            });
        }
        // Every field as the type it will have (`{loss:d}` fails now, not
        // after the first epoch); `{batch}` only when saving per batch.
        let per_batch = matches!(self.save_freq, SaveFreq::Batches(_));
        check_template(&self.filepath, |name| match name {
            "epoch" => Some(Value::Int(1)),
            "batch" => per_batch.then_some(Value::Int(1)),
            _ => Some(Value::Float(0.0)),
        })?;
        // The directory, if the template does not name it by a field: one
        // that cannot be made is an error now, not at the first save.
        let static_dir = Path::new(&self.filepath).parent().filter(|d| !d.as_os_str().is_empty());
        // (`{{`/`}}` escape braces: a path with either waits for the save.)
        if let Some(dir) = static_dir.filter(|d| !d.to_string_lossy().contains(['{', '}'])) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        }
        if self.save_best_only {
            if let Some(threshold) = self.monitor.best.filter(|t| t.is_nan()) {
                // Never beaten: nothing would ever be saved.
                return Err(Error::InvalidArgument {
                    name: "initial_value_threshold",
                    reason: format!("ModelCheckpoint's initial_value_threshold must be a number, but is {threshold}"),
                });
            }
            self.monitor.resolve(ctx.model(), "ModelCheckpoint")?;
        }
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _: &mut CallbackContext<'_, N>) -> Result<()> {
        self.current_epoch = epoch;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        let SaveFreq::Batches(freq) = self.save_freq else { return Ok(()) };
        // Keras's `_should_save_on_batch`: a batch index not above the last one starts a new epoch.
        let added = match self.last_batch {
            Some(last) if batch > last => batch - last,
            _ => batch + 1,
        };
        self.batches_since_save += added;
        self.last_batch = Some(batch);
        if self.batches_since_save >= freq {
            self.batches_since_save = 0;
            self.save(self.current_epoch, Some(batch), logs, ctx)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        if self.save_best_only {
            self.monitor.resolve(ctx.model(), "ModelCheckpoint")?;
        }
        if self.save_freq == SaveFreq::Epoch {
            self.save(epoch, None, logs, ctx)?;
        }
        Ok(())
    }
}
