//! The int8 models `model!` generates (`<Name>Int8`, made by
//! `Name::quantize`): the digits MLP and the text classifier
//! (Embedding → LSTM → Dense) of `tests/quant_models.rs`, trained the same
//! way. Each equals, bit for bit, the model assembled by hand from
//! `kiln::quant` layers (an independent calibration through each layer's
//! f32 `forward_one`); its accuracy is within 1 point of f32 on every
//! kernel path; batched `predict` equals `predict_one`; files round-trip
//! bit for bit; `predict_one` allocates nothing; bad input is a typed error.

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

#[path = "../examples/common/tutorial_text.rs"]
#[allow(dead_code)]
mod tutorial_text;

use kiln::activations::Activation;
use kiln::data::{read_csv, train_test_split, StandardScaler};
use kiln::io::FileProblem;
use kiln::layers::Layer;
use kiln::prelude::*;
use kiln::quant::{ActivationRange, QDense, QEmbedding, QLstm, QPath};
use kiln::Error;
use rand::{Rng, SeedableRng};

kiln::model! {
    /// `examples/digits.rs`'s network.
    pub struct DigitsNet {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

kiln::model! {
    /// `examples/text_classifier.rs`'s network.
    pub struct TextClassifier {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let encoding = LSTM(64)(embedded);
        let prob = Dense(units = 1, activation = sigmoid)(encoding);
        output prob;
    }
}

kiln::model! {
    /// Layers without weights between the quantized ones (kept in f32).
    pub struct Mixed {
        input image: [f32; 8, 8];
        let flat = Flatten()(image);
        let hidden = Dense(32, activation = relu)(flat);
        let dropped = Dropout(0.5)(hidden);
        let logits = Dense(10)(dropped);
        let probs = Activation(softmax)(logits);
        output probs;
    }
}

kiln::model! {
    /// An LSTM whose state is unbounded: no int8 form.
    pub struct ReluLstm {
        input x: [f32; 4, 3];
        let h = LSTM(5, activation = relu)(x);
        let y = Dense(1)(h);
        output y;
    }
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &p)| if p > v[best] { i } else { best })
}

fn bits<const N: usize>(v: &[f32; N]) -> [u32; N] {
    v.map(f32::to_bits)
}

/// The digits MLP assembled by hand (as `tests/quant_models.rs`).
fn hand_digits(net: &DigitsNet, samples: &[[f32; 64]]) -> (QDense<64, 64>, QDense<64, 10>) {
    let (mut r1, mut r2) = (ActivationRange::default(), ActivationRange::default());
    let mut h = [0.0; 64];
    for x in samples {
        r1.observe(x);
        net.dense.forward_one(x, &mut h);
        r2.observe(&h);
    }
    (
        QDense::quantize(&net.dense, r1.params().unwrap()).unwrap(),
        QDense::quantize(&net.dense_1, r2.params().unwrap()).unwrap(),
    )
}

struct Digits {
    x_train: Vec<[f32; 64]>,
    x_test: Vec<[f32; 64]>,
    y_test: Vec<u32>,
    net: DigitsNet,
}

