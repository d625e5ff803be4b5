//! A minimal in-process SMTP server for tests: enough of RFC 5321 for lettre
//! (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), with scripted refusals.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// How the sink misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Replies to `RCPT TO` for these addresses, e.g. `550 5.1.1 no such user`.
    pub rcpt_replies: HashMap<String, String>,
    /// Sent instead of the 220 greeting, then the connection is closed (e.g. `421 …`).
    pub greeting: Option<String>,
    /// Accept connections but never say anything (for timeouts).
    pub silent: bool,
    /// Wait this long before the 220 greeting (a slow server).
    pub greeting_delay: Option<Duration>,
    /// After a message's final dot, wait this long before accepting it (a
    /// slow server). A client that hangs up meanwhile has not sent it.
    pub answer_delay: Option<Duration>,
}

impl Script {
    /// Answers `RCPT TO:<address>` with `reply` (e.g. `550 5.1.1 no such user`).
    pub fn refusing(address: &str, reply: &str) -> Script {
        Script {
            rcpt_replies: [(address.to_owned(), reply.to_owned())].into(),
            ..Script::default()
        }
    }
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_to: Vec<String>,
    /// The message as transmitted, dot-unstuffed.
    pub data: Vec<u8>,
}

/// The running sink; stops when dropped.
pub struct SmtpSink {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    waiting: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Listens on 127.0.0.1, port 0.
    pub async fn start(script: Script) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let waiting = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let state = Sink {
            store: received.clone(),
            waiting: waiting.clone(),
        };
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, script.clone(), state.clone()));
            }
        });
        SmtpSink {
            addr,
            received,
            waiting,
            task,
        }
    }

    /// Sessions held by a scripted delay: waiting for their greeting
    /// ([`Script::greeting_delay`]), or with a message that waits for
    /// [`Script::answer_delay`] before it is accepted.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// `smtp://127.0.0.1:{port}` (plain SMTP).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].to_owned()
}

/// What sessions share.
#[derive(Clone)]
struct Sink {
    store: Arc<Mutex<Vec<Received>>>,
    waiting: Arc<AtomicUsize>,
}

async fn session(stream: TcpStream, script: Arc<Script>, sink: Sink) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if script.silent {
        let mut sink = Vec::new();
        while lines.read_until(b'\n', &mut sink).await? > 0 {}
        return Ok(());
    }
    if let Some(greeting) = &script.greeting {
        write
            .write_all(format!("{greeting}\r\n").as_bytes())
            .await?;
        return write.shutdown().await;
    }
    if let Some(delay) = script.greeting_delay {
        sink.waiting.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        sink.waiting.fetch_sub(1, Ordering::SeqCst);
    }
    write
        .write_all(b"220 sink.test ESMTP test sink\r\n")
        .await?;
    let (mut from, mut rcpt) = (None::<String>, Vec::<String>::new());
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let upper = text.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250-8BITMIME\r\n250 SIZE 10485760".into()
        } else if upper.starts_with("HELO") || upper == "NOOP" {
            "250 2.0.0 OK".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(address(&text[10..]));
            rcpt.clear();
            "250 2.1.0 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            let to = address(&text[8..]);
            match script.rcpt_replies.get(&to) {
                Some(r) => r.clone(),
                None => {
                    rcpt.push(to);
                    "250 2.1.5 OK".into()
                }
            }
        } else if upper == "DATA" {
            if from.is_none() || rcpt.is_empty() {
                "503 5.5.1 need MAIL and RCPT first".into()
            } else {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if lines.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    let unstuffed = if line.starts_with(b"..") {
                        &line[1..]
                    } else {
                        &line[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                if let Some(delay) = script.answer_delay {
                    sink.waiting.fetch_add(1, Ordering::SeqCst);
                    line.clear();
                    let hung_up = tokio::select! {
                        read = lines.read_until(b'\n', &mut line) => matches!(read, Ok(0) | Err(_)),
                        () = tokio::time::sleep(delay) => false,
                    };
                    sink.waiting.fetch_sub(1, Ordering::SeqCst);
                    if hung_up {
                        return Ok(());
                    }
                }
                sink.store.lock().expect("lock").push(Received {
                    mail_from: from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt),
                    data,
                });
                "250 2.0.0 OK queued".into()
            }
        } else if upper == "RSET" {
            from = None;
            rcpt.clear();
            "250 2.0.0 OK".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return write.shutdown().await;
        } else {
            "502 5.5.2 command not implemented".into()
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}
