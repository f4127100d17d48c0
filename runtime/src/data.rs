//! Loading and preparing data: CSV and IDX files (optionally gzipped),
//! standardization, train/test splits, and input pipelines ([`Dataset`],
//! generators) for `fit`, `evaluate` and `predict`.

mod gzip;
mod pipeline;

pub use pipeline::{
    Batch, BatchData, BatchStream, Cardinality, Column, Columns, Dataset, DatasetIter, Example, IntoBatches, Rows,
};

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

/// The bytes of `path`, decompressed when the name ends in `.gz` (every
/// gzip member in turn, each checked against its CRC-32 and length, as
/// Python's `gzip` reads them; an empty file, reserved header flags and a
/// wrong header CRC, which Python lets pass, are errors).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the
/// path and what is wrong for a `.gz` file that is truncated, corrupt or
/// not gzip.
pub fn read_bytes(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    if path.extension().is_some_and(|e| e == "gz") {
        gzip::decompress(&raw).map_err(|reason| Error::Format { path: path.to_path_buf(), reason })
    } else {
        Ok(raw)
    }
}

/// Rows of numbers from a comma-separated file without a header.
///
/// # Errors
/// [`Error::Parse`] with the line number for a field that is not a number
/// or a row whose length differs from the first row's.
pub fn read_csv(path: impl AsRef<Path>) -> Result<Vec<Vec<f32>>> {
    let path = path.as_ref();
    let text = read_bytes(path)?;
    let text = String::from_utf8(text)
        .map_err(|_| Error::Format { path: path.to_path_buf(), reason: "not UTF-8 text".into() })?;
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parse_error = |reason: String| Error::Parse { path: path.to_path_buf(), line: i + 1, reason };
        let row = line
            .split(',')
            .map(|f| f.trim().parse::<f32>().map_err(|_| parse_error(format!("`{f}` is not a number"))))
            .collect::<Result<Vec<f32>>>()?;
        if let Some(first) = rows.first() {
            if first.len() != row.len() {
                return Err(parse_error(format!("{} fields, but the first row has {}", row.len(), first.len())));
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// An IDX file (MNIST's format): its dimensions and its `u8` values.
///
/// # Errors
/// [`Error::Format`] (the path and what is wrong; a binary file has no line
/// to show) for a wrong magic number, an element type other than `u8`,
/// dimensions whose product overflows `usize`, or a length that does not
/// match the header.
pub fn read_idx(path: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<u8>)> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    let bad = |reason: &str| Error::Format { path: path.to_path_buf(), reason: reason.into() };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad("not an IDX file (bad magic number)"));
    }
    if bytes[2] != 0x08 {
        return Err(bad("only unsigned-byte IDX files are supported"));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad("truncated header"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize)
        .collect();
    let len = dims.iter().try_fold(1usize, |len, &d| len.checked_mul(d)).ok_or_else(|| {
        let dims = dims.iter().map(usize::to_string).collect::<Vec<_>>().join(" × ");
        bad(&format!("the dimensions {dims} hold more values than memory can address"))
    })?;
    if bytes.len() - header != len {
        return Err(bad(&format!("header promises {len} values, file holds {}", bytes.len() - header)));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Standardization to zero mean and unit variance per feature
/// (scikit-learn's `StandardScaler`, population standard deviation).
#[derive(Clone, Debug, PartialEq)]
pub struct StandardScaler {
    /// Per-feature means.
    pub mean: Vec<f32>,
    /// Per-feature standard deviations (1 where a feature is constant).
    pub scale: Vec<f32>,
}

impl StandardScaler {
    /// Learns means and deviations of `features` columns from row-major `data`.
    ///
    /// ```
    /// let s = kiln::data::StandardScaler::fit(&[1.0, 10.0, 3.0, 10.0], 2);
    /// assert_eq!(s.mean, [2.0, 10.0]);
    /// assert_eq!(s.scale, [1.0, 1.0]); // the constant column keeps scale 1
    /// ```
    ///
    /// # Panics
    /// When [`StandardScaler::try_fit`] returns an error.
    pub fn fit(data: &[f32], features: usize) -> Self {
        Self::try_fit(data, features).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`StandardScaler::fit`], with an error rather than a panic.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `features` when it is 0, or `data`
    /// when its length is not a multiple of `features` or it holds a NaN or
    /// infinite value (scikit-learn refuses infinity; it skips NaN as
    /// missing, which kiln's models cannot take either);
    /// [`Error::NoData`] when `data` is empty.
    pub fn try_fit(data: &[f32], features: usize) -> Result<Self> {
        crate::error::at_least_one("features", features)?;
        check_rows(data.len(), features)?;
        if data.is_empty() {
            return Err(Error::NoData("fit a StandardScaler on"));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            // A NaN mean and scale would make every value of the feature NaN.
            return Err(Error::InvalidArgument {
                name: "data",
                reason: format!(
                    "holds {} at row {}, feature {}, but every value must be finite",
                    data[i],
                    i / features,
                    i % features
                ),
            });
        }
        // scikit-learn's way, in f64: the mean first, then the squared
        // deviations from it with its rounding correction (one pass of
        // `Σv²/n − mean²` cancels catastrophically), and a feature is
        // constant when its variance is within rounding of zero *relative
        // to its size* (`_is_constant_feature`), not below a fixed bound.
        let n = (data.len() / features) as f64;
        let mut mean = vec![0.0f64; features];
        for row in data.chunks_exact(features) {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut squares = vec![0.0f64; features];
        let mut correction = vec![0.0f64; features];
        for row in data.chunks_exact(features) {
            for (j, &v) in row.iter().enumerate() {
                let d = f64::from(v) - mean[j];
                squares[j] += d * d;
                correction[j] += d;
            }
        }
        let scale = (0..features)
            .map(|j| {
                let var = (squares[j] - correction[j] * correction[j] / n) / n;
                let eps = f64::EPSILON;
                let constant = var <= n * eps * var + (n * mean[j] * eps).powi(2);
                // A deviation that rounds to 0 in f32 (subnormal data) would
                // divide by zero: scale 1, as for a constant feature.
                let scale = var.sqrt() as f32;
                if constant || scale == 0.0 {
                    1.0
                } else {
                    scale
                }
            })
            .collect();
        Ok(StandardScaler { mean: mean.iter().map(|&m| m as f32).collect(), scale })
    }

    /// Standardizes row-major `data` in place.
    ///
    /// # Panics
    /// When [`StandardScaler::try_transform`] returns an error (old versions
    /// silently left a trailing partial row untouched).
    pub fn transform(&self, data: &mut [f32]) {
        self.try_transform(data).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`StandardScaler::transform`], with an error rather than a panic.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `data` when its length is not a
    /// multiple of the number of features the scaler was fitted on, or
    /// `self` when a mean is not finite or a scale not positive and finite
    /// (fields set by hand); `data` is unchanged then.
    pub fn try_transform(&self, data: &mut [f32]) -> Result<()> {
        let features = self.mean.len();
        if features == 0 || self.scale.len() != features {
            return Err(Error::InvalidArgument {
                name: "self",
                reason: format!(
                    "a scaler needs as many means as scales, at least one: {} and {}",
                    features,
                    self.scale.len()
                ),
            });
        }
        // Fields set by hand: a NaN mean or a zero scale would turn a whole
        // feature into NaN or infinity.
        let unusable = |name: &str, feature: usize, value: f32, must: &str| Error::InvalidArgument {
            name: "self",
            reason: format!("the scaler's {name} of feature {feature} is {value}, but must be {must}"),
        };
        if let Some(f) = self.mean.iter().position(|m| !m.is_finite()) {
            return Err(unusable("mean", f, self.mean[f], "finite"));
        }
        if let Some(f) = self.scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(unusable("scale", f, self.scale[f], "positive and finite"));
        }
        check_rows(data.len(), features)?;
        for row in data.chunks_exact_mut(features) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }
}

/// `data` must be whole rows of `features` values.
fn check_rows(len: usize, features: usize) -> Result<()> {
    if !len.is_multiple_of(features) {
        return Err(Error::InvalidArgument {
            name: "data",
            reason: format!("holds {len} values, which is not a whole number of rows of {features} features"),
        });
    }
    Ok(())
}

/// Shuffled indices split into `(train, test)` with `test_fraction` of `n`
/// (rounded, halves away from zero) in test.
///
/// # Panics
/// When `test_fraction` is not in `[0, 1]` or `n` indices cannot be
/// allocated; [`try_train_test_split`] returns the error instead.
pub fn train_test_split(n: usize, test_fraction: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    try_train_test_split(n, test_fraction, seed).unwrap_or_else(|e| panic!("{e}"))
}

/// [`train_test_split`], with an error rather than a panic.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `test_fraction` when it is not in
/// `[0, 1]` (old versions silently put every sample, or none, in test), or
/// naming `n` when `n` indices cannot be allocated.
pub fn try_train_test_split(n: usize, test_fraction: f32, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(Error::InvalidArgument {
            name: "test_fraction",
            reason: format!("must be in [0, 1], but is {test_fraction}"),
        });
    }
    let mut indices: Vec<usize> = Vec::new();
    indices
        .try_reserve_exact(n)
        .map_err(|_| Error::InvalidArgument { name: "n", reason: format!("{n} indices do not fit in memory") })?;
    indices.extend(0..n);
    indices.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    // In f64, from the fraction's shortest decimal (what the caller wrote:
    // `0.7`, not f32's 0.699999988): f32 arithmetic lost samples above 2²⁴,
    // and the f32 value widened turns 0.7 of 5 (3.5, rounded up) into 3.
    let fraction: f64 = test_fraction.to_string().parse().unwrap_or(f64::from(test_fraction));
    let n_test = ((n as f64) * fraction).round() as usize;
    let test = indices.split_off(n - n_test.min(n));
    Ok((indices, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_files_are_errors_with_line_numbers() {
        let dir = std::env::temp_dir().join(format!("kiln-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("bad.csv");
        std::fs::write(&csv, "1,2,3\n4,x,6\n").unwrap();
        let err = read_csv(&csv).unwrap_err().to_string();
        assert!(err.ends_with("bad.csv:2: `x` is not a number"), "{err}");
        std::fs::write(&csv, "1,2,3\n4,5\n").unwrap();
        assert!(read_csv(&csv).unwrap_err().to_string().contains(":2: 2 fields, but the first row has 3"));
        let idx = dir.join("bad.idx");
        std::fs::write(&idx, [0u8, 0, 8, 1, 0, 0, 0, 5, 1, 2]).unwrap();
        // Old code: "…/bad.idx:0: header promises …", a line 0 of a binary file.
        assert_eq!(
            read_idx(&idx).unwrap_err().to_string(),
            format!("{}: header promises 5 values, file holds 2", idx.display())
        );
        assert!(matches!(read_csv(dir.join("missing.csv")), Err(Error::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Old code: the dimensions' product was unchecked: `ff ff ff ff` three
    /// times panicked with overflow checks on, and four dimensions of 65536
    /// wrapped to 0 without them, reading an empty file as an `Ok` tensor.
    #[test]
    fn idx_dimensions_whose_product_overflows_are_errors() {
        let dir = std::env::temp_dir().join(format!("kiln-data-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let idx = dir.join("huge.idx");
        let cases: [(&[u8], &str); 2] = [
            (
                &[0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                "4294967295 × 4294967295 × 4294967295",
            ),
            (&[0, 0, 8, 4, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0], "65536 × 65536 × 65536 × 65536"),
        ];
        for (header, dims) in cases {
            std::fs::write(&idx, header).unwrap();
            assert_eq!(
                read_idx(&idx).unwrap_err().to_string(),
                format!("{}: the dimensions {dims} hold more values than memory can address", idx.display())
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// scikit-learn 1.9.1's `StandardScaler().fit(x)` (float32 `x`), its
    /// `mean_` and `scale_` rounded to f32. Old code: variance as
    /// `Σv²/n − mean²` against an absolute 1e-12 gave a constant column of
    /// 0.1 the scale 6e-9 (so 0.2 became 1.7e7), was 2.5% off for values
    /// near 5e10, and took a column of values near 1e-20 as constant.
    #[test]
    fn scaler_matches_scikit_learn() {
        // (data, features, scikit-learn's mean_, its scale_)
        type Case = (Vec<f32>, usize, Vec<f32>, Vec<f32>);
        let cases: [Case; 5] = [
            (vec![0.1; 1000], 1, vec![0.1], vec![1.0]),
            (vec![0.3; 10_000], 1, vec![0.3], vec![1.0]),
            (
                vec![49999998976.0, 50000003072.0, 50000003072.0, 50000003072.0, 50000003072.0],
                1,
                vec![50000003072.0],
                vec![1638.4],
            ),
            (vec![1.0, 10.0, 3.0, 10.0, 2.5, 10.0], 2, vec![2.1666667, 10.0], vec![0.8498366, 1.0]),
            (vec![1e-20, 3e-20], 1, vec![2e-20], vec![1e-20]),
        ];
        for (data, features, mean, scale) in cases {
            let s = StandardScaler::fit(&data, features);
            assert_eq!((&s.mean, &s.scale), (&mean, &scale), "{:?}", &data[..data.len().min(6)]);
        }
        // Constant columns of many magnitudes (old code: a quarter of them
        // got a tiny scale).
        let mut state = 0x2545_f491_u32;
        for _ in 0..300 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let value = f32::from_bits(0x2000_0000 + state % 0x3f00_0000);
            let s = StandardScaler::fit(&[value; 1000], 1);
            assert_eq!((s.mean[0], s.scale[0]), (value, 1.0), "{value}");
        }
        let mut x = [0.2f32];
        StandardScaler::fit(&[0.1; 1000], 1).transform(&mut x);
        assert_eq!(x, [0.2 - 0.1]);
    }

    /// Old code: `fit(&[], 0)` panicked in `chunks_exact(0)`; a partial row
    /// was silently ignored.
    #[test]
    fn scaler_arguments_are_checked() {
        let err = |r: Result<StandardScaler>| r.unwrap_err().to_string();
        assert_eq!(
            err(StandardScaler::try_fit(&[1.0, 2.0], 0)),
            "invalid argument `features`: must be at least 1, but is 0"
        );
        assert_eq!(
            err(StandardScaler::try_fit(&[1.0, 2.0, 3.0], 2)),
            "invalid argument `data`: holds 3 values, which is not a whole number of rows of 2 features"
        );
        assert_eq!(err(StandardScaler::try_fit(&[], 2)), "no samples to fit a StandardScaler on");
        let s = StandardScaler::try_fit(&[1.0, 3.0], 1).unwrap();
        assert!(s.try_transform(&mut [1.0, 2.0, 3.0]).is_ok());
        let two = StandardScaler::try_fit(&[1.0, 3.0], 2).unwrap();
        assert!(two.try_transform(&mut [1.0, 2.0, 3.0]).is_err());
        assert!(std::panic::catch_unwind(|| StandardScaler::fit(&[1.0], 0)).is_err());
    }

    /// Old code: a scaler built by hand (its fields are public) with a NaN
    /// mean or a zero scale transformed every value of that feature to NaN
    /// or infinity, and said nothing; `data` was left as it was on errors.
    #[test]
    fn a_scaler_with_unusable_means_or_scales_is_refused() {
        let mut data = [2.0, 3.0];
        for (mean, scale, name) in [
            (vec![1.0, f32::NAN], vec![1.0, 1.0], "mean"),
            (vec![1.0, 2.0], vec![0.0, 1.0], "scale"),
            (vec![1.0, 2.0], vec![1.0, f32::INFINITY], "scale"),
            (vec![1.0, 2.0], vec![-1.0, 1.0], "scale"),
        ] {
            let scaler = StandardScaler { mean, scale };
            match scaler.try_transform(&mut data) {
                Err(Error::InvalidArgument { name: got, reason }) => {
                    assert_eq!(got, "self", "{reason}");
                    assert!(reason.contains(name), "{reason}");
                }
                other => panic!("{name}: {other:?}"),
            }
            assert_eq!(data, [2.0, 3.0], "nothing transformed");
        }
        // A deviation that underflows f32 is scale 1, so the scaler it
        // fitted transforms (it refused its own scale of 0).
        let tiny = StandardScaler::try_fit(&[1e-45, 0.0], 1).unwrap();
        assert_eq!(tiny.scale, [1.0]);
        assert!(tiny.try_transform(&mut [1e-45]).is_ok());
    }

    /// Old code: a NaN or infinite value gave that feature a NaN mean and
    /// scale without a word, and every transformed value of it was NaN.
    #[test]
    fn non_finite_values_are_errors_naming_row_and_feature() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let data = [1.0, 2.0, 3.0, bad, 5.0, 6.0];
            assert_eq!(
                StandardScaler::try_fit(&data, 2).unwrap_err().to_string(),
                format!("invalid argument `data`: holds {bad} at row 1, feature 1, but every value must be finite")
            );
        }
    }

    /// The test size is `round(n · fraction)` with the fraction the caller
    /// wrote (its shortest decimal) and ties away from zero, in f64. Old
    /// code multiplied in f32: 16,777,217 · 1.0 became 16,777,216 (one
    /// sample left in train).
    #[test]
    fn test_size_is_the_written_fraction_of_n_rounded() {
        let n = 16_777_217;
        let (train, test) = try_train_test_split(n, 1.0, 3).unwrap();
        assert_eq!((train.len(), test.len()), (0, n));
        // 0.7 · 5 = 3.5, rounded away from zero: 4 (f32's 0.7 · 5 in f64 is 3.49999994).
        assert_eq!(try_train_test_split(5, 0.7, 3).unwrap().1.len(), 4);
        assert_eq!(try_train_test_split(10, 0.25, 3).unwrap().1.len(), 3);
        assert_eq!(try_train_test_split(7, 0.0, 3).unwrap().1.len(), 0);
    }

    /// Old code collected `0..n` unchecked: `usize::MAX` panicked with
    /// "capacity overflow" and 2⁴⁰ aborted the process out of memory.
    #[test]
    fn more_indices_than_memory_holds_is_an_error_naming_n() {
        for n in [usize::MAX, 1 << 40] {
            match try_train_test_split(n, 0.2, 1) {
                Err(Error::InvalidArgument { name: "n", reason }) => {
                    assert_eq!(reason, format!("{n} indices do not fit in memory"))
                }
                other => panic!("n = {n}: {other:?}"),
            }
        }
    }

    #[test]
    fn split_is_a_seeded_partition() {
        let (train, test) = train_test_split(10, 0.2, 1);
        assert_eq!((train.len(), test.len()), (8, 2));
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(train_test_split(10, 0.2, 1), (train, test));
        // Old code: −0.5 or NaN put no sample in test, silently.
        assert!(try_train_test_split(10, -0.5, 1).is_err() && try_train_test_split(10, f32::NAN, 1).is_err());
    }
}
