//! The one server-to-server pipe: a command's output on the source streamed
//! into a command's input on the destination. Between two servers it runs
//! on the source with a temporary key (`trust`), in the job directory every
//! job uses (`jobdir`), recorded for `migrate cleanup` (`registry`) before
//! the key exists. When one side is this machine, or the servers cannot
//! reach each other, the bytes are relayed through this machine instead;
//! the `Route` says which way they went.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, instrument, warn};

use crate::addr::{HostSpec, Location};
use crate::error::RemoteError;
use crate::host::Host;
use crate::jobdir::{self, JobId};
use crate::registry::{self, JobKind, JobRecord};
use crate::script::{Script, ShellWord};
use crate::trust;

/// One stream to move.
#[derive(Debug, Clone)]
pub struct Pipe<'a> {
    pub src: &'a Host,
    pub dst: &'a Host,
    /// Names the job directory, the registry record and the key's comment.
    pub job: JobId,
    /// A POSIX sh command line run on the source; its stdout is the stream.
    pub dump: &'a str,
    /// A POSIX sh command line run on the destination; its stdin is the stream.
    pub load: &'a str,
    /// Go through this machine even when the servers could reach each other.
    pub relay: bool,
    /// How long the temporary key is accepted if nothing removes it.
    pub key_lifetime: Duration,
    /// Told the bytes through the pipe so far, every few seconds.
    pub on_bytes: Option<OnBytes<'a>>,
}

/// A callback for the bytes a stream has moved so far (for progress).
#[derive(Clone, Copy)]
pub struct OnBytes<'a>(pub &'a (dyn Fn(u64) + Send + Sync));

impl std::fmt::Debug for OnBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnBytes")
    }
}

impl<'a> Pipe<'a> {
    pub fn new(src: &'a Host, dst: &'a Host, job: JobId, dump: &'a str, load: &'a str) -> Self {
        Pipe {
            src,
            dst,
            job,
            dump,
            load,
            relay: false,
            key_lifetime: trust::DEFAULT_LIFETIME,
            on_bytes: None,
        }
    }
}

/// Why the bytes went through this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayReason {
    /// The source or the destination is this machine.
    LocalSide,
    /// The caller asked for it.
    Requested,
    /// The servers could not be linked directly (the trust error, said).
    NoDirectLink(String),
}

/// Which way the bytes went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Source to destination with a temporary key.
    ServerToServer,
    /// Both ends are one host: a plain pipe there.
    SameHost,
    /// Through this machine.
    Relayed(RelayReason),
}

impl Route {
    /// A short name for reports (`direct`, `same-host`, `relay`).
    pub fn name(&self) -> &'static str {
        match self {
            Route::ServerToServer => "direct",
            Route::SameHost => "same-host",
            Route::Relayed(_) => "relay",
        }
    }

    /// A phrase for people.
    pub fn describe(&self) -> String {
        match self {
            Route::ServerToServer => "server to server".into(),
            Route::SameHost => "on the one host".into(),
            Route::Relayed(RelayReason::LocalSide) => {
                "relayed through this machine (one side is this machine)".into()
            }
            Route::Relayed(RelayReason::Requested) => "relayed through this machine".into(),
            Route::Relayed(RelayReason::NoDirectLink(why)) => {
                format!("relayed through this machine ({why})")
            }
        }
    }
}

/// A finished stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub route: Route,
    /// Bytes that left the source command.
    pub bytes: u64,
}

/// How one end of the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Exit status; None when it never reported one (killed, or the
    /// pipeline stopped before it).
    pub status: Option<i32>,
    /// The end of its stderr.
    pub stderr: String,
}

impl End {
    fn ok(&self) -> bool {
        self.status == Some(0)
    }

    fn describe(&self, side: &str) -> String {
        let st = match self.status {
            Some(c) => format!("{side} exit {c}"),
            None => format!("{side} did not finish"),
        };
        if self.stderr.trim().is_empty() {
            st
        } else {
            format!("{st}: {}", self.stderr.trim())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error(transparent)]
    Remote(#[from] RemoteError),

    /// The stream ran but one end failed.
    #[error("{}", failed_message(.route, .dump, .load, *.key_left))]
    Failed {
        route: Route,
        dump: End,
        load: End,
        key_left: bool,
    },

    /// Everything arrived, but the temporary key is still authorized.
    #[error(
        "the stream arrived ({bytes} bytes, {}) but the temporary key could not be removed: {source}; run `migrate cleanup`", .route.describe()
    )]
    KeyLeft {
        route: Route,
        bytes: u64,
        #[source]
        source: RemoteError,
    },
}

