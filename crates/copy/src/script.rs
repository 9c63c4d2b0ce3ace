//! The job script that runs detached on the source server. It is plain bash
//! plus GNU tar (no agent binary to install): delete what the plan says on
//! dst, run the tar streams in parallel, re-apply directory metadata, record
//! each stream's exit statuses, and remove the temporary key at the end.

use migrate_remote::sh_quote;

/// Everything the script needs to know.
#[derive(Debug, Clone)]
pub struct ScriptParams {
    pub job_dir: String,
    pub src_root: String,
    pub dst_root: String,
    pub streams: usize,
    /// Shell words that run one command (given as a single argument) on
    /// dst, e.g. `ssh -i KEY ... host`; None when dst is this same machine.
    pub dst_ssh: Option<String>,
    /// Whether both tars support --xattrs/--acls.
    pub xattrs: bool,
    pub compress: bool,
    /// `pv -L` rate limit per stream, e.g. `10m`.
    pub bwlimit: Option<String>,
    /// A shell snippet removing the temporary key on dst (run over dst_ssh).
    pub key_removal: Option<String>,
}

/// tar options shared by both sides.
fn xattr_opts(p: &ScriptParams) -> &'static str {
    if p.xattrs {
        "--xattrs --xattrs-include='*' --acls"
    } else {
        ""
    }
}

/// The command run on dst that unpacks one stream.
pub fn extract_command(p: &ScriptParams) -> String {
    let tar = format!(
        "tar -C {} -xf - --numeric-owner --same-owner --same-permissions {}",
        sh_quote(&p.dst_root),
        xattr_opts(p)
    );
    if p.compress {
        format!("zstd -dcq | {tar}")
    } else {
        tar
    }
}

/// The source-side tar for list `name` (without output redirection).
pub fn create_command(p: &ScriptParams, name: &str, with_progress: bool) -> String {
    let progress = if with_progress {
        format!("-v --index-file=\"$J/s{name}.idx\" --checkpoint=100 --checkpoint-action=echo=%u")
    } else {
        String::new()
    };
    format!(
        "tar -C \"$SRC\" --format=posix --pax-option=delete=atime,delete=ctime --numeric-owner --sparse {x} \
         --null --verbatim-files-from --no-unquote --no-recursion -T \"$J/list.{name}\" -cf - {progress}",
        x = xattr_opts(p)
    )
}

