//! Streaming a module's outputs as the LM writes them (DSPy's `streamify`):
//! `dspy::stream(&program, input)` yields each output field of each predictor in chunks, the
//! value so far of a structured output (a list growing item by item), status messages around
//! module and tool calls, and last the typed result.
//!
//! ```text
//! let qa = ChainOfThought::<Qa>::new();
//! let mut events = dspy::stream(&qa, QaInput { question: "Why is the sky blue?".into() });
//! while let Some(event) = events.next().await {
//!     match event {
//!         StreamEvent::Chunk(c) => print!("{}", c.text),
//!         StreamEvent::Done(result) => println!("\n{:?}", result?.answer),
//!         _ => {}
//!     }
//! }
//! ```
//!
//! (The README's streaming section has this as a doctest.)
//!
//! Field boundaries come from the adapter's own markers (ChatAdapter's headers, JSONAdapter's
//! keys, XMLAdapter's tags), so a marker split across pieces is never shown as text, and a
//! text field's chunks join to exactly the value parsed. [`HttpLm`](crate::lm::HttpLm) streams
//! server-sent events and the embedded model its tokens; any other LM gives its whole reply as
//! one chunk. Streamed calls skip the response cache.

pub use crate::adapter::stream::{FieldPiece, FieldStream};
pub use crate::context::{PartialValue, Status, StreamChunk};

use crate::context::{self, Note, StreamSink};
use crate::error::Result;
use crate::module::Module;
use crate::program::Params;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// One event of a stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamEvent<O> {
    /// A module or tool call started or ended.
    Status(Status),
    /// A piece of an output field.
    Chunk(StreamChunk),
    /// A structured output's value so far.
    Partial(PartialValue),
    /// The call's result: the last event.
    Done(Result<O>),
}

/// The events of a streamed call, in order; a [`futures_util::Stream`], and readable without
/// it through [`Streaming::next`].
#[must_use = "a stream does nothing until read"]
pub struct Streaming<'a, O> {
    call: Option<Pin<Box<dyn Future<Output = Result<O>> + Send + 'a>>>,
    notes: UnboundedReceiver<Note>,
    result: Option<Result<O>>,
}

/// Runs `module` on `input`, streaming its outputs: see the [module docs](self).
pub fn stream<'a, M>(module: &'a M, input: M::Input) -> Streaming<'a, M::Output>
where
    M: Module + Params,
    M::Input: 'a,
{
    let (tx, notes) = unbounded_channel();
    let mut paths = HashMap::new();
    module.visit_params("", &mut |path, p| {
        paths.insert(p.core_id(), path);
    });
    let sink = Arc::new(StreamSink::new(tx, paths));
    let call = context::scope().stream_to(sink).run(module.forward(input));
    Streaming {
        call: Some(Box::pin(call)),
        notes,
        result: None,
    }
}

impl<O> Streaming<'_, O> {
    /// The next event, `None` after [`StreamEvent::Done`].
    pub async fn next(&mut self) -> Option<StreamEvent<O>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Reads the stream to its end: the result, dropping the other events (an error if
    /// [`StreamEvent::Done`] was already read).
    pub async fn result(mut self) -> Result<O> {
        loop {
            match self.next().await {
                Some(StreamEvent::Done(result)) => return result,
                Some(_) => {}
                None => {
                    return Err(crate::error::Error::Module(
                        "the stream's result was already read".into(),
                    ));
                }
            }
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<StreamEvent<O>>> {
        loop {
            if let Poll::Ready(Some(note)) = self.notes.poll_recv(cx) {
                return Poll::Ready(Some(event(note)));
            }
            let Some(call) = self.call.as_mut() else {
                // The call is over: what it sent before it ended, then its result.
                if let Ok(note) = self.notes.try_recv() {
                    return Poll::Ready(Some(event(note)));
                }
                return Poll::Ready(self.result.take().map(StreamEvent::Done));
            };
            match call.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    self.call = None;
                    self.result = Some(result);
                    // A task the call left behind cannot add to a finished stream.
                    self.notes.close();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn event<O>(note: Note) -> StreamEvent<O> {
    match note {
        Note::Chunk(c) => StreamEvent::Chunk(c),
        Note::Partial(p) => StreamEvent::Partial(p),
        Note::Status(s) => StreamEvent::Status(s),
    }
}

// Nothing in it is pinned in place: the call is boxed, the result only moved.
impl<O> Unpin for Streaming<'_, O> {}

impl<O> futures_util::Stream for Streaming<'_, O> {
    type Item = StreamEvent<O>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_event(cx)
    }
}
