//! Finding an app on a server the tool did not install: one read-only
//! script of fixed text looks for the app's markers in each layout (a plain
//! directory, a compose project, a Co-op Cloud stack), and the candidates
//! are read out of what it prints. Choosing among them is `choose`.
//!
//! Nextcloud: its `config/config.php` holding `instanceid`, and containers
//! with such a config in their /var/www/html volume. Mastodon and
//! Hometown: discover_mastodon.rs.

use migrate_remote::{Host, HostSpec};

use super::config::config_get;
use super::definition::{Migration, Side};
use super::layout::default_project;

/// Where a candidate lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// A directory served by the web server of the host.
    Plain,
    /// A docker-compose project: its directory, project name and the
    /// compose volume holding the app's files.
    Compose {
        dir: String,
        project: String,
        volume: Option<String>,
    },
    /// A Co-op Cloud (swarm) stack and its app volume.
    Stack {
        name: String,
        volume: Option<String>,
    },
}

impl Layout {
    pub fn word(&self) -> String {
        match self {
            Layout::Plain => "plain directory".into(),
            Layout::Compose { dir, .. } => format!("compose project in {dir}"),
            Layout::Stack { name, .. } => format!("Co-op Cloud stack {name}"),
        }
    }
}

/// The database the app's own config names (never its password).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Database {
    pub kind: String,
    pub name: String,
    pub user: String,
    pub host: String,
    /// The recipe's name for this database (its `[[databases]]` entry).
    pub recipe: String,
}

/// A systemd unit running the app, found by the directory it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// `mastodon-web.service`
    pub name: String,
    /// Its file on the server.
    pub path: String,
    /// The program of its `ExecStart=`.
    pub exec: Option<String>,
}

/// One installation of the app found on a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The app's directory as the host sees it.
    pub root: String,
    pub layout: Layout,
    /// The name the app answers on (overwrite.cli.url's host, else the first
    /// trusted domain).
    pub domain: Option<String>,
    /// Every name the app's config accepts (trusted domains and the CLI URL).
    pub names: Vec<String>,
    pub database: Option<Database>,
    /// The systemd units running the app (stop and start).
    pub units: Vec<Unit>,
    /// Who owns the app's directory (the app's system user).
    pub owner: Option<String>,
    /// The database user when it is also a system user (PostgreSQL's peer
    /// authentication: the app's database commands run as it).
    pub db_system_user: Option<String>,
    /// Where the app's Redis is (its URL or host:port; no password).
    pub redis: Option<String>,
    /// The SMTP relay the app sends its mail through.
    pub smtp: Option<String>,
}

impl Candidate {
    /// One line for a list of candidates.
    pub fn line(&self) -> String {
        let db = match &self.database {
            Some(d) => format!(
                "{} database {} (user {}, on {})",
                d.kind, d.name, d.user, d.host
            ),
            None => "database not named in its config".into(),
        };
        let mut s = format!(
            "{} ({}), domain {}, {db}",
            self.root,
            self.layout.word(),
            self.domain.as_deref().unwrap_or("unknown")
        );
        if let Some(r) = &self.redis {
            s.push_str(&format!(", Redis {r}"));
        }
        if !self.units.is_empty() {
            let names: Vec<&str> = self.units.iter().map(|u| u.name.as_str()).collect();
            s.push_str(&format!(", systemd units {}", names.join(", ")));
        }
        s
    }

