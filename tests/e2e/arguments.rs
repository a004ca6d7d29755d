//! Generated tool arguments (proptest, seeded and reproducible): wrong types, missing and extra
//! fields, huge and negative numbers, empty, huge and unicode strings, names that are not
//! DNS-1123, namespaces with slashes or `..`. Every case breaks exactly one field, and every
//! case must be refused with a message naming that field: never a panic, never a request.
//!
//! The bulk (10,000 cases per tool) drives the server's argument decoding directly; a sample of
//! a few hundred goes through the real binary over stdio against kube-sim, which must see no
//! request at all. `ARGUMENTS_SEED=<u64>` replays another seed.
//!
//! kube-sim only: a refusal before any request is about the server, and counting that no
//! request was sent needs the sim's exact log.

use k8s_rollout_mcp::mcp::arguments::{self, MAX_REASON_CHARACTERS};
use k8s_rollout_mcp::mcp::history::HistoryArgs;
use k8s_rollout_mcp::mcp::reply::ToolFailure;
use k8s_rollout_mcp::mcp::status::StatusArgs;
use k8s_rollout_mcp::mcp::undo::UndoArgs;
use kube_sim::Scenario;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

use super::host::{Host, LIFECYCLES, refusal};

/// Cases per tool through the decoding library.
const LIBRARY_CASES: u32 = 10_000;
/// Cases per tool and lifecycle through the real binary.
const STDIO_CASES: usize = 50;
const DEFAULT_SEED: u64 = 0x6b38_735f_726f_6c6c;

/// What a field holds, which decides its valid and invalid values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Kind,
    Name,
    Namespace,
    Revision,
    Limit,
    Flag,
    Timeout,
    Reason,
}

/// A tool's fields: name, what it holds, and whether it is required.
struct Tool {
    name: &'static str,
    fields: &'static [(&'static str, Field, bool)],
    decode: fn(Map<String, Value>) -> Result<(), ToolFailure>,
}

const REFERENCE: [(&str, Field, bool); 3] = [
    ("resource_type", Field::Kind, true),
    ("name", Field::Name, true),
    ("namespace", Field::Namespace, false),
];

fn decoder<T: serde::de::DeserializeOwned + arguments::Validate>(
    object: Map<String, Value>,
) -> Result<(), ToolFailure> {
    arguments::decode::<T>(object).map(drop)
}

static TOOLS: [Tool; 3] = [
    Tool {
        name: "k8s_rollout_history",
        fields: &[
            REFERENCE[0],
            REFERENCE[1],
            REFERENCE[2],
            ("revision", Field::Revision, false),
            ("compare_with", Field::Revision, false),
            ("limit", Field::Limit, false),
        ],
        decode: decoder::<HistoryArgs>,
    },
    Tool {
        name: "k8s_rollout_status",
        fields: &[
            REFERENCE[0],
            REFERENCE[1],
            REFERENCE[2],
            ("revision", Field::Revision, false),
            ("wait", Field::Flag, false),
            ("timeout_seconds", Field::Timeout, false),
        ],
        decode: decoder::<StatusArgs>,
    },
    Tool {
        name: "k8s_rollout_undo",
        fields: &[
            REFERENCE[0],
            REFERENCE[1],
            REFERENCE[2],
            ("to_revision", Field::Revision, true),
            ("dry_run", Field::Flag, false),
            ("reason", Field::Reason, false),
            ("wait", Field::Flag, false),
            ("timeout_seconds", Field::Timeout, false),
        ],
        decode: decoder::<UndoArgs>,
    },
];

fn dns_label() -> BoxedStrategy<String> {
    "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?".boxed()
}

fn valid(field: Field) -> BoxedStrategy<Value> {
    match field {
        Field::Kind => prop::sample::select(vec![
            "deployment",
            "deploy",
            "Deployment",
            "deployments.apps",
            "daemonset",
            "ds",
            "statefulsets",
            "STS",
            "rs",
            "pod",
        ])
        .prop_map(|kind| json!(kind))
        .boxed(),
        Field::Name => (dns_label(), prop::option::of(dns_label()))
            .prop_map(|(a, b)| json!(b.map_or(a.clone(), |b| format!("{a}.{b}"))))
            .boxed(),
        Field::Namespace => dns_label().prop_map(|ns| json!(ns)).boxed(),
        Field::Revision => (1..=i64::MAX).prop_map(|n| json!(n)).boxed(),
        Field::Limit => (1..=u32::MAX).prop_map(|n| json!(n)).boxed(),
        Field::Flag => any::<bool>().prop_map(|b| json!(b)).boxed(),
        Field::Timeout => (1..=600u64).prop_map(|n| json!(n)).boxed(),
        Field::Reason => ".{0,200}".prop_map(|reason| json!(reason)).boxed(),
    }
}

