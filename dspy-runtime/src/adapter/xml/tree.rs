//! A forgiving reader for the XML an LM writes: elements, attributes, text and entities, never
//! an error (an unclosed element ends where its parent does, a stray closing tag is skipped).

/// One element: its tag, `key` attribute, text (entities decoded, children's text left out),
/// the source between its tags, and its children.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Element {
    pub(super) tag: String,
    pub(super) key_attr: Option<String>,
    pub(super) text: String,
    pub(super) inner: String,
    pub(super) children: Vec<Element>,
}

impl Element {
    /// The name it is grouped under: an `<entry key="…">`'s key, else its tag (DSPy's
    /// `_group_children`).
    pub(super) fn key(&self) -> &str {
        match (&*self.tag, &self.key_attr) {
            ("entry", Some(k)) => k,
            _ => &self.tag,
        }
    }
}

/// Children grouped by [`Element::key`], in order of first appearance.
pub(super) fn group(children: &[Element]) -> Vec<(String, Vec<Element>)> {
    let mut out: Vec<(String, Vec<Element>)> = Vec::new();
    for c in children {
        match out.iter_mut().find(|(k, _)| k == c.key()) {
            Some((_, list)) => list.push(c.clone()),
            None => out.push((c.key().to_string(), vec![c.clone()])),
        }
    }
    out
}

/// The source between the first `<name …>` and its matching `</name>` in `text` (the end of
/// the text if it is never closed); `<name/>` is empty.
pub(super) fn find_element<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let mut from = 0;
    while let Some(at) = text[from..].find('<').map(|i| i + from) {
        let Some(open) = parse_tag(&text[at..]) else {
            from = at + 1;
            continue;
        };
        if open.closing || open.name != name {
            from = at + open.len;
            continue;
        }
        let start = at + open.len;
        if open.self_closing {
            return Some("");
        }
        let mut depth = 1;
        let mut pos = start;
        while let Some(lt) = text[pos..].find('<').map(|i| i + pos) {
            match parse_tag(&text[lt..]) {
                Some(t) if t.name == name && t.closing => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&text[start..lt]);
                    }
                    pos = lt + t.len;
                }
                Some(t) if t.name == name && !t.self_closing => {
                    depth += 1;
                    pos = lt + t.len;
                }
                Some(t) => pos = lt + t.len,
                None => pos = lt + 1,
            }
        }
        return Some(&text[start..]);
    }
    None
}

/// Parses `inner` (what sits between `<tag>` and `</tag>`) into an element named `tag`.
pub(super) fn parse(tag: &str, inner: &str) -> Element {
    let mut pos = 0;
    let mut root = Element {
        tag: tag.to_string(),
        inner: inner.to_string(),
        ..Element::default()
    };
    let _ = parse_children(inner, &mut pos, &mut root, &mut Vec::new());
    root
}

/// Deepest nesting read; deeper elements are kept as text.
const MAX_DEPTH: usize = 64;

/// Reads text and child elements into `parent` until its closing tag, an ancestor's closing
/// tag (left for the ancestor: an unclosed element ends where its parent does) or the end.
///
/// Returns the length of the closing tag it consumed, if it was closed by its own.
fn parse_children(
    src: &str,
    pos: &mut usize,
    parent: &mut Element,
    open: &mut Vec<String>,
) -> Option<usize> {
    while *pos < src.len() {
        let rest = &src[*pos..];
        let Some(lt) = rest.find('<') else {
            parent.text.push_str(&unescape(rest));
            *pos = src.len();
            return None;
        };
        parent.text.push_str(&unescape(&rest[..lt]));
        *pos += lt;
        let Some(tag) = parse_tag(&src[*pos..]) else {
            parent.text.push('<');
            *pos += 1;
            continue;
        };
        if tag.closing {
            if tag.name == parent.tag {
                *pos += tag.len;
                return Some(tag.len);
            }
            if open.iter().any(|t| t == tag.name) {
                return None;
            }
            *pos += tag.len;
            continue;
        }
        *pos += tag.len;
        let mut child = Element {
            tag: tag.name.to_string(),
            key_attr: tag.key,
            ..Element::default()
        };
        if !tag.self_closing {
            let start = *pos;
            let closed = if open.len() < MAX_DEPTH {
                open.push(parent.tag.clone());
                let closed = parse_children(src, pos, &mut child, open);
                open.pop();
                closed
            } else {
                *pos = src.len();
                None
            };
            let end = *pos - closed.unwrap_or(0);
            child.inner = src[start..end].to_string();
        }
        parent.children.push(child);
    }
    None
}

