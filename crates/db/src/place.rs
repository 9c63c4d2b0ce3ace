//! Where a database server runs on its host, and how a client program is
//! run there as the database superuser. Every command comes out in
//! parentheses, so callers can pipe and redirect it as one command.
//!
//! * [`Place::Host`]: Debian's defaults: PostgreSQL as the `postgres`
//!   system user (runuser, peer authentication over the socket), MariaDB as
//!   root over its socket.
//! * [`Place::Container`]: `docker exec` into a named container.
//! * [`Place::ComposeService`]: the running container of a compose
//!   service (`compose exec`), or a one-off `run --rm --no-deps` of it when
//!   none runs (a destination's project is not up yet).
//! * [`Place::StackService`]: the running task of a swarm service, found
//!   by its label; a service scaled to zero is scaled to one first (swarm has
//!   no one-off run, and a copy outside the stack would miss its networks
//!   and secrets).
//!
//! Inside a container the official images' superuser passwords come from the
//! container's own environment into PGPASSWORD/MYSQL_PWD there, so they are
//! on no command line. MariaDB's clients are called by their mariadb-* names
//! and fall back to the mysql* names where those are all there is.

use migrate_remote::sh_quote;

use crate::engine::Engine;

/// The service label holding a stack service's replica count while migrate
/// has it scaled to zero (the same label `migrate docker` sets).
pub const REPLICAS_LABEL: &str = "migrate.replicas-before";

/// The compose CLI: v2's `docker compose` plugin where it exists, else v1's
/// `docker-compose` (Debian bookworm ships 1.29). Chosen on the server at
/// run time, unquoted on purpose so "docker compose" splits into two words.
pub const COMPOSE_CLI: &str =
    "$(docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)";

/// MariaDB >= 10.5 names its clients mariadb, mariadb-dump, mariadb-admin;
/// older servers and images only have mysql, mysqldump, mysqladmin.
const MARIADB_NAMES: &str = "command -v \"$1\" >/dev/null 2>&1 || case \"$1\" in mariadb) shift; set -- mysql \"$@\";; mariadb-dump) shift; set -- mysqldump \"$@\";; mariadb-admin) shift; set -- mysqladmin \"$@\";; esac; ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Host,
    Container(String),
    ComposeService {
        /// The directory holding the compose file.
        dir: String,
        /// The compose project name (`-p`).
        project: String,
        service: String,
    },
    StackService {
        stack: String,
        service: String,
    },
}

impl Place {
    /// How the place is named in reports.
    pub fn describe(&self) -> String {
        match self {
            Place::Host => "the host".into(),
            Place::Container(c) => format!("container {c}"),
            Place::ComposeService {
                project, service, ..
            } => format!("service {service} of compose project {project}"),
            Place::StackService { stack, service } => {
                format!("service {service} of stack {stack}")
            }
        }
    }

    /// A swarm service's name (`<stack>_<service>`).
    fn swarm_service(stack: &str, service: &str) -> String {
        format!("{stack}_{service}")
    }

    /// `cd DIR && <compose> -p PROJECT SUB`.
    fn compose(dir: &str, project: &str, sub: &str) -> String {
        format!(
            "cd {} && {COMPOSE_CLI} -p {} {sub}",
            sh_quote(dir),
            sh_quote(project)
        )
    }

    /// The program inside a container: the superuser's password moved from
    /// the container's environment into the client's, then the program.
    fn in_container(engine: Engine, argv: &str) -> String {
        let env = match engine {
            Engine::Postgresql => {
                "[ -z \"${POSTGRES_PASSWORD:-}\" ] || export PGPASSWORD=\"$POSTGRES_PASSWORD\"; exec \"$@\""
                    .to_string()
            }
            Engine::Mariadb => format!(
                "p=\"${{MARIADB_ROOT_PASSWORD:-${{MYSQL_ROOT_PASSWORD:-}}}}\"; [ -z \"$p\" ] || export MYSQL_PWD=\"$p\"; {MARIADB_NAMES}exec \"$@\""
            ),
        };
        format!("sh -c {} sh {argv}", sh_quote(&env))
    }

