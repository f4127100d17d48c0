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
    // Rust's `{:e}` gives the shortest round-trip digits, as Python's repr.
    let sci = format!("{:e}", x.abs());
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
/// not know (Python's `KeyError`), an unsupported spec, or `d` on a float.
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
                out.push_str(&format_value(value, spec).map_err(|reason| bad(format!("`{{{field}}}`: {reason}")))?);
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Checks a template's syntax and specs without values.
pub(crate) fn check_template(template: &str) -> Result<()> {
    format_template(template, |_| Some(Value::Float(0.0))).map(|_| ()).or_else(|e| {
        // `d` on the stand-in float is not a syntax error.
        match format_template(template, |_| Some(Value::Int(0))) {
            Ok(_) => Ok(()),
            Err(_) => Err(e),
        }
    })
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
    let text = match (kind, value) {
        (None, _) if precision.is_some() => return Err(unsupported()),
        (None, Value::Int(i)) => i.to_string(),
        (None, Value::Float(f)) => python_repr(f),
        (Some('d'), Value::Int(i)) if precision.is_none() => i.to_string(),
        (Some('d'), Value::Float(_)) => return Err("Unknown format code 'd' for a float".into()),
        (Some('f'), v) => format!("{:.*}", precision.unwrap_or(6), as_f64(v)),
        (Some('%'), v) => format!("{:.*}%", precision.unwrap_or(6), 100.0 * as_f64(v)),
        (Some('e'), v) => {
            let s = format!("{:.*e}", precision.unwrap_or(6), as_f64(v));
            let (m, e) = s.split_once('e').expect("an exponent");
            let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
            format!("{m}e{sign}{digits:0>2}")
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
}
