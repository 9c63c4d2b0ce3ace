//! Temporary server-to-server trust, so data streams src→dst without passing
//! through the operator: a fresh key made on src, authorized on dst with
//! `restrict`, `from=` and `expiry-time=`, and dst's host key pinned on src
//! from the operator's own known_hosts (never trust on first use).
//! Everything carries a marker so teardown (and `migrate cleanup` after a
//! crash) finds it; the expiry ends the trust even when nobody does.
//!
//! Where the receiving command is known when the key is made (a pipe's
//! load), the key also gets `command=`: whatever a client asks, the key
//! runs that one command (or `true`, the link check) and nothing else.
//! A copy job runs many different commands on dst over its key (one
//! extract per stream, directory creation, directory metadata, the key's
//! own removal, and a shared control master for them), so no single forced
//! command serves it: `restrict` (no forwarding, no pty, no agent), `from=`
//! and the expiry bound it instead.
//!
//! `expiry-time=` needs OpenSSH 8.2 on dst (an older sshd refuses the
//! whole line): dst's sshd version is read first, and on an older one the
//! key goes without an expiry and the operator is told so.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use tracing::{info, instrument, warn};

use crate::error::RemoteError;
use crate::host::Host;
use crate::script::{Script, ShellWord};
use crate::ssh::{SshCommand, SshOpt};

/// Every temporary key's comment starts with this, followed by the job id.
pub const MARKER_PREFIX: &str = "migrate-copy-tmp-";

/// How long a temporary key is accepted when nothing removes it: a few
/// hours past the start. sshd checks the expiry when a connection logs in,
/// so a stream that started in time runs to its end.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// Set to a duration (`90`, `20s`, `30m`, `6h`, `2d`), it replaces every
/// temporary key's lifetime, whichever command makes the key: for an
/// operator who wants trust to end sooner, and for tests that watch a key
/// expire. A copy that runs longer than this cannot open new connections.
pub const LIFETIME_VAR: &str = "MIGRATE_KEY_LIFETIME";

/// The shortest lifetime accepted: sshd compares the expiry with its
/// clock when a connection logs in, and the link check must get in.
const MIN_LIFETIME: Duration = Duration::from_secs(10);

/// Parse a lifetime as `LIFETIME_VAR` takes it.
pub fn parse_lifetime(text: &str) -> Result<Duration, RemoteError> {
    let bad = |why: &str| RemoteError::BadSetting {
        name: LIFETIME_VAR.into(),
        value: text.into(),
        why: why.into(),
    };
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| bad("write a number of seconds, or one with s, m, h or d (e.g. 20s, 6h)"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86400),
        _ => return Err(bad("the unit must be s, m, h or d (e.g. 20s, 6h)")),
    }
    .filter(|s| *s <= 365 * 86400)
    .ok_or_else(|| bad("at most a year"))?;
    let d = Duration::from_secs(secs);
    if d < MIN_LIFETIME {
        return Err(bad(
            "at least 10 seconds: the link check must log in before it ends",
        ));
    }
    Ok(d)
}

/// The lifetime `LIFETIME_VAR` sets, if it is set.
pub fn lifetime_from_env() -> Result<Option<Duration>, RemoteError> {
    match std::env::var(LIFETIME_VAR) {
        Ok(v) if !v.trim().is_empty() => parse_lifetime(&v).map(Some),
        _ => Ok(None),
    }
}

/// How to reach dst, as the operator's ssh resolves it (`ssh -G`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub hostname: String,
    pub port: u16,
    pub user: String,
    pub host_key_alias: Option<String>,
    pub known_hosts_files: Vec<String>,
}

