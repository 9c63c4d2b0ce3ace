//! What a Redis holds, as the Redis step's scripts print it (one fact a
//! line: `keyspace DB KEYS EXPIRES`, `queue NAME LENGTH`, `schedule N`,
//! …), read into a typed value and compared before and after a move.
//! Sidekiq keeps its jobs in plain Redis keys (`queue:NAME` lists, the
//! `schedule`, `retry` and `dead` sorted sets, under `REDIS_NAMESPACE:`
//! when one is set), so its queue lengths are read the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One database of the keyspace (`INFO keyspace`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    pub keys: u64,
    /// Keys with a time to live: they may lapse between two readings.
    pub expires: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisState {
    /// The database number the app uses (REDIS_DB or the URL's path).
    pub db: u32,
    /// The app's REDIS_NAMESPACE, when it sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Database number -> its keys.
    pub keyspace: BTreeMap<u32, Keys>,
    /// Sidekiq queue name -> jobs waiting in it.
    pub queues: BTreeMap<String, u64>,
    pub schedule: u64,
    pub retry: u64,
    pub dead: u64,
    /// Sidekiq jobs still running when the state was read.
    #[serde(default)]
    pub busy: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busy_jobs: Vec<String>,
    /// Seconds spent waiting for busy jobs to finish.
    #[serde(default)]
    pub waited: u64,
    /// Redis's own settings: where its files are.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl RedisState {
    pub fn parse(text: &str) -> RedisState {
        let mut s = RedisState::default();
        for line in text.lines() {
            let (k, rest) = line.split_once(' ').unwrap_or((line, ""));
            let num = |v: &str| v.trim().parse::<u64>().unwrap_or(0);
            match k {
                "db" => s.db = rest.trim().parse().unwrap_or(0),
                "namespace" if !rest.trim().is_empty() => {
                    s.namespace = Some(rest.trim().to_string())
                }
                "keyspace" => {
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    if let [db, keys, expires] = f[..]
                        && let Ok(db) = db.parse()
                    {
                        s.keyspace.insert(
                            db,
                            Keys {
                                keys: num(keys),
                                expires: num(expires),
                            },
                        );
                    }
                }
                "queue" => {
                    if let Some((name, len)) = rest.rsplit_once(' ') {
                        s.queues.insert(name.to_string(), num(len));
                    }
                }
                "schedule" => s.schedule = num(rest),
                "retry" => s.retry = num(rest),
                "dead" => s.dead = num(rest),
                "busy" => s.busy = num(rest),
                "busy-job" => s.busy_jobs.push(rest.to_string()),
                "waited" => s.waited = num(rest),
                "dir" | "dbfilename" | "appendonly" | "appenddirname" | "appendfilename" => {
                    s.config.insert(k.to_string(), rest.trim().to_string());
                }
                _ => {}
            }
        }
        s
    }

    pub fn total_keys(&self) -> u64 {
        self.keyspace.values().map(|k| k.keys).sum()
    }

    pub fn queued(&self) -> u64 {
        self.queues.values().sum::<u64>() + self.schedule + self.retry
    }

    /// Databases other than the app's that hold keys: another app's data.
    pub fn other_databases(&self) -> Vec<u32> {
        self.keyspace
            .iter()
            .filter(|(db, k)| **db != self.db && k.keys > 0)
            .map(|(db, _)| *db)
            .collect()
    }

    /// Why carrying the whole Redis is a person's decision, if it is: a
    /// namespace says other apps may share the database, keys in other
    /// databases belong to something else.
    pub fn shared(&self) -> Option<String> {
        let mut why = Vec::new();
        if let Some(ns) = &self.namespace {
            why.push(format!(
                "the app sets REDIS_NAMESPACE={ns}, so other apps may keep keys in the same database"
            ));
        }
        let others = self.other_databases();
        if !others.is_empty() {
            let list: Vec<String> = others
                .iter()
                .map(|d| format!("db{d} ({} keys)", self.keyspace[d].keys))
                .collect();
            why.push(format!(
                "databases other than the app's db{} hold keys: {}",
                self.db,
                list.join(", ")
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// `default 50, mailers 2; schedule 1, retry 0, dead 0`
    pub fn sidekiq_line(&self) -> String {
        let queues: Vec<String> = self
            .queues
            .iter()
            .map(|(q, n)| format!("{q} {n}"))
            .collect();
        format!(
            "queues: {}; schedule {}, retry {}, dead {}",
            if queues.is_empty() {
                "none".to_string()
            } else {
                queues.join(", ")
            },
            self.schedule,
            self.retry,
            self.dead
        )
    }

    pub fn keyspace_line(&self) -> String {
        if self.keyspace.is_empty() {
            return "no keys".into();
        }
        self.keyspace
            .iter()
            .map(|(db, k)| format!("db{db} {} keys", k.keys))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What differs on the destination (`self`) from the source's reading
    /// `before`: queue lengths must be equal; a database may only have lost
    /// keys that carried a time to live.
    pub fn differences(&self, before: &RedisState) -> Vec<String> {
        let mut out = Vec::new();
        let dbs: std::collections::BTreeSet<u32> = before
            .keyspace
            .keys()
            .chain(self.keyspace.keys())
            .copied()
            .collect();
        for db in dbs {
            let (b, a) = (
                before.keyspace.get(&db).copied().unwrap_or_default(),
                self.keyspace.get(&db).copied().unwrap_or_default(),
            );
            if a.keys > b.keys || a.keys + b.expires < b.keys {
                out.push(format!(
                    "db{db}: {} keys on the source, {} on the destination",
                    b.keys, a.keys
                ));
            }
        }
        let names: std::collections::BTreeSet<&String> =
            before.queues.keys().chain(self.queues.keys()).collect();
        for q in names {
            let (b, a) = (
                before.queues.get(q).copied().unwrap_or(0),
                self.queues.get(q).copied().unwrap_or(0),
            );
            if a != b {
                out.push(format!(
                    "queue {q}: {b} jobs on the source, {a} on the destination"
                ));
            }
        }
        for (what, b, a) in [
            ("schedule", before.schedule, self.schedule),
            ("retry", before.retry, self.retry),
            ("dead", before.dead, self.dead),
        ] {
            if a != b {
                out.push(format!(
                    "{what}: {b} jobs on the source, {a} on the destination"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "waited 3\nbusy 0\ndir /var/lib/redis\ndbfilename dump.rdb\nappendonly yes\nappenddirname appendonlydir\nappendfilename appendonly.aof\ndb 0\nkeyspace 0 61 4\nqueue default 50\nqueue mailers 2\nschedule 1\nretry 0\ndead 0\n";

    #[test]
    fn reads_what_the_scripts_print() {
        let s = RedisState::parse(SOURCE);
        assert_eq!(
            s.keyspace[&0],
            Keys {
                keys: 61,
                expires: 4
            }
        );
        assert_eq!(s.queues["default"], 50);
        assert_eq!(s.queued(), 53);
        assert_eq!(s.waited, 3);
        assert_eq!(s.config["appenddirname"], "appendonlydir");
        assert_eq!(s.shared(), None);
        assert_eq!(
            s.sidekiq_line(),
            "queues: default 50, mailers 2; schedule 1, retry 0, dead 0"
        );
    }

    #[test]
    fn lapsed_keys_with_a_ttl_pass_lost_jobs_do_not() {
        let before = RedisState::parse(SOURCE);
        let same = RedisState::parse(
            "db 0\nkeyspace 0 58 1\nqueue default 50\nqueue mailers 2\nschedule 1\n",
        );
        assert!(
            same.differences(&before).is_empty(),
            "{:?}",
            same.differences(&before)
        );
        let lost = RedisState::parse("db 0\nkeyspace 0 50 1\nqueue default 49\nqueue mailers 2\n");
        let d = lost.differences(&before);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].starts_with("db0: 61 keys"), "{d:?}");
        assert!(d[1].starts_with("queue default: 50"), "{d:?}");
        assert!(d[2].starts_with("schedule: 1"), "{d:?}");
    }

    #[test]
    fn a_shared_redis_is_named() {
        let s = RedisState::parse("db 1\nnamespace mastodon\nkeyspace 0 10 0\nkeyspace 1 5 0\n");
        let why = s.shared().expect("shared");
        assert!(why.contains("REDIS_NAMESPACE=mastodon"), "{why}");
        assert!(why.contains("db0 (10 keys)"), "{why}");
    }
}
