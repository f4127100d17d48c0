//! Callbacks, as the tutorials use them: the custom callback printing
//! `epoch:N begin` / `epoch:N end` on the text classifier, a
//! LambdaCallback, then a digits classifier trained with EarlyStopping
//! (restoring the best weights), ModelCheckpoint (best only),
//! ReduceLROnPlateau, CSVLogger, TensorBoard, and its learning curves drawn
//! to a PNG.
//!
//! ```text
//! cargo run --release --example callbacks
//! ```

#[path = "common/tutorial_text.rs"]
mod tutorial_text;

use kiln::data::{read_csv, train_test_split, StandardScaler};
use kiln::prelude::*;
use tutorial_text::dataset;

kiln::model! {
    /// The tutorials' binary text classifier.
    pub struct TextClassifier {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let encoding = LSTM(64)(embedded);
        let prob = Dense(units = 1, activation = sigmoid)(encoding);
        output prob;
    }
}

kiln::model! {
    /// 64 standardized pixels → 10 class probabilities.
    pub struct DigitsNet {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

/// The tutorial's `HelloWorldCallback`: works with any model.
struct HelloWorldCallback;

impl<N: Network> Callback<N> for HelloWorldCallback {
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        println!("epoch:{epoch} begin\n");
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, _: &mut Logs, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        println!("epoch:{epoch} end\n");
        Ok(())
    }
}

type Data = (Vec<[f32; 64]>, Vec<u32>);

/// scikit-learn's digits, standardized, split 80/20.
fn digits() -> kiln::Result<(Data, Data)> {
    let rows = read_csv(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz"))?;
    let (train, test) = train_test_split(rows.len(), 0.2, 7);
    let pick = |indices: &[usize]| -> Data {
        let x = indices.iter().map(|&i| std::array::from_fn(|j| rows[i][j])).collect();
        let y = indices.iter().map(|&i| rows[i][64] as u32).collect();
        (x, y)
    };
    let ((mut x_train, y_train), (mut x_test, y_test)) = (pick(&train), pick(&test));
    let scaler = StandardScaler::fit(x_train.as_flattened(), 64);
    scaler.transform(x_train.as_flattened_mut());
    scaler.transform(x_test.as_flattened_mut());
    Ok(((x_train, y_train), (x_test, y_test)))
}

fn main() -> kiln::Result<()> {
    // 1. The tutorial's custom callback, and a LambdaCallback beside it.
    let (x, labels) = dataset();
    let y: Vec<[f32; 1]> = labels.iter().map(|&l| [l as f32]).collect();
    let mut model = TextClassifier::new(0).compile(Adam::new(0.05), BinaryCrossentropy, &[Metric::BinaryAccuracy]);
    let mut hello = HelloWorldCallback;
    let mut batches = 0;
    let mut count_batches = LambdaCallback::new()
        .on_train_batch_end(|_, _| batches += 1)
        .on_train_end(|logs| println!("lambda: training ended with loss {:.4}", logs.get("loss").unwrap_or(f32::NAN)));
    model.fit(&x, &y).epochs(5).batch_size(4).callback(&mut hello).callback(&mut count_batches).run()?;
    drop(count_batches);
    println!("lambda: {batches} batches seen\n");

    // 2. The usual set on a real dataset.
    let ((x_train, y_train), (x_test, y_test)) = digits()?;
    let run = std::env::temp_dir().join(format!("kiln-callbacks-example-{}", std::process::id()));
    std::fs::create_dir_all(&run).map_err(|source| kiln::Error::Io { path: run.clone(), source })?;
    let path = |name: &str| run.join(name).to_string_lossy().into_owned();

    let mut model = DigitsNet::new(1).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    let mut early_stopping = EarlyStopping::new().monitor("val_loss").patience(5).restore_best_weights(true).verbose(1);
    let mut checkpoint = ModelCheckpoint::new(&path("best.{epoch:02d}-{val_loss:.3f}.safetensors"))
        .save_best_only(true)
        .save_weights_only(true);
    let mut reduce_lr = ReduceLrOnPlateau::new().factor(0.5).patience(2).verbose(1);
    let mut csv = CsvLogger::new(path("training.log"));
    let mut tensorboard = TensorBoard::new(run.join("logs"));
    let history = model
        .fit(&x_train, &y_train)
        .epochs(100)
        .batch_size(32)
        .validation_split(0.2)
        .verbose(2)
        .callback(&mut early_stopping)
        .callback(&mut checkpoint)
        .callback(&mut reduce_lr)
        .callback(&mut csv)
        .callback(&mut tensorboard)
        .run()?;
    let epochs = history.epochs.len();
    println!(
        "trained {epochs} epochs; best epoch {} (val_loss {:.4})",
        early_stopping.best_epoch() + 1,
        early_stopping.best().unwrap_or(f64::NAN)
    );
    let best_file = checkpoint.saved().last().expect("the first epoch always improves");
    println!("best weights saved to {}", best_file.display());
    let logs = model.evaluate(&x_test, &y_test, 128)?;
    println!("held-out test accuracy: {:.1}%", 100.0 * logs.get("accuracy").unwrap_or(0.0));

    // Drawing needs the `plot` feature (`cargo run --release --features plot --example callbacks`).
    #[cfg(feature = "plot")]
    {
        history.plot_png(path("learning_curves.png"), (1000, 700))?;
        history.plot_svg(path("learning_curves.svg"), (1000, 700))?;
        println!("learning curves: {}", path("learning_curves.png"));
    }
    history.save_csv(path("history.csv"))?;
    history.save_json(path("history.json"))?;
    println!("csv log: {}", path("training.log"));
    println!("tensorboard --logdir {}", run.join("logs").display());
    Ok(())
}
