//! Two threads compute exactly what one thread computes: products split by
//! rows or columns and recurrences (LSTM, GRU, SimpleRNN) split by samples
//! keep every sum in the same order.

use kiln::network::Network;
use kiln::prelude::*;

kiln::model! {
    struct Text {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let states = LSTM(64, return_sequences = true)(embedded);
        let gru = GRU(64, return_sequences = true)(states);
        let rnn = SimpleRNN(64, return_sequences = true)(gru);
        let encoding = LSTM(64)(rnn);
        let hidden = Dense(300, activation = relu)(encoding);
        let prob = Dense(1, activation = sigmoid)(hidden);
        output prob;
    }
}

fn run(threads: usize) -> (Vec<f32>, Vec<f32>) {
    kiln::parallel::set_num_threads(threads);
    let x: Vec<[u32; 16]> = (0..96).map(|s| std::array::from_fn(|t| ((s * 5 + t * 3 + s / 7) % 4) as u32)).collect();
    let y: Vec<[f32; 1]> = (0..96).map(|s| [(s % 2) as f32]).collect();
    let mut model = Text::new(0).compile(Adam::new(0.01), BinaryCrossentropy, &[]);
    for _ in 0..3 {
        model.train_on_batch(&x, &y).unwrap();
    }
    let outputs: Vec<f32> = model.predict(&x, 96).unwrap().into_iter().map(|p| p[0]).collect();
    let mut weights = Vec::new();
    model.network().params(&mut |p| weights.extend_from_slice(&p.value));
    (outputs, weights)
}

#[test]
fn two_threads_match_one_thread_exactly() {
    let one = run(1);
    let two = run(2);
    kiln::parallel::set_num_threads(1);
    assert_eq!(one.0, two.0, "outputs differ");
    assert!(one.1 == two.1, "weights differ after three steps");
}
