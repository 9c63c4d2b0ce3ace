//! Redis travels with the app: it holds Sidekiq's unprocessed jobs (and
//! Mastodon's feeds, counters and trends), so an empty Redis on the
//! destination loses queued deliveries (mastodon/mastodon#22556). With the
//! app's web and workers stopped, this step waits for the workers' busy
//! jobs to finish, saves Redis, stops it on both sides, copies its dump
//! (and its append-only files when `appendonly` is on) with the copy crate,
//! starts Redis on the destination and compares the key counts per
//! database and Sidekiq's queue lengths.
//!
//! The app's Redis is found from its configuration on each side
//! (`REDIS_URL`, or `REDIS_HOST`/`REDIS_PORT`/`REDIS_DB`, and
//! `REDIS_PASSWORD`, `REDIS_NAMESPACE`, in `.env.production` under the
//! app's root; localhost:6379 without them). The password is handed to
//! redis-cli in its environment (`REDISCLI_AUTH`), never on a command line.
//! Where its files are comes from Redis itself (`CONFIG GET dir`, …), and
//! how it is stopped and started from the process: its systemd unit when it
//! has one (Debian's restarts a Redis that only shuts down), else
//! `SHUTDOWN` and, on the destination, `redis-server CONFIG_FILE` as the
//! user it ran as.

use migrate_remote::sh_quote;

use super::redis_state::RedisState;
use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;

pub struct Redis;

/// How long the step waits for Sidekiq's busy jobs (Sidekiq's own
/// shutdown timeout is 25 s by default).
const BUSY_WAIT_SECONDS: u32 = 60;

/// Reads the app's Redis settings (from the directory holding its
/// `.env.production`) and defines `state` (keyspace and Sidekiq's queues),
/// `conf` (where Redis keeps its files, as paths on the server) and `busy`
/// (Sidekiq's running jobs) over the layout's `rc` (redis-cli against the
/// app's Redis).
const SETTINGS: &str = r#"cd @CONFIG@ || exit 1
v() { [ -f .env.production ] || return 0; sed -n "s/^$1=//p" .env.production | tail -n 1 | sed -e "s/^[\"']//" -e "s/[\"']\$//"; }
u=$(v REDIS_URL); h=$(v REDIS_HOST); p=$(v REDIS_PORT); n=$(v REDIS_DB); ns=$(v REDIS_NAMESPACE); pw=$(v REDIS_PASSWORD)
case $u in
  unix://*) s=${u#unix://}; s=${s%%\?*}; R="-s $s" ;;
  redis://*|rediss://*) r=${u#*://}; case $r in *@*) a=${r%%@*}; pw=${a#*:}; r=${r#*@} ;; esac
    hp=${r%%/*}; case $hp in *:*) h=${hp%:*}; p=${hp##*:} ;; *) h=$hp ;; esac
    case $r in */?*) n=${r#*/} ;; esac; R="-h ${h:-localhost} -p ${p:-6379}" ;;
  *) R="-h ${h:-localhost} -p ${p:-6379}" ;;
esac
n=${n:-0}; k=${ns:+$ns:}
if [ -n "$pw" ]; then export REDISCLI_AUTH="$pw"; fi
"#;

const COMMON: &str = r#"up() { rc ping | grep -q PONG; }
state() {
  echo "db $n"; echo "namespace $ns"
  rc info keyspace | sed -n 's/^db\([0-9]*\):keys=\([0-9]*\),expires=\([0-9]*\).*/keyspace \1 \2 \3/p'
  rc -n "$n" --scan --pattern "${k}queue:*" | while read -r q; do echo "queue ${q#"${k}"queue:} $(rc -n "$n" llen "$q")"; done
  for z in schedule retry dead; do echo "$z $(rc -n "$n" zcard "$k$z")"; done
}
conf() { echo "dir $(hostdir "$(rc config get dir | sed -n 2p)")"; for c in dbfilename appendonly appenddirname appendfilename; do echo "$c $(rc config get $c | sed -n 2p)"; done; }
busy() { t=0; for i in $(rc -n "$n" smembers "${k}processes"); do b=$(rc -n "$n" hget "$k$i" busy); t=$((t + ${b:-0})); done; echo $t; }
"#;

