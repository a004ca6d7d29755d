//! The events of a watch, one JSON line each, framed here rather than by kube: kube's watch
//! framing (`LinesCodec::new()`) holds a line of any length until its newline comes, so a
//! server (or a proxy in front of it) that sends a long enough line takes all the memory there
//! is. Here a line is at most [`MAX_EVENT_LINE`]; a longer one ends the stream with
//! [`EventFailure::TooLong`], unread. A large line is parsed off the runtime thread, like a
//! large list page.
//!
//! The stream ends when the body does: the server ended the watch. A body that breaks (a cut
//! connection) is an error, for `crate::follow` to watch again after.

use futures::{AsyncBufRead, Stream};
use kube::api::{DynamicObject, WatchEvent};
use kube::core::Status;

use super::body::{self, Capped};

/// The longest event line read: an API server stores at most 1.5 MiB per object (etcd's limit)
/// and takes at most 3 MiB of JSON for one, so no event it sends comes near this.
pub const MAX_EVENT_LINE: usize = 16 << 20;

/// Why a watch stream stopped with an error.
#[derive(Debug)]
pub enum EventFailure {
    /// A request or body error, or an event that is not one.
    Kube(kube::Error),
    /// A line longer than [`MAX_EVENT_LINE`].
    TooLong,
}

/// The events of a watch response body.
pub fn events(
    body: impl AsyncBufRead + Unpin + Send + 'static,
) -> impl Stream<Item = Result<WatchEvent<DynamicObject>, EventFailure>> + Send {
    futures::stream::unfold(Some((body, Vec::new())), |state| async move {
        let (mut body, mut line) = state?;
        loop {
            line.clear();
            match body::read_capped(&mut body, &mut line, Some(b'\n'), MAX_EVENT_LINE).await {
                Err(error) => {
                    return Some((
                        Err(EventFailure::Kube(kube::Error::ReadEvents(error))),
                        None,
                    ));
                }
                Ok(Capped::Over) => return Some((Err(EventFailure::TooLong), None)),
                Ok(Capped::Done) if line.is_empty() => return None,
                Ok(Capped::Done) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Capped::Done) => {
                    let text = std::mem::take(&mut line);
                    let event = body::parse(text, |text| Ok(event(text))).await;
                    let event = event.unwrap_or_else(|error| Err(kube::Error::SerdeError(error)));
                    return Some((event.map_err(EventFailure::Kube), Some((body, line))));
                }
            }
        }
    })
}

/// One event line: an event, or the `Status` an API server sends in place of one.
fn event(line: &[u8]) -> Result<WatchEvent<DynamicObject>, kube::Error> {
    serde_json::from_slice(line).map_err(|error| match serde_json::from_slice::<Status>(line) {
        Ok(status) => kube::Error::Api(status.boxed()),
        Err(_) => kube::Error::SerdeError(error),
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn body(text: Vec<u8>) -> impl AsyncBufRead + Unpin + Send + 'static {
        futures::io::Cursor::new(text)
    }

    fn modified(name: &str) -> String {
        format!(
            r#"{{"type":"MODIFIED","object":{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{name}"}}}}}}"#
        )
    }

    #[tokio::test]
    async fn events_come_one_per_line_until_the_body_ends() {
        let text = format!("{}\n\n{}\n", modified("a"), modified("b"));
        let names: Vec<String> = events(body(text.into_bytes()))
            .map(|event| match event {
                Ok(WatchEvent::Modified(object)) => object.metadata.name.unwrap(),
                other => panic!("{other:?}"),
            })
            .collect()
            .await;
        assert_eq!(names, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_line_past_the_limit_ends_the_stream_unread() {
        let mut text = format!("{}\n", modified("a")).into_bytes();
        text.extend(std::iter::repeat_n(b' ', MAX_EVENT_LINE + 1));
        text.extend(format!("{}\n", modified("b")).into_bytes());
        let events: Vec<_> = events(body(text)).collect().await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(events[0], Ok(WatchEvent::Modified(_))));
        assert!(matches!(events[1], Err(EventFailure::TooLong)));
    }

    #[tokio::test]
    async fn a_status_line_is_the_api_servers_error() {
        let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old","reason":"Expired","code":410}"#;
        let events: Vec<_> = events(body(format!("{status}\n").into_bytes()))
            .collect()
            .await;
        assert!(
            matches!(&events[..], [Err(EventFailure::Kube(kube::Error::Api(status)))] if status.code == 410),
            "{events:?}"
        );
    }
}
