//! Whole-model checkpoints: weights, optimizer state, epoch, shuffling
//! state, the stochastic layers' generator and architecture in one file,
//! for an exact resume.

use super::{Model, SaveFreq};
use crate::error::{Error, Result};
use crate::io::{write_atomically, FileProblem, TensorFile};
use crate::metrics::{Mean, MetricState};
use crate::network::Network;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// The `format` metadata of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "kiln.checkpoint";
/// The checkpoint format version this build writes and reads.
pub const CHECKPOINT_VERSION: &str = "1";

/// The summary's layer table, one line per layer, to compare architectures.
fn architecture<N: Network>(network: &N) -> Vec<String> {
    network
        .summary()
        .rows
        .iter()
        .map(|r| format!("{} ({}) {} {}/{}", r.name, r.kind, r.output_shape, r.trainable, r.non_trainable))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hexadecimal digits only: `from_str_radix` alone also takes a leading
/// `+`, which `hex` never writes.
fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 || !is_hex(text) {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl<N: Network> Model<N> {
    /// Saves the whole training state to `path` (atomically): weights,
    /// the optimizer's name, step count, learning rate and slots, the
    /// epochs trained, the shuffling generator, and the architecture.
    /// [`Model::load`] into a model of the same type resumes exactly:
    /// `fit(…).initial_epoch(model.epoch())` then gives the losses and
    /// weights an uninterrupted run would have given.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.checkpoint_bytes().map_err(|problem| Error::File { path: path.to_path_buf(), problem })?;
        write_atomically(path, |w| w.write_all(&bytes))
    }

    /// Restores a checkpoint written by [`Model::save`]. The file's
    /// architecture must match the model's (the error names the first
    /// differing layer) and its optimizer be of the same kind; on any
    /// problem the model is unchanged.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::read_file(path.as_ref(), |bytes| self.load_checkpoint_bytes(bytes))
    }

    /// Epochs trained so far (Keras's `initial_epoch` for a resumed `fit`).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The checkpoint's bytes.
    pub fn checkpoint_bytes(&self) -> Result<Vec<u8>, FileProblem> {
        self.checkpoint_file().to_bytes()
    }

    /// The checkpoint as a file in memory, before encoding.
    fn checkpoint_file(&self) -> TensorFile {
        let mut file = TensorFile::new(CHECKPOINT_FORMAT, CHECKPOINT_VERSION);
        crate::io::weights::add_weights(&self.network, &mut file);
        let paths = self.network.param_paths();
        for (path, slots) in paths.iter().zip(self.optimizer.slots()) {
            for (k, slot) in slots.iter().enumerate() {
                file.tensors.insert(format!("optimizer/{path}/{k}"), (vec![slot.len()], slot.clone()));
            }
        }
        let meta = &mut file.metadata;
        meta.insert("architecture".into(), architecture(&self.network).join("\n"));
        meta.insert("optimizer".into(), self.optimizer.name().into());
        meta.insert("iterations".into(), self.optimizer.iterations().to_string());
        // Bits, so the learning rate comes back exactly.
        meta.insert("learning_rate_bits".into(), self.optimizer.learning_rate().to_bits().to_string());
        meta.insert("epoch".into(), self.epoch.to_string());
        meta.insert("shuffle_seed".into(), hex(&self.rng.get_seed()));
        meta.insert("shuffle_stream".into(), self.rng.get_stream().to_string());
        meta.insert("shuffle_word_pos".into(), self.rng.get_word_pos().to_string());
        // The stochastic layers' generator, once a workspace holds one (a
        // model that never ran has the generator's initial state).
        if let Some(rng) = self.workspace.as_ref().and_then(|w| N::ctx(w)).map(|ctx| &ctx.rng) {
            meta.insert("layers_rng_seed".into(), hex(&rng.get_seed()));
            meta.insert("layers_rng_stream".into(), rng.get_stream().to_string());
            meta.insert("layers_rng_word_pos".into(), rng.get_word_pos().to_string());
        }
        file
    }

    /// Restores the state in `bytes`; on any problem the model is unchanged.
    pub fn load_checkpoint_bytes(&mut self, bytes: &[u8]) -> Result<(), FileProblem> {
        self.load_checkpoint_file(TensorFile::parse(bytes, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)?)
    }

    /// [`Model::load_checkpoint_bytes`] of a parsed file.
    fn load_checkpoint_file(&mut self, mut file: TensorFile) -> Result<(), FileProblem> {
        let expected = architecture(&self.network);
        let found: Vec<String> = file.meta("architecture")?.lines().map(str::to_string).collect();
        if let Some(index) = (0..expected.len().max(found.len())).find(|&i| expected.get(i) != found.get(i)) {
            let row = |rows: &[String]| rows.get(index).cloned().unwrap_or_else(|| "no layer".into());
            return Err(FileProblem::Architecture { index, expected: row(&expected), found: row(&found) });
        }
        let optimizer = file.meta("optimizer")?;
        if optimizer != self.optimizer.name() {
            return Err(FileProblem::Optimizer { expected: self.optimizer.name().into(), found: optimizer.into() });
        }
        // Keras's `iterations` is an int64; a larger count would overflow
        // the next step's increment.
        let iterations: u64 = file.meta_parsed("iterations")?;
        if iterations > i64::MAX as u64 {
            return Err(FileProblem::Metadata { key: "iterations", found: Some(iterations.to_string()) });
        }
        let learning_rate_bits: u32 = file.meta_parsed("learning_rate_bits")?;
        let learning_rate = f32::from_bits(learning_rate_bits);
        if !(learning_rate.is_finite() && learning_rate >= 0.0) {
            let found = Some(learning_rate_bits.to_string());
            return Err(FileProblem::Metadata { key: "learning_rate_bits", found });
        }
        let epoch: usize = file.meta_parsed("epoch")?;
        let seed = file.meta("shuffle_seed")?;
        let seed = unhex(seed).ok_or(FileProblem::Metadata { key: "shuffle_seed", found: Some(seed.into()) })?;
        let stream: u64 = file.meta_parsed("shuffle_stream")?;
        let word_pos: u128 = file.meta_parsed("shuffle_word_pos")?;
        let layers_rng = match file.metadata.get("layers_rng_seed") {
            None => None,
            Some(seed) => {
                let seed =
                    unhex(seed).ok_or(FileProblem::Metadata { key: "layers_rng_seed", found: Some(seed.clone()) })?;
                let mut rng = ChaCha8Rng::from_seed(seed);
                rng.set_stream(file.meta_parsed("layers_rng_stream")?);
                rng.set_word_pos(file.meta_parsed("layers_rng_word_pos")?);
                Some(rng)
            }
        };

        let weights = crate::io::weights::take_weights(&self.network, &mut file)?;
        let mut slots = Vec::new();
        for (path, values) in self.network.param_paths().iter().zip(&weights) {
            let mut param_slots = Vec::new();
            while file.tensors.contains_key(&format!("optimizer/{path}/{}", param_slots.len())) {
                let name = format!("optimizer/{path}/{}", param_slots.len());
                param_slots.push(file.take(&name, &[values.len()])?);
            }
            // No slots: a parameter not updated yet (e.g. frozen).
            let found = param_slots.len();
            if let Some(expected) = self.optimizer.slots_per_param().filter(|&n| found != 0 && n != found) {
                return Err(FileProblem::OptimizerSlots { parameter: path.clone(), expected, found });
            }
            slots.push(param_slots);
        }
        // Trailing parameters without slots (never updated) need no entry.
        while slots.last().is_some_and(Vec::is_empty) {
            slots.pop();
        }
        file.expect_no_more()?;

        crate::io::weights::set_weights(&mut self.network, weights);
        self.optimizer.restore(iterations, slots);
        self.optimizer.set_learning_rate(learning_rate);
        self.epoch = epoch;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(stream);
        rng.set_word_pos(word_pos);
        self.rng = rng;
        match layers_rng {
            // Into the workspace (a small one if none is built yet: a
            // larger one, when needed, continues its generator).
            Some(layers_rng) => {
                let ws = self.workspace.get_or_insert_with(|| self.network.workspace(1));
                if let Some(ctx) = N::ctx_mut(ws) {
                    ctx.rng = layers_rng;
                }
            }
            // Saved before any step: the generator's initial state, which a
            // new workspace has.
            None => self.workspace = None,
        }
        Ok(())
    }
}

