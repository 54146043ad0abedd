//! Server-sent events: arbitrary chunks through the event splitter, each event read as an
//! OpenAI or Anthropic stream does. Split or whole, the same bytes give the same events.
#![no_main]

use dspy::__fuzz::{SseBuffer, read_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let anthropic = flags & 1 == 1;
    let Some((&seed, stream)) = rest.split_first() else {
        return;
    };
    // Chunk lengths from a small generator seeded by the second byte.
    let mut chunks = Vec::new();
    let mut state = u32::from(seed) | 1;
    let mut at = 0;
    while at < stream.len() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = 1 + (state >> 16) as usize % 17;
        let end = (at + len).min(stream.len());
        chunks.push(&stream[at..end]);
        at = end;
    }
    let whole = run(&[stream], 1 << 20, anthropic);
    let split = run(&chunks, 1 << 20, anthropic);
    if let (Ok(w), Ok(s)) = (&whole, &split) {
        assert_eq!(w, s, "the same stream split differently gave other events");
    }
    // A small limit: refused, never a panic.
    let _ = run(&chunks, 8 + usize::from(flags >> 1), anthropic);
});

type Deltas = Vec<(String, Option<dspy::Usage>)>;

/// Events (and their deltas) as the stream reads them, and whether it ended cleanly.
fn run(
    chunks: &[&[u8]],
    limit: usize,
    anthropic: bool,
) -> Result<(Vec<Vec<u8>>, Deltas, bool), String> {
    let mut buf = SseBuffer::new(limit);
    let mut events = Vec::new();
    let mut deltas = Vec::new();
    let mut done = false;
    'chunks: for chunk in chunks {
        buf.push(chunk);
        while let Some(event) = buf.next_event().map_err(|e| e.to_string())? {
            events.push(event.to_vec());
            let read = read_event(anthropic, event).map_err(|e| e.to_string())?;
            deltas.extend(read.deltas);
            done |= read.done;
            if read.stop {
                break 'chunks;
            }
        }
    }
    Ok((events, deltas, done || buf.rest_is_blank()))
}
