//! The two servers of a migration, connected once: shell commands, file
//! reads with the recipe's container paths mapped onto each side's root,
//! and HTTP through the production hostname to each side's address.
//!
//! Everything here is blocking over a private tokio runtime, because plugin
//! planning calls are synchronous.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use migrate_remote::{Host, HostSpec, RemoteError, sh_quote};

use super::definition::{Migration, Side as SideDef};
use super::layout::Layout;
use crate::plugin::Side;

pub struct Sides {
    pub rt: Arc<tokio::runtime::Runtime>,
    pub src: Host,
    pub dst: Host,
    pub mig: Migration,
    /// The path the recipe and plugin use for the app (e.g. /var/www/html),
    /// mapped onto each side's root.
    pub mount: Option<String>,
    /// Every command a run sends, with its step: the audit trail beside
    /// the journal (scripts only; stdin, where values and secrets travel,
    /// is never written).
    audit: std::sync::Mutex<Audit>,
    /// Each side's layout, resolved once.
    layouts: [Layout; 2],
    /// Where the run's progress goes (the command's `--quiet`/`--json`).
    progress: std::sync::OnceLock<migrate_progress::Progress>,
    /// The recipe's declared paths of the app (its directories and config
    /// files), which planning reads may reach besides the root.
    declared: std::sync::OnceLock<Vec<String>>,
}

#[derive(Default)]
struct Audit {
    file: Option<std::fs::File>,
    step: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SideError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("{side}: {message}")]
    Http { side: &'static str, message: String },
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl SideError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SideError::Remote(e) if e.is_unreachable())
    }
}

pub fn side_word(s: Side) -> &'static str {
    crate::plugin::side_name(s)
}

impl Sides {
    pub fn connect(mig: &Migration, mount: Option<String>) -> Result<Sides, SideError> {
        let rt = crate::runtime::build().map_err(SideError::Runtime)?;
        let src_spec = HostSpec::parse(&mig.source.host)?;
        let dst_spec = HostSpec::parse(&mig.destination.host)?;
        let (src, dst) = rt.block_on(async {
            tokio::try_join!(Host::connect(&src_spec), Host::connect(&dst_spec))
        })?;
        Ok(Sides {
            rt: Arc::new(rt),
            src,
            dst,
            mig: mig.clone(),
            mount,
            audit: Default::default(),
            layouts: [Layout::of(&mig.source), Layout::of(&mig.destination)],
            progress: std::sync::OnceLock::new(),
            declared: std::sync::OnceLock::new(),
        })
    }

    /// Show the run's progress with `p` (once; later calls change nothing).
    pub fn set_progress(&self, p: migrate_progress::Progress) {
        let _ = self.progress.set(p);
    }

    /// The run's progress renderer: bars or lines by the terminal unless
    /// the command chose otherwise.
    pub fn progress(&self) -> &migrate_progress::Progress {
        self.progress.get_or_init(|| {
            migrate_progress::Progress::new(migrate_progress::Style::detect(false, false))
        })
    }

    /// Append every command sent from now on to `path` (JSON lines).
    pub fn record_to(&self, path: &std::path::Path) {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        match file {
            Ok(f) => {
                if let Ok(mut a) = self.audit.lock() {
                    a.file = Some(f);
                }
            }
            Err(e) => tracing::warn!("cannot keep the command log {}: {e}", path.display()),
        }
    }

    /// The step the commands sent from now on belong to.
    pub fn set_step(&self, step: &str) {
        if let Ok(mut a) = self.audit.lock() {
            a.step = step.to_string();
        }
    }

    /// Note a command in the audit trail (done for every command sent
    /// through these sessions; a step that hands a command to a crate's
    /// pipe notes it here itself).
    pub fn record(&self, s: Side, what: &str, script: &str) {
        let Ok(mut a) = self.audit.lock() else {
            return;
        };
        let step = a.step.clone();
        if let Some(f) = a.file.as_mut() {
            let line = serde_json::json!({
                "at_ms": super::journal::now_ms() as u64,
                "step": step,
                "on": side_word(s),
                "what": what,
                "script": script,
            });
            let _ = writeln!(f, "{line}");
        }
    }

    /// Note the recipe's declared paths (once; planning.rs reads them).
    pub fn declare(&self, paths: Vec<String>) {
        let _ = self.declared.set(paths);
    }

