#!/usr/bin/env python3
# LAB DOUBLE — never shipped. The processes behind the doubles' systemd services:
#   listen.py forward LISTEN_HOST:PORT TARGET_HOST:PORT   a TCP forwarder (MicroK8s' API port
#                                                          16443 -> the lab apiserver)
#   listen.py accept PORT[,PORT...]                        accepts TCP connections and closes them
#                                                          (cluster agent, dqlite, Ceph daemons:
#                                                          only reachability is emulated)
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def forward_conn(creader, cwriter, host, port):
    try:
        ureader, uwriter = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, asyncio.TimeoutError):
        cwriter.close()
        return
    await asyncio.gather(pipe(creader, uwriter), pipe(ureader, cwriter))
    for w in (uwriter, cwriter):
        try:
            w.close()
        except OSError:
            pass


async def accept_conn(_reader, writer):
    writer.write(b"pm4ml lab double\n")
    try:
        await writer.drain()
    except OSError:
        pass
    writer.close()


async def main(argv):
    if len(argv) == 3 and argv[0] == "forward":
        lhost, lport = argv[1].rsplit(":", 1)
        thost, tport = argv[2].rsplit(":", 1)
        server = await asyncio.start_server(
            lambda r, w: forward_conn(r, w, thost, int(tport)), lhost, int(lport), reuse_address=True)
        servers = [server]
    elif len(argv) == 2 and argv[0] == "accept":
        servers = [await asyncio.start_server(accept_conn, "0.0.0.0", int(p), reuse_address=True)
                   for p in argv[1].split(",")]
    else:
        sys.exit("usage: listen.py forward HOST:PORT HOST:PORT | accept PORT[,PORT...]")
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
