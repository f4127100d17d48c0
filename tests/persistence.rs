//! Weights files and checkpoints (issue 10): Keras's tensor names, round
//! trips for every layer kind, exact resume, a typed error for every kind
//! of bad file, and a model left untouched by a failed load.

use kiln::io::{load_weights_from_bytes, weights_to_bytes, FileProblem, TensorFile};
use kiln::prelude::*;
use kiln::Error;
use std::path::PathBuf;

kiln::model! {
    struct Paths {
        input ids: [u32; 16];
        input extra: [f32; 5];
        let e = Embedding(4, 8)(ids);
        let l = LSTM(4, return_sequences = true)(e);
        let g = GRU(3)(l);
        let s = SimpleRNN(2)(l);
        let c = concatenate([g, s, extra]);
        let d = Dense(1, activation = sigmoid)(c);
        let aux = Dense(2, name = "aux")(c);
        output d, aux;
    }
}

kiln::model! {
    struct Inner {
        input x: [f32; 8];
        let h = Dense(4, activation = tanh)(x);
        let y = Dense(3)(h);
        output y;
    }
}

kiln::model! {
    struct Outer {
        input steps: [f32; 6, 8];
        let per_step = TimeDistributed(Dense(5, activation = relu))(steps);
        let inner: [6, 3] = custom(kiln::layers::TimeDistributed::<Inner, 6>::new(Inner::new(1)))(steps);
        let both = concatenate([per_step, inner], axis = 2);
        let flat = Flatten()(both);
        let p = Dense(2, activation = softmax)(flat);
        output p;
    }
}