/// A Redis on the server itself: stopped through its systemd unit when it
/// has one (Debian's restarts a Redis that only shuts down), else with
/// SHUTDOWN (which saves when Redis has save points); started again the
/// same way, or as `redis-server CONFIG_FILE` as the user it ran as.
const ON_SERVER: &str = r#"rc() { redis-cli $R "$@" 2>/dev/null | tr -d '\r'; }
hostdir() { echo "$1"; }
# Only a Redis on this server is stopped and replaced: one elsewhere (a
# managed or shared Redis) is moved by a person.
mine() { case "$R " in "-s "*|"-h localhost "*|"-h 127."*|"-h ::1 "*) return 0 ;; esac; echo "Redis at $R is not on this server: move it by hand and add \"redis\" to skip_steps" >&2; return 1; }
ensure() { up || { echo "Redis does not answer at $R (the app's REDIS_* settings): install and start it first" >&2; exit 1; }; }
pid=$(rc info server | sed -n 's/^process_id://p')
stop_redis() {
  mine || return 1
  [ -n "$pid" ] || { echo "Redis does not answer at $R (the app's REDIS_* settings)" >&2; return 1; }
  user=$(ps -o user= -p "$pid" | tr -d ' '); cfg=$(rc info server | sed -n 's/^config_file://p')
  unit=$(ps -o unit= -p "$pid" 2>/dev/null | tr -d ' ')
  case $unit in *.service) systemctl stop "$unit" || return 1 ;; *) rc shutdown >/dev/null ;; esac
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$pid" 2>/dev/null; then echo "Redis (pid $pid) did not stop" >&2; return 1; fi
}
start_redis() {
  case $unit in *.service) systemctl start "$unit" ;;
  *) [ -n "$cfg" ] || { echo 'Redis ran without a config file: start it by hand' >&2; return 1; }
     runuser -u "$user" -- redis-server "$cfg" --daemonize yes >/dev/null ;; esac
}
"#;

/// A compose project's Redis service: redis-cli in its container (the
/// password handed over in the environment), its files in the volume
/// mounted at Redis's directory, stopped and started with compose.
const IN_COMPOSE: &str = r#"R="the @SERVICE@ service of @PROJECT@"
rcon() { docker ps -q @FILTER@ | head -n 1; }
rc() { c=$(rcon); [ -n "$c" ] || return 1; docker exec -i ${REDISCLI_AUTH:+-e REDISCLI_AUTH} "$c" redis-cli "$@" 2>/dev/null | tr -d '\r'; }
mine() { :; }
hostdir() { docker inspect -f "{{range .Mounts}}{{if eq .Destination \"$1\"}}{{.Source}}{{end}}{{end}}" "$(rcon)"; }
stop_redis() { (@STOP@) >/dev/null 2>&1 || { echo "compose could not stop $R" >&2; return 1; }; }
start_redis() { (@START@) >/dev/null 2>&1 || { echo "compose could not start $R" >&2; return 1; }; }
ensure() { up && return 0; start_redis || exit 1; i=0; until up; do i=$((i + 1)); [ $i -lt 300 ] || { echo "$R does not answer" >&2; exit 1; }; sleep 0.2; done; }
"#;

/// The layouts whose Redis this step reaches.
pub fn carries(side: &super::super::definition::Side) -> bool {
    matches!(
        super::super::layout::Layout::of(side),
        super::super::layout::Layout::Directory | super::super::layout::Layout::Compose(_)
    )
}

/// Everything a side's scripts start with.
fn prelude_of(side: &super::super::definition::Side) -> String {
    use super::super::layout::{Layout, service_name};
    let layout = Layout::of(side);
    let (config, connect) = match layout.project() {
        Some(p) => {
            let svc = service_name(side, "redis");
            let connect = IN_COMPOSE
                .replace("@SERVICE@", svc)
                .replace("@PROJECT@", &p.describe().replace('"', ""))
                .replace("@FILTER@", &p.service_filter(svc))
                .replace("@STOP@", &p.cli(&format!("stop {}", sh_quote(svc))))
                .replace(
                    "@START@",
                    &p.cli(&format!("up -d --no-deps {}", sh_quote(svc))),
                );
            (p.dir.clone(), connect)
        }
        None => (side.root.clone(), ON_SERVER.to_string()),
    };
    format!(
        "{}{connect}{COMMON}",
        SETTINGS.replace("@CONFIG@", &sh_quote(&config))
    )
}

