//! Bad initializer arguments and sizes are errors naming the argument, not
//! panics deep inside `rand` or the arithmetic, nor silently wrong values:
//! [`Initializer::check`] / `try_fill` / `generate`, and the layer
//! constructors that draw their weights from initializers.

use std::panic::{catch_unwind, AssertUnwindSafe};

use kiln::initializers::{fans, Distribution, Initializer, Mode};
use kiln::layers::{
    BatchNormalization, BatchNormalizationConfig, Conv1d, Conv2d, ConvConfig, Dense, DenseConfig, DepthwiseConfig,
    DepthwiseConv2d, Dropout, DropoutKind, Embedding, Gru, LayerNormalization, LayerNormalizationConfig, Lstm,
    RecurrentConfig, SeparableConfig, SeparableConv1d, SimpleRnn,
};
use kiln::Error;
use rand::SeedableRng;

fn rng() -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(3)
}

/// The argument an [`Error::InvalidArgument`] names, and its reason.
fn invalid<T: std::fmt::Debug>(result: kiln::Result<T>) -> (&'static str, String) {
    match result {
        Err(Error::InvalidArgument { name, reason }) => (name, reason),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

/// The message `f` panics with (`None` when it returns).
fn panic_message(f: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    })
}

/// Old code: `check` accepted finite bounds whose difference overflows
/// f32, and `try_fill` / `generate` then panicked in `gen_range`
/// ("range overflow"). Normals whose draws overflow f32 gave infinities.
#[test]
fn uniform_width_and_normal_range_must_be_finite() {
    let wide = Initializer::RandomUniform { min: -3e38, max: 3e38 };
    let (name, reason) = invalid(wide.generate(&[4], 0));
    assert_eq!(name, "maxval");
    assert!(reason.contains(&(-3e38f32).to_string()) && reason.contains(&3e38f32.to_string()), "{reason}");
    assert_eq!(invalid(wide.check(&[4], 4)).0, "maxval");
    let mut values = [7.0f32; 4];
    assert_eq!(invalid(wide.try_fill(&mut values, &[4], &mut rng())).0, "maxval");
    assert_eq!(values, [7.0; 4]);
    // The widest range that does not overflow draws finite values.
    let widest = Initializer::RandomUniform { min: -1.7e38, max: 1.7e38 };
    assert!(widest.generate(&[1000], 0).unwrap().iter().all(|v| v.is_finite()));

    for init in [
        Initializer::RandomNormal { mean: 3e38, stddev: 1e38 },
        Initializer::RandomNormal { mean: 0.0, stddev: f32::MAX },
        Initializer::TruncatedNormal { mean: -f32::MAX, stddev: f32::MAX / 4.0 },
    ] {
        let (name, reason) = invalid(init.generate(&[1000], 0));
        assert_eq!(name, "stddev", "{init:?}: {reason}");
    }
    // Right at the limits the draws are finite.
    for init in [
        Initializer::TruncatedNormal { mean: 0.0, stddev: f32::MAX / 2.0 },
        Initializer::RandomNormal { mean: 0.0, stddev: f32::MAX / 9.0 },
        Initializer::RandomNormal { mean: 1e30, stddev: 1e30 },
    ] {
        let values = init.generate(&[100_000], 5).unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{init:?}");
    }
}

/// `fill` documents that it panics when `try_fill` would report bad
/// arguments; the message is the error's, not `rand`'s.
#[test]
fn fill_panics_with_the_checks_message() {
    for (init, name) in [
        (Initializer::RandomUniform { min: 1.0, max: 0.0 }, "minval"),
        (Initializer::RandomUniform { min: -3e38, max: 3e38 }, "maxval"),
        (Initializer::Constant(f32::NAN), "value"),
    ] {
        let message = panic_message(|| init.fill(&mut [0.0; 4], &[4], &mut rng()));
        let message = message.unwrap_or_else(|| panic!("{init:?}: fill did not panic"));
        assert!(message.starts_with(&format!("invalid argument `{name}`")), "{init:?}: {message}");
    }
}

