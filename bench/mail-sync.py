#!/usr/bin/env python3
"""bench/mail-sync.py - `migrate mail sync` against mbsync (isync), IMAP to
IMAP, on the same two loopback Dovecot servers started here (needs
.ci/setup-mail.sh: dovecot-imapd, vmail; installs isync when missing).

    python3 bench/mail-sync.py                        # both sets below, 3 rounds
    SET=many ACCOUNTS=200 MSGS=200 python3 bench/mail-sync.py
    SET=big BIG_ACCOUNTS=5 BIG_MSGS=20000 python3 bench/mail-sync.py
    SET=many ACCOUNTS=20 MSGS=100 ROUNDS=3 python3 bench/mail-sync.py   # a quick look

Sets: `many` is many accounts of a few hundred messages; `big` is a few very
large mailboxes. The source is written straight into Dovecot's maildirs
(internal dates as file times, flags in the names) and indexed once before
the first round. Every round runs, back to back, each into fresh destination
accounts: mbsync (one session: it works through its channels one at a
time), then migrate with 1, 4 and 16 sessions. Every copy is counted on the
destination over IMAP afterwards; a run that copied less fails the bench.
Prints and writes to bench/results/mail-sync-DATE-SET.md every round's
times, messages/s, MB/s and the ratio mbsync time / migrate time, with the
median, min and max of the ratios, the machine and the commit.
"""
import base64, imaplib, json, os, platform, random, shutil, socket, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETS = {
    "many": (int(os.environ.get("ACCOUNTS", 200)), int(os.environ.get("MSGS", 200))),
    "big": (int(os.environ.get("BIG_ACCOUNTS", 5)), int(os.environ.get("BIG_MSGS", 20000))),
}
CHOSEN = os.environ.get("SET", "many,big").split(",")
ROUNDS = int(os.environ.get("ROUNDS", 3))
SESSIONS = [1, 4, 16]
FOLDERS = ["INBOX", "Sent", "Archive", "Archive/2024"]
MIGRATE = os.environ.get("MIGRATE") or next(
    (p for p in (os.path.join(HERE, "target/release/migrate"), os.path.join(HERE, "target/debug/migrate")) if os.path.exists(p)),
    None)
if not MIGRATE:
    sys.exit("build migrate first: cargo build --release -p migrate (or give MIGRATE=path)")

CONF = """instance_name = bench-{name}-{port}
base_dir = {d}/run
state_dir = {d}/state
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
log_path = {d}/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 500
mail_location = maildir:~/Maildir
mail_uid = vmail
mail_gid = vmail
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
  default_fields = uid=vmail gid=vmail home={d}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
ssl = no
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(root, name, users):
    d = os.path.join(root, name)
    for sub in ("run", "state", "mail"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    shutil.chown(os.path.join(d, "mail"), "vmail", "vmail")
    port = free_port()
    open(os.path.join(d, "dovecot.conf"), "w").write(CONF.format(name=name, port=port, d=d))
    open(os.path.join(d, "users"), "w").write("".join("%s:{PLAIN}%s::::::\n" % u for u in users))
    shutil.chown(os.path.join(d, "users"), "root", "dovecot")
    os.chmod(os.path.join(d, "users"), 0o640)
    p = subprocess.Popen(["dovecot", "-F", "-c", os.path.join(d, "dovecot.conf")])
    for _ in range(500):
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2) as s:
                if s.recv(4) == b"* OK":
                    return p, port
        except OSError:
            time.sleep(0.02)
    sys.exit("dovecot %s did not start" % name)


def message(i, rnd):
    big = rnd.random() < 0.2
    h = ("From: s%d@example.org\r\nTo: u@example.test\r\nSubject: bench %d\r\nMessage-ID: <bench-%d-%d@example.org>\r\n"
         "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" % (i, i, i, rnd.getrandbits(40)))
    if big:
        blob = base64.encodebytes(rnd.randbytes(rnd.randint(40_000, 120_000))).replace(b"\n", b"\r\n")
        return (h + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n'
                '--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n').encode() + blob + b"--b--\r\n"
    return (h + "Content-Type: text/plain\r\n\r\n").encode() + b"lorem ipsum dolor sit amet\r\n" * rnd.randint(100, 300)


def seed_maildir(d, user, msgs):
    """Writes `msgs` messages for `user` straight into the maildirs Dovecot
    reads (Maildir++: INBOX at the root, folders as .Name.Sub); returns the
    bytes written."""
    rnd = random.Random(user)
    base = os.path.join(d, "mail", user, "Maildir")
    dirs = {f: base if f == "INBOX" else os.path.join(base, "." + f.replace("/", ".")) for f in FOLDERS}
    for p in dirs.values():
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(p, sub), exist_ok=True)
    size = 0
    for i in range(msgs):
        body = message(i, rnd)
        size += len(body)
        when = 1_700_000_000 - i * 60
        flags = "S" if i % 3 else ""
        name = "%d.M%dP%d.bench,S=%d:2,%s" % (when, i, os.getpid(), len(body), flags)
        path = os.path.join(dirs[FOLDERS[i % 4]], "cur", name)
        with open(path, "wb") as f:
            f.write(body)
        os.utime(path, (when, when))
    subprocess.run(["chown", "-R", "vmail:vmail", os.path.join(d, "mail", user)], check=True)
    return size


def count(port, user, password):
    """Messages in every folder of `user`, asked over IMAP."""
    M = imaplib.IMAP4("127.0.0.1", port)
    M.login(user, password)
    n = 0
    for line in M.list()[1]:
        name = line.decode().rsplit(' "/" ', 1)[1].strip('"')
        typ, data = M.status('"%s"' % name, "(MESSAGES)")
        n += int(data[0].decode().rsplit("MESSAGES ", 1)[1].rstrip(")"))
    M.logout()
    return n


MBSYNC = """IMAPAccount src{i}
Host 127.0.0.1
Port {sport}
User {suser}
Pass src
SSLType None
AuthMechs LOGIN

