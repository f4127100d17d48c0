//! Python's float text: `repr(float)` (what Keras's CSV files and
//! `str.format` without a spec show) and the `str.format` specs file
//! names use (`{epoch:02d}`, `{val_loss:.2f}`).

use crate::error::{Error, Result};

/// Python's `repr(x)` of a float: the shortest digits that read back to
/// `x`, fixed notation for exponents −4..16 (`0.0001`, `2.0`), scientific
/// otherwise (`1e-05`, `1.5e+16`); `nan`, `inf`, `-inf`.
pub(crate) fn python_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Python's
    // repr, but when two strings of that length are equally close to `x` it
    // does not pick the even one as Python (David Gay's dtoa) does: an f32
    // widened, 3.38108062744140625, gave ...063 where Python gives ...062.
    // `{:.*e}` with the same number of digits is correctly rounded, half to
    // even, so it is Python's choice whenever it round-trips. It might not
    // when `x` is a power of two (the round-trip interval below `x` is
    // narrower than above); then keep the shortest string, which does.
    let shortest = format!("{:e}", x.abs());
    let significant = shortest.split('e').next().map_or(1, |m| m.chars().filter(char::is_ascii_digit).count());
    let rounded = format!("{:.*e}", significant - 1, x.abs());
    let sci = if rounded.parse::<f64>() == Ok(x.abs()) { rounded } else { shortest };
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let body = if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let point = exponent as usize + 1;
            if digits.len() <= point {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exponent - 1) as usize))
        }
    } else {
        let rest = if digits.len() > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{}{rest}e{exp_sign}{:02}", &digits[..1], exponent.abs())
    };
    format!("{sign}{body}")
}

/// A value a file name template can show.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value {
    Int(i64),
    Float(f64),
}

/// Python's `template.format(**values)` for the specs file names use:
/// `{name}`, `{name:[0][width][.precision][d|f|e|%]}`, `{{` and `}}`.
/// `lookup` gives a name's value.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `filepath` for a name `lookup` does
/// not know (Python's `KeyError`), an unsupported spec, a width above
/// 65535 or a precision above 65534, or `d` on a float.
pub(crate) fn format_template(template: &str, lookup: impl Fn(&str) -> Option<Value>) -> Result<String> {
    let bad = |reason: String| Error::InvalidArgument { name: "filepath", reason };
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(bad(format!("single '}}' in \"{template}\""))),
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => field.push(c),
                        None => return Err(bad(format!("unclosed '{{' in \"{template}\""))),
                    }
                }
                let (name, spec) = field.split_once(':').unwrap_or((&field, ""));
                let value = lookup(name).ok_or_else(|| {
                    bad(format!("\"{template}\" names `{name}`, which is neither `epoch` nor a logged value"))
                })?;
                out.push_str(
                    &format_value(value, spec)
                        .map_err(|reason| bad(format!("`{{{field}}}` in \"{template}\": {reason}")))?,
                );
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Checks a template's syntax, names and specs before any value exists,
/// giving every field a stand-in of the type it will have: `kind(name)`
/// is `Some(Value::Int(..))` or `Some(Value::Float(..))`, or `None` for a
/// name that will never be filled (an error naming it).
pub(crate) fn check_template(template: &str, kind: impl Fn(&str) -> Option<Value>) -> Result<()> {
    format_template(template, kind).map(|_| ())
}

/// The largest precision a spec may ask for. Rust's formatting panics on a
/// precision above `u16::MAX`, and `{:.65535e}` panics too (it asks for
/// precision + 1 digits, counted in a `u16`), so one below, for every spec.
const MAX_PRECISION: usize = u16::MAX as usize - 1;

/// The largest width a spec may ask for. Width is only padding, so a huge
/// one would exhaust memory; no file system takes a name even this long
/// (names stop at 255 bytes), so the bound costs nothing.
const MAX_WIDTH: usize = u16::MAX as usize;

/// Python's text for a non-finite float under any float spec (`nan`,
/// `inf`, `-inf`; Python drops a NaN's sign), or `None` for a finite one.
fn non_finite(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("nan")
    } else if x.is_infinite() {
        Some(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        None
    }
}

fn format_value(value: Value, spec: &str) -> std::result::Result<String, String> {
    let unsupported = || format!("format spec `{spec}` is not supported (use [0][width][.precision][d|f|e|%])");
    let (zero, rest) = match spec.strip_prefix('0') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let kind = rest.chars().last().filter(|c| c.is_ascii_alphabetic() || *c == '%');
    let rest = match kind {
        Some(k) => &rest[..rest.len() - k.len_utf8()],
        None => rest,
    };
    let (width, precision) = match rest.split_once('.') {
        Some((w, p)) => (w, Some(p.parse::<usize>().map_err(|_| unsupported())?)),
        None => (rest, None),
    };
    let width: usize = if width.is_empty() { 0 } else { width.parse().map_err(|_| unsupported())? };
    if width > MAX_WIDTH {
        return Err(format!("width {width} is above the limit of {MAX_WIDTH}"));
    }
    if let Some(p) = precision.filter(|&p| p > MAX_PRECISION) {
        return Err(format!("precision {p} is above the limit of {MAX_PRECISION}"));
    }
    let places = precision.unwrap_or(6);
    let text = match (kind, value) {
        (None, _) if precision.is_some() => return Err(unsupported()),
        (None, Value::Int(i)) => i.to_string(),
        (None, Value::Float(f)) => python_repr(f),
        (Some('d'), Value::Int(i)) if precision.is_none() => i.to_string(),
        (Some('d'), Value::Float(_)) => return Err("Unknown format code 'd' for a float".into()),
        (Some(kind @ ('f' | '%' | 'e')), v) => {
            // As Python, `%` scales first: a finite value may overflow to `inf%`.
            let (x, suffix) = if kind == '%' { (100.0 * as_f64(v), "%") } else { (as_f64(v), "") };
            // Rust prints `NaN` and has no exponent to split for `inf`; Python
            // prints `nan`, `inf`, `-inf` whatever the spec (a diverging run logs these).
            let number = match non_finite(x) {
                Some(text) => text.to_string(),
                None if kind == 'e' => {
                    let s = format!("{x:.places$e}");
                    let (m, e) = s.split_once('e').expect("a finite `{:e}` has an exponent");
                    let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                    format!("{m}e{sign}{digits:0>2}")
                }
                None => format!("{x:.places$}"),
            };
            number + suffix
        }
        _ => return Err(unsupported()),
    };
    Ok(if text.len() >= width {
        text
    } else if zero {
        // Python puts the zeros after the sign.
        let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |d| ("-", d));
        format!("{sign}{}{digits}", "0".repeat(width - text.len()))
    } else {
        // Numbers align right.
        format!("{}{text}", " ".repeat(width - text.len()))
    })
}

