//! Temporary server-to-server trust, so data streams src→dst without passing
//! through the operator: a fresh key made on src, authorized on dst with
//! `restrict` and `from=`, and dst's host key pinned on src from the
//! operator's own known_hosts (never trust on first use). Everything carries
//! a marker so teardown (and `migrate cleanup` after a crash) finds it.

use std::collections::BTreeSet;
use std::process::Command;

use tracing::{info, instrument};

use crate::error::RemoteError;
use crate::host::Host;
use crate::quote::sh_quote;

/// Every temporary key's comment starts with this, followed by the job id.
pub const MARKER_PREFIX: &str = "migrate-copy-tmp-";

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

/// A shell snippet removing every authorized_keys line that contains
/// `marker`, keeping the file's inode and mode.
pub fn removal_script(marker: &str) -> String {
    format!(
        r#"f="$HOME/.ssh/authorized_keys"; t="$f.migrate-tmp.$$"
{LOCK}
if [ -f "$f" ] && grep -qF -- {m} "$f"; then
  grep -vF -- {m} "$f" > "$t"; rc=$?
  if [ $rc -le 1 ]; then cat "$t" > "$f"; fi
  rm -f "$t"; [ $rc -le 1 ]
fi"#,
        m = sh_quote(marker)
    )
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

/// The installed trust: the command src uses to run things on dst.
#[derive(Debug, Clone)]
pub struct Trust {
    pub marker: String,
    /// `ssh ... user@host` prefix, to be followed by one quoted command.
    pub dst_ssh: String,
}

/// Marker for a job id.
pub fn marker_for(job_id: &str) -> String {
    format!("{MARKER_PREFIX}{job_id}")
}

/// Create the key on src (in `job_dir`), authorize it on dst, pin dst's host
/// key on src, and prove the link works.
#[instrument(skip_all, fields(src = %src.name(), dst = %dst.name()))]
pub async fn setup(
    src: &Host,
    dst: &Host,
    dst_dest: &str,
    job_dir: &str,
    job_id: &str,
) -> Result<Trust, RemoteError> {
    let terr = |why: String| RemoteError::Trust {
        src: src.name(),
        dst: dst.name(),
        why,
    };
    let r = resolve(dst_dest)?;
    let keys = operator_host_keys(&r, dst_dest)?;
    let marker = marker_for(job_id);
    let alias = format!("migrate-dst-{job_id}");
    let jd = sh_quote(job_dir);

    // Addresses dst will see src connecting from: src's ssh BindAddress if
    // configured, else the route's source address, else the address the
    // operator reached src on.
    let probe = format!(
        r#"h={h}
ssh -G -p {p} -l {u} "$h" 2>/dev/null | awk '$1=="bindaddress" && $2!="none" {{print "bind", $2}}'
ip=$(getent ahosts "$h" 2>/dev/null | awk '{{print $1; exit}}')
[ -n "$ip" ] && ip route get "$ip" 2>/dev/null | awk '{{for(i=1;i<NF;i++) if($i=="src") print "route", $(i+1)}}'
[ -n "$SSH_CONNECTION" ] && echo "$SSH_CONNECTION" | awk '{{print "conn", $3}}'
true"#,
        h = sh_quote(&r.hostname),
        p = r.port,
        u = sh_quote(&r.user)
    );
    let out = src.sh("finding src's address", &probe, None).await?;
    let froms = from_addresses(&String::from_utf8_lossy(&out));
    if froms.is_empty() {
        return Err(terr(
            "cannot tell which address src connects from; use --relay".into(),
        ));
    }
    let from = froms.into_iter().collect::<Vec<_>>().join(",");

    let pinned: String = keys.iter().map(|k| format!("{alias} {k}\n")).collect();
    let mkkey = format!(
        r#"set -e; umask 077; mkdir -p {jd}
command -v ssh-keygen >/dev/null || {{ echo "ssh-keygen is not installed on src (package openssh-client)" >&2; exit 3; }}
rm -f {jd}/key {jd}/key.pub
ssh-keygen -q -t ed25519 -N '' -C {m} -f {jd}/key >/dev/null
cat > {jd}/known_hosts
cat {jd}/key.pub"#,
        m = sh_quote(&marker)
    );
    let pubkey = src
        .sh("creating a temporary key", &mkkey, Some(pinned.as_bytes()))
        .await?;
    let pubkey = String::from_utf8_lossy(&pubkey).trim().to_string();
    let mut parts = pubkey.split_whitespace();
    let (Some(kt), Some(k)) = (parts.next(), parts.next()) else {
        return Err(terr(format!("unexpected public key '{pubkey}'")));
    };
    let line = format!("restrict,from=\"{from}\" {kt} {k} {marker}\n");
    let install = format!(
        r#"set -e; umask 077; {LOCK}; f="$HOME/.ssh/authorized_keys"
if [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ]; then echo >> "$f"; fi
cat >> "$f""#
    );
    dst.sh(
        "authorizing the temporary key",
        &install,
        Some(line.as_bytes()),
    )
    .await?;
    info!(%from, "temporary key authorized on dst");

    let dst_ssh = format!(
        "ssh -i {jd}/key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
         -o UserKnownHostsFile={jd}/known_hosts -o GlobalKnownHostsFile=/dev/null \
         -o HostKeyAlias={alias} -o ControlMaster=no -o ControlPath=none \
         -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -p {p} -l {u} {h}",
        p = r.port,
        u = sh_quote(&r.user),
        h = sh_quote(&r.hostname)
    );
    // The check also opens a connection master on src (ControlPath
    // JOB_DIR/cm) that the job reuses for its short serial steps, so it pays
    // no handshake of its own for them. Its stdio goes to files: a
    // persisting master would otherwise hold this command's pipes open.
    let check = match dst_ssh.strip_prefix("ssh ") {
        Some(rest) => format!(
            "ssh -o ControlMaster=auto -o ControlPath={jd}/cm -o ControlPersist=60 {rest} true < /dev/null > /dev/null 2> {jd}/cm.err || {{ cat {jd}/cm.err >&2; exit 1; }}"
        ),
        None => format!("{dst_ssh} true"),
    };
    if let Err(e) = src.sh("testing the src→dst link", &check, None).await {
        let _ = teardown(src, dst, job_dir, job_id).await;
        return Err(terr(format!(
            "src cannot log in to dst directly ({e}); if the servers cannot reach each other, use --relay"
        )));
    }
    Ok(Trust { marker, dst_ssh })
}

/// Remove the key from dst's authorized_keys and the key and pin from src.
/// Each side is attempted even if the other fails.
#[instrument(skip_all, fields(src = %src.name(), dst = %dst.name()))]
pub async fn teardown(
    src: &Host,
    dst: &Host,
    job_dir: &str,
    job_id: &str,
) -> Result<(), RemoteError> {
    let marker = marker_for(job_id);
    let a = dst
        .sh("removing the temporary key", &removal_script(&marker), None)
        .await;
    let jd = sh_quote(job_dir);
    let b = src
        .sh(
            "removing the temporary key",
            &format!(
                "ssh -O exit -o ControlPath={jd}/cm migrate-dst > /dev/null 2>&1; rm -f {jd}/key {jd}/key.pub {jd}/known_hosts {jd}/cm.err"
            ),
            None,
        )
        .await;
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
    fn removal_script_drops_only_marked_lines() {
        let dir = std::env::temp_dir().join(format!("migrate-trust-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".ssh")).unwrap();
        let f = dir.join(".ssh/authorized_keys");
        std::fs::write(
            &f,
            "ssh-ed25519 KEEP me\nrestrict ssh-ed25519 X migrate-copy-tmp-abc\nssh-rsa KEEP2\n",
        )
        .unwrap();
        let st = Command::new("sh")
            .arg("-c")
            .arg(removal_script("migrate-copy-tmp-abc"))
            .env("HOME", &dir)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "ssh-ed25519 KEEP me\nssh-rsa KEEP2\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
