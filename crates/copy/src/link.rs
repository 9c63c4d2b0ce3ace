//! How many tar streams a pass runs, chosen from the link between the two
//! servers and their cores, unless the operator fixed the number.
//!
//! One stream over ssh carries at most one channel window per round trip:
//! OpenSSH opens session channels with a 2 MiB window
//! (`CHAN_SES_WINDOW_DEFAULT` = 64 × 32 KiB in OpenSSH's `channels.h`), so
//! at 50 ms one stream tops out near 42 MB/s whatever the link. Streams are
//! added until the streams' windows together can carry what the servers'
//! cores can feed them. Where one stream is measured well below its window
//! ceiling, the link (or the cipher) is the limit and more streams than
//! cores would only add processes.

use std::fmt;
use std::time::Duration;

use migrate_remote::{Script, ShellWord, SshCommand, SshOpt};

/// OpenSSH's session channel window, in bytes (see the module comment).
pub const SSH_WINDOW: f64 = 2.0 * 1024.0 * 1024.0;
/// What one core moves through tar, ssh and tar again, in bytes/s, measured
/// in the lab (`bench/copy.sh`, DISK=ram: 2.2 GB of Mastodon-like media in
/// 20 s on 2 cores).
pub const PER_CORE_RATE: f64 = 55e6;
/// Below this round trip no window binds (2 MiB / 5 ms = 420 MB/s per
/// stream): the rate probe is skipped.
pub const RATE_PROBE_MIN_RTT: Duration = Duration::from_millis(5);
/// Bytes of zeros the rate probe sends through one stream; the second half
/// is timed.
pub const RATE_PROBE_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_AUTO_STREAMS: usize = 16;

/// The operator's `--streams`, or the tool's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    Auto,
    Fixed(usize),
}

impl Streams {
    /// The count a pass uses before (or without) a probe: the fixed count,
    /// or what the cores alone give.
    pub fn or_cores(self, cores: Option<u32>) -> usize {
        match self {
            Streams::Fixed(n) => n,
            Streams::Auto => cpu_streams(cores),
        }
    }
}

/// What was measured between the servers (from the source).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkProbe {
    /// The smallest of five round trips through one ssh session.
    pub rtt: Option<Duration>,
    /// One ssh stream's rate in bytes/s over the second half of
    /// [`RATE_PROBE_BYTES`]; measured only from [`RATE_PROBE_MIN_RTT`] up.
    pub one_stream: Option<f64>,
    /// Cores of the source and the destination (`nproc`).
    pub src_cores: Option<u32>,
    pub dst_cores: Option<u32>,
}

/// The number of streams and the reason, for the log and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub streams: usize,
    pub why: String,
    /// One stream's measured rate (bytes/s), where it was measured: the
    /// job then decides on compression from it instead of probing again.
    pub one_stream: Option<f64>,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} stream(s): {}", self.streams, self.why)
    }
}