/// Old code multiplied the dimensions unchecked: `[2³², 2³²]` panicked in
/// debug builds and, wrapped to 0, was an empty tensor in release.
#[test]
fn shapes_whose_size_overflows_are_errors_naming_shape() {
    for shape in [&[1usize << 32, 1 << 32][..], &[usize::MAX, 2], &[3, 1 << 62, 5]] {
        let (name, reason) = invalid(Initializer::GlorotUniform.generate(shape, 0));
        assert_eq!(name, "shape", "{shape:?}");
        assert!(reason.contains(&format!("{shape:?}")), "{reason}");
        assert_eq!(invalid(Initializer::Zeros.check(shape, 0)).0, "shape");
        assert_eq!(invalid(Initializer::Ones.try_fill(&mut [], shape, &mut rng())).0, "shape");
    }
    // More values than an allocation can hold is an error too, not a
    // "capacity overflow" panic.
    for shape in [&[1usize << 62][..], &[1 << 61, 1]] {
        let (name, reason) = invalid(Initializer::Zeros.generate(shape, 0));
        assert_eq!(name, "shape");
        assert!(reason.ends_with("values, which do not fit in memory"), "{reason}");
    }
    // A zero dimension makes the tensor empty however large the others are
    // (Keras's fans are still computed: fan_in 0, counted as 1).
    let empty = [1usize << 40, 1 << 40, 0, 5];
    assert_eq!(Initializer::GlorotUniform.generate(&empty, 0).unwrap(), Vec::<f32>::new());
    assert_eq!(fans(&empty).0, 0);
    let he = Initializer::HeUniform.bound(&empty).unwrap();
    assert_eq!(he, 6f32.sqrt());
    // Fans beyond usize saturate: the bound stays finite and positive.
    assert_eq!(fans(&[1 << 40, 1 << 40, 1 << 40]), (usize::MAX, usize::MAX));
    let huge = Initializer::VarianceScaling { scale: 1.0, mode: Mode::FanOut, distribution: Distribution::Uniform };
    let bound = huge.bound(&[1 << 40, 1 << 40, 1 << 40]).unwrap();
    assert!(bound > 0.0 && bound < 1e-9, "{bound}");
}

/// Old code: the constructors that return a `Result` panicked on a bad
/// initializer (`gen_range` of an empty range) and accepted a NaN constant.
#[test]
fn normalization_layers_report_bad_initializers() {
    let bad_uniform = Initializer::RandomUniform { min: 1.0, max: 0.0 };
    let bn = |config| BatchNormalization::<4, 2>::new(config, 2, 1, &mut rng()).map(|_| ());
    let config = BatchNormalizationConfig { gamma_initializer: bad_uniform, ..Default::default() };
    let (name, reason) = invalid(bn(config));
    assert_eq!(name, "gamma_initializer");
    assert!(reason.contains("minval"), "{reason}");
    let config =
        BatchNormalizationConfig { moving_variance_initializer: Initializer::Constant(f32::NAN), ..Default::default() };
    assert_eq!(invalid(bn(config)).0, "moving_variance_initializer");
    let config =
        BatchNormalizationConfig { beta_initializer: Initializer::Constant(f32::INFINITY), ..Default::default() };
    assert_eq!(invalid(bn(config)).0, "beta_initializer");
    // An initializer the layer does not use is not drawn from, nor checked.
    let config = BatchNormalizationConfig { center: false, beta_initializer: bad_uniform, ..Default::default() };
    assert!(bn(config).is_ok());

    let ln = |config| LayerNormalization::<4, 2>::new(config, 2, 1, &mut rng()).map(|_| ());
    let config = LayerNormalizationConfig { beta_initializer: bad_uniform, ..Default::default() };
    assert_eq!(invalid(ln(config)).0, "beta_initializer");
    let config = LayerNormalizationConfig { gamma_initializer: Initializer::Constant(f32::NAN), ..Default::default() };
    assert_eq!(invalid(ln(config)).0, "gamma_initializer");
}

