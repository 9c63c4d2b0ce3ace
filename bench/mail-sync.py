#!/usr/bin/env python3
"""bench/mail-sync.py - `migrate mail sync` against a plain single-connection
IMAP copy written with Python's imaplib, in the same run, on two loopback
Dovecot servers started here (needs .ci/setup-mail.sh: dovecot-imapd, vmail).

    python3 bench/mail-sync.py                      # 20 accounts x 200 messages
    ACCOUNTS=20 MSGS=300 MIGRATE=target/release/migrate python3 bench/mail-sync.py

Every run copies into fresh destination users, so each starts empty; the
last one reruns the 20x8 run (nothing to copy: messages compared per second).
Prints messages/s and MB/s per run and the ratios against imaplib.
"""
import base64, imaplib, json, os, random, shutil, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCOUNTS = int(os.environ.get("ACCOUNTS", 20))
MSGS = int(os.environ.get("MSGS", 200))
MIGRATE = os.environ.get("MIGRATE") or next(
    (p for p in (os.path.join(HERE, "target/release/migrate"), os.path.join(HERE, "target/debug/migrate")) if os.path.exists(p)),
    None)
if not MIGRATE:
    sys.exit("build migrate first: cargo build --release -p migrate")
RUNS = [("migrate-1", 1, 1), ("migrate-20x1", ACCOUNTS, 1), ("migrate-20x4", ACCOUNTS, 4), ("migrate-20x8", ACCOUNTS, 8),
        # the same users again: nothing to copy, every message compared
        ("rerun-20x8", ACCOUNTS, 8)]

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
        os.makedirs(os.path.join(d, sub))
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


def seed(port, user):
    rnd = random.Random(user)
    M = imaplib.IMAP4("127.0.0.1", port)
    M.login(user, "src")
    for f in ("Archive", "Archive/2024"):
        M.create(f)
    size = 0
    for i in range(MSGS):
        body = message(i, rnd)
        size += len(body)
        M.append(["INBOX", "Sent", "Archive", "Archive/2024"][i % 4], "(\\Seen)" if i % 3 else "()",
                 imaplib.Time2Internaldate(1_700_000_000 - i * 3600), body)
    M.logout()
    return size


def imaplib_copy(sport, dport, suser, duser):
    """The plain way: one connection per side, one message at a time."""
    S = imaplib.IMAP4("127.0.0.1", sport)
    S.login(suser, "src")
    D = imaplib.IMAP4("127.0.0.1", dport)
    D.login(duser, "dst")
    n = 0
    for line in S.list()[1]:
        name = line.decode().rsplit(' "/" ', 1)[1].strip('"')
        if name != "INBOX":
            D.create('"%s"' % name)
        S.select('"%s"' % name, readonly=True)
        uids = S.uid("SEARCH", None, "ALL")[1][0].split()
        for uid in uids:
            typ, data = S.uid("FETCH", uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
            meta, body = data[0]
            flags = "(" + " ".join(f.decode() for f in imaplib.ParseFlags(meta) if f != b"\\Recent") + ")"
            date = '"' + meta.decode().split('INTERNALDATE "')[1].split('"')[0] + '"'
            D.append('"%s"' % name, flags, date, body)
            n += 1
    S.logout()
    D.logout()
    return n


def main():
    root = tempfile.mkdtemp(prefix="bench-mail-")
    os.chmod(root, 0o755)
    src_users = [("b%02d@example.test" % i, "src") for i in range(ACCOUNTS)]
    dst_users = [("py%02d@example.test" % i, "dst") for i in range(ACCOUNTS)]
    for run, _, _ in RUNS[:-1]:
        dst_users += [("%s-%02d@example.test" % (run, i), "dst") for i in range(ACCOUNTS)]
    procs = []
    try:
        p, sport = start(root, "src", src_users)
        procs.append(p)
        p, dport = start(root, "dst", dst_users)
        procs.append(p)
        t = time.time()
        sizes = [seed(sport, u) for u, _ in src_users]
        print("seeded %d accounts x %d messages (%.1f MB) in %.1f s" % (ACCOUNTS, MSGS, sum(sizes) / 1e6, time.time() - t))
        print("migrate binary: %s" % MIGRATE)
        results = []

        t = time.time()
        n = imaplib_copy(sport, dport, src_users[0][0], dst_users[0][0])
        dt = time.time() - t
        results.append(("imaplib-1", 1, n, sizes[0], dt))

        for run, accounts, conns in RUNS:
            users = os.path.join(root, run + ".csv")
            with open(users, "w") as f:
                for i in range(accounts):
                    target = "migrate-20x8" if run.startswith("rerun") else run
                    f.write("%s;src;%s-%02d@example.test;dst\n" % (src_users[i][0], target, i))
            env = dict(os.environ, XDG_STATE_HOME=os.path.join(root, "state"), XDG_CACHE_HOME=os.path.join(root, "cache"),
                       XDG_DATA_HOME=os.path.join(root, "data"))
            t = time.time()
            out = subprocess.run([MIGRATE, "--json", "mail", "sync", "--from", "imap+plain://127.0.0.1:%d" % sport,
                                  "--to", "imap+plain://127.0.0.1:%d" % dport, "--users", users, "--connections", str(conns)],
                                 capture_output=True, env=env)
            dt = time.time() - t
            if out.returncode != 0:
                print(out.stdout.decode()[-2000:], out.stderr.decode()[-2000:])
                sys.exit("migrate failed (%d)" % out.returncode)
            tot = json.loads(out.stdout)["totals"]
            if run.startswith("rerun"):
                # messages compared per second; nothing is copied
                results.append((run, accounts, tot["src_messages"], 0, dt))
            else:
                results.append((run, accounts, tot["copied"], tot["copied_bytes"], dt))

        base = results[0][2] / results[0][4]
        print("\n%-14s %8s %9s %8s %10s %8s %9s" % ("run", "accounts", "messages", "seconds", "msg/s", "MB/s", "x imaplib"))
        for name, acc, n, b, dt in results:
            print("%-14s %8d %9d %8.2f %10.1f %8.2f %9.2f" % (name, acc, n, dt, n / dt, b / dt / 1e6, (n / dt) / base))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
