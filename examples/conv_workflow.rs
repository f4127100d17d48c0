//! The tutorials' workflow with their Conv2D/pooling layers (workflow seed
//! 003: `from keras.layers import Dense, Activation, Dropout, Conv2D,
//! MaxPooling2D, AveragePooling2D, Flatten`, a Sequential model built with
//! `model.add(...)` and separate `Activation('relu')` layers), step by step
//! as the tutorial lists them: load data → preprocess → define the model →
//! compile → train (`fit` with a custom callback, then by hand with
//! `train_on_batch`) → save → evaluate → predict.
//!
//! ```text
//! cargo run --release --example conv_workflow
//! ```
//!
//! The data are generated: 16×16 grey images of a horizontal bar, a
//! vertical bar or a hollow square at a random place, with noise.

use kiln::prelude::*;

kiln::model! {
    /// The tutorial's Sequential stack, one `model.add` per line.
    pub struct ConvNet {
        input image: [f32; 16, 16, 1];
        let probs = image
            => Conv2D(filters = 8, kernel_size = (3, 3))
            => Activation("relu")
            => MaxPooling2D(pool_size = (2, 2))
            => Conv2D(filters = 16, kernel_size = (3, 3))
            => Activation("relu")
            => AveragePooling2D(pool_size = (2, 2))
            => Flatten()
            => Dropout(0.25)
            => Dense(units = 3)
            => Activation("softmax");
        output probs;
    }
}

type Image = [[[f32; 1]; 16]; 16];

/// A small deterministic generator (no dependency for the example's data).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
    fn unit(&mut self) -> f32 {
        self.next() as f32 / (1u64 << 31) as f32
    }
}

/// 数据载入: `n` images with labels 0 (horizontal bar), 1 (vertical bar), 2 (square), pixels in 0..=255.
fn load_data(n: usize, seed: u64) -> (Vec<Image>, Vec<u32>) {
    let mut rng = Lcg(seed);
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for s in 0..n {
        let label = (s % 3) as u32;
        let mut img = [[[0.0f32; 1]; 16]; 16];
        for row in img.iter_mut() {
            for px in row.iter_mut() {
                px[0] = 60.0 * rng.unit();
            }
        }
        let (r, c) = (rng.below(10) + 1, rng.below(10) + 1);
        let len = 5;
        for i in 0..len {
            match label {
                0 => img[r][c + i][0] = 255.0,
                1 => img[r + i][c][0] = 255.0,
                _ => {
                    for (a, b) in [(r, c + i), (r + len - 1, c + i), (r + i, c), (r + i, c + len - 1)] {
                        img[a][b][0] = 255.0;
                    }
                }
            }
        }
        x.push(img);
        y.push(label);
    }
    (x, y)
}

/// The tutorial's `MyCallback`: prints which epoch starts.
struct MyCallback;

impl<N: Network> Callback<N> for MyCallback {
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        println!("epoch = {epoch}");
        Ok(())
    }
}

fn main() -> kiln::Result<()> {
    // 数据载入 and 数据预处理: pixels to [0, 1].
    let (mut x_train, y_train) = load_data(1200, 1);
    let (mut x_test, y_test) = load_data(300, 2);
    for x in x_train.iter_mut().chain(x_test.iter_mut()) {
        x.as_flattened_mut().as_flattened_mut().iter_mut().for_each(|p| *p /= 255.0);
    }

    // 定义模型 and 编译模型.
    let mut model = ConvNet::new(0).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    println!("{}", model.summary());

    // 训练模型, 自动训练: model.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0, callbacks=[MyCallback()]).
    model.fit(&x_train, &y_train).batch_size(32).epochs(5).verbose(0).callback(&mut MyCallback).run()?;

    // 自助训练: for step in range(...): loss_val = model.train_on_batch(x_batch, y_batch).
    for step in 0..100 {
        let start = (step * 32) % (x_train.len() - 32);
        let loss = model.train_on_batch(&x_train[start..start + 32], &y_train[start..start + 32])?;
        if step % 20 == 0 {
            println!("loss: {loss:.4}");
        }
    }

    // 保存模型: save_weights, then load_weights into a freshly built model.
    let path = std::env::temp_dir().join(format!("kiln-conv-workflow-{}.safetensors", std::process::id()));
    model.save_weights(&path)?;
    let mut restored = ConvNet::new(1);
    restored.load_weights(&path)?;
    std::fs::remove_file(&path).ok();
    let same = x_test.iter().all(|x| restored.predict_one(x) == model.predict_one(x));
    println!("restored weights predict identically: {same}");

    // 评估模型: score = model.evaluate(x_test, y_test, batch_size=32, verbose=0).
    let score = model.evaluate(&x_test, &y_test, 32)?;
    println!(
        "score[loss, accuracy] = [{:.4}, {:.4}]",
        score.get("loss").unwrap_or(f32::NAN),
        score.get("accuracy").unwrap_or(f32::NAN)
    );

    // 预测数据: compare y_test[:10] with the predicted classes.
    let y_pred = model.predict(&x_test[..10], 32)?;
    let classes: Vec<usize> = y_pred
        .iter()
        .map(|p| p.iter().enumerate().fold(0, |best, (i, v)| if *v > p[best] { i } else { best }))
        .collect();
    let labels: Vec<usize> = y_test[..10].iter().map(|&l| l as usize).collect();
    println!("classes: {classes:?} (labels {labels:?})");
    Ok(())
}