/// What the source's Redis holds now, for the plan (read-only): its keys
/// and Sidekiq's queue lengths before the window, and why carrying it is a
/// person's decision when it is shared. None when the recipe has no Redis
/// this step carries.
pub fn plan_reading(
    sides: &super::super::sides::Sides,
    mig: &super::super::definition::Migration,
    recipe: &crate::recipe::Recipe,
    notes: &mut Vec<String>,
) -> Option<RedisState> {
    let carried = recipe
        .databases
        .iter()
        .any(|d| d.engine == crate::recipe::Engine::Redis)
        && carries(&mig.source)
        && carries(&mig.destination);
    if !carried {
        return None;
    }
    let script = format!(
        "{}up || {{ echo \"Redis does not answer at $R (the app's REDIS_* settings)\" >&2; exit 3; }}\nstate",
        prelude_of(&mig.source)
    );
    match sides.sh(Side::Source, "reading Redis", &script) {
        Ok(out) => {
            let st = RedisState::parse(&out);
            if let Some(why) = st.shared() {
                notes.push(format!(
                    "Redis is shared: {why}. The redis step carries the whole dump, so a person decides: run with --force to carry all of it, or add \"redis\" to skip_steps and move the app's keys by hand."
                ));
            }
            Some(st)
        }
        Err(e) => {
            notes.push(format!(
                "Redis could not be read on the source ({e}); the redis step needs it running."
            ));
            None
        }
    }
}

fn prelude(cx: &Cx, side: Side) -> String {
    prelude_of(cx.sides.def(side))
}

/// The dump and append-only files as they leave the source, beside the
/// backup (so they are a backup of Redis too).
fn stage(cx: &Cx) -> String {
    stage_of(&cx.plan.migration)
}

fn stage_of(mig: &super::super::definition::Migration) -> String {
    format!("{}/redis", mig.backup_dir())
}

/// Start the source's Redis again as it ran before the step stopped it
/// (`migrate abort`): the stop wrote down its unit, config file and user.
pub fn restart_source(mig: &super::super::definition::Migration) -> String {
    format!(
        "{}up && exit 0\nf={}.how; [ -f \"$f\" ] && {{ read -r unit; read -r cfg; read -r user; }} < \"$f\"\nstart_redis || exit 1\ni=0; until up; do i=$((i + 1)); [ $i -lt 600 ] || {{ echo 'Redis did not come back on the source' >&2; exit 1; }}; sleep 0.2; done",
        prelude_of(&mig.source),
        sh_quote(&stage_of(mig))
    )
}

/// Where they arrive on the destination before Redis is stopped there.
fn incoming(cx: &Cx) -> String {
    format!("/var/tmp/migrate-{}-redis", cx.plan.id)
}

fn copy_options(cx: &Cx) -> Result<migrate_copy::CopyOptions, String> {
    let m = &cx.plan.migration;
    let loc = |host: &str, path: String| -> Result<migrate_remote::Location, String> {
        Ok(migrate_remote::Location {
            host: migrate_remote::HostSpec::parse(host).map_err(|e| e.to_string())?,
            path,
        })
    };
    Ok(migrate_copy::CopyOptions {
        src: loc(&m.source.host, stage(cx))?,
        dst: loc(&m.destination.host, incoming(cx))?,
        final_pass: true,
        verify: true,
        verify_sent: false,
        streams: migrate_copy::link::Streams::Fixed(1),
        compress: false,
        relay: false,
        detach: false,
        bwlimit: None,
        exclude: Vec::new(),
        // The incoming directory is this migration's own: what a pass
        // takes off it was staged by this step, so nothing is set aside.
        force: true,
        delete_without_backup: true,
    })
}

