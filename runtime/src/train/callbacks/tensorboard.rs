//! Keras's `TensorBoard` callback: event files TensorBoard reads.
//!
//! An event file is a sequence of records — the data's length (u64, little
//! endian), its masked CRC-32C, the data, the data's masked CRC-32C — each
//! holding a serialized `tensorflow.Event` protocol buffer. The few
//! messages needed (`Event`, `Summary`, `Summary.Value`, `SummaryMetadata`,
//! `TensorProto`) are encoded by hand below, field numbers from
//! `tensorflow/core/util/event.proto` and `tensorflow/core/framework/summary.proto`;
//! scalars are written as TF 2's `tf.summary.scalar` writes them (a float
//! tensor with the `scalars` plugin's metadata).

use super::{Callback, CallbackContext, Logs};
use crate::error::{Error, Result};
use crate::network::Network;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How often [`TensorBoard`] writes batch-level scalars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpdateFreq {
    /// Only per epoch (Keras's default `"epoch"`).
    #[default]
    Epoch,
    /// Also `batch_<name>` every that many batches, counted over the whole
    /// run (Keras's integer `update_freq`; `"batch"` is 1).
    Batches(usize),
}

/// Writes TensorBoard logs as Keras 3's `TensorBoard(log_dir)` does: the
/// training run in `log_dir/train`, the validation run in
/// `log_dir/validation`, each epoch's logs as scalars `epoch_<name>` at
/// step `epoch` (validation names without `val_`; the optimizer's
/// `epoch_learning_rate` in the training run), each evaluation's logs as
/// `evaluation_<name>_vs_iterations` at step `optimizer.iterations`, and
/// with [`UpdateFreq::Batches`] the running `batch_<name>` values. With
/// `histogram_freq(n)`, every `n` epochs each weight's histogram
/// (`<weight path>/histogram`, 30 buckets, as `tf.summary.histogram`
/// makes them) goes to the training run.
///
/// ```no_run
/// use kiln::train::TensorBoard;
/// let tensorboard = TensorBoard::new("logs/run1");
/// // then: tensorboard --logdir logs
/// ```
#[derive(Debug)]
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: UpdateFreq,
    histogram_freq: usize,
    train: Option<EventWriter>,
    validation: Option<EventWriter>,
    global_train_batch: u64,
}

impl TensorBoard {
    /// Logs under `log_dir` (Keras's default is `"logs"`).
    pub fn new(log_dir: impl AsRef<Path>) -> Self {
        TensorBoard {
            log_dir: log_dir.as_ref().to_path_buf(),
            update_freq: UpdateFreq::Epoch,
            histogram_freq: 0,
            train: None,
            validation: None,
            global_train_batch: 0,
        }
    }

    /// Per epoch (default) or every `n` batches too.
    pub fn update_freq(mut self, freq: UpdateFreq) -> Self {
        self.update_freq = freq;
        self
    }

    /// Weight histograms every `epochs` epochs (0, the default: none).
    pub fn histogram_freq(mut self, epochs: usize) -> Self {
        self.histogram_freq = epochs;
        self
    }

    /// The training run's event file, once written.
    pub fn train_file(&self) -> Option<&Path> {
        self.train.as_ref().map(|w| w.path.as_path())
    }

    /// The validation run's event file, once written.
    pub fn validation_file(&self) -> Option<&Path> {
        self.validation.as_ref().map(|w| w.path.as_path())
    }

    fn writer(slot: &mut Option<EventWriter>, dir: PathBuf) -> Result<&mut EventWriter> {
        if slot.is_none() {
            *slot = Some(EventWriter::create(&dir)?);
        }
        Ok(slot.as_mut().expect("just created"))
    }
}

impl<N: Network> Callback<N> for TensorBoard {
    fn on_train_begin(&mut self, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if self.update_freq == UpdateFreq::Batches(0) {
            return Err(Error::InvalidArgument {
                name: "update_freq",
                reason: "must be at least 1 batch, but is 0".into(),
            });
        }
        self.global_train_batch = 0;
        // The training run's writer now (Keras opens it when training
        // begins too): a log directory that cannot be made is an error
        // before the first step. A later `fit` keeps writing the same file.
        Self::writer(&mut self.train, self.log_dir.join("train"))?;
        Ok(())
    }

