#!/usr/bin/env python3
"""pm4ml LAB stand-in for the Istio ingress gateways' NodePorts (never on a real host).

In a real deployment the GitOps waves install Istio, whose external gateway answers on the
workers' NodePort 32443 (TLS, behind HAProxy's PROXY protocol v2) with its readiness on 32081, and
whose internal gateway answers on 31443 / 31081. The lab's waves are stand-in ConfigMaps, so this
script answers there instead, on the worker hosts, for the verification (guide 6.6) and the lab
tests:

  32443, 31443  TLS; an optional PROXY v2 header first (HAProxy's send-proxy-v2); HTTP/1.1:
                Host argocd.<domain> -> 200 with an Argo CD login page title; /whoami -> 200 with
                the client address the PROXY header carried; anything else -> 404
  32081, 31081  plain HTTP: GET /healthz/ready -> 200 "ready"
"""
import argparse
import socket
import ssl
import struct
import threading

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("short read")
        buf += chunk
    return buf


def proxy_v2(sock):
    """Consumes a PROXY v2 header when one comes first; returns the source address or None."""
    head = sock.recv(16, socket.MSG_PEEK)
    if not head.startswith(SIG[: len(head)]) or len(head) < 16:
        return None
    head = read_exact(sock, 16)
    length = struct.unpack("!H", head[14:16])[0]
    body = read_exact(sock, length)
    if head[13] >> 4 == 1 and length >= 12:  # AF_INET
        return socket.inet_ntoa(body[0:4])
    return "unknown"


def http_reply(conn, code, reason, body):
    data = body.encode()
    conn.sendall(
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/html\r\nContent-Length: {len(data)}\r\n"
        f"Connection: close\r\n\r\n".encode() + data)


def read_request(conn):
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        buf += chunk
    lines = buf.decode(errors="replace").split("\r\n")
    path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
    host = ""
    for line in lines[1:]:
        if line.lower().startswith("host:"):
            host = line.split(":", 1)[1].strip().split(":")[0]
    return path, host


def serve_tls(port, ctx, domain):
    def handle(raw, peer):
        try:
            src = proxy_v2(raw) or peer[0]
            conn = ctx.wrap_socket(raw, server_side=True)
            path, host = read_request(conn)
            if path == "/whoami":
                http_reply(conn, 200, "OK", src + "\n")
            elif host == "argocd." + domain:
                http_reply(conn, 200, "OK",
                           "<!doctype html><html><head><title>Argo CD</title></head>"
                           "<body>pm4ml lab stand-in (port %d)</body></html>" % port)
            else:
                http_reply(conn, 404, "Not Found", "no route for %s\n" % host)
            conn.close()
        except Exception:  # a health probe or a refused handshake: nothing to answer
            raw.close()
    listen(port, handle)


def serve_health(port):
    def handle(conn, _peer):
        try:
            path, _ = read_request(conn)
            if path == "/healthz/ready":
                http_reply(conn, 200, "OK", "ready\n")
            else:
                http_reply(conn, 404, "Not Found", "")
        finally:
            conn.close()
    listen(port, handle)


def listen(port, handle):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(64)

    def loop():
        while True:
            conn, peer = srv.accept()
            conn.settimeout(10)
            threading.Thread(target=handle, args=(conn, peer), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--domain", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    for port in (32443, 31443):
        serve_tls(port, ctx, a.domain)
    for port in (32081, 31081):
        serve_health(port)
    threading.Event().wait()


if __name__ == "__main__":
    main()
