//! Finding Mastodon (and Hometown, its fork) on a server: a from-source
//! install is a directory whose `.env.production` sets `LOCAL_DOMAIN`
//! (upstream's guide puts it in /home/mastodon/live), with the systemd
//! units that run it (`mastodon-web`, `-sidekiq`, `-streaming`, found by
//! the `WorkingDirectory=` or `ExecStart=` naming that directory); a compose
//! project or Co-op Cloud stack runs containers of Mastodon's image.
//!
//! The script prints only the keys discovery needs: never `DB_PASS`,
//! `REDIS_PASSWORD` or the secrets, and a `REDIS_URL`'s user and password
//! are cut out before it leaves the server.

use super::discover::{Candidate, Database, Unit};

/// The roots searched, then each `.env.production` with `LOCAL_DOMAIN`:
/// `CONFIG dir`, its `K KEY=value` lines, `OWNER user`, `SYSUSER name`
/// when DB_USER is also a system user (PostgreSQL's peer authentication
/// then wants commands run as it), and `UNIT name|path|exec` for each
/// systemd unit naming the directory (units in /etc/systemd/system
/// shadow those of the same name in /lib/systemd/system, as in systemd).
const PLAIN_FINDER: &str = r#"roots="/var/www
/srv
/opt"
for h in /home/*; do [ -d "$h" ] && roots="$roots
$h"; done
printf '%s\n' "$roots" | sort -u | while IFS= read -r r; do
  [ -d "$r" ] || continue
  echo "LOOKED $r"
  find "$r" -maxdepth 4 -name node_modules -prune -o -name .env.production -type f -print 2>/dev/null
done | while IFS= read -r line; do
  case "$line" in
    LOOKED\ *) echo "$line"; continue ;;
  esac
  grep -q '^LOCAL_DOMAIN=' "$line" 2>/dev/null || continue
  dir=$(cd "$(dirname "$line")" && pwd -P)
  echo "CONFIG $dir"
  grep -E '^(LOCAL_DOMAIN|WEB_DOMAIN|DB_HOST|DB_PORT|DB_NAME|DB_USER|REDIS_URL|REDIS_HOST|REDIS_PORT|SMTP_SERVER|SMTP_PORT|SMTP_FROM_ADDRESS|S3_ENABLED)=' "$line" | sed -E -e 's#^(REDIS_URL=[a-z]+://)[^@/]*@#\1#' -e 's/^/K /'
  echo "OWNER $(stat -c %U "$dir")"
  u=$(sed -n 's/^DB_USER=//p' "$line" | tail -n 1 | tr -d "\"'")
  [ -n "$u" ] && id -u "$u" >/dev/null 2>&1 && echo "SYSUSER $u"
  seen=" "
  for f in /etc/systemd/system/*.service /lib/systemd/system/*.service; do
    [ -f "$f" ] || continue
    n=${f##*/}
    case "$seen" in *" $n "*) continue ;; esac
    e=$(awk -v d="$dir" '
      /^(WorkingDirectory|ExecStart)=/ {
        v = substr($0, index($0, "=") + 1); sub(/^[-@+!:]+/, "", v)
        if (v == d || index(v, d "/") == 1 || index(v, " " d) > 0 || index(v, d " ") == 1) hit = 1
        if ($0 ~ /^ExecStart=/ && exec == "") { split(v, a, " "); exec = a[1] }
      }
      END { if (hit) { print exec; exit 0 } exit 1 }' "$f" 2>/dev/null) || continue
    seen="$seen$n "
    echo "UNIT $n|$f|$e"
  done
done
"#;

/// Running containers of Mastodon's image (upstream's
/// ghcr.io/mastodon/mastodon, the older tootsuite/mastodon, and
/// Hometown's): their compose or stack labels; for a compose project the
/// keys of the `.env.production` in its directory, where upstream's
/// docker-compose.yml keeps it.
const CONTAINER_FINDER: &str = r#"if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "LOOKED docker containers"
  docker ps -q 2>/dev/null | while read -r id; do
    c=$(docker inspect -f '{{.Config.Image}}|{{index .Config.Labels "com.docker.compose.project"}}|{{index .Config.Labels "com.docker.compose.project.working_dir"}}|{{index .Config.Labels "com.docker.stack.namespace"}}' "$id" 2>/dev/null) || continue
    case "${c%%|*}" in
      ghcr.io/mastodon/mastodon|ghcr.io/mastodon/mastodon:*|tootsuite/mastodon|tootsuite/mastodon:*|*/hometown|*/hometown:*) ;;
      *) continue ;;
    esac
    echo "CONTAINER $c||"
    d=$(printf '%s' "$c" | cut -d'|' -f3)
    [ -n "$d" ] && [ -f "$d/.env.production" ] && grep -E '^(LOCAL_DOMAIN|WEB_DOMAIN|DB_HOST|DB_PORT|DB_NAME|DB_USER|REDIS_URL|REDIS_HOST|REDIS_PORT|SMTP_SERVER|SMTP_PORT|SMTP_FROM_ADDRESS)=' "$d/.env.production" | sed -E -e 's#^(REDIS_URL=[a-z]+://)[^@/]*@#\1#' -e 's/^/K /'
  done