impl From<crate::script::WordError> for PipeError {
    fn from(e: crate::script::WordError) -> Self {
        PipeError::Remote(e.into())
    }
}

fn failed_message(route: &Route, dump: &End, load: &End, key_left: bool) -> String {
    format!(
        "{}; {} ({}){}",
        dump.describe("dump"),
        load.describe("load"),
        route.describe(),
        if key_left {
            "; the temporary key could not be removed: run `migrate cleanup`"
        } else {
            ""
        }
    )
}

impl PipeError {
    /// The one-line account of a failed stream (both ends), if that is
    /// what this error is.
    pub fn stream_failure(&self) -> Option<String> {
        match self {
            PipeError::Failed { dump, load, .. } => Some(format!(
                "{}; {}",
                dump.describe("dump"),
                load.describe("load")
            )),
            _ => None,
        }
    }
}

/// Stream `pipe.dump` on the source into `pipe.load` on the destination.
#[instrument(skip_all, fields(src = %pipe.src.name(), dst = %pipe.dst.name(), job = %pipe.job))]
pub async fn run(pipe: &Pipe<'_>) -> Result<Transfer, PipeError> {
    let (s, d) = (pipe.src.spec(), pipe.dst.spec());
    if s == d {
        let t = same_host(pipe).await?;
        info!(route = t.route.name(), bytes = t.bytes, "stream finished");
        return Ok(t);
    }
    let dst_dest = match (s, d) {
        _ if pipe.relay => return relayed(pipe, RelayReason::Requested).await,
        (HostSpec::Ssh { .. }, HostSpec::Ssh { dest }) => dest.clone(),
        _ => return relayed(pipe, RelayReason::LocalSide).await,
    };
    // A bad key lifetime is the operator's to fix, not a reason to relay.
    trust::lifetime_from_env()?;
    let jd = jobdir::find(pipe.src, &pipe.job).await?;
    // Recorded before the key exists: whatever happens from here on,
    // `migrate cleanup` knows where to look.
    registry::upsert(JobRecord {
        id: pipe.job.to_string(),
        src: Location {
            host: s.clone(),
            path: jd.clone(),
        }
        .to_string(),
        dst: Location {
            host: d.clone(),
            path: "/".into(),
        }
        .to_string(),
        job_dir: jd.clone(),
        relay: false,
        kind: JobKind::Pipe,
    })?;
    let id = pipe.job.as_str();
    // The load is known now: the key runs it and nothing else.
    let t = match trust::setup_for_command(
        pipe.src,
        pipe.dst,
        &dst_dest,
        &jd,
        id,
        pipe.key_lifetime,
        pipe.load,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            warn!("no direct link between the servers, relaying: {e}");
            // A half-made key (made on src, not authorized on dst) goes too.
            if trust::teardown(pipe.src, pipe.dst, &jd, id).await.is_ok() {
                forget(pipe.src, &jd, id).await;
            }
            return relayed(pipe, RelayReason::NoDirectLink(e.to_string())).await;
        }
    };
    let sink = t.dst_ssh.run_sh(&ShellWord::new(pipe.load)?);
    let streamed = stream_on_src(pipe.src, &jd, pipe.dump, &sink, pipe.on_bytes).await;
    let torn = trust::teardown(pipe.src, pipe.dst, &jd, id).await;
    if torn.is_ok() {
        forget(pipe.src, &jd, id).await;
    }
    let route = Route::ServerToServer;
    let (bytes, dump, load) = streamed?;
    if !dump.ok() || !load.ok() {
        return Err(PipeError::Failed {
            route,
            dump,
            load,
            key_left: torn.is_err(),
        });
    }
    if let Err(source) = torn {
        return Err(PipeError::KeyLeft {
            route,
            bytes,
            source,
        });
    }
    info!(route = route.name(), bytes, "stream finished");
    Ok(Transfer { route, bytes })
}

