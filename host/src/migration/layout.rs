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
    fn service_filter(&self, service: &str) -> String {
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
                "for s in {}; do n=$(docker service inspect -f '{{{{.Spec.Mode.Replicated.Replicas}}}}' \"$s\") || exit 1; if [ \"$n\" != 0 ]; then docker service update -d --label-add {REPLICAS_LABEL}=\"$n\" \"$s\" >/dev/null || exit 1; fi; docker service scale -d \"$s\"=0 >/dev/null || exit 1; for i in $(seq 1 240); do [ -z \"$(docker ps -q --filter label=com.docker.swarm.service.name=\"$s\")\" ] && break; sleep 0.5; done; done",
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

/// The database engines moved by dump and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbEngine {
    Postgresql,
    Mariadb,
}

impl DbEngine {
    pub fn parse(name: &str) -> Option<DbEngine> {
        match name {
            "postgresql" => Some(DbEngine::Postgresql),
            "mariadb" | "mysql" => Some(DbEngine::Mariadb),
            _ => None,
        }
    }
}

/// Where a side's database admin tools run: on the server (PostgreSQL as
/// the `postgres` system user, MariaDB as root over its socket, Debian's
/// defaults) or inside the database's container (the official images'
/// superusers: `postgres` over the local socket; MariaDB's root with the
/// password the container was started with, read from its environment
/// there and handed over in MYSQL_PWD, so it is on no command line).
#[derive(Debug, Clone)]
pub struct DbShell {
    engine: DbEngine,
    compose: Option<(Project, String)>,
}

impl DbShell {
    pub fn new(side: &SideDef, db_service: Option<&str>) -> DbShell {
        DbShell::for_engine(DbEngine::Postgresql, side, db_service)
    }

    pub fn for_engine(engine: DbEngine, side: &SideDef, db_service: Option<&str>) -> DbShell {
        DbShell {
            engine,
            compose: Project::of(side).map(|c| {
                let svc = service_name(side, db_service.unwrap_or("db")).to_string();
                (c, svc)
            }),
        }
    }

    pub fn engine(&self) -> DbEngine {
        self.engine
    }

    /// `compose up -d` of the database's service, where it is a container
    /// (the destination's project is not running before its data is in).
    /// Retried: a run killed while compose was creating the container can
    /// leave compose's half-done create behind, which the next `up` trips on
    /// once and then adopts.
    pub fn start(&self) -> Option<String> {
        self.compose.as_ref().map(|(c, svc)| {
            let up = c.up(std::slice::from_ref(svc));
            format!("for i in 1 2 3 4; do ({up}) >/dev/null 2>&1 && exit 0; sleep 2; done; {up}")
        })
    }

    /// A shell command running `program` (already shell words) as the
    /// database superuser; stdin and stdout pass through.
    pub fn run(&self, program: &str) -> String {
        // In parentheses: callers pipe and redirect these as one command.
        match (&self.compose, self.engine) {
            (Some((c, svc)), DbEngine::Postgresql) => {
                format!("({})", c.exec(svc, Some("postgres"), None, &[], program))
            }
            (Some((c, svc)), DbEngine::Mariadb) => {
                let with_pwd = format!(
                    "sh -c {} sh {program}",
                    sh_quote(
                        "p=\"${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}\"; [ -z \"$p\" ] || export MYSQL_PWD=\"$p\"; exec \"$@\""
                    )
                );
                format!("({})", c.exec(svc, None, None, &[], &with_pwd))
            }
            (None, DbEngine::Postgresql) => format!("(cd / && runuser -u postgres -- {program})"),
            (None, DbEngine::Mariadb) => format!("(cd / && {program})"),
        }
    }

    /// One SQL statement, answers as tab-separated lines without headers.
    pub fn sql(&self, db: Option<&str>, sql: &str) -> String {
        match self.engine {
            DbEngine::Postgresql => {
                let d = db
                    .map(|d| format!(" -d {}", sh_quote(d)))
                    .unwrap_or_default();
                self.run(&format!(
                    "psql -X -Atq -v ON_ERROR_STOP=1{d} -c {}",
                    sh_quote(sql)
                ))
            }
            DbEngine::Mariadb => {
                let d = db
                    .map(|d| format!(" -D {}", sh_quote(d)))
                    .unwrap_or_default();
                self.run(&format!("mysql -N -B{d} -e {}", sh_quote(sql)))
            }
        }
    }

    /// The client reading SQL on stdin into `db`, stopping at the first error.
    pub fn load(&self, db: &str) -> String {
        match self.engine {
            DbEngine::Postgresql => self.run(&format!(
                "psql -X -q -v ON_ERROR_STOP=1 -d {}",
                sh_quote(db)
            )),
            DbEngine::Mariadb => self.run(&format!("mysql -D {}", sh_quote(db))),
        }
    }

    /// A consistent dump of `db` as SQL on stdout (MariaDB: one
    /// transaction, so InnoDB tables need no lock; routines, triggers and
    /// events included).
    pub fn dump(&self, db: &str) -> String {
        match self.engine {
            DbEngine::Postgresql => self.run(&format!("pg_dump --no-password {}", sh_quote(db))),
            DbEngine::Mariadb => self.run(&format!(
                "mysqldump --single-transaction --routines --triggers --events --hex-blob {}",
                sh_quote(db)
            )),
        }
    }

    /// The backup form of the dump and its file suffix (PostgreSQL's custom
    /// format restores selectively with pg_restore).
    pub fn backup(&self, db: &str) -> (String, &'static str) {
        match self.engine {
            DbEngine::Postgresql => (self.run(&format!("pg_dump -Fc {}", sh_quote(db))), "dump"),
            DbEngine::Mariadb => (self.dump(db), "sql"),
        }
    }

    /// Wait until the server accepts connections (a container just started).
    pub fn wait_ready(&self) -> String {
        let probe = match self.engine {
            DbEngine::Postgresql => self.run("pg_isready -q"),
            DbEngine::Mariadb => self.run("mysqladmin ping --silent"),
        };
        format!(
            "for i in $(seq 1 120); do {probe} >/dev/null 2>&1 && exit 0; sleep 0.5; done; echo 'the database did not come up within 60 s' >&2; exit 1"
        )
    }

    /// `table|count` per table of `db`, sorted, counted exactly.
    pub fn row_counts(&self, db: &str) -> String {
        let lit = db.replace('\'', "''");
        match self.engine {
            DbEngine::Postgresql => {
                let generate = "select format('select %L || ''|'' || count(*) from %I.%I;', table_schema||'.'||table_name, table_schema, table_name) from information_schema.tables where table_type='BASE TABLE' and table_schema not in ('pg_catalog','information_schema') order by 1";
                format!(
                    "{} | {}",
                    self.sql(Some(db), generate),
                    self.run(&format!("psql -X -Atq -d {}", sh_quote(db)))
                )
            }
            DbEngine::Mariadb => {
                let generate = format!(
                    "select concat('select ''', table_name, '|'', count(*) from `', replace(table_name, '`', '``'), '`;') from information_schema.tables where table_schema = '{lit}' and table_type = 'BASE TABLE' order by table_name"
                );
                format!(
                    "{} | {}",
                    self.sql(Some(db), &generate),
                    self.run(&format!("mysql -N -B -D {}", sh_quote(db)))
                )
            }
        }
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