/// Where a `fit` stands inside an epoch, kept in the checkpoints that
/// [`crate::train::Fit::backup_and_restore`] writes so that a restart
/// continues exactly (the metadata keys `fit_*`; [`Model::load`] ignores them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Position {
    /// Steps of epoch `Model::epoch` already trained.
    pub step: usize,
    /// The next sample of the shuffled order (steps may wrap around the data).
    pub cursor: usize,
    /// The shuffling generator's word position before the current pass
    /// was shuffled: replaying that shuffle gives back the pass's order.
    pub pass_start: u128,
}

/// What a resumed `fit` continues from.
pub(super) struct Resume {
    /// The epoch to continue (Keras's `initial_epoch`).
    pub epoch: usize,
    /// The first step to train in that epoch.
    pub step: usize,
    /// As [`Position::cursor`].
    pub cursor: usize,
    /// As [`Position::pass_start`].
    pub pass_start: u128,
}

/// `fit`'s backup-and-restore: Keras's `BackupAndRestore`, with kiln's
/// whole-model checkpoints and the exact position inside an epoch.
pub(super) struct Backup {
    path: PathBuf,
    save_freq: SaveFreq,
}

/// The shape of the run a checkpoint belongs to: resuming a different one
/// would silently train on other batches.
fn run_shape(samples: usize, batch_size: usize, steps: usize, shuffle: bool) -> String {
    format!("{samples} samples, batch_size {batch_size}, {steps} steps per epoch, shuffle {shuffle}")
}