pub fn render(p: &ScriptParams) -> String {
    let dst_run = match &p.dst_ssh {
        Some(ssh) => format!("dst_run() {{ {ssh} \"$1\"; }}"),
        None => "dst_run() { sh -c \"$1\"; }".to_string(),
    };
    let mut pipeline = create_command(p, "$i", true) + " 2>\"$J/s$i.err\"";
    if p.compress {
        pipeline.push_str(" | zstd -1 -q -c");
    }
    if let Some(rate) = &p.bwlimit {
        pipeline.push_str(&format!(" | pv -q -L {}", sh_quote(rate)));
    }
    pipeline.push_str(" | dst_run \"$EXTRACT\" 2>\"$J/s$i.dsterr\"");
    let removal = match &p.key_removal {
        Some(r) => format!(
            "if dst_run {} 2>>\"$J/cleanup.err\"; then rm -f \"$J/key\" \"$J/key.pub\" \"$J/known_hosts\"; else echo keys-left > \"$J/keys\"; fi",
            sh_quote(r)
        ),
        None => String::new(),
    };
    format!(
        r#"#!/bin/bash
# migrate copy job: runs detached on the source server; state lives in $J.
set -u
umask 077
J={jd}
SRC={src}
cd "$J" || exit 1
echo $$ > pid
date +%s > started
echo running > state
rm -f s*.rc s*.err s*.dsterr s*.idx delete.err
{dst_run}
EXTRACT={extract}

# A stream's create-side errors that only mean "the live app changed the
# tree meanwhile" (the next pass picks those files up).
benign() {{
  ! grep -vE '^tar: [0-9]+$|No such file or directory|file changed as we read it|File removed before we read it|socket ignored' "$1" >/dev/null
}}

stream() {{
  local i=$1
  {pipeline}
  local st=("${{PIPESTATUS[@]}}")
  echo "${{st[*]}}" > "$J/s$i.rc"
}}

ok_stream() {{
  local i=$1 rc c
  [ -f "$J/s$i.rc" ] || return 1
  read -r -a rc < "$J/s$i.rc"
  c=${{rc[0]}}
  for x in "${{rc[@]:1}}"; do [ "$x" = 0 ] || return 1; done
  [ "$c" = 0 ] || [ "$c" = 1 ] || {{ [ "$c" = 2 ] && benign "$J/s$i.err"; }}
}}

fail=0
if ! dst_run {mkdir} 2>"$J/delete.err"; then fail=1; fi
if [ $fail = 0 ] && [ -s "$J/delete" ]; then
  dst_run {delete} < "$J/delete" 2>>"$J/delete.err" || fail=1
fi
if [ $fail = 0 ]; then
  for ((i = 0; i < {n}; i++)); do stream "$i" & done
  wait
  for ((i = 0; i < {n}; i++)); do ok_stream "$i" || fail=1; done
fi
if [ $fail = 0 ] && [ -s "$J/list.dirs" ]; then
  i=dirs; stream dirs
  ok_stream dirs || fail=1
fi
if [ $fail = 0 ]; then
  mv -f "$J/manifest.pending" "$J/manifest.done"
  echo done > "$J/state.tmp"
else
  echo failed > "$J/state.tmp"
fi
{removal}
date +%s > "$J/finished"
mv -f "$J/state.tmp" "$J/state"
"#,
        jd = sh_quote(&p.job_dir),
        src = sh_quote(&p.src_root),
        extract = sh_quote(&extract_command(p)),
        n = p.streams,
        mkdir = sh_quote(&format!("mkdir -p -- {}", sh_quote(&p.dst_root))),
        delete = sh_quote(&format!(
            "cd -- {} && xargs -0 rm -rf --",
            sh_quote(&p.dst_root)
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn params(dir: &std::path::Path) -> ScriptParams {
        ScriptParams {
            job_dir: dir.join("job").to_string_lossy().into_owned(),
            src_root: dir.join("src tree").to_string_lossy().into_owned(),
            dst_root: dir.join("dst tree").to_string_lossy().into_owned(),
            streams: 2,
            dst_ssh: None,
            xattrs: false,
            compress: false,
            bwlimit: None,
            key_removal: None,
        }
    }

    /// The script really copies, locally, with dst_run = sh -c.
    #[test]
    fn script_copies_lists_and_records_success() {
        let dir = std::env::temp_dir().join(format!("migrate-script-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = params(&dir);
        let job = dir.join("job");
        let src = dir.join("src tree");
        std::fs::create_dir_all(&job).unwrap();
        std::fs::create_dir_all(src.join("a")).unwrap();
        std::fs::write(src.join("a/-x"), b"one").unwrap();
        std::fs::write(src.join("b c"), b"two").unwrap();
        std::fs::write(job.join("list.0"), b"a/-x\0").unwrap();
        std::fs::write(job.join("list.1"), b"b c\0").unwrap();
        std::fs::write(job.join("list.dirs"), b".\0a\0").unwrap();
        std::fs::write(job.join("manifest.pending"), b"").unwrap();
        std::fs::write(job.join("run.sh"), render(&p)).unwrap();
        let st = Command::new("bash")
            .arg(job.join("run.sh"))
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::read_to_string(job.join("state")).unwrap().trim(),
            "done"
        );
        assert_eq!(std::fs::read(dir.join("dst tree/a/-x")).unwrap(), b"one");
        assert_eq!(std::fs::read(dir.join("dst tree/b c")).unwrap(), b"two");
        assert!(job.join("manifest.done").exists());

        // A list naming a file that cannot be read as a whole fails the pass.
        std::fs::write(job.join("list.1"), b"b c\0missing/deep\0").unwrap();
        std::fs::write(job.join("manifest.pending"), b"").unwrap();
        let dst_file = dir.join("dst tree/b c");
        std::fs::remove_file(&dst_file).unwrap();
        std::fs::create_dir_all(dir.join("dst tree/b c")).unwrap();
        std::fs::write(dir.join("dst tree/b c/blocker"), b"x").unwrap();
        let st = Command::new("bash")
            .arg(job.join("run.sh"))
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::read_to_string(job.join("state")).unwrap().trim(),
            "failed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
