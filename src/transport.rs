//! stdio for MCP as JSON-RPC 2.0 requires it, in front of rmcp's own stdio transport, which
//! gets three things wrong (rmcp 3.11):
//!
//! - a line that is not JSON is dropped without a word (past 16 MiB, a line of any kind), so
//!   the client waits for an answer that never comes; JSON-RPC says `-32700 Parse error` with
//!   `"id": null`;
//! - its `-32600 Invalid request` answers carry no `id` member at all, where JSON-RPC requires
//!   `"id": null`;
//! - a `tools/call` whose params are not `{name, arguments: object}` is answered `-32601
//!   Method not found`, where JSON-RPC says `-32602 Invalid params`;
//! - a notification or a response that arrives before the session has begun (before
//!   `initialize`, or a first request carrying the 2026-07-28 lifecycle in its `_meta`) ends
//!   the whole session; no answer is due to either, so the pump drops them until then.
//!
//! This pump reads stdin line by line (each line bounded by the same 16 MiB), answers those
//! cases itself, and passes every other line on to rmcp unchanged. Its answers and rmcp's
//! output go to stdout through one writer, whole lines at a time, so they never interleave
//! inside a line. At most [`ANSWERS`] of its own answers wait for stdout: a client that sends
//! malformed lines without reading the answers stops being read, as one that sends requests
//! without reading does (rmcp's pipe is bounded too), rather than filling memory with answers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::io::{DuplexStream, duplex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes buffered between the pump and rmcp in each direction.
const PIPE: usize = 64 * 1024;
/// The pump's own answers that may wait for stdout.
pub const ANSWERS: usize = 64;

/// The answer to a line that is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// The answer to a line longer than [`DEFAULT_MAX_LINE_LENGTH`], which is not read.
pub const INVALID_REQUEST: i64 = -32600;

/// The two tasks moving bytes between stdio and rmcp.
pub struct Pump {
    input: JoinHandle<()>,
    output: JoinHandle<()>,
}

impl Pump {
    /// After the session ends: lets everything already answered reach stdout (bounded by
    /// `limit`), and stops reading stdin.
    pub async fn finish(self, limit: Duration) {
        self.input.abort();
        if tokio::time::timeout(limit, self.output).await.is_err() {
            tracing::warn!("stdout did not take the last answers in time");
        }
    }
}

/// rmcp's ends of the pump (read, write) over the process's stdin and stdout.
pub fn stdio() -> ((DuplexStream, DuplexStream), Pump) {
    pump(tokio::io::stdin(), tokio::io::stdout())
}

/// The pump over any pair of streams.
pub fn pump<R, W>(input: R, output: W) -> ((DuplexStream, DuplexStream), Pump)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (server_reads, to_server) = duplex(PIPE);
    let (server_writes, from_server) = duplex(PIPE);
    let (answers, answered) = mpsc::channel(ANSWERS);
    let input = tokio::spawn(forward_input(
        BufReader::with_capacity(PIPE, input),
        to_server,
        answers,
    ));
    let output = tokio::spawn(forward_output(from_server, answered, output));
    ((server_reads, server_writes), Pump { input, output })
}

/// The answer to `tools/call` params that are not `{name, arguments: object}`.
pub const INVALID_PARAMS: i64 = -32602;

/// What to do with one line of input.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// rmcp reads it.
    Forward,
    /// Only whitespace (framing), or a message dropped before the session began.
    Blank,
    /// Answered here with this line.
    Answer(Vec<u8>),
}

/// The parts of a message the pump looks at, borrowed from the line.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// `tools/call` params as MCP defines them.
#[derive(serde::Deserialize)]
struct CallParams<'a> {
    /// Only its type is checked.
    #[serde(borrow, rename = "name")]
    _name: Cow<'a, str>,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

/// `tools/call` and other request params, as far as the session gate looks.
#[derive(serde::Deserialize)]
struct LifecycleParams<'a> {
    #[serde(borrow, rename = "_meta")]
    meta: Option<HashMap<Cow<'a, str>, IgnoredAny>>,
}