impl Backup {
    pub(super) fn new(path: PathBuf, save_freq: SaveFreq) -> Self {
        Backup { path, save_freq }
    }

    fn distributed_error(rank: usize, reason: String) -> Error {
        Error::Distributed { rank, reason }
    }

    /// Loads the backup if there is one (rank 0 reads it and hands it to
    /// every rank), restoring the model, its running metrics and `order`.
    /// `None`: no backup yet, the run starts from the beginning.
    pub(super) fn restore<N: Network>(
        &self,
        model: &mut Model<N>,
        shape: (usize, usize, usize, bool),
        order: &mut [usize],
    ) -> Result<Option<Resume>> {
        if self.save_freq == SaveFreq::Batches(0) {
            return Err(Error::InvalidArgument {
                name: "save_freq",
                reason: "must be SaveFreq::Epoch or SaveFreq::Batches(k) with k ≥ 1, but is Batches(0)".into(),
            });
        }
        let path = &self.path;
        let file_error = |problem| Error::File { path: path.clone(), problem };
        // Tag byte: 0 no backup, 1 a backup follows, 2 rank 0's error follows.
        let read = |message: &mut Vec<u8>| match std::fs::read(path) {
            Ok(bytes) => {
                message.push(1);
                message.extend_from_slice(&bytes);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                message.push(0);
                Ok(())
            }
            Err(source) => {
                message.push(2);
                message.extend_from_slice(source.to_string().as_bytes());
                Err(Error::Io { path: path.clone(), source })
            }
        };
        let mut message = Vec::new();
        let (rank, _) = model.replica();
        match model.collective.as_mut() {
            None => read(&mut message)?,
            Some(collective) => {
                let own = if rank == 0 { read(&mut message) } else { Ok(()) };
                collective.broadcast_bytes(&mut message)?;
                own?;
            }
        }
        match message.first() {
            Some(1) => {}
            Some(2) => {
                let reason = format!(
                    "rank 0 cannot read the backup {}: {}",
                    path.display(),
                    String::from_utf8_lossy(&message[1..])
                );
                return Err(Self::distributed_error(rank, reason));
            }
            _ => return Ok(None),
        }
        let file = TensorFile::parse(&message[1..], CHECKPOINT_FORMAT, CHECKPOINT_VERSION).map_err(file_error)?;
        let (samples, batch_size, steps, shuffle) = shape;
        let expected = run_shape(samples, batch_size, steps, shuffle);
        let position = match file.metadata.get("fit_run") {
            None => Position { step: 0, cursor: 0, pass_start: 0 },
            Some(found) if *found != expected => {
                return Err(Error::InvalidArgument {
                    name: "backup_and_restore",
                    reason: format!(
                        "{} was written by a fit over {found}; this fit is over {expected}: \
                         remove the file to start afresh",
                        path.display()
                    ),
                })
            }
            Some(_) => Position {
                step: file.meta_parsed("fit_step").map_err(file_error)?,
                cursor: file.meta_parsed("fit_cursor").map_err(file_error)?,
                pass_start: file.meta_parsed("fit_pass_start").map_err(file_error)?,
            },
        };
        if position.step > steps || position.cursor >= samples.max(1) {
            let found = Some(format!("step {}, cursor {}", position.step, position.cursor));
            return Err(file_error(FileProblem::Metadata { key: "fit_step", found }));
        }
        let running = match file.metadata.get("fit_running") {
            Some(text) => Some(parse_running(text, running_len(model)).map_err(file_error)?),
            None => None,
        };
        model.load_checkpoint_file(file).map_err(file_error)?;
        if position.cursor > 0 && shuffle {
            // The pass in progress: shuffle again from where it was
            // shuffled (exactly fit's shuffle), then put the generator back
            // where the checkpoint left it.
            let now = model.rng.get_word_pos();
            model.rng.set_word_pos(position.pass_start);
            order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
            order.shuffle(&mut model.rng);
            model.rng.set_word_pos(now);
        }
        // Mid-epoch, the epoch's running loss and metrics go on from the
        // saved sums, so the resumed epoch logs what the whole one would.
        if let Some(parts) = running {
            model.reset_metrics();
            for (mean, (total, weight)) in running_means(model).zip(parts) {
                mean.add_parts(total, weight);
            }
        }
        Ok(Some(Resume {
            epoch: model.epoch,
            step: position.step,
            cursor: position.cursor,
            pass_start: position.pass_start,
        }))
    }

