//! A predictor's streamed reply, fed to the stream's sink: the adapter's field stream splits
//! the text into output fields, and a structured output's value so far goes out whenever it
//! grows and still fits its type.

use crate::adapter::stream::{FieldPiece, FieldStream, partial_value};
use crate::context::{Note, PartialValue, StreamChunk, StreamSink};
use crate::signature::SignatureMeta;
use crate::signature::schema::FieldKind;
use serde_json::Value;
use std::sync::Arc;

/// The state of one streamed LM call.
pub(crate) struct FieldFeed<'m> {
    sink: Arc<StreamSink>,
    path: String,
    meta: &'m SignatureMeta,
    fields: Box<dyn FieldStream>,
    pieces: Vec<FieldPiece>,
    /// Each structured output's text so far, and the last value sent for it.
    raw: Vec<(String, Option<Value>)>,
}

impl<'m> FieldFeed<'m> {
    pub(crate) fn new(
        sink: Arc<StreamSink>,
        predictor: usize,
        meta: &'m SignatureMeta,
        fields: Box<dyn FieldStream>,
    ) -> Self {
        FieldFeed {
            path: sink.path(predictor),
            sink,
            meta,
            fields,
            pieces: Vec::new(),
            raw: vec![(String::new(), None); meta.outputs().len()],
        }
    }

    /// Reads the next piece of the reply.
    pub(crate) fn push(&mut self, text: &str) {
        self.fields.push(text, &mut self.pieces);
        self.send();
    }

    /// The reply ended.
    pub(crate) fn finish(&mut self) {
        self.fields.finish(&mut self.pieces);
        self.send();
    }

    fn send(&mut self) {
        for piece in self.pieces.drain(..) {
            let Some(field) = self.meta.outputs().get(piece.field) else {
                continue;
            };
            if *field.kind() == FieldKind::Json && !piece.text.is_empty() {
                let (raw, last) = &mut self.raw[piece.field];
                raw.push_str(&piece.text);
                // The value can only grow where an item or container may end.
                let may_grow = piece.text.contains([',', ']', '}', '[', '{']);
                if may_grow
                    && let Some(value) = partial_value(raw)
                    && last.as_ref() != Some(&value)
                    && field.validate(&value).is_ok()
                {
                    *last = Some(value.clone());
                    self.sink.send(Note::Partial(PartialValue {
                        predictor: self.path.clone(),
                        field: field.name().to_string(),
                        value,
                    }));
                }
            }
            self.sink.send(Note::Chunk(StreamChunk {
                predictor: self.path.clone(),
                field: field.name().to_string(),
                text: piece.text,
                last: piece.last,
            }));
        }
    }
}
