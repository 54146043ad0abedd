//! DSPy's predictor paths, as `named_predictors` forms them: a field's name (`answer`),
//! `.predict` inside a ChainOfThought (`query.predict`), `[i]` for the items of a list
//! (`hops[0].predict`), `.` between nested programs, and `self` for a lone predictor.

/// The field of a ChainOfThought that holds its predictor (`query.predict`).
pub const COT_PREDICTOR: &str = "predict";

/// The path of a predictor that is the whole program.
pub const SELF: &str = "self";

/// A list item in [`segments`]: `hops[0].predict` → `hops`, `[]`, `predict`.
pub const LIST_ITEM: &str = "[]";

/// `parent.name`, or `name` at the top.
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// The path of item `index` of the list at `parent`: `hops[0]`.
pub fn item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The path of a predictor found at `path`: the path itself, or [`SELF`] at the top.
pub fn leaf(path: &str) -> String {
    if path.is_empty() {
        SELF.to_string()
    } else {
        path.to_string()
    }
}

/// The canonical spelling of a path: `hops.0.answer` and `hops[0].answer` name the same
/// predictor, and this returns the second.
pub fn canonical(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    for (i, part) in path.split('.').enumerate() {
        if i > 0 && !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(part);
            out.push(']');
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

/// A path's steps, each list index as [`LIST_ITEM`]: `hops[0].predict` (or `hops.0.predict`)
/// → `["hops", "[]", "predict"]`.
pub fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in canonical(path).split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() || rest.is_empty() {
            out.push(name.to_string());
        }
        while let Some(end) = rest.find(']') {
            out.push(LIST_ITEM.to_string());
            rest = &rest[end + 1..];
        }
    }
    out
}

/// Whether `path` lies under the field `field`: `query`, `query.predict` and `hops[0]` are
/// under `query` and `hops`; `query2` is not under `query`.
pub fn is_under(path: &str, field: &str) -> bool {
    path.strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_formed_like_named_predictors() {
        assert_eq!(join("", "answer"), "answer");
        assert_eq!(join("query", COT_PREDICTOR), "query.predict");
        assert_eq!(join(&item("hops", 0), COT_PREDICTOR), "hops[0].predict");
        assert_eq!(item("", 1), "[1]");
        assert_eq!(leaf(""), "self");
        assert_eq!(leaf("answer"), "answer");
    }

    #[test]
    fn dotted_indices_are_brackets() {
        assert_eq!(canonical("hops.0.answer"), "hops[0].answer");
        assert_eq!(canonical("hops[0].answer"), "hops[0].answer");
        assert_eq!(canonical("query.predict"), "query.predict");
        assert_eq!(canonical("a.12"), "a[12]");
        assert_eq!(canonical("0.a"), "0.a");
    }

    #[test]
    fn segments_mark_list_items() {
        assert_eq!(segments("hops[0].predict"), ["hops", "[]", "predict"]);
        assert_eq!(segments("hops.0.predict"), ["hops", "[]", "predict"]);
        assert_eq!(segments("grid[0][1]"), ["grid", "[]", "[]"]);
        assert_eq!(segments("[1]"), ["[]"]);
        assert_eq!(segments("answer"), ["answer"]);
        assert_eq!(segments("self"), ["self"]);
    }

    #[test]
    fn under_a_field() {
        assert!(is_under("query", "query"));
        assert!(is_under("query.predict", "query"));
        assert!(is_under("hops[0].predict", "hops"));
        assert!(!is_under("query2.predict", "query"));
        assert!(!is_under("answer", "query"));
    }
}