impl StepKind for Redis {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let (src, dst) = (prelude(cx, Side::Source), prelude(cx, Side::Destination));
        let (stage, incoming) = (sh_quote(&stage(cx)), sh_quote(&incoming(cx)));
        let id = &cx.plan.id;
        vec![
            // A rerun after the source's Redis was stopped and its files
            // staged goes on from the staged copy.
            Planned::on(
                "staged",
                Side::Source,
                format!("{src}up && echo running; cat {stage}.state 2>/dev/null; true"),
            ),
            Planned::on(
                "check-destination",
                Side::Destination,
                format!(
                    "{dst}ensure\nd=$(hostdir \"$(rc config get dir | sed -n 2p)\"); f=$(rc config get dbfilename | sed -n 2p)\n[ -e \"$d/$f.before-{id}\" ] && echo replaced; state"
                ),
            ),
            Planned::on(
                "save",
                Side::Source,
                format!(
                    "{src}mine || exit 1\nup || {{ echo \"Redis does not answer at $R (the app's REDIS_* settings)\" >&2; exit 1; }}\nw=0; while [ \"$(busy)\" != 0 ] && [ $w -lt {BUSY_WAIT_SECONDS} ]; do sleep 1; w=$((w + 1)); done\necho \"waited $w\"; echo \"busy $(busy)\"\nfor i in $(rc -n \"$n\" smembers \"${{k}}processes\"); do rc -n \"$n\" hvals \"$k$i:work\" | cut -c1-300 | sed 's/^/busy-job /'; done\nrc save | grep -q OK || {{ echo 'redis-cli SAVE failed' >&2; exit 1; }}\nconf; state"
                ),
            ),
            // How it ran is written down for `migrate abort`.
            Planned::on(
                "stop-source",
                Side::Source,
                format!(
                    "{src}stop_redis || exit 1\nmkdir -p \"$(dirname {stage})\" && printf '%s\\n' \"$unit\" \"$cfg\" \"$user\" > {stage}.how; echo stopped"
                ),
            ),
            Planned::on(
                "stage",
                Side::Source,
                format!(
                    "read -r dir; read -r f; read -r ad; read -r af\ns={stage}; rm -rf \"$s.tmp\" && mkdir -p \"$s.tmp\" && cd \"$dir\" || exit 1\nif [ -f \"$f\" ]; then cp -p \"$f\" \"$s.tmp/dump.rdb\" || exit 1; fi\nif [ -n \"$ad\" ] && [ -d \"$ad\" ]; then cp -pR \"$ad\" \"$s.tmp/appendonlydir\" || exit 1; elif [ -n \"$af\" ] && [ -f \"$af\" ]; then cp -p \"$af\" \"$s.tmp/appendonly.aof\" || exit 1; fi\ncat > \"$s.tmp.state\" && rm -rf \"$s\" && mv \"$s.tmp\" \"$s\" && mv \"$s.tmp.state\" \"$s.state\" && ls -A \"$s\""
                ),
            )
            .reading("Redis's directory, dump file name and append-only names (as the source's Redis reported them, the append-only ones only when appendonly is on), then the source's reading of its keys and queues"),
            Planned::operator(
                "copy",
                format!(
                    "migrate copy {}:{} {}:{} --final --verify",
                    cx.plan.migration.source.host,
                    stage.trim_matches('\''),
                    cx.plan.migration.destination.host,
                    incoming.trim_matches('\'')
                ),
            ),
            Planned::on(
                "install",
                Side::Destination,
                format!(
                    "{dst}ensure; d=$(hostdir \"$(rc config get dir | sed -n 2p)\"); f=$(rc config get dbfilename | sed -n 2p); ad=$(rc config get appenddirname | sed -n 2p); af=$(rc config get appendfilename | sed -n 2p)\nin={incoming}; [ -n \"$d\" ] && [ -n \"$f\" ] && [ -d \"$in\" ] || {{ echo \"nothing to install: Redis's directory or $in is missing\" >&2; exit 1; }}\nstop_redis || exit 1\nowner=$(stat -c %U:%G \"$d\"); cd \"$d\" || exit 1\nfor x in \"$f\" \"$ad\" \"$af\"; do [ -n \"$x\" ] && [ -e \"$x\" ] || continue; if [ -e \"$x.before-{id}\" ]; then rm -rf \"$x\"; else mv \"$x\" \"$x.before-{id}\"; fi; done\nif [ -f \"$in/dump.rdb\" ]; then mv \"$in/dump.rdb\" \"$f\" && chown \"$owner\" \"$f\" || exit 1; fi\nif [ -d \"$in/appendonlydir\" ]; then mv \"$in/appendonlydir\" \"${{ad:-appendonlydir}}\" && chown -R \"$owner\" \"${{ad:-appendonlydir}}\" || exit 1; fi\nif [ -f \"$in/appendonly.aof\" ]; then mv \"$in/appendonly.aof\" \"${{af:-appendonly.aof}}\" && chown \"$owner\" \"${{af:-appendonly.aof}}\" || exit 1; fi\nrm -rf \"$in\"\nstart_redis || exit 1\ni=0; until up && rc info persistence | grep -q '^loading:0'; do i=$((i + 1)); [ $i -lt 600 ] || {{ echo 'Redis did not come back on the destination' >&2; exit 1; }}; sleep 0.2; done\necho started"
                ),
            ),
            Planned::on("verify", Side::Destination, format!("{dst}state")),
        ]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let staged = x.run("staged", "looking for a staged Redis dump")?;
        let resumed =
            !staged.lines().any(|l| l == "running") && staged.lines().any(|l| l.starts_with("db "));
        let dst = x.run("check-destination", "reading the destination's Redis")?;
        let replaced = dst.lines().any(|l| l == "replaced");
        let here = RedisState::parse(&dst);
        if here.total_keys() > 0 && !replaced && !x.cx.force {
            return Err(format!(
                "the destination's Redis already holds keys ({}); it would be replaced. Empty it (or point the app at another Redis) and rerun, or rerun with --force to replace it (its files are kept aside with a .before-{} suffix)",
                here.keyspace_line(),
                x.cx.plan.id
            ));
        }
        let before = if resumed {
            RedisState::parse(&staged)
        } else {
            let out = x.run("save", "waiting for Sidekiq, then saving Redis")?;
            let before = RedisState::parse(&out);
            if let Some(why) = before.shared()
                && !x.cx.force
            {
                return Err(format!(
                    "the source's Redis is shared: {why}. Carrying its dump carries everything in it. Decide: rerun with --force to carry the whole Redis, or add \"redis\" to skip_steps and move the app's keys by hand"
                ));
            }
            x.run("stop-source", "stopping Redis on the source")?;
            let c = |k: &str| before.config.get(k).cloned().unwrap_or_default();
            let aof = c("appendonly") == "yes";
            let names = format!(
                "{}\n{}\n{}\n{}\n{out}",
                c("dir"),
                c("dbfilename"),
                if aof {
                    c("appenddirname")
                } else {
                    String::new()
                },
                if aof {
                    c("appendfilename")
                } else {
                    String::new()
                },
            );
            x.run_with(
                "stage",
                "staging Redis's files on the source",
                Some(names.as_bytes()),
            )?;
            before
        };
        x.planned("copy")?;
        let opts = copy_options(&x.cx)?;
        let copied =
            x.cx.sides
                .rt
                .block_on(migrate_copy::run(&opts, &mut |_| {}))
                .map_err(|e| format!("copying Redis's files: {e}"))?;
        if let migrate_copy::Outcome::Finished(s) = &copied
            && let Some(v) = &s.verdict
            && !v.identical()
        {
            return Err(format!(
                "Redis's files differ after the copy: {}",
                v.differences.join("; ")
            ));
        }
        x.run(
            "install",
            "installing the dump and starting Redis on the destination",
        )?;
        let after = RedisState::parse(&x.run("verify", "reading the destination's Redis")?);
        let diff = after.differences(&before);
        if !diff.is_empty() {
            return Err(format!(
                "the destination's Redis differs from the source's: {} (the source's files are kept in {})",
                diff.join("; "),
                stage(&x.cx)
            ));
        }
        let mut detail = format!(
            "Redis carried: {} (source {}); Sidekiq {}",
            after.keyspace_line(),
            before.keyspace_line(),
            after.sidekiq_line()
        );
        if before.waited > 0 {
            detail.push_str(&format!("; waited {} s for busy jobs", before.waited));
        }
        if before.busy > 0 {
            detail.push_str(&format!(
                "; {} job(s) were still running after {BUSY_WAIT_SECONDS} s and may not have finished: {}",
                before.busy,
                before.busy_jobs.join(" | ")
            ));
        }
        Ok(Outcome::new(
            detail,
            &super::outcome::Redis {
                before,
                after,
                resumed,
            },
        ))
    }
}