kiln::model! {
    struct Mlp {
        input x: [f32; 4];
        let h = Dense(16, activation = relu)(x);
        let p = Dense(3, activation = softmax)(h);
        output p;
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-persistence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn values<N: Network>(net: &N) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    net.params(&mut |p| out.push(p.value.to_vec()));
    out
}

/// Keras 3.15.1's `model.weights[i].path` for the same model
/// (tests/fixtures/keras_paths.py prints them).
#[test]
fn tensors_are_named_by_keras_variable_paths() {
    let expected = [
        ("embedding/embeddings", vec![4, 8]),
        ("lstm/lstm_cell/kernel", vec![8, 16]),
        ("lstm/lstm_cell/recurrent_kernel", vec![4, 16]),
        ("lstm/lstm_cell/bias", vec![16]),
        ("gru/gru_cell/kernel", vec![4, 9]),
        ("gru/gru_cell/recurrent_kernel", vec![3, 9]),
        ("gru/gru_cell/bias", vec![2, 9]),
        ("simple_rnn/simple_rnn_cell/kernel", vec![4, 2]),
        ("simple_rnn/simple_rnn_cell/recurrent_kernel", vec![2, 2]),
        ("simple_rnn/simple_rnn_cell/bias", vec![2]),
        ("dense/kernel", vec![10, 1]),
        ("dense/bias", vec![1]),
        ("aux/kernel", vec![10, 2]),
        ("aux/bias", vec![2]),
    ];
    let net = Paths::new(0);
    let mut shapes = Vec::new();
    net.params(&mut |p| shapes.push(p.shape.clone()));
    let got: Vec<(String, Vec<usize>)> = net.param_paths().into_iter().zip(shapes).collect();
    let want: Vec<(String, Vec<usize>)> = expected.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted);
    let file = TensorFile::parse(&weights_to_bytes(&net).unwrap(), "kiln.weights", "1").unwrap();
    assert_eq!(
        file.tensors.keys().cloned().collect::<Vec<_>>(),
        want_sorted.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn every_layer_kind_round_trips_bitwise() {
    // Embedding, LSTM, GRU, SimpleRNN, concatenate, Dense, two outputs.
    let trained = Paths::new(1);
    let path = temp("paths.safetensors");
    trained.save_weights(&path).unwrap();
    let mut fresh = Paths::new(2);
    assert_ne!(values(&fresh), values(&trained));
    fresh.load_weights(&path).unwrap();
    assert_eq!(values(&fresh), values(&trained));
    let ids: [u32; 16] = std::array::from_fn(|i| (i % 4) as u32);
    let extra = [0.5, -1.0, 0.25, 2.0, 0.0];
    let (a, b) = (trained.predict_one(&ids, &extra).unwrap(), fresh.predict_one(&ids, &extra).unwrap());
    assert_eq!(a, b);

    // TimeDistributed of a layer and of a nested model, Flatten, softmax.
    let trained = Outer::new(3);
    let paths = trained.param_paths();
    assert!(paths.contains(&"time_distributed_1/dense/kernel".to_string()), "{paths:?}");
    let path = temp("outer.safetensors");
    trained.save_weights(&path).unwrap();
    let mut fresh = Outer::new(4);
    fresh.load_weights(&path).unwrap();
    assert_eq!(values(&fresh), values(&trained));
    let x: [[f32; 8]; 6] = std::array::from_fn(|t| std::array::from_fn(|i| (t * 8 + i) as f32 / 48.0 - 0.5));
    assert_eq!(trained.predict_one(&x), fresh.predict_one(&x));
}

fn mlp_data() -> (Vec<[f32; 4]>, Vec<u32>) {
    let x: Vec<[f32; 4]> =
        (0..96).map(|i| std::array::from_fn(|j| ((i * 7 + j * 13) % 17) as f32 / 8.0 - 1.0)).collect();
    let y = x
        .iter()
        .map(|v| {
            if v[0] + v[1] > 0.0 {
                0
            } else if v[2] > 0.0 {
                1
            } else {
                2
            }
        })
        .collect();
    (x, y)
}

/// Four epochs, a checkpoint, a fresh model loading it and four more epochs
/// give the losses and weights of eight uninterrupted epochs, bit for bit.
#[test]
fn training_resumes_exactly_from_a_checkpoint() {
    let (x, y) = mlp_data();
    let compile = |seed| Mlp::new(seed).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    let mut straight = compile(5);
    let full = straight.fit(&x, &y).epochs(8).batch_size(10).verbose(0).run().unwrap();

    let mut first = compile(5);
    let head = first.fit(&x, &y).epochs(4).batch_size(10).verbose(0).run().unwrap();
    assert_eq!(first.epoch(), 4);
    let path = temp("resume.ckpt");
    first.save(&path).unwrap();
    drop(first);

    let mut second = compile(99); // other initial weights: all must come from the file
    second.load(&path).unwrap();
    assert_eq!(second.epoch(), 4);
    let resume_at = second.epoch();
    let tail = second.fit(&x, &y).initial_epoch(resume_at).epochs(8).batch_size(10).verbose(0).run().unwrap();
    let mut losses = head.get("loss").unwrap().to_vec();
    losses.extend_from_slice(tail.get("loss").unwrap());
    assert_eq!(losses, full.get("loss").unwrap());
    assert_eq!(values(second.network()), values(straight.network()));
    assert_eq!(second.optimizer().iterations(), straight.optimizer().iterations());
}

fn file_problem(result: kiln::Result<()>) -> FileProblem {
    match result {
        Err(Error::File { problem, .. }) => problem,
        other => panic!("expected a file problem, got {other:?}"),
    }
}

/// Recognizes the problem a bad file must cause.
type Expect = Box<dyn Fn(&FileProblem) -> bool>;

/// Each kind of bad weights file gives its own typed error naming the
/// tensor and both shapes, and leaves the model as it was.
#[test]
fn bad_weights_files_are_typed_errors_and_change_nothing() {
    let source = Mlp::new(1);
    let good = weights_to_bytes(&source).unwrap();
    let parse = |bytes: &[u8]| TensorFile::parse(bytes, "kiln.weights", "1").unwrap();
    let edit = |f: &dyn Fn(&mut TensorFile)| {
        let mut file = parse(&good);
        f(&mut file);
        file.to_bytes().unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "missing tensor",
            edit(&|f| {
                f.tensors.remove("dense_1/bias");
            }),
            Box::new(
                |p| matches!(p, FileProblem::MissingTensor { tensor, expected } if tensor == "dense_1/bias" && expected == &[3]),
            ),
        ),
        (
            "renamed tensor",
            edit(&|f| {
                let t = f.tensors.remove("dense/kernel").unwrap();
                f.tensors.insert("dense/kernal".into(), t);
            }),
            Box::new(|p| matches!(p, FileProblem::MissingTensor { tensor, .. } if tensor == "dense/kernel")),
        ),
        (
            "extra tensor",
            edit(&|f| {
                f.tensors.insert("dense_9/kernel".into(), (vec![2], vec![0.0, 1.0]));
            }),
            Box::new(
                |p| matches!(p, FileProblem::UnexpectedTensor { tensor, found } if tensor == "dense_9/kernel" && found == &[2]),
            ),
        ),
        (
            "wrong shape",
            edit(&|f| {
                f.tensors.insert("dense/kernel".into(), (vec![16, 4], vec![0.0; 64]));
            }),
            Box::new(|p| {
                matches!(p, FileProblem::Shape { tensor, expected, found }
                    if tensor == "dense/kernel" && expected == &[4, 16] && found == &[16, 4])
            }),
        ),
        (
            "wrong version",
            edit(&|f| {
                f.metadata.insert("format_version".into(), "7".into());
            }),
            Box::new(|p| matches!(p, FileProblem::Version { found, .. } if found == "7")),
        ),
        (
            "not a kiln file",
            edit(&|f| {
                f.metadata.remove("format");
            }),
            Box::new(|p| matches!(p, FileProblem::Format { found, .. } if found.is_empty())),
        ),
        ("truncated", good[..good.len() - 5].to_vec(), Box::new(|p| matches!(p, FileProblem::Corrupt(_)))),
        ("empty", Vec::new(), Box::new(|p| matches!(p, FileProblem::Corrupt(_)))),
        (
            "garbage header",
            {
                let mut b = good.clone();
                b[9] = b'}';
                b
            },
            Box::new(|p| matches!(p, FileProblem::Corrupt(_))),
        ),
    ];
    for (what, bytes, expected) in cases {
        let mut target = Mlp::new(2);
        let before = values(&target);
        let problem = load_weights_from_bytes(&mut target, &bytes).unwrap_err();
        assert!(expected(&problem), "{what}: {problem:?}");
        assert!(!problem.to_string().is_empty());
        assert_eq!(values(&target), before, "{what}: the model changed");
    }

    // A dtype other than F32, the file assembled by hand: the header's
    // length (little-endian u64), the JSON header (padded with spaces to 8
    // bytes, as writers do), then 4 × 16 F64 values (512 bytes).
    let header = concat!(
        r#"{"__metadata__":{"format":"kiln.weights","format_version":"1"},"#,
        r#""dense/kernel":{"dtype":"F64","shape":[4,16],"data_offsets":[0,512]}}"#,
    );
    let header = format!("{header:<width$}", width = header.len().next_multiple_of(8));
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 512]);
    let problem = load_weights_from_bytes(&mut Mlp::new(2), &bytes).unwrap_err();
    assert!(
        matches!(&problem, FileProblem::Dtype { tensor, found } if tensor == "dense/kernel" && found == "F64"),
        "{problem:?}"
    );

    // Through the file API: the path and the tensor are named.
    let path = temp("bad.safetensors");
    std::fs::write(
        &path,
        edit(&|f| {
            f.tensors.remove("dense/bias");
        }),
    )
    .unwrap();
    let err = Mlp::new(2).load_weights(&path).unwrap_err().to_string();
    assert!(err.contains("bad.safetensors") && err.contains("dense/bias") && err.contains("[16]"), "{err}");
    let missing = Mlp::new(2).load_weights(temp("does-not-exist.safetensors")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing:?}");
}

