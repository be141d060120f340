//! Server-sent events framing, as the WHATWG event-stream format defines it: bytes in any
//! chunking become complete events. A plain state machine (no I/O), because it runs for every
//! upstream event of every call: lines are found with `memchr` and only a line split across
//! chunks is copied (`eventsource-stream`, used before, parsed each line with `nom` and
//! re-buffered what followed each event — more instructions than the events' JSON:
//! docs/benchmarks.md, "Instructions per chat completion").

use std::borrow::Cow;
use std::collections::VecDeque;

/// UTF-8's byte-order mark, skipped at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event: its type (`message` when it named none) and its data lines joined
/// with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message` (not allocated: most providers name no type).
    pub event: Cow<'static, str>,
    /// The `data:` fields, joined with `\n`.
    pub data: String,
}

/// A line that is not UTF-8 (the format requires it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUtf8;

impl std::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a line of the event stream is not valid UTF-8")
    }
}

/// Frames a byte stream into events: [`SseFramer::push`] each chunk, then take what is
/// complete with [`SseFramer::next_event`]. An event the stream ends in the middle of is
/// never dispatched (the format's rule: only a blank line dispatches).
#[derive(Debug, Default)]
pub struct SseFramer {
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// The last line ended with `\r`: a `\n` first in the next chunk belongs to it.
    after_cr: bool,
    /// Nothing seen yet: a byte-order mark is still to be skipped.
    started: bool,
    event: String,
    data: String,
    /// Whether the event being built has a `data:` field (its data may be empty).
    has_data: bool,
    ready: VecDeque<SseEvent>,
}

impl SseFramer {
    /// A framer at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Frames `chunk`: every line it completes is applied; the events they complete wait for
    /// [`SseFramer::next_event`].
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), NotUtf8> {
        if !self.started {
            // The mark may arrive split: hold the first bytes until three are there.
            let mut held = std::mem::take(&mut self.partial);
            held.extend_from_slice(chunk);
            if held.len() < 3 && BOM.starts_with(&held) {
                self.partial = held;
                return Ok(());
            }
            self.started = true;
            let rest = held.strip_prefix(BOM).unwrap_or(&held);
            return self.push(rest);
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            let line = &chunk[..end];
            if self.partial.is_empty() {
                self.line(line)?;
            } else {
                // The line's start was held back; its buffer is kept for the next one.
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                let applied = self.line(&whole);
                whole.clear();
                self.partial = whole;
                applied?;
            }
            let ended_with_cr = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if ended_with_cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.partial.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete event, in order.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    /// Applies one line (without its end).
    fn line(&mut self, line: &[u8]) -> Result<(), NotUtf8> {
        if line.is_empty() {
            self.dispatch();
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| NotUtf8)?;
        let (field, value) = match line.split_once(':') {
            // A comment (a keep-alive, typically).
            Some(("", _)) => return Ok(()),
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry` steer a browser's reconnection; a provider's stream is not
            // reconnected, and every other field is to be ignored.
            _ => {}
        }
        Ok(())
    }

    /// A blank line: the event built so far is complete (one without data is dropped).
    fn dispatch(&mut self) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if std::mem::take(&mut self.has_data) {
            self.ready.push_back(SseEvent {
                event: if event.is_empty() {
                    Cow::Borrowed("message")
                } else {
                    Cow::Owned(event)
                },
                data,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut f = SseFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c).unwrap();
            while let Some(e) = f.next_event() {
                out.push((e.event.into_owned(), e.data));
            }
        }
        out
    }

    fn ev(event: &str, data: &str) -> (String, String) {
        (event.to_string(), data.to_string())
    }

    #[test]
    fn events_are_the_same_however_the_bytes_are_chunked() {
        let body: &[u8] = "\u{feff}: keep-alive\r\nevent: delta\r\ndata: {\"a\":1}\r\n\r\ndata:x\rdata: y é\r\rid: 7\nretry: 10\nfoo\ndata\n\nevent: end\n\nevent: last\ndata: z\n\ndata: cut".as_bytes();
        let want = vec![
            ev("delta", "{\"a\":1}"),
            ev("message", "x\ny é"),
            ev("message", ""),
            ev("last", "z"),
        ];
        assert_eq!(frame(&[body]), want, "whole");
        for size in 1..body.len() {
            let chunks: Vec<&[u8]> = body.chunks(size).collect();
            assert_eq!(frame(&chunks), want, "chunks of {size}");
        }
        // Every split into two, \r|\n and the byte-order mark's bytes included.
        for at in 0..body.len() {
            assert_eq!(frame(&[&body[..at], &body[at..]]), want, "split at {at}");
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_is_an_error_and_a_split_character_is_not() {
        let mut f = SseFramer::new();
        assert_eq!(f.push(b"data: \xff\n"), Err(NotUtf8));
        let e = "data: é\n\n".as_bytes();
        let at = e.iter().position(|b| *b >= 0x80).unwrap() + 1;
        assert_eq!(frame(&[&e[..at], &e[at..]]), vec![ev("message", "é")]);
    }

    #[test]
    fn only_a_blank_line_dispatches() {
        assert_eq!(frame(&[b"data: a\n"]), Vec::<(String, String)>::new());
        assert_eq!(frame(&[b"data: a\n", b"\n"]), vec![ev("message", "a")]);
        // A field's value keeps everything after the first space past the colon.
        assert_eq!(
            frame(&[b"data:  two: spaces \n\n"]),
            vec![ev("message", " two: spaces ")]
        );
    }
}
