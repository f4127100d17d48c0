//! Weights compiled into the binary (`model! { struct M embed "…" { … } }`):
//! the embedded `predict_one` against Keras's predictions and against
//! kiln's normal `predict_one` with the same weights loaded from the same
//! file, zero heap allocations, and the weights read in place from the
//! binary's data (their addresses inside the static, not on the heap).

use kiln::network::Network;

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

#[allow(clippy::excessive_precision)]
mod expected {
    include!("fixtures/embedded/expected.rs");
}

const DIGITS_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/embedded/digits.safetensors");
const TEXT_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/embedded/text.safetensors");

kiln::model! {
    /// The digits MLP with its weights compiled in.
    struct DigitsEmbedded embed "tests/fixtures/embedded/digits.safetensors" {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

kiln::model! {
    /// The same MLP on kiln's runtime.
    struct Digits {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

kiln::model! {
    /// Embedding → LSTM (sequences) → GRU, beside the mean embedding → Dense.
    struct TextEmbedded embed "tests/fixtures/embedded/text.safetensors" {
        input tokens: [u32; 10];
        let e = Embedding(50, 8)(tokens);
        let s = LSTM(12, return_sequences = true)(e);
        let g = GRU(6)(s);
        let m = GlobalAveragePooling1D()(e);
        let c = concatenate([g, m]);
        let p = Dense(1, activation = sigmoid)(c);
        output p;
    }
}

kiln::model! {
    /// The same text model on kiln's runtime.
    struct Text {
        input tokens: [u32; 10];
        let e = Embedding(50, 8)(tokens);
        let s = LSTM(12, return_sequences = true)(e);
        let g = GRU(6)(s);
        let m = GlobalAveragePooling1D()(e);
        let c = concatenate([g, m]);
        let p = Dense(1, activation = sigmoid)(c);
        output p;
    }
}

#[allow(clippy::excessive_precision)]
mod expected_conv {
    include!("fixtures/embedded/expected_conv.rs");
}

/// The 2-D convolutional model of `tests/fixtures/embedded.py`: `valid`
/// and `same` padding, a stride, pooling of both kinds, no bias.
macro_rules! conv2d_model {
    ($name:ident $($embed:tt)*) => {
        kiln::model! {
            struct $name $($embed)* {
                input image: [f32; 9, 9, 2];
                let x = Conv2D(4, 3, activation = relu)(image);
                let x = MaxPooling2D(2, padding = "same")(x);
                let x = Conv2D(5, (2, 3), strides = (1, 2), padding = "same", activation = tanh, use_bias = false)(x);
                let x = AveragePooling2D(2, strides = 1, padding = "same")(x);
                let x = Flatten()(x);
                let p = Dense(3, activation = softmax)(x);
                output p;
            }
        }
    };
}
conv2d_model!(Conv2dEmbedded embed "tests/fixtures/embedded/conv2d.safetensors");
conv2d_model!(Conv2dNet);

/// The 1-D one: dilation with `same` padding, a stride, both poolings.
macro_rules! conv1d_model {
    ($name:ident $($embed:tt)*) => {
        kiln::model! {
            struct $name $($embed)* {
                input seq: [f32; 12, 3];
                let y = Conv1D(4, 3, dilation_rate = 2, padding = "same", activation = relu)(seq);
                let y = MaxPooling1D(2)(y);
                let y = Conv1D(3, 2, strides = 2)(y);
                let y = AveragePooling1D(2, strides = 1)(y);
                let y = Flatten()(y);
                let q = Dense(1, activation = sigmoid)(y);
                output q;
            }
        }
    };
}
conv1d_model!(Conv1dEmbedded embed "tests/fixtures/embedded/conv1d.safetensors");
conv1d_model!(Conv1dNet);

#[allow(clippy::excessive_precision)]
mod expected_norm {
    include!("fixtures/embedded/expected_norm.rs");
}

/// The normalization model of `tests/fixtures/embedded.py`:
/// BatchNormalization with a non-default epsilon, over the rows' axis
/// (`axis = 1`) without beta and after a Dense without gamma;
/// LayerNormalization over the last axis and over the columns' axis
/// (`axis = 2`) without gamma; random moving statistics.
macro_rules! norm_model {
    ($name:ident $($embed:tt)*) => {
        kiln::model! {
            struct $name $($embed)* {
                input image: [f32; 7, 7, 2];
                let x = Conv2D(4, 3)(image);
                let x = BatchNormalization(epsilon = 0.01)(x);
                let x = Activation(relu)(x);
                let x = BatchNormalization(axis = 1, center = false, epsilon = 1e-5)(x);
                let x = LayerNormalization(epsilon = 1e-4)(x);
                let x = LayerNormalization(axis = 2, scale = false)(x);
                let x = Flatten()(x);
                let x = Dense(8)(x);
                let x = BatchNormalization(scale = false)(x);
                let p = Dense(3, activation = softmax)(x);
                output p;
            }
        }
    };
}
norm_model!(NormEmbedded embed "tests/fixtures/embedded/norm.safetensors");
norm_model!(NormNet);

fn norm_samples() -> impl Iterator<Item = [[[f32; 2]; 7]; 7]> {
    expected_norm::NORM_X.chunks_exact(98).map(|c| {
        let mut x = [[[0.0; 2]; 7]; 7];
        kiln_infer::flat_mut(&mut x).copy_from_slice(c);
        x
    })
}

fn conv2d_samples() -> impl Iterator<Item = [[[f32; 2]; 9]; 9]> {
    expected_conv::CONV2D_X.chunks_exact(162).map(|c| {
        let mut x = [[[0.0; 2]; 9]; 9];
        kiln_infer::flat_mut(&mut x).copy_from_slice(c);
        x
    })
}

fn conv1d_samples() -> impl Iterator<Item = [[f32; 3]; 12]> {
    expected_conv::CONV1D_X.chunks_exact(36).map(|c| {
        let mut x = [[0.0; 3]; 12];
        kiln_infer::flat_mut(&mut x).copy_from_slice(c);
        x
    })
}

fn digits_samples() -> impl Iterator<Item = [f32; 64]> {
    expected::DIGITS_X.chunks_exact(64).map(|c| c.try_into().unwrap())
}

fn text_samples() -> impl Iterator<Item = [u32; 10]> {
    expected::TEXT_IDS.chunks_exact(10).map(|c| c.try_into().unwrap())
}

/// `|a − b| ≤ rel·max(|a|, |b|)` (plus 1e-9 for values that round to
/// zero): relative, so a 0.1% error fails even on a small probability.
///
/// Why not bit for bit: on CPUs with FMA (AVX2, AVX-512) kiln's runtime
/// fuses each multiply–add of its matrix–vector products, while the
/// portable `no_std` kernel (built without target features) rounds the
/// product and the sum separately; the order of the sums is the same. The
/// digits logits reach |z| ≈ 20, where one ulp is 2e-6, and softmax turns
/// a logit's absolute error into its probability's relative error: the
/// largest difference measured is 3.7e-6 relative, so the bound is 1e-5.
fn close(a: f32, b: f32, rel: f32) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-9
}

#[test]
fn digits_predictions_match_keras_and_kiln_runtime() {
    let mut runtime = Digits::new(0);
    runtime.load_weights(DIGITS_FILE).unwrap();
    let mut correct = 0;
    for (k, x) in digits_samples().enumerate() {
        let embedded = DigitsEmbedded.predict_one(&x);
        let normal = runtime.predict_one(&x);
        let keras = &expected::DIGITS_KERAS[k * 10..(k + 1) * 10];
        for j in 0..10 {
            // Same kernel order as the runtime; see `close` for the bound.
            assert!(close(embedded[j], normal[j], 1e-5), "sample {k} class {j}: {} vs {}", embedded[j], normal[j]);
            // Keras (TensorFlow, oneDNN) sums in another order.
            assert!(close(embedded[j], keras[j], 2e-5), "sample {k} class {j}: {} vs Keras {}", embedded[j], keras[j]);
        }
        let class = (0..10).max_by(|&a, &b| embedded[a].total_cmp(&embedded[b])).unwrap();
        correct += usize::from(class as u32 == expected::DIGITS_LABELS[k]);
    }
    assert!(correct >= 6, "{correct} of 8 digits right");
}

#[test]
fn text_predictions_match_keras_and_kiln_runtime() {
    let mut runtime = Text::new(0);
    runtime.load_weights(TEXT_FILE).unwrap();
    for (k, ids) in text_samples().enumerate() {
        let embedded = TextEmbedded.predict_one(&ids).unwrap();
        let normal = runtime.predict_one(&ids).unwrap();
        let keras = expected::TEXT_KERAS[k];
        assert!(close(embedded[0], normal[0], 1e-6), "sample {k}: {} vs {}", embedded[0], normal[0]);
        assert!(close(embedded[0], keras, 1e-6), "sample {k}: {} vs Keras {keras}", embedded[0]);
    }
}

/// Bound as in `close`'s note: the runtime fuses multiply–adds (im2col +
/// SGEMM, or its direct AVX kernel) and sums the taps in another order
/// than the `no_std` kernel; Keras (oneDNN) in yet another. The largest
/// relative difference measured is ~3e-7; a 0.1% error in one tap fails.
#[test]
fn convolutional_predictions_match_keras_and_kiln_runtime() {
    let mut runtime = Conv2dNet::new(0);
    runtime.load_weights(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/embedded/conv2d.safetensors")).unwrap();
    for (k, x) in conv2d_samples().enumerate() {
        let (embedded, normal) = (Conv2dEmbedded.predict_one(&x), runtime.predict_one(&x));
        let keras = &expected_conv::CONV2D_KERAS[k * 3..(k + 1) * 3];
        for j in 0..3 {
            assert!(close(embedded[j], normal[j], 1e-5), "2-D sample {k} class {j}: {} vs {}", embedded[j], normal[j]);
            assert!(
                close(embedded[j], keras[j], 1e-5),
                "2-D sample {k} class {j}: {} vs Keras {}",
                embedded[j],
                keras[j]
            );
        }
    }
    let mut runtime = Conv1dNet::new(0);
    runtime.load_weights(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/embedded/conv1d.safetensors")).unwrap();
    for (k, x) in conv1d_samples().enumerate() {
        let (embedded, normal) = (Conv1dEmbedded.predict_one(&x)[0], runtime.predict_one(&x)[0]);
        let keras = expected_conv::CONV1D_KERAS[k];
        assert!(close(embedded, normal, 1e-5), "1-D sample {k}: {embedded} vs {normal}");
        assert!(close(embedded, keras, 1e-5), "1-D sample {k}: {embedded} vs Keras {keras}");
    }
}

/// The normalizations compute what the runtime's do, in its order
/// (`x·inv + (β − mean·inv)`, LayerNormalization's statistics summed in
/// f64); the differences left come from the Conv2D and Dense kernels (see
/// `close`) and, against Keras, from TensorFlow's float32 moments. Largest
/// relative difference measured: 3.2e-6 against the runtime, 4.3e-6
/// against Keras; a kernel without epsilon fails here.
#[test]
fn normalization_predictions_match_keras_and_kiln_runtime() {
    let mut runtime = NormNet::new(0);
    runtime.load_weights(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/embedded/norm.safetensors")).unwrap();
    let mut count = 0;
    for (k, x) in norm_samples().enumerate() {
        let (embedded, normal) = (NormEmbedded.predict_one(&x), runtime.predict_one(&x));
        let keras = &expected_norm::NORM_KERAS[k * 3..(k + 1) * 3];
        for j in 0..3 {
            assert!(close(embedded[j], normal[j], 1e-5), "sample {k} class {j}: {} vs {}", embedded[j], normal[j]);
            assert!(close(embedded[j], keras[j], 1e-5), "sample {k} class {j}: {} vs Keras {}", embedded[j], keras[j]);
        }
        count += 1;
    }
    assert_eq!(count, 4);
    // The compiled-in tensors: gamma absent where `scale = false`, beta where `center = false`.
    assert!(NormEmbedded::weight("batch_normalization_1/beta").is_none());
    assert!(NormEmbedded::weight("layer_normalization_1/gamma").is_none());
    assert_eq!(NormEmbedded::weight("batch_normalization_2/moving_variance").map(<[f32]>::len), Some(8));
}

/// The runtime's `BatchNormalization` / `LayerNormalization` with the
/// model's settings and its compiled-in weights, one sample through its
/// `forward_one` and through the kernel: the same bits.
fn same_bits_as_the_runtime<const N: usize, const C: usize>(
    name: &str,
    (outer, inner): (usize, usize),
    (epsilon, center, scale): (f64, bool, bool),
    batch: bool,
) {
    use kiln::layers::{
        BatchNormalization, BatchNormalizationConfig, Layer, LayerNormalization, LayerNormalizationConfig,
    };
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let w = |tensor: &str| NormEmbedded::weight(&format!("{name}/{tensor}"));
    let set = |p: Option<&mut kiln::param::Param>, tensor: &str| {
        if let Some(p) = p {
            p.value.copy_from_slice(w(tensor).unwrap());
        }
    };
    // A sample spread over [-2.5, 3.5], from the fixture's inputs.
    let x: [f32; N] = std::array::from_fn(|i| expected_norm::NORM_X[i] * 3.0 + 0.5);
    let mut want = [0.0f32; N];
    let mut got = [0.0f32; N];
    let norm =
        kiln_infer::Normalization { channels: C, inner, gamma: w("gamma"), beta: w("beta"), epsilon: epsilon as f32 };
    if batch {
        let config = BatchNormalizationConfig { epsilon, center, scale, ..Default::default() };
        let mut layer = BatchNormalization::<N, C>::new(config, outer, inner, &mut rng).unwrap();
        set(layer.gamma.as_mut(), "gamma");
        set(layer.beta.as_mut(), "beta");
        set(Some(&mut layer.moving_mean), "moving_mean");
        set(Some(&mut layer.moving_variance), "moving_variance");
        layer.forward_one(&x, &mut want);
        let (mean, variance) = (w("moving_mean").unwrap(), w("moving_variance").unwrap());
        kiln_infer::batch_normalization(&x, &norm, mean, variance, &mut got);
    } else {
        let config = LayerNormalizationConfig { epsilon, center, scale, ..Default::default() };
        let mut layer = LayerNormalization::<N, C>::new(config, outer, inner, &mut rng).unwrap();
        set(layer.gamma.as_mut(), "gamma");
        set(layer.beta.as_mut(), "beta");
        layer.forward_one(&x, &mut want);
        kiln_infer::layer_normalization(&x, &norm, &mut got);
    }
    assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{name}: {got:?} vs {want:?}");
}

/// Each normalization of the model on its own, as its `model!` line
/// configures it: the kernels follow the runtime's operations exactly.
#[test]
fn normalization_kernels_equal_the_runtime_layers_bit_for_bit() {
    same_bits_as_the_runtime::<100, 4>("batch_normalization", (25, 1), (0.01, true, true), true);
    same_bits_as_the_runtime::<100, 5>("batch_normalization_1", (1, 20), (1e-5, false, true), true);
    same_bits_as_the_runtime::<100, 4>("layer_normalization", (25, 1), (1e-4, true, true), false);
    same_bits_as_the_runtime::<100, 5>("layer_normalization_1", (5, 4), (1e-3, true, false), false);
    same_bits_as_the_runtime::<8, 8>("batch_normalization_2", (1, 1), (1e-3, true, false), true);
}

#[test]
fn an_id_beyond_input_dim_is_an_error() {
    let mut ids = [1u32; 10];
    ids[3] = 50;
    let error = TextEmbedded.predict_one(&ids).unwrap_err();
    assert_eq!(error, kiln_infer::IdOutOfRange { position: 3, id: 50, input_dim: 50 });
    assert!(error.to_string().contains("input_dim 50"), "{error}");
}

#[test]
fn embedded_predict_one_allocates_nothing() {
    let x = digits_samples().next().unwrap();
    let ids = text_samples().next().unwrap();
    let (image, seq) = (conv2d_samples().next().unwrap(), conv1d_samples().next().unwrap());
    let normed = norm_samples().next().unwrap();
    // The first call too: nothing is set up lazily.
    let (calls, _) = support::allocations(|| {
        let mut sum = 0.0;
        for _ in 0..10 {
            sum += DigitsEmbedded.predict_one(std::hint::black_box(&x))[0];
            sum += TextEmbedded.predict_one(std::hint::black_box(&ids)).unwrap()[0];
            sum += Conv2dEmbedded.predict_one(std::hint::black_box(&image))[0];
            sum += Conv1dEmbedded.predict_one(std::hint::black_box(&seq))[0];
            sum += NormEmbedded.predict_one(std::hint::black_box(&normed))[0];
        }
        sum
    });
    assert_eq!(calls, 0, "embedded predict_one allocated {calls} times");
}

/// Whether `inner` lies within `outer` (addresses).
fn within<T, U>(inner: &[T], outer: &[U]) -> bool {
    let (o0, o1) = (outer.as_ptr() as usize, outer.as_ptr() as usize + std::mem::size_of_val(outer));
    let (i0, i1) = (inner.as_ptr() as usize, inner.as_ptr() as usize + std::mem::size_of_val(inner));
    o0 <= i0 && i1 <= o1
}

#[test]
fn weights_are_read_in_place_from_the_binary() {
    let bytes = DigitsEmbedded::weights_bytes();
    // The static holds the file's bytes, 64-byte aligned.
    assert_eq!(bytes, std::fs::read(DIGITS_FILE).unwrap().as_slice());
    assert_eq!(bytes.as_ptr() as usize % 64, 0);
    // Every slice predict_one reads lies inside the static, and the static
    // is not on the heap: a fresh heap block is elsewhere, and two calls
    // give the same address (no per-call copy).
    let heap = vec![0u8; 1 << 16];
    assert!(!within(bytes, &heap) && !within(&heap, bytes));
    assert_eq!(bytes.as_ptr(), DigitsEmbedded::weights_bytes().as_ptr());
    for (path, _, len) in DigitsEmbedded::TENSORS {
        let w = DigitsEmbedded::weight(path).unwrap();
        assert_eq!(w.len(), *len);
        assert!(within(w, bytes), "{path} is outside the compiled-in bytes");
    }
    // The values are the file's: kiln's runtime loads the same numbers.
    let mut runtime = Digits::new(0);
    runtime.load_weights(DIGITS_FILE).unwrap();
    for (name, shape, values) in support::params(&runtime) {
        let path =
            if name == "kernel" && shape == [64, 64] || name == "bias" && shape == [64] { "dense" } else { "dense_1" };
        assert_eq!(DigitsEmbedded::weight(&format!("{path}/{name}")).unwrap(), values.as_slice());
    }
    assert!(DigitsEmbedded::weight("dense/nothing").is_none());
    // The text model's weights likewise.
    let text = TextEmbedded::weights_bytes();
    for (path, _, _) in TextEmbedded::TENSORS {
        assert!(within(TextEmbedded::weight(path).unwrap(), text), "{path}");
    }
}

/// The static's address lies in the executable's mapped image (read from
/// /proc/self/maps on Linux), not in a heap or stack mapping.
#[cfg(target_os = "linux")]
#[test]
fn the_weights_address_is_in_the_executables_image() {
    let exe = std::fs::read_link("/proc/self/exe").unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let at = DigitsEmbedded::weights_bytes().as_ptr() as usize;
    let line = maps
        .lines()
        .find(|line| {
            let range = line.split_whitespace().next().unwrap();
            let (a, b) = range.split_once('-').unwrap();
            let (a, b) = (usize::from_str_radix(a, 16).unwrap(), usize::from_str_radix(b, 16).unwrap());
            a <= at && at < b
        })
        .expect("the address is mapped");
    assert!(line.ends_with(exe.to_str().unwrap()), "weights at {at:#x} are mapped as `{line}`, not from {exe:?}");
}

/// Nanoseconds per call of `f`: the median of 7 runs of `n` calls.
fn ns_per_call(n: u32, mut f: impl FnMut() -> f32) -> f64 {
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let start = std::time::Instant::now();
            let mut sink = 0.0;
            for _ in 0..n {
                sink += f();
            }
            std::hint::black_box(sink);
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[3]
}

/// The embedded `predict_one` against the runtime's, same run (a
/// measurement, not a check):
/// `cargo test --release --test embedded -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; run with --ignored --nocapture"]
fn speed_against_the_runtime() {
    let mut digits = Digits::new(0);
    digits.load_weights(DIGITS_FILE).unwrap();
    let mut text = Text::new(0);
    text.load_weights(TEXT_FILE).unwrap();
    let x = digits_samples().next().unwrap();
    let ids = text_samples().next().unwrap();
    let de = ns_per_call(20_000, || DigitsEmbedded.predict_one(std::hint::black_box(&x))[0]);
    let dr = ns_per_call(20_000, || digits.predict_one(std::hint::black_box(&x))[0]);
    let te = ns_per_call(5_000, || TextEmbedded.predict_one(std::hint::black_box(&ids)).unwrap()[0]);
    let tr = ns_per_call(5_000, || text.predict_one(std::hint::black_box(&ids)).unwrap()[0]);
    println!("digits MLP:  embedded {de:.0} ns, runtime {dr:.0} ns, ratio {:.2}", de / dr);
    println!("text model:  embedded {te:.0} ns, runtime {tr:.0} ns, ratio {:.2}", te / tr);
}

kiln::model! {
    /// No weights (an empty file): activations, copies, reductions, merges
    /// and two outputs.
    struct OpsEmbedded embed "tests/fixtures/embedded/empty.safetensors" {
        input x: [f32; 3, 4];
        let a = Activation(tanh)(x);
        let d = Dropout(0.5)(a);
        let f = Flatten()(d);
        let r = Reshape((4, 3))(f);
        let s = reduce_sum(r, axis = 1);
        let m = reduce_mean(x, axis = 2);
        let mx = reduce_max(x, axis = -1);
        let g = GlobalMaxPooling1D()(x);
        let sum = add([m, mx]);
        let diff = subtract([m, mx]);
        let prod = multiply([m, mx]);
        let avg = average([m, mx, sum]);
        let hi = maximum([m, diff]);
        let lo = minimum([m, diff]);
        let c = concatenate([s, sum, diff, prod, avg, hi, lo, g]);
        let y = Activation(softmax)(c);
        output y, c;
    }
}

kiln::model! {
    /// The same on kiln's runtime.
    struct Ops {
        input x: [f32; 3, 4];
        let a = Activation(tanh)(x);
        let d = Dropout(0.5)(a);
        let f = Flatten()(d);
        let r = Reshape((4, 3))(f);
        let s = reduce_sum(r, axis = 1);
        let m = reduce_mean(x, axis = 2);
        let mx = reduce_max(x, axis = -1);
        let g = GlobalMaxPooling1D()(x);
        let sum = add([m, mx]);
        let diff = subtract([m, mx]);
        let prod = multiply([m, mx]);
        let avg = average([m, mx, sum]);
        let hi = maximum([m, diff]);
        let lo = minimum([m, diff]);
        let c = concatenate([s, sum, diff, prod, avg, hi, lo, g]);
        let y = Activation(softmax)(c);
        output y, c;
    }
}

#[test]
fn parameter_free_layers_match_the_runtime_and_hand_values() {
    let x = [[0.5, -1.0, 2.0, 0.0], [1.5, 1.0, -0.5, 3.0], [-2.0, 0.25, 1.0, 0.75]];
    let (y, c) = OpsEmbedded.predict_one(&x);
    let (ry, rc) = Ops::new(0).predict_one(&x);
    for j in 0..c.len() {
        assert!(close(c[j], rc[j], 1e-6), "c[{j}]: {} vs {}", c[j], rc[j]);
        assert!(close(y[j], ry[j], 1e-6), "y[{j}]: {} vs {}", y[j], ry[j]);
    }
    // By hand: means of the rows 0.375, 1.25, 0.0; maxima 2, 3, 1;
    // GlobalMaxPooling1D over the rows 1.5, 1, 2, 3.
    let (m, mx) = ([0.375f32, 1.25, 0.0], [2.0f32, 3.0, 1.0]);
    for i in 0..3 {
        assert_eq!(c[3 + i], m[i] + mx[i]);
        assert_eq!(c[6 + i], m[i] - mx[i]);
        assert_eq!(c[9 + i], m[i] * mx[i]);
        assert!(close(c[12 + i], (m[i] + mx[i] + (m[i] + mx[i])) / 3.0, 1e-6));
        assert_eq!(c[15 + i], m[i].max(m[i] - mx[i]));
        assert_eq!(c[18 + i], m[i].min(m[i] - mx[i]));
    }
    assert_eq!(c[21..], [1.5, 1.0, 2.0, 3.0]);
    // reduce_sum over the Reshape((4, 3)) rows of tanh(x): columns of that view.
    let t: Vec<f64> = x.iter().flatten().map(|&v| f64::from(v).tanh()).collect();
    for k in 0..3 {
        let exact: f64 = (0..4).map(|row| t[row * 3 + k]).sum();
        assert!((f64::from(c[k]) - exact).abs() < 1e-6, "s[{k}] {} vs {exact}", c[k]);
    }
    let total: f64 = c.iter().map(|&v| f64::from(v).exp()).sum();
    assert!((f64::from(y[0]) - f64::from(c[0]).exp() / total).abs() < 1e-7);
}
