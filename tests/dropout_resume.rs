//! The random state of `Dropout`, `SpatialDropout1D` and `GaussianNoise`
//! (the workspace's generator, `Ctx::rng`) is part of a checkpoint: a
//! model trained 2 epochs, saved, loaded into a fresh model and trained 2
//! more epochs ends with the weights of 4 uninterrupted epochs, bit for
//! bit — through `save`/`load` and through `backup_and_restore`.

use kiln::prelude::*;
use kiln::train::SaveFreq;

kiln::model! {
    struct Noisy {
        input x: [f32; 8, 3];
        let s = SpatialDropout1D(0.3)(x);
        let f = Flatten()(s);
        let h = Dense(16, activation = relu)(f);
        let d = Dropout(0.5)(h);
        let n = GaussianNoise(0.2)(d);
        let p = Dense(1)(n);
        output p;
    }
}

type Sample = [[f32; 3]; 8];

fn data() -> (Vec<Sample>, Vec<[f32; 1]>) {
    let values = kiln::testing::test_values(40 * 24, 17);
    let x: Vec<Sample> =
        (0..40).map(|s| std::array::from_fn(|t| std::array::from_fn(|c| values[s * 24 + t * 3 + c]))).collect();
    let y = x.iter().map(|s| [s.iter().flatten().sum::<f32>() * 0.3]).collect();
    (x, y)
}

fn compile(seed: u64) -> Model<Noisy> {
    Noisy::new(seed).compile(Adam::new(0.01), MeanSquaredError, &[])
}

fn bits(model: &Model<Noisy>) -> Vec<u32> {
    let mut out = Vec::new();
    kiln::network::Network::params(model.network(), &mut |p| out.extend(p.value.iter().map(|v| v.to_bits())));
    out
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dropout_resume");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn straight() -> (Model<Noisy>, Vec<f32>) {
    let (x, y) = data();
    let mut model = compile(3);
    let history = model.fit(&x, &y).epochs(4).batch_size(8).verbose(0).run().unwrap();
    let losses = history.get("loss").unwrap().to_vec();
    (model, losses)
}

#[test]
fn save_and_load_resume_dropout_and_noise_bit_for_bit() {
    let (x, y) = data();
    let (whole, whole_losses) = straight();

    let mut first = compile(3);
    let head = first.fit(&x, &y).epochs(2).batch_size(8).verbose(0).run().unwrap();
    let path = temp("resume.ckpt");
    first.save(&path).unwrap();
    drop(first);

    let mut second = compile(11); // other weights: everything comes from the file
    second.load(&path).unwrap();
    let start = second.epoch();
    assert_eq!(start, 2);
    let tail = second.fit(&x, &y).initial_epoch(start).epochs(4).batch_size(8).verbose(0).run().unwrap();
    let mut losses = head.get("loss").unwrap().to_vec();
    losses.extend_from_slice(tail.get("loss").unwrap());
    assert_eq!(losses, whole_losses);
    assert_eq!(bits(&second), bits(&whole), "resumed weights differ from the uninterrupted run's");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn backup_and_restore_resumes_dropout_and_noise_bit_for_bit() {
    let (x, y) = data();
    let (whole, _) = straight();
    let path = temp("backup.ckpt");
    let mut first = compile(3);
    first.fit(&x, &y).epochs(2).batch_size(8).verbose(0).backup_and_restore(&path, SaveFreq::Epoch).run().unwrap();
    drop(first);
    // The same run asked for 4 epochs in a new process: resumes at epoch 2.
    let mut second = compile(11);
    second.fit(&x, &y).epochs(4).batch_size(8).verbose(0).backup_and_restore(&path, SaveFreq::Epoch).run().unwrap();
    assert_eq!(second.epoch(), 4);
    assert_eq!(bits(&second), bits(&whole), "restored weights differ from the uninterrupted run's");
    let _ = std::fs::remove_file(&path);
}
