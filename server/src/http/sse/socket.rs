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
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::net::TcpStream;

use super::{Chunk, Connection, PREAMBLE};
use crate::engine::Stored;
use crate::store::{DirectSink, DirectWriter, Written};

/// Buffers passed to one `writev`: a size line, up to 62 frames, a CRLF.
/// (The kernel's limit is 1024; a longer delivery takes several calls.)
const MAX_SLICES: usize = 64;

/// The end of a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes `head` (the response's status line and headers), then the
/// subscriber's events until the subscription ends, the client goes away
/// or a write fails.
///
/// While the subscription waits for news, its socket is lent to posters,
/// who write new messages to it themselves (`store/direct.rs`); this task
/// is woken only for what they do not write.
pub(crate) async fn serve(mut connection: Connection, socket: TcpStream, head: Vec<u8>) {
    let socket = Arc::new(socket);
    let preamble = Chunk::One(PREAMBLE.clone());
    let started = write_chunk(&socket, &head, &preamble, 0).await;
    // Not kept for the connection's life.
    drop(head);
    if let Err(err) = started {
        tracing::debug!(%err, "subscriber gone before the stream started");
        return;
    }
    let sink = DirectSink::new(Box::new(ChunkedWriter(Arc::clone(&socket))));
    connection.attach(Arc::clone(&sink));
    loop {
        tokio::select! {
            chunk = connection.next_chunk() => {
                let Some(chunk) = chunk else {
                    // The subscription ended (the server is stopping, after
                    // its notice): end the body properly, then close.
                    let _ = write_chunk_bytes(&socket, LAST_CHUNK).await;
                    let _ = socket2::SockRef::from(&*socket).shutdown(std::net::Shutdown::Write);
                    return;
                };
                let resume_at = sink.take_resume_at();
                if let Err(err) = write_chunk(&socket, &[], &chunk, resume_at).await {
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

/// Posters' writes to a subscriber's socket: each delivery one HTTP/1.1
/// chunk, as [`write_chunk`] writes it, without waiting.
struct ChunkedWriter(Arc<TcpStream>);

impl DirectWriter for ChunkedWriter {
    fn try_write(&self, messages: &[Arc<Stored>]) -> Written {
        let frames = || messages.iter().map(|message| message.frame_bytes());
        let length: usize = frames().map(<[u8]>::len).sum();
        let mut size_line = [0u8; 20];
        let size_line = size_line_of(length, &mut size_line);
        let total = size_line.len() + length + 2;
        let mut written = 0;
        while written < total {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = chunk_slices(&[], size_line, frames(), written, &mut slices);
            match self.0.try_write_vectored(&slices[..count]) {
                Ok(0) => return Written::Failed,
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    return Written::Part(written)
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Written::Failed,
            }
        }
        Written::All
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
/// chunk, with vectored writes and without copying the frames, from byte
/// `start` on (the bytes before it went out already: the part of a
/// delivery a poster wrote before the socket was full).
async fn write_chunk(
    socket: &TcpStream,
    prefix: &[u8],
    chunk: &Chunk,
    start: usize,
) -> io::Result<()> {
    let length: usize = chunk.frames().map(<[u8]>::len).sum();
    let mut size_line = [0u8; 20];
    let size_line = size_line_of(length, &mut size_line);
    let total = prefix.len() + size_line.len() + length + 2;
    let mut written = start;
    while written < total {
        // The slices are built inside the poll, on its stack: held across
        // an await they would be a kilobyte of every idle connection's task.
        let n = poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = chunk_slices(prefix, size_line, chunk.frames(), written, &mut slices);
            poll_write_vectored(socket, cx, &slices[..count])
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    Ok(())
}

/// Writes raw bytes whole.
async fn write_chunk_bytes(socket: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = poll_fn(|cx| poll_write_vectored(socket, cx, &[IoSlice::new(bytes)])).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// One vectored write through a shared socket, pending until the socket
/// takes something.
fn poll_write_vectored(
    socket: &TcpStream,
    cx: &mut Context<'_>,
    slices: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    loop {
        ready!(socket.poll_write_ready(cx))?;
        match socket.try_write_vectored(slices) {
            // Readiness was cleared: the next poll registers for it.
            Err(err)
                if err.kind() == io::ErrorKind::WouldBlock
                    || err.kind() == io::ErrorKind::Interrupted => {}
            result => return Poll::Ready(result),
        }
    }
}

/// `length` in hex followed by CRLF, as a chunk starts.
fn size_line_of(length: usize, buffer: &mut [u8; 20]) -> &[u8] {
    use std::io::Write;
    let mut cursor = io::Cursor::new(&mut buffer[..]);
    write!(cursor, "{length:x}\r\n").expect("a usize in hex fits in 20 bytes");
    let end = cursor.position() as usize;
    &buffer[..end]
}

/// The slices of one chunk (`prefix`, its size line, `frames`, a CRLF)
/// after its first `written` bytes, as many as fit in `slices`; returns
/// how many it filled.
fn chunk_slices<'a>(
    prefix: &'a [u8],
    size_line: &'a [u8],
    frames: impl Iterator<Item = &'a [u8]>,
    written: usize,
    slices: &mut [IoSlice<'a>],
) -> usize {
    let parts = [prefix, size_line]
        .into_iter()
        .chain(frames)
        .chain([&b"\r\n"[..]]);
    unwritten_slices(parts, written, slices)
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
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
            write_chunk(&writer, b"HEAD\r\n", &chunk, 0).await.unwrap();
            writer.shutdown().await.unwrap();
        };
        let mut received = Vec::new();
        let read = reader.read_to_end(&mut received);
        let ((), read) = tokio::join!(write, read);
        read.unwrap();
        assert_eq!(received.len(), expected.len());
        assert!(received == expected, "the bytes differ");
    }

    /// A poster's write into a full socket stops part-way; the connection's
    /// task writes the rest from where it stopped, and the reader gets the
    /// exact bytes of every delivery, once.
    #[tokio::test]
    async fn a_direct_write_cut_short_is_finished_from_where_it_stopped() {
        use std::time::Duration;

        use malten_shared::wire::{Body, Cursor, Message, MessageKind};
        use malten_shared::StreamName;
        use tokio::io::AsyncReadExt;

        // Small buffers at both ends (the accepted socket inherits the
        // listener's).
        let listening = tokio::net::TcpSocket::new_v4().unwrap();
        listening.set_recv_buffer_size(4096).unwrap();
        listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listening.listen(1).unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(4096).unwrap();
        let writer = Arc::new(
            socket
                .connect(listener.local_addr().unwrap())
                .await
                .unwrap(),
        );
        let (mut reader, _) = listener.accept().await.unwrap();

        let messages: Vec<Arc<Stored>> = (0..256u64)
            .map(|i| {
                let message = Message {
                    id: format!("id{i}"),
                    stream: StreamName::parse("room").unwrap(),
                    body: Body::Text(format!("{i:03} {}", "x".repeat(1000))),
                    kind: MessageKind::Message,
                    created: Cursor(1_000 + i),
                };
                Arc::new(Stored::new(message, tokio::time::Instant::now()))
            })
            .collect();
        let direct = ChunkedWriter(Arc::clone(&writer));
        // One delivery far larger than both buffers.
        let frames: Vec<u8> = messages
            .iter()
            .flat_map(|m| m.frame_bytes().to_vec())
            .collect();
        let mut expected = format!("{:x}\r\n", frames.len()).into_bytes();
        expected.extend_from_slice(&frames);
        expected.extend_from_slice(b"\r\n");
        let Written::Part(written) = direct.try_write(&messages) else {
            panic!("{} bytes cannot fit in the buffers", expected.len());
        };
        assert!(written > 0, "an empty socket takes something");
        let rest = messages;
        let finish = async {
            write_chunk(&writer, &[], &Chunk::Messages(rest), written)
                .await
                .unwrap();
            socket2::SockRef::from(&*writer)
                .shutdown(std::net::Shutdown::Write)
                .unwrap();
        };
        let mut received = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut received));
        let ((), read) = tokio::join!(finish, read);
        read.expect("in time").unwrap();
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
