//! DSPy's field prefixes: `first_name` → `First Name:`, what `dspy.Module.save` writes for each
//! field, and the loose key a compiled artifact's prefixes are compared by at build time.

/// DSPy's `infer_prefix` (`dspy/signatures/signature.py`): camelCase and digits split into
/// words at `_`, each word capitalized unless it is all uppercase, joined by spaces.
/// `question` → `Question`, `first_name` → `First Name`, `myURL` → `My URL`,
/// `step2go` → `Step 2 Go`. A port of its four regular expressions, so odd names come out as
/// in Python too (`a__b` → `A  B`); `\d` is taken as ASCII digits.
pub fn infer_prefix(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    // re.sub("(.)([A-Z][a-z]+)", r"\1_\2")
    let mut s1 = Vec::with_capacity(chars.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_word = c != '\n'
            && chars.get(i + 1).is_some_and(char::is_ascii_uppercase)
            && chars.get(i + 2).is_some_and(char::is_ascii_lowercase);
        s1.push(c);
        i += 1;
        if starts_word {
            s1.push('_');
            s1.push(chars[i]);
            i += 1;
            while chars.get(i).is_some_and(char::is_ascii_lowercase) {
                s1.push(chars[i]);
                i += 1;
            }
        }
    }
    // re.sub("([a-z0-9])([A-Z])", r"\1_\2"), then r"([a-zA-Z])(\d)" and r"(\d)([a-zA-Z])".
    let s2 = split_pairs(
        &s1,
        |a| a.is_ascii_lowercase() || a.is_ascii_digit(),
        |b| b.is_ascii_uppercase(),
    );
    let s3 = split_pairs(&s2, |a| a.is_ascii_alphabetic(), |b| b.is_ascii_digit());
    let s4 = split_pairs(&s3, |a| a.is_ascii_digit(), |b| b.is_ascii_alphabetic());
    let text: String = s4.into_iter().collect();
    text.split('_')
        .map(|word| {
            // Python's `str.isupper`: some cased character, none lowercase.
            let upper =
                word.chars().any(char::is_uppercase) && !word.chars().any(char::is_lowercase);
            if upper {
                return word.to_string();
            }
            let mut cs = word.chars();
            match cs.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(cs.as_str().to_lowercase().chars())
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `re.sub("(a)(b)", r"\1_\2")` for single-character classes: scans left to right, each match
/// consuming both characters.
fn split_pairs(s: &[char], a: impl Fn(&char) -> bool, b: impl Fn(&char) -> bool) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() + 4);
    let mut i = 0;
    while i < s.len() {
        out.push(s[i]);
        if a(&s[i]) && s.get(i + 1).is_some_and(&b) {
            out.push('_');
            out.push(s[i + 1]);
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

/// The prefix DSPy saves for a field: `first_name` → `First Name:`.
pub fn field_prefix(name: &str) -> String {
    format!("{}:", infer_prefix(name))
}

/// The key a saved prefix is compared by when only field names are known (at build time):
/// the trailing colon, whitespace and `_` dropped, lowercased. `First Name:` → `firstname`.
pub fn prefix_key(prefix: &str) -> String {
    prefix
        .trim_end_matches(':')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether the field `name` has the [`prefix_key`] `key` (`first_name` and `firstname`):
/// `name` with `_` dropped, ASCII lowercased, equals `key`. A `const fn`, so a program's
/// compiled artifact is checked while it compiles.
pub const fn matches_prefix_key(name: &str, key: &str) -> bool {
    let (f, n) = (name.as_bytes(), key.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < f.len() {
        if f[i] == b'_' {
            i += 1;
            continue;
        }
        if j >= n.len() || f[i].to_ascii_lowercase() != n[j] {
            return false;
        }
        i += 1;
        j += 1;
    }
    j == n.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each pair checked against Python DSPy's `infer_prefix`.
    const PYTHON: &[(&str, &str)] = &[
        ("question", "Question"),
        ("first_name", "First Name"),
        ("myURL", "My URL"),
        ("step2go", "Step 2 Go"),
        ("HTTPResponse", "HTTP Response"),
        ("a__b", "A  B"),
        ("_x", " X"),
        ("x_", "X "),
        ("camelCaseName", "Camel Case Name"),
        ("ABC", "ABC"),
        ("abc123def", "Abc 123 Def"),
        ("user_id2", "User Id 2"),
        ("reasoning", "Reasoning"),
        ("getHTTP2Response", "Get HTTP 2 Response"),
        ("XMLHttpRequest", "XML Http Request"),
        ("já_foi", "Já Foi"),
        ("ÄpfelBaum", "Äpfel Baum"),
        ("a1B", "A 1 B"),
        ("snake_Case", "Snake  Case"),
        ("mixedUP_case", "Mixed UP Case"),
    ];

    #[test]
    fn prefixes_like_dspy() {
        for (name, want) in PYTHON {
            assert_eq!(infer_prefix(name), *want, "{name}");
        }
        assert_eq!(field_prefix("first_name"), "First Name:");
    }

    #[test]
    fn a_saved_prefix_matches_its_field() {
        for (name, _) in PYTHON.iter().filter(|(n, _)| n.is_ascii()) {
            assert!(
                matches_prefix_key(name, &prefix_key(&field_prefix(name))),
                "{name}"
            );
        }
        assert_eq!(prefix_key("First Name:"), "firstname");
        assert!(!matches_prefix_key("first_name", "firstnames"));
        assert!(!matches_prefix_key("first_name", "first"));
    }
}
