//! `fit(…).backup_and_restore(path, SaveFreq::Batches(k))` in one process
//! (the default build; tests/distributed.rs does it on 2 MPI ranks): a run
//! stopped mid-epoch and started again with the same call ends with the
//! weights and logs of an uninterrupted run, bit for bit.

use kiln::network::Network;
use kiln::prelude::*;
use kiln::train::SaveFreq;
use std::path::{Path, PathBuf};

kiln::model! {
    struct Net {
        input x: [f32; 4];
        let h = Dense(8, activation = tanh)(x);
        let p = Dense(3, activation = softmax)(h);
        output p;
    }
}

fn data() -> (Vec<[f32; 4]>, Vec<[f32; 1]>) {
    let x: Vec<[f32; 4]> = (0..50)
        .map(|i| {
            let t = i as f32;
            [(t * 0.37).sin(), (t * 0.11).cos(), (t * 0.05) - 1.0, ((i * 7) % 5) as f32 / 4.0]
        })
        .collect();
    let y = x.iter().map(|s| [((s[0] + s[1] > 0.0) as u8 + (s[3] > 0.5) as u8) as f32]).collect();
    (x, y)
}

fn model() -> Model<Net> {
    let mut model = Net::new(7).compile(Adam::new(0.02), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    model.set_shuffle_seed(11);
    model
}

fn bits(model: &Model<Net>) -> Vec<u32> {
    let mut all = Vec::new();
    model.network().params(&mut |p| all.extend(p.value.iter().map(|v| v.to_bits())));
    all
}

/// Fails the step `batch` of epoch `epoch`, as a crash would end the run.
struct Crash {
    at: (usize, usize),
    epoch: usize,
}

impl<N: Network> Callback<N> for Crash {
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        self.epoch = epoch;
        Ok(())
    }
    fn on_train_batch_begin(&mut self, batch: usize, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        if (self.epoch, batch) == self.at {
            return Err(kiln::Error::InvalidArgument { name: "crash", reason: "simulated".into() });
        }
        Ok(())
    }
}

fn temp(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("kiln-backup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// `(epoch, loss bits, accuracy bits, val_loss bits)` per logged epoch.
fn logs(h: &History) -> Vec<(usize, u32, u32, u32)> {
    let (l, a, v) = (h.get("loss").unwrap(), h.get("accuracy").unwrap(), h.get("val_loss").unwrap());
    h.epochs.iter().enumerate().map(|(i, &e)| (e, l[i].to_bits(), a[i].to_bits(), v[i].to_bits())).collect()
}

/// Runs `fit` (3 epochs, batch 7 over 40 training samples, 10 validating),
/// backing up to `path` every `every` steps, crashing at `crash`.
fn run(
    path: &Path,
    every: usize,
    steps: Option<usize>,
    crash: Option<(usize, usize)>,
) -> (Model<Net>, kiln::Result<History>) {
    let (x, y) = data();
    let mut model = model();
    let mut crash = crash.map(|at| Crash { at, epoch: 0 });
    let mut fit = model
        .fit(&x, &y)
        .batch_size(7)
        .epochs(3)
        .validation_split(0.2)
        .verbose(0)
        .backup_and_restore(path, SaveFreq::Batches(every));
    if let Some(steps) = steps {
        fit = fit.steps_per_epoch(steps);
    }
    if let Some(c) = crash.as_mut() {
        fit = fit.callback(c);
    }
    let history = fit.run();
    (model, history)
}

fn metadata(path: &Path) -> std::collections::BTreeMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    kiln::io::TensorFile::parse(&bytes, kiln::train::CHECKPOINT_FORMAT, kiln::train::CHECKPOINT_VERSION)
        .unwrap()
        .metadata
}

#[test]
fn a_run_stopped_mid_epoch_resumes_bit_for_bit() {
    // 40 training samples, batch 7: 6 steps per epoch (the last of 5).
    let whole_path = temp("whole");
    let (whole, history) = run(&whole_path, 4, None, None);
    let whole_logs = logs(&history.unwrap());
    assert_eq!(whole_logs.len(), 3);

    let path = temp("crash");
    // Backups after global steps 4 (epoch 0), 6 (epoch end), 8 = epoch 1
    // step 2; the crash before epoch 1's step 3 leaves that last one.
    let (_, crashed) = run(&path, 4, None, Some((1, 3)));
    assert!(crashed.is_err());
    let meta = metadata(&path);
    assert_eq!((meta["epoch"].as_str(), meta["fit_step"].as_str(), meta["fit_cursor"].as_str()), ("1", "2", "14"));

    // The same call again: resumes at epoch 1, step 2.
    let (resumed, history) = run(&path, 4, None, None);
    assert_eq!(bits(&resumed), bits(&whole), "resumed weights differ from the uninterrupted run's");
    assert_eq!(logs(&history.unwrap()), whole_logs[1..]);
    // Finished: the backup holds the end, and running again trains nothing.
    let (again, history) = run(&path, 4, None, None);
    assert_eq!(bits(&again), bits(&whole));
    assert!(history.unwrap().epochs.is_empty());
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&whole_path);
}

#[test]
fn steps_that_wrap_around_the_data_resume_mid_pass() {
    // steps_per_epoch 4 of 7 samples: passes of 6 steps straddle epochs, so
    // the epoch-end backup of epoch 0 is itself mid-pass (cursor 28).
    let whole_path = temp("wrap-whole");
    let (whole, history) = run(&whole_path, 3, Some(4), None);
    let whole_logs = logs(&history.unwrap());
    for crash in [(1, 1), (1, 2), (2, 1)] {
        let path = temp("wrap");
        let (_, crashed) = run(&path, 3, Some(4), Some(crash));
        assert!(crashed.is_err());
        let (resumed, history) = run(&path, 3, Some(4), None);
        assert_eq!(bits(&resumed), bits(&whole), "crash at {crash:?}");
        let resumed_logs = logs(&history.unwrap());
        assert_eq!(resumed_logs, whole_logs[crash.0..], "crash at {crash:?}");
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_file(&whole_path);
}

#[test]
fn a_backup_of_another_run_or_a_zero_frequency_is_an_error() {
    let path = temp("other");
    let (_, crashed) = run(&path, 4, None, Some((1, 3)));
    assert!(crashed.is_err());
    // The same file with another batch size: refused, naming both runs.
    let (x, y) = data();
    let mut model = model();
    let before = bits(&model);
    let err = model
        .fit(&x, &y)
        .batch_size(5)
        .epochs(3)
        .validation_split(0.2)
        .verbose(0)
        .backup_and_restore(&path, SaveFreq::Batches(4))
        .run()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("40 samples, batch_size 7, 6 steps per epoch")
            && text.contains("40 samples, batch_size 5, 8 steps per epoch"),
        "{text}"
    );
    assert_eq!(bits(&model), before, "a refused backup must leave the model unchanged");
    let err = model.fit(&x, &y).verbose(0).backup_and_restore(&path, SaveFreq::Batches(0)).run().unwrap_err();
    assert!(matches!(err, kiln::Error::InvalidArgument { name: "save_freq", .. }), "{err}");
    let _ = std::fs::remove_file(&path);
}