fn trained_digits() -> Digits {
    let rows = read_csv(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz")).unwrap();
    let (train, test) = train_test_split(rows.len(), 0.2, 7);
    let pick = |indices: &[usize]| {
        let x: Vec<[f32; 64]> = indices.iter().map(|&i| std::array::from_fn(|j| rows[i][j])).collect();
        let y: Vec<u32> = indices.iter().map(|&i| rows[i][64] as u32).collect();
        (x, y)
    };
    let (mut x_train, y_train) = pick(&train);
    let (mut x_test, y_test) = pick(&test);
    let scaler = StandardScaler::fit(x_train.as_flattened(), 64);
    scaler.transform(x_train.as_flattened_mut());
    scaler.transform(x_test.as_flattened_mut());
    let mut model = DigitsNet::new(7).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    model.set_shuffle_seed(7);
    model.fit(&x_train, &y_train).epochs(20).batch_size(32).verbose(0).run().unwrap();
    Digits { x_train, x_test, y_test, net: model.into_network() }
}

#[test]
fn generated_digits_int8_equals_the_hand_assembled_one_and_round_trips() {
    let Digits { x_train, x_test, y_test, net } = trained_digits();
    let q = net.quantize(&x_train[..300]).unwrap();
    let (h1, h2) = hand_digits(&net, &x_train[..300]);
    let hand = |x: &[f32; 64]| {
        let (mut h, mut y) = ([0.0; 64], [0.0; 10]);
        h1.forward_one(x, &mut h);
        h2.forward_one(&h, &mut y);
        y
    };
    let bytes = q.to_bytes().unwrap();
    let loaded = DigitsNetInt8::from_bytes(&bytes).unwrap();
    // save → load → save: the same tensors and metadata, bit for bit (the
    // bytes may differ in the order of the header's metadata entries,
    // which safetensors writes from a hash map).
    let same_file =
        |a: &[u8], b: &[u8]| kiln::quant::QFile::from_bytes(a).unwrap() == kiln::quant::QFile::from_bytes(b).unwrap();
    assert!(same_file(&loaded.to_bytes().unwrap(), &bytes), "save → load → save");
    let path = std::env::temp_dir().join(format!("kiln_quant_macro_{}.safetensors", std::process::id()));
    q.save(&path).unwrap();
    let from_path = DigitsNetInt8::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();

    let accuracy = |predict: &dyn Fn(&[f32; 64]) -> usize| {
        x_test.iter().zip(&y_test).filter(|(x, &y)| predict(x) == y as usize).count() as f64 / x_test.len() as f64
    };
    let f32_acc = accuracy(&|x| argmax(&net.predict_one(x)));
    assert!(f32_acc > 0.9, "the f32 model learned ({f32_acc})");
    for path in QPath::ALL.into_iter().filter(|p| p.supported()) {
        kiln::simd::with_isa(path.isa(), || {
            let batched = q.predict(&x_test, 100).unwrap();
            assert_eq!(batched.len(), x_test.len());
            for (x, b) in x_test.iter().zip(&batched) {
                let one = q.predict_one(x);
                assert_eq!(bits(&one), bits(&hand(x)), "{path}: generated vs hand-assembled");
                assert_eq!(bits(&one), bits(b), "{path}: predict_one vs predict");
                assert_eq!(bits(&one), bits(&loaded.predict_one(x)), "{path}: loaded from bytes");
                assert_eq!(bits(&one), bits(&from_path.predict_one(x)), "{path}: loaded from a path");
            }
            let int8_acc = accuracy(&|x| argmax(&q.predict_one(x)));
            eprintln!("digits ({path}): f32 {:.2}%, int8 {:.2}%", 100.0 * f32_acc, 100.0 * int8_acc);
            assert!((int8_acc - f32_acc).abs() <= 0.01, "{path}: int8 {int8_acc} vs f32 {f32_acc}");
            let (calls, _) = support::allocations(|| q.predict_one(&x_test[0]));
            assert_eq!(calls, 0, "{path}: predict_one allocates");
            // Batched prediction: after the first call only the returned Vec.
            let (calls, _) = support::allocations(|| q.predict(&x_test[..64], 32).unwrap());
            assert_eq!(calls, 1, "{path}: predict allocates beyond its result");
        });
    }

    // Calibration data of the wrong shape, empty, or not finite.
    let err = net.quantize_flat(&x_train.as_flattened()[..130]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { name: "samples", reason } if reason.contains("64 values, found 130")),
        "{err}"
    );
    assert!(matches!(net.quantize(&[]), Err(Error::InvalidArgument { name: "samples", .. })));
    let mut nan = x_train[..3].to_vec();
    nan[2][5] = f32::NAN;
    let err = net.quantize(&nan).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument { name: "samples", reason } if reason.contains("sample 2")), "{err}");

    // Corrupt files, and a file of another model.
    let err = DigitsNetInt8::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, Error::File { problem: FileProblem::Corrupt(_), .. }), "{err}");
    let weights = kiln::io::weights_to_bytes(&net).unwrap();
    let err = DigitsNetInt8::from_bytes(&weights).unwrap_err();
    assert!(matches!(err, Error::File { problem: FileProblem::Format { expected: "kiln.int8", .. }, .. }), "{err}");
    let err = TextClassifierInt8::from_bytes(&bytes).unwrap_err();
    assert!(matches!(&err, Error::File { problem: FileProblem::Architecture { index: 0, .. }, .. }), "{err}");
    let err = MixedInt8::from_bytes(&bytes).unwrap_err();
    assert!(matches!(&err, Error::File { problem: FileProblem::Architecture { .. }, .. }), "{err}");
    // Same architecture rows but a tensor missing: a typed error naming it.
    let mut file = q.to_qfile();
    let mut other = kiln::quant::QFile::new();
    other.set_meta("architecture", file.meta("architecture").unwrap().to_string());
    q.dense.save("dense", &mut other);
    let err = DigitsNetInt8::from_qfile(other).unwrap_err();
    assert!(matches!(&err, FileProblem::MissingTensor { tensor, .. } if tensor == "dense_1/kernel"), "{err}");
    file.put_f32("extra".into(), &[1], &[0.0]);
    let err = DigitsNetInt8::from_qfile(file).unwrap_err();
    assert!(matches!(&err, FileProblem::UnexpectedTensor { tensor, .. } if tensor == "extra"), "{err}");

    // Old code: `predict` took a batch size of 0 (as 1) and NaN or infinite
    // inputs (quantized to some code), where the f32 model's `predict`
    // refuses both before any work.
    let err = q.predict(&x_train[..3], 0).unwrap_err();
    assert_eq!(err.to_string(), "invalid argument `batch_size`: must be at least 1, but is 0");
    for value in [f32::NAN, f32::INFINITY] {
        let mut bad = x_train[..3].to_vec();
        bad[2][5] = value;
        let err = q.predict(&bad, 2).unwrap_err();
        assert!(matches!(err, Error::NonFinite { sample: 2, feature: 5, .. }), "{err}");
    }
}

