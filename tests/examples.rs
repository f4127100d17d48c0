//! The examples, run as tests: real data, real training, Keras's numbers.

#[path = "../examples/digits.rs"]
mod digits;
#[path = "../examples/mlp.rs"]
mod mlp;

#[test]
fn digits_reaches_95_percent_held_out_accuracy() {
    let accuracy = digits::train_and_evaluate(7, 0).expect("training runs");
    assert!(accuracy >= 0.95, "held-out accuracy {accuracy}");
}

/// Keras's `model.summary()` of the same network (the tutorial's
/// Fashion-MNIST MLP) reports 235,500 / 30,100 / 1,010 = 266,610.
#[test]
fn mlp_summary_matches_keras() {
    let summary = mlp::Mlp::new(0).summary();
    let counts: Vec<usize> = summary.rows.iter().map(|r| r.trainable).collect();
    assert_eq!(counts, [0, 0, 235_500, 30_100, 1_010]);
    assert_eq!(summary.total_params(), 266_610);
    let expected = r#"Model: "mlp"
_________________________________________________________________
Layer (type)                 Output Shape              Param #   
=================================================================
image (InputLayer)           (None, 28, 28)            0         
_________________________________________________________________
flatten (Flatten)            (None, 784)               0         
_________________________________________________________________
dense (Dense)                (None, 300)               235500    
_________________________________________________________________
dense_1 (Dense)              (None, 100)               30100     
_________________________________________________________________
dense_2 (Dense)              (None, 10)                1010      
=================================================================
Total params: 266,610
Trainable params: 266,610
Non-trainable params: 0
_________________________________________________________________"#;
    assert_eq!(summary.to_string(), expected);
}
