//! The tutorials' Fashion-MNIST classifier on the full data: Flatten
//! 28×28 → Dense(300, relu) → Dense(100, relu) → Dense(10, softmax), SGD
//! (Keras's default learning rate 0.01), sparse categorical cross-entropy,
//! accuracy; pixels standardized with one mean and deviation fitted on the
//! training images; the first 5,000 training images held out for
//! validation, as the tutorial does (`x_valid, x_train = x_train_all[:5000],
//! x_train_all[5000:]`). Training uses EarlyStopping (restoring the best
//! weights), ModelCheckpoint (best only), CSVLogger and TensorBoard, and
//! draws its learning curves to a PNG in the run's directory; the test
//! accuracy is printed (Keras reaches about 88%).
//!
//! ```text
//! cargo run --release --example fashion_mnist -- [--epochs 30] [--out DIR]
//! ```
//!
//! The default is 2 epochs, so the example runs in CI; `--epochs 30` is
//! the tutorial's full run (EarlyStopping usually ends it sooner). The data
//! come from `kiln::datasets::fashion_mnist::load_data()` (Debian's
//! `dataset-fashion-mnist`, `~/.keras/datasets` or `KILN_DATA`); without
//! them the example says how to get them and exits successfully.

use kiln::data::StandardScaler;
use kiln::datasets::{fashion_mnist, to_f32};
use kiln::prelude::*;
use std::path::PathBuf;

kiln::model! {
    /// 28×28 images to ten class probabilities.
    pub struct FashionMlp {
        input image: [f32; 28, 28];
        let flat = Flatten()(image);
        let hidden1 = Dense(300, activation = relu)(flat);
        let hidden2 = Dense(100, activation = relu)(hidden1);
        let probs = Dense(10, activation = softmax)(hidden2);
        output probs;
    }
}

/// The value after `--name` on the command line.
fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> kiln::Result<()> {
    let epochs: usize = arg("--epochs").and_then(|e| e.parse().ok()).unwrap_or(2);
    let ((x_train_all, y_train_all), (x_test, y_test)) = match fashion_mnist::load_data() {
        Ok(data) => data,
        Err(e) => {
            println!("skipped: the Fashion-MNIST files are missing ({e})");
            println!("install them with `apt-get install dataset-fashion-mnist`, or set KILN_DATA");
            return Ok(());
        }
    };
    let (mut x_train_all, mut x_test) = (to_f32(&x_train_all), to_f32(&x_test));
    let y_train_all: Vec<u32> = y_train_all.iter().map(|&l| u32::from(l)).collect();
    let y_test: Vec<u32> = y_test.iter().map(|&l| u32::from(l)).collect();
    println!("train {} / test {} images", x_train_all.len(), x_test.len());

    // The tutorial: x_valid, x_train = x_train_all[:5000], x_train_all[5000:];
    // StandardScaler on reshape(-1, 1), fitted on x_train.
    let (x_valid, x_train) = x_train_all.split_at_mut(5000);
    let (y_valid, y_train) = y_train_all.split_at(5000);
    let scaler = StandardScaler::try_fit(x_train.as_flattened().as_flattened(), 1)?;
    for x in [&mut *x_train, &mut *x_valid, &mut x_test[..]] {
        scaler.try_transform(x.as_flattened_mut().as_flattened_mut())?;
    }

    let run = match arg("--out") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("kiln-fashion-mnist-{}", std::process::id())),
    };
    std::fs::create_dir_all(&run).map_err(|source| kiln::Error::Io { path: run.clone(), source })?;
    let path = |name: &str| run.join(name).to_string_lossy().into_owned();

    let mut model = FashionMlp::new(42).compile(Sgd::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    println!("{}", model.summary());
    let mut early_stopping = EarlyStopping::new().patience(5).min_delta(1e-3).restore_best_weights(true).verbose(1);
    let mut checkpoint =
        ModelCheckpoint::new(&path("fashion_mnist_model.safetensors")).save_best_only(true).save_weights_only(true);
    let mut csv = CsvLogger::new(path("training.log"));
    let mut tensorboard = TensorBoard::new(run.join("logs"));
    let (x_train, x_valid) = (&*x_train, &*x_valid);
    let history = model
        .fit(x_train, y_train)
        .epochs(epochs)
        .batch_size(32)
        .validation_data(x_valid, y_valid)
        .verbose(2)
        .callback(&mut early_stopping)
        .callback(&mut checkpoint)
        .callback(&mut csv)
        .callback(&mut tensorboard)
        .run()?;
    println!("trained {} epochs", history.epochs.len());
    if let Some(best) = checkpoint.saved().last() {
        println!("best weights saved to {}", best.display());
    }

    // Drawing needs the `plot` feature (`--features plot`).
    #[cfg(feature = "plot")]
    {
        history.plot_png(path("learning_curves.png"), (1000, 700))?;
        println!("learning curves: {}", path("learning_curves.png"));
    }
    history.save_csv(path("history.csv"))?;
    println!("csv log: {}", path("training.log"));
    println!("tensorboard --logdir {}", run.join("logs").display());

    let logs = model.evaluate_on(&x_test, &y_test).batch_size(128).verbose(0).run()?;
    println!("test loss: {:.4}", logs.get("loss").unwrap_or(f32::NAN));
    println!("test accuracy: {:.2}%", 100.0 * logs.get("accuracy").unwrap_or(0.0));
    Ok(())
}
