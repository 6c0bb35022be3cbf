//! Request parameters (`server/src/http/params/`): a query string plus a
//! form or JSON body, merged and read into each route's struct, exactly as
//! the server's extractors do (`malten_server::http::parse_params`).
//!
//! Input: byte 0 picks the route, byte 1 the `Content-Type`; the rest is
//! the query string, a `\n`, then the body (no `\n`: no query, all body).
//!
//! Properties: a refusal is a 400 with one of the documented codes; an
//! accepted request's values, sent again as a fresh query string and as a
//! JSON body, parse to the same values (nothing is lost or altered by
//! decoding); the route's follow-up checks (`read`, `encryption`, `last`)
//! answer values or 400s.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_server::error::ApiError;
use malten_server::http::{
    parse_params, CreateStream, ListMessages, PostMessage, RunCommand, Subscribe,
};
use malten_shared::limits::MAX_PAGE_LIMIT;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

const CONTENT_TYPES: [&str; 5] = [
    "",
    "application/x-www-form-urlencoded",
    "application/json",
    "Application/JSON; charset=utf-8",
    "text/plain",
];

/// A refusal must be one of the parameter errors, never anything else.
fn refused(err: &ApiError, codes: &[&str]) {
    assert_eq!(err.status().as_u16(), 400, "{err:?}");
    assert!(codes.contains(&err.code()), "{err:?}");
    assert!(!err.to_string().is_empty());
}

const PARAMETER: &[&str] = &["invalid_parameter", "invalid_stream_name"];

/// `pairs` as a query string and as a JSON body, each parsed as `T` and
/// compared with `same`.
fn again<T: serde::de::DeserializeOwned>(pairs: &[(&str, String)], same: impl Fn(T)) {
    let query: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", utf8_percent_encode(value, NON_ALPHANUMERIC)))
        .collect();
    let query = query.join("&");
    same(parse_params(Some(&query), "", b"").expect("accepted values re-parse from a query"));
    let json: Map<String, Value> = pairs
        .iter()
        .map(|(key, value)| (key.to_string(), Value::String(value.clone())))
        .collect();
    let body = serde_json::to_vec(&json).expect("an object serializes");
    same(parse_params(None, "application/json", &body).expect("and from a JSON body"));
}

fn optional(key: &'static str, value: Option<impl ToString>) -> Option<(&'static str, String)> {
    value.map(|value| (key, value.to_string()))
}

fuzz_target!(|data: &[u8]| {
    let [route, content_type, rest @ ..] = data else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(*content_type) % CONTENT_TYPES.len()];
    let (query, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => match std::str::from_utf8(&rest[..at]) {
            Ok(query) => (Some(query), &rest[at + 1..]),
            // A request line is text; hyper refuses anything else before us.
            Err(_) => return,
        },
        None => (None, rest),
    };
    match route % 5 {
        0 => match parse_params::<PostMessage>(query, content_type, body) {
            Ok(post) => {
                let pairs: Vec<_> = optional("stream", post.stream.clone())
                    .into_iter()
                    .chain([("message", post.message.clone())])
                    .collect();
                again(&pairs, |again: PostMessage| {
                    assert_eq!(again.stream, post.stream);
                    assert_eq!(again.message, post.message);
                });
            }
            Err(err) => refused(&err, PARAMETER),
        },
        1 => match parse_params::<ListMessages>(query, content_type, body) {
            Ok(list) => {
                assert!((1..=MAX_PAGE_LIMIT).contains(&list.limit));
                if let Err(err) = list.read() {
                    refused(&err, &["invalid_parameter"]);
                }
            }
            Err(err) => refused(&err, PARAMETER),
        },
        2 => match parse_params::<CreateStream>(query, content_type, body) {
            Ok(create) => {
                let (stream, private, ttl) = (create.stream.clone(), create.private, create.ttl);
                let encrypted = create.encrypted;
                match create.encryption() {
                    Ok(params) => {
                        assert_eq!(params.is_some(), encrypted == Some(true));
                        let mut pairs: Vec<_> = [
                            optional("stream", stream.clone()),
                            optional("private", private),
                            optional("ttl", ttl),
                            optional("encrypted", encrypted),
                        ]
                        .into_iter()
                        .flatten()
                        .collect();
                        if let Some(params) = &params {
                            pairs.extend([
                                ("salt", params.salt.clone()),
                                ("iterations", params.iterations.to_string()),
                                ("check", params.check.clone()),
                                ("kdf", params.kdf.clone()),
                            ]);
                        }
                        again(&pairs, |again: CreateStream| {
                            assert_eq!(again.stream, stream);
                            assert_eq!((again.private, again.ttl), (private, ttl));
                            assert_eq!(again.encrypted, encrypted);
                            let again = again.encryption().expect("accepted before");
                            assert_eq!(again, params);
                        });
                    }
                    Err(err) => refused(&err, &["invalid_parameter", "invalid_encryption"]),
                }
            }
            Err(err) => refused(&err, PARAMETER),
        },
        3 => match parse_params::<Subscribe>(query, content_type, body) {
            Ok(subscribe) => {
                if let Err(err) = subscribe.last() {
                    refused(&err, &["invalid_parameter"]);
                }
            }
            Err(err) => refused(&err, PARAMETER),
        },
        _ => match parse_params::<RunCommand>(query, content_type, body) {
            Ok(command) => {
                let pairs: Vec<_> = [
                    optional("stream", command.stream.clone()),
                    Some(("prompt", command.prompt.clone())),
                    optional("plaintext", command.plaintext),
                ]
                .into_iter()
                .flatten()
                .collect();
                again(&pairs, |again: RunCommand| {
                    assert_eq!(again.stream, command.stream);
                    assert_eq!(again.prompt, command.prompt);
                    assert_eq!(again.plaintext, command.plaintext);
                });
            }
            Err(err) => refused(&err, PARAMETER),
        },
    }
});
