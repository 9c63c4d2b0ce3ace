//! How an app is laid out on one server, and so how the host reaches it:
//! a plain-directory install (the app's commands and its database clients
//! run on the server itself) or a docker-compose project (commands run in
//! the project's service containers with `compose exec`, the app's files
//! live in a named volume, the database answers inside its container).
//!
//! Everything here renders shell text; nothing connects.

use migrate_remote::sh_quote;

use super::definition::Side as SideDef;

/// Docker's default data root; volumes live under `volumes/<name>/_data`.
/// A server whose daemon uses another root says so in `docker info`, which
/// the plan checks (see `volume_root_check`).
pub const DOCKER_ROOT: &str = "/var/lib/docker";

/// The compose CLI: v2's `docker compose` plugin where it exists, else v1's
/// `docker-compose` (Debian bookworm ships 1.29). Chosen on the server at
/// run time, unquoted on purpose so "docker compose" splits into two words.
const COMPOSE_CLI: &str =
    "$(docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)";

/// How one side runs the app, worked out once from its definition: every
/// step asks the layout, never the definition's fields, whether the app is
/// a plain directory, a compose project or a stack.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// Files in a directory on the server; commands run there as the
    /// app's users; databases are the server's own.
    Directory,
    /// A docker-compose project: commands and databases in its services'
    /// containers, the files in a named volume.
    Compose(Project),
    /// A Co-op Cloud app (a docker swarm stack deployed by abra): as
    /// compose, plus swarm secrets, and stop/start by scaling.
    Stack(Project),
}

impl Layout {
    pub fn of(side: &SideDef) -> Layout {
        match Project::of(side) {
            None => Layout::Directory,
            Some(p) if p.stack => Layout::Stack(p),
            Some(p) => Layout::Compose(p),
        }
    }

    /// The container project, for the compose and stack layouts.
    pub fn project(&self) -> Option<&Project> {
        match self {
            Layout::Directory => None,
            Layout::Compose(p) | Layout::Stack(p) => Some(p),
        }
    }

    pub fn is_stack(&self) -> bool {
        matches!(self, Layout::Stack(_))
    }

    /// The layout's name in plans and in the plugin's context.
    pub fn kind(&self) -> &'static str {
        match self {
            Layout::Directory => "directory",
            Layout::Compose(_) => "compose",
            Layout::Stack(_) => "stack",
        }
    }

    /// A shell check printing the missing piece of the layout's own
    /// tooling (`docker-compose`, or `swarm` when the server is no swarm
    /// manager), nothing when all is there.
    pub fn tool_check(&self) -> &'static str {
        match self {
            Layout::Directory => "",
            Layout::Compose(_) => {
                "docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || echo docker-compose; "
            }
            Layout::Stack(_) => {
                "[ \"$(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null)\" = active ] || echo swarm; "
            }
        }
    }
}

/// A side's container project, when it has one: a docker-compose project,
/// or a Co-op Cloud app, which is a docker swarm stack (abra deploys it;
/// services are `<stack>_<service>`, volumes `<stack>_<volume>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The directory holding the compose file (empty for a stack).
    pub dir: String,
    /// The compose project name (`-p`) or the stack name.
    pub project: String,
    pub stack: bool,
}

impl Project {
    pub fn of(side: &SideDef) -> Option<Project> {
        if let Some(stack) = &side.stack {
            return Some(Project {
                dir: String::new(),
                project: stack.clone(),
                stack: true,
            });
        }
        let dir = side.compose.as_ref()?;
        let project = side.project.clone().unwrap_or_else(|| default_project(dir));
        Some(Project {
            dir: dir.clone(),
            project,
            stack: false,
        })
    }

    pub fn describe(&self) -> String {
        if self.stack {
            format!("stack {:?}", self.project)
        } else {
            format!("compose project {:?} in {}", self.project, self.dir)
        }
    }

    /// `cd DIR && <compose> -p PROJECT ` followed by a compose subcommand.
    pub fn cli(&self, sub: &str) -> String {
        format!(
            "cd {} && {COMPOSE_CLI} -p {} {sub}",
            sh_quote(&self.dir),
            sh_quote(&self.project)
        )
    }

    /// `--filter` arguments selecting the project's containers.
    pub fn filter(&self) -> String {
        if self.stack {
            format!(
                "--filter label=com.docker.stack.namespace={}",
                sh_quote(&self.project)
            )
        } else {
            format!(
                "--filter label=com.docker.compose.project={}",
                sh_quote(&self.project)
            )
        }
    }