    /// After step `step` (one-based, of `steps`) of epoch `epoch`: writes
    /// a backup when the global step count is a multiple of `save_freq`'s
    /// `k` (counting from the run's start, so a resumed run writes where
    /// the whole one would). The last step of an epoch is left to
    /// [`Backup::after_epoch`].
    pub(super) fn after_step<N: Network>(
        &self,
        model: &mut Model<N>,
        (epoch, step, steps): (usize, usize, usize),
        position: (usize, u128),
        shape: (usize, usize, usize, bool),
    ) -> Result<()> {
        match self.save_freq {
            SaveFreq::Batches(k) if k > 0 && step < steps && (epoch * steps + step) % k == 0 => {
                let (cursor, pass_start) = position;
                self.save(model, Position { step, cursor, pass_start }, shape, true)
            }
            _ => Ok(()),
        }
    }

    /// After an epoch (`Model::epoch` already counts it): writes a backup.
    pub(super) fn after_epoch<N: Network>(
        &self,
        model: &mut Model<N>,
        position: (usize, u128),
        shape: (usize, usize, usize, bool),
    ) -> Result<()> {
        let (cursor, pass_start) = position;
        self.save(model, Position { step: 0, cursor, pass_start }, shape, false)
    }

    /// Rank 0 writes the checkpoint atomically; then every rank learns
    /// whether it succeeded (one 1-value all-reduce), so all fail together
    /// and no rank runs ahead of a backup that is not yet on disk.
    fn save<N: Network>(
        &self,
        model: &mut Model<N>,
        position: Position,
        shape: (usize, usize, usize, bool),
        running: bool,
    ) -> Result<()> {
        let (rank, _) = model.replica();
        let written = if rank == 0 {
            let mut file = model.checkpoint_file();
            let (samples, batch_size, steps, shuffle) = shape;
            let meta = &mut file.metadata;
            meta.insert("fit_run".into(), run_shape(samples, batch_size, steps, shuffle));
            meta.insert("fit_step".into(), position.step.to_string());
            meta.insert("fit_cursor".into(), position.cursor.to_string());
            meta.insert("fit_pass_start".into(), position.pass_start.to_string());
            if running {
                let parts: Vec<String> = running_means(model)
                    .map(|m| m.parts())
                    .flat_map(|(t, w)| [t, w])
                    .map(|v| format!("{:016x}", v.to_bits()))
                    .collect();
                file.metadata.insert("fit_running".into(), parts.join(" "));
            }
            let path = &self.path;
            file.to_bytes()
                .map_err(|problem| Error::File { path: path.clone(), problem })
                .and_then(|bytes| write_atomically(path, |w| w.write_all(&bytes)))
        } else {
            Ok(())
        };
        if let Some(collective) = model.collective.as_mut() {
            let mut failed = [if written.is_err() { 1.0f32 } else { 0.0 }];
            collective.all_reduce_sum(&mut failed)?;
            if failed[0] > 0.0 && rank != 0 {
                let reason = format!("rank 0 could not write the backup {}", self.path.display());
                return Err(Self::distributed_error(rank, reason));
            }
        }
        written
    }
}

