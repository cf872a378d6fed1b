"""Just enough of aiomcache for aiohttp_session.memcached_storage, which Debian
cannot run because it does not package aiomcache.

MemcachedStorage imports `aiomcache` at module level and only ever awaits
`conn.get(key)` and `conn.set(key, value, exptime=...)` with bytes keys and values.
This client speaks memcached's text protocol for exactly those two commands, with
the flags aiomcache writes (0), so the real storage code runs against a real server.
One connection, one command at a time: the test app serves one request at a time.
"""
import asyncio


class ClientException(Exception):
    pass


class Client:
    def __init__(self, host: str, port: int = 11211) -> None:
        self._host = host
        self._port = port
        self._lock = asyncio.Lock()
        self._streams = None

    async def _connection(self):
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        return self._streams

    async def get(self, key: bytes, default=None):
        async with self._lock:
            reader, writer = await self._connection()
            writer.write(b"get " + key + b"\r\n")
            await writer.drain()
            header = await reader.readline()
            if header == b"END\r\n":
                return default
            parts = header.split()
            if parts[0] != b"VALUE":
                raise ClientException(header)
            value = await reader.readexactly(int(parts[3]) + 2)
            if await reader.readline() != b"END\r\n":
                raise ClientException("unexpected reply after the value")
            return value[:-2]

    async def set(self, key: bytes, value: bytes, exptime: int = 0) -> bool:
        async with self._lock:
            reader, writer = await self._connection()
            command = b"set %s 0 %d %d\r\n" % (key, exptime, len(value))
            writer.write(command + value + b"\r\n")
            await writer.drain()
            reply = await reader.readline()
            if reply != b"STORED\r\n":
                raise ClientException(reply)
            return True

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
