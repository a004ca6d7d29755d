//! Object and namespace names: the API server's validation rules, so a bad name is refused
//! before any request, and "did you mean" suggestions when a workload is not found.

/// A DNS-1123 subdomain, as workload names must be: at most 253 characters of lower-case
/// letters, digits, '-' and '.', starting and ending with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), String> {
    validate(name, 253, true)
}

/// A DNS-1123 label, as namespace names must be: at most 63 characters, no dots.
pub fn validate_namespace(namespace: &str) -> Result<(), String> {
    validate(namespace, 63, false)
}

fn validate(name: &str, max: usize, dots: bool) -> Result<(), String> {
    let what = if dots {
        "a DNS-1123 subdomain"
    } else {
        "a DNS-1123 label"
    };
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > max {
        return Err(format!(
            "must be {what} of at most {max} characters (got {})",
            name.len()
        ));
    }
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = name.chars().all(allowed)
        && name.starts_with(alphanumeric)
        && name.ends_with(alphanumeric)
        && !(dots
            && name
                .split('.')
                .any(|part| part.is_empty() || part.starts_with('-') || part.ends_with('-')));
    if ok {
        Ok(())
    } else {
        let characters = if dots {
            "lower-case letters, digits, '-' and '.'"
        } else {
            "lower-case letters, digits and '-'"
        };
        Err(format!(
            "must be {what}: {characters}, starting and ending with a letter or digit"
        ))
    }
}

/// Names from `candidates` close to `name` (small edit distance or a shared prefix/substring),
/// best first, at most three.
pub fn close_matches<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .filter_map(|candidate| {
            let distance = edit_distance(name, candidate);
            let related = candidate.contains(name) || name.contains(candidate);
            (distance <= name.len().max(3) / 3 || related).then_some((distance, candidate))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, candidate)| candidate.to_string())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_1123() {
        assert!(validate_name("api-server").is_ok());
        assert!(validate_name("api.server-2").is_ok());
        assert!(validate_name("Api").is_err());
        assert!(validate_name("-api").is_err());
        assert!(validate_name("api_server").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"a".repeat(254)).is_err());
        assert!(validate_namespace("shop").is_ok());
        assert!(validate_namespace("shop.eu").is_err());
    }

    #[test]
    fn suggests_close_names_best_first() {
        let names = [
            "api-server",
            "api-gateway",
            "web",
            "api-servers",
            "orders-db",
        ];
        assert_eq!(
            close_matches("api-sevrer", names),
            vec!["api-server", "api-servers"]
        );
        assert_eq!(
            close_matches("api", names),
            vec!["api-server", "api-gateway", "api-servers"]
        );
        assert!(close_matches("zzzzzzzz", names).is_empty());
    }
}
