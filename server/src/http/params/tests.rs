//! The typed parameters: lenient field rules, the documented errors, and
//! which error wins when several fields are wrong.

use serde_json::json;

use super::*;
use crate::engine::Page;

fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    let Value::Object(map) = value else {
        panic!("parameters are an object")
    };
    typed(map)
}

fn invalid<T: DeserializeOwned + std::fmt::Debug>(value: Value) -> (String, String) {
    let err = parse::<T>(value).unwrap_err();
    (err.code().to_owned(), err.to_string())
}

#[test]
fn text_fields_take_numbers_and_booleans_as_their_text_and_ignore_unknown_fields() {
    let post: PostMessage = parse(json!({"message": 42, "extra": [1]})).unwrap();
    assert_eq!(post.message, "42");
    assert_eq!(post.stream, None);
    let post: PostMessage = parse(json!({"stream": "", "message": true})).unwrap();
    assert_eq!(post.message, "true");
    assert_eq!(post.stream, None, "an empty stream is the default");
}

#[test]
fn booleans_numbers_and_cursors_follow_the_documented_spellings() {
    let create: CreateStream =
        parse(json!({"private": "F", "ttl": " 60 ", "encrypted": ""})).unwrap();
    assert_eq!(create.private, Some(false));
    assert_eq!(create.ttl, Some(60));
    assert_eq!(create.encrypted, None, "empty is absent");
    let list: ListMessages = parse(json!({"limit": "5", "last": "17"})).unwrap();
    assert_eq!(list.limit, 5);
    assert_eq!(list.last, Some(Cursor(17)));
}

#[test]
fn a_bad_field_is_named_in_a_400_invalid_parameter() {
    let cases = [
        (json!({"message": {}}), "`message` must be a string"),
        (json!({"stream": "ok"}), "`message` is required"),
    ];
    for (value, sentence) in cases {
        assert_eq!(
            invalid::<PostMessage>(value),
            ("invalid_parameter".into(), sentence.into())
        );
    }
    let cases = [
        (json!({"limit": "0"}), "`limit` must be between 1 and 1024"),
        (
            json!({"limit": "-1"}),
            "`limit` must be a non-negative whole number",
        ),
        (json!({"last": "x"}), "`last` must be a message cursor"),
    ];
    for (value, start) in cases {
        let (code, sentence) = invalid::<ListMessages>(value);
        assert_eq!(code, "invalid_parameter");
        assert!(sentence.starts_with(start), "{sentence}");
    }
    for bad in ["maybe", "Off", "yes", "on", "tRUE"] {
        let (code, sentence) = invalid::<CreateStream>(json!({"private": bad}));
        assert_eq!(code, "invalid_parameter", "{bad}");
        assert!(
            sentence.starts_with("`private` must be one of 1 t T"),
            "{sentence}"
        );
    }
}

#[test]
fn a_bad_stream_name_has_its_own_code_and_is_reported_first() {
    // `limit` comes after `stream` in the route's order, whatever the
    // order of the request.
    let (code, _) = invalid::<ListMessages>(json!({"limit": "x", "stream": "a b"}));
    assert_eq!(code, "invalid_stream_name");
    let (code, sentence) = invalid::<ListMessages>(json!({"last": "x", "limit": "x"}));
    assert_eq!(code, "invalid_parameter");
    assert!(sentence.starts_with("`limit`"), "{sentence}");
}

#[test]
fn fields_read_only_in_some_cases_cannot_fail_a_request_that_does_not_read_them() {
    let by_id: ListMessages = parse(json!({"id": "abc", "direction": "sideways"})).unwrap();
    assert_eq!(by_id.read().unwrap(), Read::ById("abc".into()));
    let page: ListMessages = parse(json!({"direction": "sideways"})).unwrap();
    assert_eq!(
        page.read().unwrap_err().to_string(),
        "`direction` must be a whole number"
    );
    let page: ListMessages = parse(json!({"direction": "1", "last": "0"})).unwrap();
    assert_eq!(
        page.read().unwrap(),
        Read::Page(Page::Forward {
            after: Cursor::START
        })
    );

    let plain: CreateStream = parse(json!({"kdf": []})).unwrap();
    assert!(plain.encryption().unwrap().is_none());
    let subscribe: Subscribe = parse(json!({"last": "x"})).unwrap();
    assert!(subscribe.last().is_err());
}
