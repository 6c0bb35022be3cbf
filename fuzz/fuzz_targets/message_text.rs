//! The plain message text rule (`check_message_text`): accepted texts have
//! 1 to MAX_MESSAGE_CHARS characters and are not all whitespace; a refusal
//! says which, with the real count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_shared::limits::MAX_MESSAGE_CHARS;
use malten_shared::{check_message_text, MessageTextError};

fuzz_target!(|data: &[u8]| {
    // Texts reach the server as UTF-8 (invalid UTF-8 is refused before
    // this rule); lossy decoding keeps the fuzzer's non-UTF-8 inputs useful.
    let text = String::from_utf8_lossy(data);
    let chars = text.chars().count();
    let blank = text.chars().all(char::is_whitespace);
    match check_message_text(&text) {
        Ok(()) => assert!(!blank && (1..=MAX_MESSAGE_CHARS).contains(&chars)),
        Err(MessageTextError::Blank) => assert!(blank),
        Err(MessageTextError::TooLong { chars: said }) => {
            assert!(!blank);
            assert_eq!(said, chars);
            assert!(chars > MAX_MESSAGE_CHARS);
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
