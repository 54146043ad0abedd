//! English numbers in words (`nineteen`, `twenty-one`, `three hundred and five`, `minus two`).

const UNITS: &[(&str, i64)] = &[
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
];

const SCALES: &[(&str, i64)] = &[
    ("thousand", 1_000),
    ("million", 1_000_000),
    ("billion", 1_000_000_000),
];

/// The integer an English phrase names, if the whole phrase is a number.
pub(crate) fn parse_number_words(text: &str) -> Option<i64> {
    let lower = text.trim().trim_end_matches('.').to_lowercase();
    let mut words = lower
        .split(|c: char| c.is_whitespace() || c == '-' || c == ',')
        .filter(|w| !w.is_empty() && *w != "and")
        .peekable();
    let negative = matches!(words.peek(), Some(&"minus" | &"negative"));
    if negative {
        words.next();
    }
    let mut total: i64 = 0;
    let mut group: i64 = 0;
    let mut any = false;
    for w in words {
        any = true;
        if let Some((_, n)) = UNITS.iter().find(|(name, _)| *name == w) {
            group = group.checked_add(*n)?;
        } else if w == "hundred" {
            group = group.max(1).checked_mul(100)?;
        } else if let Some((_, scale)) = SCALES.iter().find(|(name, _)| *name == w) {
            total = total.checked_add(group.max(1).checked_mul(*scale)?)?;
            group = 0;
        } else {
            return None;
        }
    }
    if !any {
        return None;
    }
    let n = total.checked_add(group)?;
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::parse_number_words as p;

    #[test]
    fn numbers_in_words() {
        assert_eq!(p("nineteen"), Some(19));
        assert_eq!(p("Twenty-one"), Some(21));
        assert_eq!(p("three hundred and five"), Some(305));
        assert_eq!(p("two thousand seventeen"), Some(2017));
        assert_eq!(p("minus four"), Some(-4));
        assert_eq!(p("one million"), Some(1_000_000));
    }

    #[test]
    fn anything_else_is_not_a_number() {
        assert_eq!(p("nineteen apples"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("and"), None);
    }
}