/// A value of another JSON type than the field's (null only where null is not "absent").
fn wrong_type(field: Field, required: bool) -> BoxedStrategy<Value> {
    let text = ".{0,40}".prop_map(|s| json!(s));
    // Finite floats only: JSON has no NaN (serde_json would turn it into null).
    let number = prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        (-1e12..1e12f64).prop_map(|x| json!(x)),
    ];
    let containers = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4).prop_map(|v| json!(v)),
        Just(json!({"nested": {"deep": [1, 2]}})),
    ];
    let other = prop_oneof![any::<bool>().prop_map(|b| json!(b)), containers.clone()];
    let null_breaks = required || matches!(field, Field::Flag);
    let null = if null_breaks {
        Just(json!(null)).boxed()
    } else {
        other.clone().boxed()
    };
    match field {
        Field::Kind | Field::Name | Field::Namespace | Field::Reason => {
            prop_oneof![number, other, null].boxed()
        }
        Field::Revision | Field::Limit | Field::Timeout => prop_oneof![text, other, null].boxed(),
        Field::Flag => prop_oneof![text, number, containers, null].boxed(),
    }
}

/// Strings no DNS-1123 rule accepts: each has a flaw by construction.
fn bad_dns(max: usize, dots: bool) -> BoxedStrategy<String> {
    let flawed_char = prop::sample::select(vec![
        '/', '_', ' ', 'A', 'Z', 'é', '中', '🚀', '\0', '\n', ':', '*', '\\',
    ]);
    let base = dns_label();
    let mut options = vec![
        Just(String::new()).boxed(),
        (base.clone(), flawed_char, any::<prop::sample::Index>())
            .prop_map(|(name, flaw, at)| {
                let mut chars: Vec<char> = name.chars().collect();
                let at = at.index(chars.len() + 1);
                chars.insert(at, flaw);
                chars.into_iter().collect()
            })
            .boxed(),
        base.clone().prop_map(|name| format!("-{name}")).boxed(),
        base.clone().prop_map(|name| format!("{name}-")).boxed(),
        (max + 1..max * 40)
            .prop_map(|length| "a".repeat(length))
            .boxed(),
        Just("..".to_string()).boxed(),
        base.clone().prop_map(|name| format!("../{name}")).boxed(),
        base.clone()
            .prop_map(|name| format!("{name}/../kube-system"))
            .boxed(),
        ".{1,30}"
            .prop_filter("has a character DNS-1123 never allows", |s: &String| {
                s.chars().any(|c| {
                    !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                })
            })
            .boxed(),
    ];
    if dots {
        options.push(
            base.clone()
                .prop_map(|name| format!("{name}..{name}"))
                .boxed(),
        );
        options.push(base.prop_map(|name| format!(".{name}")).boxed());
    } else {
        options.push(
            (base.clone(), base)
                .prop_map(|(a, b)| format!("{a}.{b}"))
                .boxed(),
        );
    }
    prop::strategy::Union::new(options).boxed()
}

/// A value of the right JSON type that the field's rules refuse.
fn out_of_range(field: Field) -> BoxedStrategy<Value> {
    match field {
        Field::Kind => prop_oneof![
            prop::sample::select(vec![
                "cronjob",
                "job",
                "service",
                "",
                "replicationcontroller",
                "Rollout",
                "deployment.apps.kruise.io"
            ])
            .prop_map(|k| json!(k)),
            "[a-z]{0,8}[_ 0-9é中][a-z]{0,8}".prop_map(|k| json!(k)),
        ]
        .boxed(),
        Field::Name => bad_dns(253, true).prop_map(|s| json!(s)).boxed(),
        Field::Namespace => bad_dns(63, false).prop_map(|s| json!(s)).boxed(),
        Field::Revision => prop_oneof![
            (i64::MIN..=0).prop_map(|n| json!(n)),
            ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(|n| json!(n)),
            prop_oneof![Just(1.5f64), Just(1e30), Just(-0.5)].prop_map(|x| json!(x)),
        ]
        .boxed(),
        Field::Limit => prop_oneof![
            Just(json!(0)),
            (i64::MIN..0).prop_map(|n| json!(n)),
            ((u32::MAX as u64 + 1)..=u64::MAX).prop_map(|n| json!(n)),
        ]
        .boxed(),
        Field::Flag => prop::sample::select(vec!["true", "yes", "1"])
            .prop_map(|s| json!(s))
            .boxed(),
        Field::Timeout => prop_oneof![
            Just(json!(0)),
            (601..=u64::MAX).prop_map(|n| json!(n)),
            (i64::MIN..0).prop_map(|n| json!(n)),
        ]
        .boxed(),
        Field::Reason => (
            MAX_REASON_CHARACTERS + 1..MAX_REASON_CHARACTERS * 8,
            ".{1,8}",
        )
            .prop_map(|(length, unit): (usize, String)| {
                json!(unit.chars().cycle().take(length).collect::<String>())
            })
            .boxed(),
    }
}