/// Old code: `outer · C · inner` wrapped, so `(2⁶³ + 2) · 2 · 1 = 4 = N`
/// was accepted in release (panicked in debug).
#[test]
fn sizes_whose_product_overflows_are_errors() {
    let outer = (1usize << 63) + 2;
    let bn = BatchNormalization::<4, 2>::new(BatchNormalizationConfig::default(), outer, 1, &mut rng());
    let (name, reason) = invalid(bn);
    assert_eq!(name, "axis");
    assert!(reason.contains(&outer.to_string()), "{reason}");
    let bn = BatchNormalization::<4, 2>::new(BatchNormalizationConfig::default(), 1, outer, &mut rng());
    assert_eq!(invalid(bn).0, "axis");
    let ln = LayerNormalization::<4, 2>::new(LayerNormalizationConfig::default(), outer, 1, &mut rng());
    assert_eq!(invalid(ln).0, "axis");
    let dropout = Dropout::<4>::spatial(DropoutKind::SpatialDropout1D, 0.5, outer, 2, 1);
    let (name, reason) = invalid(dropout);
    assert_eq!(name, "noise_shape");
    assert!(reason.contains(&outer.to_string()), "{reason}");
    // 2 · (2⁶² + 1) · 2 wraps to 4 too.
    let dropout = Dropout::<4>::spatial(DropoutKind::SpatialDropout2D, 0.5, 2, (1 << 62) + 1, 2);
    assert_eq!(invalid(dropout).0, "noise_shape");
    // Consistent sizes still work.
    assert!(BatchNormalization::<4, 2>::new(BatchNormalizationConfig::default(), 2, 1, &mut rng()).is_ok());
    assert!(Dropout::<6>::spatial(DropoutKind::SpatialDropout1D, 0.5, 3, 2, 1).is_ok());
}

/// Old code: the constructors without a `Result` drew from initializers
/// unchecked: an empty uniform range panicked inside `rand` ("cannot
/// sample empty range"), a NaN constant gave NaN weights silently. Their
/// documented panic now names the layer's argument, as `try_new`'s error.
#[test]
fn layer_constructors_panic_naming_the_bad_initializer() {
    let bad_uniform = Initializer::RandomUniform { min: 1.0, max: 0.0 };
    let nan = Initializer::Constant(f32::NAN);
    let expect = |name: &str, f: &dyn Fn()| {
        let message = panic_message(f).unwrap_or_else(|| panic!("{name}: no panic"));
        assert!(message.starts_with(&format!("invalid argument `{name}`")), "{name}: {message}");
    };
    expect("kernel_initializer", &|| {
        Dense::<2, 3>::new(DenseConfig { kernel_initializer: bad_uniform, ..Default::default() }, &mut rng());
    });
    expect("bias_initializer", &|| {
        Dense::<2, 3>::new(DenseConfig { bias_initializer: nan, ..Default::default() }, &mut rng());
    });
    expect("kernel_initializer", &|| {
        Conv2d::<4, 4, 1, 2, 3, 3, 1, 1, 1, 1, false>::new(
            ConvConfig { kernel_initializer: nan, ..Default::default() },
            &mut rng(),
        );
    });
    expect("bias_initializer", &|| {
        Conv1d::<5, 2, 3, 2, 1, 1, true>::new(
            ConvConfig { bias_initializer: bad_uniform, ..Default::default() },
            &mut rng(),
        );
    });
    expect("embeddings_initializer", &|| {
        Embedding::<5, 2, 3>::new(nan, &mut rng());
    });
    expect("depthwise_initializer", &|| {
        DepthwiseConv2d::<4, 4, 2, 1, 3, 3, 1, 1, 1, 1, false>::new(
            DepthwiseConfig { depthwise_initializer: bad_uniform, ..Default::default() },
            &mut rng(),
        );
    });
    expect("pointwise_initializer", &|| {
        SeparableConv1d::<5, 2, 1, 3, 2, 1, 1, false>::new(
            SeparableConfig { pointwise_initializer: nan, ..Default::default() },
            &mut rng(),
        );
    });
    expect("recurrent_initializer", &|| {
        Lstm::<3, 2, 4, false>::new(
            RecurrentConfig { recurrent_initializer: bad_uniform, ..Default::default() },
            &mut rng(),
        );
    });
    expect("bias_initializer", &|| {
        Gru::<3, 2, 4, true>::new(RecurrentConfig { bias_initializer: nan, ..Default::default() }, &mut rng());
    });
    expect("kernel_initializer", &|| {
        SimpleRnn::<3, 2, 4, false>::new(
            RecurrentConfig { kernel_initializer: Initializer::Constant(f32::NEG_INFINITY), ..Default::default() },
            &mut rng(),
        );
    });
    // Unused initializers are neither drawn from nor checked.
    Dense::<2, 3>::new(DenseConfig { use_bias: false, bias_initializer: nan, ..Default::default() }, &mut rng());
}

