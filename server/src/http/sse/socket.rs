//! Writing a subscriber's events straight to its socket, once the accept
//! loop has taken the connection away from hyper (`serve/takeover.rs`).
//!
//! What a connection costs while idle is then only what this loop holds: the
//! subscription, its keep-alive timer and the socket. There is no read
//! buffer: the client has nothing more to say after its request, so the
//! socket is only watched for readability, and what arrives is read into a
//! small scratch array on the stack, to notice when the client has gone.
//!
//! The body is HTTP/1.1 chunked, as hyper would write it. A delivery of
//! several messages is one chunk, written with one vectored write from the
//! frames every subscriber shares: nothing is copied per subscriber.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Chunk, Connection, PREAMBLE};

/// Buffers passed to one `writev`: a size line, up to 62 frames, a CRLF.
/// (The kernel's limit is 1024; a longer delivery takes several calls.)
const MAX_SLICES: usize = 64;

/// The end of a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes `head` (the response's status line and headers), then the
/// subscriber's events until the subscription ends, the client goes away
/// or a write fails.
pub(crate) async fn serve(mut connection: Connection, mut socket: TcpStream, head: Vec<u8>) {
    let preamble = Chunk::One(PREAMBLE.clone());
    let started = write_chunk(&mut socket, &head, &preamble).await;
    // Not kept for the connection's life.
    drop(head);
    if let Err(err) = started {
        tracing::debug!(%err, "subscriber gone before the stream started");
        return;
    }
    loop {
        tokio::select! {
            chunk = connection.next_chunk() => {
                let Some(chunk) = chunk else {
                    // The subscription ended (the server is stopping, after
                    // its notice): end the body properly, then close.
                    let _ = socket.write_all(LAST_CHUNK).await;
                    let _ = socket.shutdown().await;
                    return;
                };
                if let Err(err) = write_chunk(&mut socket, &[], &chunk).await {
                    tracing::debug!(%err, "subscriber connection failed");
                    return;
                }
            }
            readable = socket.readable() => {
                if readable.is_err() || client_left(&socket) {
                    return;
                }
            }
        }
    }
}

/// Reads whatever the client sent after its request and says whether it
/// has closed its side. The bytes themselves are dropped: the response
/// said `connection: close`, so no further request is served here.
fn client_left(socket: &TcpStream) -> bool {
    let mut scratch = [0u8; 64];
    match socket.try_read(&mut scratch) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// Writes `prefix` (raw bytes, may be empty) and `chunk` as one HTTP/1.1
/// chunk, with vectored writes and without copying the frames.
async fn write_chunk(socket: &mut TcpStream, prefix: &[u8], chunk: &Chunk) -> io::Result<()> {
    let length: usize = chunk.frames().map(<[u8]>::len).sum();
    let mut size_line = [0u8; 20];
    let size_line = size_line_of(length, &mut size_line);
    let total = prefix.len() + size_line.len() + length + 2;
    let mut written = 0;
    while written < total {
        let n = poll_fn(|cx| {
            let parts = [prefix, size_line]
                .into_iter()
                .chain(chunk.frames())
                .chain([&b"\r\n"[..]]);
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = unwritten_slices(parts, written, &mut slices);
            Pin::new(&mut *socket).poll_write_vectored(cx, &slices[..count])
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    Ok(())
}

/// `length` in hex followed by CRLF, as a chunk starts.
fn size_line_of(length: usize, buffer: &mut [u8; 20]) -> &[u8] {
    use std::io::Write;
    let mut cursor = io::Cursor::new(&mut buffer[..]);
    write!(cursor, "{length:x}\r\n").expect("a usize in hex fits in 20 bytes");
    let end = cursor.position() as usize;
    &buffer[..end]
}

/// Fills `slices` with `parts` minus their first `skip` bytes, as many as
/// fit, and returns how many it filled. Empty parts are left out.
fn unwritten_slices<'a>(
    parts: impl Iterator<Item = &'a [u8]>,
    mut skip: usize,
    slices: &mut [IoSlice<'a>],
) -> usize {
    let mut count = 0;
    for part in parts {
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        let rest = &part[skip..];
        skip = 0;
        if count == slices.len() {
            break;
        }
        slices[count] = IoSlice::new(rest);
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn written(parts: &[&[u8]], skip: usize, room: usize) -> Vec<Vec<u8>> {
        let mut slices = vec![IoSlice::new(&[]); room];
        let count = unwritten_slices(parts.iter().copied(), skip, &mut slices);
        slices[..count].iter().map(|slice| slice.to_vec()).collect()
    }

    #[test]
    fn the_slices_start_where_the_last_write_stopped() {
        let parts: [&[u8]; 4] = [b"ab", b"", b"cde", b"f"];
        assert_eq!(written(&parts, 0, 8), [&b"ab"[..], b"cde", b"f"]);
        assert_eq!(written(&parts, 1, 8), [&b"b"[..], b"cde", b"f"]);
        assert_eq!(written(&parts, 2, 8), [&b"cde"[..], b"f"]);
        assert_eq!(written(&parts, 4, 8), [&b"e"[..], b"f"]);
        assert_eq!(written(&parts, 5, 8), [&b"f"[..]]);
        assert!(written(&parts, 6, 8).is_empty());
    }

    #[test]
    fn no_more_slices_than_room() {
        let parts: [&[u8]; 3] = [b"a", b"b", b"c"];
        assert_eq!(written(&parts, 0, 2), [&b"a"[..], b"b"]);
        assert_eq!(written(&parts, 1, 2), [&b"b"[..], b"c"]);
    }

    /// A chunk much larger than the socket's send buffer: the writes stop
    /// inside parts, and each goes on exactly where the last one stopped.
    #[tokio::test]
    async fn a_chunk_larger_than_the_send_buffer_arrives_intact() {
        use tokio::io::AsyncReadExt;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(4096).unwrap();
        let mut writer = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut reader, _) = listener.accept().await.unwrap();

        let frame: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let chunk = Chunk::One(Bytes::from(frame.clone()));
        let mut expected = b"HEAD\r\n".to_vec();
        expected.extend_from_slice(format!("{:x}\r\n", frame.len()).as_bytes());
        expected.extend_from_slice(&frame);
        expected.extend_from_slice(b"\r\n");

        let write = async {
            write_chunk(&mut writer, b"HEAD\r\n", &chunk).await.unwrap();
            writer.shutdown().await.unwrap();
        };
        let mut received = Vec::new();
        let read = reader.read_to_end(&mut received);
        let ((), read) = tokio::join!(write, read);
        read.unwrap();
        assert_eq!(received.len(), expected.len());
        assert!(received == expected, "the bytes differ");
    }

    #[test]
    fn a_size_line_is_hex_then_crlf() {
        let mut buffer = [0u8; 20];
        assert_eq!(size_line_of(0, &mut buffer), b"0\r\n");
        assert_eq!(size_line_of(255, &mut buffer), b"ff\r\n");
        assert_eq!(size_line_of(10_962, &mut buffer), b"2ad2\r\n");
        assert_eq!(
            size_line_of(usize::MAX, &mut buffer),
            b"ffffffffffffffff\r\n"
        );
    }
}
