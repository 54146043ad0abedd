//! A structured value read from the start of its JSON text: the list or object so far, with
//! only its complete items (a list growing item by item as it streams).

use serde_json::Value;

/// The value `text` holds so far: the whole value once complete, else what its complete items
/// make (`[1, 2, 3` is `[1, 2]`, `{"a": 1, "b"` is `{"a": 1}`); `None` before the first
/// `[` or `{`, or when the text so far is not JSON.
pub(crate) fn partial_value(text: &str) -> Option<Value> {
    let start = text.find(['[', '{'])?;
    let text = &text[start..];
    let mut stack: Vec<u8> = Vec::new();
    // Where the text may be cut, and the containers open there.
    let mut cut: Option<(usize, usize)> = None;
    let mut closers: Vec<u8> = Vec::new();
    let (mut in_str, mut escaped) = (false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_str {
            match (b, escaped) {
                (b'\\', false) => escaped = true,
                (b'"', false) => in_str = false,
                _ => escaped = false,
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                stack.push(b);
                cut = Some((i + 1, stack.len()));
                closers = stack.clone();
            }
            b']' | b'}' => {
                stack.pop();
                if stack.is_empty() {
                    return serde_json::from_str(&text[..=i]).ok();
                }
                cut = Some((i + 1, stack.len()));
                closers = stack.clone();
            }
            b',' => {
                cut = Some((i, stack.len()));
                closers = stack.clone();
            }
            _ => {}
        }
    }
    let (at, depth) = cut?;
    let mut candidate = text[..at].to_string();
    for open in closers[..depth].iter().rev() {
        candidate.push(if *open == b'[' { ']' } else { '}' });
    }
    serde_json::from_str(&candidate).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_and_objects_grow_item_by_item() {
        assert_eq!(partial_value("no json"), None);
        assert_eq!(partial_value("  ["), Some(json!([])));
        assert_eq!(partial_value("[\"a\", \"b"), Some(json!(["a"])));
        assert_eq!(partial_value("[\"a\", \"b,c\""), Some(json!(["a"])));
        assert_eq!(partial_value("[\"a\", \"b,c\","), Some(json!(["a", "b,c"])));
        assert_eq!(partial_value("[\"a\", \"b\"]"), Some(json!(["a", "b"])));
        assert_eq!(partial_value("[12"), Some(json!([])));
        assert_eq!(
            partial_value("[{\"a\": 1, \"b\": [2, 3]}, {\"a\": 4,"),
            Some(json!([{"a": 1, "b": [2, 3]}, {"a": 4}]))
        );
        assert_eq!(partial_value("{\"a\": 1, \"b\": "), Some(json!({"a": 1})));
        assert_eq!(partial_value("{\"a\": 1, \"b\": 2"), Some(json!({"a": 1})));
    }
}