    /// The directories of the units' programs that are the app's own
    /// (rbenv's shims, a bundle in the app user's home): the app's commands
    /// need them on PATH as its units have them. System directories are on
    /// PATH already.
    pub fn tool_dirs(&self) -> Vec<String> {
        let mut dirs: Vec<String> = Vec::new();
        for u in &self.units {
            let Some((dir, _)) = u.exec.as_deref().and_then(|e| e.rsplit_once('/')) else {
                continue;
            };
            let system = ["/usr/", "/bin", "/sbin"]
                .iter()
                .any(|p| dir == p.trim_end_matches('/') || dir.starts_with(p));
            if !dir.is_empty() && !system && !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_string());
            }
        }
        dirs
    }

    /// `systemctl VERB` of the app's units, in their order.
    pub fn systemctl(&self, verb: &str) -> Option<String> {
        (!self.units.is_empty()).then(|| {
            let names: Vec<String> = self
                .units
                .iter()
                .map(|u| migrate_remote::sh_quote(&u.name))
                .collect();
            format!("systemctl {verb} {}", names.join(" "))
        })
    }

    /// How the app is stopped and started, or why that is left to a person.
    pub fn lifecycle(&self) -> String {
        match self.layout {
            Layout::Plain if !self.units.is_empty() => format!(
                "stop/start: its systemd units ({}; on the destination after carrying the unit files)",
                self.systemctl("stop").unwrap_or_default()
            ),
            Layout::Plain => {
                "stop/start: by hand (no systemd unit names the app's directory, and a plain install shares its web server with other sites, so the plan asks a person; give --src-stop/--src-start/--dst-start to automate)".into()
            }
            Layout::Compose { .. } => "stop/start: the compose project's services".into(),
            Layout::Stack { .. } => "stop/start: the stack's services, scaled to zero and back".into(),
        }
    }
}

/// What one look at a server found, and where it looked.
#[derive(Debug, Default)]
pub struct Found {
    pub candidates: Vec<Candidate>,
    pub looked: Vec<String>,
}

/// Plain installs: `config/config.php` with `instanceid` under the usual
/// roots and the document roots of nginx and Apache sites. Prints `LOOKED
/// dir`, then `CONFIG root` and that config's `K line`s (only the keys
/// discovery needs: never the database password or secrets).
const PLAIN_FINDER: &str = r#"keys() {
  grep -E "^[[:space:]]*('(instanceid|dbtype|dbname|dbuser|dbhost|overwrite.cli.url)'|[0-9]+)[[:space:]]*=>[[:space:]]*'" "$1" 2>/dev/null | sed 's/^/K /'
}
roots="/var/www
/srv
/opt"
for h in /home/*; do [ -d "$h" ] && roots="$roots
$h"; done
for f in /etc/nginx/sites-enabled/* /etc/nginx/conf.d/*.conf /etc/apache2/sites-enabled/* /etc/httpd/conf.d/*.conf; do
  [ -f "$f" ] || continue
  d=$(sed -n -e 's/^[[:space:]]*root[[:space:]][[:space:]]*\([^;[:space:]]*\).*/\1/p' -e 's/^[[:space:]]*DocumentRoot[[:space:]][[:space:]]*"\{0,1\}\([^"[:space:]]*\).*/\1/p' "$f")
  [ -n "$d" ] && roots="$roots
$d"
done
printf '%s\n' "$roots" | sort -u | while IFS= read -r r; do
  [ -d "$r" ] || continue
  echo "LOOKED $r"
  find "$r" -maxdepth 5 -path '*/config/config.php' -type f 2>/dev/null
done | while IFS= read -r line; do
  case "$line" in
    LOOKED\ *) echo "$line"; continue ;;
  esac
  grep -q "'instanceid'" "$line" 2>/dev/null || continue
  echo "CONFIG $(cd "$(dirname "$line")/.." && pwd -P)"
  keys "$line"
done
"#;