    fn on_train_batch_begin(&mut self, _: usize, _: &mut CallbackContext<'_, N>) -> Result<()> {
        self.global_train_batch += 1;
        Ok(())
    }

    fn on_train_batch_end(&mut self, _: usize, logs: &Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        let UpdateFreq::Batches(freq) = self.update_freq else { return Ok(()) };
        if !self.global_train_batch.is_multiple_of(freq as u64) {
            return Ok(());
        }
        let step = self.global_train_batch as i64;
        let writer = Self::writer(&mut self.train, self.log_dir.join("train"))?;
        for (name, value) in logs.iter() {
            writer.scalar(&format!("batch_{name}"), value, step)?;
        }
        Ok(())
    }

    fn on_test_end(&mut self, logs: &Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        let step = ctx.optimizer().iterations() as i64;
        let writer = Self::writer(&mut self.validation, self.log_dir.join("validation"))?;
        for (name, value) in logs.iter() {
            writer.scalar(&format!("evaluation_{name}_vs_iterations"), value, step)?;
        }
        writer.flush()
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        let step = epoch as i64;
        if logs.iter().next().is_none() {
            return Ok(());
        }
        let learning_rate = ctx.learning_rate();
        let writer = Self::writer(&mut self.train, self.log_dir.join("train"))?;
        for (name, value) in logs.iter().filter(|(n, _)| !n.starts_with("val_")) {
            if name != "learning_rate" {
                writer.scalar(&format!("epoch_{name}"), value, step)?;
            }
        }
        // Keras sets `learning_rate` from the optimizer (after any logged one).
        writer.scalar("epoch_learning_rate", learning_rate, step)?;
        if self.histogram_freq > 0 && epoch.is_multiple_of(self.histogram_freq) {
            let paths = ctx.network().param_paths();
            let mut values = Vec::new();
            ctx.network().params(&mut |p| values.push(p.value.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()));
            for (path, data) in paths.iter().zip(&values) {
                writer.histogram(&format!("{}/histogram", path.replace(':', "_")), data, step)?;
            }
        }
        writer.flush()?;
        if logs.iter().any(|(n, _)| n.starts_with("val_")) {
            let writer = Self::writer(&mut self.validation, self.log_dir.join("validation"))?;
            for (name, value) in logs.iter() {
                if let Some(name) = name.strip_prefix("val_") {
                    writer.scalar(&format!("epoch_{name}"), value, step)?;
                }
            }
            writer.flush()?;
        }
        Ok(())
    }

    fn on_train_end(&mut self, _: &Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        for writer in [&mut self.train, &mut self.validation].into_iter().flatten() {
            writer.flush()?;
        }
        Ok(())
    }
}

