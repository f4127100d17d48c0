//! A bare-metal program (no OS, no heap) classifying one digit with the
//! compiled-in MLP; built with the `firmware` feature for a target such as
//! `thumbv7em-none-eabihf`. Linking it proves the whole inference path
//! needs nothing beyond `core`.

#![no_std]
#![no_main]

/// The first test digit of tests/fixtures/embedded (a 1), pixels / 16.
const DIGIT: [f32; 64] = {
    const RAW: [u8; 64] = [
        0, 0, 0, 3, 12, 12, 2, 0, 0, 0, 7, 15, 16, 16, 0, 0, 0, 4, 15, 9, 14, 16, 3, 0, 0, 2, 0, 0, 14, 16, 0, 0, 0, 0,
        0, 0, 14, 16, 0, 0, 0, 0, 0, 0, 15, 13, 0, 0, 0, 0, 0, 0, 16, 14, 1, 0, 0, 0, 0, 3, 16, 13, 2, 0,
    ];
    let mut out = [0.0f32; 64];
    let mut i = 0;
    while i < 64 {
        out[i] = RAW[i] as f32 / 16.0;
        i += 1;
    }
    out
};

/// The entry point (the reset handler a board's runtime would call).
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let digit = kiln_infer_demo::classify(core::hint::black_box(&DIGIT));
    loop {
        core::hint::black_box(digit);
    }
}