/// Running containers with Nextcloud's directory (/var/www/html) mounted
/// from a volume whose config.php holds `instanceid` (the marker, not the
/// image name: images are often rebuilt or mirrored under other names):
/// their compose or stack labels and that volume. Prints `LOOKED docker
/// containers`, then `CONTAINER image|project|working_dir|stack|volume|
/// mountpoint` and the `K line`s of the config.php in that volume.
const CONTAINER_FINDER: &str = r#"if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "LOOKED docker containers"
  docker ps -q 2>/dev/null | while read -r id; do
    c=$(docker inspect -f '{{.Config.Image}}|{{index .Config.Labels "com.docker.compose.project"}}|{{index .Config.Labels "com.docker.compose.project.working_dir"}}|{{index .Config.Labels "com.docker.stack.namespace"}}|{{range .Mounts}}{{if eq .Destination "/var/www/html"}}{{.Name}}|{{.Source}}{{end}}{{end}}' "$id" 2>/dev/null) || continue
    m=${c##*|}
    [ -n "$m" ] && grep -q "'instanceid'" "$m/config/config.php" 2>/dev/null || continue
    echo "CONTAINER $c"
    keys "$m/config/config.php"
  done
fi
"#;

/// The whole look for `app`, read-only.
pub fn script(app: &str) -> String {
    match app {
        "mastodon" | "hometown" => format!("set -u\n{}", super::discover_mastodon::script()),
        _ => format!("set -u\n{PLAIN_FINDER}{CONTAINER_FINDER}"),
    }
}

/// Read the finders' output for `app`.
pub fn parse(app: &str, out: &str) -> Found {
    let mut found = Found::default();
    let mut current: Option<(Candidate, String)> = None;
    let flush = |c: Option<(Candidate, String)>, found: &mut Found| {
        if let Some((mut cand, keys)) = c {
            match app {
                "mastodon" | "hometown" => super::discover_mastodon::fill(&mut cand, &keys),
                _ => fill(&mut cand, &keys),
            }
            // A container of a project already found (several replicas,
            // the cron container) is the same installation.
            if !found
                .candidates
                .iter()
                .any(|o| o.root == cand.root && o.layout == cand.layout)
            {
                found.candidates.push(cand);
            }
        }
    };
    for line in out.lines() {
        if let Some(dir) = line.strip_prefix("LOOKED ") {
            found.looked.push(dir.to_string());
        } else if let Some(root) = line.strip_prefix("CONFIG ") {
            flush(current.take(), &mut found);
            current = Some((candidate(root.to_string(), Layout::Plain), String::new()));
        } else if let Some(c) = line.strip_prefix("CONTAINER ") {
            flush(current.take(), &mut found);
            current = container(c).map(|cand| (cand, String::new()));
        } else if let Some(k) = line.strip_prefix("K ")
            && let Some((_, keys)) = current.as_mut()
        {
            keys.push_str(k);
            keys.push('\n');
        } else if let Some((cand, _)) = current.as_mut() {
            if let Some(u) = line.strip_prefix("OWNER ") {
                cand.owner = Some(u.trim().to_string()).filter(|u| !u.is_empty());
            } else if let Some(u) = line.strip_prefix("SYSUSER ") {
                cand.db_system_user = Some(u.trim().to_string()).filter(|u| !u.is_empty());
            } else if let Some(u) = line
                .strip_prefix("UNIT ")
                .and_then(super::discover_mastodon::unit)
            {
                cand.units.push(u);
            }
        }
    }
    flush(current, &mut found);
    found
}

fn candidate(root: String, layout: Layout) -> Candidate {
    Candidate {
        root,
        layout,
        domain: None,
        names: vec![],
        database: None,
        units: vec![],
        owner: None,
        db_system_user: None,
        redis: None,
        smtp: None,
    }
}

/// `image|project|working_dir|stack|volume|mountpoint`
fn container(line: &str) -> Option<Candidate> {
    let f: Vec<&str> = line.split('|').collect();
    let get = |i: usize| f.get(i).map(|s| s.trim()).unwrap_or("");
    let (project, dir, stack, volume, mountpoint) = (get(1), get(2), get(3), get(4), get(5));
    // Without a volume mounted at the app's directory (Mastodon's compose
    // keeps its files in bind mounts of the project's directory) the app is
    // its project's directory.
    let root = if mountpoint.is_empty() {
        dir
    } else {
        mountpoint
    };
    let key = |prefix: &str| {
        (!volume.is_empty()).then(|| {
            volume
                .strip_prefix(&format!("{prefix}_"))
                .unwrap_or(volume)
                .to_string()
        })
    };
    let layout = if !stack.is_empty() {
        Layout::Stack {
            name: stack.to_string(),
            volume: key(stack),
        }
    } else if !project.is_empty() && dir.starts_with('/') {
        Layout::Compose {
            dir: dir.to_string(),
            project: project.to_string(),
            volume: key(project),
        }
    } else {
        return None;
    };
    Some(candidate(root.to_string(), layout))
}

/// The domain and database out of config.php's lines.
fn fill(c: &mut Candidate, keys: &str) {
    let url_host = config_get(keys, "overwrite.cli.url").and_then(|u| {
        let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(&u);
        let host = rest.split(['/', ':']).next().unwrap_or("");
        (!host.is_empty()).then(|| host.to_string())
    });
    let trusted: Vec<String> = keys
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (k, v) = l.split_once("=>")?;
            k.trim().parse::<u32>().ok()?;
            let v = v.trim().strip_prefix('\'')?;
            Some(v[..v.find('\'')?].to_string())
        })
        .collect();
    c.domain = url_host.clone().or_else(|| trusted.first().cloned());
    c.names = url_host.into_iter().chain(trusted).collect();
    c.names.dedup();
    if let Some(name) = config_get(keys, "dbname") {
        c.database = Some(Database {
            kind: config_get(keys, "dbtype").unwrap_or_default(),
            name,
            user: config_get(keys, "dbuser").unwrap_or_default(),
            host: config_get(keys, "dbhost").unwrap_or_default(),
            recipe: "nextcloud".into(),
        });
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error(
        "discovery finds nextcloud, mastodon and hometown so far; for {0}, name the app's directory with --src-root (or give a migration file with --file)"
    )]
    Unknown(String),
    #[error("cannot look for the app on {host}: {message}")]
    Remote { host: String, message: String },
    #[error(
        "no {app} installation found on {host}; looked in {looked}. Nothing was changed. Name the app's directory with --src-root (or its compose project with --src-compose and --volume)"
    )]
    None {
        app: String,
        host: String,
        looked: String,
    },
    #[error(
        "{count} {app} installations on {host}; nothing was changed. Choose one with --pick N (or --domain naming exactly one, or --src-root):\n{list}"
    )]
    Several {
        app: String,
        host: String,
        count: usize,
        list: String,
    },
    #[error("--pick {pick}: there are {count} candidates on {host} (1 to {count}):\n{list}")]
    NoSuchPick {
        pick: usize,
        host: String,
        count: usize,
        list: String,
    },
}

