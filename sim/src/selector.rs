//! Label and field selectors: the `labelSelector=` query grammar of `labels.Parse` (equality,
//! `!=`, `in`, `notin`, exists, `!`exists, `<`, `>`), `metav1.LabelSelector` objects
//! (`matchLabels` plus `matchExpressions`, as `LabelSelectorAsSelector` converts them), and the
//! `fieldSelector=` subset clients use (`metadata.name`, `metadata.namespace`, a few pod fields).
//! The string form sorts requirements by key, as the Go `Selector.String()` does, because it is
//! what kubectl puts on the wire and what `Scale.status.selector` shows.

use std::fmt;

use serde_json::{Map, Value};

use crate::json;
use crate::validation::{label_value_errors, qualified_name_errors};

/// A selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `key=value` / `key==value`
    Equals,
    /// `key!=value`
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>n`
    GreaterThan,
    /// `key<n`
    LessThan,
}

/// One `key op values` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

impl Requirement {
    fn new(key: &str, op: Op, mut values: Vec<String>) -> Result<Self, String> {
        let errs = qualified_name_errors(key);
        if let Some(e) = errs.first() {
            return Err(format!("key: Invalid value: {key:?}: {e}"));
        }
        match op {
            Op::In | Op::NotIn if values.is_empty() => {
                return Err("for 'in', 'notin' operators, values set can't be empty".to_string());
            }
            Op::Equals | Op::NotEquals if values.len() != 1 => {
                return Err("exact-match compatibility requires one single value".to_string());
            }
            Op::Exists | Op::DoesNotExist if !values.is_empty() => {
                return Err("values set must be empty for exists and does not exist".to_string());
            }
            Op::GreaterThan | Op::LessThan
                if values.len() != 1 || values[0].parse::<i64>().is_err() =>
            {
                return Err("for 'Gt', 'Lt' operators, the value must be an integer".to_string());
            }
            _ => {}
        }
        if !matches!(op, Op::GreaterThan | Op::LessThan) {
            for v in &values {
                if let Some(e) = label_value_errors(v).first() {
                    return Err(format!("values[0][{key}]: Invalid value: {v:?}: {e}"));
                }
            }
        }
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_string(),
            op,
            values,
        })
    }

    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels
            .and_then(|l| l.get(&self.key))
            .and_then(Value::as_str);
        match self.op {
            Op::Equals | Op::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotEquals | Op::NotIn => value.is_none_or(|v| self.values.iter().all(|x| x != v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.op == Op::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = self.values.join(",");
        match self.op {
            Op::Equals => write!(f, "{}={}", self.key, joined),
            Op::NotEquals => write!(f, "{}!={}", self.key, joined),
            Op::In => write!(f, "{} in ({})", self.key, joined),
            Op::NotIn => write!(f, "{} notin ({})", self.key, joined),
            Op::Exists => write!(f, "{}", self.key),
            Op::DoesNotExist => write!(f, "!{}", self.key),
            Op::GreaterThan => write!(f, "{}>{}", self.key, joined),
            Op::LessThan => write!(f, "{}<{}", self.key, joined),
        }
    }
}

/// A label selector: every requirement must hold. `nothing` is the selector of a nil
/// `LabelSelector`, which matches no object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(input: &str) -> Result<Self, String> {
        let tokens = lex(input);
        let mut parser = Parser { tokens, pos: 0 };
        let mut requirements = Vec::new();
        loop {
            match parser.peek() {
                None => break,
                Some(_) => requirements.push(parser.requirement()?),
            }
            match parser.next() {
                None => break,
                Some(Token::Comma) => continue,
                Some(t) => return Err(format!("found '{t}', expected: ',' or 'end of string'")),
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// `metav1.LabelSelectorAsSelector`: a `LabelSelector` object (or null) to a selector.
    pub fn from_label_selector(selector: Option<&Value>) -> Result<Self, String> {
        let Some(selector) = selector.filter(|s| !s.is_null()) else {
            return Ok(Self {
                requirements: Vec::new(),
                nothing: true,
            });
        };
        let mut requirements = Vec::new();
        for (k, v) in json::string_map(selector, &["matchLabels"]) {
            requirements.push(Requirement::new(&k, Op::Equals, vec![v])?);
        }
        let exprs = selector.get("matchExpressions").and_then(Value::as_array);
        for expr in exprs.into_iter().flatten() {
            let key = json::str_at(expr, &["key"]);
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let op = match json::str_at(expr, &["operator"]) {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            requirements.push(Requirement::new(key, op, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Whether an object with these labels is selected.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether `object` (its `metadata.labels`) is selected.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches(json::at(object, &["metadata", "labels"]).and_then(Value::as_object))
    }

    /// A label and the values it must have (from the first `=`/`==`/`in` requirement), which
    /// an index can look up instead of scanning.
    pub fn required_values(&self) -> Option<(&str, &[String])> {
        self.requirements
            .iter()
            .find(|r| matches!(r.op, Op::Equals | Op::In))
            .map(|r| (r.key.as_str(), r.values.as_slice()))
    }

    /// Whether this selects everything.
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Comma,
    Open,
    Close,
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    In,
    NotIn,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Token::Ident(s) => s.as_str(),
            Token::Comma => ",",
            Token::Open => "(",
            Token::Close => ")",
            Token::Bang => "!",
            Token::Eq => "=",
            Token::DoubleEq => "==",
            Token::NotEq => "!=",
            Token::Gt => ">",
            Token::Lt => "<",
            Token::In => "in",
            Token::NotIn => "notin",
        };
        f.write_str(s)
    }
}

fn lex(input: &str) -> Vec<Token> {
    let is_special = |c: char| c.is_whitespace() || "!=,()<>".contains(c);
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            '>' => Token::Gt,
            '<' => Token::Lt,
            '=' if chars.next_if_eq(&'=').is_some() => Token::DoubleEq,
            '=' => Token::Eq,
            '!' if chars.next_if_eq(&'=').is_some() => Token::NotEq,
            '!' => Token::Bang,
            c => {
                let mut word = String::from(c);
                while let Some(c) = chars.next_if(|c| !is_special(*c)) {
                    word.push(c);
                }
                match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                }
            }
        };
        tokens.push(token);
    }
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.peek() == Some(&Token::Bang) {
            self.pos += 1;
            let key = self.identifier()?;
            return Requirement::new(&key, Op::DoesNotExist, Vec::new())
                .map_err(|e| format!("unable to parse requirement: {e}"));
        }
        let key = self.identifier()?;
        let op = match self.peek() {
            None | Some(Token::Comma) => Op::Exists,
            Some(Token::Eq) | Some(Token::DoubleEq) => Op::Equals,
            Some(Token::NotEq) => Op::NotEquals,
            Some(Token::In) => Op::In,
            Some(Token::NotIn) => Op::NotIn,
            Some(Token::Gt) => Op::GreaterThan,
            Some(Token::Lt) => Op::LessThan,
            Some(t) => {
                return Err(format!(
                    "found '{t}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        };
        if op != Op::Exists {
            self.pos += 1;
        }
        let values = match op {
            Op::Exists => Vec::new(),
            Op::In | Op::NotIn => self.value_set()?,
            _ => match self.peek() {
                Some(Token::Ident(_)) => vec![self.identifier()?],
                // `key=` selects an empty value.
                _ => vec![String::new()],
            },
        };
        Requirement::new(&key, op, values).map_err(|e| format!("unable to parse requirement: {e}"))
    }

    fn identifier(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Ident(s)) => Ok(s),
            Some(t) => Err(format!("found '{t}', expected: identifier")),
            None => Err("found '', expected: identifier".to_string()),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        if self.next() != Some(Token::Open) {
            return Err("found '', expected: '('".to_string());
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(Token::Ident(s)) => values.push(s),
                Some(Token::Close) => break,
                Some(Token::Comma) => {
                    // an empty element between commas is the empty string
                    if matches!(self.peek(), Some(Token::Comma) | Some(Token::Close)) {
                        values.push(String::new());
                    }
                    continue;
                }
                Some(t) => return Err(format!("found '{t}', expected: ',', ')' or identifier")),
                None => return Err("found '', expected: ')'".to_string()),
            }
            match self.peek() {
                Some(Token::Comma) | Some(Token::Close) => {}
                Some(t) => return Err(format!("found '{t}', expected: ',' or ')'")),
                None => return Err("found '', expected: ')'".to_string()),
            }
        }
        Ok(values)
    }
}

/// A `fieldSelector`: conjunction of `field=value` / `field!=value` over the few fields the API
/// server indexes for the resources the sim serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses `metadata.name=x,status.phase!=Running`; `supported` lists the fields the resource
    /// allows besides `metadata.name` and `metadata.namespace`.
    pub fn parse(input: &str, supported: &[&str]) -> Result<Self, String> {
        let mut terms = Vec::new();
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{input}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace")
                && !supported.contains(&field)
            {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    /// Whether `object` satisfies every term.
    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, equal, value)| {
            let path: Vec<&str> = field.split('.').collect();
            (json::str_at(object, &path) == value) == *equal
        })
    }

    /// The value of a `metadata.name=` term, which lets a list skip the scan.
    pub fn exact_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, eq, _)| f == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Value {
        json!({"metadata": {"labels": v}})
    }

    #[test]
    fn parses_every_operator_and_prints_sorted() {
        let s = Selector::parse("tier in (web, api),app=shop,!legacy,env!=dev,track").unwrap();
        assert_eq!(
            s.to_string(),
            "app=shop,env!=dev,!legacy,tier in (api,web),track"
        );
        assert!(s.matches_object(&labels(json!({"app": "shop", "tier": "api", "track": "x"}))));
        assert!(!s.matches_object(&labels(json!({"app": "shop", "tier": "db", "track": "x"}))));
        assert!(!s.matches_object(&labels(
            json!({"app": "shop", "tier": "api", "track": "x", "legacy": "1"})
        )));
        assert!(!s.matches_object(&labels(
            json!({"app": "shop", "tier": "api", "track": "x", "env": "dev"})
        )));
    }

    #[test]
    fn notin_and_not_equals_match_missing_labels() {
        let s = Selector::parse("env notin (dev),x!=y").unwrap();
        assert!(s.matches_object(&labels(json!({}))));
        assert!(s.matches_object(&json!({"metadata": {}})));
    }

    #[test]
    fn double_equals_and_numeric_comparisons() {
        let s = Selector::parse("app==a,n>3").unwrap();
        assert!(s.matches_object(&labels(json!({"app": "a", "n": "4"}))));
        assert!(!s.matches_object(&labels(json!({"app": "a", "n": "3"}))));
    }

    #[test]
    fn rejects_malformed_selectors() {
        assert!(Selector::parse("app in ()").is_err());
        assert!(Selector::parse("app in (a").is_err());
        assert!(Selector::parse("a b").is_err());
        assert!(Selector::parse("=x").is_err());
        assert!(Selector::parse("bad key!=x").is_err());
    }

    #[test]
    fn converts_label_selector_objects() {
        let sel = json!({"matchLabels": {"app": "api"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "canary", "operator": "DoesNotExist"}]});
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert_eq!(s.to_string(), "app=api,!canary,tier in (a,b)");
        assert!(
            !Selector::from_label_selector(None)
                .unwrap()
                .matches_object(&labels(json!({})))
        );
        assert!(
            Selector::from_label_selector(Some(&json!({})))
                .unwrap()
                .is_everything()
        );
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert!(Selector::from_label_selector(Some(&bad)).is_err());
    }

    #[test]
    fn field_selectors() {
        let f = FieldSelector::parse("metadata.name=x", &[]).unwrap();
        assert_eq!(f.exact_name(), Some("x"));
        assert!(f.matches(&json!({"metadata": {"name": "x"}})));
        assert!(!f.matches(&json!({"metadata": {"name": "y"}})));
        assert!(FieldSelector::parse("spec.foo=1", &[]).is_err());
        let p = FieldSelector::parse("status.phase!=Running", &["status.phase"]).unwrap();
        assert!(p.matches(&json!({"status": {"phase": "Pending"}})));
    }
}
