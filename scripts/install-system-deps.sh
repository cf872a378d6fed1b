#!/bin/sh
# Makes sure the real servers and the Python library the tests talk to are installed:
# redis-server and redis-cli (also for the cluster, and for Sentinel, which runs as
# `redis-server --sentinel`: no redis-sentinel package needed), memcached, and Debian's
# python3-aiohttp-session with its crypto and Redis modules. Missing ones are
# installed from Debian's packages when we may (root or password-less sudo);
# otherwise this names them and fails, rather than letting tests fail obscurely.
set -eu

missing=""
need_binary () { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_python () { /usr/bin/python3 -c "import $1" >/dev/null 2>&1 || missing="$missing $2"; }

need_binary redis-server redis-server
need_binary redis-cli redis-tools
need_binary memcached memcached
if [ -x /usr/bin/python3 ]; then
  need_python aiohttp python3-aiohttp
  need_python aiohttp_session python3-aiohttp-session
  need_python cryptography python3-cryptography
  need_python nacl python3-nacl
  need_python redis.asyncio python3-redis
  # Debian's aiohttp-session 2.11 redis_storage imports distutils, which it does not depend on.
  need_python distutils.version python3-distutils
else
  missing="$missing python3 python3-aiohttp python3-aiohttp-session python3-cryptography python3-nacl python3-redis"
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root="sudo -n"
else
  echo "fastify-sessions tests need these Debian packages:$missing" >&2
  echo "install them with: sudo apt-get install -y$missing" >&2
  exit 1
fi

echo "installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
# shellcheck disable=SC2086
$as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
