//! Reading a reply as it streams: each adapter's [`FieldStream`] finds its own field markers
//! (`[[ ## name ## ]]`, `<name>…</name>`, a JSON object's keys) in the text as it arrives and
//! hands out each output field's text, holding back only what could still be part of a marker,
//! an escape or trailing whitespace, so a marker split across pieces at any offset is never
//! shown as text. The pieces of a text field join to exactly the value the adapter parses.

mod json;
mod marked;
mod partial;

pub(crate) use json::JsonFieldStream;
pub(crate) use marked::{ChatFieldStream, XmlFieldStream};
pub(crate) use partial::partial_value;

/// The output names of `sig`, in order (what each adapter's field stream is built from).
pub(crate) fn output_names(sig: &crate::signature::SignatureMeta) -> Vec<String> {
    sig.outputs().iter().map(|f| f.name().to_string()).collect()
}

/// Text of one output field that became certain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPiece {
    /// The output's index in the signature.
    pub field: usize,
    /// The text (empty on a field's last piece when nothing was held back).
    pub text: String,
    /// Whether the field is complete.
    pub last: bool,
}

/// Splits a streamed reply into output fields.
pub trait FieldStream: Send {
    /// Reads the next piece of the reply, adding the field text that became certain to `out`.
    fn push(&mut self, text: &str, out: &mut Vec<FieldPiece>);
    /// The reply ended: adds what was held back, and closes the open field.
    fn finish(&mut self, out: &mut Vec<FieldPiece>);
}

use dspy_grammar::py_is_space;

/// One field's text as it is handed out: leading whitespace dropped, trailing whitespace held
/// until text follows it (so the pieces join to the stripped value).
#[derive(Default)]
struct FieldText {
    field: Option<usize>,
    started: bool,
    held_ws: String,
    /// Strip surrounding whitespace (Chat, XML) or keep the text as it is (a JSON string).
    strip: bool,
}

impl FieldText {
    fn open(&mut self, field: Option<usize>, strip: bool) {
        *self = FieldText {
            field,
            strip,
            ..FieldText::default()
        };
    }

    fn text(&mut self, mut s: &str, out: &mut Vec<FieldPiece>) {
        let Some(field) = self.field else {
            return;
        };
        if !self.strip {
            if !s.is_empty() {
                out.push(FieldPiece {
                    field,
                    text: s.to_string(),
                    last: false,
                });
            }
            return;
        }
        if !self.started {
            s = s.trim_start_matches(py_is_space);
            if s.is_empty() {
                return;
            }
            self.started = true;
        }
        let body = s.trim_end_matches(py_is_space);
        if body.is_empty() {
            self.held_ws.push_str(s);
            return;
        }
        let mut text = std::mem::take(&mut self.held_ws);
        text.push_str(body);
        self.held_ws.push_str(&s[body.len()..]);
        out.push(FieldPiece {
            field,
            text,
            last: false,
        });
    }

    /// Closes the field (its last piece), dropping held whitespace.
    fn close(&mut self, out: &mut Vec<FieldPiece>) {
        if let Some(field) = self.field.take() {
            out.push(FieldPiece {
                field,
                text: String::new(),
                last: true,
            });
        }
        self.held_ws.clear();
    }
}

/// The length of the longest end of `s` that begins `marker` (text that may be the start of
/// a marker, to hold back), on a char boundary.
fn partial_marker_len(s: &str, marker: &str) -> usize {
    let max = marker.len().saturating_sub(1).min(s.len());
    (1..=max)
        .rev()
        .find(|&n| s.is_char_boundary(s.len() - n) && marker.starts_with(&s[s.len() - n..]))
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The text of each field, joined from the pieces of `reply` cut into `cuts`.
    pub(crate) fn joined(
        mut stream: Box<dyn FieldStream>,
        pieces: &[&str],
        fields: usize,
    ) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for p in pieces {
            stream.push(p, &mut out);
        }
        stream.finish(&mut out);
        let mut joined = vec![(String::new(), false); fields];
        for p in out {
            assert!(
                !joined[p.field].1,
                "a piece after the last one of field {}",
                p.field
            );
            joined[p.field].0.push_str(&p.text);
            joined[p.field].1 |= p.last;
        }
        joined
    }

    /// `reply` cut at every char boundary into two pieces, and into single chars.
    pub(crate) fn every_cut(reply: &str) -> Vec<Vec<&str>> {
        let mut cuts: Vec<Vec<&str>> = (0..=reply.len())
            .filter(|&i| reply.is_char_boundary(i))
            .map(|i| vec![&reply[..i], &reply[i..]])
            .collect();
        cuts.push(
            reply
                .char_indices()
                .map(|(i, c)| &reply[i..i + c.len_utf8()])
                .collect(),
        );
        cuts
    }

    /// Each adapter's field stream gives, at every cut of each reply, the text fields its own
    /// parser reads.
    #[test]
    fn chunks_join_to_what_each_adapter_parses_at_every_cut() {
        use crate::adapter::{Adapter, ChatAdapter, JsonAdapter, XmlAdapter};
        let sig = crate::signature::DynSignature::parse("q -> reasoning, answer").unwrap();
        let meta = sig.meta();
        let chat: &[&str] = &[
            "[[ ## reasoning ## ]]\r\nLine one\r\n\r\nline   two  \r\n[[## Answer ##]] Paris  \nand more\n[[ ## completed ## ]]",
            "Intro\n  [[ ## answer ## ]]\nmid [[ ## reasoning ## ]] line\n[[ ## reasoning ## ]]\nr\n\n[[ ## completed ## ]]\n[[ ## answer ## ]]\nlate",
            "[[ ## reasoning ## ]]\n\u{1c} padded \u{1f}\n[[ ## answer ## ]]\n[[1, 2], [3]]\n[[ answer ]]\n",
            "[[ ## reasoning ## ]] same line\n[[ ## answer ## ]]\n«ü» [[ ## x",
        ];
        let json: &[&str] = &[
            "{\"reasoning\": \"A \\\"q\\\" \\u00e9 \\ud83d\\ude00 \\ud83d\\n x \\q \\udc00 \\ud83d!\", \"Answer\": \"Paris\"}",
            "```json\n{'reasoning': 'single \\' quoted', \"answer\": \"b, {c}\"}\n```",
        ];
        let xml: &[&str] =
            &["<reasoning>\n A &amp; B &#x263A; &bogus;\n</reasoning>\n<answer>Paris</answer>"];
        let cases: [(&dyn Adapter, &[&str]); 3] = [
            (&ChatAdapter::new(), chat),
            (&JsonAdapter::new(), json),
            (&XmlAdapter::new(), xml),
        ];
        for (adapter, replies) in cases {
            for reply in replies {
                let parsed = adapter
                    .parse(meta, reply)
                    .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
                for cut in every_cut(reply) {
                    let got = joined(adapter.field_stream(meta).unwrap(), &cut, 2);
                    for (i, f) in meta.outputs().iter().enumerate() {
                        assert_eq!(
                            Some(got[i].0.as_str()),
                            parsed.fields[f.name()].as_str(),
                            "{} field {} of {reply:?} cut {cut:?}",
                            adapter.name(),
                            f.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn partial_markers() {
        assert_eq!(partial_marker_len("x</ans", "</answer>"), 5);
        assert_eq!(partial_marker_len("abc", "</answer>"), 0);
        assert_eq!(partial_marker_len("x<", "</answer>"), 1);
        assert_eq!(partial_marker_len("é", "</answer>"), 0);
    }
}
