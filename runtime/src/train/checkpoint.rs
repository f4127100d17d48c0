//! Whole-model checkpoints: weights, optimizer state, epoch, shuffling
//! state and architecture in one file, for an exact resume.

use super::Model;
use crate::error::{Error, Result};
use crate::io::{write_atomically, FileProblem, TensorFile};
use crate::network::Network;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

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

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
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
        file.to_bytes()
    }

    /// Restores the state in `bytes`; on any problem the model is unchanged.
    pub fn load_checkpoint_bytes(&mut self, bytes: &[u8]) -> Result<(), FileProblem> {
        let mut file = TensorFile::parse(bytes, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)?;
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
        let iterations: u64 = file.meta_parsed("iterations")?;
        let learning_rate = f32::from_bits(file.meta_parsed("learning_rate_bits")?);
        let epoch: usize = file.meta_parsed("epoch")?;
        let seed = file.meta("shuffle_seed")?;
        let seed = unhex(seed).ok_or(FileProblem::Metadata { key: "shuffle_seed", found: Some(seed.into()) })?;
        let stream: u64 = file.meta_parsed("shuffle_stream")?;
        let word_pos: u128 = file.meta_parsed("shuffle_word_pos")?;

        let weights = crate::io::weights::take_weights(&self.network, &mut file)?;
        let mut slots = Vec::new();
        for (path, values) in self.network.param_paths().iter().zip(&weights) {
            let mut param_slots = Vec::new();
            while file.tensors.contains_key(&format!("optimizer/{path}/{}", param_slots.len())) {
                let name = format!("optimizer/{path}/{}", param_slots.len());
                param_slots.push(file.take(&name, &[values.len()])?);
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
        Ok(())
    }
}