/// Random strings of '0', '1' and other characters, 1 to 16 long,
/// labelled by the tutorial's rule (more '0's than '1's).
fn texts(n: usize, seed: u64) -> (Vec<[u32; 16]>, Vec<[f32; 1]>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let len = rng.gen_range(1..=16);
            let s: String = (0..len).map(|_| ['0', '1', 'x'][rng.gen_range(0..3)]).collect();
            (tutorial_text::encode(&s), [tutorial_text::label(&s) as f32])
        })
        .unzip()
}

#[test]
fn generated_text_classifier_int8_equals_the_hand_assembled_one() {
    let (x_train, y_train) = texts(1000, 1);
    let (x_test, y_test) = texts(1000, 2);
    let mut model = TextClassifier::new(0).compile(Adam::new(0.01), BinaryCrossentropy, &[Metric::BinaryAccuracy]);
    model.set_shuffle_seed(0);
    model.fit(&x_train, &y_train).epochs(8).batch_size(32).verbose(0).run().unwrap();
    let net = model.network();
    let q = net.quantize(&x_train[..200]).unwrap();

    // By hand: calibration through each f32 layer's `forward_one`.
    let (mut r_e, mut r_h) = (ActivationRange::default(), ActivationRange::default());
    let (mut e, mut h) = ([0.0; 16 * 64], [0.0; 64]);
    for x in &x_train[..200] {
        net.embedding.forward_one(x, &mut e);
        r_e.observe(&e);
        net.lstm.forward_one(&e, &mut h);
        r_h.observe(&h);
    }
    let emb = QEmbedding::<4, 64, 16>::quantize(&net.embedding).unwrap();
    let lstm = QLstm::<64, 64, 16, false>::quantize(&net.lstm, r_e.params().unwrap()).unwrap();
    let dense = QDense::<64, 1>::quantize(&net.dense, r_h.params().unwrap()).unwrap();
    let hand = |x: &[u32; 16]| {
        let (mut e, mut h, mut y) = ([0.0; 16 * 64], [0.0; 64], [0.0; 1]);
        emb.forward_one(x, &mut e);
        lstm.forward_one(&e, &mut h);
        dense.forward_one(&h, &mut y);
        y
    };
    let bytes = q.to_bytes().unwrap();
    let loaded = TextClassifierInt8::from_bytes(&bytes).unwrap();
    let same_file =
        |a: &[u8], b: &[u8]| kiln::quant::QFile::from_bytes(a).unwrap() == kiln::quant::QFile::from_bytes(b).unwrap();
    assert!(same_file(&loaded.to_bytes().unwrap(), &bytes), "save → load → save");

    let accuracy = |predict: &dyn Fn(&[u32; 16]) -> f32| {
        x_test.iter().zip(&y_test).filter(|(x, y)| (predict(x) > 0.5) == (y[0] > 0.5)).count() as f64
            / x_test.len() as f64
    };
    let f32_acc = accuracy(&|x| net.predict_one(x).unwrap()[0]);
    assert!(f32_acc > 0.85, "the f32 model learned ({f32_acc})");
    for path in QPath::ALL.into_iter().filter(|p| p.supported()) {
        kiln::simd::with_isa(path.isa(), || {
            let batched = q.predict(&x_test, 64).unwrap();
            for (x, b) in x_test.iter().zip(&batched) {
                let one = q.predict_one(x).unwrap();
                assert_eq!(bits(&one), bits(&hand(x)), "{path}: generated vs hand-assembled");
                assert_eq!(bits(&one), bits(b), "{path}: predict_one vs predict");
                assert_eq!(bits(&one), bits(&loaded.predict_one(x).unwrap()), "{path}: loaded");
            }
            let int8_acc = accuracy(&|x| q.predict_one(x).unwrap()[0]);
            eprintln!("text ({path}): f32 {:.2}%, int8 {:.2}%", 100.0 * f32_acc, 100.0 * int8_acc);
            assert!((int8_acc - f32_acc).abs() <= 0.01, "{path}: int8 {int8_acc} vs f32 {f32_acc}");
            let (calls, _) = support::allocations(|| q.predict_one(&x_test[0]).unwrap());
            assert_eq!(calls, 0, "{path}: predict_one allocates");
        });
    }
    // Out-of-vocabulary ids: typed errors, in prediction and calibration.
    let mut bad = x_test[0];
    bad[3] = 9;
    assert!(matches!(q.predict_one(&bad), Err(Error::IdOutOfRange { id: 9, .. })));
    assert!(matches!(q.predict(&[x_test[1], bad], 8), Err(Error::IdOutOfRange { id: 9, sample: 1, .. })));
    assert!(matches!(net.quantize(&[x_test[1], bad]), Err(Error::IdOutOfRange { id: 9, sample: 1, .. })));
    let err = DigitsNetInt8::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, Error::File { problem: FileProblem::Architecture { .. }, .. }), "{err}");
}

