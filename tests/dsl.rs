//! The DSL's accepted forms, compiled in a hostile namespace.

#![allow(dead_code, non_camel_case_types)]

// Generated code must use absolute paths: shadow the prelude.
struct Vec;
struct Option;
struct Result;
struct Box;
struct String;
struct f64;
mod core {}
mod std {}

kiln::model! {
    /// Every activation and initializer name the macro accepts, in both
    /// spellings (identifier and string), so the macro's lists and the
    /// runtime's stay in step.
    pub struct EveryName {
        input x: [f32; 4];
        let a = Dense(4, activation = linear, kernel_initializer = zeros, bias_initializer = ones)(x);
        let b = Dense(4, activation = relu, kernel_initializer = constant)(a);
        let c = Dense(4, activation = sigmoid, kernel_initializer = random_uniform)(b);
        let d = Dense(4, activation = tanh, kernel_initializer = random_normal)(c);
        let e = Dense(4, activation = softmax, kernel_initializer = truncated_normal)(d);
        let f = Dense(4, activation = elu, kernel_initializer = glorot_uniform)(e);
        let g = Dense(4, activation = selu, kernel_initializer = glorot_normal)(f);
        let h = Dense(4, activation = softplus, kernel_initializer = he_uniform)(g);
        let i = Dense(4, activation = softsign, kernel_initializer = he_normal)(h);
        let j = Dense(4, activation = hard_sigmoid, kernel_initializer = lecun_uniform)(i);
        let k = Dense(4, activation = exponential, kernel_initializer = lecun_normal)(j);
        let l = Dense(units = 4, activation = "tanh", kernel_initializer = "orthogonal", use_bias = false)(k);
        let m = Activation("softmax")(l);
        let n = Activation(activation = relu, name = "final_relu")(m);
        output n;
    }
}

kiln::model! {
    /// Several inputs and outputs, merges, a chain, a nested model and
    /// `TimeDistributed`, in the same hostile namespace.
    pub struct EveryForm {
        input ids: [u32; 4];
        input features: [f32; 4, 3];
        let embedded = Embedding(10, 3)(ids);
        let summed = add([embedded, features]);
        let per_step = TimeDistributed(Dense(2, activation = relu))(summed);
        let states = GRU(2, return_sequences = true)(per_step);
        let pooled = reduce_max(states, axis = 1);
        let nested: [1] = custom(Tiny::new(0))(pooled);
        let chain = pooled => Dense(3) => Activation(softmax);
        output chain, nested;
    }
}

kiln::model! {
    pub struct Tiny {
        input x: [f32; 2];
        let y = Dense(1, activation = sigmoid)(x);
        output y;
    }
}

#[test]
fn every_form_builds_and_runs() {
    let model = EveryForm::new(0);
    let (probs, nested) = model.predict_one(&[1, 2, 3, 9], &[[0.5; 3]; 4]).unwrap();
    ::std::assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5 && nested[0] > 0.0);
    let kinds: ::std::vec::Vec<::std::string::String> = model.summary().rows.into_iter().map(|r| r.kind).collect();
    ::std::assert_eq!(
        kinds,
        [
            "InputLayer",
            "InputLayer",
            "Embedding",
            "Add",
            "TimeDistributed",
            "GRU",
            "Lambda",
            "Functional",
            "Dense",
            "Activation"
        ]
    );
}

#[test]
fn every_name_builds_and_runs() {
    let model = EveryName::new(0);
    let out = model.predict_one(&[0.1, -0.2, 0.3, 0.4]);
    ::std::assert!(out.iter().all(|v| v.is_finite()));
    let summary = model.summary();
    ::std::assert_eq!(summary.rows.last().map(|r| r.name.as_str()), ::core::option::Option::Some("final_relu"));
    // `use_bias = false` drops the bias: 16 parameters instead of 20.
    ::std::assert_eq!(summary.rows[12].trainable, 16);
    ::std::assert!(model.dense_11.bias.is_none());
}

/// One `Dense` per initializer name, in a module named after it: the name
/// initializes the kernel, and the name after the slash the bias (the same
/// but for orthogonal and identity, which cannot fill a 1-D bias, in Keras
/// as here).
macro_rules! one_model_per_initializer {
    ($($name:ident / $bias:ident),*) => {
        $(
            mod $name {
                kiln::model! {
                    pub struct M {
                        input x: [f32; 3];
                        let y = Dense(4, kernel_initializer = $name, bias_initializer = $bias)(x);
                        output y;
                    }
                }
            }
        )*
        /// Each name's model, with its kernel's and its bias's names.
        fn initializer_models() -> ::std::vec::Vec<(&'static str, &'static str, kiln::layers::Dense<3, 4>)> {
            ::std::vec![$((
                ::core::stringify!($name),
                ::core::stringify!($bias),
                $name::M::new(11).dense,
            )),*]
        }
    };
}