fi
"#;

/// The Mastodon plugin's step asking a person to stop web, sidekiq and
/// streaming: left out when discovery found the units that stop them.
pub fn manual_stop_step(app: &str) -> Option<&'static str> {
    matches!(app, "mastodon" | "hometown").then_some("stop-app")
}

pub fn script() -> String {
    format!("{PLAIN_FINDER}{CONTAINER_FINDER}")
}

/// `KEY=value` out of the finder's lines (the last one wins, as in the
/// app's own dotenv loading), quotes taken off.
fn env_get(keys: &str, key: &str) -> Option<String> {
    keys.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .filter(|v| !v.is_empty())
}

/// The domain, database, Redis and SMTP relay out of `.env.production`.
pub fn fill(c: &mut Candidate, keys: &str) {
    c.domain = env_get(keys, "LOCAL_DOMAIN");
    c.names = c
        .domain
        .iter()
        .cloned()
        .chain(env_get(keys, "WEB_DOMAIN"))
        .collect();
    c.names.dedup();
    if c.layout == super::discover::Layout::Plain || env_get(keys, "DB_NAME").is_some() {
        c.database = Some(Database {
            kind: "postgresql".into(),
            // Mastodon's defaults (config/database.yml) when unset.
            name: env_get(keys, "DB_NAME").unwrap_or_else(|| "mastodon_production".into()),
            user: env_get(keys, "DB_USER").unwrap_or_else(|| "mastodon".into()),
            host: env_get(keys, "DB_HOST").unwrap_or_else(|| "localhost".into()),
            recipe: "mastodon_production".into(),
        });
    }
    c.redis = Some(match env_get(keys, "REDIS_URL") {
        Some(u) => u,
        None => format!(
            "{}:{}",
            env_get(keys, "REDIS_HOST").unwrap_or_else(|| "localhost".into()),
            env_get(keys, "REDIS_PORT").unwrap_or_else(|| "6379".into())
        ),
    });
    c.smtp = env_get(keys, "SMTP_SERVER").map(|s| match env_get(keys, "SMTP_PORT") {
        Some(p) => format!("{s}:{p}"),
        None => s,
    });
}