    /// `--filter` arguments selecting one service's containers.
    pub fn service_filter(&self, service: &str) -> String {
        if self.stack {
            format!(
                "--filter label=com.docker.swarm.service.name={}",
                sh_quote(&self.swarm_service(service))
            )
        } else {
            format!(
                "{} --filter label=com.docker.compose.service={}",
                self.filter(),
                sh_quote(service)
            )
        }
    }

    /// A stack service's swarm name.
    pub fn swarm_service(&self, service: &str) -> String {
        format!("{}_{service}", self.project)
    }

    /// Run `argv` (already shell words) in `service`'s container.
    /// Compose: `exec` in the running one, else a one-off `run --rm
    /// --no-deps` of the same service (the destination's app is not up
    /// while the post-copy fixes run, and `exec` needs a running container).
    /// Stack: swarm has no one-off run, and a copy of the task outside the
    /// stack would miss its networks and secrets, so a service at zero
    /// replicas is scaled to one first; before the cutover that is the
    /// destination, which nobody reaches yet (DNS still names the source)
    /// and whose app still carries the source's maintenance mode.
    pub fn exec(
        &self,
        service: &str,
        user: Option<&str>,
        workdir: Option<&str>,
        env: &[(String, String)],
        argv: &str,
    ) -> String {
        let mut opts = String::new();
        if let Some(u) = user {
            opts.push_str(&format!(" -u {}", sh_quote(u)));
        }
        if let Some(w) = workdir {
            opts.push_str(&format!(" -w {}", sh_quote(w)));
        }
        for (k, v) in env {
            opts.push_str(&format!(" -e {}", sh_quote(&format!("{k}={v}"))));
        }
        let find = format!("docker ps -q {} | head -n 1", self.service_filter(service));
        if self.stack {
            let s = sh_quote(&self.swarm_service(service));
            return format!(
                "c=$({find}); if [ -z \"$c\" ]; then docker service scale -d {s}=1 >/dev/null || exit 1; for i in $(seq 1 240); do c=$({find}); [ -n \"$c\" ] && break; sleep 0.5; done; fi; [ -n \"$c\" ] || {{ echo 'service {svc} of stack {p} has no running container' >&2; exit 1; }}; docker exec -i{opts} \"$c\" {argv}",
                svc = service,
                p = self.project
            );
        }
        let svc = sh_quote(service);
        format!(
            "if [ -n \"$({find})\" ]; then {exec}; else {run}; fi",
            exec = self.cli(&format!("exec -T{opts} {svc} {argv}")),
            run = self.cli(&format!("run --rm --no-deps -T{opts} {svc} {argv}")),
        )
    }

    /// `docker inspect -f FORMAT` of the service's running container (one
    /// line; nothing when it has none).
    pub fn inspect_service(&self, service: &str, format: &str) -> String {
        format!(
            "c=$(docker ps -q {} | head -n 1); [ -z \"$c\" ] || docker inspect -f {f} \"$c\"",
            self.service_filter(service),
            f = sh_quote(format)
        )
    }

    /// The docker volume holding the project's volume `volume`.
    pub fn volume_name(&self, volume: &str) -> String {
        format!("{}_{volume}", self.project)
    }

    /// Stop the given services, leaving the others (the databases) up. A
    /// stack's services are scaled to zero, their replica count kept in a
    /// service label (the docker crate's `migrate.replicas-before`) for
    /// `up`; a service already at zero keeps the count it had. It returns
    /// once the service's containers are gone, so nothing of the app still
    /// writes when the final pass starts (polled: an attached `scale` fails
    /// when a task of the service had crashed before, as a fresh deploy's
    /// may).
    pub fn stop(&self, services: &[String]) -> String {
        if self.stack {
            let names: Vec<String> = services
                .iter()
                .map(|s| sh_quote(&self.swarm_service(s)))
                .collect();
            return format!(
                // Right after a deploy, swarm may still bump a service's
                // version between our read and our update ("update out of
                // sequence", moby/swarmkit#1379): each update is retried.
                "retry() {{ for t in 1 2 3 4 5; do \"$@\" >/dev/null && return 0; sleep 1; done; return 1; }}; for s in {}; do n=$(docker service inspect -f '{{{{.Spec.Mode.Replicated.Replicas}}}}' \"$s\") || exit 1; if [ \"$n\" != 0 ]; then retry docker service update -d --label-add {REPLICAS_LABEL}=\"$n\" \"$s\" || exit 1; fi; retry docker service scale -d \"$s\"=0 || exit 1; for i in $(seq 1 240); do [ -z \"$(docker ps -q --filter label=com.docker.swarm.service.name=\"$s\")\" ] && break; sleep 0.5; done; done",
                names.join(" ")
            );
        }
        let names: Vec<String> = services.iter().map(|s| sh_quote(s)).collect();
        self.cli(&format!("stop {}", names.join(" ")))
    }