kiln::model! {
    struct WiderMlp {
        input x: [f32; 4];
        let h = Dense(32, activation = relu)(x);
        let p = Dense(3, activation = softmax)(h);
        output p;
    }
}

#[test]
fn a_checkpoint_of_another_architecture_or_optimizer_is_rejected() {
    let (x, y) = mlp_data();
    let mut model = Mlp::new(1).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[]);
    model.fit(&x, &y).epochs(1).verbose(0).run().unwrap();
    let path = temp("arch.ckpt");
    model.save(&path).unwrap();

    let mut wider = WiderMlp::new(1).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[]);
    let before = values(wider.network());
    let problem = file_problem(wider.load(&path));
    match &problem {
        FileProblem::Architecture { index, expected, found } => {
            assert_eq!(*index, 1, "row 0 is the input");
            assert!(expected.starts_with("dense (Dense) (None, 32)"), "{expected}");
            assert!(found.starts_with("dense (Dense) (None, 16)"), "{found}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(values(wider.network()), before);

    let mut sgd = Mlp::new(1).compile(Sgd::new(0.01), SparseCategoricalCrossentropy, &[]);
    let problem = file_problem(sgd.load(&path));
    assert!(
        matches!(&problem, FileProblem::Optimizer { expected, found } if expected == "SGD" && found == "Adam"),
        "{problem:?}"
    );

    // The weights of a checkpoint load on their own.
    let mut net = Mlp::new(9);
    net.load_weights(&path).unwrap();
    assert_eq!(values(&net), values(model.network()));
}

#[allow(dead_code)]
mod keras {
    include!("fixtures/keras_weights.rs");
}

/// Weights written by Keras (tests/fixtures/keras_weights.py: each
/// variable saved under its path) load into the same kiln model, which
/// then predicts what Keras predicted.
#[test]
fn weights_from_keras_predict_what_keras_predicted() {
    let mut net = Paths::new(0);
    net.load_weights(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_weights.safetensors")).unwrap();
    for s in 0..3 {
        let ids: [u32; 16] = std::array::from_fn(|i| keras::IDS[s * 16 + i]);
        let extra: [f32; 5] = std::array::from_fn(|i| keras::EXTRA[s * 5 + i] as f32);
        let (main, aux) = net.predict_one(&ids, &extra).unwrap();
        let want = [keras::MAIN[s], keras::AUX[2 * s], keras::AUX[2 * s + 1]];
        for (got, want) in [main[0], aux[0], aux[1]].iter().zip(want) {
            assert!((*got as f64 - want).abs() < 1e-5, "sample {s}: {got} vs Keras {want}");
        }
    }
}

/// A checkpoint whose optimizer state cannot be resumed is refused at load,
/// naming the entry, and the model keeps its state. Old code: it accepted
/// each of these; `iterations = u64::MAX` then overflowed in the next step
/// (a panic with overflow checks), a wrong number of slots silently reset
/// Adam's moments to zeros, and a NaN learning rate was refused only by
/// the next `fit`; a `+` before a hexadecimal value was read as its digits.
#[test]
fn a_checkpoint_with_unresumable_optimizer_state_is_rejected() {
    let (x, y) = mlp_data();
    let mut model = Mlp::new(1).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[]);
    model.fit(&x, &y).epochs(1).verbose(0).run().unwrap();
    let good = TensorFile::parse(&model.checkpoint_bytes().unwrap(), "kiln.checkpoint", "1").unwrap();
    let load = |edit: &dyn Fn(&mut TensorFile)| {
        let mut file = good.clone();
        edit(&mut file);
        let mut fresh = Mlp::new(2).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[]);
        let before = values(fresh.network());
        let result = fresh.load_checkpoint_bytes(&file.to_bytes().unwrap());
        if result.is_err() {
            assert_eq!(values(fresh.network()), before, "a failed load changed the model");
        }
        result
    };
    let set =
        |key: &'static str, value: String| move |f: &mut TensorFile| drop(f.metadata.insert(key.into(), value.clone()));
    assert_eq!(load(&|_| {}), Ok(()));

    for (key, value) in [
        ("iterations", u64::MAX.to_string()),
        ("iterations", (i64::MAX as u64 + 1).to_string()),
        ("learning_rate_bits", f32::NAN.to_bits().to_string()),
        ("learning_rate_bits", f32::INFINITY.to_bits().to_string()),
        ("learning_rate_bits", (-0.5f32).to_bits().to_string()),
    ] {
        assert_eq!(load(&set(key, value.clone())), Err(FileProblem::Metadata { key, found: Some(value) }));
    }
    let largest = i64::MAX.to_string();
    assert_eq!(load(&set("iterations", largest)), Ok(()), "Keras's int64 range is kept");

    // Adam keeps two slots per parameter: a third, or only the first, is refused.
    let first = "optimizer/dense/kernel/".to_string();
    let third = load(&|f: &mut TensorFile| {
        let slot = f.tensors[&format!("{first}0")].clone();
        f.tensors.insert(format!("{first}2"), slot);
    });
    assert_eq!(third, Err(FileProblem::OptimizerSlots { parameter: "dense/kernel".into(), expected: 2, found: 3 }));
    let one = load(&|f: &mut TensorFile| drop(f.tensors.remove(&format!("{first}1"))));
    assert_eq!(one, Err(FileProblem::OptimizerSlots { parameter: "dense/kernel".into(), expected: 2, found: 1 }));
    assert!(third.unwrap_err().to_string().contains("`dense/kernel`"));

    // Hexadecimal entries hold hexadecimal digits only.
    let seed = good.metadata["shuffle_seed"].clone();
    let signed = format!("+{}", &seed[1..]);
    assert_eq!(
        load(&set("shuffle_seed", signed.clone())),
        Err(FileProblem::Metadata { key: "shuffle_seed", found: Some(signed) })
    );
}

/// Every optimizer resumes from its checkpoint: the file holds the slots
/// Keras keeps per variable (Adam's `momentums` and `velocities`,
/// RMSprop's `velocities`, `momentums` and `average_gradients`, …), the
/// load accepts them, and the next step equals the uninterrupted one bit
/// for bit. A checkpoint of SGD with momentum does not load into SGD
/// without it (its momentum buffer would be dropped).
#[test]
fn every_optimizer_resumes_and_a_configuration_without_its_slots_is_refused() {
    type Make = fn() -> Box<dyn Optimizer>;
    let cases: [(&str, Make, usize); 11] = [
        ("SGD", || Box::new(Sgd::new(0.05)), 0),
        ("SGD momentum", || Box::new(Sgd::new(0.05).with_momentum(0.9, true)), 1),
        ("RMSprop", || Box::new(RmsProp::new(0.01)), 1),
        ("RMSprop momentum centered", || Box::new(RmsProp::new(0.01).with_momentum(0.5).with_centered(true)), 3),
        ("Adam", || Box::new(Adam::new(0.01)), 2),
        ("AdamW", || Box::new(AdamW::new(0.01)), 2),
        ("Adamax", || Box::new(Adamax::new(0.01)), 2),
        ("Nadam", || Box::new(Nadam::new(0.01)), 2),
        ("Adagrad", || Box::new(Adagrad::new(0.05)), 1),
        ("Adadelta", || Box::new(Adadelta::new(1.0)), 2),
        ("Lion", || Box::new(Lion::new(0.001)), 1),
    ];
    let (x, y) = mlp_data();
    for (name, make, slots) in cases {
        let mut trained = Mlp::new(1).compile(make(), SparseCategoricalCrossentropy, &[]);
        trained.fit(&x, &y).epochs(1).batch_size(32).verbose(0).run().unwrap();
        let bytes = trained.checkpoint_bytes().unwrap();
        let file = TensorFile::parse(&bytes, "kiln.checkpoint", "1").unwrap();
        let held = file.tensors.keys().filter(|k| k.starts_with("optimizer/dense/kernel/")).count();
        assert_eq!(held, slots, "{name}");

        let mut resumed = Mlp::new(2).compile(make(), SparseCategoricalCrossentropy, &[]);
        resumed.load_checkpoint_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let a = trained.train_on_batch(&x[..32], &y[..32]).unwrap();
        let b = resumed.train_on_batch(&x[..32], &y[..32]).unwrap();
        assert_eq!(a.to_bits(), b.to_bits(), "{name}");
        assert_eq!(values(resumed.network()), values(trained.network()), "{name}");
    }

    let mut momentum =
        Mlp::new(1).compile(Sgd::new(0.05).with_momentum(0.9, false), SparseCategoricalCrossentropy, &[]);
    momentum.fit(&x, &y).epochs(1).verbose(0).run().unwrap();
    let mut plain = Mlp::new(2).compile(Sgd::new(0.05), SparseCategoricalCrossentropy, &[]);
    assert_eq!(
        plain.load_checkpoint_bytes(&momentum.checkpoint_bytes().unwrap()),
        Err(FileProblem::OptimizerSlots { parameter: "dense/kernel".into(), expected: 0, found: 1 })
    );
}
