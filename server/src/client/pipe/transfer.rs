//! One end of a pipe: sends its standard input as numbered chunks, writes
//! the other end's chunks to standard output, and checks everything.
//!
//! Flow control: the receiver acknowledges every [`ACK_EVERY`] chunks, and
//! the sender never has more than [`WINDOW`] chunks unacknowledged, so a
//! slow receiver slows the sender down instead of the stream's 1024-message
//! ring overrunning (and the server drops what both ends have read, so the
//! ring holds only what is in flight).
//!
//! Failures are loud and final: a chunk out of order (lost or reordered), a
//! message that does not open (tampered, or not from this pipe), a digest
//! that does not match, the sender leaving before its end frame (cut short)
//! or a third writer are exit 3; the other end leaving before it had
//! everything we sent is exit 1.

use std::io::Write;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::frame::{digest, Frame, CHUNK_BYTES, MAX_SEQ};
pub use super::frame::{ACK_EVERY, WINDOW};
use crate::client::events::{Incoming, Subscription};
use crate::client::stream::Opened;
use crate::client::ClientError;

/// One end; see the module documentation.
pub struct End<'a> {
    opened: &'a Opened,
    me: String,
    send: bool,
    recv: bool,
    // Sending.
    sent: u64,
    acked: u64,
    sent_hash: Sha256,
    input_done: bool,
    delivered: bool,
    // Receiving.
    peer: Option<String>,
    received: u64,
    received_hash: Sha256,
    peer_done: bool,
    // Both ends were connected at some point.
    paired: bool,
}

impl<'a> End<'a> {
    pub fn new(opened: &'a Opened, send: bool, recv: bool) -> Self {
        End {
            opened,
            me: random_end_id(),
            send,
            recv,
            sent: 0,
            acked: 0,
            sent_hash: Sha256::new(),
            input_done: false,
            delivered: false,
            peer: None,
            received: 0,
            received_hash: Sha256::new(),
            peer_done: false,
            paired: false,
        }
    }

    fn finished(&self) -> bool {
        (!self.send || self.delivered) && (!self.recv || self.peer_done)
    }

    pub async fn run(mut self) -> Result<(), ClientError> {
        let mut subscription = Subscription::new(self.opened, true, false);
        // Refused here if two ends are already connected (`pipe_full`).
        subscription.connect().await?;
        if !self.send {
            // Nothing to send: say so, so a two-way end on the other side
            // does not wait for our data.
            self.input_done = true;
            self.post(&Frame::End {
                end: self.me.clone(),
                count: 0,
                digest: digest(Sha256::new()),
            })
            .await?;
        }
        let mut stdin = tokio::io::stdin();
        let mut buffer = vec![0u8; CHUNK_BYTES];
        while !self.finished() {
            let can_read = self.send && !self.input_done && self.sent - self.acked < WINDOW;
            tokio::select! {
                incoming = subscription.next() => {
                    let incoming = incoming.map_err(|err| self.connection_lost(err))?;
                    self.handle(incoming).await?;
                }
                read = read_chunk(&mut stdin, &mut buffer), if can_read => {
                    let n = read?;
                    self.send_chunk(&buffer[..n]).await?;
                }
            }
        }
        Ok(())
    }

    async fn send_chunk(&mut self, data: &[u8]) -> Result<(), ClientError> {
        if data.is_empty() {
            self.input_done = true;
            let hash = std::mem::take(&mut self.sent_hash);
            return self
                .post(&Frame::End {
                    end: self.me.clone(),
                    count: self.sent,
                    digest: digest(hash),
                })
                .await;
        }
        if self.sent >= MAX_SEQ {
            return Err(ClientError::Failed(format!(
                "a pipe carries at most {MAX_SEQ} chunks"
            )));
        }
        self.sent += 1;
        self.sent_hash.update(data);
        self.post(&Frame::Data {
            end: self.me.clone(),
            seq: self.sent,
            data: data.to_vec(),
        })
        .await
    }

