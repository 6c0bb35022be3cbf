//! The rule for the text of a plain message, shared so that the web app's
//! composer and the server reject exactly the same inputs.

use crate::limits::MAX_MESSAGE_CHARS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageTextError {
    #[error("message must not be empty or blank")]
    Blank,
    #[error("message has {chars} characters; the limit is {MAX_MESSAGE_CHARS}")]
    TooLong { chars: usize },
}

/// Accepts 1 to 1024 Unicode scalar values that are not all whitespace.
///
/// Characters, not bytes, are counted, so a text in any script gets the same
/// allowance; a text over the limit is rejected, never cut (cutting could
/// split a character or silently change what was said).
pub fn check_message_text(text: &str) -> Result<(), MessageTextError> {
    if text.trim().is_empty() {
        return Err(MessageTextError::Blank);
    }
    // Stop counting just past the limit: a huge input costs no more than a
    // slightly-too-long one.
    let chars = text.chars().take(MAX_MESSAGE_CHARS + 1).count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(MessageTextError::TooLong {
            chars: text.chars().count(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        let four_byte_chars = "😀".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(four_byte_chars.len(), 4 * MAX_MESSAGE_CHARS);
        assert_eq!(check_message_text(&four_byte_chars), Ok(()));
        let one_more = format!("{four_byte_chars}é");
        assert_eq!(
            check_message_text(&one_more),
            Err(MessageTextError::TooLong {
                chars: MAX_MESSAGE_CHARS + 1
            })
        );
    }

    #[test]
    fn rejects_blank_text() {
        for blank in ["", " ", "\n\t "] {
            assert_eq!(check_message_text(blank), Err(MessageTextError::Blank));
        }
    }
}