/// How a case breaks its arguments.
#[derive(Debug, Clone)]
enum Break {
    /// The field gets this value.
    Value(&'static str, Value),
    /// A required field is left out.
    Missing(&'static str),
    /// A field the tool does not have.
    Extra(String, Value),
}

impl Break {
    /// The field the refusal must name.
    fn field(&self) -> &str {
        match self {
            Break::Value(field, _) | Break::Missing(field) => field,
            Break::Extra(field, _) => field,
        }
    }
}

/// Valid arguments for `tool` (optional fields present or not), then one break.
fn case(tool: &'static Tool) -> BoxedStrategy<(Map<String, Value>, Break)> {
    let present: Vec<BoxedStrategy<Option<Value>>> = tool
        .fields
        .iter()
        .map(|(_, field, required)| {
            if *required {
                valid(*field).prop_map(Some).boxed()
            } else {
                prop::option::of(valid(*field)).boxed()
            }
        })
        .collect();
    let breaks: Vec<BoxedStrategy<Break>> = tool
        .fields
        .iter()
        .flat_map(|(name, field, required)| {
            let mut ways = vec![
                wrong_type(*field, *required)
                    .prop_map(move |value| Break::Value(name, value))
                    .boxed(),
                out_of_range(*field)
                    .prop_map(move |value| Break::Value(name, value))
                    .boxed(),
            ];
            if *required {
                ways.push(Just(Break::Missing(name)).boxed());
            }
            ways
        })
        .chain([(
            "[a-zA-Z_][a-zA-Z0-9_]{0,15}|.{1,12}",
            prop_oneof![Just(json!(1)), Just(json!("x")), Just(json!(null))],
        )
            .prop_filter("not one of the tool's fields", move |(name, _)| {
                !tool.fields.iter().any(|(field, _, _)| field == name)
            })
            .prop_map(|(name, value)| Break::Extra(name, value))
            .boxed()])
        .collect();
    (present, prop::strategy::Union::new(breaks))
        .prop_map(move |(values, broken)| {
            let mut object = Map::new();
            for ((name, _, _), value) in tool.fields.iter().zip(values) {
                if let Some(value) = value {
                    object.insert(name.to_string(), value);
                }
            }
            // compare_with needs revision; keep the base valid.
            if object.contains_key("compare_with") && !object.contains_key("revision") {
                object.insert("revision".into(), json!(1));
            }
            match &broken {
                Break::Value(field, value) => {
                    object.insert(field.to_string(), value.clone());
                }
                Break::Missing(field) => {
                    object.remove(*field);
                }
                Break::Extra(field, value) => {
                    object.insert(field.clone(), value.clone());
                }
            }
            (object, broken)
        })
        .boxed()
}

/// Whether a refusal names `field` the way the server names fields.
fn names_field(message: &str, field: &str) -> bool {
    [
        format!("invalid arguments: {field}: "),
        format!("invalid {field} "),
        format!("{field} must "),
        format!("{field} \""),
        format!("field `{field}`"),
    ]
    .iter()
    .any(|form| message.starts_with(form.as_str()) || message.contains(form.as_str()))
}

fn seed() -> u64 {
    std::env::var("ARGUMENTS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn runner(cases: u32) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed().to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

#[test]
fn generated_arguments_are_refused_naming_the_broken_field() {
    for tool in &TOOLS {
        let mut runner = runner(LIBRARY_CASES);
        let counted = std::cell::Cell::new(0u32);
        let result = runner.run(&case(tool), |(object, broken)| {
            counted.set(counted.get() + 1);
            let outcome = (tool.decode)(object.clone());
            let Err(ToolFailure(message)) = outcome else {
                return Err(TestCaseError::fail(format!("accepted: {object:?}")));
            };
            prop_assert!(
                names_field(&message, broken.field()),
                "{} does not name {:?}: {message}",
                tool.name,
                broken.field()
            );
            prop_assert!(
                message.len() <= 2048,
                "a bounded message: {} bytes",
                message.len()
            );
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{} (seed {}): {failure}", tool.name, seed());
        }
        let counted = counted.get();
        println!(
            "{}: {counted} generated argument sets (seed {}), each refused naming its broken field",
            tool.name,
            seed()
        );
        assert!(counted >= LIBRARY_CASES);
    }
}

#[tokio::test]
async fn a_generated_sample_through_the_binary_is_refused_without_any_request() {
    for lifecycle in LIFECYCLES {
        let host = Host::start(Scenario::demo(), lifecycle).await;
        let mut runner = runner(1);
        let mut sent = 0usize;
        for tool in &TOOLS {
            let strategy = case(tool);
            for _ in 0..STDIO_CASES {
                let (object, broken) = strategy.new_tree(&mut runner).expect("a case").current();
                let message = refusal(&host.call(tool.name, Value::Object(object.clone())).await);
                assert!(
                    names_field(&message, broken.field()),
                    "{}: {message} for {object:?}",
                    tool.name
                );
                sent += 1;
            }
        }
        assert!(
            host.sim().requests().is_empty(),
            "{lifecycle:?}: refused before any request: {:?}",
            host.sim().requests()
        );
        assert!(host.writes().await.is_empty());
        assert!(host.audit().is_empty(), "nothing was planned");
        println!(
            "{lifecycle:?}: {sent} generated argument sets through the binary over stdio (seed {}), all refused naming the field, 0 API requests",
            seed()
        );
    }
}