    async fn handle(&mut self, incoming: Incoming) -> Result<(), ClientError> {
        match incoming {
            Incoming::Presence(observers) => {
                if observers >= 2 {
                    self.paired = true;
                } else if self.paired {
                    return Err(self.peer_left());
                }
                Ok(())
            }
            Incoming::Gap(_) => Err(ClientError::Integrity(
                "the server dropped chunks before they were read: the transfer is incomplete"
                    .into(),
            )),
            Incoming::Message(message) => {
                let shown = self.opened.decode(&message).map_err(|why| {
                    ClientError::Integrity(format!(
                        "a message in the pipe does not open (altered, or not from this pipe): {why}"
                    ))
                })?;
                let frame = Frame::decode(&shown.text).ok_or_else(|| {
                    ClientError::Integrity("a message in the pipe is not a pipe frame".into())
                })?;
                self.frame(frame).await
            }
        }
    }

    async fn frame(&mut self, frame: Frame) -> Result<(), ClientError> {
        // Our own chunks and end frame come back to us like to everyone.
        let from_me =
            matches!(frame, Frame::Data { .. } | Frame::End { .. }) && frame.end() == self.me;
        if from_me {
            return Ok(());
        }
        match frame {
            Frame::Ack { end, seq } if end == self.me => {
                self.acked = self.acked.max(seq.min(self.sent));
                Ok(())
            }
            Frame::Finished { end } if end == self.me => {
                self.delivered = self.input_done;
                Ok(())
            }
            // Acknowledgements of the other end's data, by us.
            Frame::Ack { .. } | Frame::Finished { .. } => Ok(()),
            Frame::Data { end, seq, data } => {
                self.check_peer(&end)?;
                if seq != self.received + 1 {
                    return Err(ClientError::Integrity(format!(
                        "chunk {seq} arrived when {} was expected: chunks were lost or reordered",
                        self.received + 1
                    )));
                }
                if self.peer_done {
                    return Err(ClientError::Integrity(
                        "a chunk arrived after the other end's final digest".into(),
                    ));
                }
                self.received = seq;
                self.received_hash.update(&data);
                if self.recv {
                    write_out(&data)?;
                }
                if seq % ACK_EVERY == 0 {
                    self.post(&Frame::Ack { end, seq }).await?;
                }
                Ok(())
            }
            Frame::End {
                end,
                count,
                digest: want,
            } => {
                self.check_peer(&end)?;
                if count != self.received {
                    return Err(ClientError::Integrity(format!(
                        "the other end sent {count} chunks but {} arrived: the transfer is incomplete",
                        self.received
                    )));
                }
                let got = digest(std::mem::take(&mut self.received_hash));
                if got != want {
                    return Err(ClientError::Integrity(
                        "the data does not match the sender's digest: it was altered".into(),
                    ));
                }
                self.peer_done = true;
                self.post(&Frame::Finished { end }).await
            }
        }
    }

    fn check_peer(&mut self, end: &str) -> Result<(), ClientError> {
        match &self.peer {
            Some(peer) if peer != end => Err(ClientError::Integrity(
                "a third party is writing into the pipe (it has the passphrase)".into(),
            )),
            Some(_) => Ok(()),
            None => {
                self.peer = Some(end.to_owned());
                Ok(())
            }
        }
    }

    /// The other end went away: an error unless everything is done.
    fn peer_left(&self) -> ClientError {
        if self.recv && !self.peer_done {
            return ClientError::Integrity(format!(
                "the other end left before the end of its data ({} chunks arrived): the transfer was cut short",
                self.received
            ));
        }
        ClientError::Failed(format!(
            "the other end left before it had everything: {} of {} chunks acknowledged",
            self.acked, self.sent
        ))
    }

    fn connection_lost(&self, err: ClientError) -> ClientError {
        match err {
            ClientError::Failed(why) => ClientError::Failed(format!(
                "the pipe's connection was lost ({why}) after {} chunks sent and {} received",
                self.sent, self.received
            )),
            other => other,
        }
    }

    async fn post(&self, frame: &Frame) -> Result<(), ClientError> {
        let body = self.opened.encode(&frame.encode(), None)?;
        self.opened.api.post(&self.opened.stream, &body).await?;
        Ok(())
    }
}

/// Reads up to a chunk; 0 at the end of the input. Returns what is there
/// as soon as there is something, so typed lines go out at once.
async fn read_chunk(stdin: &mut tokio::io::Stdin, buffer: &mut [u8]) -> Result<usize, ClientError> {
    Ok(stdin.read(buffer).await?)
}

fn write_out(data: &[u8]) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|()| out.flush())
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::BrokenPipe => ClientError::StdoutClosed,
            _ => ClientError::Io(err),
        })
}

/// 48 random bits, base64url: tells this end's frames from the other's.
fn random_end_id() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