/// The `_meta` keys with which a request opens a 2026-07-28 session.
const LIFECYCLE_KEYS: [&str; 2] = [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
];

/// Whether a request begins the session: `initialize`, or any request but `ping` and
/// `server/discover` that carries the 2026-07-28 lifecycle.
fn begins_session(method: &str, params: Option<&RawValue>) -> bool {
    match method {
        "initialize" => true,
        "ping" | "server/discover" => false,
        _ => params
            .and_then(|params| serde_json::from_str::<LifecycleParams>(params.get()).ok())
            .and_then(|params| params.meta)
            .is_some_and(|meta| LIFECYCLE_KEYS.iter().all(|key| meta.contains_key(*key))),
    }
}

/// Judges input lines, remembering whether the session has begun.
#[derive(Debug, Default)]
struct Gate {
    begun: bool,
}

impl Gate {
    fn judge(&mut self, line: &[u8]) -> Verdict {
        // RFC 8259 lets a parser ignore a leading byte order mark, and rmcp does.
        let text = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        if text.iter().all(u8::is_ascii_whitespace) {
            return Verdict::Blank;
        }
        match serde_json::from_slice::<Envelope>(text) {
            Ok(envelope) => match (envelope.id, envelope.method.as_deref()) {
                (Some(id), Some("tools/call")) if !valid_call(envelope.params) => {
                    Verdict::Answer(error_line(
                        Some(id),
                        INVALID_PARAMS,
                        "Invalid params: tools/call takes {\"name\": string, \"arguments\": object}",
                    ))
                }
                (Some(_), Some(method)) => {
                    self.begun |= begins_session(method, envelope.params);
                    Verdict::Forward
                }
                _ if !self.begun => Verdict::Blank,
                _ => Verdict::Forward,
            },
            // Valid JSON of another shape (an array, a number...): rmcp answers -32600.
            Err(error) if error.is_data() => Verdict::Forward,
            Err(_) => match serde_json::from_slice::<IgnoredAny>(text) {
                Ok(_) => Verdict::Forward,
                Err(_) => Verdict::Answer(error_line(None, PARSE_ERROR, "Parse error")),
            },
        }
    }
}

fn valid_call(params: Option<&RawValue>) -> bool {
    let Some(params) = params else { return false };
    match serde_json::from_str::<CallParams>(params.get()) {
        Ok(call) => call.arguments.is_none_or(|arguments| {
            matches!(
                arguments.get().trim_start().as_bytes().first(),
                Some(b'{') | Some(b'n')
            )
        }),
        Err(_) => false,
    }
}

/// A JSON-RPC error response, as one line; `id` null when the request's is unknown.
fn error_line(id: Option<&RawValue>, code: i64, message: &str) -> Vec<u8> {
    let id: Value = id
        .and_then(|id| serde_json::from_str(id.get()).ok())
        .unwrap_or(Value::Null);
    let mut line = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        .to_string()
        .into_bytes();
    line.push(b'\n');
    line
}

/// How rmcp starts an error response that lacks its `id`.
const ERROR_WITHOUT_ID: &[u8] = br#"{"jsonrpc":"2.0","error":"#;

/// rmcp's output line, with `"id": null` added to an error response that has no id.
fn with_null_id(line: Vec<u8>) -> Vec<u8> {
    match line.strip_prefix(ERROR_WITHOUT_ID) {
        Some(rest) => [br#"{"jsonrpc":"2.0","id":null,"error":"#.as_slice(), rest].concat(),
        None => line,
    }
}

/// How reading one line ended.
enum Read {
    Line,
    Oversized,
    End,
}

/// Reads one `\n`-terminated line into `line`, never holding more than `max` bytes of it: a
/// longer line is skipped to its end. A line cut off by EOF is dropped.
async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    max: usize,
) -> Read {
    let mut oversized = false;
    loop {
        let available = match reader.fill_buf().await {
            Ok([]) | Err(_) => return Read::End,
            Ok(available) => available,
        };
        let newline = available.iter().position(|byte| *byte == b'\n');
        let take = newline.map_or(available.len(), |at| at + 1);
        if !oversized && line.len() + take > max {
            oversized = true;
            *line = Vec::new();
        }
        if !oversized {
            line.extend_from_slice(&available[..take]);
        }
        reader.consume(take);
        if newline.is_some() {
            return if oversized {
                Read::Oversized
            } else {
                Read::Line
            };
        }
    }
}