fn min_cores(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// At least two streams, so one stream's per-file waits (opening,
/// creating, fsync of metadata) overlap with another's transfer; at most
/// eight from cores alone.
fn cpu_streams(cores: Option<u32>) -> usize {
    (cores.unwrap_or(2) as usize).clamp(2, 8)
}

fn mb(bytes_per_s: f64) -> String {
    format!("{:.0} MB/s", bytes_per_s / 1e6)
}

/// Choose the stream count for `fixed` (the operator's choice wins) from `p`.
pub fn choose(fixed: Streams, p: &LinkProbe) -> Choice {
    if let Streams::Fixed(n) = fixed {
        return Choice {
            streams: n,
            why: "fixed by --streams".into(),
            one_stream: None,
        };
    }
    let cores = min_cores(p.src_cores, p.dst_cores);
    let by_cores = cpu_streams(cores);
    let cores_text = match cores {
        Some(c) => format!("{c} core(s) on the smaller server"),
        None => "core count unknown, 2 assumed".into(),
    };
    let Some(rtt) = p.rtt.filter(|r| !r.is_zero()) else {
        return Choice {
            streams: by_cores,
            why: format!("{cores_text}; round trip not measured"),
            one_stream: p.one_stream,
        };
    };
    let rtt_ms = rtt.as_secs_f64() * 1e3;
    let window_cap = SSH_WINDOW / rtt.as_secs_f64();
    if let Some(one) = p.one_stream
        && one < 0.5 * window_cap
    {
        return Choice {
            streams: by_cores,
            why: format!(
                "{cores_text}; one stream already moves {} at {rtt_ms:.1} ms round trip (its window allows {}): the link, not the window, is the limit",
                mb(one),
                mb(window_cap)
            ),
            one_stream: Some(one),
        };
    }
    let feed = f64::from(cores.unwrap_or(2)) * PER_CORE_RATE;
    // A quarter more than the bare quotient: streams start slowly (TCP slow
    // start after each connect) and finish unevenly.
    let by_window = (1.25 * feed / window_cap).ceil() as usize;
    let n = by_cores.max(by_window).clamp(1, MAX_AUTO_STREAMS);
    let why = if by_window > by_cores {
        format!(
            "{cores_text} feed about {}; at {rtt_ms:.1} ms round trip one stream's 2 MiB ssh window carries at most {}",
            mb(feed),
            mb(window_cap)
        )
    } else {
        format!("{cores_text}; at {rtt_ms:.1} ms round trip one stream's window is no limit")
    };
    Choice {
        streams: n,
        why,
        one_stream: p.one_stream,
    }
}

/// The probe the source runs (bash), over the same ssh the streams use (so
/// the same route and source address): one session that echoes lines back
/// is opened (`hs_us`: connect until the first echo) and timed over five
/// round trips (`rtt_us`, the smallest); then, when that took
/// [`RATE_PROBE_MIN_RTT`] or more and `with_rate`, 16 MiB of zeros go
/// through a second session and the destination times the second half
/// (`half_ns`). Without `with_rate` (the probe then runs beside the copy's
/// own streams, whose traffic it would measure) the round trip alone
/// chooses.
pub fn probe_script(ssh: &SshCommand, with_rate: bool) -> Script {
    let ssh = match SshOpt::option("Compression", "no") {
        Ok(o) => ssh.with_first(vec![o]),
        Err(_) => ssh.clone(),
    };
    let echo = ssh.render().word(&ShellWord::fixed(
        r#"while IFS= read -r l; do echo "$l"; done"#,
    ));
    // The destination times the second half: by then TCP's slow start is
    // over, which on a long link takes most of the first 8 MiB.
    let sink = ssh.render().word(&ShellWord::fixed(
        "head -c 8388608 >/dev/null; date +%s%N; cat >/dev/null; date +%s%N",
    ));
    // $EPOCHREALTIME (bash 5) costs no fork; `date` stands in on bash 4.
    Script::new()
        .raw(
            r#"now() { if [ -n "${EPOCHREALTIME:-}" ]; then t=${EPOCHREALTIME/[.,]/}; else t=$(( $(date +%s%N) / 1000 )); fi; }
now; a=$t
coproc P { "#,
        )
        .then(&echo)
        .raw(
            r#" 2>/dev/null; }
exec 2>/dev/null
echo w >&"${P[1]}" && read -r -t 20 l <&"${P[0]}" || exit 0
now; echo "hs_us $(( t - a ))"
best=
for i in 1 2 3 4 5; do
  now; a=$t
  echo p >&"${P[1]}" && read -r -t 10 l <&"${P[0]}" || break
  now; d=$(( t - a ))
  if [ -z "$best" ] || [ "$d" -lt "$best" ]; then best=$d; fi
done
exec {P[1]}>&-
wait
[ -n "$best" ] || exit 0
echo "rtt_us $best"
[ "$best" -ge "#,
        )
        .raw(if with_rate {
            RATE_PROBE_MIN_RTT_US
        } else {
            "999999999999"
        })
        .raw(" ] || exit 0\nset -- $(head -c ")
        .raw(RATE_PROBE_BYTES_TEXT)
        .raw(" /dev/zero | ")
        .then(&sink)
        .raw(")\n[ $# -eq 2 ] && echo \"half_ns $(( $2 - $1 ))\"\ntrue\n")
}

const RATE_PROBE_MIN_RTT_US: &str = "5000";
const RATE_PROBE_BYTES_TEXT: &str = "16777216";

/// Read the probe's output (see [`probe_script`]) into rtt and rate.
pub fn parse_probe(out: &[u8]) -> (Option<Duration>, Option<f64>) {
    let kv = crate::remote_cmds::parse_kv(out);
    let rtt = kv
        .get("rtt_us")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_micros);
    // The handshake is the cost of one ssh connect; the rest of the second
    // command is the same connect plus the data.
    let rate = kv
        .get("half_ns")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ns| *ns > 0)
        .map(|ns| (RATE_PROBE_BYTES / 2) as f64 / (ns as f64 / 1e9));
    (rtt, rate)
}

/// `cores N` from a probe's `key value` output.
pub fn cores_of(kv: &std::collections::HashMap<String, String>) -> Option<u32> {
    kv.get("cores")
        .and_then(|c| c.trim().parse::<u32>().ok())
        .filter(|c| *c > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(rtt_ms: f64, one: Option<f64>, cores: u32) -> LinkProbe {
        LinkProbe {
            rtt: Some(Duration::from_secs_f64(rtt_ms / 1e3)),
            one_stream: one,
            src_cores: Some(cores),
            dst_cores: Some(cores + 2),
        }
    }

    #[test]
    fn fixed_wins() {
        let c = choose(Streams::Fixed(3), &probe(50.0, None, 2));
        assert_eq!(c.streams, 3);
    }

    #[test]
    fn a_local_link_takes_the_cores() {
        assert_eq!(choose(Streams::Auto, &probe(0.1, None, 2)).streams, 2);
        assert_eq!(choose(Streams::Auto, &probe(0.1, None, 6)).streams, 6);
        assert_eq!(choose(Streams::Auto, &probe(0.1, None, 64)).streams, 8);
        let unknown = LinkProbe::default();
        assert_eq!(choose(Streams::Auto, &unknown).streams, 2);
    }

    #[test]
    fn a_long_fat_link_adds_streams_for_the_window() {
        // 2 cores feed 110 MB/s; one window carries 42 MB/s at 50 ms.
        let c = choose(Streams::Auto, &probe(50.0, Some(40e6), 2));
        assert_eq!(c.streams, 4, "{c}");
        assert!(c.why.contains("window"), "{c}");
        // 8 cores at 100 ms: many streams, but never more than the cap.
        let c = choose(Streams::Auto, &probe(100.0, Some(20e6), 8));
        assert_eq!(c.streams, MAX_AUTO_STREAMS);
    }

    #[test]
    fn a_slow_link_is_not_split_further() {
        // 100 Mbit/s at 20 ms: one stream fills it (12 MB/s of 105 possible).
        let c = choose(Streams::Auto, &probe(20.0, Some(12e6), 4));
        assert_eq!(c.streams, 4);
        assert!(c.why.contains("the link, not the window"), "{c}");
    }

    #[test]
    fn the_constants_agree_with_their_text() {
        assert_eq!(RATE_PROBE_BYTES_TEXT, RATE_PROBE_BYTES.to_string());
        assert_eq!(
            RATE_PROBE_MIN_RTT_US,
            RATE_PROBE_MIN_RTT.as_micros().to_string()
        );
    }

    #[test]
    fn probe_output_parses() {
        let (rtt, rate) = parse_probe(b"hs_us 300000\nrtt_us 50123\nhalf_ns 200000000\n");
        assert_eq!(rtt, Some(Duration::from_micros(50123)));
        let r = rate.unwrap_or(0.0);
        assert!((r - 8.0 * 1024.0 * 1024.0 / 0.2).abs() < 1.0, "{r}");
        assert_eq!(parse_probe(b"garbage\n"), (None, None));
    }

    #[test]
    fn the_probe_runs_in_bash() {
        // `ssh` here is a stand-in that runs its last word with sh, so the
        // script's own timing and parsing are exercised without a server.
        let dir = tempfile::tempdir().expect("tmp");
        let fake = dir.path().join("ssh");
        std::fs::write(
            &fake,
            "#!/bin/sh\nfor a; do last=$a; done\nexec sh -c \"$last\"\n",
        )
        .expect("write");
        let _ = std::process::Command::new("chmod")
            .arg("+x")
            .arg(&fake)
            .status();
        let ssh = SshCommand::new("127.0.0.1", vec![]).expect("ssh");
        let s = probe_script(&ssh, true);
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(s.as_str())
            .env("PATH", path)
            .output()
            .expect("bash");
        let text = String::from_utf8_lossy(&out.stdout);
        let (rtt, rate) = parse_probe(&out.stdout);
        assert!(text.contains("hs_us "), "{text}");
        assert!(rtt.is_some_and(|r| r < Duration::from_millis(5)), "{text}");
        assert_eq!(rate, None, "no rate probe below 5 ms: {text}");
    }
}
