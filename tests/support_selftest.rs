//! The shared test support (`tests/support`) counts and round-trips what it claims.

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

kiln::model! {
    struct Tiny {
        input x: [f32; 3];
        let y = Dense(2, activation = tanh)(x);
        output y;
    }
}

#[test]
fn counts_this_threads_allocations() {
    let (n, v) = support::allocations(|| vec![1u8; 10]);
    assert_eq!((n, v.len()), (1, 10));
    let (n, _) = support::allocations(|| 1 + 1);
    assert_eq!(n, 0);
}

#[test]
fn round_trip_restores_weights() {
    let trained = Tiny::new(1);
    let mut fresh = Tiny::new(2);
    support::assert_weights_round_trip(&trained, &mut fresh);
    let x = [0.5, -1.0, 2.0];
    assert_eq!(trained.predict_one(&x), fresh.predict_one(&x));
}
