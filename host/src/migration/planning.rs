//! The plugin's read-only planning calls, answered over the migration's
//! ssh sessions, and confined: a file is read only when it resolves (on
//! the server, symlinks followed) inside what the migration declares for
//! the app on that side (its root, its compose file), docker inspect hands
//! back the image, labels and mounts only (never `Env`, where database
//! passwords live), and no answer is read past the host's cap. The
//! recipe's paths are mapped onto each side's root first; HTTP goes to the
//! side's address with the production hostname. The migration's context
//! (context.rs) is served with them, for the plugin calls that take none.

use std::sync::Arc;

use migrate_remote::sh_quote;
use serde_json::{Map, Value};

use super::layout::Layout;
use super::sides::{Sides, side_word};
use crate::plugin::{ANSWER_CAP, Context, Planning, Side, over_cap};

pub struct SshPlanning {
    pub sides: Arc<Sides>,
    pub context: Context,
}

impl Planning for SshPlanning {
    fn read_file(&mut self, side: Side, path: &str) -> Result<String, String> {
        let real = confine(&self.sides, side, path, "read-file")?;
        let out = self
            .sides
            .sh(
                side,
                "reading a file",
                &format!("head -c {} -- {}", ANSWER_CAP + 1, sh_quote(&real)),
            )
            .map_err(|e| e.to_string())?;
        if out.len() > ANSWER_CAP {
            return Err(over_cap("read-file", &format!("{path:?}")));
        }
        Ok(out)
    }
    fn http_get(&mut self, side: Side, path: &str) -> Result<(u16, String), String> {
        self.sides
            .http_get(side, path, &[])
            .map_err(|e| e.to_string())
    }
    fn docker_inspect(&mut self, side: Side, name: &str) -> Result<String, String> {
        // The whole answer stays on the server; only its first bytes past
        // the cap come here, which is enough to know it is too long.
        let out = self
            .sides
            .sh(
                side,
                "docker inspect",
                &format!(
                    "out=$(docker inspect -- {}) || exit $?; printf '%s' \"$out\" | head -c {}",
                    sh_quote(name),
                    ANSWER_CAP + 1
                ),
            )
            .map_err(|e| e.to_string())?;
        if out.len() > ANSWER_CAP {
            return Err(over_cap("docker-inspect", &format!("{name:?}")));
        }
        let v: Value = serde_json::from_str(&out)
            .map_err(|e| format!("docker inspect {name:?} did not answer JSON: {e}"))?;
        Ok(inspect_view(&v).to_string())
    }
    fn context(&self) -> Option<&Context> {
        Some(&self.context)
    }
}

/// What may be read on a side: directories (everything under them) and
/// single files.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowed {
    pub path: String,
    pub dir: bool,
}

/// The app's root on that side, the recipe's declared directories and
/// config files outside it (e.g. Discourse's
/// /var/discourse/containers/app.yml), and its compose file(s) when the
/// app runs in a compose project. Nothing else on the server is the app's.
pub fn allowed(sides: &Sides, side: Side) -> Vec<Allowed> {
    let def = sides.def(side);
    let mut v = Vec::new();
    if !def.root.is_empty() {
        v.push(Allowed {
            path: def.root.clone(),
            dir: true,
        });
    }
    // Relative ones are under the root already; a pattern names no path.
    for p in sides.declared() {
        if p.starts_with('/') && !p.contains(['*', '?', '[']) {
            let path = sides.map_path(side, p);
            if !v.iter().any(|a| a.path == path) {
                // A declared file has nothing under it, so it can be
                // allowed as a directory: only itself matches.
                v.push(Allowed { path, dir: true });
            }
        }
    }
    if let Some(Layout::Compose(p)) = Some(sides.layout(side)) {
        let dir = &p.dir;
        for f in [
            "compose.yaml",
            "compose.yml",
            "docker-compose.yaml",
            "docker-compose.yml",
        ] {
            v.push(Allowed {
                path: format!("{}/{f}", dir.trim_end_matches('/')),
                dir: false,
            });
        }
    }
    v
}