/// One tag: its name, whether it closes or is self-closing, its `key` attribute, its length.
struct Tag<'a> {
    name: &'a str,
    closing: bool,
    self_closing: bool,
    key: Option<String>,
    len: usize,
}

/// Reads the tag at the start of `s` (which starts with `<`), if it is one.
fn parse_tag(s: &str) -> Option<Tag<'_>> {
    let body = s.strip_prefix('<')?;
    let (closing, body) = match body.strip_prefix('/') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let name_len = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
        .map_or(body.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let name = &body[..name_len];
    let end = body.find('>')?;
    if end < name_len {
        return None;
    }
    let attrs = &body[name_len..end];
    if !attrs.is_empty() && !attrs.starts_with(char::is_whitespace) && attrs != "/" {
        return None;
    }
    let self_closing = !closing && attrs.trim_end().ends_with('/');
    let key = attribute(attrs, "key");
    let len = 1 + usize::from(closing) + end + 1;
    Some(Tag {
        name,
        closing,
        self_closing,
        key,
        len,
    })
}

/// The value of attribute `name` in `attrs` (quoted with `"` or `'`), entities decoded.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let mut rest = attrs;
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0 || rest[..at].ends_with(char::is_whitespace);
        let after = rest[at + name.len()..].trim_start();
        if before_ok && let Some(v) = after.strip_prefix('=') {
            let v = v.trim_start();
            let quote = v.chars().next()?;
            if quote == '"' || quote == '\'' {
                let body = &v[1..];
                let end = body.find(quote)?;
                return Some(unescape(&body[..end]));
            }
        }
        rest = &rest[at + name.len()..];
    }
    None
}

/// Decodes XML's entities (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&#…;`); anything else
/// stays as written.
pub(in crate::adapter) fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let code = match entity.strip_prefix("#x").or(entity.strip_prefix("#X")) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => entity.strip_prefix('#').and_then(|d| d.parse().ok()),
                    };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_elements_and_reads_nesting_forgivingly() {
        let reply = "Sure!\n<answer>\nA &amp; B &lt; C &#x263A; &bogus;\n</answer>\n<tags><item>x</item><item>y</item></tags>";
        assert_eq!(
            unescape(find_element(reply, "answer").unwrap().trim()),
            "A & B < C ☺ &bogus;"
        );
        let tags = parse("tags", find_element(reply, "tags").unwrap());
        let texts: Vec<&str> = tags.children.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["x", "y"]);
        assert_eq!(find_element("<a/> <b>1", "b"), Some("1"));
        assert_eq!(find_element("<a/>", "a"), Some(""));
        assert_eq!(find_element("<ab>1</ab>", "a"), None);
        assert_eq!(find_element("<a><a>1</a></a>", "a"), Some("<a>1</a>"));
        let d = parse("d", "<k>1</k><entry key='bad key'>2</entry><x>unclosed");
        let keys: Vec<&str> = d.children.iter().map(Element::key).collect();
        assert_eq!(keys, ["k", "bad key", "x"]);
        assert_eq!(d.children[2].text, "unclosed");
        let deep = "<a>".repeat(10_000);
        let _ = parse("r", &deep);
        assert!(
            parse_tag("< a>").is_none()
                && parse_tag("<a").is_none()
                && parse_tag("<a=b>").is_none()
        );
    }
}
