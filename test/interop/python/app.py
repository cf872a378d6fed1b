"""An aiohttp service using the real aiohttp_session, for the interop tests.

Run it with Debian's /usr/bin/python3 and shim/ on PYTHONPATH (shim/ stands in
for aioredis and aiomcache, which Debian does not package). It is configured
by environment variables:

  SESSION_STORAGE   simple | encrypted | nacl | redis | memcached
  SESSION_KEY       url-safe base64 of 32 bytes (encrypted, nacl)
  SESSION_REDIS_URL redis://127.0.0.1:<port>/0 (redis)
  SESSION_MEMCACHED 127.0.0.1:<port> (memcached)
  SESSION_COOKIE_NAME, SESSION_MAX_AGE, SESSION_DOMAIN, SESSION_PATH,
  SESSION_SECURE (1), SESSION_SAMESITE   storage options, as aiohttp_session takes them

It listens on a free loopback port, prints "listening on <port>" and exits when
its stdin closes, so it cannot outlive the test that started it.

Routes (under SESSION_PATH, default /): GET get, POST set (merge a JSON object;
?max_age=<n>|none overrides session.max_age for this response),
POST delete (a JSON list of keys), POST login (new_session, then merge),
POST logout (invalidate), POST special (store values JSON cannot carry exactly),
GET repr (the session as Python repr() strings).
A request header X-Clock: <unix seconds> fixes time.time() for that request, so a
test can make or read sessions at any instant without sleeping.
"""
import asyncio
import base64
import json
import os
import socket
import sys
import time
from unittest import mock

from aiohttp import web

import aiohttp_session
from aiohttp_session import get_session, new_session

env = os.environ


def storage_options():
    options = {"cookie_name": env.get("SESSION_COOKIE_NAME", "AIOHTTP_SESSION")}
    if env.get("SESSION_MAX_AGE"):
        options["max_age"] = int(env["SESSION_MAX_AGE"])
    if env.get("SESSION_DOMAIN"):
        options["domain"] = env["SESSION_DOMAIN"]
    if env.get("SESSION_PATH"):
        options["path"] = env["SESSION_PATH"]
    if env.get("SESSION_SECURE"):
        options["secure"] = True
    if env.get("SESSION_SAMESITE"):
        options["samesite"] = env["SESSION_SAMESITE"]
    return options


def make_storage():
    kind = env["SESSION_STORAGE"]
    options = storage_options()
    if kind == "simple":
        return aiohttp_session.SimpleCookieStorage(**options)
    if kind == "encrypted":
        from aiohttp_session.cookie_storage import EncryptedCookieStorage
        # The Fernet key text, exactly as Fernet.generate_key().decode() gives it.
        return EncryptedCookieStorage(env["SESSION_KEY"], **options)
    if kind == "nacl":
        from aiohttp_session.nacl_storage import NaClCookieStorage
        return NaClCookieStorage(base64.urlsafe_b64decode(env["SESSION_KEY"]), **options)
    if kind == "redis":
        import aioredis
        from aiohttp_session.redis_storage import RedisStorage
        return RedisStorage(aioredis.from_url(env["SESSION_REDIS_URL"]), **options)
    if kind == "memcached":
        import aiomcache
        from aiohttp_session.memcached_storage import MemcachedStorage
        host, port = env["SESSION_MEMCACHED"].rsplit(":", 1)
        return MemcachedStorage(aiomcache.Client(host, int(port)), **options)
    raise SystemExit(f"unknown SESSION_STORAGE {kind!r}")


def describe(session):
    return web.json_response({
        "new": session.new,
        "created": session.created,
        "identity": session.identity,
        "empty": session.empty,
        "session": dict(session),
        # JSON cannot tell 1 from 1.0; the tests need to know what Python holds.
        "types": {key: type(value).__name__ for key, value in session.items()},
    })


async def get(request):
    return describe(await get_session(request))


async def set_(request):
    session = await get_session(request)
    session.update(await request.json())
    if "max_age" in request.query:
        # A per-response override, as applications use it ("none" for None).
        value = request.query["max_age"]
        session.max_age = None if value == "none" else int(value)
    return describe(session)


async def delete(request):
    session = await get_session(request)
    for key in await request.json():
        del session[key]
    return describe(session)


async def login(request):
    # The pattern aiohttp_session documents against session fixation.
    session = await new_session(request)
    session.update(await request.json())
    return describe(session)


async def logout(request):
    session = await get_session(request)
    session.invalidate()
    return describe(session)


SPECIAL_VALUES = {
    "nan": float("nan"),
    "infinity": float("inf"),
    "float-one": 1.0,
    "big-int": 2 ** 64 + 1,
}


async def special(request):
    # Values a Python service can store but JSON (and so JavaScript) cannot carry
    # exactly; the response names them instead of serialising them.
    session = await get_session(request)
    for key, name in (await request.json()).items():
        session[key] = SPECIAL_VALUES[name]
    return web.json_response({key: repr(value) for key, value in session.items()})


async def repr_(request):
    # What Python holds, exactly: repr() keeps 1.0 apart from 1 and big ints whole.
    session = await get_session(request)
    return web.json_response({key: repr(value) for key, value in session.items()})


@web.middleware
async def fixed_clock(request, handler):
    # Wraps the session middleware, so loading, expiry checks, Fernet timestamps and
    # saving all see the test's clock: time.time() returns X-Clock (unix seconds)
    # for the whole request. Tests pin both services to the same instant, which makes
    # expiry boundaries exact without sleeping. Patching time.time is safe here
    # because the tests send one request at a time.
    now = request.headers.get("X-Clock")
    if now is None:
        return await handler(request)
    with mock.patch("time.time", lambda: float(now)):
        return await handler(request)


async def main():
    app = web.Application(middlewares=[fixed_clock, aiohttp_session.session_middleware(make_storage())])
    prefix = env.get("SESSION_PATH", "/").rstrip("/") + "/"
    app.add_routes([
        web.get(prefix + "get", get),
        web.post(prefix + "set", set_),
        web.post(prefix + "delete", delete),
        web.post(prefix + "login", login),
        web.post(prefix + "logout", logout),
        web.post(prefix + "special", special),
        web.get(prefix + "repr", repr_),
    ])

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    print(f"listening on {sock.getsockname()[1]}", flush=True)

    # Stop when the test process closes our stdin (or dies).
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
