//! The job script that runs detached on the source server. It is plain bash
//! plus GNU tar (no agent binary to install): delete what the plan says on
//! dst, run the tar streams in parallel, re-apply directory metadata, record
//! each stream's exit statuses, and remove the temporary key at the end.

use crate::exclude::Excludes;
use migrate_remote::{SshCommand, sh_quote};

/// Everything the script needs to know.
#[derive(Debug, Clone)]
pub struct ScriptParams {
    pub job_dir: String,
    pub src_root: String,
    pub dst_root: String,
    pub streams: usize,
    /// The ssh command that runs one command (given as a single argument)
    /// on dst; None when dst is this same machine.
    pub dst_ssh: Option<SshCommand>,
    /// Whether both tars support --xattrs/--acls.
    pub xattrs: bool,
    pub compress: bool,
    /// Without `compress`: let the job measure the link first and compress
    /// when it is slow (both servers have zstd).
    pub auto_compress: bool,
    /// `pv -L` rate limit per stream, e.g. `10m`.
    pub bwlimit: Option<String>,
    /// A shell snippet removing the temporary key on dst (run over dst_ssh).
    pub key_removal: Option<String>,
    /// First pass into an empty destination: the job walks the source
    /// itself and streams what it finds at once (no list from the operator),
    /// writing the manifest as it goes. See `WALK`.
    pub walk: bool,
    /// Names the walk leaves out (the lists given to the other modes were
    /// made through the same exclusions).
    pub exclude: Excludes,
    /// Where the destination's entries that the plan removes are moved
    /// (see `delete_command`); None: removed for good
    /// (`--delete-without-backup`).
    pub aside: Option<String>,
    /// Walk mode: the operator measures the link while the job starts and
    /// then writes the final stream count to `$J/streams` (see
    /// `late_streams`); `streams` is the count to start with.
    pub late_streams: bool,
}

/// Below this rate (bytes/s) through one stream the network, not the
/// disks, sets the pace, and the streams are compressed (see the link
/// probe in the script).
pub const SLOW_LINK_RATE: f64 = 30e6;

/// The command, run on dst with the NUL-separated list of paths to remove
/// (relative to `dst_root`) on its stdin, that takes them away. With an
/// `aside` directory each one is moved there under its own relative path,
/// never overwriting anything, and a path that cannot be moved stops the
/// command with an error (nothing is removed instead); without one they are
/// deleted. A path already gone is no error either way.
pub fn delete_command(dst_root: &str, aside: Option<&str>) -> String {
    match aside {
        None => format!("cd -- {} && xargs -0 -r rm -rf --", sh_quote(dst_root)),
        Some(a) => format!(
            "cd -- {} && xargs -0 -r sh -c {} migrate-aside {}",
            sh_quote(dst_root),
            sh_quote(MOVE_ASIDE),
            sh_quote(a)
        ),
    }
}