/// Flatten, Dropout (identity at inference) and Activation stay f32
/// between the quantized layers: the result equals the two `QDense`
/// layers by hand followed by a softmax computed in f64.
#[test]
fn layers_without_weights_run_in_f32_between_quantized_ones() {
    let net = Mixed::new(3);
    let xs: Vec<[[f32; 8]; 8]> = (0..50)
        .map(|s| {
            std::array::from_fn(|r| std::array::from_fn(|c| (((s * 31 + r * 8 + c) * 17 % 101) as f32 / 50.0) - 1.0))
        })
        .collect();
    let q = net.quantize(&xs).unwrap();
    let (mut r1, mut r2) = (ActivationRange::default(), ActivationRange::default());
    let mut h = [0.0; 32];
    for x in &xs {
        r1.observe(x.as_flattened());
        net.dense.forward_one(x.as_flattened(), &mut h);
        r2.observe(&h);
    }
    let d1 = QDense::quantize(&net.dense, r1.params().unwrap()).unwrap();
    let d2 = QDense::quantize(&net.dense_1, r2.params().unwrap()).unwrap();
    assert_eq!(d2.activation(), Activation::Linear);
    for x in &xs {
        let (mut h, mut z) = ([0.0; 32], [0.0; 10]);
        d1.forward_one(x.as_flattened(), &mut h);
        d2.forward_one(&h, &mut z);
        let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let sum: f64 = z.iter().map(|&v| (v as f64 - max).exp()).sum();
        let y = q.predict_one(x);
        for (a, &b) in y.iter().zip(&z) {
            let want = (b as f64 - max).exp() / sum;
            assert!((*a as f64 - want).abs() <= 4.0 * f32::EPSILON as f64 * want, "{a} vs {want}");
        }
        let (calls, _) = support::allocations(|| q.predict_one(x));
        assert_eq!(calls, 0);
    }
    let bytes = q.to_bytes().unwrap();
    let again = MixedInt8::from_bytes(&bytes).unwrap().to_bytes().unwrap();
    assert!(kiln::quant::QFile::from_bytes(&again).unwrap() == kiln::quant::QFile::from_bytes(&bytes).unwrap());
}

/// An LSTM with `activation = relu` has no int8 form (its state is not
/// bounded by 1): quantizing the model is a typed error naming the argument.
#[test]
fn an_lstm_with_an_unbounded_activation_is_a_typed_error() {
    let net = ReluLstm::new(0);
    let err = net.quantize(&[[[0.5f32; 3]; 4]; 3]).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument { name: "activation", .. }), "{err}");
}
