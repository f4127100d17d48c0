//! The tutorials' "every model is callable, like a layer": a 784 → 10
//! classifier is trained, then used as a layer of another model (reusing
//! its weights) and wrapped in `TimeDistributed` over 20 time steps
//! (`[20, 784]` → `[20, 10]`).
//!
//! ```text
//! cargo run --release --example models_as_layers
//! ```

use kiln::data::{read_idx, StandardScaler};
use kiln::layers::TimeDistributed;
use kiln::prelude::*;

kiln::model! {
    /// The tutorials' fully connected network.
    #[derive(Clone)]
    pub struct Classifier {
        input image: [f32; 784];
        let h1 = Dense(64, activation = relu)(image);
        let h2 = Dense(64, activation = relu)(h1);
        let predictions = Dense(10, activation = softmax)(h2);
        output predictions;
    }
}

kiln::model! {
    /// `y = model(x)`: the classifier as a layer, followed by a new head.
    pub struct Reused {
        input x: [f32; 784];
        let probs: [10] = custom(Classifier::new(0))(x);
        let is_footwear = Dense(1, activation = sigmoid)(probs);
        output is_footwear;
    }
}

kiln::model! {
    /// `TimeDistributed(model)(input_sequences)`.
    pub struct Sequences {
        input input_sequences: [f32; 20, 784];
        let processed: [20, 10] = custom(TimeDistributed::<Classifier, 20>::new(Classifier::new(0)))(input_sequences);
        output processed;
    }
}

#[allow(dead_code)] // tests include this file for the models only
fn main() -> kiln::Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let (_, pixels) = read_idx(format!("{dir}/t10k-images-idx3-ubyte.gz"))?;
    let (_, labels) = read_idx(format!("{dir}/t10k-labels-idx1-ubyte.gz"))?;
    let mut x: Vec<[f32; 784]> = pixels.chunks_exact(784).map(|p| std::array::from_fn(|i| p[i] as f32)).collect();
    let scaler = StandardScaler::fit(x.as_flattened(), 1);
    scaler.transform(x.as_flattened_mut());
    let y: Vec<u32> = labels.iter().map(|&l| l as u32).collect();

    let mut model = Classifier::new(0).compile(RmsProp::default(), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    model
        .fit(&x[..8000], &y[..8000])
        .batch_size(256)
        .epochs(5)
        .validation_data(&x[8000..], &y[8000..])
        .verbose(2)
        .run()?;
    let classifier = model.into_network();

    // Reuse the trained weights: the inner model is a (public) field of the outer one.
    let reused = Reused { classifier: classifier.clone(), ..Reused::new(1) };
    println!("{}", reused.summary());
    let sequences = Sequences { time_distributed: TimeDistributed::new(classifier.clone()) };
    println!("{}", sequences.summary());
    let frames: [[f32; 784]; 20] = std::array::from_fn(|t| x[8000 + t]);
    let per_step = sequences.predict_one(&frames);
    let classes: Vec<usize> = per_step.iter().map(|p| kiln::metrics::argmax(p)).collect();
    println!("classes of 20 frames: {classes:?}");
    println!("labels:               {:?}", &y[8000..8020]);
    Ok(())
}
