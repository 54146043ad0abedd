//! Streaming a reply through each adapter's field stream (Chat headers, JSON keys, XML tags):
//! never a panic, and the same fields whether the reply comes whole or cut into pieces (the
//! first byte picks the signature, the next ones the piece lengths). Partial JSON values too.
#![no_main]

use dspy::stream::{FieldPiece, FieldStream};
use dspy::{Adapter, ChatAdapter, JsonAdapter, SignatureMeta, XmlAdapter};
use libfuzzer_sys::fuzz_target;

/// Each field's joined text and whether its last piece came.
fn fields(mut stream: Box<dyn FieldStream>, pieces: &[&str], n: usize) -> Vec<(String, bool)> {
    let mut out: Vec<FieldPiece> = Vec::new();
    for p in pieces {
        stream.push(p, &mut out);
    }
    stream.finish(&mut out);
    let mut joined = vec![(String::new(), false); n];
    for p in out {
        let (text, last) = &mut joined[p.field];
        assert!(!*last, "a piece after field {}'s last", p.field);
        text.push_str(&p.text);
        *last |= p.last;
    }
    joined
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (cuts, reply) = rest.split_at(rest.len().min(4));
    let reply = String::from_utf8_lossy(reply);
    let sigs = dspy_fuzz::signatures();
    let sig: &SignatureMeta = sigs[pick as usize % sigs.len()];
    let n = sig.outputs().len();
    // Pieces of the lengths the cut bytes give (1 to 16 chars), cycled.
    let mut pieces = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < reply.len() {
        let len = cuts.get(i % cuts.len().max(1)).map_or(3, |&c| usize::from(c % 16) + 1);
        let mut end = (at + len).min(reply.len());
        while !reply.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(&reply[at..end]);
        at = end;
        i += 1;
    }
    let adapters: [&dyn Adapter; 3] = [&ChatAdapter::new(), &JsonAdapter::new(), &XmlAdapter::new()];
    for adapter in adapters {
        let stream = || adapter.field_stream(sig).expect("the adapter streams");
        let whole = fields(stream(), &[&reply], n);
        let split = fields(stream(), &pieces, n);
        assert_eq!(whole, split, "{}: the same reply split otherwise", adapter.name());
    }
    let _ = dspy::__fuzz::partial_value(&reply);
});