/// `sh -c` body of the aside move: $1 the aside directory, then the paths.
/// `${p%/*}` rather than `dirname`, whose output loses a name's trailing
/// newlines.
const MOVE_ASIDE: &str = r#"a=$1; shift
for p; do
  [ -e "$p" ] || [ -L "$p" ] || continue
  case $p in */*) d=${p%/*} ;; *) d=. ;; esac
  if [ -e "$a/$p" ] || [ -L "$a/$p" ]; then
    echo "not moving $p aside: $a/$p already exists" >&2; exit 255
  fi
  mkdir -p -- "$a/$d" && mv -- "$p" "$a/$p" || { echo "could not move $p aside into $a" >&2; exit 255; }
done"#;

/// The dated directory beside the destination that a pass moves what it
/// removes into: `DST.migrate-aside-YYYYMMDD-HHMMSS` (UTC). Beside, not
/// inside, so later passes and verification see the destination as the
/// source has it; on the same filesystem unless the destination is a
/// mount point of its own (then the move copies).
pub fn aside_dir(dst_root: &str, now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let root = dst_root.trim_end_matches('/');
    format!(
        "{root}.migrate-aside-{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Manifest record format; the same as `manifest::find_command`'s.
const MANIFEST_FMT: &str = r"%y %s %T@ %m %U %G %i %n\0%p\0%l\0";

/// Walk mode, the bash functions. Listing first and copying after costs a
/// whole cold walk of the tree before the first byte moves (about a third
/// of an initial copy of a small-file tree in the lab), so here each stream
/// runs its own `find` over a share of the tree and pipes the names straight
/// into its tar, while `find` also writes that share's manifest.
///
/// The tree is cut at the first depth holding at least 64 directories; those
/// subtrees are dealt round-robin to the streams, the entries above them
/// (and the non-directories at that depth) are dealt as single names. Each
/// subtree travels whole in one stream, in find's pre-order, so tar sets a
/// directory's mtime after its last file. Files with several links go to a
/// last stream together (or tar would make separate copies), followed by the
/// directories above the cut and the parents of those links.
const WALK: &str = r#"
F='MANIFEST_FMT'
C='%y %s\n'
walk_prepare() (
  rm -rf "$J"/walk.* "$J"/man.* "$J"/cnt.* "$J"/hl.* "$J/dirs.top" "$J"/claim.* "$J"/owned.* "$J"/dir.c*
  cd "$SRC" || exit 1
  local d=1 n
  while [ $d -lt 8 ]; do
    n=$(find . -mindepth $d -maxdepth $d -type d 2>/dev/null | head -n 64 | wc -l)
    [ "$n" -ge 64 ] && break
    [ "$n" -eq 0 ] && break
    d=$((d + 1))
  done
  # (-mindepth/-maxdepth are global in find, hence two finds.)
  find . -maxdepth $((d - 1)) EXCL -fprintf "$J/man.top" "$F" -fprintf "$J/cnt.top" "$C" \
    \( -type d -fprint0 "$J/dirs.top" -o -type f -links +1 -fprint0 "$J/hl.top" -o -print0 \) > "$J/walk.t" || exit 1
  find . -mindepth $d -maxdepth $d EXCL \( -type d -fprint0 "$J/walk.g" -o -fprintf "$J/man.top2" "$F" -fprintf "$J/cnt.top2" "$C" \
    \( -type f -links +1 -fprint0 "$J/hl.top2" -o -print0 \) \) >> "$J/walk.t" || exit 1
  split -t '\0' -n r/$N -d -a 3 "$J/walk.t" "$J/walk.t." || exit 1
)
# Deals the subtrees into $K chunks, once the link probe has spoken. A stream
# reads each of its chunks in one sweep of the disk in inode order, and a
# chunk holds subtrees from all over the disk (the files of one subtree are
# spread over the whole inode range when the app wrote them over years), so
# every extra chunk is one more sweep. On a fast link the disks set the
# pace: 4 chunks a stream (100k-file media tree in the lab, 4 streams, runs
# in the same minutes: 128 chunks 108.7 and 104.0 s against 4 chunks' 67.8
# and 85.7 s; 8 and 16 chunks within the noise of 4). On a slow link the
# tail sets it: the last stream alone cannot fill a link it shared, so small
# chunks (32 a stream) keep all streams busy to the end (over 100 Mbit/s
# with 8 chunks a stream, the last 4 s ran at half the rate).
walk_deal() {
  local per=4
  [ "$Z" = 1 ] && per=32
  K=$(( N * per > 999 ? 999 : N * per ))
  split -t '\0' -n r/$K -d -a 3 "$J/walk.g" "$J/walk.g."
}
# The names stream $1 sends, on stdout: its share of the shallow names,
# then subtree chunks. Chunks are claimed (mkdir is atomic) rather than
# dealt, so a stream that drew slow subtrees leaves the rest to the others
# and all end within about one chunk of each other.
#
# A chunk's names are in the pipe before its files have arrived, so a stream
# whose connection drops cannot tell which of its chunks got through: its
# retry (see `retrying`) sends every chunk it had claimed again. find dying
# of SIGPIPE means the stream is gone: it stops claiming, leaving the rest
# to the live streams.
#
# Within a chunk, regular files go to tar in inode order: readdir's hash
# order sends the disk back and forth, inode order reads about 17 % faster
# on ext4 (a whole cold tree in the lab, 30 s against 36 s). Directories,
# symlinks and the rest follow, in find's pre-order: the directory entries
# then set the mtimes that creating their files changed, and tar, which
# creates symlinks with `..` in them last (through placeholders), restores
# the mtimes of the directories holding them after that only for
# directories it has already seen when the placeholder is made.
walk_chunk() {
  local st
  find -files0-from "$J/walk.g.$1" EXCL -fprintf "$J/man.c$1" "$F" -fprintf "$J/cnt.c$1" "$C" \
    \( -type f -links +1 -fprint0 "$J/hl.c$1" -o -type f -printf '%i %p\0' -o -fprint0 "$J/dir.c$1" \) |
    LC_ALL=C sort -z -n -S 32M | LC_ALL=C sed -z 's/^[0-9]* //'
  st=("${PIPESTATUS[@]}")
  [ "${st[2]}" -lt 128 ] || return "${st[2]}"
  cat "$J/dir.c$1" || return $?
  [ "${st[0]}${st[1]}${st[2]}" = 000 ]
}
walk_names() {
  local s k c n=0 rc=0 r
  s=$(printf %03d "$1")
  cd "$SRC" || return 1
  [ -s "$J/walk.t.$s" ] && cat "$J/walk.t.$s"
  if [ -f "$J/owned.$s" ]; then
    for c in $(cat "$J/owned.$s"); do
      walk_chunk "$c"; r=$?
      [ $r -ge 128 ] && return $r
      [ $r = 0 ] || rc=1
    done
  fi
  while [ $n -lt $K ]; do
    k=$(( ($1 * K / N + n) % K )); n=$((n + 1))
    c=$(printf %03d "$k")
    [ -s "$J/walk.g.$c" ] && mkdir "$J/claim.$c" 2>/dev/null || continue
    echo "$c" >> "$J/owned.$s"
    walk_chunk "$c"; r=$?
    [ $r -ge 128 ] && return $r
    [ $r = 0 ] || rc=1
  done
  return $rc
}
# The walk's totals, for progress, before the streams are through: a plain
# count of the whole tree alongside them (the streams' own walks then find
# its metadata cached), written to $J/total when it ends. It counts as
# walk_finish does, so the two agree on a tree at rest. Once the job has
# ended its `sent` stands in for it.
count_tree() (
  cd "$SRC" || exit 0
  find . EXCL -printf "$C" 2>/dev/null | awk '$1 != "d" {n++} $1 == "f" {b += $2} END {printf "%d %d\n", n, b}' > "$J/total.tmp" &&
    mv -f "$J/total.tmp" "$J/total"
)
walk_finish() {
  cat "$J"/hl.* 2>/dev/null > "$J/list.links"
  { cat "$J/list.links"; { cat "$J/dirs.top"; sed -z 's|/[^/]*$||' "$J/list.links"; } | sort -zu; } > "$J/list.dirs"
  cat "$J"/man.* > "$J/manifest.pending"
  cat "$J"/cnt.* | awk '$1 != "d" {n++} $1 == "f" {b += $2} END {printf "%d %d\n", n, b}' > "$J/sent"
  rm -rf "$J"/walk.* "$J"/man.* "$J"/cnt.* "$J"/hl.* "$J/dirs.top" "$J"/claim.* "$J"/owned.* "$J"/dir.c*
}
"#;

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
    extract_command_z(p, p.compress)
}

fn extract_command_z(p: &ScriptParams, compress: bool) -> String {
    // The mkdir rides along: a separate step would cost a round trip.
    let d = sh_quote(&p.dst_root);
    let tar = format!(
        "tar -C {d} -xf - --numeric-owner --same-owner --same-permissions {}",
        xattr_opts(p)
    );
    // tar stops reading at the end-of-archive blocks, which can be most of a
    // record before the end of what the source's tar wrote (its last record
    // is padded with zeros). A writer still copying that padding then gets a
    // broken pipe: the relay, which copies the stream in pieces as ssh hands
    // them over, failed a copy that way now and then. Reading the rest after
    // a good extract leaves every writer a reader to the end.
    if compress {
        format!("mkdir -p -- {d} && zstd -dcq | {tar} && cat > /dev/null")
    } else {
        format!("mkdir -p -- {d} && {tar} && cat > /dev/null")
    }
}

/// Makes, on dst, the directories named on stdin (NUL-separated, relative
/// to `dst_root`), before any stream starts. Two tars that meet the same
/// missing parent directory both try to create it, and GNU tar 1.34 then
/// fails the file of the one that finds every missing directory already
/// made by the other ("Cannot open: No such file or directory": its
/// `maybe_recoverable` retries only when it created a directory itself).
/// Seen once in a docker-root copy of many small subtrees. Made 0700; the
/// directory stream at the end gives each its owner, mode and mtime.
pub fn premake_command(dst_root: &str) -> String {
    format!(
        "cd -- {} && umask 077 && xargs -0 -r mkdir -p --",
        sh_quote(dst_root)
    )
}

/// tar's record size, in 512-byte blocks: 64 KiB records instead of the
/// default 10 KiB mean a sixth of the write() calls into the pipe (tar
/// reading from a pipe reassembles records, so extract needs no option).
pub const BLOCKING_FACTOR: u64 = 128;
/// One tar record, in bytes.
pub const RECORD_BYTES: u64 = BLOCKING_FACTOR * 512;
/// A checkpoint (progress line) every this many records: 1 MiB. The figure
/// tar prints there (`%u`) is the number of records written so far, not
/// of checkpoints.
pub const CHECKPOINT_RECORDS: u64 = 16;

/// The source-side tar for list `name` (without output redirection).
pub fn create_command(p: &ScriptParams, name: &str, with_progress: bool) -> String {
    let progress = if with_progress {
        format!(
            "-v --index-file=\"$J/s{name}.idx\" --checkpoint={CHECKPOINT_RECORDS} --checkpoint-action=echo=%u"
        )
    } else {
        String::new()
    };
    format!(
        "tar -C \"$SRC\" -b {BLOCKING_FACTOR} --format=posix --pax-option=delete=atime,delete=ctime --numeric-owner --sparse {x} \
         --null --verbatim-files-from --no-unquote --no-recursion -T \"$J/list.{name}\" -cf - {progress}",
        x = xattr_opts(p)
    )
}

pub fn render(p: &ScriptParams) -> String {
    // Streams get their own connections (OpenSSH's per-channel window caps
    // one stream per round trip, and separate TCP flows share a lossy link
    // better). The short serial steps (mkdir, deletions, the directory
    // stream, key removal) share one master instead of paying a handshake
    // each: several round trips apiece, about 0.9 s at 50 ms RTT. ssh takes
    // the first value given for an option, so the prefix overrides the
    // `ControlMaster=no` in `dst_ssh`.
    //
    // Each stream's own connection is opened (`dst_warm`) when the job
    // starts, beside the master's, and the stream later runs its session
    // through it: a connect is about 15 round trips (0.8 s at 50 ms,
    // `ssh -v` in the lab), which then overlaps the job's preparation
    // instead of following it. A stream whose connection is gone
    // (`ControlMaster=no`) connects directly, as before.
    let dst_run = match &p.dst_ssh {
        // `$CIPHERS`, `$J` and `$i` (the calling stream's number) are the
        // job's own variables, expanded by its shell.
        Some(ssh) => format!(
            "dst_run() {{ {} \"$1\"; }}\n\
             dst_warm() {{ {} true </dev/null >/dev/null 2>&1; true; }}\n\
             dst_ctl() {{ {} \"$1\"; }}\n\
             dst_ctl_exit() {{ local c; for c in \"$J/cm\" \"$J\"/c[0-9]*; do [ -S \"$c\" ] && {} 2>/dev/null; done; true; }}",
            ssh.render_with("$CIPHERS -o ControlMaster=no -o ControlPath=\"$J/c$i\""),
            ssh.render_with(
                "$CIPHERS -o ControlMaster=auto -o ControlPath=\"$J/c$1\" -o ControlPersist=30"
            ),
            ssh.render_with("-o ControlMaster=auto -o ControlPath=\"$J/cm\" -o ControlPersist=30"),
            ssh.render_with("-O exit -o ControlPath=\"$c\""),
        ),
        None => {
            "dst_run() { sh -c \"$1\"; }\ndst_warm() { true; }\ndst_ctl() { dst_run \"$1\"; }\ndst_ctl_exit() { true; }"
                .to_string()
        }
    };
    let tail = |z: bool| {
        let mut tail = String::new();
        if z {
            tail.push_str(" | zstd -1 -q -c");
        }
        if let Some(rate) = &p.bwlimit {
            tail.push_str(&format!(" | pv -q -L {}", sh_quote(rate)));
        }
        tail.push_str(" | \"$run\" \"$EXTRACT\" 2>\"$J/s$i.dsterr\"");
        tail
    };
    // With auto compression, each stream function holds both pipelines and
    // runs the one the link probe chose.
    let choose = |make: &dyn Fn(bool) -> String| {
        let one = |z: bool| format!("{}\n    st=(\"${{PIPESTATUS[@]}}\")", make(z));
        if p.auto_compress && !p.compress {
            format!(
                "if [ \"$Z\" = 1 ]; then\n    {}\n  else\n    {}\n  fi",
                one(true),
                one(false)
            )
        } else {
            one(p.compress)
        }
    };
    let list_pipeline = choose(&|z| {
        format!(
            "{} 2>\"$J/s$i.err\"{}",
            create_command(p, "$i", true),
            tail(z)
        )
    });
    // Names come from the walk, read by tar as they arrive.
    let walk_pipeline = choose(&|z| {
        format!(
            "walk_names \"$i\" 2>\"$J/s$i.walkerr\" | {} 2>\"$J/s$i.err\"{}",
            create_command(p, "$i", true).replace("-T \"$J/list.$i\"", "-T -"),
            tail(z)
        )
    });
    let removal = match &p.key_removal {
        Some(r) => format!(
            "if dst_ctl {} 2>>\"$J/cleanup.err\"; then rm -f \"$J/key\" \"$J/key.pub\" \"$J/known_hosts\"; else echo keys-left > \"$J/keys\"; fi",
            sh_quote(r)
        ),
        None => String::new(),
    };
    let (walk_fns, streams) = if p.walk {
        (
            format!("{}{}", p.exclude.shell_vars(), WALK)
                .replace("MANIFEST_FMT", MANIFEST_FMT)
                .replace(" EXCL ", &format!(" {} ", p.exclude.find_expr())),
            r#"count_tree &
  walk_prepare 2>"$J/walk.err" || fail=1
  mark walked
  # Below the cut each subtree travels in one stream; above it, several
  # streams write into the same directories.
  [ $fail = 0 ] && { premake "$J/dirs.top" || fail=1; }
  probe_wait
  late_streams
  [ $fail = 0 ] && { walk_deal 2>>"$J/walk.err" || fail=1; }
  if [ $fail = 0 ]; then
    # Only the streams are waited for: the count (for progress alone)
    # never holds the job up.
    ws=()
    for ((i = 0; i < N; i++)); do wstream "$i" & ws+=($!); done
    wait "${ws[@]}"
    for ((i = 0; i < N; i++)); do ok_stream "$i" || fail=1; done
  fi
  [ $fail = 0 ] && { walk_finish || fail=1; }"#,
        )
    } else {
        (
            String::new(),
            r#"probe_wait
  for ((i = 0; i < N; i++)); do stream "$i" & done
  wait
  for ((i = 0; i < N; i++)); do ok_stream "$i" || fail=1; done"#,
        )
    };
    format!(
        r#"#!/bin/bash
# migrate copy job: runs detached on the source server; state lives in $J.
set -u
umask 077
J={jd}
SRC={src}
N={n}
cd "$J" || exit 1
echo $$ > pid
date +%s > started
echo running > state
rm -f s*.rc s*.err s*.walkerr s*.dsterr s*.idx delete.err walk.err sent total total.tmp times retries
# Step timings, for finding where a slow copy spends its time.
mark() {{ echo "$1 $(date +%s.%N)" >> "$J/times"; }}
mark start
# Streams prefer AES-GCM where the CPU has AES instructions: about 1.5 times
# chacha20's rate in the lab (477 against 310 MB/s for one raw ssh pipe),
# and on 2 cores the ciphers' CPU competes with tar. `^` only moves it to
# the front of the default list (OpenSSH 8.0+; tested before use), so a
# server without it still negotiates.
CIPHERS=
if grep -qw aes /proc/cpuinfo 2>/dev/null && ssh -G -o Ciphers=^aes128-gcm@openssh.com localhost >/dev/null 2>&1; then
  CIPHERS='-o Ciphers=^aes128-gcm@openssh.com'
fi
{dst_run}
EXTRACT={extract}
EXTRACT_Z={extract_z}
{walk_fns}
# A stream's create-side errors that only mean "the live app changed the
# tree meanwhile" (the next pass picks those files up).
benign() {{
  ! grep -vE '^tar: [0-9]+$|No such file or directory|file changed as we read it|File removed before we read it|socket ignored' "$1" >/dev/null
}}

# A stream whose ssh connection dropped (ssh exits 255) starts again, up to
# twice, after a pause: one lost connection should not fail a long copy
# whose other streams are fine. Extraction overwrites, so sending a file
# again is harmless. Each retry is noted in $J/retries for the report.
retrying() {{
  [ "${{st[-1]}}" = 255 ] && [ "$a" -lt 3 ] || return 1
  echo "stream $i: the connection to the destination dropped; retry $a: $(tail -n 1 "$J/s$i.dsterr" 2>/dev/null)" >> "$J/retries"
  sleep "$a"
}}

stream() {{
  local i=$1 run=${{2:-dst_run}} st a
  [ "$run" = dst_run ] && warmed "$i"
  for a in 1 2 3; do
  {list_pipeline}
  retrying || break
  done
  echo "${{st[*]}}" > "$J/s$i.rc"
}}

# A walked stream records the walk's status first.
wstream() {{
  local i=$1 run=dst_run st a
  warmed "$i"
  for a in 1 2 3; do
  {walk_pipeline}
  retrying || break
  done
  echo "${{st[*]}}" > "$J/s$i.rc"
}}

ok_stream() {{
  local i=$1 rc c
  [ -f "$J/s$i.rc" ] || return 1
  read -r -a rc < "$J/s$i.rc"
  if [ -f "$J/s$i.walkerr" ]; then
    c=${{rc[0]}}
    [ "$c" = 0 ] || {{ [ "$c" = 1 ] && benign "$J/s$i.walkerr"; }} || return 1
    rc=("${{rc[@]:1}}")
  fi
  c=${{rc[0]}}
  for x in "${{rc[@]:1}}"; do [ "$x" = 0 ] || return 1; done
  [ "$c" = 0 ] || [ "$c" = 1 ] || {{ [ "$c" = 2 ] && benign "$J/s$i.err"; }}
}}

fail=0
# warm I: stream I's connection; $J/wI says it is done (made or not), and
# the stream waits for that, not for the others'.
warm() {{ {{ dst_warm "$1"; : > "$J/w$1"; }} & }}
warmed() {{
  local w=0
  while [ ! -e "$J/w$1" ] && [ $w -lt 1200 ]; do sleep 0.05; w=$((w + 1)); done
}}
rm -f "$J"/w[0-9]*
for ((i = 0; i < N; i++)); do warm "$i"; done
if ! dst_ctl {mkdir} 2>"$J/delete.err"; then fail=1; fi
# Link probe: 2 MiB through one channel. Below 30 MB/s the network, not the
# disks, sets the pace, and zstd -1 pays: it passes incompressible data
# through at over 500 MB/s and shrinks the tar headers, which are 7 % of a
# media tree's stream (2-200 KiB files, measured in the lab: 20k files over
# 100 Mbit/s, 41.9 s compressed against 45.9 s). The probe reads high on a
# link with a queue (that link probed at 15.1 MB/s, so the earlier 15 MB/s
# cut-off missed it half the time); over 1 Gbit/s with 50 ms it reads
# 24 MB/s (one channel's window), where compressing is neither faster nor
# slower (13.5 s against 13.2 s).
# It runs while the job prepares; probe_wait collects its verdict. Z=1 also
# means "a slow link" to `walk_deal`, as when compression was asked for.
Z={z0}
PP=
probe() {{
  # The first 2 MiB warm the connection up (TCP slow start); the second are
  # timed, less the time of an empty command (session setup). Every byte of
  # it delays the copy on the slow links it is for (4+4 MiB cost 0.7 s at
  # 100 Mbit/s), and 2 MiB is already one full ssh channel window.
  local a b c d e r
  a=$(date +%s%N)
  dst_ctl 'cat > /dev/null' < /dev/null 2>/dev/null
  b=$(date +%s%N)
  head -c 2097152 /dev/zero | dst_ctl 'cat > /dev/null' 2>/dev/null || return 0
  c=$(date +%s%N)
  if head -c 2097152 /dev/zero | dst_ctl 'cat > /dev/null' 2>/dev/null; then
    d=$(date +%s%N)
    e=$(( (d - c) - (b - a) ))
    [ "$e" -gt 0 ] || e=1
    r=$(( 2097152 * 1000000000 / e ))
    [ "$r" -lt {slow} ] && Z=1
    echo "$r $Z" > "$J/link"
  fi
}}
probe_wait() {{
  [ -n "$PP" ] || return 0
  wait "$PP"
  PP=
  read -r _ Z < "$J/link" 2>/dev/null || Z=0
  if [ "$Z" = 1 ]; then EXTRACT=$EXTRACT_Z; fi
}}
# The operator measures the link while the job starts (walk mode), and
# writes the stream count it chose to $J/streams; more streams than the job
# started with are added then. It has its answer long before the job needs
# it (five round trips against the job's own connects and probe); a minute
# without one keeps the count the job has.
late_streams() {{
  [ {late} = 1 ] || return 0
  local n w=0
  while [ ! -s "$J/streams" ] && [ $w -lt 600 ]; do sleep 0.1; w=$((w + 1)); done
  read -r n < "$J/streams" 2>/dev/null || return 0
  case $n in ''|*[!0-9]*) return 0 ;; esac
  if [ "$n" -gt "$N" ] && [ "$n" -le 64 ]; then
    for ((i = N; i < n; i++)); do warm "$i"; done
    N=$n
  fi
  mark streams-chosen
}}
if [ {auto_z} = 1 ] && [ $fail = 0 ]; then
  rm -f "$J/link"
  probe &
  PP=$!
fi
if [ $fail = 0 ] && [ -s "$J/delete" ]; then
  dst_ctl {delete} < "$J/delete" 2>>"$J/delete.err" || fail=1
fi
# The directories the streams will write into that dst lacks (see
# `premake_command`).
premake() {{
  [ -s "$1" ] || return 0
  dst_ctl {premake} < "$1" 2>>"$J/delete.err"
}}
if [ $fail = 0 ]; then premake "$J/list.mkdirs" || fail=1; fi
mark prepared
if [ $fail = 0 ]; then
  {streams}
fi
mark streams
if [ $fail = 0 ] && [ -s "$J/list.dirs" ]; then
  i=dirs; stream dirs dst_ctl
  ok_stream dirs || fail=1
fi
mark dirs
if [ $fail = 0 ]; then
  mv -f "$J/manifest.pending" "$J/manifest.done"
  echo done > "$J/state.tmp"
else
  echo failed > "$J/state.tmp"
fi
{removal}
dst_ctl_exit
mark end
date +%s > "$J/finished"
mv -f "$J/state.tmp" "$J/state"
"#,
        jd = sh_quote(&p.job_dir),
        src = sh_quote(&p.src_root),
        extract = sh_quote(&extract_command(p)),
        extract_z = sh_quote(&extract_command_z(p, true)),
        auto_z = u8::from(p.auto_compress && !p.compress),
        late = u8::from(p.late_streams && p.walk),
        slow = SLOW_LINK_RATE as u64,
        z0 = u8::from(p.compress),
        n = p.streams,
        mkdir = sh_quote(&format!("mkdir -p -- {}", sh_quote(&p.dst_root))),
        premake = sh_quote(&premake_command(&p.dst_root)),
        delete = sh_quote(&delete_command(&p.dst_root, p.aside.as_deref())),
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
            auto_compress: false,
            bwlimit: None,
            key_removal: None,
            walk: false,
            exclude: Excludes::default(),
            aside: None,
            late_streams: false,
        }
    }

    #[test]
    fn the_aside_directory_is_dated_in_utc_beside_the_destination() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_210_096);
        assert_eq!(
            aside_dir("/srv/media/", t),
            "/srv/media.migrate-aside-20240229-123456"
        );
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(aside_dir("/d", t), "/d.migrate-aside-20000229-000000");
    }

    /// What the pass removes goes aside byte for byte, under its own
    /// relative path, odd names included; nothing aside is overwritten; a
    /// path already gone is no error; without an aside it is deleted.
    #[test]
    fn deletions_move_aside_intact() {
        let dir = std::env::temp_dir().join(format!("migrate-aside-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dst = dir.join("dst tree");
        std::fs::create_dir_all(dst.join("sub/deeper")).unwrap();
        std::fs::write(dst.join("extra"), b"one").unwrap();
        std::fs::write(dst.join("sub/new\nline 'q'"), b"two").unwrap();
        std::fs::write(dst.join("sub/deeper/f"), b"three").unwrap();
        std::fs::write(dst.join("keep"), b"kept").unwrap();
        let aside = dir.join("dst tree.migrate-aside-x");
        let (d, a) = (dst.to_str().unwrap(), aside.to_str().unwrap());
        let run = |aside: Option<&str>, list: &[u8]| {
            let mut c = Command::new("sh")
                .arg("-c")
                .arg(delete_command(d, aside))
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(list).unwrap();
            }
            c.wait_with_output().unwrap()
        };
        let out = run(
            Some(a),
            b"./extra\0./sub/new\nline 'q'\0./sub/deeper\0./never-there\0",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(aside.join("extra")).unwrap(), b"one");
        assert_eq!(
            std::fs::read(aside.join("sub/new\nline 'q'")).unwrap(),
            b"two"
        );
        assert_eq!(std::fs::read(aside.join("sub/deeper/f")).unwrap(), b"three");
        assert!(!dst.join("extra").exists() && !dst.join("sub/deeper").exists());
        assert_eq!(std::fs::read(dst.join("keep")).unwrap(), b"kept");
        // A name already aside is never overwritten: the command fails and
        // the destination keeps its file.
        std::fs::write(dst.join("extra"), b"again").unwrap();
        let out = run(Some(a), b"./extra\0");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
        assert_eq!(std::fs::read(dst.join("extra")).unwrap(), b"again");
        assert_eq!(std::fs::read(aside.join("extra")).unwrap(), b"one");
        // --delete-without-backup.
        let out = run(None, b"./extra\0");
        assert!(out.status.success());
        assert!(!dst.join("extra").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs a job's script to its end (its own failures go to the state file).
    fn run_job(job: &std::path::Path) {
        let st = Command::new("bash")
            .arg(job.join("run.sh"))
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// What `migrate status` would read of the job in `job`.
    fn status_progress(job: &std::path::Path, info: &crate::job::PlanInfo) -> crate::Progress {
        let out = Command::new("sh")
            .arg("-c")
            .arg(crate::remote_cmds::status_script(&job.to_string_lossy()))
            .output()
            .unwrap();
        crate::job::progress_from(&crate::remote_cmds::parse_kv(&out.stdout), info, 1.0)
    }

    /// A stream's counters, read from a real tar's checkpoints and index:
    /// tar's checkpoint figure counts records, and its index lists the
    /// directories too, so reading either naively overshoots (16 times the
    /// bytes, files plus directories), which the totals then hide only
    /// where they cap it.
    #[test]
    fn stream_counters_match_what_tar_sent() {
        let dir = std::env::temp_dir().join(format!("migrate-count-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = params(&dir);
        let job = dir.join("job");
        let src = dir.join("src tree");
        std::fs::create_dir_all(&job).unwrap();
        let mut list = Vec::new();
        let mut bytes = 0u64;
        for d in 0..4 {
            let sub = format!("d{d}");
            std::fs::create_dir_all(src.join(&sub)).unwrap();
            list.extend_from_slice(format!("{sub}\0").as_bytes());
            for f in 0..10 {
                let len = 200_000 + d * 1000 + f;
                let body: Vec<u8> = (0..len).map(|i| (i * 7 + d) as u8).collect();
                std::fs::write(src.join(format!("{sub}/f{f}")), &body).unwrap();
                list.extend_from_slice(format!("{sub}/f{f}\0").as_bytes());
                bytes += len as u64;
            }
        }
        std::fs::write(job.join("list.0"), &list).unwrap();
        std::fs::write(job.join("state"), "running\n").unwrap();
        let st = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "cd \"$J\" && {} 2>\"$J/s0.err\" > /dev/null",
                create_command(&p, "0", true)
            ))
            .env("J", &job)
            .env("SRC", &src)
            .status()
            .unwrap();
        assert!(st.success());
        // Uncapped (a walk before its count ends has no totals): the raw
        // figures must already be right.
        let raw = crate::job::PlanInfo {
            walk: true,
            stream_files: vec![0],
            stream_bytes: vec![0],
            ..Default::default()
        };
        let pr = status_progress(&job, &raw);
        assert_eq!(pr.files_done, 40, "directories counted as files");
        let slack = (1 << 20) + 40 * 512;
        assert!(
            pr.bytes_done + slack >= bytes && pr.bytes_done <= bytes + 40 * 512,
            "{} bytes counted for {bytes} sent",
            pr.bytes_done
        );
        // Planned totals cap every counter.
        let planned = crate::job::PlanInfo {
            files: 40,
            bytes,
            stream_files: vec![40],
            stream_bytes: vec![bytes],
            ..Default::default()
        };
        let pr = status_progress(&job, &planned);
        assert!(pr.bytes_done <= pr.bytes_total && pr.files_done <= pr.files_total);
        assert!(pr.streams.iter().all(|(d, t)| d <= t));
        // A finished job reads exactly its totals.
        std::fs::write(job.join("state"), "done\n").unwrap();
        let pr = status_progress(&job, &planned);
        assert_eq!((pr.files_done, pr.bytes_done), (40, bytes));
        assert_eq!(pr.streams, vec![(bytes, bytes)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The script really copies, locally, with dst_run = sh -c.
    #[test]
    fn script_copies_lists_and_records_success() {
        let dir = std::env::temp_dir().join(format!("migrate-script-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut p = params(&dir);
        // The compressed pipelines, where zstd is here to run them.
        p.compress = Command::new("zstd").arg("--version").output().is_ok();
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
        run_job(&job);
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
        run_job(&job);
        assert_eq!(
            std::fs::read_to_string(job.join("state")).unwrap().trim(),
            "failed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Streams whose files share directories the destination lacks: each
    /// tar meeting a missing parent races the others to create it, and GNU
    /// tar fails a file when another made every missing directory first.
    /// Without the directories made beforehand (`list.mkdirs`), 8 plain tars
    /// into 300 new directories lost a file in 9 runs of 10 here.
    #[test]
    fn streams_into_shared_new_directories_lose_no_file() {
        let dir = std::env::temp_dir().join(format!("migrate-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut p = params(&dir);
        p.streams = 8;
        let job = dir.join("job");
        let src = dir.join("src tree");
        std::fs::create_dir_all(&job).unwrap();
        let mut lists = vec![Vec::new(); 8];
        let mut dirs = b".\0".to_vec();
        for d in 0..300 {
            std::fs::create_dir_all(src.join(format!("a{d}/b"))).unwrap();
            dirs.extend_from_slice(format!("a{d}\0a{d}/b\0").as_bytes());
            for (i, l) in lists.iter_mut().enumerate() {
                std::fs::write(src.join(format!("a{d}/b/f{i}")), format!("{d} {i}")).unwrap();
                l.extend_from_slice(format!("a{d}/b/f{i}\0").as_bytes());
            }
        }
        for (i, l) in lists.iter().enumerate() {
            std::fs::write(job.join(format!("list.{i}")), l).unwrap();
        }
        std::fs::write(job.join("list.dirs"), &dirs).unwrap();
        std::fs::write(job.join("list.mkdirs"), &dirs[2..]).unwrap();
        std::fs::write(job.join("run.sh"), render(&p)).unwrap();
        for round in 0..3 {
            let _ = std::fs::remove_dir_all(dir.join("dst tree"));
            std::fs::write(job.join("manifest.pending"), b"").unwrap();
            run_job(&job);
            let errs: String = (0..8)
                .map(|i| {
                    std::fs::read_to_string(job.join(format!("s{i}.dsterr"))).unwrap_or_default()
                })
                .collect();
            assert_eq!(
                std::fs::read_to_string(job.join("state")).unwrap().trim(),
                "done",
                "round {round}: {errs}"
            );
            for d in 0..300 {
                for i in 0..8 {
                    assert_eq!(
                        std::fs::read_to_string(dir.join(format!("dst tree/a{d}/b/f{i}"))).unwrap(),
                        format!("{d} {i}")
                    );
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The destination's command reads a stream to its end even though tar
    /// stops at the end-of-archive blocks: a writer that hands the padded
    /// last record over in pieces, after the extracting tar has ended, must
    /// not get a broken pipe.
    #[test]
    fn extract_reads_the_padding_after_the_end_of_the_archive() {
        use std::io::Write;
        use std::process::Stdio;
        let dir = std::env::temp_dir().join(format!("migrate-drain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = params(&dir);
        std::fs::create_dir_all(dir.join("src tree")).unwrap();
        std::fs::write(dir.join("src tree/f"), b"payload").unwrap();
        let archive = Command::new("tar")
            .arg("-C")
            .arg(dir.join("src tree"))
            .args(["-b", &BLOCKING_FACTOR.to_string(), "-cf", "-", "f"])
            .output()
            .unwrap()
            .stdout;
        assert_eq!(archive.len() as u64, BLOCKING_FACTOR * 512);
        let mut x = Command::new("sh")
            .args(["-c", &extract_command(&p)])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut w = x.stdin.take().unwrap();
        // One of tar's 10 KiB read records, holding the file and the
        // end-of-archive blocks; then time for tar to finish; then the rest.
        w.write_all(&archive[..10240]).unwrap();
        w.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let rest = w.write_all(&archive[10240..]);
        drop(w);
        let st = x.wait().unwrap();
        assert!(rest.is_ok(), "writing the padding: {rest:?}");
        assert!(st.success());
        assert_eq!(std::fs::read(dir.join("dst tree/f")).unwrap(), b"payload");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Walk mode: no lists from the operator; the job finds, streams, keeps
    /// hard links, sets directory mtimes and writes a complete manifest.
    #[test]
    fn walk_mode_copies_the_whole_tree_and_writes_its_manifest() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("migrate-walk-script-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut p = params(&dir);
        p.walk = true;
        p.streams = 3;
        p.auto_compress = true;
        let job = dir.join("job");
        let src = dir.join("src tree");
        std::fs::create_dir_all(&job).unwrap();
        // 70 subtrees at depth 2, so the walk cuts there and deals them out.
        for i in 0..70 {
            let d = src.join(format!("top/d{i}/sub"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("f"), format!("{i}")).unwrap();
        }
        std::fs::create_dir_all(src.join("top/d3/empty")).unwrap();
        std::fs::write(src.join("shallow"), b"s").unwrap();
        std::fs::write(src.join("top/d1/sub/linked"), b"L").unwrap();
        std::fs::hard_link(src.join("top/d1/sub/linked"), src.join("top/d60/other")).unwrap();
        std::os::unix::fs::symlink("../d1", src.join("top/d2/ln")).unwrap();
        let sh = |c: &str| {
            let st = Command::new("sh").arg("-c").arg(c).status().unwrap();
            assert!(st.success(), "{c}");
        };
        sh(&format!(
            "cd '{}' && find . -type d -exec touch -h -d @1000000000 {{}} +",
            src.display()
        ));
        std::fs::write(job.join("run.sh"), render(&p)).unwrap();
        run_job(&job);
        let state = std::fs::read_to_string(job.join("state")).unwrap();
        let errs: String = ["walk.err", "s0.err", "s0.walkerr", "s0.dsterr", "sdirs.err"]
            .iter()
            .map(|f| std::fs::read_to_string(job.join(f)).unwrap_or_default())
            .collect();
        assert_eq!(state.trim(), "done", "{errs}");
        let dst = dir.join("dst tree");
        for i in 0..70 {
            assert_eq!(
                std::fs::read_to_string(dst.join(format!("top/d{i}/sub/f"))).unwrap(),
                format!("{i}")
            );
        }
        assert_eq!(std::fs::read(dst.join("shallow")).unwrap(), b"s");
        assert!(dst.join("top/d3/empty").is_dir());
        let a = std::fs::metadata(dst.join("top/d1/sub/linked")).unwrap();
        let b = std::fs::metadata(dst.join("top/d60/other")).unwrap();
        assert_eq!(a.ino(), b.ino(), "the hard link became two files");
        assert_eq!(
            std::fs::read_link(dst.join("top/d2/ln")).unwrap(),
            std::path::Path::new("../d1")
        );
        for d in [
            ".",
            "top",
            "top/d1/sub",
            "top/d2",
            "top/d60",
            "top/d3",
            "top/d69/sub",
        ] {
            let m = std::fs::metadata(dst.join(d)).unwrap();
            assert_eq!(m.mtime(), 1_000_000_000, "mtime of {d}");
        }
        // The manifest lists exactly what a plain find lists.
        let man =
            crate::manifest::parse(&std::fs::read(job.join("manifest.done")).unwrap()).unwrap();
        let mut got: Vec<Vec<u8>> = man.into_iter().map(|e| e.path).collect();
        got.sort();
        let plain = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cd '{}' && find . -mindepth 1 -printf '%P\\0'",
                src.display()
            ))
            .output()
            .unwrap();
        let mut want: Vec<Vec<u8>> = plain
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .chain([b".".to_vec()])
            .collect();
        want.sort();
        assert_eq!(got, want);
        // 70 + shallow + linked + other + ln = 74 non-directories.
        let sent = std::fs::read_to_string(job.join("sent")).unwrap();
        assert_eq!(sent.split_whitespace().next(), Some("74"), "{sent}");
        // The count made alongside the streams agrees with what was sent,
        // and the finished job's progress reads exactly its totals.
        // (The job does not wait for its count.)
        let started = std::time::Instant::now();
        while !job.join("total").exists() && started.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let total = std::fs::read_to_string(job.join("total")).unwrap();
        assert_eq!(total, sent);
        let info = crate::job::PlanInfo {
            walk: true,
            stream_files: vec![0; 3],
            stream_bytes: vec![0; 3],
            ..Default::default()
        };
        let pr = status_progress(&job, &info);
        assert_eq!(pr.files_done, 74);
        assert_eq!(pr.files_total, 74);
        assert_eq!(pr.bytes_done, pr.bytes_total);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A walk started with one stream runs as many as the operator's late
    /// count says, every one of them sending files, and a count it cannot
    /// read, or one that would shrink it, leaves the start count.
    #[test]
    fn a_late_stream_count_adds_streams_that_carry_files() {
        let dir = std::env::temp_dir().join(format!("migrate-late-streams-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let src = dir.join("src tree");
        for i in 0..200 {
            let d = src.join(format!("top/d{i}/sub"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("f"), vec![b'x'; 4096]).unwrap();
        }
        for (given, want) in [("3\n", 3), ("nonsense\n", 2), ("1\n", 2)] {
            let _ = std::fs::remove_dir_all(dir.join("job"));
            let _ = std::fs::remove_dir_all(dir.join("dst tree"));
            let mut p = params(&dir);
            p.walk = true;
            p.late_streams = true;
            p.streams = 2;
            let job = dir.join("job");
            std::fs::create_dir_all(&job).unwrap();
            std::fs::write(job.join("streams"), given).unwrap();
            std::fs::write(job.join("run.sh"), render(&p)).unwrap();
            run_job(&job);
            let state = std::fs::read_to_string(job.join("state")).unwrap();
            assert_eq!(state.trim(), "done", "{given}");
            let ran = (0..8)
                .filter(|i| job.join(format!("s{i}.rc")).exists())
                .count();
            assert_eq!(ran, want, "streams run for a late count of {given:?}");
            for i in 0..want {
                let idx = std::fs::read_to_string(job.join(format!("s{i}.idx"))).unwrap();
                assert!(
                    idx.lines().any(|l| l.ends_with("/f")),
                    "stream {i} sent no file: {idx}"
                );
            }
            for i in 0..200 {
                let f = dir.join(format!("dst tree/top/d{i}/sub/f"));
                assert_eq!(std::fs::read(&f).unwrap().len(), 4096, "{}", f.display());
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
