#!/usr/bin/python3
# A TCP proxy for the cluster tests: forwards 127.0.0.1:<printed port> to the address given. Stopped
# with SIGSTOP it cuts its connections off without closing them, as a network partition does.
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(host, port):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


host, port = sys.argv[1].rsplit(":", 1)
asyncio.run(main(host, int(port)))