/// One event file, appended record by record.
#[derive(Debug)]
struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventWriter {
    /// `dir/events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2`, starting with
    /// the `brain.Event:2` version event, as TF 2 names and starts its files.
    fn create(dir: &Path) -> Result<Self> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let name = format!(
            "events.out.tfevents.{seconds}.{host}.{}.{}.v2",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let mut writer = EventWriter { path, file: BufWriter::new(file) };
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time());
        put_bytes(&mut event, 3, b"brain.Event:2");
        writer.record(&event)?;
        writer.flush()?;
        Ok(writer)
    }

    /// One scalar, as `tf.summary.scalar` writes it.
    fn scalar(&mut self, tag: &str, value: f32, step: i64) -> Result<()> {
        let mut plugin_data = Vec::new();
        put_bytes(&mut plugin_data, 1, b"scalars");
        let mut metadata = Vec::new();
        put_bytes(&mut metadata, 1, &plugin_data);
        put_varint_field(&mut metadata, 4, 1); // DATA_CLASS_SCALAR
        let mut tensor = Vec::new();
        put_varint_field(&mut tensor, 1, 1); // DT_FLOAT
        put_bytes(&mut tensor, 2, &[]); // shape [] (a scalar)
        put_bytes(&mut tensor, 5, &value.to_le_bytes()); // float_val, packed
        let mut summary_value = Vec::new();
        put_bytes(&mut summary_value, 1, tag.as_bytes());
        put_bytes(&mut summary_value, 8, &tensor);
        put_bytes(&mut summary_value, 9, &metadata);
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, &summary_value);
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time());
        put_varint_field(&mut event, 2, step as u64);
        put_bytes(&mut event, 5, &summary);
        self.record(&event)
    }

    /// A histogram of `data`, as `tf.summary.histogram` writes it: a
    /// `[30, 3]` float64 tensor of `(left edge, right edge, count)`.
    fn histogram(&mut self, tag: &str, data: &[f64], step: i64) -> Result<()> {
        let buckets = buckets(data, HISTOGRAM_BUCKETS);
        let mut plugin_data = Vec::new();
        put_bytes(&mut plugin_data, 1, b"histograms");
        let mut metadata = Vec::new();
        put_bytes(&mut metadata, 1, &plugin_data);
        put_varint_field(&mut metadata, 4, 2); // DATA_CLASS_TENSOR
        let mut shape = Vec::new();
        for size in [buckets.len() as u64, 3] {
            let mut dim = Vec::new();
            put_varint_field(&mut dim, 1, size);
            put_bytes(&mut shape, 2, &dim);
        }
        let content: Vec<u8> = buckets.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        let mut tensor = Vec::new();
        put_varint_field(&mut tensor, 1, 2); // DT_DOUBLE
        put_bytes(&mut tensor, 2, &shape);
        put_bytes(&mut tensor, 4, &content); // tensor_content
        let mut summary_value = Vec::new();
        put_bytes(&mut summary_value, 1, tag.as_bytes());
        put_bytes(&mut summary_value, 8, &tensor);
        put_bytes(&mut summary_value, 9, &metadata);
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, &summary_value);
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time());
        put_varint_field(&mut event, 2, step as u64);
        put_bytes(&mut event, 5, &summary);
        self.record(&event)
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let length = (data.len() as u64).to_le_bytes();
        let mut bytes = Vec::with_capacity(data.len() + 16);
        bytes.extend_from_slice(&length);
        bytes.extend_from_slice(&masked_crc(&length).to_le_bytes());
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(&masked_crc(data).to_le_bytes());
        self.file.write_all(&bytes).map_err(|source| Error::Io { path: self.path.clone(), source })
    }

    fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|source| Error::Io { path: self.path.clone(), source })
    }
}

/// `tf.summary.histogram`'s default bucket count.
const HISTOGRAM_BUCKETS: usize = 30;

/// TensorBoard's `summary_v2._buckets`: `k` equal-width buckets from the
/// minimum to the maximum (edges by TF's `linspace`, the last edge the
/// maximum, a value's bucket `floor((x − min) / width)` clamped to the
/// last); a single distinct value puts every count in the last bucket.
fn buckets(data: &[f64], k: usize) -> Vec<[f64; 3]> {
    if data.is_empty() {
        return vec![[0.0; 3]; k];
    }
    let min = data.iter().copied().fold(f64::INFINITY, f64::min);
    let max = data.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = max - min;
    if range == 0.0 {
        let mut rows = vec![[max, max, 0.0]; k];
        if let Some(last) = rows.last_mut() {
            last[2] = data.len() as f64;
        }
        return rows;
    }
    let width = range / k as f64;
    let mut counts = vec![0.0; k];
    for &x in data {
        let index = ((x - min) / width).floor() as usize;
        counts[index.min(k - 1)] += 1.0;
    }
    // TF's LinSpace: start + i · (stop − start) / (num − 1).
    let step = range / k as f64;
    let edges: Vec<f64> = (0..=k).map(|i| if i == k { max } else { min + step * i as f64 }).collect();
    (0..k).map(|i| [edges[i], edges[i + 1], counts[i]]).collect()
}

fn wall_time() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// CRC-32C (Castagnoli), the checksum TFRecord framing uses.
const CRC_32C: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// TFRecord's masked CRC-32C.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = CRC_32C.checksum(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

fn put_double(out: &mut Vec<u8>, field: u64, v: f64) {
    put_varint(out, (field << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from TensorBoard's own `masked_crc32c` (Python); the
    /// CRC-32C of "123456789" is the standard check value 0xE3069283.
    #[test]
    fn records_are_framed_as_tfrecords() {
        assert_eq!(CRC_32C.checksum(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc(&[0; 8]), 0x0798_0329);
        let mut v = Vec::new();
        put_varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
    }
}