one_model_per_initializer!(
    zeros / zeros,
    ones / ones,
    constant / constant,
    random_uniform / random_uniform,
    random_normal / random_normal,
    truncated_normal / truncated_normal,
    glorot_uniform / glorot_uniform,
    glorot_normal / glorot_normal,
    he_uniform / he_uniform,
    he_normal / he_normal,
    lecun_uniform / lecun_uniform,
    lecun_normal / lecun_normal,
    orthogonal / random_normal,
    variance_scaling / variance_scaling,
    identity / ones
);

/// The macro writes each initializer as its enum value (no lookup by name
/// at run time); the weights must be those of the runtime's own table,
/// `Initializer::ALL` (Keras's default arguments), drawn from the same seed.
#[test]
fn initializers_resolved_at_compile_time_match_the_runtime_table() {
    let models = initializer_models();
    ::std::assert_eq!(models.len(), kiln::initializers::Initializer::ALL.len());
    for (name, bias_name, dense) in models {
        let init = kiln::initializers::Initializer::from_name(name).unwrap();
        let config = kiln::layers::DenseConfig {
            kernel_initializer: init,
            bias_initializer: kiln::initializers::Initializer::from_name(bias_name).unwrap(),
            ..::core::default::Default::default()
        };
        let reference: kiln::layers::Dense<3, 4> =
            kiln::layers::Dense::new(config, &mut kiln::__private::seeded_rng(11));
        ::std::assert_eq!(dense.kernel.value, reference.kernel.value, "{name}");
        let (bias, reference_bias) = (dense.bias.unwrap(), reference.bias.unwrap());
        ::std::assert_eq!(bias.value, reference_bias.value, "{name}");
    }
}

kiln::model! {
    /// As Keras tutorials write it: the first layer declares the input
    /// (`input_shape`), every line rebinds `x`, and the layers take
    /// Keras's keyword arguments.
    pub struct KerasSpellings {
        let x = Dense(8, input_shape = (4,), activation = relu, use_bias = false, kernel_initializer = he_normal, name = "hidden")(x);
        let x = Dense(8, activation = tanh, bias_initializer = ones)(x);
        let x = Dense(3, activation = softmax)(x);
        output x;
    }
}

kiln::model! {
    /// `KerasSpellings` with an `input` line and a name per tensor.
    pub struct ExplicitNames {
        input features: [f32; 4];
        let a = Dense(8, input_dim = 4, activation = relu, use_bias = false, kernel_initializer = he_normal, name = "hidden")(features);
        let b = Dense(8, activation = tanh, bias_initializer = ones)(a);
        let c = Dense(3, activation = softmax)(b);
        output c;
    }
}

kiln::model! {
    /// Keras's `Embedding(…, input_length = 6)` declaring the id input.
    pub struct KerasText {
        let e = Embedding(10, 4, input_length = 6)(ids);
        let h = LSTM(5)(e);
        let p = Dense(1, activation = sigmoid)(h);
        output p;
    }
}

/// A rebound name means its latest binding: the model equals the one
/// with a name per tensor (same layers, same seed, same draws), so every
/// `x` read the previous line's output. The old macro rejected the
/// second `let x` ("`x` is already defined").
#[test]
fn keras_spellings_and_rebinding_mean_what_keras_means() {
    let (keras, explicit) = (KerasSpellings::new(5), ExplicitNames::new(5));
    let sample = [0.3f32, -1.2, 0.8, 2.0];
    let (p, q) = (keras.predict_one(&sample), explicit.predict_one(&sample));
    ::std::assert_eq!(p, q);
    // Softmax output over 3 units, and not the input passed through.
    ::std::assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    let (a, b) = (keras.summary(), explicit.summary());
    let rows = |s: &kiln::summary::Summary| {
        s.rows.iter().map(|r| (r.name.clone(), r.trainable)).collect::<::std::vec::Vec<_>>()
    };
    // The input layer is named after the tensor (`x` / `features`); the rest match.
    ::std::assert_eq!(rows(&a)[1..], rows(&b)[1..]);
    // `use_bias = false`: 4·8 weights; then 8·8 + 8; then 8·3 + 3.
    ::std::assert_eq!(rows(&a)[1..].iter().map(|r| r.1).collect::<::std::vec::Vec<_>>(), [32, 72, 27]);
    ::std::assert_eq!(rows(&a)[1].0, "hidden");
    ::std::assert!(keras.hidden.bias.is_none());

    let text = KerasText::new(0);
    let probability: [f32; 1] = text.predict_one(&[1, 2, 3, 4, 5, 6]).unwrap();
    ::std::assert!(probability[0] > 0.0 && probability[0] < 1.0);
}