fn as_f64(v: Value) -> f64 {
    match v {
        Value::Int(i) => i as f64,
        Value::Float(f) => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings are what Python 3.11 prints (`repr(x)`, `format(x, spec)`).
    #[test]
    fn floats_print_as_python_prints_them() {
        let f32_widened = |x: f32| python_repr(x as f64);
        assert_eq!(f32_widened(std::f32::consts::LN_2), "0.6931471824645996");
        assert_eq!(python_repr(2.0), "2.0");
        assert_eq!(python_repr(1e-5), "1e-05");
        assert_eq!(python_repr(0.0001), "0.0001");
        assert_eq!(python_repr(1.5e16), "1.5e+16");
        assert_eq!(python_repr(123456789012345.0), "123456789012345.0");
        assert_eq!(python_repr(-0.25), "-0.25");
        assert_eq!(f32_widened(0.1), "0.10000000149011612");
        assert_eq!(python_repr(f64::NAN), "nan");
        let lookup = |name: &str| match name {
            "epoch" => Some(Value::Int(3)),
            "val_loss" => Some(Value::Float(0.123_456)),
            _ => None,
        };
        let s = format_template("w.{epoch:02d}-{val_loss:.2f}.{{x}}-{val_loss:.3e}-{epoch}", lookup).unwrap();
        assert_eq!(s, "w.03-0.12.{x}-1.235e-01-3");
        assert!(format_template("{loss}", lookup).is_err());
        assert!(format_template("{val_loss:d}", lookup).is_err());
    }

    /// The value of `{v:spec}` for `v`, through the template path
    /// ModelCheckpoint uses.
    fn format_one(v: f64, spec: &str) -> Result<String> {
        format_template(&format!("{{v:{spec}}}"), |name| (name == "v").then_some(Value::Float(v)))
    }

    /// A diverging run logs `inf` or NaN, and every spec must print it as
    /// Python does instead of panicking (`e`) or printing Rust's `NaN`.
    /// `NON_FINITE` (below) holds Python 3.11's `format(v, spec)`.
    #[test]
    fn non_finite_values_format_as_python() {
        for &(v, spec, want) in NON_FINITE {
            let got = format_one(v, spec).unwrap_or_else(|e| panic!("{v} `{spec}`: {e}"));
            assert_eq!(got, want, "format({v}, {spec:?})");
        }
        let inf = |name: &str| (name == "loss").then_some(Value::Float(f64::INFINITY));
        assert_eq!(format_template("w{loss:.3e}.keras", inf).unwrap(), "winf.keras");
    }

    #[test]
    fn precision_above_the_limit_is_rejected_not_a_panic() {
        let err = check_template("w{loss:.70000f}", |_| Some(Value::Float(0.0))).unwrap_err().to_string();
        assert!(err.contains("w{loss:.70000f}") && err.contains("65534"), "{err}");
        // 65535 is Rust's own limit for `f`, but `{:.65535e}` panics too.
        for spec in [".65535f", ".65535e", ".65535%", ".65536f"] {
            let err = format_one(1.0, spec).unwrap_err().to_string();
            assert!(err.contains("65534"), "{spec}: {err}");
        }
        // The limit itself still formats.
        assert_eq!(format_one(0.5, ".65534f").unwrap().len(), 65536);
        assert_eq!(format_one(0.5, ".65534e").unwrap().len(), 65540);
        assert_eq!(format_one(0.5, ".65534%").unwrap().len(), 65538);
    }

    #[test]
    fn width_above_the_limit_is_rejected_not_a_panic() {
        for template in ["w{epoch:018446744073709551615d}", "w{epoch:01000000000000d}", "w{loss:1000000000000}"] {
            let kind = |name: &str| Some(if name == "epoch" { Value::Int(1) } else { Value::Float(0.0) });
            let err = check_template(template, kind).unwrap_err().to_string();
            assert!(err.contains(template) && err.contains("65535"), "{err}");
        }
        let err = format_one(1.0, "065536f").unwrap_err().to_string();
        assert!(err.contains("65535"), "{err}");
        // The limit itself still pads.
        assert_eq!(format_one(1.0, "065535f").unwrap().len(), 65535);
    }

    /// 3.38108062744140625 (an f32 widened) lies halfway between two
    /// 17-digit decimals; Python's repr breaks the tie to even.
    #[test]
    fn python_repr_breaks_17_digit_ties_to_even() {
        assert_eq!(python_repr(f32::from_bits(0x405863a0) as f64), "3.3810806274414062");
    }

    /// Logged values are f32s widened to f64 (`v.into()`), so most rows are
    /// f32 bit patterns: 0x405863a0, 60 random ones whose exact value has 18
    /// significant digits (a tie at 17), and random ones; then random f64s.
    #[test]
    fn python_repr_matches_python_on_random_values() {
        for &(bits, want) in F32_REPR {
            assert_eq!(python_repr(f32::from_bits(bits) as f64), want, "f32 bits {bits:#010x}");
        }
        for &(bits, want) in F64_REPR {
            assert_eq!(python_repr(f64::from_bits(bits)), want, "f64 bits {bits:#018x}");
        }
    }

    // `repr` tables made with Python 3.11 by this script (`Decimal` finds the
    // ties: an f32 whose exact value has 18 significant digits):
    //   import random, struct; from decimal import Decimal
    //   random.seed(20240611)
    //   f32 = lambda b: struct.unpack('<f', struct.pack('<I', b))[0]
    //   f64 = lambda b: struct.unpack('<d', struct.pack('<Q', b))[0]
    //   finite32 = lambda b: (b >> 23) & 0xff != 0xff
    //   finite64 = lambda b: (b >> 52) & 0x7ff != 0x7ff
    //   rows32, ties = [0x405863a0], []
    //   while len(ties) < 60:
    //       b = random.getrandbits(32)
    //       if finite32(b) and len(Decimal(f32(b)).normalize().as_tuple().digits) == 18: ties.append(b)
    //   rows32 += ties
    //   while len(rows32) < 400:
    //       b = random.getrandbits(32)
    //       if finite32(b): rows32.append(b)
    //   rows64 = []
    //   while len(rows64) < 100:
    //       b = random.getrandbits(64)
    //       if finite64(b): rows64.append(b)
    //   for b in rows32: print(f'(0x{b:08x}, "{repr(f32(b))}"),')
    //   for b in rows64: print(f'(0x{b:016x}, "{repr(f64(b))}"),')
    const F32_REPR: &[(u32, &str)] = &[
        (0x405863a0, "3.3810806274414062"),
        (0x5e6a0a2e, "4.2160855830442803e+18"),
        (0xdd4eabbd, "-9.307627750330204e+17"),
        (0x5c80f9be, "2.9042713166453146e+17"),
        (0x5c00d3d2, "1.4504678366222746e+17"),
        (0xdbda118b, "-1.2276166724209869e+17"),
        (0x5f17603f, "1.0907787566723891e+19"),
        (0x5d0a2a43, "6.222402245959352e+17"),
        (0xc3f08539, "-481.0408020019531"),
        (0x43a1fbf9, "323.9685363769531"),
        (0x5bddde76, "1.2490113648112435e+17"),
        (0xdde39ed2, "-2.0502222237964698e+18"),
        (0xdc554f8c, "-2.401665310135419e+17"),
        (0x430561ca, "133.38198852539062"),
        (0xc0a1d2d0, "-5.056983947753906"),
        (0xc2125aac, "-36.58854675292969"),
        (0xdbc062db, "-1.0830377653161165e+17"),
        (0x5c0be31b, "1.574989074656133e+17"),
        (0xddc5de88, "-1.7822478754853683e+18"),
        (0x5bfb4ecf, "1.4147374023914291e+17"),
        (0x5c3505ed, "2.0381394500006707e+17"),
        (0x5c33dc61, "2.0250532000458342e+17"),
        (0xc317e632, "-151.89920043945312"),
        (0xde7e2644, "-4.5783499253848474e+18"),
        (0xdca39e8d, "-3.684379970513142e+17"),
        (0xc3ca5061, "-404.6279602050781"),
        (0x5bd259fa, "1.1841735077186765e+17"),
        (0xdca31d3e, "-3.673005866321183e+17"),
        (0xdc51ee05, "-2.363599014990971e+17"),
        (0xdcb68c2a, "-4.110604622228357e+17"),
        (0x5efbb8f5, "9.069258439791739e+18"),
        (0x5d4e9f70, "9.305463774007788e+17"),
        (0xc39f3b67, "-318.4640808105469"),
        (0x5bd5698c, "1.201404401114153e+17"),
        (0xc3ab8341, "-343.0254211425781"),
        (0x5d14ebc6, "6.706805150276649e+17"),
        (0xc2bc3092, "-94.09486389160156"),
        (0xdc8e0f0e, "-3.198879959749755e+17"),
        (0xdd172bd9, "-6.808149198593065e+17"),
        (0x606792e9, "6.674662302228152e+19"),
        (0xdc369ad4, "-2.055947243403346e+17"),
        (0xddf88cf7, "-2.23874517468971e+18"),
        (0x5ead9edb, "6.25533880396415e+18"),
        (0x5c52744c, "2.369504595022971e+17"),
        (0xdc3f7cd1, "-2.1559583056697754e+17"),
        (0x5cfaaeda, "5.644879640301404e+17"),
        (0x5ca6b8bf, "3.754238128978657e+17"),
        (0xdc75ff48, "-2.7696821598735565e+17"),
        (0x5cc1b167, "4.361578115592356e+17"),
        (0xc397eb13, "-303.8365173339844"),
        (0xdbef9693, "-1.348761550764114e+17"),
        (0x5c37b025, "2.068143747933143e+17"),
        (0x5c8fb6ef, "3.236164742645023e+17"),
        (0x42a1ccce, "80.90000915527344"),
        (0xc3a0decd, "-321.7406311035156"),
        (0xdc7e180e, "-2.8608436997246157e+17"),
        (0x4390a577, "289.2926940917969"),
        (0x5bdb7660, "1.235463491771433e+17"),
        (0xdcb901ac, "-4.165976714997924e+17"),
        (0xdd1aa839, "-6.965137468806922e+17"),
        (0xdead6dbc, "-6.248425624604508e+18"),
        (0x840cbde8, "-1.6544121584973293e-36"),
        (0x4c7b17f9, "65822692.0"),
        (0xde24d87a, "-2.969594539402068e+18"),
        (0xc3e10331, "-450.0249328613281"),
        (0x480f363f, "146648.984375"),
        (0x6506fa52, "3.9838418965354435e+22"),
        (0x87c56e9d, "-2.9706278193952448e-34"),
        (0xc51a0047, "-2464.017333984375"),
        (0x068fbaa8, "5.406488820290372e-35"),
        (0x4541ce2e, "3100.88623046875"),
        (0xc399e6b7, "-307.8024597167969"),
        (0x95c9b782, "-8.147277775627252e-26"),
        (0x895dc188, "-2.6692905313281726e-33"),
        (0x4a56f291, "3521700.25"),
        (0xe7f72e6f, "-2.3345621397782624e+24"),
        (0xee127810, "-1.1332489522533465e+28"),
        (0xf9eb8bf7, "-1.5287857325584164e+35"),
        (0x13128be9, "1.8496771778780953e-27"),
        (0xeaebe37e, "-1.4258593454540128e+26"),
        (0x385f2cbf, "5.320901618688367e-05"),
        (0x661ef05d, "1.8764195605683494e+23"),
        (0xf9e1b4b6, "-1.4649150580307139e+35"),
        (0xa005146d, "-1.1272296522580694e-19"),
        (0xa5036578, "-1.139681771739477e-16"),
        (0x507af8fc, "16842485760.0"),
        (0x70354c8d, "2.24437323974513e+29"),
        (0xe4f3675a, "-3.5920048598761853e+22"),
        (0x299afdc0, "6.882992439893876e-14"),
        (0xe8275bff, "-3.161328924145672e+24"),
        (0xe33d6605, "-3.4937859118978575e+21"),
        (0x96400975, "-1.55126205982623e-25"),
        (0xba591879, "-0.0008281539776362479"),
        (0x3d5e201d, "0.054229844361543655"),
        (0x43986e5c, "304.8621826171875"),
        (0x23a0578f, "1.7384317266628823e-17"),
        (0x45d6aa2f, "6869.27294921875"),
        (0xb3b7ca56, "-8.55840625035853e-08"),
        (0x2e63590c, "5.169291383833041e-11"),
        (0x88d19c40, "-1.261546414774233e-33"),
        (0xf7f07976, "-9.754802863543572e+33"),
        (0x07604681, "1.6872606249265259e-34"),
        (0x872de412, "-1.3082097293287873e-34"),
        (0x4ff0e145, "8082590208.0"),
        (0x9fcb260a, "-8.603677449635087e-20"),
        (0xc26ed153, "-59.70441818237305"),
        (0x023c70b7, "1.3844406195912352e-37"),
        (0x7ac9d002, "5.239352841096925e+35"),
        (0x9c073efd, "-4.47491635232823e-22"),
        (0x857aa1b8, "-1.1784646551511475e-35"),
        (0x5d7361ca, "1.0960950328316396e+18"),
        (0x1103ffeb, "1.0412938671086836e-28"),
        (0x2ff287dc, "4.4116077457800884e-10"),
        (0x22c71f4b, "5.397219080058966e-18"),
        (0xce54b5bd, "-892170048.0"),
        (0xfe9a9dc4, "-1.0276013865497466e+38"),
        (0xf61924f0, "-7.76533789902894e+32"),
        (0x638b8b73, "5.148291602878443e+21"),
        (0x1498abb3, "1.5415801172544438e-26"),
        (0x9da94857, "-4.480872517219913e-21"),
        (0x518c2c0b, "75254292480.0"),
        (0x485d9387, "226894.109375"),
        (0xcd2b3edf, "-179564016.0"),
        (0x48f28034, "496641.625"),
        (0x132f9d03, "2.2165518100302975e-27"),
        (0xa7a5580f, "-4.5892173084437476e-15"),
        (0x507e0d7b, "17049185280.0"),
        (0x8979fa0c, "-3.0089856235127665e-33"),
        (0xe6ee4d6b, "-5.626756661896066e+23"),
        (0x2c4cb7b9, "2.909213018056911e-12"),
        (0x5bce5278, "1.1614904110389658e+17"),
        (0x5a8a41db, "1.9457977819856896e+16"),
        (0x1da6cb59, "4.415009068738945e-21"),
        (0x32edeb07, "2.7697309334939746e-08"),
        (0x21737178, "8.2481777113326995e-19"),
        (0x2a5259de, "1.8682925757677882e-13"),
        (0xd5613dba, "-15478451863552.0"),
        (0xa95c2a3c, "-4.888644556440974e-14"),
        (0x39b5af7f, "0.0003465376503299922"),
        (0x1ba60600, "2.746627374588186e-22"),
        (0xd54fccd0, "-14279910621184.0"),
        (0xbf9f91a8, "-1.2466325759887695"),
        (0x343a8257, "1.7370017246776115e-07"),
        (0x49e1e203, "1850432.375"),
        (0xcaafd513, "-5761673.5"),
        (0x12a099d8, "1.0135344999293825e-27"),
        (0x24649e65, "4.957378445197265e-17"),
        (0xad097650, "-7.81381903625089e-12"),
        (0x925ac585, "-6.903213255436708e-28"),
        (0x19de1a36, "2.2964848511694584e-23"),
        (0xf6b93ebe, "-1.8786083624516547e+33"),
        (0xe63a4a32, "-2.199322069387276e+23"),
        (0xe53c3f1b, "-5.55605618256985e+22"),
        (0xb95860c2, "-0.00020635410328395665"),
        (0xdd3a7d5c, "-8.39874876138324e+17"),
        (0x2b6afb06, "8.348186508397304e-13"),
        (0x1befc132, "3.966408282451607e-22"),
        (0xc670264e, "-15369.576171875"),
        (0xa8dc2fbc, "-2.444560802698434e-14"),
        (0x9a004acd, "-2.6530203191593194e-23"),
        (0x2d168639, "8.556316245800222e-12"),
        (0xa3e5d539, "-2.4918533057390466e-17"),
        (0xe90a0f25, "-1.0431455070849537e+25"),
        (0xbbb18adb, "-0.005418164189904928"),
        (0x49cb6fc6, "1666552.75"),
        (0x6c1b1876, "7.499960622066284e+26"),
        (0x702743df, "2.0706419103121795e+29"),
        (0x1f07d9d4, "2.8767545171701414e-20"),
        (0x3a1c86b0, "0.0005970997735857964"),
        (0xfcafcd86, "-7.302563686288963e+36"),
        (0xee0a4164, "-1.0696995942567214e+28"),
        (0xde06d150, "-2.428658458036273e+18"),
        (0x7984dc5e, "8.623159536083462e+34"),
        (0x9aad6902, "-7.17207722566701e-23"),
        (0xdab23b8a, "-2.50840048730112e+16"),
        (0x865c4477, "-4.1427701172105805e-35"),
        (0xa5083b83, "-1.181628299125388e-16"),
        (0x09b39ca5, "4.3239990314921666e-33"),
        (0x9c84268c, "-8.744991402208255e-22"),
        (0x9bac28a8, "-2.848128655758908e-22"),
        (0xcda2fe99, "-341824288.0"),
        (0x0ccb482a, "3.132053446212289e-31"),
        (0xfbb36a2a, "-1.8631488013570936e+36"),
        (0xbcb0c574, "-0.021578527987003326"),
        (0xd6bf55be, "-105187490398208.0"),
        (0x72cca2ad, "8.106445434333888e+30"),
        (0x4fd49279, "7132738048.0"),
        (0xa5a5063e, "-2.862716722439767e-16"),
        (0x2dc3d806, "2.2264867033383595e-11"),
        (0x3f996049, "1.1982508897781372"),
        (0x907fbe4b, "-5.043647907852829e-29"),
        (0x3a284aeb, "0.0006419855053536594"),
        (0x6ce91cd1, "2.2545263808099228e+27"),
        (0x3b608fae, "0.0034265327267348766"),
        (0x6862dc30, "4.285266270357079e+24"),
        (0x2dc4f48d, "2.239122255665027e-11"),
        (0xaa1bcf32, "-1.383865081989316e-13"),
        (0xc034801e, "-2.820319652557373"),
        (0xd94ccbd8, "-3602813988896768.0"),
        (0x5471f9a4, "4157101572096.0"),
        (0xe110c2ff, "-1.6689888099853717e+20"),
        (0x8959cba1, "-2.6216170722336285e-33"),
        (0x5942731f, "3420795153940480.0"),
        (0xf14cf52f, "-1.0149016124893548e+30"),
        (0xb7cbaa4f, "-2.427879189781379e-05"),
        (0x8437142e, "-2.152081267811724e-36"),
        (0xb329fc4a, "-3.9577834343162976e-08"),
        (0xaee7ef77, "-1.0547201306776444e-10"),
        (0x83509466, "-6.129605929446999e-37"),
        (0xb83aee66, "-4.456788155948743e-05"),
        (0x786c8489, "1.918859673344009e+34"),
        (0x6d4f4f34, "4.0099467334890684e+27"),
        (0x8427aaf0, "-1.9709246309354734e-36"),
        (0xec10d30b, "-7.003277610663076e+26"),
        (0xe3010562, "-2.3800178580264394e+21"),
        (0xaa9fa23c, "-2.835664645803315e-13"),
        (0x659d7df6, "9.296688837348517e+22"),
        (0xb3965f01, "-7.00220041949251e-08"),
        (0x5bc7976e, "1.1236003813523456e+17"),
        (0x311251a9, "2.129221465807518e-09"),
        (0x2246dc3c, "2.6950594876355584e-18"),
        (0x7d8b4987, "2.3143058401259105e+37"),
        (0x1a41e4dc, "4.009633568654394e-23"),
        (0x07df1363, "3.3564705239057177e-34"),
        (0x221f4c31, "2.1588853572769018e-18"),
        (0x30f77a7e, "1.8006429680639258e-09"),
        (0x865657f1, "-4.0313535713561526e-35"),
        (0x418a3696, "17.276653289794922"),
        (0x7181f320, "1.2869595634191143e+30"),
        (0x05e7a88a, "2.1785047076902634e-35"),
        (0xb36c22fd, "-5.497985355873425e-08"),
        (0xc66159e9, "-14422.4775390625"),
        (0x93283927, "-2.1232759413357127e-27"),
        (0xa55a9ee6, "-1.8962322772879089e-16"),
        (0x3661f8ed, "3.3672506560833426e-06"),
        (0x855e67d0, "-1.0457457180191716e-35"),
        (0xfbf9c439, "-2.5937235721255022e+36"),
        (0x874ed68e, "-1.5560769477015711e-34"),
        (0x455c6d90, "3526.84765625"),
        (0x87dfe483, "-3.3687617867115033e-34"),
        (0x570d3217, "155246273757184.0"),
        (0x17a692f5, "1.0764595739191227e-24"),
        (0x8aadcc3f, "-1.6736122860351396e-32"),
        (0x4f93931e, "4951784448.0"),
        (0xa06d96fe, "-2.0124639973985707e-19"),
        (0xfd750fc7, "-2.0358923726230846e+37"),
        (0x18af97d5, "4.538975092161888e-24"),
        (0xc202dd15, "-32.71590042114258"),
        (0x8f0a41aa, "-6.816571745955113e-30"),
        (0xa1987e2f, "-1.0333321157771418e-18"),
        (0x0378c9cc, "7.311230120271629e-37"),
        (0x0fc4a62f, "1.939110376980859e-29"),
        (0x7d9d8d9b, "2.617800662109672e+37"),
        (0x966ffa16, "-1.9385179457632673e-25"),
        (0x6ec371d1, "3.024358625368683e+28"),
        (0x5df4059c, "2.1979539804939878e+18"),
        (0x43be939f, "381.1532897949219"),
        (0x0742a1f5, "1.4642532753637103e-34"),
        (0xda0f6730, "-1.0091094381428736e+16"),
        (0x0c7a2651, "1.9270829867959574e-31"),
        (0x3604bced, "1.9779502054007025e-06"),
        (0x3ae1d5ca, "0.0017229851800948381"),
        (0x995ee52a, "-1.1523410313038955e-23"),
        (0xea9bc732, "-9.416208765378113e+25"),
        (0xae69f6e8, "-5.3197363181212154e-11"),
        (0xbac24307, "-0.0014821001095697284"),
        (0xda9ea522, "-2.2327305883877376e+16"),
        (0xc5f5ffc3, "-7871.97021484375"),
        (0x4759b594, "55733.578125"),
        (0x1fdd6d91, "9.37784030856744e-20"),
        (0x1e9986d0, "1.6255262259403397e-20"),
        (0xb4758f01, "-2.2869427596106107e-07"),
        (0x14e6dc07, "2.3310850534488587e-26"),
        (0x3e91a442, "0.2844563126564026"),
        (0x3e65fd77, "0.2245997041463852"),
        (0xa8e30244, "-2.520304521720987e-14"),
        (0x3cfdf03c, "0.030998341739177704"),
        (0xd18e6a42, "-76458508288.0"),
        (0x67906eed, "1.364133986062248e+24"),
        (0x050fc1ae, "6.759401027098059e-36"),
        (0x9aad847d, "-7.176516934841594e-23"),
        (0x92386d8a, "-5.819517994301774e-28"),
        (0x11493a91, "1.587415136222746e-28"),
        (0x398fa8a1, "0.00027400723774917424"),
        (0x9e788a62, "-1.3157627577344295e-20"),
        (0x54812dd6, "4438558244864.0"),
        (0x81376d8a, "-3.3690382016897976e-38"),
        (0x52f5b4dd, "527650684928.0"),
        (0x6898ab29, "5.767656423953168e+24"),
        (0xc7d86557, "-110794.6796875"),
        (0x68b57a93, "6.856075429141775e+24"),
        (0xc87d3b0c, "-259308.1875"),
        (0x5dde31ae, "2.001346183162757e+18"),
        (0xbeca3dae, "-0.3950018286705017"),
        (0xfd108fd4, "-1.2009726857164646e+37"),
        (0x79bb0e84, "1.2140674054973947e+35"),
        (0x76e4a204, "2.3186127949499655e+33"),
        (0x815012fa, "-3.8217181417603724e-38"),
        (0x12a0efe0, "1.0156553339841417e-27"),
        (0x29373100, "4.067666342644216e-14"),
        (0xe0b744fc, "-1.0564765667429869e+20"),
        (0xeca7121d, "-1.615809195423303e+27"),
        (0xcf39c83e, "-3116908032.0"),
        (0x478e4e2a, "72860.328125"),
        (0xbc5c2aac, "-0.0134379081428051"),
        (0xe9dd9474, "-3.348420702457629e+25"),
        (0xeeb7ff1f, "-2.8472089637334423e+28"),
        (0x5d222795, "7.302794740917862e+17"),
        (0x36f9f809, "7.449653367075371e-06"),
        (0x8650aaba, "-3.9245882063962015e-35"),
        (0xc0b7d494, "-5.744699478149414"),
        (0x3d644a45, "0.055734891444444656"),
        (0x1dd48ca3, "5.626134771455124e-21"),
        (0xf19bcde1, "-1.5430102031292202e+30"),
        (0xe0d69c3c, "-1.2371440952944886e+20"),
        (0x341fd998, "1.488718908149167e-07"),
        (0x6340a1fe, "3.553447629436425e+21"),
        (0xab6a392d, "-8.321284741992507e-13"),
        (0x904eed0e, "-4.080895690732755e-29"),
        (0x4216fde3, "37.7479362487793"),
        (0xf06e3827, "-2.949012654226855e+29"),
        (0xe1edcd7b, "-5.483355967086343e+20"),
        (0xcce3f1e3, "-119508760.0"),
        (0xb08eb473, "-1.0383146564763024e-09"),
        (0xd3654f32, "-984876187648.0"),
        (0xc477736f, "-989.8036499023438"),
        (0x9af9fd44, "-1.0339315894805922e-22"),
        (0x19995a78, "1.5856369252206492e-23"),
        (0x9df1ccf9, "-6.4004105599281365e-21"),
        (0x41104cdd, "9.018765449523926"),
        (0xf8c73650, "-3.2324020725625907e+34"),
        (0x5631155c, "48676323983360.0"),
        (0x671a2d82, "7.280839093324672e+23"),
        (0x9c33bc6f, "-5.94696765705213e-22"),
        (0x6dc73c3c, "7.70754198070169e+27"),
        (0x62e047c8, "2.0686215283414873e+21"),
        (0xd9742b66, "-4295475712753664.0"),
        (0xeb933ead, "-3.560161469840263e+26"),
        (0xe5473ddf, "-5.880576564518913e+22"),
        (0xbea9ae0b, "-0.33140596747398376"),
        (0x2528ad0d, "1.4630309083511918e-16"),
        (0x5b716877, "6.795032969766502e+16"),
        (0xd0e4daec, "-30716420096.0"),
        (0x589c88a8, "1376885984460800.0"),
        (0xa4d85409, "-9.381742879489041e-17"),
        (0xe3ab9de4, "-6.331540910325956e+21"),
        (0xec344bb3, "-8.718565079361507e+26"),
        (0xcb6e4f24, "-15617828.0"),
        (0x72e60bab, "9.113044219851993e+30"),
        (0x4db86899, "386732832.0"),
        (0x11ebf1ae, "3.7225409152461603e-28"),
        (0xd73414bd, "-198001163239424.0"),
        (0xf4c4bdf2, "-1.2470004063760313e+32"),
        (0x2b98aa78, "1.084756416636079e-12"),
        (0x97d0687a, "-1.3468058546200501e-24"),
        (0x1f281e80, "3.560061279336348e-20"),
        (0x9b0b4a48, "-1.1521812080844977e-22"),
        (0x3fe79235, "1.8091493844985962"),
        (0x7a6b031a, "3.050631672291802e+35"),
        (0xefa8aa53, "-1.0439878199147707e+29"),
        (0x15ec8522, "9.552968744163204e-26"),
        (0x9d5f75cf, "-2.9574709871355862e-21"),
        (0xc5197dda, "-2455.86572265625"),
        (0x7b8ce103, "1.46297068008037e+36"),
        (0x1305eb76, "1.6903051268290905e-27"),
        (0x33e03cbb, "1.0441859643606222e-07"),
        (0xb0099cdf, "-5.006323688938608e-10"),
        (0x793c24c0, "6.105607424734261e+34"),
        (0xc9604c00, "-918720.0"),
        (0x7ae00931, "5.816304600890987e+35"),
        (0x11dca957, "3.4814243565998433e-28"),
        (0xabadcfef, "-1.235010249449331e-12"),
        (0x4b5ba66f, "14394991.0"),
        (0x93faa441, "-6.327083927414402e-27"),
        (0x60090a21, "3.94989656673878e+19"),
        (0x92c60e96, "-1.2499152449906998e-27"),
        (0xd03e1b46, "-12757833728.0"),
        (0x0985e062, "3.222959390825009e-33"),
        (0x00d52e71, "1.9577620719094486e-38"),
        (0xf667a0ab, "-1.1744915115956244e+33"),
        (0x12184197, "4.804358876167803e-28"),
        (0x33e1e747, "1.0519448068180282e-07"),
        (0x5f299088, "1.2218415322637533e+19"),
        (0x74a41055, "1.0398778536952928e+32"),
        (0x2ef5f06b, "1.1184016907028749e-10"),
        (0x289666a9, "1.669786711515093e-14"),
        (0xfb57f719, "-1.1213555604611528e+36"),
        (0xdc8a18c7, "-3.1096631810903245e+17"),
        (0x57e7fcb8, "510145209565184.0"),
        (0x820d673f, "-1.0388674142389864e-37"),
        (0x6265b917, "1.0594103804252421e+21"),
        (0xf0c736c8, "-4.9322994737602746e+29"),
        (0x4b973ee0, "19824064.0"),
        (0x9a41b89d, "-4.0060593976650186e-23"),
        (0xc3f3f2cf, "-487.8969421386719"),
        (0x35ca3a9e, "1.5067232652654639e-06"),
        (0x2427ec5c, "3.641255673903328e-17"),
        (0xd61bb19c, "-42796782190592.0"),
        (0xbf2a7afa, "-0.6659389734268188"),
        (0x0ae87165, "2.238344163677946e-32"),
    ];
    const F64_REPR: &[(u64, &str)] = &[
        (0xb9a444f785e61015, "-4.996793353939696e-31"),
        (0x88b5ef4218c4efbd, "-1.0629029564963027e-266"),
        (0x0eb4afabafd7c56f, "7.941900404093609e-238"),
        (0x9c3c95835e02676f, "-1.155702476707937e-172"),
        (0x8f992d49b1932b82, "-1.5836737826032743e-233"),
        (0x8d5c7dd92c9b4841, "-2.60795619770891e-244"),
        (0xb01b9b501709033d, "-5.960400880571009e-77"),
        (0x012ba72c2a28ddc2, "5.040538147309746e-303"),
        (0x02904ff37e715edc, "2.494248498676685e-296"),
        (0x393b8b56301f7039, "5.3048361110028365e-33"),
        (0x59e499bffbb81a10, "1.0894512100709332e+125"),
        (0x2516ac973cc07e16, "5.111089942106103e-130"),
        (0xab50a57ff6fe7696, "-4.756680284061804e-100"),
        (0xa003bc62a3fe350a, "-1.8399614835619275e-154"),
        (0x61ce7f0599aaa186, "1.3719968129806619e+163"),
        (0xba04c7a0a7f5f5ca, "-3.278473605227104e-29"),
        (0xf3eb8fc28d9a6f1f, "-2.466665429005511e+250"),
        (0xa5651bc435b31600, "-1.5226092540454873e-128"),
        (0xb6762a4c4050dd22, "-2.4265700904144897e-46"),
        (0xb52cba0d5d989f65, "-1.499607179374569e-52"),
        (0xa465ed71eb2ba333, "-2.413467392691946e-133"),
        (0x0dd2e65569126007, "4.428731406403108e-242"),
        (0x77a5457471d3ccb2, "2.194827288109336e+268"),
        (0x15d21698d4bcbd23, "1.4423144687570303e-203"),
        (0xd86a5cb6983345be, "-8.309776302623583e+117"),
        (0x38713087c1dd34c2, "8.082497672630695e-37"),
        (0xfa1560fe2e5f0c55, "-1.2127210162501458e+280"),
        (0xad2baa590eac50ec, "-4.2441293575902785e-91"),
        (0x70739b254159e8f0, "4.870196400486438e+233"),
        (0x8a7905672221b861, "-3.2546943749640573e-258"),
        (0x5961c8b7dcae8886, "3.673830014231998e+122"),
        (0xe3ed6cdbf721dc53, "-2.2742982177645293e+173"),
        (0xa729648a6d306e2e, "-4.916785442911029e-120"),
        (0x34cd476ce59cd5cd, "2.3881803082323526e-54"),
        (0x09cf68d473230381, "1.9949622647199e-261"),
        (0xa78229e7daed812d, "-2.250898394739848e-118"),
        (0xea013951777c2689, "-4.218893649533094e+202"),
        (0x25356aa2a7c26dcf, "1.9310400070809538e-129"),
        (0x34938466ffa97da2, "1.9899320375942018e-55"),
        (0xda6d9c1e2930b751, "-4.008705701127516e+127"),
        (0x3ed1e34c53599196, "4.264803740026618e-06"),
        (0x110ac7f6478f5f08, "1.413128684486426e-226"),
        (0x4fa1bce6a7f1b8ef, "4.01153880176053e+75"),
        (0x5cfd099777a71790, "8.644835657596363e+139"),
        (0x1f582810660d386e, "1.0996545992386397e-157"),
        (0x2fa3786113f7639b, "3.284144516597691e-79"),
        (0x88320eaca26a09d4, "-3.4180406247141516e-269"),
        (0x6d361b855f2c3b75, "1.219373035959268e+218"),
        (0x49aa3ff148e15e3c, "7.492986292486641e+46"),
        (0x2319fffd9902c91f, "1.3645666605068803e-139"),
        (0xec3815900caabf0e, "-2.0269811047614895e+213"),
        (0x1b7bb857e829a1e8, "2.7362590233863787e-176"),
        (0x0b6b9d7f8db454fa, "1.1770699981756551e-253"),
        (0x9e7bd053429f2f5f, "-7.727912703116711e-162"),
        (0xe9d4019f38ff5dee, "-6.125544033277872e+201"),
        (0x844d28ae802c11a1, "-5.9841915067779446e-288"),
        (0xde5558383364deef, "-2.6652999077391103e+146"),
        (0xcf5508af02ff43e8, "-1.4865488254968707e+74"),
        (0x270af9cff5a903b1, "1.3058297383777503e-120"),
        (0x9f442a84b3613d7e, "-4.590013143511138e-158"),
        (0xb3219befa6964b71, "-2.1402706484893485e-62"),
        (0x86ab5c73bf758b66, "-1.543505567563009e-276"),
        (0x730f14a9b9dd344b, "1.697764597449257e+246"),
        (0x41d7823ebf7b421e, "1577646845.9259105"),
        (0x76ee6900e5ff45bb, "7.660639991851988e+264"),
        (0x7d691e7ebdb615c8, "1.2834241295447773e+296"),
        (0x58babf5a09368151, "2.6979939423356618e+119"),
        (0x9bbda3d8bc625a23, "-4.6812421923255205e-175"),
        (0x0983df95f43724dd, "7.889065676552131e-263"),
        (0x10d2b05998654185, "1.2326683998976743e-227"),
        (0x504cb80a80d18974, "6.650845240654918e+78"),
        (0x466c2a34a651d1e9, "1.7851604563013328e+31"),
        (0x055ae064d3c9b404, "7.229652426739849e-283"),
        (0x7e8978565a3328d4, "3.411424586688345e+301"),
        (0xa67567ec4393e344, "-2.023840440785242e-123"),
        (0xc9a2af50429cc086, "-5.333572796722097e+46"),
        (0x8dafb59f2051c545, "-9.288002952798507e-243"),
        (0xf284f4151dbe4b3e, "-4.470972428723341e+243"),
        (0x3c284fad060d0778, "6.589573147441732e-19"),
        (0x2b38589b90b6fa57, "1.7392070286940693e-100"),
        (0x3f70b1db5cd5e24d, "0.0040758675435133675"),
        (0xde1b26c9fae84121, "-2.1190054137522224e+145"),
        (0x69fa692789a9e249, "3.2345807293071114e+202"),
        (0x7d364ca30b5e3bea, "1.4241909527470806e+295"),
        (0xd5a36f085c87c6b1, "-3.482126014580216e+104"),
        (0x33953503ac913bd9, "3.299300708565933e-60"),
        (0x615b046e1e89bdaf, "9.495978706804572e+160"),
        (0x0580003f95669813, "3.443343809736724e-282"),
        (0x53295e1e954b2c19, "4.133985933099826e+92"),
        (0x9b53ac6b9b2661b4, "-4.8549477668384405e-177"),
        (0x185144af6ae18f92, "1.5139530006810668e-191"),
        (0x9c94afa44a5564c2, "-5.352801078738504e-171"),
        (0xede435874c9fd642, "-2.2828307400518168e+221"),
        (0xaea56b4a2d8bd8d1, "-5.512802696557385e-84"),
        (0xb2281abb5a511066, "-4.470413382942066e-67"),
        (0x32481f466ead097b, "1.789481912545865e-66"),
        (0x4bb9f3cb61e377f5, "6.363490867546199e+56"),
        (0xc8968427e675066a, "-4.903601498564881e+41"),
        (0xd4f7241035dd5511, "-2.0245955928912943e+101"),
        (0x78d4ddb8a30ffb2a, "1.128800846783217e+274"),
    ];

    // Made with Python 3.11 by (then `inf` etc. spelled as Rust's constants):
    //   inf, nan = float('inf'), float('nan')
    //   for s in ['', 'e', '.3e', '.0e', 'f', '.2f', '.0f', '%', '.1%', '08.2f', '08e', '010%', '10.3e', '010', '8', '3f']:
    //       for v in (inf, -inf, nan, -nan): print(f'({v}, "{s}", "{format(v, s)}"),')
    //   for v in (1e307, -1e307):  # `%` multiplies by 100 first: overflows to inf
    //       for s in ('%', '.2%'): print(f'({v!r}, "{s}", "{format(v, s)}"),')
    const NON_FINITE: &[(f64, &str, &str)] = &[
        (f64::INFINITY, "", "inf"),
        (f64::NEG_INFINITY, "", "-inf"),
        (f64::NAN, "", "nan"),
        (-f64::NAN, "", "nan"),
        (f64::INFINITY, "e", "inf"),
        (f64::NEG_INFINITY, "e", "-inf"),
        (f64::NAN, "e", "nan"),
        (-f64::NAN, "e", "nan"),
        (f64::INFINITY, ".3e", "inf"),
        (f64::NEG_INFINITY, ".3e", "-inf"),
        (f64::NAN, ".3e", "nan"),
        (-f64::NAN, ".3e", "nan"),
        (f64::INFINITY, ".0e", "inf"),
        (f64::NEG_INFINITY, ".0e", "-inf"),
        (f64::NAN, ".0e", "nan"),
        (-f64::NAN, ".0e", "nan"),
        (f64::INFINITY, "f", "inf"),
        (f64::NEG_INFINITY, "f", "-inf"),
        (f64::NAN, "f", "nan"),
        (-f64::NAN, "f", "nan"),
        (f64::INFINITY, ".2f", "inf"),
        (f64::NEG_INFINITY, ".2f", "-inf"),
        (f64::NAN, ".2f", "nan"),
        (-f64::NAN, ".2f", "nan"),
        (f64::INFINITY, ".0f", "inf"),
        (f64::NEG_INFINITY, ".0f", "-inf"),
        (f64::NAN, ".0f", "nan"),
        (-f64::NAN, ".0f", "nan"),
        (f64::INFINITY, "%", "inf%"),
        (f64::NEG_INFINITY, "%", "-inf%"),
        (f64::NAN, "%", "nan%"),
        (-f64::NAN, "%", "nan%"),
        (f64::INFINITY, ".1%", "inf%"),
        (f64::NEG_INFINITY, ".1%", "-inf%"),
        (f64::NAN, ".1%", "nan%"),
        (-f64::NAN, ".1%", "nan%"),
        (f64::INFINITY, "08.2f", "00000inf"),
        (f64::NEG_INFINITY, "08.2f", "-0000inf"),
        (f64::NAN, "08.2f", "00000nan"),
        (-f64::NAN, "08.2f", "00000nan"),
        (f64::INFINITY, "08e", "00000inf"),
        (f64::NEG_INFINITY, "08e", "-0000inf"),
        (f64::NAN, "08e", "00000nan"),
        (-f64::NAN, "08e", "00000nan"),
        (f64::INFINITY, "010%", "000000inf%"),
        (f64::NEG_INFINITY, "010%", "-00000inf%"),
        (f64::NAN, "010%", "000000nan%"),
        (-f64::NAN, "010%", "000000nan%"),
        (f64::INFINITY, "10.3e", "       inf"),
        (f64::NEG_INFINITY, "10.3e", "      -inf"),
        (f64::NAN, "10.3e", "       nan"),
        (-f64::NAN, "10.3e", "       nan"),
        (f64::INFINITY, "010", "0000000inf"),
        (f64::NEG_INFINITY, "010", "-000000inf"),
        (f64::NAN, "010", "0000000nan"),
        (-f64::NAN, "010", "0000000nan"),
        (f64::INFINITY, "8", "     inf"),
        (f64::NEG_INFINITY, "8", "    -inf"),
        (f64::NAN, "8", "     nan"),
        (-f64::NAN, "8", "     nan"),
        (f64::INFINITY, "3f", "inf"),
        (f64::NEG_INFINITY, "3f", "-inf"),
        (f64::NAN, "3f", "nan"),
        (-f64::NAN, "3f", "nan"),
        (1e+307, "%", "inf%"),
        (1e+307, ".2%", "inf%"),
        (-1e+307, "%", "-inf%"),
        (-1e+307, ".2%", "-inf%"),
    ];
}
