//! `migrate docker …` (and its old form `migrate volume …`): thin wrappers over
//! migrate-docker that print a human report and return the report for
//! `--json`.

use std::time::Duration;

use migrate_docker::lifecycle::Selector;
use migrate_docker::owners::MapOwner;
use migrate_docker::volume::{self, VolumeMove};
use migrate_docker::{DockerError, DockerHost};
use migrate_remote::HostSpec;

use serde_json::{Value, json};

use super::reply::{Failure, runtime, to_json};
use super::{Global, docker_dry_run};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Inventory of a server's docker: containers, stacks, services, volumes, images.
    Ls {
        /// ssh://user@host:port, user@host, an ssh_config alias, or local.
        host: String,
    },
    /// Stop containers (dependents first): a compose project, named containers,
    /// or every container using a volume.
    Stop(SelectArgs),
    /// Start containers, dependencies first, waiting for each to be healthy.
    Start(SelectArgs),
    /// Scale swarm services to 0, remembering their replica counts on the service.
    ScaleDown(ScaleArgs),
    /// Scale swarm services back to the replica counts remembered by scale-down.
    ScaleUp(ScaleArgs),
    /// Numeric owners of a volume's files against the users its containers run
    /// as; `--map-owner FROM:TO` remaps one id.
    Owners {
        host: String,
        volume: String,
        #[arg(long)]
        map_owner: Option<MapOwner>,
        /// Show the remap script and how many entries it would change; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// Move a named docker volume server to server.
    Volume(VolumeArgs),
    /// Pipe a database dump from SRC straight into a database on DST (inside a
    /// container with `docker exec -i`), server to server, no temporary file;
    /// then compare every table's row count.
    Db(DbArgs),
    /// Move the whole docker root (/var/lib/docker) from SRC to DST: stop docker on
    /// both (masked first under systemd), copy, verify, start DST's docker and
    /// check it serves the same volumes and images.
    RootMove {
        src: String,
        dst: String,
        /// Replace a destination docker root that is in use (saved to a tar first).
        #[arg(long)]
        force: bool,
        /// Start the source's docker again afterwards (default: it stays stopped).
        #[arg(long)]
        restart_source: bool,
        /// Show the commands and API calls; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// Move a host's docker root to a bigger disk and bind-mount it in place.
    RootRelocate {
        /// The host (`local` for this machine).
        host: String,
        /// The new directory, e.g. /mnt/bigdisk/docker (new or empty).
        new_dir: String,
        /// Also add the bind mount to /etc/fstab.
        #[arg(long)]
        fstab: bool,
        /// Show the commands and API calls; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// Stop or start a host's docker daemon (systemd: mask/unmask too; without
    /// systemd: by PID, restarted from its saved command line).
    Daemon {
        #[arg(value_parser = ["stop", "start"])]
        action: String,
        host: String,
        /// Show the script; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// Scan containers' recent logs for permission errors.
    LogsCheck {
        host: String,
        /// Containers to scan (default: all running containers).
        containers: Vec<String>,
        /// Lines of each log to read.
        #[arg(long, default_value_t = 1000)]
        tail: usize,
    },
}

#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    pub host: String,
    /// Containers of this compose project.
    #[arg(long)]
    pub project: Option<String>,
    /// Containers by name (repeatable).
    #[arg(long = "container")]
    pub containers: Vec<String>,
    /// Containers that mount this volume (repeatable).
    #[arg(long = "volume")]
    pub volumes: Vec<String>,
    /// Seconds to wait for each container to become healthy on start.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
    /// Seconds to let started containers run before their logs are scanned
    /// for permission errors.
    #[arg(long, default_value_t = 5)]
    pub settle: u64,
    /// Show the commands and API calls; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// Source host.
    pub src: String,
    /// Destination host.
    pub dst: String,
    /// postgres or mariadb (mysql).
    #[arg(long)]
    pub engine: migrate_docker::db::Engine,
    /// Database to dump; leave out with --all.
    #[arg(long)]
    pub db: Option<String>,
    /// Every database (pg_dumpall / mariadb-dump --all-databases).
    #[arg(long, conflicts_with = "db")]
    pub all: bool,
    /// The source database runs in this container (default: on the host).
    #[arg(long)]
    pub from_container: Option<String>,
    /// Load this dump file from the source host instead of dumping
    /// (.gz, .zst, .xz, .bz2, .lz4 or plain SQL).
    #[arg(long, conflicts_with_all = ["from_container", "all"])]
    pub dump_file: Option<String>,
    /// The destination database runs in this container (default: on the host).
    #[arg(long)]
    pub to_container: Option<String>,
    /// Destination database name (default: the source's).
    #[arg(long)]
    pub to_db: Option<String>,
    /// Load into a non-empty database; it is dumped to /var/backups/migrate on
    /// the destination first.
    #[arg(long)]
    pub force: bool,
    /// Show the dump and load commands; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    pub host: String,
    /// Every service of this stack.
    #[arg(long)]
    pub stack: Option<String>,
    /// Services by name (repeatable).
    #[arg(long = "service")]
    pub services: Vec<String>,
    /// Seconds to wait for the tasks.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
    /// Show the commands and API calls; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct VolumeArgs {
    /// `HOST:VOLUME`
    pub src: String,
    /// `HOST[:VOLUME]` (same name when VOLUME is left out).
    pub dst: String,
    /// Overwrite a non-empty destination volume; its content is saved to a
    /// tar under /var/backups/migrate on the destination first.
    #[arg(long)]
    pub force: bool,
    /// Stop the containers using the source volume for the final pass and
    /// start them again afterwards.
    #[arg(long)]
    pub stop: bool,
    /// Remap a numeric id on the destination after the copy (uid and gid), e.g. 991:1000.
    #[arg(long)]
    pub map_owner: Option<MapOwner>,
    /// Parallel tar streams; without it, chosen as `migrate copy` does.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub streams: Option<u16>,
    /// Read both servers and show what would be created, stopped, copied and
    /// remapped; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

fn host(s: &str) -> Result<HostSpec, DockerError> {
    HostSpec::parse(s).map_err(DockerError::from)
}

async fn connect(h: &str) -> Result<DockerHost, DockerError> {
    DockerHost::connect(&host(h)?).await
}

async fn run_async(cmd: Command, g: &Global) -> Result<Value, Failure> {
    let text = !g.json;
    let result = match cmd {
        Command::Volume(a) => return volume_async(a, g).await,
        Command::Ls { host } => {
            let dh = connect(&host).await?;
            let inv = migrate_docker::inventory::inventory(&dh).await?;
            dh.close().await;
            if text {
                print!("{}", migrate_docker::inventory::render(&inv));
            }
            to_json(&inv)
        }
        Command::Stop(a) if a.dry_run => return docker_dry_run::stop(&selector(&a)?, &a, g).await,
        Command::Start(a) if a.dry_run => {
            return docker_dry_run::start(&selector(&a)?, &a, g).await;
        }
        Command::Stop(a) => {
            let sel = selector(&a)?;
            let dh = connect(&a.host).await?;
            let st = migrate_docker::lifecycle::stop(&dh, &sel).await?;
            dh.close().await;
            if text {
                println!("stopped (in this order): {}", list(&st.stopped));
                if !st.already_stopped.is_empty() {
                    println!("were not running: {}", st.already_stopped.join(", "));
                }
            }
            to_json(&st)
        }
        Command::Start(a) => {
            let sel = selector(&a)?;
            let dh = connect(&a.host).await?;
            let cs = migrate_docker::lifecycle::select(&dh, &sel).await?;
            let names: Vec<String> = cs.into_iter().map(|c| c.name).collect();
            let order =
                migrate_docker::lifecycle::start(&dh, &names, Duration::from_secs(a.timeout))
                    .await?;
            // Permission errors show up when the app first touches its files,
            // which may be after the health check passed.
            tokio::time::sleep(Duration::from_secs(a.settle)).await;
            let findings = migrate_docker::logs::scan(&dh, &order, 200).await?;
            dh.close().await;
            if text {
                println!("started and healthy (in this order): {}", list(&order));
                print_findings(&findings);
            }
            json!({"started": order, "permission_errors": to_json(&findings)})
        }
        Command::ScaleDown(a) | Command::ScaleUp(a)
            if a.stack.is_none() && a.services.is_empty() =>
        {
            return Err(
                DockerError::BadInput("name a --stack or at least one --service".into()).into(),
            );
        }
        Command::ScaleDown(a) if a.dry_run => return docker_dry_run::scale(&a, false, g).await,
        Command::ScaleUp(a) if a.dry_run => return docker_dry_run::scale(&a, true, g).await,
        Command::ScaleDown(a) => {
            let dh = connect(&a.host).await?;
            let r =
                migrate_docker::lifecycle::scale_down(&dh, a.stack.as_deref(), &a.services).await?;
            dh.close().await;
            if text {
                for s in &r {
                    println!(
                        "{}: {} → 0 replicas (count remembered on the service)",
                        s.service, s.replicas
                    );
                }
                if r.is_empty() {
                    println!("nothing to scale down (global services, or already scaled down)");
                }
            }
            json!({ "services": to_json(&r) })
        }
        Command::ScaleUp(a) => {
            let dh = connect(&a.host).await?;
            let r = migrate_docker::lifecycle::scale_up(
                &dh,
                a.stack.as_deref(),
                &a.services,
                Duration::from_secs(a.timeout),
            )
            .await?;
            dh.close().await;
            if text {
                for s in &r {
                    println!(
                        "{}: back to {} replicas, all running",
                        s.service, s.replicas
                    );
                }
                if r.is_empty() {
                    println!("nothing to scale up: no service remembers a count from scale-down");
                }
            }
            json!({ "services": to_json(&r) })
        }
        Command::Owners {
            host,
            volume,
            map_owner: Some(m),
            dry_run: true,
        } => return docker_dry_run::owners(&host, &volume, m, g).await,
        Command::Owners {
            host,
            volume,
            map_owner,
            dry_run: _,
        } => {
            volume::check_volume_name(&volume)?;
            let dh = connect(&host).await?;
            let v = volume::inspect(&dh, &volume).await?;
            let remapped = match map_owner {
                Some(m) => Some(migrate_docker::owners::remap(&dh.host, &v.mountpoint, m).await?),
                None => None,
            };
            let found = migrate_docker::owners::scan(&dh.host, &v.mountpoint).await?;
            let users = migrate_docker::owners::volume_users(&dh, &volume).await?;
            let rep = migrate_docker::owners::judge(&found, &users);
            dh.close().await;
            if text {
                if let Some(n) = remapped {
                    println!("remapped {n} entries");
                }
                for (u, gid, n) in &rep.owners {
                    println!("{u}:{gid}  {n} entries");
                }
                for u in &rep.users {
                    println!(
                        "container {} runs as {:?} (uid {})",
                        u.container,
                        u.user,
                        u.uid.map_or("?".into(), |x| x.to_string())
                    );
                }
                for p in &rep.problems {
                    println!("problem: {p}");
                }
            }
            let result = json!({"remapped": remapped, "report": to_json(&rep)});
            if !rep.problems.is_empty() {
                let e = DockerError::Refused(format!(
                    "{} ownership problem(s) on volume {volume}",
                    rep.problems.len()
                ));
                return Err(Failure::from(e).with_result(result));
            }
            result
        }
        Command::Db(a) => {
            if a.db.is_none() && !a.all && a.dump_file.is_none() {
                return Err(DockerError::BadInput(
                    "name the database with --db NAME, or pass --all or --dump-file".into(),
                )
                .into());
            }
            if a.dry_run {
                return docker_dry_run::db(&a, g).await;
            }
            let at = |c: Option<String>| {
                c.map_or(
                    migrate_docker::db::At::Host,
                    migrate_docker::db::At::Container,
                )
            };
            let m = migrate_docker::db::DbMove {
                engine: a.engine,
                src: host(&a.src)?,
                src_at: at(a.from_container),
                src_db: a.db,
                dump_file: a.dump_file,
                dst: host(&a.dst)?,
                dst_at: at(a.to_container),
                dst_db: a.to_db,
                force: a.force,
            };
            let progress = g.progress();
            let r = migrate_docker::db::move_db(&m, &progress).await?;
            if text {
                println!(
                    "{} → {}{}: loaded ({})",
                    r.source,
                    r.target,
                    r.database
                        .as_deref()
                        .map(|d| format!(" database {d}"))
                        .unwrap_or_default(),
                    r.mode
                );
                if r.compared {
                    println!("  row counts equal in all {} tables:", r.row_counts.len());
                    for (t, (a, _)) in &r.row_counts {
                        println!("    {t}: {}", a.unwrap_or(0));
                    }
                }
                for n in &r.notes {
                    println!("  note: {n}");
                }
            }
            to_json(&r)
        }
        Command::RootMove {
            src,
            dst,
            force,
            restart_source,
            dry_run: true,
        } => return docker_dry_run::root_move(&src, &dst, force, restart_source, g).await,
        Command::RootMove {
            src,
            dst,
            force,
            restart_source,
            dry_run: false,
        } => {
            let m = migrate_docker::root::RootMove {
                src: host(&src)?,
                dst: host(&dst)?,
                force,
                restart_source,
            };
            let progress = g.progress();
            let r = migrate_docker::root::move_root(&m, &progress).await?;
            if text {
                print_root(&r);
            }
            to_json(&r)
        }
        Command::RootRelocate {
            host: h,
            new_dir,
            fstab,
            dry_run: true,
        } => return docker_dry_run::root_relocate(&h, &new_dir, fstab, g).await,
        Command::RootRelocate {
            host: h,
            new_dir,
            fstab,
            dry_run: false,
        } => {
            let r = migrate_docker::root::Relocate {
                host: host(&h)?,
                new_dir,
                fstab,
            };
            let progress = g.progress();
            let r = migrate_docker::root::relocate(&r, &progress).await?;
            if text {
                print_root(&r);
            }
            to_json(&r)
        }
        Command::Daemon {
            action,
            host: h,
            dry_run: true,
        } => return docker_dry_run::daemon(&action, &h, g).await,
        Command::Daemon {
            action,
            host: h,
            dry_run: false,
        } => {
            let hs = host(&h)?;
            let hh = migrate_remote::Host::connect(&hs).await?;
            let init = migrate_docker::daemon::detect(&hh).await?;
            let st = if action == "stop" {
                migrate_docker::daemon::stop(&hh, &init).await?
            } else {
                migrate_docker::daemon::start(&hh, &init).await?
            };
            hh.close().await;
            if text {
                println!("docker on {}: {}", st.host, st.action);
                for s in &st.skipped {
                    println!("  skipped: {s}");
                }
            }
            to_json(&st)
        }
        Command::LogsCheck {
            host,
            containers,
            tail,
        } => {
            let dh = connect(&host).await?;
            let names = if containers.is_empty() {
                migrate_docker::inventory::containers(&dh)
                    .await?
                    .into_iter()
                    .filter(|c| c.state == "running")
                    .map(|c| c.name)
                    .collect()
            } else {
                containers
            };
            let f = migrate_docker::logs::scan(&dh, &names, tail).await?;
            dh.close().await;
            if text {
                print_findings(&f);
                if f.is_empty() {
                    println!("no permission errors in the logs of {}", list(&names));
                }
            }
            let result = json!({ "permission_errors": to_json(&f) });
            if !f.is_empty() {
                let e = DockerError::Failed(format!(
                    "{} permission error(s) in container logs",
                    f.len()
                ));
                return Err(Failure::from(e).with_result(result));
            }
            result
        }
    };
    Ok(result)
}

fn print_root(r: &migrate_docker::root::RootReport) {
    println!(
        "docker root {} → {}: {} files, {} bytes, identical (sha256 verified), {:.1} s",
        r.src_root, r.dst_root, r.files, r.bytes, r.seconds
    );
    for st in &r.steps {
        println!("  docker on {}: {}", st.host, st.action);
        for s in &st.skipped {
            println!("    skipped: {s}");
        }
    }
    if let Some(b) = &r.backup {
        println!("  the destination's previous docker root is saved in {b}");
    }
    println!("  now serving volumes: {}", list(&r.volumes));
    println!("  now serving images: {}", list(&r.images));
    for n in &r.notes {
        println!("  note: {n}");
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn print_findings(f: &[migrate_docker::logs::Finding]) {
    for x in f {
        println!("permission error in {}: {}", x.container, x.line);
    }
}

fn selector(a: &SelectArgs) -> Result<Selector, DockerError> {
    let sel = Selector {
        project: a.project.clone(),
        containers: a.containers.clone(),
        volumes: a.volumes.clone(),
    };
    if sel.is_empty() {
        return Err(DockerError::BadInput(
            "name a --project, a --container or a --volume".into(),
        ));
    }
    Ok(sel)
}

pub fn run(cmd: Command, g: &Global) -> Result<Value, Failure> {
    runtime()?.block_on(run_async(cmd, g))
}

pub fn volume(args: VolumeArgs, g: &Global) -> Result<Value, Failure> {
    runtime()?.block_on(volume_async(args, g))
}

async fn volume_async(args: VolumeArgs, g: &Global) -> Result<Value, Failure> {
    if args.dry_run {
        return docker_dry_run::volume(&args, g).await;
    }
    let (src, sv) = volume::parse_src(&args.src)?;
    let (dst, dv) = volume::parse_dst(&args.dst)?;
    let m = VolumeMove {
        dst_volume: dv.unwrap_or_else(|| sv.clone()),
        src,
        src_volume: sv,
        dst,
        force: args.force,
        stop: args.stop,
        map_owner: args.map_owner,
        streams: super::copy::streams_arg(args.streams),
    };
    let progress = g.progress();
    let r = volume::move_volume(&m, &progress).await?;
    if !g.json {
        println!(
            "{} → {}: {} files, {} bytes, identical (sha256 verified){}",
            r.src,
            r.dst,
            r.files,
            r.bytes,
            if r.created {
                "; destination volume created"
            } else {
                ""
            }
        );
        for p in &r.passes {
            println!(
                "  {} pass: {} files / {} bytes sent in {:.1} s ({})",
                if p.final_pass { "final" } else { "bulk" },
                p.files_sent,
                p.bytes_sent,
                p.seconds,
                p.mode
            );
        }
        if let Some(b) = &r.backup {
            println!("  the destination's previous content is saved in {b}");
        }
        if !r.stopped.is_empty() {
            println!(
                "  stopped for the final pass: {}; restarted: {}",
                r.stopped.join(", "),
                list(&r.restarted)
            );
        }
        if let Some(n) = r.remapped {
            println!("  remapped owners of {n} entries");
        }
        for p in &r.owners.problems {
            println!("  ownership: {p}");
        }
        for w in &r.warnings {
            println!("  warning: {w}");
        }
    }
    Ok(to_json(&r))
}
