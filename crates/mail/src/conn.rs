//! Connecting and logging in: TCP, implicit TLS or STARTTLS, LOGIN. Each
//! failure is classified (connection, TLS, authentication) so the verdict
//! and the exit code can say which one it was.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tracing::{Instrument, info_span};

use crate::error::{MailError, Result};
use crate::secret::Secret;
use crate::server::{Security, Server};
use crate::tls;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A plain or TLS connection, so one session type serves both.
#[derive(Debug)]
pub enum Link {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// How long a server may stay silent while we wait for its answer. A link
/// that dies without a reset (a dropped route) would otherwise hang the
/// account forever; large folders still stream data well within this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The connection plus an idle timer on reads.
#[derive(Debug)]
pub struct Stream {
    link: Link,
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stream {
    fn new(link: Link) -> Stream {
        Stream { link, idle: None }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = match &mut this.link {
            Link::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Link::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if r.is_ready() {
            this.idle = None;
            return r;
        }
        let timer = this
            .idle
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(IDLE_TIMEOUT)));
        if timer.as_mut().poll(cx).is_ready() {
            this.idle = None;
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the server sent nothing for {} s", IDLE_TIMEOUT.as_secs()),
            )));
        }
        Poll::Pending
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().link {
            Link::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Link::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().link {
            Link::Plain(s) => Pin::new(s).poll_flush(cx),
            Link::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().link {
            Link::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Link::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type Imap = Session<Stream>;

/// async-imap logs every command it sends at `log` trace level, LOGIN
/// included (async-imap 0.12 `imap_stream.rs` `encode`), and the host's
/// tracing subscriber forwards `log` records. Capping the `log` crate at
/// debug keeps a `-vvv` run from printing passwords.
pub fn keep_passwords_out_of_logs() {
    if log::max_level() > log::LevelFilter::Debug {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// Connect, protect the connection as `server` asks, and log in.
pub async fn login(server: &Server, user: &str, password: &Secret) -> Result<Imap> {
    keep_passwords_out_of_logs();
    let span = info_span!("imap_login", server = %server, user);
    async move {
        let stream = connect(server).await?;
        let client = greet(server, stream).await?;
        let client = match server.security {
            Security::StartTls => starttls(server, client).await?,
            _ => client,
        };
        let session = tokio::time::timeout(CONNECT_TIMEOUT, client.login(user, password.expose()))
            .await
            .map_err(|_| MailError::Connect {
                server: server.to_string(),
                detail: "no answer to LOGIN within 30 s".into(),
            })?
            .map_err(|(e, _)| match e {
                async_imap::error::Error::No(d) | async_imap::error::Error::Bad(d) => {
                    MailError::Auth {
                        server: server.to_string(),
                        user: user.to_string(),
                        detail: tidy(&d),
                    }
                }
                other => connection_error(server, "login", other),
            })?;
        tracing::debug!("logged in");
        Ok(session)
    }
    .instrument(span)
    .await
}

async fn connect(server: &Server) -> Result<Stream> {
    let conn_err = |detail: String| MailError::Connect {
        server: server.to_string(),
        detail,
    };
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((server.host.as_str(), server.port)),
    )
    .await
    .map_err(|_| conn_err("no answer within 30 s".into()))?
    .map_err(|e| conn_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    match server.security {
        Security::Implicit => Ok(Stream::new(Link::Tls(Box::new(
            handshake(server, tcp).await?,
        )))),
        _ => Ok(Stream::new(Link::Plain(tcp))),
    }
}

async fn handshake(server: &Server, tcp: TcpStream) -> Result<TlsStream<TcpStream>> {
    let cfg = tls::client_config(server)?;
    let name = tls::server_name(server)?;
    tokio::time::timeout(CONNECT_TIMEOUT, TlsConnector::from(cfg).connect(name, tcp))
        .await
        .map_err(|_| MailError::Tls {
            server: server.to_string(),
            detail: "handshake timed out".into(),
        })?
        .map_err(|e| MailError::Tls {
            server: server.to_string(),
            detail: tls_detail(&e),
        })
}

fn tls_detail(e: &std::io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

async fn greet(server: &Server, stream: Stream) -> Result<Client<Stream>> {
    let mut client = Client::new(stream);
    match tokio::time::timeout(CONNECT_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_greeting))) => Ok(client),
        Ok(Ok(None)) => Err(MailError::Connect {
            server: server.to_string(),
            detail: "the server closed the connection before its greeting".into(),
        }),
        Ok(Err(e)) => Err(MailError::Connect {
            server: server.to_string(),
            detail: e.to_string(),
        }),
        Err(_) => Err(MailError::Connect {
            server: server.to_string(),
            detail:
                "no IMAP greeting within 30 s (is this an IMAP port? implicit TLS needs imaps://)"
                    .into(),
        }),
    }
}

async fn starttls(server: &Server, mut client: Client<Stream>) -> Result<Client<Stream>> {
    client
        .run_command_and_check_ok("STARTTLS", None)
        .await
        .map_err(|e| MailError::Tls {
            server: server.to_string(),
            detail: format!(
                "the server refused STARTTLS ({}); migrate does not fall back to plaintext",
                tidy(&e.to_string())
            ),
        })?;
    let Link::Plain(tcp) = client.into_inner().link else {
        return Err(MailError::Tls {
            server: server.to_string(),
            detail: "STARTTLS on a TLS connection".into(),
        });
    };
    // No second greeting after STARTTLS (RFC 3501 6.2.1).
    Ok(Client::new(Stream::new(Link::Tls(Box::new(
        handshake(server, tcp).await?,
    )))))
}

/// Map a transport-level async-imap error.
pub fn connection_error(server: &Server, what: &str, e: async_imap::error::Error) -> MailError {
    use async_imap::error::Error as E;
    match e {
        E::Io(_) | E::ConnectionLost => MailError::Connect {
            server: server.to_string(),
            detail: format!("connection lost during {what}: {e}"),
        },
        other => MailError::Protocol {
            server: server.to_string(),
            context: what.to_string(),
            detail: tidy(&other.to_string()),
        },
    }
}

/// async-imap formats NO/BAD as `code: Some(..), info: Some("..")`; keep
/// the server's own words.
pub fn tidy(s: &str) -> String {
    match s.find("info: Some(\"") {
        Some(i) => {
            let rest = &s[i + 12..];
            let text = rest.rsplit_once("\")").map(|(t, _)| t).unwrap_or(rest);
            match s.find("code: Some(") {
                Some(c) => {
                    let code = &s[c + 11..];
                    let code = code.split(')').next().unwrap_or("");
                    format!("[{code}] {text}")
                }
                None => text.to_string(),
            }
        }
        None => s.to_string(),
    }
}