/// The running means a mid-epoch backup keeps: the loss, each output's
/// loss, each metric.
fn running_means<N: Network>(model: &mut Model<N>) -> impl Iterator<Item = &mut Mean> {
    let metrics = model.metrics.iter_mut().flatten().map(MetricState::mean_mut);
    std::iter::once(&mut model.loss_mean).chain(model.output_loss.iter_mut()).chain(metrics)
}

fn running_len<N: Network>(model: &Model<N>) -> usize {
    1 + model.output_loss.len() + model.metrics.iter().map(Vec::len).sum::<usize>()
}

/// `fit_running`: `2·means` hexadecimal `f64` bit patterns.
fn parse_running(text: &str, means: usize) -> Result<Vec<(f64, f64)>, FileProblem> {
    let bad = || FileProblem::Metadata { key: "fit_running", found: Some(text.into()) };
    let values: Vec<f64> = text
        .split(' ')
        .map(|v| if is_hex(v) { u64::from_str_radix(v, 16).ok().map(f64::from_bits) } else { None })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if values.len() != 2 * means {
        return Err(bad());
    }
    Ok(values.chunks_exact(2).map(|p| (p[0], p[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Old code: `from_str_radix` read `+1` as 1, a spelling `hex` never writes.
    #[test]
    fn hexadecimal_entries_take_digits_only() {
        let one = 1.0f64.to_bits();
        assert_eq!(parse_running(&format!("{one:x} 0"), 1), Ok(vec![(1.0, 0.0)]));
        for text in [format!("+{one:x} 0"), format!("{one:x} +0"), format!("{one:x} "), format!("{one:x} 0 0")] {
            assert_eq!(parse_running(&text, 1), Err(FileProblem::Metadata { key: "fit_running", found: Some(text) }));
        }
        assert_eq!(unhex(&"0a".repeat(32)), Some([10; 32]));
        assert_eq!(unhex(&format!("+a{}", "0a".repeat(31))), None);
        assert_eq!(unhex(&"0a".repeat(31)), None);
    }
}
