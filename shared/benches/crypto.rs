//! What encryption costs a client: one key derivation when joining a stream,
//! then sealing what it posts and opening a full stream's worth of messages.
//!
//! `cargo bench -p malten-shared --bench crypto`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use malten_shared::crypto::{
    derive_key, open, seal, KdfParams, Plaintext, PlaintextKind, StreamKey, MIN_ITERATIONS,
};
use malten_shared::limits::{MAX_MESSAGES_PER_STREAM, MAX_MESSAGE_CHARS};

fn key_derivation(c: &mut Criterion) {
    let params = KdfParams::new([7; 16], MIN_ITERATIONS).unwrap();
    let mut group = c.benchmark_group("derive_key");
    group.sample_size(10);
    group.bench_function("pbkdf2_sha256_600000", |b| {
        b.iter(|| derive_key(black_box("correct horse battery staple"), &params).unwrap())
    });
    group.finish();
}

/// A full stream: 1024 messages of 1024 characters each. "ascii" is the
/// usual long message (bucket 2048); "worst" needs six-byte JSON escapes for
/// every character and fills the largest bucket (8192).
fn full_streams() -> [(&'static str, Vec<Plaintext>); 2] {
    let make = |text: String| {
        (0..MAX_MESSAGES_PER_STREAM as u64)
            .map(|i| {
                Plaintext::new(text.clone(), PlaintextKind::Message, 1_700_000_000_000 + i)
                    .with_nick("benchmark")
            })
            .collect()
    };
    [
        ("ascii", make("x".repeat(MAX_MESSAGE_CHARS))),
        ("worst", make("\u{1}".repeat(MAX_MESSAGE_CHARS))),
    ]
}

fn seal_and_open(c: &mut Criterion) {
    let key = StreamKey::from_bytes([0x42; 32]);
    let mut group = c.benchmark_group("1024_max_messages");
    group.throughput(Throughput::Elements(MAX_MESSAGES_PER_STREAM as u64));
    for (name, messages) in full_streams() {
        group.bench_function(format!("seal/{name}"), |b| {
            b.iter(|| {
                for message in &messages {
                    black_box(seal(&key, "bench", message).unwrap());
                }
            })
        });
        let sealed: Vec<String> = messages
            .iter()
            .map(|m| seal(&key, "bench", m).unwrap())
            .collect();
        group.bench_function(format!("open/{name}"), |b| {
            b.iter(|| {
                for envelope in &sealed {
                    black_box(open(&key, "bench", envelope).unwrap());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, key_derivation, seal_and_open);
criterion_main!(benches);