/// The key is gone: the job directory and its record go too.
async fn forget(src: &Host, jd: &str, id: &str) {
    if let Ok(w) = ShellWord::new(jd) {
        let _ = src
            .sh(
                "removing the job directory",
                Script::new().raw("rm -rf --").word(&w).as_str(),
                None,
            )
            .await;
    }
    if let Err(e) = registry::remove(id) {
        warn!("could not update the job list: {e}");
    }
}

/// Both ends on one host: the pipeline runs there.
async fn same_host(pipe: &Pipe<'_>) -> Result<Transfer, PipeError> {
    let jd = jobdir::find(pipe.src, &pipe.job).await?;
    let sink = Script::new().raw("sh -c").word(&ShellWord::new(pipe.load)?);
    let streamed = stream_on_src(pipe.src, &jd, pipe.dump, &sink, pipe.on_bytes).await;
    if let Ok(w) = ShellWord::new(&jd) {
        let _ = pipe
            .src
            .sh(
                "removing the job directory",
                Script::new().raw("rm -rf --").word(&w).as_str(),
                None,
            )
            .await;
    }
    let (bytes, dump, load) = streamed?;
    let route = Route::SameHost;
    if !dump.ok() || !load.ok() {
        return Err(PipeError::Failed {
            route,
            dump,
            load,
            key_left: false,
        });
    }
    Ok(Transfer { route, bytes })
}

/// The pipeline, run by bash in the job directory on the source. It writes
/// `pid` and `state` there (so `migrate status` and `migrate cleanup` see a
/// live job and leave its key alone), counts the bytes with dd, and
/// reports each end's exit status and stderr.
///
/// This machine holds the script's stdin open while it waits. If this
/// machine goes away (killed, disconnected), stdin ends and the pipeline is
/// stopped: the judge of the result is gone, and a load nobody checks must
/// not finish unseen (a PostgreSQL load in one transaction then rolls
/// back). The key stays until `migrate cleanup`, or until it expires.
const STREAM: &str = r#"command -v bash >/dev/null 2>&1 || { echo "bash is not installed on the source (package bash)" >&2; exit 127; }
exec bash -c '
set -m
umask 077; mkdir -p -- "$1" && cd -- "$1" || exit 1
shift
echo $$ > pid; echo running > state; rm -f rc dd.err dump.err load.err
exec 3<&0 </dev/null
DDP=status=progress
dd status=progress if=/dev/null of=/dev/null 2>/dev/null || DDP=
( sh -c "$1" 2>dump.err | dd bs=1M $DDP 2>dd.err | eval "$2" >/dev/null 2>load.err; echo "${PIPESTATUS[*]}" > rc ) 3<&- &
p=$!
( cat <&3 >/dev/null; kill -TERM -- -$p 2>/dev/null ) &
w=$!
exec 3<&-
( while sleep 1; do echo "progress $(tr "\r" "\n" < dd.err 2>/dev/null | sed -n "s/^\([0-9][0-9]*\) bytes.*/\1/p" | tail -n 1)"; done ) &
t=$!
wait $p
kill -TERM -- -$w -$t 2>/dev/null
if [ ! -s rc ]; then echo interrupted > state
elif [ "$(cat rc)" = "0 0 0" ]; then echo done > state
else echo failed > state; fi
echo "rc $(cat rc 2>/dev/null)"
echo "bytes $(tr "\r" "\n" < dd.err | sed -n "s/^\([0-9][0-9]*\) bytes.*/\1/p" | tail -n 1)"
echo @@dumperr; tail -c 2000 dump.err; echo; echo @@loaderr; tail -c 2000 load.err
true' migrate-pipe {{jd}} {{dump}} {{sink}}"#;