    /// Start the given services (all when none are named).
    pub fn up(&self, services: &[String]) -> String {
        if self.stack {
            let list = if services.is_empty() {
                format!(
                    "$(docker service ls -q --filter label=com.docker.stack.namespace={})",
                    sh_quote(&self.project)
                )
            } else {
                services
                    .iter()
                    .map(|s| sh_quote(&self.swarm_service(s)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return format!(
                "for s in {list}; do n=$(docker service inspect -f '{{{{index .Spec.Labels \"{REPLICAS_LABEL}\"}}}}' \"$s\") || exit 1; case \"$n\" in ''|'<no value>') continue;; esac; docker service scale -d \"$s\"=\"$n\" >/dev/null && docker service update -d --label-rm {REPLICAS_LABEL} \"$s\" >/dev/null || exit 1; done"
            );
        }
        let names: Vec<String> = services.iter().map(|s| sh_quote(s)).collect();
        self.cli(format!("up -d {}", names.join(" ")).trim_end())
    }

    /// Create the project's named volume with its labels, so a later
    /// `up`/deploy adopts it instead of warning that it was made outside.
    pub fn create_volume(&self, volume: &str) -> String {
        let labels = if self.stack {
            format!(
                "--label com.docker.stack.namespace={}",
                sh_quote(&self.project)
            )
        } else {
            format!(
                "--label com.docker.compose.project={} --label com.docker.compose.volume={}",
                sh_quote(&self.project),
                sh_quote(volume)
            )
        };
        format!(
            "docker volume inspect {n} >/dev/null 2>&1 || docker volume create {labels} {n} >/dev/null",
            n = sh_quote(&self.volume_name(volume)),
        )
    }
}

/// The service label holding a stack service's replica count while
/// migrate has it scaled to zero (the same label `migrate docker` uses).
pub const REPLICAS_LABEL: &str = migrate_docker::lifecycle::REPLICAS_LABEL;

/// compose v1's rule for a project name from a directory: its basename,
/// lowercased, keeping only letters and digits.
pub fn default_project(dir: &str) -> String {
    dir.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The compose service that runs a recipe service on this side.
pub fn service_name<'a>(side: &'a SideDef, recipe_service: &'a str) -> &'a str {
    side.compose_services
        .get(recipe_service)
        .map_or(recipe_service, String::as_str)
}

/// The database engines moved by dump and load (migrate_db's).
pub use migrate_db::Engine as DbEngine;

/// Where a side's database admin tools run, as migrate_db renders them:
/// on the server (PostgreSQL as the `postgres` system user, MariaDB as root
/// over its socket) or in the database's compose/stack service container.
#[derive(Debug, Clone)]
pub struct DbShell {
    client: migrate_db::Client,
}

impl DbShell {
    pub fn new(side: &SideDef, db_service: Option<&str>) -> DbShell {
        DbShell::for_engine(DbEngine::Postgresql, side, db_service)
    }

    pub fn for_engine(engine: DbEngine, side: &SideDef, db_service: Option<&str>) -> DbShell {
        let place = match Project::of(side) {
            None => migrate_db::Place::Host,
            Some(c) => {
                let service = service_name(side, db_service.unwrap_or("db")).to_string();
                if c.stack {
                    migrate_db::Place::StackService {
                        stack: c.project,
                        service,
                    }
                } else {
                    migrate_db::Place::ComposeService {
                        dir: c.dir,
                        project: c.project,
                        service,
                    }
                }
            }
        };
        DbShell {
            client: migrate_db::Client::new(engine, place),
        }
    }

    pub fn engine(&self) -> DbEngine {
        self.client.engine
    }

    pub fn client(&self) -> &migrate_db::Client {
        &self.client
    }

    pub fn start(&self) -> Option<String> {
        self.client.start()
    }

    /// `program` (already shell words) as the database superuser.
    pub fn run(&self, program: &str) -> String {
        self.client.place.run_quoted(self.client.engine, program)
    }

    pub fn sql(&self, db: Option<&str>, sql: &str) -> String {
        self.client.sql(db, sql)
    }

    pub fn load(&self, db: &str) -> String {
        self.client.load(db)
    }

    pub fn dump(&self, db: &str) -> String {
        self.client.dump(db, migrate_db::client::Ownership::Keep)
    }

    pub fn backup(&self, db: &str) -> (String, &'static str) {
        self.client.backup(db)
    }

    pub fn wait_ready(&self) -> String {
        self.client.wait_ready()
    }

    /// `table|count` per table of `db`, sorted by table (a two-round count
    /// rendered as one pipeline: the count statements are generated by the
    /// server, each table name escaped there).
    pub fn row_counts(&self, db: &str) -> String {
        let e = self.client.engine;
        let generate = match e {
            DbEngine::Postgresql => "select format('select %L || ''|'' || count(*) from %I.%I;', n.nspname||'.'||c.relname, n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') and n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema' order by 1".to_string(),
            DbEngine::Mariadb => format!(
                "select concat('select ', quote(table_name), ', ''|'', count(*) from `', replace(table_name, '`', '``'), '`;') from information_schema.tables where table_schema = {} and table_type = 'BASE TABLE' order by table_name",
                migrate_db::sql::literal(e, db)
            ),
        };
        format!(
            "{} | {}",
            self.sql(Some(db), &generate),
            self.client.query(Some(db))
        )
    }
}

/// The volume mountpoint a side's root defaults to when it names a compose
/// volume and no root.
pub fn volume_root(c: &Project, volume: &str) -> String {
    format!("{DOCKER_ROOT}/volumes/{}/_data", c.volume_name(volume))
}

/// Prints the daemon's data root; the plan refuses when the side's root was
/// derived from docker's default and the daemon uses another.
pub fn volume_root_check() -> &'static str {
    "docker info -f '{{.DockerRootDir}}'"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side() -> SideDef {
        SideDef {
            host: "dst".into(),
            root: String::new(),
            compose: Some("/srv/Next-Cloud/".into()),
            ..Default::default()
        }
    }

    #[test]
    fn projects_follow_composes_naming() {
        let c = Project::of(&side()).unwrap();
        assert_eq!(c.project, "nextcloud");
        assert_eq!(c.volume_name("html"), "nextcloud_html");
        assert_eq!(
            volume_root(&c, "html"),
            "/var/lib/docker/volumes/nextcloud_html/_data"
        );
        let mut s = side();
        s.project = Some("nc".into());
        assert_eq!(Project::of(&s).unwrap().project, "nc");
        assert!(Project::of(&SideDef::default()).is_none());
    }

    #[test]
    fn commands_run_in_the_service_container() {
        let c = Project::of(&side()).unwrap();
        let s = c.exec(
            "app",
            Some("www-data"),
            Some("/var/www/html"),
            &[("A".into(), "b c".into())],
            "php occ status",
        );
        assert!(
            s.contains("cd /srv/Next-Cloud/ && $(docker compose version"),
            "{s}"
        );
        assert!(
            s.contains(
                "-p nextcloud exec -T -u www-data -w /var/www/html -e 'A=b c' app php occ status; else"
            ),
            "{s}"
        );
        assert!(
            s.contains("run --rm --no-deps -T -u www-data -w /var/www/html -e 'A=b c' app php occ status; fi"),
            "{s}"
        );
        let db = DbShell::new(&side(), Some("db"));
        assert!(
            db.sql(Some("nc"), "select 1")
                .contains("exec -T -u postgres db psql")
        );
        let plain = DbShell::new(&SideDef::default(), Some("db"));
        assert_eq!(
            plain.sql(None, "select 1"),
            "(cd / && runuser -u postgres -- psql -X -Atq -v ON_ERROR_STOP=1 -c 'select 1')"
        );
    }

    /// The rendered commands are valid shell, and the CLI choice works with
    /// whichever compose this machine has (or none: then it names v1's).
    #[test]
    fn the_compose_cli_choice_is_valid_shell() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("echo {COMPOSE_CLI}"))
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.trim() == "docker compose" || s.trim() == "docker-compose",
            "{s}"
        );
    }
}