/// Sizes kept in constants, as real programs do.
const VOCAB: usize = 9;
const MAXLEN: usize = 6;
const HIDDEN: usize = 5;
mod sizes {
    pub const EMBED: usize = 4;
}

kiln::model! {
    /// Every size a constant or a constant expression.
    pub struct ConstSizes {
        input ids: [u32; MAXLEN];
        input extra: [f32; MAXLEN, sizes::EMBED];
        let e = Embedding(VOCAB + 2, sizes::EMBED)(ids);
        let both = add([e, extra]);
        let joined = concatenate([both, extra], axis = -1);
        let h = LSTM(HIDDEN, return_sequences = true)(joined);
        let steps = TimeDistributed(Dense(HIDDEN * 2, activation = relu))(h);
        let pooled = reduce_mean(steps, axis = 1);
        let p = Dense(1, activation = sigmoid)(pooled);
        output p;
    }
}

kiln::model! {
    /// `ConstSizes` with the numbers written in.
    pub struct LiteralSizes {
        input ids: [u32; 6];
        input extra: [f32; 6, 4];
        let e = Embedding(11, 4)(ids);
        let both = add([e, extra]);
        let joined = concatenate([both, extra], axis = -1);
        let h = LSTM(5, return_sequences = true)(joined);
        let steps = TimeDistributed(Dense(10, activation = relu))(h);
        let pooled = reduce_mean(steps, axis = 1);
        let p = Dense(1, activation = sigmoid)(pooled);
        output p;
    }
}

/// Sizes from constants give the model the numbers give: same parameter
/// counts (Keras's formulas: Embedding 11·4 = 44; LSTM 4·5·(8 + 5 + 1) =
/// 280; Dense 5·10 + 10 = 60; Dense 10 + 1 = 11), same shapes in the
/// summary, and same predictions from the same seed. (The old macro
/// rejected `MAXLEN` in a shape: "expected integer literal".)
#[test]
fn sizes_may_be_rust_constants() {
    let (a, b) = (ConstSizes::new(3), LiteralSizes::new(3));
    let (sa, sb) = (a.summary(), b.summary());
    let rows = |s: &kiln::summary::Summary| {
        s.rows.iter().map(|r| (r.name.clone(), r.output_shape.clone(), r.trainable)).collect::<::std::vec::Vec<_>>()
    };
    ::std::assert_eq!(rows(&sa), rows(&sb));
    let counts: ::std::vec::Vec<usize> = sa.rows.iter().map(|r| r.trainable).filter(|&n| n > 0).collect();
    ::std::assert_eq!(counts, [44, 280, 60, 11]);
    ::std::assert_eq!(sa.rows.iter().find(|r| r.name == "concatenate").unwrap().output_shape, "(None, 6, 8)");
    let ids = [1u32, 2, 3, 4, 5, 10];
    let extra = [[0.25f32, -0.5, 0.75, 1.0]; 6];
    ::std::assert_eq!(a.predict_one(&ids, &extra).unwrap(), b.predict_one(&ids, &extra).unwrap());
}

// One name in several scopes is no duplicate: kiln's check of a model
// name defined twice in one scope (macros/src/duplicate.rs) looks only in
// the model's own module, function body or block.
mod first {
    kiln::model! {
        pub struct Net {
            input x: [f32; 2];
            let y = Dense(3)(x);
            output y;
        }
    }
}

mod second {
    kiln::model! {
        pub struct Net {
            input x: [f32; 4];
            let y = Dense(1)(x);
            output y;
        }
    }
}

#[test]
fn one_model_name_in_several_scopes_builds() {
    kiln::model! {
        struct Net {
            input x: [f32; 5];
            let y = Dense(2)(x);
            output y;
        }
    }
    let y: [f32; 3] = first::Net::new(0).predict_one(&[1.0, 2.0]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y: [f32; 1] = second::Net::new(0).predict_one(&[1.0; 4]);
    assert!(y[0].is_finite());
    let y: [f32; 2] = Net::new(0).predict_one(&[1.0; 5]);
    assert!(y.iter().all(|v| v.is_finite()));
    {
        kiln::model! {
            struct Net {
                input x: [f32; 6];
                let y = Dense(7)(x);
                output y;
            }
        }
        let y: [f32; 7] = Net::new(0).predict_one(&[1.0; 6]);
        assert!(y.iter().all(|v| v.is_finite()));
    }
}
