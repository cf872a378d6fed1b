"""Stand-in for aioredis 2.x, which Debian does not package.

Debian's aiohttp-session 2.11.0 imports `aioredis` (>= 2.0) in redis_storage.py,
checks `aioredis.__version__` with StrictVersion and the client with
`isinstance(client, aioredis.Redis)`, then calls only `get` and `set(..., ex=...)`.
aioredis 2 was merged into redis-py as `redis.asyncio` (upstream aiohttp-session
2.12 switched to it), so re-exporting that module is the same client code.
"""
from redis.asyncio import *  # noqa: F401,F403
from redis.asyncio import Redis, from_url  # noqa: F401

# The last aioredis release; redis.asyncio started as a copy of it.
__version__ = "2.0.1"
