//! The logfmt of the legacy `tags` search parameter: `key=value key2="v w" flag`, as Go's
//! `go-logfmt` decoder reads it (a bare key has an empty value; quoted values take `\"`, `\\`,
//! `\n`, `\t` and `\r` escapes).

/// Decodes `input` into `(key, value)` pairs in order; errors name the problem and its
/// 1-based position.
pub(crate) fn parse_logfmt(input: &str) -> Result<Vec<(String, String)>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut pairs = Vec::new();
    let mut index = 0;
    let at = |index: usize| index + 1;
    while index < chars.len() {
        if chars[index].is_whitespace() {
            index += 1;
            continue;
        }
        let key_start = index;
        while index < chars.len()
            && !chars[index].is_whitespace()
            && chars[index] != '='
            && chars[index] != '"'
        {
            index += 1;
        }
        if index == key_start {
            return Err(format!(
                "unexpected '{}' at pos {}",
                chars[index],
                at(index)
            ));
        }
        let key: String = chars[key_start..index].iter().collect();
        if index >= chars.len() || chars[index].is_whitespace() {
            pairs.push((key, String::new()));
            continue;
        }
        if chars[index] == '"' {
            return Err(format!("unexpected '\"' at pos {}", at(index)));
        }
        // chars[index] == '='
        index += 1;
        if index < chars.len() && chars[index] == '"' {
            index += 1;
            let mut value = String::new();
            loop {
                let Some(&character) = chars.get(index) else {
                    return Err(format!("unterminated quoted value at pos {}", at(index)));
                };
                index += 1;
                match character {
                    '"' => break,
                    '\\' => {
                        let Some(&escaped) = chars.get(index) else {
                            return Err(format!("unterminated quoted value at pos {}", at(index)));
                        };
                        index += 1;
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '"' | '\\' | '/' => escaped,
                            other => {
                                return Err(format!(
                                    "invalid escape '\\{other}' at pos {}",
                                    at(index - 1)
                                ));
                            }
                        });
                    }
                    other => value.push(other),
                }
            }
            if index < chars.len() && !chars[index].is_whitespace() {
                return Err(format!(
                    "unexpected '{}' at pos {}",
                    chars[index],
                    at(index)
                ));
            }
            pairs.push((key, value));
        } else {
            let value_start = index;
            while index < chars.len() && !chars[index].is_whitespace() {
                if chars[index] == '"' || chars[index] == '=' {
                    return Err(format!(
                        "unexpected '{}' at pos {}",
                        chars[index],
                        at(index)
                    ));
                }
                index += 1;
            }
            pairs.push((key, chars[value_start..index].iter().collect()));
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn decodes_pairs_quotes_and_bare_keys() {
        assert_eq!(
            parse_logfmt(r#"service.name=cart  http.url="/a b" flag err="x\"y""#).unwrap(),
            pairs(&[
                ("service.name", "cart"),
                ("http.url", "/a b"),
                ("flag", ""),
                ("err", "x\"y")
            ])
        );
        assert_eq!(parse_logfmt("").unwrap(), Vec::new());
        assert_eq!(parse_logfmt("a=").unwrap(), pairs(&[("a", "")]));
    }

    #[test]
    fn reports_syntax_errors_with_positions() {
        assert_eq!(
            parse_logfmt("a=\"b").unwrap_err(),
            "unterminated quoted value at pos 5"
        );
        assert!(parse_logfmt("=b").unwrap_err().contains("pos 1"));
        assert!(parse_logfmt("a=b=c").unwrap_err().contains("pos 4"));
        assert!(parse_logfmt("a=\"b\"c").is_err());
    }
}
