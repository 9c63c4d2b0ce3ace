//! Finding a Discourse launcher install on a server: discourse_docker's
//! directory (/var/discourse by default) holds `launcher` and
//! `containers/*.yml`; a running container that mounts `<dir>/shared/<yml
//! name>` at /shared names an install anywhere else. One read-only script;
//! the candidate's root is the install's shared/standalone, which
//! launcher.rs recognises as a launcher side.

use migrate_remote::{Host, HostSpec};

use super::discover::{Candidate, Layout};

/// Prints `LOOKED what` and, per install, `INSTALL dir` followed by its
/// `HOST name` (DISCOURSE_HOSTNAME of containers/app.yml; never the
/// file's secrets).
const FINDER: &str = r#"seen=""
report() {
  d=$1
  case " $seen " in *" $d "*) return;; esac
  [ -x "$d/launcher" ] && [ -f "$d/containers/app.yml" ] || return
  seen="$seen $d"
  echo "INSTALL $d"
  sed -n "s/^[[:space:]]*DISCOURSE_HOSTNAME:[[:space:]]*['\"]\{0,1\}\([^'\"[:space:]]*\).*/HOST \1/p" "$d/containers/app.yml" | head -n 1
}
echo "LOOKED /var/discourse"
report /var/discourse
if command -v docker >/dev/null 2>&1; then
  echo "LOOKED docker containers"
  for c in $(docker ps -q 2>/dev/null); do
    s=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/shared"}}{{.Source}}{{end}}{{end}}' "$c" 2>/dev/null)
    case "$s" in */shared/standalone) report "${s%/shared/standalone}";; esac
  done
fi
"#;

fn parse(out: &str) -> (Vec<Candidate>, Vec<String>) {
    let (mut found, mut looked) = (Vec::<Candidate>::new(), Vec::new());
    for line in out.lines() {
        if let Some(w) = line.strip_prefix("LOOKED ") {
            looked.push(w.to_string());
        } else if let Some(d) = line.strip_prefix("INSTALL ") {
            found.push(Candidate {
                root: format!("{d}/shared/standalone"),
                layout: Layout::Plain,
                domain: None,
                names: vec![],
                database: None,
                units: vec![],
                owner: None,
                db_system_user: None,
                redis: None,
                smtp: None,
            });
        } else if let (Some(h), Some(c)) = (line.strip_prefix("HOST "), found.last_mut()) {
            c.domain = Some(h.to_string());
            c.names = vec![h.to_string()];
        }
    }
    (found, looked)
}

/// Find the launcher install on `host` and choose it (one, or the one the
/// domain names, or `--pick N`), saying on stderr what was found.
pub fn find(host: &str, domain: Option<&str>, pick: Option<usize>) -> Result<Candidate, String> {
    let spec = HostSpec::parse(host).map_err(|e| e.to_string())?;
    let rt = crate::runtime::build().map_err(|e| e.to_string())?;
    let _span = tracing::info_span!("remote", side = "source", what = "discovery").entered();
    let out = rt
        .block_on(async {
            let h = Host::connect(&spec).await?;
            h.sh("looking for a Discourse launcher install", FINDER, None)
                .await
        })
        .map_err(|e| format!("cannot look for Discourse on {host}: {e}"))?;
    let (candidates, looked) = parse(&String::from_utf8_lossy(&out));
    let found = super::discover::Found { candidates, looked };
    let c = super::discover::choose("discourse", host, found, domain, pick)
        .map_err(|e| e.to_string())?;
    let dir = c.root.trim_end_matches("/shared/standalone");
    eprintln!(
        "Found discourse on {host}: a launcher install in {dir} (container app, data in {}), domain {}",
        c.root,
        c.domain.as_deref().unwrap_or("unknown")
    );
    eprintln!("  stop/start: ./launcher stop app, then ./launcher rebuild app on the destination");
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_and_their_hostnames_are_read() {
        let (c, looked) = parse(
            "LOOKED /var/discourse\nINSTALL /var/discourse\nHOST forum.example.org\nLOOKED docker containers\nINSTALL /srv/forum\n",
        );
        assert_eq!(looked, ["/var/discourse", "docker containers"]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].root, "/var/discourse/shared/standalone");
        assert_eq!(c[0].domain.as_deref(), Some("forum.example.org"));
        assert_eq!(c[1].root, "/srv/forum/shared/standalone");
        assert_eq!(c[1].domain, None);
    }
}
