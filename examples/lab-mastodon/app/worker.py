#!/usr/bin/env python3
"""Stand-in for Mastodon's Sidekiq (Ruby cannot run in the lab): it speaks
RESP to the Redis named by .env.production (REDIS_URL unix:// or
redis://, else REDIS_HOST/REDIS_PORT/REDIS_DB) and keeps jobs as Sidekiq
does, so a move has real queued jobs to carry.

  worker.py enqueue N [CLASS]     N jobs into queue:default (LPUSH, JSON
                                  payloads with class, args, jid, queue,
                                  created_at, enqueued_at; `queues` set)
  worker.py schedule SECONDS      one job into the `schedule` sorted set,
                                  due SECONDS from now
  worker.py run LOG               process jobs until SIGTERM: registers in
                                  `processes` with a `busy` count and a
                                  `<identity>:work` hash, BRPOPs the queues,
                                  moves due scheduled jobs to their queue,
                                  appends "jid class" to LOG for each job
                                  done. SIGTERM lets the running job finish
                                  (as Sidekiq's shutdown does), then exits.

A `LabLongJob` job runs until the worker is told to stop, then three
seconds more: a long job still busy when the app is stopped for the
move."""
import json, os, signal, socket, sys, time, uuid

ROOT = os.path.dirname(os.path.abspath(__file__))


def env():
    out = {}
    with open(os.path.join(ROOT, ".env.production")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                out[k] = v
    return out


class Redis:
    def __init__(self):
        e = env()
        url = e.get("REDIS_URL", "")
        db = e.get("REDIS_DB", "0")
        if url.startswith("unix://"):
            self.s = socket.socket(socket.AF_UNIX)
            self.s.connect(url[len("unix://"):].split("?")[0])
        else:
            host, port = e.get("REDIS_HOST", "localhost"), int(e.get("REDIS_PORT", "6379"))
            if url.startswith("redis://"):
                rest = url[len("redis://"):].split("@")[-1]
                hp, _, path = rest.partition("/")
                host, _, p = hp.partition(":")
                port = int(p or 6379)
                db = path or db
            self.s = socket.create_connection((host, port))
        self.f = self.s.makefile("rb")
        if e.get("REDIS_PASSWORD"):
            self.cmd("AUTH", e["REDIS_PASSWORD"])
        self.cmd("SELECT", db)

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)


def job(klass, args, queue="default"):
    now = time.time()
    return {"class": klass, "args": args, "jid": uuid.uuid4().hex[:24], "queue": queue,
            "retry": True, "created_at": now, "enqueued_at": now}


def enqueue(r, n, klass="ActivityPub::DeliveryWorker"):
    r.cmd("SADD", "queues", "default")
    for i in range(n):
        j = job(klass, [i, "https://remote.example/inbox"])
        r.cmd("LPUSH", "queue:default", json.dumps(j))


def schedule(r, seconds):
    j = job("Scheduler::LabScheduledJob", ["later"])
    del j["enqueued_at"]
    r.cmd("ZADD", "schedule", "%f" % (time.time() + seconds), json.dumps(j))


stopping = False


def run(r, log):
    global stopping
    identity = "%s:%d:%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])

    def on_term(*_):
        global stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)

    def beat(busy):
        r.cmd("SADD", "processes", identity)
        r.cmd("HSET", identity, "busy", busy, "beat", time.time(),
              "info", json.dumps({"hostname": socket.gethostname(), "pid": os.getpid(), "queues": ["default"]}))

    beat(0)
    while not stopping:
        for payload in r.cmd("ZRANGEBYSCORE", "schedule", "-inf", "%f" % time.time()) or []:
            if r.cmd("ZREM", "schedule", payload):
                j = json.loads(payload)
                j["enqueued_at"] = time.time()
                r.cmd("SADD", "queues", j["queue"])
                r.cmd("LPUSH", "queue:" + j["queue"], json.dumps(j))
        got = r.cmd("BRPOP", "queue:default", "1")
        if not got:
            beat(0)
            continue
        j = json.loads(got[1])
        r.cmd("HSET", identity + ":work", "0", json.dumps({"queue": j["queue"], "payload": got[1], "run_at": time.time()}))
        beat(1)
        if j["class"] == "LabLongJob":
            while not stopping:
                time.sleep(0.1)
            time.sleep(3)
        with open(log, "a") as f:
            f.write("%s %s\n" % (j["jid"], j["class"]))
        r.cmd("DEL", identity + ":work")
        r.cmd("INCR", "stat:processed")
        beat(0)
    r.cmd("SREM", "processes", identity)
    r.cmd("DEL", identity, identity + ":work")


if __name__ == "__main__":
    r = Redis()
    what = sys.argv[1]
    if what == "enqueue":
        enqueue(r, int(sys.argv[2]), *sys.argv[3:4])
    elif what == "schedule":
        schedule(r, float(sys.argv[2]))
    elif what == "run":
        run(r, sys.argv[2])
    else:
        sys.exit("usage: worker.py enqueue N [CLASS] | schedule SECONDS | run LOG")