/// Look for `app` on `host` over ssh (read-only).
pub fn look(app: &str, host: &str) -> Result<Found, DiscoverError> {
    if !matches!(app, "nextcloud" | "mastodon" | "hometown") {
        return Err(DiscoverError::Unknown(app.to_string()));
    }
    let remote = |e: &dyn std::fmt::Display| DiscoverError::Remote {
        host: host.to_string(),
        message: e.to_string(),
    };
    let spec = HostSpec::parse(host).map_err(|e| remote(&e))?;
    let rt = crate::runtime::build().map_err(|e| remote(&e))?;
    let _span = tracing::info_span!("remote", side = "source", what = "discovery").entered();
    let out = rt
        .block_on(async {
            let h = Host::connect(&spec).await?;
            h.sh("looking for the app", &script(app), None).await
        })
        .map_err(|e| remote(&e))?;
    Ok(parse(app, &String::from_utf8_lossy(&out)))
}

/// The one candidate to migrate: `pick` (1-based) wins, then the domain
/// when it names exactly one; several left is a refusal that lists them.
pub fn choose(
    app: &str,
    host: &str,
    found: Found,
    domain: Option<&str>,
    pick: Option<usize>,
) -> Result<Candidate, DiscoverError> {
    let Found { candidates, looked } = found;
    let list = || {
        candidates
            .iter()
            .enumerate()
            .map(|(i, c)| format!("  {}. {}", i + 1, c.line()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if candidates.is_empty() {
        return Err(DiscoverError::None {
            app: app.to_string(),
            host: host.to_string(),
            looked: if looked.is_empty() {
                "nothing (no usual root exists there)".into()
            } else {
                looked.join(", ")
            },
        });
    }
    if let Some(p) = pick {
        return match candidates.get(p.wrapping_sub(1)) {
            Some(c) => Ok(c.clone()),
            None => Err(DiscoverError::NoSuchPick {
                pick: p,
                host: host.to_string(),
                count: candidates.len(),
                list: list(),
            }),
        };
    }
    if candidates.len() == 1 {
        return Ok(candidates[0].clone());
    }
    if let Some(d) = domain {
        let matching: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.names.iter().any(|n| n.eq_ignore_ascii_case(d)))
            .collect();
        if let [one] = matching.as_slice() {
            return Ok((*one).clone());
        }
    }
    Err(DiscoverError::Several {
        app: app.to_string(),
        host: host.to_string(),
        count: candidates.len(),
        list: list(),
    })
}

/// Look on the source and choose; says on stderr what was found, so the
/// operator sees where the plan's layout came from.
pub fn find(
    app: &str,
    host: &str,
    domain: Option<&str>,
    pick: Option<usize>,
) -> Result<Candidate, String> {
    let found = look(app, host).map_err(|e| e.to_string())?;
    let c = choose(app, host, found, domain, pick).map_err(|e| e.to_string())?;
    eprintln!("Found {app} on {host}: {}", c.line());
    eprintln!("  {}", c.lifecycle());
    Ok(c)
}

impl Candidate {
    /// Fill what the definition leaves open from this candidate, on both
    /// sides: the destination's layout defaults to the source's (same
    /// directory, same project or stack). Anything already set stays.
    pub fn apply(&self, m: &mut Migration) {
        if m.domain.is_empty()
            && let Some(d) = &self.domain
        {
            m.domain = d.clone();
        }
        let fill = |side: &mut Side| {
            let unset = side.root.is_empty() && side.compose.is_none() && side.stack.is_none();
            if unset {
                match &self.layout {
                    Layout::Plain => side.root = self.root.clone(),
                    Layout::Compose {
                        dir,
                        project,
                        volume,
                    } => {
                        side.compose = Some(dir.clone());
                        if *project != default_project(dir) {
                            side.project = Some(project.clone());
                        }
                        side.volume = volume.clone();
                        if volume.is_none() {
                            side.root = self.root.clone();
                        }
                    }
                    Layout::Stack { name, volume } => {
                        side.stack = Some(name.clone());
                        side.volume = volume.clone();
                        side.root = self.root.clone();
                    }
                }
            }
            if let Some(db) = &self.database {
                side.databases
                    .entry(db.recipe.clone())
                    .or_insert_with(|| db.name.clone());
            }
            if self.layout == Layout::Plain && unset {
                // The app's commands run as its user (and the database's
                // as the database user, for peer authentication), with the
                // app's own tools on PATH, as its units run them.
                if let Some(o) = &self.owner {
                    side.service_users
                        .entry("web".into())
                        .or_insert_with(|| o.clone());
                }
                if let Some(u) = self.db_system_user.as_ref().or(self.owner.as_ref()) {
                    side.service_users
                        .entry("db".into())
                        .or_insert_with(|| u.clone());
                }
                if side.path.is_empty() {
                    side.path = self.tool_dirs();
                }
            }
        };
        let plain = self.layout == Layout::Plain;
        let src_unset =
            m.source.root.is_empty() && m.source.compose.is_none() && m.source.stack.is_none();
        let dst_unset = m.destination.root.is_empty()
            && m.destination.compose.is_none()
            && m.destination.stack.is_none();
        fill(&mut m.source);
        fill(&mut m.destination);
        // Units stop and start the app: on the source (start is what an
        // abort runs), and on the destination once their files are carried.
        if plain {
            if src_unset && !self.units.is_empty() {
                // The plugin's own stop step asks a person to do what the
                // units now do.
                if let Some(step) = super::discover_mastodon::manual_stop_step(&m.app)
                    && !m.skip_steps.iter().any(|s| s == step)
                {
                    m.skip_steps.push(step.to_string());
                }
            }
            if src_unset {
                m.source.units = self.units.iter().map(|u| u.path.clone()).collect();
                m.source.stop = m.source.stop.take().or_else(|| self.systemctl("stop"));
                m.source.start = m.source.start.take().or_else(|| self.systemctl("start"));
            }
            if dst_unset {
                m.destination.start = m
                    .destination
                    .start
                    .take()
                    .or_else(|| self.systemctl("start"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "LOOKED /srv\nLOOKED /var/www\nCONFIG /srv/a/nextcloud\nK   'instanceid' => 'oc1',\nK     0 => 'a.example.test',\nK   'dbtype' => 'pgsql',\nK   'overwrite.cli.url' => 'https://a.example.test',\nK   'dbname' => 'nc_a',\nK   'dbhost' => 'localhost',\nK   'dbuser' => 'nc_user',\nCONFIG /var/www/b\nK     0 => 'b.example.test',\nK     1 => 'b2.example.test',\nK   'dbname' => 'nc_b',\nLOOKED docker containers\nCONTAINER nextcloud:28|cloud|/srv/compose/cloud||cloud_html|/var/lib/docker/volumes/cloud_html/_data\nK   'dbname' => 'nextcloud',\nCONTAINER nextcloud:28|cloud|/srv/compose/cloud||cloud_html|/var/lib/docker/volumes/cloud_html/_data\nCONTAINER nextcloud:28|||c_example_test|c_example_test_app|/var/lib/docker/volumes/c_example_test_app/_data\n";

    #[test]
    fn the_finders_output_becomes_candidates() {
        let f = parse("nextcloud", OUT);
        assert_eq!(f.looked, ["/srv", "/var/www", "docker containers"]);
        assert_eq!(f.candidates.len(), 4, "{:#?}", f.candidates);
        let a = &f.candidates[0];
        assert_eq!(a.root, "/srv/a/nextcloud");
        assert_eq!(a.domain.as_deref(), Some("a.example.test"));
        let db = a.database.as_ref().unwrap();
        assert_eq!(
            (&*db.kind, &*db.name, &*db.user, &*db.host),
            ("pgsql", "nc_a", "nc_user", "localhost")
        );
        assert_eq!(f.candidates[1].domain.as_deref(), Some("b.example.test"));
        assert_eq!(
            f.candidates[2].layout,
            Layout::Compose {
                dir: "/srv/compose/cloud".into(),
                project: "cloud".into(),
                volume: Some("html".into())
            }
        );
        assert_eq!(
            f.candidates[3].layout,
            Layout::Stack {
                name: "c_example_test".into(),
                volume: Some("app".into())
            }
        );
    }

    #[test]
    fn choosing_refuses_several_and_takes_a_pick_or_a_domain() {
        let e = choose("nextcloud", "src", parse("nextcloud", OUT), None, None).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("4 nextcloud installations") && s.contains("  2. /var/www/b"),
            "{s}"
        );
        let c = choose("nextcloud", "src", parse("nextcloud", OUT), None, Some(2)).unwrap();
        assert_eq!(c.root, "/var/www/b");
        let c = choose(
            "nextcloud",
            "src",
            parse("nextcloud", OUT),
            Some("B2.example.test"),
            None,
        )
        .unwrap();
        assert_eq!(c.root, "/var/www/b");
        assert!(choose("nextcloud", "src", parse("nextcloud", OUT), None, Some(9)).is_err());
        assert!(choose("nextcloud", "src", parse("nextcloud", OUT), None, Some(0)).is_err());
        let e = choose(
            "nextcloud",
            "src",
            parse("nextcloud", "LOOKED /srv\n"),
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("looked in /srv") && e.contains("Nothing was changed"),
            "{e}"
        );
    }
}