/// Parse `ssh -G` output.
pub fn parse_ssh_g(out: &str) -> Resolved {
    let mut r = Resolved {
        hostname: String::new(),
        port: 22,
        user: String::new(),
        host_key_alias: None,
        known_hosts_files: Vec::new(),
    };
    let home = std::env::var("HOME").unwrap_or_default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once(' ') else {
            continue;
        };
        match k {
            "hostname" => r.hostname = v.to_string(),
            "port" => r.port = v.parse().unwrap_or(22),
            "user" => r.user = v.to_string(),
            "hostkeyalias" if v != "none" => r.host_key_alias = Some(v.to_string()),
            "userknownhostsfile" | "globalknownhostsfile" => {
                for f in v.split_whitespace() {
                    let f = match f.strip_prefix("~/") {
                        Some(rest) => format!("{home}/{rest}"),
                        None => f.to_string(),
                    };
                    r.known_hosts_files.push(f);
                }
            }
            _ => {}
        }
    }
    r
}

/// Resolve an ssh destination with the operator's own ssh configuration.
pub fn resolve(dest: &str) -> Result<Resolved, RemoteError> {
    let out = Command::new("ssh")
        .arg("-G")
        .arg("--")
        .arg(dest)
        .output()
        .map_err(|e| RemoteError::Io {
            host: dest.to_string(),
            what: "running `ssh -G`".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(RemoteError::BadAddress {
            input: dest.to_string(),
            why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(parse_ssh_g(&String::from_utf8_lossy(&out.stdout)))
}

/// The name a host has in known_hosts for this host/port.
fn known_hosts_name(r: &Resolved) -> String {
    if let Some(a) = &r.host_key_alias {
        return a.clone();
    }
    if r.port == 22 {
        r.hostname.clone()
    } else {
        format!("[{}]:{}", r.hostname, r.port)
    }
}

/// Extract `keytype key` pairs from `ssh-keygen -F` output; revoked keys and
/// CA lines are left out (a pinned file holds plain host keys only).
pub fn host_keys_from_lookup(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.starts_with('@'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let _pattern = f.next()?;
            let kt = f.next()?;
            let key = f.next()?;
            Some(format!("{kt} {key}"))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// dst's host keys as the operator knows them.
pub fn operator_host_keys(r: &Resolved, dest: &str) -> Result<Vec<String>, RemoteError> {
    let name = known_hosts_name(r);
    let mut keys = BTreeSet::new();
    for f in &r.known_hosts_files {
        if !std::path::Path::new(f).exists() {
            continue;
        }
        let out = Command::new("ssh-keygen")
            .arg("-F")
            .arg(&name)
            .arg("-f")
            .arg(f)
            .output()
            .map_err(|e| RemoteError::Io {
                host: dest.to_string(),
                what: "running `ssh-keygen -F`".into(),
                source: e,
            })?;
        keys.extend(host_keys_from_lookup(&String::from_utf8_lossy(&out.stdout)));
    }
    if keys.is_empty() {
        return Err(RemoteError::UnknownHostKey {
            host: dest.to_string(),
            detail: format!(
                "no key for '{name}' in {}",
                if r.known_hosts_files.is_empty() {
                    "any known_hosts file".to_string()
                } else {
                    r.known_hosts_files.join(", ")
                }
            ),
        });
    }
    Ok(keys.into_iter().collect())
}

/// Serializes every edit of authorized_keys by migrate on one host: without
/// it, one job's removal (read, filter, write back) can drop the key another
/// job appended meanwhile (seen in the lab with copies running side by side).
const LOCK: &str = r#"mkdir -p "$HOME/.ssh"; exec 9>>"$HOME/.ssh/.migrate-keys.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9"#;

/// Which temporary keys a removal takes.
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    /// The key of this job id, and no other (ids can be prefixes of each
    /// other, so the whole comment must match).
    Job(&'a str),
    /// Every temporary key migrate made, whatever job made it.
    All,
}

/// A shell snippet removing the authorized_keys lines of `keys`, keeping
/// the file's owner and mode. The marker is the line's last field.
pub fn removal_script(keys: Keys) -> Script {
    let pattern = match keys {
        Keys::Job(id) => {
            // Job ids are plain (jobdir::JobId); anything else matches nothing.
            let plain = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if plain {
                format!(" {MARKER_PREFIX}{id}$")
            } else {
                "^$^".to_string()
            }
        }
        Keys::All => format!(" {MARKER_PREFIX}[A-Za-z0-9_-]+$"),
    };
    let p = ShellWord::new(&pattern).unwrap_or_else(|_| ShellWord::fixed("^$^"));
    Script::new()
        .raw("f=\"$HOME/.ssh/authorized_keys\"; t=\"$f.migrate-tmp.$$\"\n")
        .raw(LOCK)
        .then(&Script::template(
            r#"
if [ -f "$f" ] && grep -qE -- {{p}} "$f"; then
  grep -vE -- {{p}} "$f" > "$t"; rc=$?
  # sshd reads the file for every login: written over in place, it is
  # empty for a moment and a login then is refused (seen in the lab, the
  # operator's own ssh refused while a job's key was removed). The copy
  # takes the file's owner and mode and replaces it in one rename; a
  # symlinked file, or no --reference, is still written over in place.
  if [ $rc -le 1 ]; then
    if [ ! -L "$f" ] && chmod --reference="$f" "$t" 2>/dev/null && chown --reference="$f" "$t" 2>/dev/null && mv -f "$t" "$f"; then :; else cat "$t" > "$f"; fi
  fi
  rm -f "$t"; [ $rc -le 1 ]
fi"#,
            &[("p", &p)],
        ))
}

/// The addresses to put in `from=`: src's ssh BindAddress when it has one
/// (then nothing else can be the source), else the route's source address
/// and the address the operator reached src on.
pub fn from_addresses(probe: &str) -> BTreeSet<String> {
    let valid = |a: &&str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':')
    };
    let pick = |kinds: &[&str]| -> BTreeSet<String> {
        probe
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(k, _)| kinds.contains(k))
            .map(|(_, a)| a.trim())
            .filter(valid)
            .map(str::to_string)
            .collect()
    };
    let bind = pick(&["bind"]);
    if bind.is_empty() {
        pick(&["route", "conn"])
    } else {
        bind
    }
}

/// The installed trust: how src runs things on dst.
#[derive(Debug, Clone)]
pub struct Trust {
    pub marker: String,
    /// `ssh … -- host`, to be followed by one remote command word.
    pub dst_ssh: SshCommand,
    /// When dst stops accepting the key (dst's local time, as sshd reads
    /// it), or None when dst's sshd is older than 8.2 and has no expiry.
    pub expires: Option<String>,
    /// dst's sshd version when it is older than 8.2 (the reason for no
    /// expiry), for reports.
    pub old_sshd: Option<String>,
}

/// Marker for a job id.
pub fn marker_for(job_id: &str) -> String {
    format!("{MARKER_PREFIX}{job_id}")
}

/// A public key line as ssh-keygen prints it: `TYPE BASE64 [comment]`.
fn parse_pubkey(line: &str) -> Option<(String, String)> {
    let mut parts = line.split_whitespace();
    let kt = parts.next()?;
    let k = parts.next()?;
    let kt_ok = kt
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.@".contains(&b));
    let k_ok = k
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
    (kt_ok && k_ok).then(|| (kt.to_string(), k.to_string()))
}

/// Create the key on src (in `job_dir`), authorize it on dst until
/// `lifetime` has passed (or `MIGRATE_KEY_LIFETIME`), pin dst's host key on
/// src, and prove the link works. The key may run any command on dst.
pub async fn setup(
    src: &Host,
    dst: &Host,
    dst_dest: &str,
    job_dir: &str,
    job_id: &str,
    lifetime: Duration,
) -> Result<Trust, RemoteError> {
    setup_with(src, dst, dst_dest, job_dir, job_id, lifetime, None).await
}

/// [`setup`] for a key that runs one command on dst and nothing else
/// (`command=`): `load`, a POSIX sh command line, whatever a client asks;
/// only the link check's `true` is let through as itself.
pub async fn setup_for_command(
    src: &Host,
    dst: &Host,
    dst_dest: &str,
    job_dir: &str,
    job_id: &str,
    lifetime: Duration,
    load: &str,
) -> Result<Trust, RemoteError> {
    setup_with(src, dst, dst_dest, job_dir, job_id, lifetime, Some(load)).await
}

/// The `command="…"` option that runs `load` for any session except the
/// link check. The command travels base64-encoded, so no character of it
/// meets authorized_keys' quoting (which cannot hold a backslash before
/// the closing quote).
pub fn forced_command_option(load: &str) -> String {
    format!(
        r#"command="case \"$SSH_ORIGINAL_COMMAND\" in true) exit 0;; esac; exec sh -c \"$(printf %s {} | base64 -d)\"""#,
        base64(load.as_bytes())
    )
}

/// Standard base64 (RFC 4648), padded.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                out.push(char::from(A[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[instrument(skip_all, fields(src = %src.name(), dst = %dst.name(), job = job_id))]
async fn setup_with(
    src: &Host,
    dst: &Host,
    dst_dest: &str,
    job_dir: &str,
    job_id: &str,
    lifetime: Duration,
    load: Option<&str>,
) -> Result<Trust, RemoteError> {
    let lifetime = lifetime_from_env()?.unwrap_or(lifetime);
    let terr = |why: String| RemoteError::Trust {
        src: src.name(),
        dst: dst.name(),
        why,
    };
    let id = crate::jobdir::JobId::new(job_id)?;
    let r = resolve(dst_dest)?;
    let keys = operator_host_keys(&r, dst_dest)?;
    let marker = marker_for(id.as_str());
    let alias = job_alias(id.as_str());
    let jd = ShellWord::new(job_dir)?;

    // Addresses dst will see src connecting from: src's ssh BindAddress if
    // configured, else the route's source address, else the address the
    // operator reached src on.
    let probe = Script::template(
        r#"h={{h}}
ssh -G -p {{p}} -l {{u}} -- "$h" 2>/dev/null | awk '$1=="bindaddress" && $2!="none" {print "bind", $2}'
ip=$(getent ahosts "$h" 2>/dev/null | awk '{print $1; exit}')
[ -n "$ip" ] && ip route get "$ip" 2>/dev/null | awk '{for(i=1;i<NF;i++) if($i=="src") print "route", $(i+1)}'
[ -n "$SSH_CONNECTION" ] && echo "$SSH_CONNECTION" | awk '{print "conn", $3}'
true"#,
        &[
            ("h", &ShellWord::new(&r.hostname)?),
            ("p", &ShellWord::new(&r.port.to_string())?),
            ("u", &ShellWord::new(&r.user)?),
        ],
    );
    let out = src
        .sh("finding src's address", probe.as_str(), None)
        .await?;
    let froms = from_addresses(&String::from_utf8_lossy(&out));
    if froms.is_empty() {
        return Err(terr(
            "cannot tell which address src connects from; use --relay".into(),
        ));
    }
    let from = froms.into_iter().collect::<Vec<_>>().join(",");

    let pinned: String = keys.iter().map(|k| format!("{alias} {k}\n")).collect();
    let mkkey = Script::template(
        r#"set -e; umask 077; mkdir -p {{jd}}
command -v ssh-keygen >/dev/null || { echo "ssh-keygen is not installed on src (package openssh-client)" >&2; exit 3; }
rm -f {{jd}}/key {{jd}}/key.pub
ssh-keygen -q -t ed25519 -N '' -C {{m}} -f {{jd}}/key >/dev/null
cat > {{jd}}/known_hosts
cat {{jd}}/key.pub"#,
        &[("jd", &jd), ("m", &ShellWord::new(&marker)?)],
    );
    let pubkey = src
        .sh(
            "creating a temporary key",
            mkkey.as_str(),
            Some(pinned.as_bytes()),
        )
        .await?;
    let pubkey = String::from_utf8_lossy(&pubkey).trim().to_string();
    let Some((kt, k)) = parse_pubkey(&pubkey) else {
        return Err(terr(format!("unexpected public key '{pubkey}'")));
    };
    // The expiry is computed on dst, in dst's local time, which is how its
    // sshd reads `expiry-time` (OpenSSH 8.2 and later; an older sshd would
    // refuse the whole line, so there the key goes without and it is said).
    let install = Script::new().raw("set -e; umask 077; ").raw(LOCK).then(&Script::template(
        r#"; f="$HOME/.ssh/authorized_keys"
v=$( { PATH="$PATH:/usr/sbin:/usr/local/sbin" sshd -V; } 2>&1 | sed -n 's/.*OpenSSH_\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p' | head -n 1)
opts=restrict
if [ -n "$v" ] && [ "${v% *}" -lt 8 -o \( "${v% *}" -eq 8 -a "${v#* }" -lt 2 \) ]; then
  echo "noexpiry ${v% *}.${v#* }"
else
  e=$(( $(date +%s) + {{secs}} ))
  x=$(date -d "@$e" +%Y%m%d%H%M%S 2>/dev/null || date -r "$e" +%Y%m%d%H%M%S)
  opts="restrict,expiry-time=\"$x\""
  echo "expiry $x"
fi
if [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ]; then echo >> "$f"; fi
printf '%s%s,from="%s" %s %s %s\n' "$opts" {{forced}} {{from}} {{kt}} {{k}} {{m}} >> "$f""#,
        &[
            ("secs", &ShellWord::new(&lifetime.as_secs().to_string())?),
            (
                "forced",
                &ShellWord::new(&load.map_or(String::new(), |l| {
                    format!(",{}", forced_command_option(l))
                }))?,
            ),
            ("from", &ShellWord::new(&from)?),
            ("kt", &ShellWord::new(&kt)?),
            ("k", &ShellWord::new(&k)?),
            ("m", &ShellWord::new(&marker)?),
        ],
    ));
    let out = dst
        .sh("authorizing the temporary key", install.as_str(), None)
        .await?;
    let out = String::from_utf8_lossy(&out);
    let expires = out
        .lines()
        .find_map(|l| l.strip_prefix("expiry "))
        .map(str::to_string);
    let old_sshd = out
        .lines()
        .find_map(|l| l.strip_prefix("noexpiry "))
        .map(str::to_string);
    match (&expires, &old_sshd) {
        (Some(x), _) => info!(%from, expires = %x, "temporary key authorized on dst"),
        (None, Some(v)) => warn!(
            %from,
            "{}: dst's sshd is OpenSSH {v}, older than 8.2, which has no `expiry-time`: the temporary key cannot expire by itself; it is removed when the job ends, and `migrate cleanup` removes it after a crash",
            dst.name()
        ),
        (None, None) => info!(%from, "temporary key authorized on dst"),
    }

    let dst_ssh = job_ssh(job_dir, &alias, &r)?;
    // The check also opens a connection master on src (ControlPath
    // JOB_DIR/cm) that a copy job reuses for its short serial steps, so it
    // pays no handshake of its own for them. Its stdio goes to files: a
    // persisting master would otherwise hold this command's pipes open.
    let check = dst_ssh
        .with_first(vec![
            SshOpt::option("ControlMaster", "auto")?,
            SshOpt::option("ControlPath", &master_path(job_dir))?,
            SshOpt::option("ControlPersist", "60")?,
        ])
        .render()
        .then(&Script::template(
            " true < /dev/null > /dev/null 2> {{jd}}/cm.err || { cat {{jd}}/cm.err >&2; exit 1; }",
            &[("jd", &jd)],
        ));
    if let Err(e) = src
        .sh("testing the src→dst link", check.as_str(), None)
        .await
    {
        let _ = teardown(src, dst, job_dir, job_id).await;
        return Err(terr(format!(
            "src cannot log in to dst directly ({e}); if the servers cannot reach each other, use --relay"
        )));
    }
    Ok(Trust {
        marker,
        dst_ssh,
        expires,
        old_sshd,
    })
}

/// The connection master the key's test leaves open on src for the job's
/// short steps (and the link probe) to reuse.
pub fn master_path(job_dir: &str) -> String {
    format!("{job_dir}/cm")
}

/// The ssh command the job on src runs to reach dst: the job's own key,
/// known_hosts and host key alias, nothing from src's ssh config.
pub fn job_ssh(job_dir: &str, alias: &str, r: &Resolved) -> Result<SshCommand, RemoteError> {
    Ok(SshCommand::new(
        &r.hostname,
        vec![
            SshOpt::identity(&format!("{job_dir}/key"))?,
            SshOpt::option("IdentitiesOnly", "yes")?,
            SshOpt::option("BatchMode", "yes")?,
            SshOpt::option("StrictHostKeyChecking", "yes")?,
            SshOpt::option("UserKnownHostsFile", &format!("{job_dir}/known_hosts"))?,
            SshOpt::option("GlobalKnownHostsFile", "/dev/null")?,
            SshOpt::option("HostKeyAlias", alias)?,
            SshOpt::option("ControlMaster", "no")?,
            SshOpt::option("ControlPath", "none")?,
            SshOpt::option("ServerAliveInterval", "15")?,
            SshOpt::option("ServerAliveCountMax", "4")?,
            SshOpt::port(r.port),
            SshOpt::user(&r.user)?,
        ],
    )?)
}

/// The host key alias a job pins dst's keys under.
pub fn job_alias(job_id: &str) -> String {
    format!("migrate-dst-{job_id}")
}

/// What `teardown` runs on the source: close the job's ssh master and
/// remove the key pair and the job's known_hosts.
pub fn teardown_src_script(job_dir: &str) -> Result<Script, RemoteError> {
    let jd = ShellWord::new(job_dir)?;
    Ok(Script::template(
        "ssh -O exit -o ControlPath={{jd}}/cm migrate-dst > /dev/null 2>&1; rm -f {{jd}}/key {{jd}}/key.pub {{jd}}/known_hosts {{jd}}/cm.err",
        &[("jd", &jd)],
    ))
}

/// Remove the key from dst's authorized_keys and the key and pin from src.
/// Each side is attempted even if the other fails.
#[instrument(skip_all, fields(src = %src.name(), dst = %dst.name(), job = job_id))]
pub async fn teardown(
    src: &Host,
    dst: &Host,
    job_dir: &str,
    job_id: &str,
) -> Result<(), RemoteError> {
    let a = dst
        .sh(
            "removing the temporary key",
            removal_script(Keys::Job(job_id)).as_str(),
            None,
        )
        .await;
    let b = match teardown_src_script(job_dir) {
        Ok(script) => {
            src.sh("removing the temporary key", script.as_str(), None)
                .await
        }
        Err(e) => Err(e),
    };
    a.and(b).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ssh_g() {
        let r = parse_ssh_g(
            "user root\nhostname 127.0.0.3\nport 2222\nhostkeyalias none\nuserknownhostsfile /a/kh /b/kh2\nglobalknownhostsfile /etc/ssh/ssh_known_hosts\n",
        );
        assert_eq!(r.hostname, "127.0.0.3");
        assert_eq!(r.port, 2222);
        assert_eq!(r.user, "root");
        assert_eq!(r.host_key_alias, None);
        assert_eq!(
            r.known_hosts_files,
            ["/a/kh", "/b/kh2", "/etc/ssh/ssh_known_hosts"]
        );
        assert_eq!(known_hosts_name(&r), "[127.0.0.3]:2222");
    }

    #[test]
    fn from_prefers_the_bind_address() {
        let f = from_addresses("bind 127.0.0.2\nroute 127.0.0.1\nconn 127.0.0.2\n");
        assert_eq!(f.into_iter().collect::<Vec<_>>(), ["127.0.0.2"]);
        let f = from_addresses("route 10.0.0.5\nconn 192.0.2.7\nroute $(evil)\n");
        assert_eq!(f.into_iter().collect::<Vec<_>>(), ["10.0.0.5", "192.0.2.7"]);
    }

    #[test]
    fn keeps_only_plain_host_keys() {
        let keys = host_keys_from_lookup(
            "# Host dst found: line 3\ndst,127.0.0.3 ssh-ed25519 AAAAC3 comment\n@revoked dst ssh-rsa BBBB\n|1|hash= ecdsa-sha2-nistp256 CCCC\n",
        );
        assert_eq!(keys, ["ecdsa-sha2-nistp256 CCCC", "ssh-ed25519 AAAAC3"]);
    }

    #[test]
    fn lifetimes_parse_and_bad_ones_are_named() {
        assert_eq!(parse_lifetime("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_lifetime("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_lifetime("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_lifetime("6h").unwrap(), Duration::from_secs(21600));
        assert_eq!(parse_lifetime("2d").unwrap(), Duration::from_secs(172800));
        for bad in ["", "5s", "x", "10y", "-20", "1.5h", "99999999999999999999d"] {
            let e = parse_lifetime(bad).unwrap_err().to_string();
            assert!(e.contains(LIFETIME_VAR), "{bad:?}: {e}");
        }
    }

    #[test]
    fn base64_matches_coreutils() {
        for s in ["", "a", "ab", "abc", "abcd", "it's \"$(x)\" \\\n\u{e9}"] {
            let out = Command::new("base64")
                .arg("-w0")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(s.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            assert_eq!(base64(s.as_bytes()), String::from_utf8_lossy(&out.stdout));
        }
    }

    /// authorized_keys' own unquoting (OpenSSH auth-options.c,
    /// `opt_dequote`): only `\"` is an escape.
    fn dequote(opt: &str) -> String {
        let body = opt
            .strip_prefix("command=\"")
            .and_then(|b| b.strip_suffix('"'))
            .expect("command=\"…\"");
        let b = body.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            assert!(b[i] != b'"', "an unescaped quote ends the option early");
            if b[i] == b'\\' && b.get(i + 1) == Some(&b'"') {
                i += 1;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }

    /// What sshd does with the forced command: run it with the user's
    /// shell, the client's request in SSH_ORIGINAL_COMMAND.
    #[test]
    fn the_forced_command_runs_the_load_whatever_is_asked() {
        let load =
            r#"read x; printf '%s|%s' "$x" "it's \"ok\" \\"; echo; printf '%s\n' trailing\\"#;
        let forced = dequote(&forced_command_option(load));
        let run = |asked: &str| {
            let mut c = Command::new("sh")
                .arg("-c")
                .arg(&forced)
                .env("SSH_ORIGINAL_COMMAND", asked)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b"in\n").unwrap();
            }
            String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
        };
        let want = "in|it's \"ok\" \\\ntrailing\\\n";
        assert_eq!(run("sh -c 'whatever'"), want);
        // Anything else a holder of the key asks runs the load too.
        assert_eq!(run("touch /tmp/pwned; id"), want);
        // The link check runs nothing.
        assert_eq!(run("true"), "");
    }

    #[test]
    fn removal_script_drops_only_marked_lines() {
        let dir = std::env::temp_dir().join(format!("migrate-trust-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".ssh")).unwrap();
        let f = dir.join(".ssh/authorized_keys");
        std::fs::write(
            &f,
            "ssh-ed25519 KEEP me\nrestrict ssh-ed25519 X migrate-copy-tmp-abc\nrestrict ssh-ed25519 Y migrate-copy-tmp-abcd\nssh-rsa KEEP2 migrate-copy-tmp-abc-not-ours-either x\n",
        )
        .unwrap();
        let run = |keys: Keys| {
            let st = Command::new("sh")
                .arg("-c")
                .arg(removal_script(keys).as_str())
                .env("HOME", &dir)
                .status()
                .unwrap();
            assert!(st.success());
            std::fs::read_to_string(&f).unwrap()
        };
        // One job's key only: not another whose id it begins.
        assert_eq!(
            run(Keys::Job("abc")),
            "ssh-ed25519 KEEP me\nrestrict ssh-ed25519 Y migrate-copy-tmp-abcd\nssh-rsa KEEP2 migrate-copy-tmp-abc-not-ours-either x\n"
        );
        // A hostile id matches nothing.
        assert_eq!(run(Keys::Job(".*")).lines().count(), 3);
        // Every temporary key; a line merely mentioning the prefix stays.
        assert_eq!(
            run(Keys::All),
            "ssh-ed25519 KEEP me\nssh-rsa KEEP2 migrate-copy-tmp-abc-not-ours-either x\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
