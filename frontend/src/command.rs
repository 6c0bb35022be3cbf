//! Recognising LLM commands in the composer.

/// The prompt of an `/ai` command (or `/malten`, as in the original Malten),
/// or `None` for an ordinary message.
pub fn llm_prompt(text: &str) -> Option<&str> {
    let text = text.trim_start();
    ["/ai", "/malten"].iter().find_map(|prefix| {
        let rest = text.strip_prefix(prefix)?;
        rest.starts_with(char::is_whitespace)
            .then(|| rest.trim())
            .filter(|prompt| !prompt.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_by_their_prefix() {
        assert_eq!(llm_prompt("/ai what is 2+2?"), Some("what is 2+2?"));
        assert_eq!(llm_prompt("  /malten\nsummarise"), Some("summarise"));
        for plain in [
            "/ai",
            "/ai   ",
            "/aide memoire",
            "hello /ai x",
            "/maltenx y",
        ] {
            assert_eq!(llm_prompt(plain), None, "{plain:?}");
        }
    }
}