async fn forward_input(
    mut input: impl AsyncBufRead + Unpin,
    mut to_server: DuplexStream,
    answers: mpsc::Sender<Vec<u8>>,
) {
    let mut line = Vec::new();
    let mut gate = Gate::default();
    loop {
        line.clear();
        match read_line(&mut input, &mut line, DEFAULT_MAX_LINE_LENGTH).await {
            Read::Line => match gate.judge(&line) {
                Verdict::Forward => {
                    if to_server.write_all(&line).await.is_err() {
                        return;
                    }
                }
                Verdict::Blank => {}
                Verdict::Answer(answer) => {
                    tracing::debug!(bytes = line.len(), "answering a malformed line");
                    let _ = answers.send(answer).await;
                }
            },
            Read::Oversized => {
                tracing::warn!(
                    max = DEFAULT_MAX_LINE_LENGTH,
                    "answering a line longer than the limit without reading it"
                );
                let _ = answers
                    .send(error_line(
                        None,
                        INVALID_REQUEST,
                        "Invalid Request: the message is longer than 16 MiB",
                    ))
                    .await;
            }
            // Dropping `to_server` tells rmcp the session is over.
            Read::End => return,
        }
    }
}

async fn forward_output(
    from_server: DuplexStream,
    mut answered: mpsc::Receiver<Vec<u8>>,
    mut output: impl AsyncWrite + Unpin,
) {
    let mut server = BufReader::with_capacity(PIPE, from_server);
    let mut line = Vec::new();
    let mut answers_open = true;
    loop {
        // `read_until` keeps what it read in `line` when the other branch wins, so no output
        // is lost or split.
        let next = tokio::select! {
            read = server.read_until(b'\n', &mut line) => match read {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(with_null_id(std::mem::take(&mut line))),
            },
            answer = answered.recv(), if answers_open => match answer {
                Some(answer) => Some(answer),
                None => {
                    answers_open = false;
                    continue;
                }
            },
        };
        let Some(bytes) = next else { break };
        if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
    // rmcp is done; answers to the last lines read may still be queued.
    while let Ok(answer) = answered.try_recv() {
        if output.write_all(&answer).await.is_err() {
            return;
        }
    }
    let _ = output.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn judge(line: &[u8]) -> Verdict {
        Gate { begun: true }.judge(line)
    }

    fn answer(line: &[u8]) -> Value {
        match judge(line) {
            Verdict::Answer(answer) => serde_json::from_slice(&answer).unwrap(),
            other => panic!("not answered: {other:?}"),
        }
    }

    #[test]
    fn json_is_forwarded_blank_lines_skipped_and_the_rest_answered() {
        assert_eq!(judge(b"{\"jsonrpc\":\"2.0\"}\r\n"), Verdict::Forward);
        assert_eq!(judge(b"\xEF\xBB\xBF[1]\n"), Verdict::Forward);
        assert_eq!(judge(b" \t\r\n"), Verdict::Blank);
        for broken in [&b"{\"a\":\n"[..], b"\xff\n", b"{} {}\n"] {
            assert_eq!(answer(broken)["error"]["code"], PARSE_ERROR);
            assert_eq!(answer(broken)["id"], Value::Null);
        }
    }

    #[test]
    fn tools_call_params_of_the_wrong_shape_are_invalid_params() {
        for params in [
            "",
            r#","params":null"#,
            r#","params":{"arguments":{}}"#,
            r#","params":{"name":5}"#,
            r#","params":{"name":"t","arguments":[1]}"#,
        ] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":"a\"b","method":"tools/call"{params}}}"#);
            let answer = answer(line.as_bytes());
            assert_eq!(answer["error"]["code"], INVALID_PARAMS, "{line}");
            assert_eq!(answer["id"], "a\"b");
        }
        let good = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":1}}}"#;
        assert_eq!(judge(good), Verdict::Forward);
        let notification = br#"{"jsonrpc":"2.0","method":"tools/call"}"#;
        assert_eq!(
            judge(notification),
            Verdict::Forward,
            "notifications get no answer"
        );
    }

    #[test]
    fn notifications_and_responses_before_the_session_are_dropped() {
        let mut gate = Gate::default();
        let notification = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let response = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let bare_call = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#;
        assert_eq!(gate.judge(notification), Verdict::Blank);
        assert_eq!(gate.judge(response), Verdict::Blank);
        assert_eq!(gate.judge(ping), Verdict::Forward);
        assert_eq!(gate.judge(bare_call), Verdict::Forward, "rmcp refuses it");
        assert_eq!(gate.judge(notification), Verdict::Blank, "not begun yet");
        let stateless = br#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        assert_eq!(gate.judge(stateless), Verdict::Forward);
        assert_eq!(gate.judge(notification), Verdict::Forward, "begun");
        let mut gate = Gate::default();
        gate.judge(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#);
        assert_eq!(gate.judge(notification), Verdict::Forward);
    }

    #[test]
    fn an_error_without_an_id_gets_a_null_one() {
        let fixed = with_null_id(br#"{"jsonrpc":"2.0","error":{"code":-32600}}"#.to_vec());
        assert_eq!(
            fixed,
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600}}"#
        );
        let fine = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601}}"#.to_vec();
        assert_eq!(with_null_id(fine.clone()), fine);
    }

    #[tokio::test]
    async fn json_passes_through_and_the_rest_is_answered_in_whole_lines() {
        let (client, server_stdin) = duplex(1 << 16);
        let (server_stdout, mut client_reads) = duplex(1 << 16);
        let ((mut rmcp_reads, mut rmcp_writes), pump) = pump(server_stdin, server_stdout);
        let mut client = client;
        client
            .write_all(b"{\"id\":1,\"method\":\"ping\"}\nnot json\n\n{\"id\":2,\"method\":\"ping\"}\n{\"half\":")
            .await
            .unwrap();
        drop(client);
        let mut passed = String::new();
        rmcp_reads.read_to_string(&mut passed).await.unwrap();
        assert_eq!(
            passed, "{\"id\":1,\"method\":\"ping\"}\n{\"id\":2,\"method\":\"ping\"}\n",
            "the half line at EOF is dropped"
        );
        rmcp_writes.write_all(b"{\"answer\":1}\n").await.unwrap();
        drop(rmcp_writes);
        pump.finish(Duration::from_secs(5)).await;
        let mut out = String::new();
        client_reads.read_to_string(&mut out).await.unwrap();
        let mut lines: Vec<&str> = out.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            vec![
                "{\"answer\":1}",
                "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}",
            ]
        );
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_its_answers_stops_being_read() {
        let (mut client, server_stdin) = duplex(PIPE);
        let (server_stdout, _never_read) = duplex(1024);
        let (_rmcp, _pump) = pump(server_stdin, server_stdout);
        // Every line is answered by the pump itself; far more than can wait for stdout.
        let garbage = "not json\n".repeat(100_000);
        let sent = tokio::spawn(async move { client.write_all(garbage.as_bytes()).await });
        for _ in 0..1_000 {
            tokio::task::yield_now().await;
        }
        assert!(
            !sent.is_finished(),
            "stdin is read no further while {ANSWERS} answers wait for stdout"
        );
    }

    #[tokio::test]
    async fn an_oversized_line_is_skipped_without_being_held() {
        let mut reader = BufReader::with_capacity(8, &b"0123456789abcdef\nok\n"[..]);
        let mut line = Vec::new();
        assert!(matches!(
            read_line(&mut reader, &mut line, 10).await,
            Read::Oversized
        ));
        assert!(line.capacity() <= 16, "never grew past the cap");
        line.clear();
        assert!(matches!(
            read_line(&mut reader, &mut line, 10).await,
            Read::Line
        ));
        assert_eq!(line, b"ok\n");
    }
}