/// The `try_new` twins return the error the constructors panic with, and
/// draw nothing before checking.
#[test]
fn layer_try_new_returns_the_error() {
    let bad_uniform = Initializer::RandomUniform { min: 1.0, max: 0.0 };
    let nan = Initializer::Constant(f32::NAN);
    let (name, reason) = invalid(Dense::<2, 3>::try_new(
        DenseConfig { kernel_initializer: bad_uniform, ..Default::default() },
        &mut rng(),
    ));
    assert_eq!(name, "kernel_initializer");
    assert_eq!(reason, "`minval` of RandomUniform { min: 1.0, max: 0.0 } must be below maxval (0), but is 1");
    let (name, reason) = invalid(Embedding::<5, 2, 3>::try_new(nan, &mut rng()));
    assert_eq!(name, "embeddings_initializer");
    assert_eq!(reason, "`value` of Constant(NaN) must be finite, but is NaN");
    let conv = Conv2d::<4, 4, 1, 2, 3, 3, 1, 1, 1, 1, false>::try_new(
        ConvConfig { bias_initializer: Initializer::RandomNormal { mean: 0.0, stddev: -1.0 }, ..Default::default() },
        &mut rng(),
    );
    assert_eq!(invalid(conv).0, "bias_initializer");
    let depthwise = DepthwiseConv2d::<4, 4, 2, 1, 3, 3, 1, 1, 1, 1, false>::try_new(
        DepthwiseConfig {
            depthwise_initializer: Initializer::Orthogonal { gain: f32::INFINITY },
            ..Default::default()
        },
        &mut rng(),
    );
    assert_eq!(invalid(depthwise).0, "depthwise_initializer");
    let separable = SeparableConv1d::<5, 2, 1, 3, 2, 1, 1, false>::try_new(
        SeparableConfig {
            depthwise_initializer: Initializer::RandomUniform { min: -3e38, max: 3e38 },
            ..Default::default()
        },
        &mut rng(),
    );
    let (name, reason) = invalid(separable);
    assert_eq!(name, "depthwise_initializer");
    assert!(reason.starts_with("`maxval` of RandomUniform"), "{reason}");
    let separable = SeparableConv1d::<5, 2, 1, 0, 2, 1, 1, false>::try_new(SeparableConfig::default(), &mut rng());
    assert_eq!(invalid(separable).0, "filters");
    let zero_scale =
        Initializer::VarianceScaling { scale: 0.0, mode: Mode::FanIn, distribution: Distribution::Uniform };
    let lstm = Lstm::<3, 2, 4, false>::try_new(
        RecurrentConfig { kernel_initializer: zero_scale, ..Default::default() },
        &mut rng(),
    );
    assert_eq!(invalid(lstm).0, "kernel_initializer");

    // Valid configurations: the same weights as `new`.
    let config =
        DenseConfig { bias_initializer: Initializer::RandomUniform { min: -1.0, max: 1.0 }, ..Default::default() };
    let (a, b) = (Dense::<2, 3>::try_new(config, &mut rng()).unwrap(), Dense::<2, 3>::new(config, &mut rng()));
    assert_eq!((a.kernel.value, a.bias.unwrap().value), (b.kernel.value, b.bias.unwrap().value));
    let gru = Gru::<3, 2, 4, true>::try_new(RecurrentConfig::default(), &mut rng()).unwrap();
    assert_eq!(
        gru.weights.kernel.value,
        Gru::<3, 2, 4, true>::new(RecurrentConfig::default(), &mut rng()).weights.kernel.value
    );
    assert!(SimpleRnn::<3, 2, 4, false>::try_new(RecurrentConfig::default(), &mut rng()).is_ok());
    assert!(Conv1d::<5, 2, 3, 2, 1, 1, true>::try_new(ConvConfig::default(), &mut rng()).is_ok());
}

