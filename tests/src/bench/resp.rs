//! A tiny Redis client: RESP2 encoding and parsing over one socket, enough
//! for `SUBSCRIBE`, `PUBLISH`, `PUBSUB NUMSUB` and `PING`.
//!
//! It mirrors the hand-written HTTP and SSE clients (same read size, same
//! buffer handling) so that the comparison measures the servers, not two
//! client libraries.

use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::fanout::{FeedConn, PublishConn};
use super::payload::{encode_into, now_ns, PAYLOAD_LEN};
use super::stats::Tally;

/// Bytes asked of the socket per read, as for SSE.
const READ_CHUNK: usize = 64 * 1024;

/// A parsed RESP2 value, borrowing from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Int(i64),
    Bulk(Option<&'a [u8]>),
    Array(Vec<Value<'a>>),
}

/// Parses one value from the start of `buf`: the value and the bytes it
/// took, or `None` if `buf` does not hold a whole value yet.
pub fn parse(buf: &[u8]) -> Result<Option<(Value<'_>, usize)>> {
    let Some(eol) = memchr::memmem::find(buf, b"\r\n") else {
        return Ok(None);
    };
    let Some((&kind, line)) = buf[..eol].split_first() else {
        bail!("empty RESP line");
    };
    let after_line = eol + 2;
    let number = || -> Result<i64> {
        std::str::from_utf8(line)?
            .parse()
            .with_context(|| format!("bad RESP number {:?}", String::from_utf8_lossy(line)))
    };
    Ok(match kind {
        b'+' => Some((Value::Simple(line), after_line)),
        b'-' => Some((Value::Error(line), after_line)),
        b':' => Some((Value::Int(number()?), after_line)),
        b'$' => match number()? {
            -1 => Some((Value::Bulk(None), after_line)),
            len => {
                let len = usize::try_from(len).context("negative bulk length")?;
                let end = after_line + len;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                Some((Value::Bulk(Some(&buf[after_line..end])), end + 2))
            }
        },
        b'*' => {
            let count = usize::try_from(number()?.max(0)).unwrap_or(0);
            let mut items = Vec::with_capacity(count.min(16));
            let mut pos = after_line;
            for _ in 0..count {
                let Some((item, used)) = parse(&buf[pos..])? else {
                    return Ok(None);
                };
                items.push(item);
                pos += used;
            }
            Some((Value::Array(items), pos))
        }
        other => bail!("unknown RESP type byte {other:#x}"),
    })
}

/// Appends a command as an array of bulk strings.
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// One connection to Redis.
pub struct RespConn {
    stream: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// The channel `PUBLISH` sends to.
    channel: Vec<u8>,
    /// Subscribers each `PUBLISH` reached, summed, to check the fan-out.
    pub reached: i64,
}

impl RespConn {
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to redis at {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(1024),
            out: Vec::new(),
            channel: Vec::new(),
            reached: 0,
        })
    }

    /// A connection that publishes to `channel` through [`PublishConn`].
    pub fn publishing_to(mut self, channel: &str) -> Self {
        self.channel = channel.as_bytes().to_vec();
        self
    }

    /// Sends one command and waits for its reply, which `check` inspects.
    pub async fn call<T>(
        &mut self,
        args: &[&[u8]],
        check: impl FnOnce(&Value<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut out = Vec::new();
        command(&mut out, args);
        self.stream.write_all(&out).await?;
        self.reply(check).await
    }

    /// Waits for the next value on the connection; `check` inspects it.
    pub async fn reply<T>(&mut self, check: impl FnOnce(&Value<'_>) -> Result<T>) -> Result<T> {
        loop {
            if let Some((value, used)) = parse(&self.buf)? {
                if let Value::Error(message) = value {
                    bail!("redis error: {}", String::from_utf8_lossy(message));
                }
                let outcome = check(&value);
                self.buf.drain(..used);
                return outcome;
            }
            self.buf.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("redis closed the connection");
            }
        }
    }

    /// `SUBSCRIBE channel`, waiting for the confirmation.
    pub async fn subscribe(&mut self, channel: &str) -> Result<()> {
        self.call(&[b"SUBSCRIBE", channel.as_bytes()], |value| match value {
            Value::Array(items) if items.first() == Some(&Value::Bulk(Some(b"subscribe"))) => {
                Ok(())
            }
            other => bail!("unexpected SUBSCRIBE reply {other:?}"),
        })
        .await
    }

    /// Subscribers of `channel`, by `PUBSUB NUMSUB`.
    pub async fn numsub(&mut self, channel: &str) -> Result<usize> {
        self.call(&[b"PUBSUB", b"NUMSUB", channel.as_bytes()], |value| {
            if let Value::Array(items) = value {
                if let Some(Value::Int(count)) = items.get(1) {
                    return Ok(usize::try_from(*count).unwrap_or(0));
                }
            }
            bail!("unexpected PUBSUB NUMSUB reply {value:?}")
        })
        .await
    }

    /// Reads and discards whatever arrives until the connection closes.
    pub async fn drain(mut self) {
        let mut sink = [0u8; 512];
        while let Ok(1..) = self.stream.read(&mut sink).await {}
    }
}

impl FeedConn for RespConn {
    async fn read_some(&mut self, tally: &mut Tally) -> Result<()> {
        self.buf.reserve(READ_CHUNK);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            bail!("redis closed the subscription");
        }
        let received_ns = now_ns();
        let mut pos = 0;
        while let Some((value, used)) = parse(&self.buf[pos..])? {
            if let Value::Array(items) = &value {
                if let [Value::Bulk(Some(b"message")), _, Value::Bulk(Some(payload))] =
                    items.as_slice()
                {
                    tally.message(payload, received_ns);
                }
            }
            pos += used;
        }
        self.buf.drain(..pos);
        Ok(())
    }
}

impl PublishConn for RespConn {
    fn push(&mut self, seq: u64) {
        let mut payload = Vec::with_capacity(PAYLOAD_LEN);
        encode_into(&mut payload, seq, now_ns());
        command(&mut self.out, &[b"PUBLISH", &self.channel, &payload]);
    }

    async fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    async fn read_ack(&mut self) -> Result<()> {
        let reached = self
            .reply(|value| match value {
                Value::Int(count) => Ok(*count),
                other => bail!("unexpected PUBLISH reply {other:?}"),
            })
            .await?;
        self.reached += reached;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pushed_message_parses_only_once_complete() {
        let frame = b"*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$3\r\nabc\r\n";
        for cut in 0..frame.len() {
            assert_eq!(parse(&frame[..cut]).unwrap(), None, "cut at {cut}");
        }
        let (value, used) = parse(frame).unwrap().unwrap();
        assert_eq!(used, frame.len());
        assert_eq!(
            value,
            Value::Array(vec![
                Value::Bulk(Some(b"message")),
                Value::Bulk(Some(b"bench")),
                Value::Bulk(Some(b"abc")),
            ])
        );
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, &[b"PUBLISH", b"ch", b"hi"]);
        assert_eq!(out, b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$2\r\nhi\r\n");
        assert_eq!(parse(b":12\r\n").unwrap(), Some((Value::Int(12), 5)));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Some((Value::Bulk(None), 5)));
    }
}
