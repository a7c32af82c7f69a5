#!/usr/bin/env python3
"""Reference endpoint for pipeline's external functions.

A small threaded HTTP/1.1 server (Python 3 standard library only) speaking
the Redshift Lambda UDF protocol: a POST carries
  {"request_id", "cluster", "user", "database", "external_function",
   "query_id", "num_records", "arguments": [[a1, a2, ...], ...]}
and the reply is
  {"success": true|false, "error_msg": "...", "num_records": n, "results": [...]}

Functions (by path):
  /delete_partition  removes everything under <root>/<arguments[i][0]>;
                     refuses (success:false) a path that leaves the root
  /echo              returns each row's first argument
  /add               returns the sum of each row's arguments (nulls skipped)
  /concat            joins each row's arguments as text (null -> "")
  /null              returns null for every row
  /lambda            like /echo, but the body is json.dumps(...) of the
                     reply, as an AWS Lambda handler returns it
  /alerts            a receiver of pipeline's alerts: keeps each POSTed
                     alert (GET /alerts lists them, in arrival order); with
                     fail_once=1 the first POST of each (incident_id, kind)
                     gets HTTP 500; status=N answers every POST with N;
                     sleep=S waits S seconds first

Switches (query parameters, any path):
  fail=1       success:false with error_msg "requested failure"
  fail_msg=T   success:false with error_msg T
  status=N     reply with HTTP status N (a JSON error body)
  garbage=1    reply with a body that is not JSON
  sleep=S      wait S seconds before answering
  close=1      close the connection without answering
  mismatch=1   report num_records + 1 and one result too many
  flaky=N      with key=K: the first N requests for K get HTTP 503
  result=JSON  every result is this JSON value
  raw=HEX      reply with exactly these bytes (hex), HTTP status raw_status
               (200 by default): replies no function of its own would give

GET /stats returns {"requests": {path: count}, "records": {path: count},
"connections": n, "keys": {key: count}}; POST /reset clears them.

Usage: endpoint.py [--port N] [--root DIR] [--port-file FILE]
Port 0 (the default) picks a free port; it is printed as "PORT <n>" and
written to --port-file when given.
"""

import argparse
import json
import os
import shutil
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

lock = threading.Lock()
stats = {"requests": {}, "records": {}, "connections": 0, "keys": {}}
alerts = []
failed_alerts = set()
ROOT = None


def bump(table, key, n=1):
    table[key] = table.get(key, 0) + n


def delete_partition(path):
    if not isinstance(path, str) or path == "":
        raise ValueError("partition path must be a non-empty string")
    root = os.path.realpath(ROOT)
    target = os.path.realpath(os.path.join(root, path))
    if target != root and not target.startswith(root + os.sep):
        raise ValueError("path %r is outside the root" % path)
    if target == root:
        raise ValueError("refusing to delete the root")
    if os.path.isdir(target):
        shutil.rmtree(target)
        return True
    if os.path.exists(target):
        os.remove(target)
        return True
    return False


def compute(fname, rows):
    if fname == "delete_partition":
        return [delete_partition(r[0] if r else None) for r in rows]
    if fname in ("echo", "lambda"):
        return [r[0] if r else None for r in rows]
    if fname == "add":
        return [sum(x for x in r if x is not None) for r in rows]
    if fname == "concat":
        return ["".join("" if x is None else x if isinstance(x, str) else json.dumps(x)
                        for x in r) for r in rows]
    if fname == "null":
        return [None for _ in rows]
    raise KeyError("no function %r" % fname)


class Handler(socketserver.StreamRequestHandler):
    def send(self, status, body, ctype="application/json", close=False):
        if isinstance(body, str):
            body = body.encode()
        head = "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            status, ctype, len(body), "Connection: close\r\n" if close else "")
        self.wfile.write(head.encode() + body)
        self.wfile.flush()

    def handle(self):
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            stats["connections"] += 1
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            try:
                method, target, _ = line.decode("latin-1").split(" ", 2)
            except ValueError:
                return
            length = 0
            keep = True
            while True:
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    keep = False
            body = self.rfile.read(length) if length else b""
            if not self.dispatch(method, target, body):
                return
            if not keep:
                return

    def alert(self, method, q, body):
        if method == "GET":
            with lock:
                self.send(200, json.dumps(alerts))
            return True
        try:
            alert = json.loads(body or b"{}")
        except ValueError:
            self.send(400, "{}")
            return True
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        first = (alert.get("incident_id"), alert.get("kind"))
        with lock:
            fail = "fail_once" in q and first not in failed_alerts
            alert["answered"] = 500 if fail else int(q.get("status", 200))
            alerts.append(alert)
            if fail:
                failed_alerts.add(first)
        self.send(alert["answered"], "{}")
        return True

    def dispatch(self, method, target, body):
        url = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if method == "GET" and path == "/stats":
            with lock:
                self.send(200, json.dumps(stats))
            return True
        if method == "POST" and path == "/reset":
            with lock:
                stats["requests"].clear()
                stats["records"].clear()
                stats["keys"].clear()
                stats["connections"] = 0
                alerts.clear()
                failed_alerts.clear()
            self.send(200, "{}")
            return True
        if path == "/alerts":
            return self.alert(method, q, body)
        fname = path.strip("/")
        try:
            req = json.loads(body or b"{}")
            rows = req.get("arguments", [])
        except ValueError:
            req, rows = {}, []
        with lock:
            bump(stats["requests"], path)
            bump(stats["records"], path, len(rows))
            n_for_key = 0
            if "key" in q:
                bump(stats["keys"], q["key"])
                n_for_key = stats["keys"][q["key"]]
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        if "close" in q:
            self.connection.shutdown(socket.SHUT_RDWR)
            return False
        if "flaky" in q and n_for_key <= int(q["flaky"]):
            self.send(503, json.dumps({"success": False, "error_msg": "try again"}))
            return True
        if "raw" in q:
            self.send(int(q.get("raw_status", 200)), bytes.fromhex(q["raw"]))
            return True
        if "status" in q:
            self.send(int(q["status"]), json.dumps({"success": False,
                                                    "error_msg": "status %s" % q["status"]}))
            return True
        if "garbage" in q:
            self.send(200, "this is {not json", "text/plain")
            return True
        if "deep" in q:  # a reply nested deeper than a parser's stack allows
            self.send(200, '{"success": true, "num_records": 1, "results": ' + "[" * int(q["deep"]))
            return True
        if "fail" in q or "fail_msg" in q:
            self.send(200, json.dumps({"success": False,
                                       "error_msg": q.get("fail_msg", "requested failure")}))
            return True
        if req.get("num_records") != len(rows):
            self.send(200, json.dumps({"success": False,
                                       "error_msg": "num_records does not match arguments"}))
            return True
        try:
            if "result" in q:
                results = [json.loads(q["result"]) for _ in rows]
            else:
                results = compute(fname, rows)
            reply = {"success": True, "num_records": len(rows), "results": results}
        except (KeyError, ValueError, TypeError, OSError) as e:
            reply = {"success": False, "error_msg": str(e).strip('"')}
        if "mismatch" in q:
            reply["num_records"] = len(rows) + 1
            reply["results"] = reply.get("results", []) + [None]
        out = json.dumps(reply)
        if fname == "lambda":
            out = json.dumps(out)
        self.send(200, out)
        return True


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--root", default=os.getcwd())
    ap.add_argument("--port-file")
    a = ap.parse_args()
    ROOT = a.root
    srv = Server(("127.0.0.1", a.port), Handler)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    print("PORT %d" % port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