IMAPStore src{i}
Account src{i}

IMAPAccount dst{i}
Host 127.0.0.1
Port {dport}
User {duser}
Pass dst
SSLType None
AuthMechs LOGIN

IMAPStore dst{i}
Account dst{i}

Channel ch{i}
Far :src{i}:
Near :dst{i}:
Patterns *
Create Near
Sync Pull
Expunge None
CopyArrivalDate yes
SyncState {state}/{i}/

"""


def mbsync(root, run, sport, dport, pairs):
    conf = os.path.join(root, run + ".mbsyncrc")
    state = os.path.join(root, run + "-state")
    with open(conf, "w") as f:
        for i, (su, du) in enumerate(pairs):
            os.makedirs(os.path.join(state, str(i)))
            f.write(MBSYNC.format(i=i, sport=sport, dport=dport, suser=su, duser=du, state=state))
    t = time.time()
    out = subprocess.run(["mbsync", "-q", "-c", conf, "-a"], capture_output=True)
    dt = time.time() - t
    if out.returncode != 0:
        sys.exit("mbsync failed (%d): %s" % (out.returncode, out.stderr.decode()[-2000:]))
    return dt


def migrate(root, run, sport, dport, pairs, sessions):
    users = os.path.join(root, run + ".csv")
    with open(users, "w") as f:
        for su, du in pairs:
            f.write("%s;src;%s;dst\n" % (su, du))
    env = dict(os.environ, XDG_STATE_HOME=os.path.join(root, "state"), XDG_CACHE_HOME=os.path.join(root, "cache"),
               XDG_DATA_HOME=os.path.join(root, "data"))
    t = time.time()
    out = subprocess.run([MIGRATE, "--json", "mail", "sync", "--from", "imap+plain://127.0.0.1:%d" % sport,
                          "--to", "imap+plain://127.0.0.1:%d" % dport, "--users", users, "--connections", str(sessions)],
                         capture_output=True, env=env)
    dt = time.time() - t
    if out.returncode != 0:
        sys.exit("migrate failed (%d): %s %s" % (out.returncode, out.stdout.decode()[-2000:], out.stderr.decode()[-2000:]))
    return dt


def commit():
    try:
        c = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", HERE, "diff", "--quiet", "HEAD"]).returncode != 0
        return c + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    return "%d CPUs (%s), %.0f GiB, kernel %s" % (os.cpu_count(), model, mem / 2**20, platform.release())


def bench_set(name, accounts, msgs):
    root = tempfile.mkdtemp(prefix="bench-mail-")
    os.chmod(root, 0o755)
    src_users = ["s%03d@example.test" % i for i in range(accounts)]
    tools = ["mbsync"] + ["migrate-%d" % n for n in SESSIONS]
    dst_users = ["%s-r%d-%03d@example.test" % (t, r, i) for t in tools for r in range(ROUNDS) for i in range(accounts)]
    procs = []
    lines = []
    try:
        sd = os.path.join(root, "src")
        t = time.time()
        sizes = []
        for u in src_users:
            sizes.append(seed_maildir(sd, u, msgs))
        p, sport = start(root, "src", [(u, "src") for u in src_users])
        procs.append(p)
        p, dport = start(root, "dst", [(u, "dst") for u in dst_users])
        procs.append(p)
        total = sum(count(sport, u, "src") for u in src_users)  # also builds Dovecot's indexes
        if total != accounts * msgs:
            sys.exit("the source holds %d messages, not %d" % (total, accounts * msgs))
        nbytes = sum(sizes)
        head = "set %s: %d accounts x %d messages = %d messages, %.1f MB; written and indexed in %.1f s" % (
            name, accounts, msgs, total, nbytes / 1e6, time.time() - t)
        print(head, flush=True)
        times = {t: [] for t in tools}
        for r in range(ROUNDS):
            for tool in tools:
                pairs = [(su, "%s-r%d-%03d@example.test" % (tool, r, i)) for i, su in enumerate(src_users)]
                if tool == "mbsync":
                    dt = mbsync(root, "%s-r%d" % (tool, r), sport, dport, pairs)
                else:
                    dt = migrate(root, "%s-r%d" % (tool, r), sport, dport, pairs, int(tool.split("-")[1]))
                got = sum(count(dport, du, "dst") for _, du in pairs)
                if got != total:
                    sys.exit("%s round %d left %d of %d messages on the destination" % (tool, r + 1, got, total))
                times[tool].append(dt)
                print("  round %d %-11s %7.2f s  %8.0f msg/s  %6.1f MB/s" % (r + 1, tool, dt, total / dt, nbytes / dt / 1e6), flush=True)
                # the copies are not needed once counted: keep the disk small
                for _, du in pairs:
                    shutil.rmtree(os.path.join(root, "dst", "mail", du), ignore_errors=True)
        lines.append("## Set %s: %d accounts x %d messages (%d messages, %.1f MB)" % (name, accounts, msgs, total, nbytes / 1e6))
        lines.append("")
        lines.append("| tool | seconds per round | median msg/s | median MB/s | mbsync time / this time, per round | median | min | max |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for tool in tools:
            ts = times[tool]
            med = statistics.median(ts)
            ratios = [m / x for m, x in zip(times["mbsync"], ts)]
            lines.append("| %s | %s | %.0f | %.1f | %s | %.2f | %.2f | %.2f |" % (
                tool, " ".join("%.2f" % x for x in ts), total / med, nbytes / med / 1e6,
                " ".join("%.2f" % x for x in ratios), statistics.median(ratios), min(ratios), max(ratios)))
        lines.append("")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(root, ignore_errors=True)
    return lines


def main():
    if shutil.which("mbsync") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "isync"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    version = subprocess.run(["mbsync", "-v"], capture_output=True, text=True).stdout.strip()
    out = ["# bench/mail-sync.py, %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "",
           "- command: `SET=%s ROUNDS=%d %s python3 bench/mail-sync.py`" % (
               ",".join(CHOSEN), ROUNDS, " ".join("%s=%s" % (k, os.environ[k]) for k in
                                                  ("ACCOUNTS", "MSGS", "BIG_ACCOUNTS", "BIG_MSGS") if k in os.environ)),
           "- machine: %s" % machine(),
           "- servers: two Dovecot %s on loopback, Maildir, plain IMAP" % subprocess.run(
               ["dovecot", "--version"], capture_output=True, text=True).stdout.strip(),
           "- peer: %s, one invocation over all accounts (Sync Pull, Create Near, CopyArrivalDate yes, FSync left at its default, yes)" % version,
           "- commit: %s; migrate: %s" % (commit(), MIGRATE), ""]
    for name in CHOSEN:
        if name not in SETS:
            sys.exit("SET must name sets among %s, not %r" % (", ".join(SETS), name))
        out += bench_set(name, *SETS[name])
    out.append("- load at the end: %s" % " ".join(open("/proc/loadavg").read().split(" ")[:3]))
    text = "\n".join(out) + "\n"
    print("\n" + text)
    path = os.environ.get("OUT") or os.path.join(HERE, "bench/results/mail-sync-%s-%s.md" % (
        time.strftime("%Y-%m-%d"), "-".join(CHOSEN)))
    open(path, "w").write(text)
    print("written to %s" % path)


if __name__ == "__main__":
    main()