/// `name|path|exec` of a `UNIT` line.
pub fn unit(line: &str) -> Option<Unit> {
    let mut f = line.splitn(3, '|');
    let (name, path, exec) = (f.next()?, f.next()?, f.next().unwrap_or(""));
    (!name.is_empty() && path.starts_with('/')).then(|| Unit {
        name: name.to_string(),
        path: path.to_string(),
        exec: (!exec.is_empty()).then(|| exec.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::discover::{Layout, parse};

    const OUT: &str = "LOOKED /home/mastodon\nLOOKED /srv\nCONFIG /home/mastodon/live\nK LOCAL_DOMAIN=social.example.test\nK WEB_DOMAIN=www.social.example.test\nK DB_HOST=/var/run/postgresql\nK DB_USER=mastodon\nK DB_NAME=masto_prod\nK REDIS_URL=redis://redis.internal:6380/2\nK SMTP_SERVER=smtp.example.net\nK SMTP_PORT=587\nOWNER mastodon\nSYSUSER mastodon\nUNIT mastodon-web.service|/etc/systemd/system/mastodon-web.service|/home/mastodon/.rbenv/shims/bundle\nUNIT mastodon-streaming.service|/etc/systemd/system/mastodon-streaming.service|/usr/bin/node\nLOOKED docker containers\nCONTAINER ghcr.io/mastodon/mastodon:v4.3.2|masto|/srv/masto||||\nK LOCAL_DOMAIN=m.example.test\nK DB_HOST=db\nCONTAINER ghcr.io/mastodon/mastodon:v4.3.2|masto|/srv/masto||||\nCONTAINER tootsuite/mastodon:v3.5.3|||t_example_test||\n";

    #[test]
    fn env_production_units_and_containers_become_candidates() {
        let f = parse("mastodon", OUT);
        assert_eq!(f.candidates.len(), 3, "{:#?}", f.candidates);
        let a = &f.candidates[0];
        assert_eq!(a.root, "/home/mastodon/live");
        assert_eq!(a.domain.as_deref(), Some("social.example.test"));
        assert_eq!(a.names, ["social.example.test", "www.social.example.test"]);
        let db = a.database.as_ref().unwrap();
        assert_eq!(
            (&*db.name, &*db.user, &*db.host, &*db.recipe),
            (
                "masto_prod",
                "mastodon",
                "/var/run/postgresql",
                "mastodon_production"
            )
        );
        assert_eq!(a.redis.as_deref(), Some("redis://redis.internal:6380/2"));
        assert_eq!(a.smtp.as_deref(), Some("smtp.example.net:587"));
        assert_eq!(a.owner.as_deref(), Some("mastodon"));
        assert_eq!(a.db_system_user.as_deref(), Some("mastodon"));
        let names: Vec<&str> = a.units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            ["mastodon-web.service", "mastodon-streaming.service"]
        );
        // The app's own tool directory (rbenv's shims) goes on PATH; the
        // system's does not.
        assert_eq!(a.tool_dirs(), ["/home/mastodon/.rbenv/shims"]);
        assert!(
            a.line()
                .contains("systemd units mastodon-web.service, mastodon-streaming.service"),
            "{}",
            a.line()
        );
        assert_eq!(
            f.candidates[1].layout,
            Layout::Compose {
                dir: "/srv/masto".into(),
                project: "masto".into(),
                volume: None
            }
        );
        assert_eq!(f.candidates[1].root, "/srv/masto");
        assert_eq!(f.candidates[1].domain.as_deref(), Some("m.example.test"));
        assert_eq!(
            f.candidates[2].layout,
            Layout::Stack {
                name: "t_example_test".into(),
                volume: None
            }
        );
    }

    #[test]
    fn no_secret_leaves_the_server() {
        let s = super::script();
        for secret in ["DB_PASS", "REDIS_PASSWORD", "SECRET_KEY_BASE", "OTP_SECRET"] {
            assert!(!s.contains(secret), "{secret}");
        }
        // A password in REDIS_URL is cut before printing.
        let out = std::process::Command::new("sed")
            .args(["-E", "-e", r"s#^(REDIS_URL=[a-z]+://)[^@/]*@#\1#"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .expect("stdin")
                    .write_all(b"REDIS_URL=redis://:hunter2@r:6379/0\n")?;
                c.wait_with_output()
            })
            .expect("sed");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "REDIS_URL=redis://r:6379/0\n"
        );
    }
}