fn roots_text(allowed: &[Allowed]) -> String {
    if allowed.is_empty() {
        return "nothing: the migration declares no root there".into();
    }
    allowed
        .iter()
        .map(|a| {
            if a.dir {
                format!("{}/", a.path.trim_end_matches('/'))
            } else {
                a.path.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `real` (resolved) is inside one of `roots` (resolved, in the
/// same order as `allowed`).
pub fn inside(real: &str, allowed: &[Allowed], roots: &[&str]) -> bool {
    allowed.iter().zip(roots).any(|(a, r)| {
        if a.dir {
            let r = r.trim_end_matches('/');
            // `/` as a root would allow everything; it is never declared
            // as an app's root by a sane migration, but is refused here too.
            !r.is_empty() && (real == r || real.starts_with(&format!("{r}/")))
        } else {
            real == *r
        }
    })
}

/// Map a plugin's path onto the side, resolve it there (symlinks and `..`
/// followed) and refuse it unless it lies inside what the migration
/// declares for the app. Returns the resolved path to read.
pub fn confine(sides: &Sides, side: Side, path: &str, call: &str) -> Result<String, String> {
    let allowed = allowed(sides, side);
    let refuse = |shown: &str| {
        format!(
            "{call} {path:?} on the {} is refused: {shown} is outside what the migration declares for the app there ({}); while planning a plugin reads only under those",
            side_word(side),
            roots_text(&allowed)
        )
    };
    if path.contains(['\n', '\0']) {
        return Err(refuse("a path with a line break"));
    }
    if allowed.is_empty() {
        return Err(refuse(path));
    }
    let mapped = sides.map_path(side, path);
    let mut script = format!("realpath -e -- {} || exit 3", sh_quote(&mapped));
    for a in &allowed {
        script.push_str(&format!("; realpath -m -- {}", sh_quote(&a.path)));
    }
    let out = sides
        .sh(side, "resolving a path a plugin reads", &script)
        .map_err(|e| format!("{call} {path:?} on the {}: {e}", side_word(side)))?;
    let lines: Vec<&str> = out.lines().collect();
    let Some((real, roots)) = lines.split_first() else {
        return Err(format!(
            "{call} {path:?} on the {}: the server did not resolve the path",
            side_word(side)
        ));
    };
    if roots.len() != allowed.len() || !inside(real, &allowed, roots) {
        return Err(refuse(real));
    }
    Ok(real.to_string())
}

/// The parts of `docker inspect` a plugin may see: ids, names, the image,
/// labels and mounts of containers (and of a swarm service's spec). `Env`,
/// `Cmd`, `Args`, healthchecks and the rest stay on the server: they carry
/// database passwords and tokens.
pub fn inspect_view(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(inspect_view).collect()),
        Value::Object(o) => {
            let mut out = Map::new();
            for key in ["Id", "Name", "Created", "Image", "Mounts"] {
                if let Some(x) = o.get(key) {
                    out.insert(key.into(), x.clone());
                }
            }
            if let Some(Value::Object(c)) = o.get("Config") {
                out.insert("Config".into(), pick(c, &["Image", "Labels"]));
            }
            if let Some(Value::Object(spec)) = o.get("Spec") {
                let mut s = pick(spec, &["Name", "Labels"]);
                if let Some(cs) = spec
                    .get("TaskTemplate")
                    .and_then(|t| t.get("ContainerSpec"))
                    .and_then(Value::as_object)
                    && let Value::Object(m) = &mut s
                {
                    m.insert(
                        "TaskTemplate".into(),
                        serde_json::json!({"ContainerSpec": pick(cs, &["Image", "Labels", "Mounts"])}),
                    );
                }
                out.insert("Spec".into(), s);
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

fn pick(o: &Map<String, Value>, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .filter_map(|k| o.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect(),
    )
}

/// Install the ssh planning backend on a plugin.
pub fn install(plugin: &mut crate::plugin::LoadedPlugin, sides: &Arc<Sides>, context: Context) {
    let sides = Arc::clone(sides);
    plugin.set_planning(move || {
        Box::new(SshPlanning {
            sides: Arc::clone(&sides),
            context: context.clone(),
        })
    });
}

pub fn install_opt(
    plugin: Option<&mut crate::plugin::LoadedPlugin>,
    sides: &Arc<Sides>,
    context: Context,
) {
    if let Some(p) = plugin {
        install(p, sides, context);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_inside_a_root_or_equal_to_a_file_pass() {
        let allowed = [
            Allowed {
                path: "/srv/nc".into(),
                dir: true,
            },
            Allowed {
                path: "/srv/stack/compose.yml".into(),
                dir: false,
            },
        ];
        let roots = ["/srv/nc", "/srv/stack/compose.yml"];
        for ok in [
            "/srv/nc",
            "/srv/nc/config/config.php",
            "/srv/stack/compose.yml",
        ] {
            assert!(inside(ok, &allowed, &roots), "{ok}");
        }
        for no in [
            "/etc/shadow",
            "/srv/ncx/config.php",
            "/srv/stack/.env",
            "/srv/stack",
            "/dev/zero",
        ] {
            assert!(!inside(no, &allowed, &roots), "{no}");
        }
    }

    #[test]
    fn inspect_keeps_image_labels_and_mounts_and_never_env() {
        let raw = serde_json::json!([{
            "Id": "abc", "Name": "/db", "Image": "sha256:1",
            "Args": ["--password=hunter2"],
            "Config": {"Image": "postgres:15", "Env": ["POSTGRES_PASSWORD=hunter2"],
                       "Labels": {"a": "b"}, "Cmd": ["postgres", "-c", "x=hunter2"]},
            "HostConfig": {"Binds": ["/x:/y"]},
            "Mounts": [{"Type": "volume", "Name": "pg", "Destination": "/var/lib/postgresql/data"}],
            "Spec": {"Name": "s", "Labels": {"c": "d"},
                     "TaskTemplate": {"ContainerSpec": {"Image": "postgres:15",
                                                        "Env": ["POSTGRES_PASSWORD=hunter2"]}}}
        }]);
        let v = inspect_view(&raw);
        let text = v.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("Env"), "{text}");
        assert_eq!(v[0]["Config"]["Image"], "postgres:15");
        assert_eq!(v[0]["Config"]["Labels"]["a"], "b");
        assert_eq!(v[0]["Mounts"][0]["Name"], "pg");
        assert_eq!(
            v[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
            "postgres:15"
        );
    }
}
