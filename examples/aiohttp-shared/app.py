"""The aiohttp half of a two-service deployment that shares users' sessions with a
Fastify service (server.ts beside this file).

Both read the same cookie with the same settings: the key (SESSION_KEY), the cookie
name, max_age, path and domain, and the JSON encoder; with REDIS_URL set, the same
Redis server and key prefix (the cookie name) instead of the encrypted cookie.

    export SESSION_KEY=...   # the same value for both services
    python3 app.py           # listens on 127.0.0.1:8081 (PORT to change it)
"""
import os

from aiohttp import web
from aiohttp_session import get_session, new_session, setup

SETTINGS = dict(
    cookie_name="AIOHTTP_SESSION",  # Fastify: cookieName (its default is the same)
    max_age=3600,                   # Fastify: maxAge
    path="/",                       # Fastify: path
    samesite="Lax",                 # Fastify's default; aiohttp sets none unless told
    # domain="example.com",         # Fastify: domain, if you set one
)


def make_storage():
    if os.environ.get("REDIS_URL"):
        # aiohttp-session >= 2.12 takes a redis-py asyncio client.
        from redis.asyncio import from_url
        from aiohttp_session.redis_storage import RedisStorage
        return RedisStorage(from_url(os.environ["REDIS_URL"]), **SETTINGS)
    from aiohttp_session.cookie_storage import EncryptedCookieStorage
    # The key text, as `npx fastify-sessions keygen` or Fernet.generate_key() prints it.
    return EncryptedCookieStorage(os.environ["SESSION_KEY"], **SETTINGS)


def state(session):
    return web.json_response({"service": "aiohttp", "user": session.get("user"), "visits": session.get("visits", 0)})


async def whoami(request):
    return state(await get_session(request))


async def visit(request):
    session = await get_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return state(session)


async def login(request):
    user = (await request.json())["user"]
    session = await new_session(request)  # a fresh session on login, against fixation
    session["user"] = user
    return state(session)


async def logout(request):
    session = await get_session(request)
    session.invalidate()
    return state(session)


def main():
    app = web.Application()
    setup(app, make_storage())
    app.add_routes([
        web.get("/whoami", whoami),
        web.post("/visit", visit),
        web.post("/login", login),
        web.post("/logout", logout),
    ])
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8081")))


if __name__ == "__main__":
    main()
