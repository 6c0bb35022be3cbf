//! Splits message text into plain text and web links, so links can be made
//! clickable without ever interpreting the text as HTML.
//!
//! Only `http://` and `https://` URLs become links (never `javascript:` or
//! `data:`), and `#tag` words link to the stream of that name, as in the
//! original Malten.

use malten_shared::StreamName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Link(String),
    Stream(StreamName),
}

/// The segments of `text`, in order; concatenated they give `text` back.
pub fn segments(text: &str) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let push_text = |out: &mut Vec<Segment>, piece: &str| {
        if let Some(Segment::Text(last)) = out.last_mut() {
            last.push_str(piece);
        } else if !piece.is_empty() {
            out.push(Segment::Text(piece.to_owned()));
        }
    };
    for word in split_keeping_whitespace(text) {
        let (core, trailing) = split_trailing_punctuation(word);
        if (core.starts_with("https://") || core.starts_with("http://")) && core.len() > 8 {
            out.push(Segment::Link(core.to_owned()));
            push_text(&mut out, trailing);
        } else if let Some(tag) = core
            .strip_prefix('#')
            .and_then(|t| StreamName::parse(t).ok())
        {
            out.push(Segment::Stream(tag));
            push_text(&mut out, trailing);
        } else {
            push_text(&mut out, word);
        }
    }
    out
}

/// Words and the whitespace between them, as consecutive slices.
fn split_keeping_whitespace(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|was| was != space) {
            pieces.push(&text[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// `"example.com)."` → (`"example.com"`, `")."`): punctuation that usually
/// ends a sentence rather than a URL.
fn split_trailing_punctuation(word: &str) -> (&str, &str) {
    let core = word.trim_end_matches(['.', ',', '!', '?', ')', ']', ';', ':', '"', '\'']);
    word.split_at(core.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_tags_and_text_are_separated() {
        let parts = segments("see https://example.com/a?b=1, or #lobby now");
        assert_eq!(
            parts,
            vec![
                Segment::Text("see ".into()),
                Segment::Link("https://example.com/a?b=1".into()),
                Segment::Text(", or ".into()),
                Segment::Stream(StreamName::parse("lobby").unwrap()),
                Segment::Text(" now".into()),
            ]
        );
    }

    #[test]
    fn dangerous_schemes_and_markup_stay_text() {
        for text in [
            "javascript:alert(1)",
            "<img src=x onerror=alert(1)>",
            "data:text/html,hi",
            "https://",
        ] {
            assert_eq!(segments(text), vec![Segment::Text(text.into())], "{text}");
        }
    }

    #[test]
    fn segments_reassemble_to_the_original_text() {
        let text = "a  https://x.org/y).\n#tag! end";
        let joined: String = segments(text)
            .into_iter()
            .map(|s| match s {
                Segment::Text(t) | Segment::Link(t) => t,
                Segment::Stream(name) => format!("#{name}"),
            })
            .collect();
        assert_eq!(joined, text);
    }
}
