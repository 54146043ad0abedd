//! The lenient JSON reader: whole values, values found in prose, bare numbers. Strict JSON that
//! serde_json accepts must be accepted too, as the same value.
#![no_main]

use dspy::__fuzz::{lenient_find_object, lenient_find_value, lenient_number, lenient_parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lenient = lenient_parse(text);
    let _ = lenient_find_object(text);
    let _ = lenient_find_value(text, '[');
    let _ = lenient_number(text);
    if let Ok(strict) = serde_json::from_str::<serde_json::Value>(text) {
        match &lenient {
            Ok(v) => assert!(same(v, &strict), "strict {strict} read as {v}"),
            Err(e) => panic!("strict JSON refused: {e}"),
        }
    }
});

/// Equal values, numbers compared as f64 within rounding (the reader may keep `1.0` as a
/// float or not, and serde_json's float parsing may be one ulp off).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Object(x), Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
