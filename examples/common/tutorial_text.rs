//! The tutorials' toy text data set: strings of '0' and '1'.
//!
//! Ids follow the tutorial: '0' → 0, '1' → 1, any other character is
//! out of vocabulary (2), sequences are padded with 3 to 16 ids and
//! truncated beyond. A string is labelled 1 when it has more '0's than '1's.

/// Sequence length after padding / truncation.
pub const SEQ_LENGTH: usize = 16;
/// Id of characters other than '0' and '1'.
pub const OOV: u32 = 2;
/// Id of padding.
pub const PAD: u32 = 3;

/// The six strings of the tutorial.
pub const TEXTS: [&str; 6] = ["00001", "001000101", "001011101110", "0101010100", "0113410101010", "01210101011"];

/// One string as a fixed-length id sequence.
pub fn encode(text: &str) -> [u32; SEQ_LENGTH] {
    let mut ids = [PAD; SEQ_LENGTH];
    for (slot, c) in ids.iter_mut().zip(text.chars()) {
        *slot = match c {
            '0' => 0,
            '1' => 1,
            _ => OOV,
        };
    }
    ids
}

/// 1 when the string has more '0's than '1's, else 0.
pub fn label(text: &str) -> u32 {
    let zeros = text.chars().filter(|&c| c == '0').count();
    let ones = text.chars().filter(|&c| c == '1').count();
    u32::from(zeros > ones)
}

/// The tutorial's `x_tensor` and `y_tensor`.
pub fn dataset() -> (Vec<[u32; SEQ_LENGTH]>, Vec<u32>) {
    (TEXTS.iter().map(|t| encode(t)).collect(), TEXTS.iter().map(|t| label(t)).collect())
}