/// Run the stream on the source; returns (bytes, dump end, load end).
async fn stream_on_src(
    src: &Host,
    jd: &str,
    dump: &str,
    sink: &Script,
    on_bytes: Option<OnBytes<'_>>,
) -> Result<(u64, End, End), PipeError> {
    let script = Script::template(
        STREAM,
        &[
            ("jd", &ShellWord::new(jd)?),
            ("dump", &ShellWord::new(dump)?),
            ("sink", &sink.quoted()),
        ],
    );
    let what = "streaming from the source";
    let mut child = src.spawn(what, script.as_str(), true, true).await?;
    // Held open until the script ends: its end is the pipeline's stop signal.
    let stdin = child.stdin.take();
    // `progress N` lines come while the stream runs; the report at its end.
    let stdout = child.stdout.take();
    let read = async {
        use tokio::io::AsyncBufReadExt;
        let mut text = String::new();
        if let Some(o) = stdout {
            let mut lines = tokio::io::BufReader::new(o).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if text.is_empty()
                    && let Some(n) = l.strip_prefix("progress")
                {
                    if let (Some(f), Ok(n)) = (on_bytes, n.trim().parse::<u64>()) {
                        (f.0)(n);
                    }
                    continue;
                }
                text.push_str(&l);
                text.push('\n');
            }
        }
        text
    };
    let (text, out) = tokio::join!(read, child.wait_with_output(what));
    drop(stdin);
    let out = out?;
    let report = parse_report(&text);
    match report {
        Some(r) => Ok(r),
        None => Err(RemoteError::Command {
            host: src.name(),
            what: what.into(),
            status: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
        .into()),
    }
}

/// Read the report `STREAM` prints. The statuses are dump, dd, load; dd's
/// failure counts as the load's (it only fails when its output breaks).
fn parse_report(text: &str) -> Option<(u64, End, End)> {
    let mut rc: Option<Vec<Option<i32>>> = None;
    let mut bytes = 0;
    let (mut dump_err, mut load_err) = (String::new(), String::new());
    let mut cur = 0;
    for l in text.lines() {
        if cur == 0
            && let Some(r) = l.strip_prefix("rc")
        {
            rc = Some(r.split_whitespace().map(|x| x.parse().ok()).collect());
        } else if cur == 0
            && let Some(b) = l.strip_prefix("bytes")
        {
            bytes = b.trim().parse().unwrap_or(0);
        } else if l == "@@dumperr" {
            cur = 1;
        } else if l == "@@loaderr" {
            cur = 2;
        } else if cur == 1 {
            dump_err.push_str(l);
            dump_err.push('\n');
        } else if cur == 2 {
            load_err.push_str(l);
            load_err.push('\n');
        }
    }
    let rc = rc?;
    let get = |i: usize| rc.get(i).copied().flatten();
    let load_status = match (get(1), get(2)) {
        (Some(0), l) => l,
        (Some(d), Some(0)) => Some(d),
        (_, l) => l,
    };
    Some((
        bytes,
        End {
            status: get(0),
            stderr: dump_err.trim().to_string(),
        },
        End {
            status: load_status,
            stderr: load_err.trim().to_string(),
        },
    ))
}

