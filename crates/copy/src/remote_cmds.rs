//! Small shell programs the operator runs on the servers, and parsers for
//! their `key value` output.

use std::collections::HashMap;

use migrate_remote::sh_quote;

/// `key value` lines → map (the key is the first word; for `tool NAME 1`
/// lines the key is `tool NAME`).
pub fn parse_kv(out: &[u8]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for line in String::from_utf8_lossy(out).lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        if k == "tool" || k == "stream" {
            let (name, rest) = v.split_once(' ').unwrap_or((v, ""));
            m.insert(format!("{k} {name}"), rest.to_string());
        } else {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

/// Job directory expression, evaluated by the host's own shell: the one
/// convention every job uses (`migrate_remote::jobdir`). Copy ids are hex.
pub fn job_dir_expr(id: &str) -> String {
    migrate_remote::jobdir::expr(&migrate_remote::JobId::sanitized(id))
}

/// Probe the source: job dir, path, tools, job state.
pub fn src_probe(id: &str, root: &str) -> String {
    format!(
        r#"J={jd}
printf 'jobdir %s\n' "$J"
if [ -d {root} ] && [ -r {root} ]; then echo 'srcdir 1'; fi
for t in tar find bash ssh setsid zstd pv sha256sum xargs ssh-keygen; do
  if command -v "$t" >/dev/null 2>&1; then echo "tool $t 1"; fi
done
tar --version 2>/dev/null | head -n 1 | grep -q GNU && echo 'gnutar 1'
tar --help 2>/dev/null | grep -q -- --xattrs && echo 'xattrs 1'
find / -maxdepth 0 -printf '' >/dev/null 2>&1 && echo 'gnufind 1'
if [ -f "$J/state" ]; then echo "state $(cat "$J/state")"; fi
p=$(cat "$J/pid" 2>/dev/null)
if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then echo "alive $p"; fi
if [ -f "$J/manifest.done" ]; then echo 'hasdone 1'; fi
# What walk mode (script.rs) needs: find -files0-from (findutils 4.9),
# split -t, sed -z, sort -z.
if find -files0-from /dev/null -maxdepth 0 >/dev/null 2>&1 \
  && split --help 2>/dev/null | grep -q -- --separator \
  && sed --help 2>/dev/null | grep -q -- --null-data \
  && sort --help 2>/dev/null | grep -q -- --zero-terminated; then echo 'walk 1'; fi
# The source's whole filesystem bounds the tree's size (walk mode's space check).
df -Pk -- {root} 2>/dev/null | awk 'NR==2 {{print "usedk", $3}}'
df -Pi -- {root} 2>/dev/null | awk 'NR==2 {{print "usedi", $3}}'
echo "cores $(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
true"#,
        jd = job_dir_expr(id),
        root = sh_quote(root)
    )
}

/// Probe the destination: tools, whether the path exists/is empty, free space.
pub fn dst_probe(root: &str) -> String {
    format!(
        r#"D={root}
for t in tar zstd sha256sum xargs; do
  if command -v "$t" >/dev/null 2>&1; then echo "tool $t 1"; fi
done
tar --version 2>/dev/null | head -n 1 | grep -q GNU && echo 'gnutar 1'
tar --help 2>/dev/null | grep -q -- --xattrs && echo 'xattrs 1'
find / -maxdepth 0 -printf '' >/dev/null 2>&1 && echo 'gnufind 1'
if [ -e "$D" ]; then
  if [ -d "$D" ]; then echo 'dstdir 1'; else echo 'dstdir 0'; fi
  if [ -n "$(ls -A -- "$D" 2>/dev/null | head -c 1)" ]; then echo 'nonempty 1'; fi
  find "$D" -maxdepth 0 -printf 'rootmtime %T@\n' 2>/dev/null
fi
p=$D; while [ ! -d "$p" ]; do p=$(dirname -- "$p"); done
df -Pk -- "$p" | awk 'NR==2 {{print "availk", $4}}'
echo "cores $(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
true"#,
        root = sh_quote(root)
    )
}

/// Snapshot of a job's progress files.
pub fn status_script(job_dir: &str) -> String {
    format!(
        r#"cd {jd} 2>/dev/null || {{ echo 'nojob 1'; exit 0; }}
echo "state $(cat state 2>/dev/null || echo unknown)"
p=$(cat pid 2>/dev/null)
if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then echo "alive $p"; fi
[ -f started ] && echo "started $(cat started)"
[ -f finished ] && echo "finished $(cat finished)"
[ -f keys ] && echo "keysleft 1"
[ -f sent ] && echo "sent $(cat sent)"
[ -f total ] && echo "total $(cat total)"
[ -s retries ] && echo "retries $(wc -l < retries) $(tail -n 1 retries | tr '\n' ' ')"
for f in s*.err; do
  [ -e "$f" ] || continue
  i=${{f#s}}; i=${{i%.err}}
  c=$(grep -E '^tar: [0-9]+$' "$f" | tail -n 1); c=${{c#tar: }}
  n=0; [ -f "s$i.idx" ] && n=$(grep -vc '/$' "s$i.idx")
  echo "stream $i ${{c:-0}} $n"
done
echo "now $(date +%s)"
true"#,
        jd = sh_quote(job_dir)
    )
}

/// `status_script` after waiting up to a second on the server for the job
/// to end, so the operator learns of the end within 0.1 s while polling
/// only once a second.
pub fn wait_status_script(job_dir: &str) -> String {
    format!(
        r#"cd {jd} 2>/dev/null && for i in 1 2 3 4 5 6 7 8 9 10; do
  case $(cat state 2>/dev/null) in done|failed) break;; esac
  sleep 0.1
done
{}"#,
        status_script(job_dir),
        jd = sh_quote(job_dir)
    )
}

/// Errors a failed job left behind (checkpoint lines removed).
pub fn errors_script(job_dir: &str) -> String {
    format!(
        r#"cd {jd} 2>/dev/null || exit 0
for f in delete.err s*.dsterr s*.err cleanup.err run.log; do
  [ -s "$f" ] || continue
  grep -vE '^tar: [0-9]+$' "$f" | head -n 5 | sed "s|^|$f: |"
done
for f in s*.rc; do [ -e "$f" ] && echo "$f: exit statuses $(cat "$f")"; done
true"#,
        jd = sh_quote(job_dir)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_keeps_tool_and_stream_names() {
        let m = parse_kv(b"jobdir /root/.local/state/migrate/copy/x y\ntool tar 1\nstream 0 12 30\nstream dirs 0 0\n");
        assert_eq!(m["jobdir"], "/root/.local/state/migrate/copy/x y");
        assert_eq!(m["tool tar"], "1");
        assert_eq!(m["stream 0"], "12 30");
        assert_eq!(m["stream dirs"], "0 0");
    }

    #[test]
    fn probes_run_in_a_real_shell() {
        let dir = std::env::temp_dir().join(format!("migrate-probe-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/f"), b"x").unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(dst_probe(dir.join("d").to_str().unwrap()))
            .output()
            .unwrap();
        let m = parse_kv(&out.stdout);
        assert_eq!(m.get("dstdir").map(String::as_str), Some("1"));
        assert_eq!(m.get("nonempty").map(String::as_str), Some("1"));
        assert!(m["availk"].parse::<u64>().unwrap() > 0);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(dst_probe(dir.join("new/deeper").to_str().unwrap()))
            .output()
            .unwrap();
        let m = parse_kv(&out.stdout);
        assert!(!m.contains_key("dstdir"));
        assert!(m.contains_key("availk"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
