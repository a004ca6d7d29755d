//! Response bodies as the cluster sends them, read within a limit and parsed off the runtime
//! thread when large: the two things LIST pages ([`super::list`]) and watch events
//! ([`super::watch`]) need, since the cluster (or a proxy in front of it) decides how much
//! comes.
//!
//! The server runs on one runtime thread, which also serves stdio: parsing a page of tens of
//! MiB there would hold every other call, ping and cancellation until it is done, so such a
//! page is parsed on a blocking thread instead. Small ones (nearly all) are parsed in place,
//! where a thread hop would cost more than the parse.

use futures::{AsyncBufRead, AsyncBufReadExt};

/// Text larger than this is parsed on a blocking thread (about a millisecond of parsing).
const OFF_THREAD_BYTES: usize = 1 << 20;

/// How reading within a limit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// The stop byte (kept) or the end of the body came within the limit.
    Done,
    /// More than the limit came; what was read is kept, the rest left unread.
    Over,
}

/// Appends to `into` from `body` until `stop` (kept) or the body's end, never holding more
/// than `max` bytes in `into`. Chunk by chunk as they arrive: `read_to_end` zero-fills the
/// buffer's whole spare capacity on every poll, which for a 1.2 MB page was 60% of a history
/// call's instructions (callgrind, BENCHMARKS.md).
pub async fn read_capped(
    body: &mut (impl AsyncBufRead + Unpin),
    into: &mut Vec<u8>,
    stop: Option<u8>,
    max: usize,
) -> std::io::Result<Capped> {
    loop {
        let chunk = body.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(Capped::Done);
        }
        let found = stop.and_then(|stop| chunk.iter().position(|byte| *byte == stop));
        let take = found.map_or(chunk.len(), |at| at + 1);
        if into.len() + take > max {
            return Ok(Capped::Over);
        }
        into.extend_from_slice(&chunk[..take]);
        body.consume_unpin(take);
        if found.is_some() {
            return Ok(Capped::Done);
        }
    }
}

/// `parse(text)`, on a blocking thread when `text` is large. A parse that panicked (it should
/// never) is an error like any unparsable text.
pub async fn parse<T, P>(text: Vec<u8>, parse: P) -> serde_json::Result<T>
where
    T: Send + 'static,
    P: FnOnce(&[u8]) -> serde_json::Result<T> + Send + 'static,
{
    if text.len() <= OFF_THREAD_BYTES {
        return parse(&text);
    }
    tokio::task::spawn_blocking(move || parse(&text))
        .await
        .unwrap_or_else(|error| {
            Err(serde::de::Error::custom(format!(
                "parsing stopped: {error}"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that arrives in chunks of `size` bytes.
    fn chunked(text: &'static [u8], size: usize) -> impl AsyncBufRead + Unpin {
        futures::io::BufReader::with_capacity(size, text)
    }

    #[tokio::test]
    async fn a_body_is_read_to_its_end_within_the_limit_and_stops_past_it() {
        let mut whole = Vec::new();
        let read = read_capped(&mut chunked(b"0123456789", 3), &mut whole, None, 10).await;
        assert_eq!(
            (read.unwrap(), whole.as_slice()),
            (Capped::Done, &b"0123456789"[..])
        );
        let mut cut = Vec::new();
        let read = read_capped(&mut chunked(b"0123456789", 3), &mut cut, None, 8).await;
        assert_eq!(read.unwrap(), Capped::Over);
        assert!(cut.len() <= 8, "never more than the limit: {cut:?}");
    }

    #[tokio::test]
    async fn lines_are_read_one_at_a_time_each_within_the_limit() {
        let mut body = chunked(b"ab\ncdef\nlonger than six\n", 4);
        let mut line = Vec::new();
        for expected in [&b"ab\n"[..], b"cdef\n"] {
            line.clear();
            let read = read_capped(&mut body, &mut line, Some(b'\n'), 6).await;
            assert_eq!((read.unwrap(), line.as_slice()), (Capped::Done, expected));
        }
        line.clear();
        let read = read_capped(&mut body, &mut line, Some(b'\n'), 6).await;
        assert_eq!(read.unwrap(), Capped::Over);
        assert!(line.len() <= 6, "{line:?}");
    }

    #[tokio::test]
    async fn large_text_is_parsed_like_small_text() {
        let small = br#"{"a":1}"#.to_vec();
        let large = format!(r#"{{"a":"{}"}}"#, "x".repeat(OFF_THREAD_BYTES)).into_bytes();
        let field = |text: &[u8]| {
            serde_json::from_slice::<serde_json::Value>(text).map(|value| value["a"].clone())
        };
        assert_eq!(parse(small, field).await.unwrap(), 1);
        assert_eq!(
            parse(large, field).await.unwrap().as_str().map(str::len),
            Some(OFF_THREAD_BYTES)
        );
        assert!(parse(b"{".to_vec(), field).await.is_err());
    }
}
