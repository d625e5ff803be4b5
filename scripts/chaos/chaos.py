#!/usr/bin/env python3
"""Helpers for scripts/chaos/email-kill.sh: an SMTP sink, a load sender and
the report. Standard library only, except `sink`, which needs aiosmtpd.

    chaos.py sink   --port P --log FILE
    chaos.py send   --base URL --recipients FILE --count N --out FILE   # token in $KILN_CHAOS_TOKEN
    chaos.py report --work DIR --mode MODE --domain D

The sink appends one line per accepted message to its log,
`<unix ms>\t<Message-ID>\t<peer port>`, and flushes it before it answers 250,
so a message the log does not hold was never accepted.
"""

import argparse
import collections
import concurrent.futures
import hashlib
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse


# ---------------------------------------------------------------- sink


def run_sink(args):
    from email.parser import BytesHeaderParser

    from aiosmtpd.controller import Controller

    log = open(args.log, "a", buffering=1, encoding="utf-8")
    lock = threading.Lock()
    parser = BytesHeaderParser()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            headers = parser.parsebytes(envelope.original_content or envelope.content)
            message_id = (headers.get("Message-ID") or "").strip() or "-"
            with lock:
                log.write(f"{time.time_ns() // 1_000_000}\t{message_id}\t{session.peer[1]}\n")
                log.flush()
            return "250 OK queued"

    controller = Controller(Handler(), hostname="127.0.0.1", port=args.port, ready_timeout=10)
    controller.start()
    print(f"smtp sink on 127.0.0.1:{args.port}, log {args.log}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    log.close()


# ---------------------------------------------------------------- send


def run_send(args):
    """POSTs `count` email notifications, each with its own Idempotency-Key, so
    a request retried after a 5xx or a dropped connection is the same request."""
    url = urllib.parse.urlsplit(args.base)
    token = os.environ["KILN_CHAOS_TOKEN"]
    recipients = [line.strip() for line in open(args.recipients) if line.strip()]
    counts = collections.Counter()
    counts_lock = threading.Lock()
    local = threading.local()
    progress = {"done": 0}

    def conn():
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        return local.conn

    def post(i):
        body = json.dumps({
            "user_id": recipients[i % len(recipients)],
            "channels": ["email"],
            "template": "welcome",
            "params": {"display_name": f"chaos {i}"},
        })
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"chaos-{i}",
        }
        outcome = "gave up"
        for attempt in range(args.retries):
            try:
                c = conn()
                c.request("POST", "/v1/notifications", body=body, headers=headers)
                resp = c.getresponse()
                resp.read()
                if resp.status in (200, 202):
                    outcome = str(resp.status)
                    break
                outcome = f"http {resp.status}"
                if resp.status < 500 and resp.status != 429:
                    break  # a 4xx will not get better
            except (OSError, http.client.HTTPException) as e:
                outcome = type(e).__name__
                if getattr(local, "conn", None) is not None:
                    local.conn.close()
                local.conn = None
            time.sleep(min(0.2 * 2**attempt, 5))
        with counts_lock:
            counts[outcome] += 1
            progress["done"] += 1
            if progress["done"] % 1000 == 0:
                print(f"sent {progress['done']}/{args.count} requests", file=sys.stderr, flush=True)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(post, range(args.count)))
    elapsed = time.monotonic() - started
    summary = {"requests": args.count, "seconds": round(elapsed, 1), "outcomes": dict(counts)}
    with open(args.out, "w") as f:
        json.dump(summary, f)
    print(f"requests done in {elapsed:.1f}s: {dict(counts)}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- report


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def expected_message_id(notification_id, domain):
    """The Message-ID Kiln gives a notification's email (jobs/src/delivery/email:
    `Mailer::message_id` with the key `notification:{id}`)."""
    digest = hashlib.sha256(f"kiln-email\0notification:{notification_id}".encode()).digest()
    return f"<{digest[:16].hex()}@{domain}>"


def run_report(args):
    work = args.work
    rows = read_tsv(f"{work}/notifications.tsv")  # id, status, provider_message_id, attempts
    sink = read_tsv(f"{work}/sink.log")  # ms, message id, peer port
    kills = [json.loads(line) for line in open(f"{work}/kills.jsonl") if line.strip()]
    sender = json.load(open(f"{work}/send.json"))
    redis_restarts = []
    try:
        redis_restarts = [json.loads(line) for line in open(f"{work}/redis.jsonl") if line.strip()]
    except FileNotFoundError:
        pass

    received = collections.Counter(mid for _, mid, _ in sink)
    first_seen = {}  # Message-ID -> (ms, peer port) of its first copy
    for ms, mid, port in sink:
        first_seen.setdefault(mid, (int(ms), int(port)))

    statuses = collections.Counter(status for _, status, _, _ in rows)
    mismatched, lost, unknown_sent, unknown_unsent = [], [], 0, 0
    ours = set()
    for nid, status, provider_id, _ in rows:
        mid = expected_message_id(nid, args.domain)
        ours.add(mid)
        if provider_id not in ("", "\\N") and provider_id != mid:
            mismatched.append(nid)
        if received[mid]:
            if status == "unknown":
                unknown_sent += 1
            continue
        if status == "unknown":
            unknown_unsent += 1  # the at-most-once bargain, counted on its own
        else:
            lost.append((nid, status))
    foreign = sum(n for mid, n in received.items() if mid not in ours)
    duplicates = {mid: n - 1 for mid, n in received.items() if n > 1 and mid in ours}

    # A duplicate's first copy was sent by a worker that died before recording
    # it. Charge it to the kill whose victim held the SMTP connection that
    # copy came over (the nearest such kill in time: ports are reused), or,
    # when no victim held it, to the nearest kill in time.
    per_kill = collections.Counter()
    by_time_only = 0
    # When each duplicate's first copy was accepted, against its kill: a copy
    # accepted after the kill came from bytes the victim had written before
    # it died; one accepted shortly before fell between the acceptance and
    # its record. Anything much earlier would be a record that was lost.
    offsets = []
    for mid, extra in duplicates.items():
        if not kills:
            by_time_only += extra
            continue
        ms, port = first_seen[mid]
        held = [i for i, kill in enumerate(kills) if port in kill.get("smtp_ports", [])]
        candidates = held or range(len(kills))
        if not held:
            by_time_only += extra
        charged = min(candidates, key=lambda i: abs(kills[i]["ms"] - ms))
        per_kill[charged] += extra
        offsets.append(ms - kills[charged]["ms"])

    unfinished = sum(statuses[s] for s in ("queued", "sending", "retrying"))
    total_dups = sum(duplicates.values())
    sent = statuses["sent"]
    n = len(rows)

    out = []
    out.append(f"mode {args.mode}; {n} notifications created of {sender['requests']} requested "
               f"(HTTP outcomes {sender['outcomes']}, {sender['seconds']}s)")
    out.append("status counts: " + ", ".join(f"{s} {c}" for s, c in sorted(statuses.items())))
    out.append("")
    out.append(" kill   at(s)  worker  victim_pending  running  sending  duplicates")
    t0 = kills[0]["ms"] if kills else 0
    for i, kill in enumerate(kills):
        out.append(f"{i + 1:5d}  {(kill['ms'] - t0) / 1000:6.1f}  {kill['worker']:>6}  "
                   f"{kill['victim_pending']:>14}  {kill['running']:>7}  {kill['sending']:>7}  "
                   f"{per_kill[i]:>10}")
    for r in redis_restarts:
        out.append(f"redis restarted at {(r['ms'] - t0) / 1000:.1f}s (signal {r['signal']}, "
                   f"down {r['down_ms']} ms)")
    out.append("")
    in_flight = sum(k["victim_pending"] for k in kills)
    out.append(f"{'sent':<34}{sent}")
    out.append(f"{'lost (no SMTP message)':<34}{len(lost)}")
    out.append(f"{'unfinished at the end':<34}{unfinished}")
    out.append(f"{'duplicates (extra messages)':<34}{total_dups} "
               f"({100 * total_dups / max(n, 1):.2f}%, over {len(duplicates)} notifications)")
    out.append(f"{'kills':<34}{len(kills)} ({in_flight} jobs in flight on the victims)")
    out.append(f"{'duplicates charged by time only':<34}{by_time_only} (no victim held their SMTP connection)")
    if offsets:
        after = sum(1 for o in offsets if o >= 0)
        just_before = sum(1 for o in offsets if -100 <= o < 0)
        earlier = len(offsets) - after - just_before
        out.append(f"{'  first copy after the kill':<34}{after} (bytes the victim wrote before it died)")
        out.append(f"{'  first copy 0-100 ms before it':<34}{just_before} (between acceptance and record)")
        out.append(f"{'  first copy earlier than that':<34}{earlier} (earliest {min(offsets)} ms from its kill)")
    if args.mode == "at_most_once" or statuses["unknown"]:
        out.append(f"{'unknown':<34}{statuses['unknown']} "
                   f"({unknown_sent} reached the sink, {unknown_unsent} did not)")
    out.append(f"{'messages not from this run':<34}{foreign}")
    if mismatched:
        out.append(f"{'provider id != expected id':<34}{len(mismatched)} (e.g. {mismatched[0]})")
    for nid, status in lost[:10]:
        out.append(f"  lost: {nid} ({status})")
    print("\n".join(out))

    summary = {
        "mode": args.mode, "notifications": n, "sent": sent, "lost": len(lost),
        "unfinished": unfinished, "duplicates": total_dups, "kills": len(kills),
        "in_flight_at_kills": in_flight, "duplicates_per_kill": [per_kill[i] for i in range(len(kills))],
        "duplicate_first_copy_offsets_ms": sorted(offsets),
        "unknown": statuses["unknown"], "unknown_unsent": unknown_unsent,
        "statuses": dict(statuses), "redis_restarts": len(redis_restarts),
    }
    with open(f"{work}/summary.json", "w") as f:
        json.dump(summary, f, indent=1)
    bad = lost or unfinished or mismatched or n != sender["requests"]
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sink")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--log", required=True)
    s = sub.add_parser("send")
    s.add_argument("--base", required=True)
    s.add_argument("--recipients", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--concurrency", type=int, default=16)
    s.add_argument("--retries", type=int, default=8)
    s.add_argument("--out", required=True)
    s = sub.add_parser("report")
    s.add_argument("--work", required=True)
    s.add_argument("--mode", required=True)
    s.add_argument("--domain", required=True)
    args = p.parse_args()
    if args.cmd == "sink":
        run_sink(args)
    elif args.cmd == "send":
        run_send(args)
    else:
        sys.exit(run_report(args))


if __name__ == "__main__":
    main()
