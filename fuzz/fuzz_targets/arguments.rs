//! Tool argument decoding: any bytes, as a client may send them in `tools/call` arguments,
//! through each tool's decoder and validator. It must return (accept or refuse), never panic.
#![no_main]

use k8s_rollout_mcp::mcp::arguments::decode;
use k8s_rollout_mcp::mcp::history::HistoryArgs;
use k8s_rollout_mcp::mcp::status::StatusArgs;
use k8s_rollout_mcp::mcp::undo::UndoArgs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(arguments)) = serde_json::from_slice(data) else {
        return;
    };
    let _ = decode::<HistoryArgs>(arguments.clone());
    let _ = decode::<StatusArgs>(arguments.clone());
    let _ = decode::<UndoArgs>(arguments);
});
