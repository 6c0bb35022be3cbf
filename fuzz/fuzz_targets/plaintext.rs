//! What an envelope carries once decrypted (`plaintext_from_padded`): the
//! bytes come from whoever holds the passphrase, so a reader must parse
//! them defensively. Accepted plaintexts pass the rules and survive a
//! round trip through the writer (`padded_plaintext`); refusals are errors.
//! The input's length is not constrained: in `open` the envelope check has
//! already made it a bucket's, and the reader accepts any bucket anyway.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_shared::crypto::{padded_plaintext, plaintext_from_padded, BUCKETS};

fuzz_target!(|data: &[u8]| {
    let Ok(plaintext) = plaintext_from_padded(data) else {
        return;
    };
    assert_eq!(plaintext.validate(), Ok(()));
    let padded = padded_plaintext(&plaintext).expect("an accepted plaintext is written again");
    assert!(BUCKETS.contains(&padded.len()));
    let again = plaintext_from_padded(&padded).expect("what the writer pads, the reader reads");
    assert_eq!(again, plaintext);
});