    /// The program in a compose or stack service's container. PostgreSQL
    /// runs as is there: the official image trusts its local socket, and
    /// these commands have always run without the password shim.
    fn in_service(engine: Engine, argv: &str) -> String {
        match engine {
            Engine::Postgresql => argv.to_string(),
            Engine::Mariadb => Self::in_container(engine, argv),
        }
    }

    /// The `docker exec`/`compose exec` user option for an engine.
    fn user(engine: Engine) -> &'static str {
        match engine {
            Engine::Postgresql => " -u postgres",
            Engine::Mariadb => "",
        }
    }

    /// A shell command running `argv` (raw words, quoted here) as the
    /// database superuser at this place; stdin and stdout pass through.
    pub fn run(&self, engine: Engine, argv: &[String]) -> String {
        let words: Vec<String> = argv.iter().map(|w| sh_quote(w)).collect();
        self.run_quoted(engine, &words.join(" "))
    }

    /// As [`Place::run`], for words already quoted for the shell.
    pub fn run_quoted(&self, engine: Engine, argv: &str) -> String {
        let user = Self::user(engine);
        match self {
            Place::Host => match engine {
                Engine::Postgresql => format!("(cd / && runuser -u postgres -- {argv})"),
                Engine::Mariadb => format!(
                    "(cd / && sh -c {} sh {argv})",
                    sh_quote(&format!("{MARIADB_NAMES}exec \"$@\""))
                ),
            },
            Place::Container(c) => format!(
                "(docker exec -i{user} {} {})",
                sh_quote(c),
                Self::in_container(engine, argv)
            ),
            Place::ComposeService {
                dir,
                project,
                service,
            } => {
                let find = format!(
                    "docker ps -q --filter label=com.docker.compose.project={} --filter label=com.docker.compose.service={} | head -n 1",
                    sh_quote(project),
                    sh_quote(service)
                );
                let prog = Self::in_service(engine, argv);
                let svc = sh_quote(service);
                format!(
                    "(if [ -n \"$({find})\" ]; then {exec}; else {run}; fi)",
                    exec = Self::compose(dir, project, &format!("exec -T{user} {svc} {prog}")),
                    run = Self::compose(
                        dir,
                        project,
                        &format!("run --rm --no-deps -T{user} {svc} {prog}")
                    ),
                )
            }
            Place::StackService { stack, service } => {
                let name = sh_quote(&Self::swarm_service(stack, service));
                let find = format!(
                    "docker ps -q --filter label=com.docker.swarm.service.name={name} | head -n 1"
                );
                let missing = sh_quote(&format!(
                    "service {service} of stack {stack} has no running container"
                ));
                format!(
                    "(c=$({find}); if [ -z \"$c\" ]; then docker service scale -d {name}=1 >/dev/null || exit 1; for i in $(seq 1 240); do c=$({find}); [ -n \"$c\" ] && break; sleep 0.5; done; fi; [ -n \"$c\" ] || {{ echo {missing} >&2; exit 1; }}; docker exec -i{user} \"$c\" {})",
                    Self::in_service(engine, argv)
                )
            }
        }
    }

    /// Start the database's container where the place is a compose or stack
    /// service (the destination's project is not running before its data is
    /// in); None elsewhere. Retried: a run killed while compose was creating
    /// the container can leave compose's half-done create behind, which the
    /// next `up` trips on once and then adopts.
    pub fn start(&self) -> Option<String> {
        let up = match self {
            Place::Host | Place::Container(_) => return None,
            Place::ComposeService {
                dir,
                project,
                service,
            } => Self::compose(dir, project, &format!("up -d {}", sh_quote(service))),
            // A service migrate scaled to zero gets its replica count back;
            // one at zero for another reason is left to `run`, which scales
            // it to one when a client needs it.
            Place::StackService { stack, service } => format!(
                "for s in {}; do n=$(docker service inspect -f '{{{{index .Spec.Labels \"{REPLICAS_LABEL}\"}}}}' \"$s\") || exit 1; case \"$n\" in ''|'<no value>') continue;; esac; docker service scale -d \"$s\"=\"$n\" >/dev/null && docker service update -d --label-rm {REPLICAS_LABEL} \"$s\" >/dev/null || exit 1; done",
                sh_quote(&Self::swarm_service(stack, service))
            ),
        };
        Some(format!(
            "for i in 1 2 3 4; do ({up}) >/dev/null 2>&1 && exit 0; sleep 2; done; {up}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn host_runs_postgres_as_its_system_user() {
        assert_eq!(
            Place::Host.run(Engine::Postgresql, &argv(&["psql", "-c", "select 1"])),
            "(cd / && runuser -u postgres -- psql -c 'select 1')"
        );
        let m = Place::Host.run(Engine::Mariadb, &argv(&["mariadb", "-e", "select 1"]));
        assert!(m.starts_with("(cd / && sh -c '"), "{m}");
        assert!(m.ends_with("sh mariadb -e 'select 1')"), "{m}");
    }

    #[test]
    fn containers_take_passwords_from_their_own_environment() {
        let p = Place::Container("my db".into()).run(Engine::Postgresql, &argv(&["pg_isready"]));
        assert!(
            p.starts_with("(docker exec -i -u postgres 'my db' sh -c '"),
            "{p}"
        );
        assert!(p.contains("PGPASSWORD=\"$POSTGRES_PASSWORD\""), "{p}");
        let m = Place::Container("c".into()).run(Engine::Mariadb, &argv(&["mariadb"]));
        assert!(m.starts_with("(docker exec -i c sh -c '"), "{m}");
        assert!(m.contains("MYSQL_PWD=\"$p\""), "{m}");
        // No password value is ever spliced in: only variable names.
        assert!(!m.contains("MYSQL_PWD=secret"));
    }

    #[test]
    fn compose_services_exec_or_run_once() {
        let c = Place::ComposeService {
            dir: "/srv/Next Cloud".into(),
            project: "nc".into(),
            service: "db".into(),
        };
        let s = c.run(Engine::Postgresql, &argv(&["psql"]));
        assert!(s.contains("--filter label=com.docker.compose.project=nc --filter label=com.docker.compose.service=db"), "{s}");
        assert!(
            s.contains("cd '/srv/Next Cloud' && $(docker compose version"),
            "{s}"
        );
        assert!(s.contains("-p nc exec -T -u postgres db psql; else"), "{s}");
        assert!(
            s.contains("-p nc run --rm --no-deps -T -u postgres db psql; fi"),
            "{s}"
        );
        let up = c.start().unwrap();
        assert!(
            up.contains("-p nc up -d db) >/dev/null 2>&1 && exit 0"),
            "{up}"
        );
    }

    #[test]
    fn stack_services_are_found_by_label_and_scaled_up_when_at_zero() {
        let s = Place::StackService {
            stack: "app".into(),
            service: "db".into(),
        };
        let r = s.run(Engine::Mariadb, &argv(&["mariadb"]));
        assert!(
            r.contains("label=com.docker.swarm.service.name=app_db"),
            "{r}"
        );
        assert!(r.contains("docker service scale -d app_db=1"), "{r}");
        assert!(r.contains("docker exec -i \"$c\" sh -c"), "{r}");
        assert!(s.start().unwrap().contains(REPLICAS_LABEL));
        assert_eq!(Place::Host.start(), None);
    }

    /// What the container shim does, run by a real shell: the password
    /// reaches the client's environment and not its arguments, and the
    /// mysql* names stand in where mariadb* are missing.
    #[test]
    fn the_in_container_shim_works_in_a_real_shell() {
        let dir = std::env::temp_dir().join(format!("migrate-db-shim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("mysql");
        std::fs::write(&fake, "#!/bin/sh\necho \"mysql pwd=$MYSQL_PWD args=$*\"\n").unwrap();
        // The shim starts `sh` by name: the only other program on PATH.
        std::os::unix::fs::symlink("/bin/sh", dir.join("sh")).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&fake)
            .status()
            .unwrap();
        let cmd = Place::in_container(Engine::Mariadb, "mariadb -e 'select 1'");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd)
            .env("PATH", &dir)
            .env("MARIADB_ROOT_PASSWORD", "s3cret")
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "mysql pwd=s3cret args=-e select 1\n"
        );
        assert!(!cmd.contains("s3cret"));
    }
}