    pub fn declared(&self) -> &[String] {
        self.declared.get().map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn host(&self, s: Side) -> &Host {
        match s {
            Side::Source => &self.src,
            Side::Destination => &self.dst,
        }
    }

    pub fn layout(&self, s: Side) -> &Layout {
        match s {
            Side::Source => &self.layouts[0],
            Side::Destination => &self.layouts[1],
        }
    }

    pub fn def(&self, s: Side) -> &SideDef {
        self.mig.side(s)
    }

    /// A recipe/plugin path on this side: the main mount becomes the root.
    pub fn map_path(&self, s: Side, path: &str) -> String {
        map_path(self.mount.as_deref(), &self.def(s).root, path)
    }

    /// Run a script; non-zero exit is an error carrying stderr.
    pub fn sh(&self, s: Side, what: &str, script: &str) -> Result<String, SideError> {
        self.sh_in(s, what, script, None)
    }

    /// Run a script reading `stdin`; non-zero exit is an error carrying stderr.
    pub fn sh_in(
        &self,
        s: Side,
        what: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<String, SideError> {
        let _span = tracing::info_span!("remote", side = side_word(s), what).entered();
        self.record(s, what, script);
        let host = self.host(s);
        let out = self.rt.block_on(host.sh(what, script, stdin))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Run a script and return (exit status, stdout, stderr).
    pub fn sh_status(
        &self,
        s: Side,
        what: &str,
        script: &str,
    ) -> Result<(i32, String, String), SideError> {
        let _span = tracing::info_span!("remote", side = side_word(s), what).entered();
        self.record(s, what, script);
        let out = self.rt.block_on(self.host(s).sh_raw(what, script, None))?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    pub fn read_file(&self, s: Side, path: &str) -> Result<String, SideError> {
        let p = self.map_path(s, path);
        self.sh(s, "reading a file", &format!("cat -- {}", sh_quote(&p)))
    }

    /// GET through the production hostname, connecting to this side's
    /// address: over TLS (SNI and certificate for the hostname) when the
    /// side has an `https` address, else plain HTTP.
    pub fn http_get(
        &self,
        s: Side,
        path: &str,
        headers: &[(String, String)],
    ) -> Result<(u16, String), SideError> {
        let side = side_word(s);
        let _span = tracing::info_span!("http", side, path).entered();
        let def = self.def(s);
        let err = |message| SideError::Http { side, message };
        if let Some(addr) = def.https.as_deref() {
            return https_get(
                addr,
                &self.mig.domain,
                path,
                headers,
                self.mig.tls_ca.as_deref(),
            )
            .map_err(err);
        }
        let addr = def.http.as_deref().ok_or_else(|| {
            err(format!(
                "no HTTP address is configured for the {side} (set {side}.https or {side}.http = \"ADDRESS:PORT\")"
            ))
        })?;
        http_get(addr, &self.mig.domain, path, headers).map_err(err)
    }
}

pub fn map_path(mount: Option<&str>, root: &str, path: &str) -> String {
    match mount {
        Some(m) if path == m => root.to_string(),
        Some(m) if path.starts_with(&format!("{m}/")) => format!("{root}{}", &path[m.len()..]),
        _ if !path.starts_with('/') => format!("{root}/{path}"),
        _ => path.to_string(),
    }
}

fn connect(addr: &str, domain: &str, path: &str) -> Result<TcpStream, String> {
    let sock: SocketAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not ADDRESS:PORT"))?;
    let stream = TcpStream::connect_timeout(&sock, Duration::from_secs(10))
        .map_err(|e| format!("cannot connect to {addr} for {domain}{path}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    Ok(stream)
}

/// A plain HTTP/1.0 GET to `addr` with `Host: domain`: the request a browser
/// would send once DNS points at this address.
pub fn http_get(
    addr: &str,
    domain: &str,
    path: &str,
    headers: &[(String, String)],
) -> Result<(u16, String), String> {
    let mut stream = connect(addr, domain, path)?;
    exchange(&mut stream, addr, domain, path, headers)
}

/// The same GET over TLS to `addr`, with `domain` as SNI and the name the
/// certificate must be valid for. `ca_file` replaces the built-in roots.
pub fn https_get(
    addr: &str,
    domain: &str,
    path: &str,
    headers: &[(String, String)],
    ca_file: Option<&str>,
) -> Result<(u16, String), String> {
    let server = migrate_mail::server::Server {
        host: domain.to_string(),
        port: 443,
        security: migrate_mail::server::Security::Implicit,
        trust: migrate_mail::server::Trust {
            pin_sha256: None,
            ca_file: ca_file.map(std::path::PathBuf::from),
        },
    };
    let config = migrate_mail::tls::client_config(&server).map_err(|e| e.to_string())?;
    let name = migrate_mail::tls::server_name(&server).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| format!("TLS to {addr} for {domain}: {e}"))?;
    let mut tls = rustls::StreamOwned::new(conn, connect(addr, domain, path)?);
    exchange(&mut tls, addr, domain, path, headers).map_err(|e| {
        if e.contains("certificate") || e.contains("Certificate") {
            format!(
                "{e}. Browsers will refuse {domain} here too: fix the certificate on that server (or name the CA that signed it with tls_ca)"
            )
        } else {
            e
        }
    })
}

/// The most of one HTTP answer the host reads (status pages are KiB).
const HTTP_ANSWER_CAP: usize = 16 << 20;

fn exchange(
    stream: &mut (impl Read + Write),
    addr: &str,
    domain: &str,
    path: &str,
    headers: &[(String, String)],
) -> Result<(u16, String), String> {
    let target = request_target(path)?;
    let mut req = format!("GET {target} HTTP/1.0\r\nHost: {domain}\r\nConnection: close\r\n");
    for (k, v) in headers {
        if k.is_empty() || format!("{k}{v}").chars().any(|c| c.is_control()) {
            return Err(format!(
                "the header {k:?} has a control character (a line break?) or no name; it is not sent"
            ));
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("sending to {addr} for {domain}: {e}"))?;
    let mut raw = Vec::new();
    // An answer is read up to a bound: a server (or a path a plugin chose)
    // streaming without end must not fill the host's memory.
    let read = (&mut *stream)
        .take(HTTP_ANSWER_CAP as u64 + 1)
        .read_to_end(&mut raw);
    if raw.len() > HTTP_ANSWER_CAP {
        return Err(format!(
            "the answer from {addr} for {domain}{path} is over {} MiB; the host stopped reading there",
            HTTP_ANSWER_CAP >> 20
        ));
    }
    if let Err(e) = read {
        // A TLS peer that closes without close_notify after a complete
        // HTTP/1.0 answer is common and harmless; anything else is not.
        if raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(format!("reading from {addr} for {domain}: {e}"));
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("{addr} did not answer with HTTP (got {:?})", first(head)))?;
    Ok((status, body.to_string()))
}

/// A plugin's or recipe's path as an HTTP request target: it must start
/// with `/`; control characters (CR, LF) are refused, since they would end
/// the request line and let the path write headers or a second request;
/// spaces, non-ASCII and other bytes a request line cannot carry are
/// percent-encoded (an existing `%XX` escape is kept).
pub fn request_target(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("the HTTP path {path:?} does not start with /"));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(format!(
            "the HTTP path {path:?} has a control character (a line break?); it is not sent"
        ));
    }
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        // RFC 3986 unreserved, sub-delims, and ':' '@' '/' '?' '%'.
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

fn first(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(80).collect()
}

/// A dotted JSON field (`ocs.data.version.major`) as text.
pub fn json_field(body: &str, field: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let mut cur = &v;
    for part in field.split('.') {
        cur = match cur {
            serde_json::Value::Object(m) => m.get(part)?,
            serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(match cur {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_onto_the_root() {
        let m = Some("/var/www/html");
        assert_eq!(
            map_path(m, "/srv/nc", "/var/www/html/config/config.php"),
            "/srv/nc/config/config.php"
        );
        assert_eq!(map_path(m, "/srv/nc", "/var/www/html"), "/srv/nc");
        assert_eq!(map_path(m, "/srv/nc", "/var/www/htmlx"), "/var/www/htmlx");
        assert_eq!(
            map_path(m, "/srv/nc", "config/config.php"),
            "/srv/nc/config/config.php"
        );
    }

    #[test]
    fn http_paths_cannot_break_the_request_line() {
        assert_eq!(
            request_target("/status.php?format=json").as_deref(),
            Ok("/status.php?format=json")
        );
        assert_eq!(
            request_target("/a b/ü\"<>").as_deref(),
            Ok("/a%20b/%C3%BC%22%3C%3E")
        );
        assert_eq!(request_target("/x%20y").as_deref(), Ok("/x%20y"));
        for bad in [
            "/\r\nHost: evil.example",
            "/x\nGET /admin HTTP/1.0",
            "/\0",
            "status.php",
            "",
        ] {
            assert!(request_target(bad).is_err(), "{bad:?}");
        }
        // Nothing is sent for a path that is refused: the exchange fails
        // before writing.
        let mut sink = std::io::Cursor::new(Vec::new());
        let e = exchange(&mut sink, "127.0.0.1:1", "x.test", "/\r\nX-Evil: 1", &[])
            .expect_err("refused");
        assert!(e.contains("control character"), "{e}");
        assert!(sink.get_ref().is_empty());
    }

    /// A peer that answers HTTP and then zeros without end.
    struct Endless(usize);
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let head = b"HTTP/1.0 200 OK\r\n\r\n";
            let n = buf.len();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = head.get(self.0 + i).copied().unwrap_or(0);
            }
            self.0 += n;
            Ok(n)
        }
    }
    impl Write for Endless {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_endless_answer_is_cut_off_with_a_clear_error() {
        let e = exchange(&mut Endless(0), "127.0.0.1:1", "x.test", "/", &[]).expect_err("capped");
        assert!(e.contains("over 16 MiB"), "{e}");
    }

    #[test]
    fn json_fields_are_dotted() {
        let b = r#"{"installed":true,"ocs":{"data":{"version":{"major":28}}}}"#;
        assert_eq!(json_field(b, "installed").as_deref(), Some("true"));
        assert_eq!(
            json_field(b, "ocs.data.version.major").as_deref(),
            Some("28")
        );
        assert_eq!(json_field(b, "nope"), None);
    }
}