/// Keras refuses `Orthogonal` for a weight of fewer than 2 dimensions and
/// `Identity` for one that is not 2-D (ValueError when the layer is
/// built). Old code: the constructors checked only the initializers'
/// arguments, and `fill` then silently gave a bias a normalized random
/// row, or a convolution kernel an identity of its flattened shape.
#[test]
fn initializers_of_the_wrong_rank_for_their_weight_are_errors() {
    let orthogonal = Initializer::Orthogonal { gain: 1.0 };
    let identity = Initializer::Identity { gain: 1.0 };
    let (name, reason) =
        invalid(Dense::<2, 3>::try_new(DenseConfig { bias_initializer: orthogonal, ..Default::default() }, &mut rng()));
    assert_eq!(name, "bias_initializer");
    assert_eq!(reason, "Orthogonal { gain: 1.0 } needs a weight of at least 2 dimensions, but this one is [3]");
    let conv = Conv2d::<4, 4, 1, 2, 3, 3, 1, 1, 1, 1, false>::try_new(
        ConvConfig { kernel_initializer: identity, ..Default::default() },
        &mut rng(),
    );
    let (name, reason) = invalid(conv);
    assert_eq!(name, "kernel_initializer");
    assert_eq!(reason, "Identity { gain: 1.0 } needs a weight of 2 dimensions, but this one is [3, 3, 1, 2]");
    let lstm = Lstm::<3, 2, 4, false>::try_new(
        RecurrentConfig { bias_initializer: identity, ..Default::default() },
        &mut rng(),
    );
    assert_eq!(invalid(lstm).0, "bias_initializer");
    let norm = BatchNormalization::<4, 4>::new(
        BatchNormalizationConfig { gamma_initializer: orthogonal, ..Default::default() },
        1,
        1,
        &mut rng(),
    );
    assert_eq!(invalid(norm).0, "gamma_initializer");
    let norm = LayerNormalization::<4, 4>::new(
        LayerNormalizationConfig { beta_initializer: identity, ..Default::default() },
        1,
        1,
        &mut rng(),
    );
    assert_eq!(invalid(norm).0, "beta_initializer");
    let depthwise = DepthwiseConv2d::<4, 4, 2, 1, 3, 3, 1, 1, 1, 1, false>::try_new(
        DepthwiseConfig { depthwise_initializer: identity, ..Default::default() },
        &mut rng(),
    );
    assert_eq!(invalid(depthwise).0, "depthwise_initializer");

    // What Keras accepts: orthogonal on any weight of 2 or more
    // dimensions (a convolution kernel, GRU's 2-row bias with
    // `reset_after`), identity on 2-D ones.
    let dense = Dense::<2, 3>::try_new(DenseConfig { kernel_initializer: identity, ..Default::default() }, &mut rng());
    assert_eq!(dense.unwrap().kernel.value, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    assert!(Embedding::<5, 2, 3>::try_new(orthogonal, &mut rng()).is_ok());
    let conv = Conv2d::<4, 4, 1, 2, 3, 3, 1, 1, 1, 1, false>::try_new(
        ConvConfig { kernel_initializer: orthogonal, ..Default::default() },
        &mut rng(),
    );
    assert!(conv.is_ok());
    let gru = Gru::<3, 2, 4, true>::try_new(
        RecurrentConfig { bias_initializer: orthogonal, ..Default::default() },
        &mut rng(),
    );
    assert_eq!(gru.unwrap().weights.bias.unwrap().shape, [2, 6]);
}

kiln::model! {
    /// Initializers of weights the layers do not have: Keras never calls
    /// them, so they cannot be wrong (`use_bias = false`, `center = false`).
    struct UnbuiltWeights {
        input x: [f32; 3];
        let h = Dense(4, use_bias = false, bias_initializer = "orthogonal")(x);
        let n = BatchNormalization(center = false, scale = false, beta_initializer = "identity", gamma_initializer = "orthogonal")(h);
        output n;
    }
}

/// An initializer that cannot fill a 1-D bias is no error when the layer
/// has no bias (as in Keras); the model builds without one.
#[test]
fn initializers_of_absent_weights_are_not_checked() {
    let model = UnbuiltWeights::new(0);
    assert!(model.dense.bias.is_none());
    let config =
        DenseConfig { use_bias: false, bias_initializer: Initializer::Orthogonal { gain: 1.0 }, ..Default::default() };
    assert!(Dense::<2, 3>::try_new(config, &mut rng()).unwrap().bias.is_none());
}
