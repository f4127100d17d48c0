//! Post-training quantization of whole trained models, assembled by hand
//! from `kiln::quant` layers: the digits MLP (`examples/digits.rs`) and
//! the text classifier (`examples/text_classifier.rs`, on a larger data
//! set drawn from the same rule). Each is trained in f32, calibrated on
//! training samples, quantized, and its held-out accuracy must be within
//! 1 point of the f32 model's; `predict_one` of the quantized model
//! allocates nothing.

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

#[path = "../examples/common/tutorial_text.rs"]
#[allow(dead_code)]
mod tutorial_text;

use kiln::data::{read_csv, train_test_split, StandardScaler};
use kiln::layers::Layer;
use kiln::prelude::*;
use kiln::quant::{ActivationRange, QDense, QEmbedding, QLstm, QPath};
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

/// The digits MLP in int8.
struct QDigits {
    hidden: QDense<64, 64>,
    probs: QDense<64, 10>,
}

impl QDigits {
    /// Calibrates each layer's input range on `samples` through the f32 network.
    fn quantize(net: &DigitsNet, samples: &[[f32; 64]]) -> kiln::Result<Self> {
        let (mut r1, mut r2) = (ActivationRange::default(), ActivationRange::default());
        let mut h = [0.0; 64];
        for x in samples {
            r1.observe(x);
            net.dense.forward_one(x, &mut h);
            r2.observe(&h);
        }
        Ok(QDigits {
            hidden: QDense::quantize(&net.dense, r1.params()?)?,
            probs: QDense::quantize(&net.dense_1, r2.params()?)?,
        })
    }

    fn predict_one(&self, x: &[f32; 64]) -> [f32; 10] {
        let (mut h, mut y) = ([0.0; 64], [0.0; 10]);
        self.hidden.forward_one(x, &mut h);
        self.probs.forward_one(&h, &mut y);
        y
    }
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &p)| if p > v[best] { i } else { best })
}

#[test]
fn quantized_digits_mlp_is_within_one_point_of_f32() {
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
    let net = model.network();

    // Calibrate on 300 training samples.
    let q = QDigits::quantize(net, &x_train[..300]).unwrap();
    let accuracy = |predict: &dyn Fn(&[f32; 64]) -> usize| {
        x_test.iter().zip(&y_test).filter(|(x, &y)| predict(x) == y as usize).count() as f64 / x_test.len() as f64
    };
    let f32_acc = accuracy(&|x| argmax(&net.predict_one(x)));
    for path in QPath::ALL.into_iter().filter(|p| p.supported()) {
        kiln::simd::with_isa(path.isa(), || {
            let int8_acc = accuracy(&|x| argmax(&q.predict_one(x)));
            eprintln!("digits ({path}): f32 {:.2}%, int8 {:.2}%", 100.0 * f32_acc, 100.0 * int8_acc);
            assert!(f32_acc > 0.9, "the f32 model learned ({f32_acc})");
            assert!((int8_acc - f32_acc).abs() <= 0.01, "{path}: int8 {int8_acc} vs f32 {f32_acc}");
            let (calls, _) = support::allocations(|| q.predict_one(&x_test[0]));
            assert_eq!(calls, 0);
        });
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

/// The text classifier in int8.
struct QText {
    embedded: QEmbedding<4, 64, 16>,
    encoding: QLstm<64, 64, 16, false>,
    prob: QDense<64, 1>,
}

impl QText {
    fn quantize(net: &TextClassifier, samples: &[[u32; 16]]) -> kiln::Result<Self> {
        let (mut r_e, mut r_h) = (ActivationRange::default(), ActivationRange::default());
        let (mut e, mut h) = ([0.0; 16 * 64], [0.0; 64]);
        for x in samples {
            net.embedding.forward_one(x, &mut e);
            r_e.observe(&e);
            net.lstm.forward_one(&e, &mut h);
            r_h.observe(&h);
        }
        Ok(QText {
            embedded: QEmbedding::quantize(&net.embedding)?,
            encoding: QLstm::quantize(&net.lstm, r_e.params()?)?,
            prob: QDense::quantize(&net.dense, r_h.params()?)?,
        })
    }

    fn predict_one(&self, x: &[u32; 16]) -> kiln::Result<[f32; 1]> {
        self.embedded.check_ids(x)?;
        let (mut e, mut h, mut y) = ([0.0; 16 * 64], [0.0; 64], [0.0; 1]);
        self.embedded.forward_one(x, &mut e);
        self.encoding.forward_one(&e, &mut h);
        self.prob.forward_one(&h, &mut y);
        Ok(y)
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
fn quantized_text_classifier_is_within_one_point_of_f32() {
    let (x_train, y_train) = texts(1000, 1);
    let (x_test, y_test) = texts(1000, 2);
    let mut model = TextClassifier::new(0).compile(Adam::new(0.01), BinaryCrossentropy, &[Metric::BinaryAccuracy]);
    model.set_shuffle_seed(0);
    model.fit(&x_train, &y_train).epochs(8).batch_size(32).verbose(0).run().unwrap();
    let net = model.network();
    let q = QText::quantize(net, &x_train[..200]).unwrap();
    let accuracy = |predict: &dyn Fn(&[u32; 16]) -> f32| {
        x_test.iter().zip(&y_test).filter(|(x, y)| (predict(x) > 0.5) == (y[0] > 0.5)).count() as f64
            / x_test.len() as f64
    };
    let f32_acc = accuracy(&|x| net.predict_one(x).unwrap()[0]);
    for path in QPath::ALL.into_iter().filter(|p| p.supported()) {
        kiln::simd::with_isa(path.isa(), || {
            let int8_acc = accuracy(&|x| q.predict_one(x).unwrap()[0]);
            eprintln!("text ({path}): f32 {:.2}%, int8 {:.2}%", 100.0 * f32_acc, 100.0 * int8_acc);
            assert!(f32_acc > 0.85, "the f32 model learned ({f32_acc})");
            assert!((int8_acc - f32_acc).abs() <= 0.01, "{path}: int8 {int8_acc} vs f32 {f32_acc}");
            let (calls, _) = support::allocations(|| q.predict_one(&x_test[0]).unwrap());
            assert_eq!(calls, 0);
        });
    }
    // An out-of-vocabulary id is a typed error, not a panic.
    let mut bad = x_test[0];
    bad[3] = 9;
    assert!(matches!(q.predict_one(&bad), Err(kiln::Error::IdOutOfRange { id: 9, .. })));
}
