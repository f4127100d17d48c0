//! `fit`'s Keras arguments, callbacks and failure modes.

use kiln::prelude::*;

kiln::model! {
    struct Logistic {
        input x: [f32; 2];
        let p = Dense(1, activation = sigmoid)(x);
        output p;
    }
}

fn data(n: usize) -> (Vec<[f32; 2]>, Vec<[f32; 1]>) {
    let x: Vec<[f32; 2]> =
        (0..n).map(|i| [((i * 7) % 10) as f32 / 5.0 - 1.0, ((i * 3) % 10) as f32 / 5.0 - 1.0]).collect();
    let y = x.iter().map(|v| [f32::from(u8::from(v[0] + v[1] > 0.0))]).collect();
    (x, y)
}

fn model() -> Model<Logistic> {
    Logistic::new(0).compile(Sgd::new(0.5), BinaryCrossentropy, &[Metric::Accuracy])
}

#[test]
fn validation_split_holds_out_the_last_samples_and_logs_val_metrics() {
    let (x, y) = data(50);
    let mut m = model();
    let history = m.fit(&x, &y).epochs(2).batch_size(10).validation_split(0.2).verbose(0).run().unwrap();
    let keys: Vec<&str> = history.keys().collect();
    assert_eq!(keys, ["loss", "accuracy", "val_loss", "val_accuracy"]);
    // The validation loss is the loss on the last 10 samples after the epoch.
    let expected = m.evaluate(&x[40..], &y[40..], 10).unwrap().get("loss").unwrap();
    assert!((history.get("val_loss").unwrap()[1] - expected).abs() < 1e-6);
}

#[test]
fn epochs_initial_epoch_and_steps_per_epoch() {
    let (x, y) = data(20);
    let mut m = model();
    let history = m.fit(&x, &y).epochs(5).initial_epoch(3).steps_per_epoch(7).batch_size(4).verbose(0).run().unwrap();
    assert_eq!(history.epochs, [3, 4]);
    assert_eq!(m.optimizer().iterations(), 14, "7 steps per epoch, epochs wrapping around the data");
}

#[test]
fn sample_and_class_weights_scale_the_loss() {
    let (x, y) = data(8);
    // One untrained step's reported loss is the weighted mean of the per-sample losses.
    let plain = model().fit(&x, &y).epochs(1).batch_size(8).shuffle(false).verbose(0).run().unwrap();
    let doubled = model().fit(&x, &y).epochs(1).batch_size(8).sample_weight(&[2.0; 8]).verbose(0).run().unwrap();
    let (a, b) = (plain.get("loss").unwrap()[0], doubled.get("loss").unwrap()[0]);
    assert!((b - 2.0 * a).abs() < 1e-5, "{a} {b}");
    let classes = model().fit(&x, &y).epochs(1).batch_size(8).class_weight(&[0.0, 0.0]).verbose(0).run().unwrap();
    assert_eq!(classes.get("loss").unwrap()[0], 0.0);
    let err = model().fit(&x, &y).class_weight(&[1.0]).run().unwrap_err();
    assert!(err.to_string().contains("has weights for classes 0..1, but sample 2 is of class 1"), "{err}");
}

/// Records the hooks it sees and stops after the second epoch.
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
}

impl<N: Network> Callback<N> for Recorder {
    fn on_train_begin(&mut self, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        self.events.push("train_begin".into());
        Ok(())
    }
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        self.events.push(format!("epoch_begin {epoch}"));
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        assert!(logs.get("loss").is_some_and(f32::is_finite));
        self.events.push(format!("batch_end {batch}"));
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        assert!(logs.get("loss").is_some());
        self.events.push(format!("epoch_end {epoch}"));
        ctx.set_learning_rate(ctx.learning_rate() / 2.0)?;
        ctx.set_stop_training(epoch == 1);
        Ok(())
    }
    fn on_train_end(&mut self, _: &Logs, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        self.events.push("train_end".into());
        Ok(())
    }
}

#[test]
fn callbacks_see_every_hook_change_the_learning_rate_and_stop_training() {
    let (x, y) = data(8);
    let mut m = model();
    let mut recorder = Recorder::default();
    let history = m.fit(&x, &y).epochs(10).batch_size(4).callback(&mut recorder).verbose(0).run().unwrap();
    assert_eq!(history.epochs, [0, 1]);
    assert_eq!(
        recorder.events,
        [
            "train_begin",
            "epoch_begin 0",
            "batch_end 0",
            "batch_end 1",
            "epoch_end 0",
            "epoch_begin 1",
            "batch_end 0",
            "batch_end 1",
            "epoch_end 1",
            "train_end"
        ]
    );
    assert_eq!(m.optimizer().learning_rate(), 0.125);
}

#[test]
fn a_nan_input_is_an_error_before_any_step() {
    let (mut x, y) = data(8);
    let mut m = model();
    m.fit(&x, &y).epochs(1).batch_size(8).verbose(0).run().unwrap();
    let mut before = Vec::new();
    m.network().params(&mut |p| before.extend_from_slice(&p.value));
    x[3][0] = f32::NAN;
    let err = m.fit(&x, &y).epochs(3).batch_size(8).verbose(0).run().unwrap_err();
    // Old code: `NonFiniteLoss` after the forward pass; now the input is rejected up front.
    assert_eq!(err.to_string(), "`x` holds NaN at sample 3, feature 0, but every value must be finite");
    let mut after = Vec::new();
    m.network().params(&mut |p| after.extend_from_slice(&p.value));
    assert_eq!(before, after, "the failed step must not touch the weights");
}

#[test]
fn bad_arguments_are_errors() {
    let (x, y) = data(8);
    let mut m = model();
    assert!(matches!(m.fit(&x, &y[..4]).run(), Err(kiln::Error::SampleCountMismatch { inputs: 8, targets: 4 })));
    assert!(matches!(m.fit(&x, &y).batch_size(0).run(), Err(kiln::Error::InvalidArgument { name: "batch_size", .. })));
    assert!(matches!(m.fit(&x, &y).validation_split(1.0).run(), Err(kiln::Error::InvalidArgument { .. })));
    let labels = [[0.0f32, 1.0]; 8];
    let err = m.fit(&x, &labels).run().unwrap_err();
    assert_eq!(err.to_string(), "binary_crossentropy needs targets of 1 value(s) per sample, but they have 2");
    assert!(m.predict(&x[..0], 4).unwrap().is_empty());
}