/// Through this machine: the dump's stdout copied into the load's stdin.
async fn relayed(pipe: &Pipe<'_>, why: RelayReason) -> Result<Transfer, PipeError> {
    let route = Route::Relayed(why);
    warn!(route = %route.describe(), "relaying through this machine: the bytes cross its link twice");
    let dump_cmd = Script::new().raw("sh -c").word(&ShellWord::new(pipe.dump)?);
    let load_cmd = Script::new().raw("sh -c").word(&ShellWord::new(pipe.load)?);
    let mut a = pipe
        .src
        .spawn("dumping", dump_cmd.as_str(), false, true)
        .await?;
    let mut b = pipe
        .dst
        .spawn("loading", load_cmd.as_str(), true, true)
        .await?;
    let (Some(mut out), Some(mut inp)) = (a.stdout.take(), b.stdin.take()) else {
        return Err(RemoteError::Io {
            host: pipe.src.name(),
            what: "relaying".into(),
            source: std::io::Error::other("the pipes did not open"),
        }
        .into());
    };
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut broken = None;
    loop {
        let n = match out.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                broken = Some(format!("reading from the source: {e}"));
                break;
            }
        };
        if let Err(e) = inp.write_all(&buf[..n]).await {
            broken = Some(format!("writing to the destination: {e}"));
            break;
        }
        bytes += n as u64;
        if let Some(f) = pipe.on_bytes {
            (f.0)(bytes);
        }
    }
    let _ = inp.shutdown().await;
    drop(inp);
    drop(out);
    let (ao, bo) = tokio::join!(a.wait_with_output("dumping"), b.wait_with_output("loading"));
    let (ao, bo) = (ao?, bo?);
    let dump = End {
        status: ao.status.code(),
        stderr: String::from_utf8_lossy(&ao.stderr).trim().to_string(),
    };
    let mut load = End {
        status: bo.status.code(),
        stderr: String::from_utf8_lossy(&bo.stderr).trim().to_string(),
    };
    if let Some(b) = broken {
        load.stderr = format!("{} (relay: {b})", load.stderr).trim().to_string();
        if load.ok() {
            load.status = None;
        }
    }
    if !dump.ok() || !load.ok() {
        return Err(PipeError::Failed {
            route,
            dump,
            load,
            key_left: false,
        });
    }
    info!(route = route.name(), bytes, "stream finished");
    Ok(Transfer { route, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_report() {
        let (b, d, l) =
            parse_report("rc 0 0 0\nbytes 1048576\n@@dumperr\n\n@@loaderr\n\n").unwrap();
        assert_eq!(b, 1048576);
        assert!(d.ok() && l.ok());
        let (_, d, l) = parse_report(
            "rc 1 0 3\nbytes 12\n@@dumperr\ngzip: unexpected end of file\n\n@@loaderr\nERROR: syntax\n",
        )
        .unwrap();
        assert_eq!(d.status, Some(1));
        assert_eq!(l.status, Some(3));
        assert!(d.describe("dump").contains("unexpected end of file"));
        // Killed: no statuses.
        let (_, d, _) = parse_report("rc \nbytes \n@@dumperr\n@@loaderr\n").unwrap();
        assert_eq!(d.status, None);
        assert!(parse_report("garbage").is_none());
    }

    /// The stream script itself, run by a local shell as the source would
    /// (same-host shape: the sink is a local `sh -c`), with hostile text in
    /// both commands and in the directory name.
    #[tokio::test]
    async fn the_stream_script_moves_bytes_and_reports_both_ends() {
        let dir = tempfile_dir("migrate pipe 'test' $(x)");
        let out_file = format!("{dir}/out'put");
        let local = Host::connect(&HostSpec::Local).await.unwrap();
        // A slow dump: dd reports its progress while data flows, once a
        // second at most, and the script passes it on every second.
        let dump =
            "for i in 1 2 3; do head -c 1000000 /dev/zero; sleep 1.5; done; printf '%s' \"it's\"";
        let load = format!("cat > {}", crate::sh_quote(&out_file));
        let sink = Script::new()
            .raw("sh -c")
            .word(&ShellWord::new(&load).unwrap());
        let seen = std::sync::Mutex::new(Vec::new());
        let note = |n: u64| seen.lock().unwrap().push(n);
        let (bytes, d, l) = stream_on_src(&local, &dir, dump, &sink, Some(OnBytes(&note)))
            .await
            .unwrap();
        assert_eq!(bytes, 3_000_004);
        let seen = seen.into_inner().unwrap();
        assert!(
            seen.iter().any(|&n| n >= 1_000_000),
            "progress seen: {seen:?}"
        );
        assert!(seen.iter().all(|&n| n <= bytes), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert!(d.ok() && l.ok(), "{d:?} {l:?}");
        assert_eq!(std::fs::metadata(&out_file).unwrap().len(), 3_000_004);
        assert_eq!(
            std::fs::read_to_string(format!("{dir}/state")).unwrap(),
            "done\n"
        );

        // A failing dump and a failing load are both reported.
        let sink = Script::new().raw("sh -c").word(&ShellWord::fixed(
            "cat >/dev/null; echo no room >&2; exit 4",
        ));
        let (_, d, l) = stream_on_src(&local, &dir, "echo broken >&2; exit 2", &sink, None)
            .await
            .unwrap();
        assert_eq!(d.status, Some(2));
        assert_eq!(d.stderr, "broken");
        assert_eq!(l.status, Some(4));
        assert_eq!(l.stderr, "no room");
        assert_eq!(
            std::fs::read_to_string(format!("{dir}/state")).unwrap(),
            "failed\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> String {
        let d = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.to_string_lossy().into_owned()
    }
}
