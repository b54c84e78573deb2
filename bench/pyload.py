"""A stand-in for wrk where wrk is not installed: the same closed loop, requests, response log and result
line as ``bench/wrk/*.lua``, in Python (asyncio + aiohttp, one process). It costs far more CPU than wrk, so
``bench/run`` installs wrk; this keeps the smoke test and a machine without wrk working.

python -m bench.pyload SCRIPT URL CONCURRENCY SECONDS RESTAURANTS RUN LOG_DIRECTORY PREFIX FIRST
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import time
from pathlib import Path

import aiohttp

from bench.seed import restaurant_id, staff_token

_VALID_DIGITS = "13458"


def _join(
    worker: int, counter: int, restaurants: range, run: int, prefix: str
) -> tuple[str, dict[str, str], str]:
    """As join.lua: a new guest, its own key (also in its name), mobile and client address."""
    index = random.choice(restaurants)
    key = f"{prefix}-{worker}-{counter}-r{index}"
    slug = f"r{index}"
    mobile = f"+447{_VALID_DIGITS[run // 10]}{run % 10}{worker % 10}{counter:06d}"
    body = json.dumps(
        {"name": f"G {key}", "mobileNumber": mobile, "partySize": counter % 6 + 1, "idempotencyKey": key}
    )
    headers = {
        "Content-Type": "application/json",
        "X-Forwarded-For": f"198.{18 + worker % 2}.{counter // 250 % 250}.{counter % 250}",
    }
    return f"/api/public/{slug}/queue", headers, body


def _call_next(restaurants: range) -> tuple[str, dict[str, str], str]:
    index = random.choice(restaurants)
    headers = {"Authorization": f"Bearer {staff_token(index)}"}
    return f"/api/admin/{restaurant_id(index)}/queue/call-next", headers, ""


_ID = re.compile(r'"id":"([^"]+)"')
_TOKEN = re.compile(r'"tokenNumber":(\d+)')
_KEY = re.compile(r'"name":"G ([^"]+)"')


async def main(arguments: list[str]) -> None:
    script, url, concurrency, seconds, count, run, directory, prefix, first = arguments
    restaurants = range(int(first), int(first) + int(count))
    workers = int(concurrency)
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "timeout": 0}
    deadline = time.monotonic() + float(seconds)
    timeout = aiohttp.ClientTimeout(total=10)

    async def worker(number: int, session: aiohttp.ClientSession) -> None:
        with (Path(directory) / f"{prefix}-{number}.log").open("w") as log:
            counter = 0
            while time.monotonic() < deadline:
                counter += 1
                if script == "join.lua":
                    path, headers, body = _join(number, counter, restaurants, int(run), prefix)
                else:
                    path, headers, body = _call_next(restaurants)
                started = time.perf_counter()
                try:
                    async with session.post(url + path, data=body or None, headers=headers) as answer:
                        text = await answer.text()
                        status = answer.status
                except aiohttp.ClientConnectorError:
                    errors["connect"] += 1
                    continue
                except aiohttp.ClientError:
                    errors["read"] += 1
                    continue
                except TimeoutError:
                    errors["timeout"] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                entry = token = key = None
                if status in (200, 201):
                    entry, token, key = (
                        match.group(1) if (match := p.search(text)) else None for p in (_ID, _TOKEN, _KEY)
                    )
                log.write(f"{status} {entry or '-'} {token or '-'} {key or '-'}\n")

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(number, session) for number in range(workers)))
    duration = time.monotonic() - started
    latencies.sort()

    def at(fraction: float) -> int:
        if not latencies:
            return 0
        return int(latencies[min(int(fraction * len(latencies)), len(latencies) - 1)] * 1e6)

    result = {
        "issued": len(latencies) + sum(errors.values()),
        "requests": len(latencies),
        "duration_us": int(duration * 1e6),
        "connect_errors": errors["connect"],
        "read_errors": errors["read"],
        "write_errors": 0,
        "status_errors": 0,
        "timeouts": errors["timeout"],
        "max_us": int(latencies[-1] * 1e6) if latencies else 0,
        "mean_us": sum(latencies) / len(latencies) * 1e6 if latencies else 0.0,
        **{f"p{name}": at(float(name) / 100) for name in ("50", "90", "95", "99", "99.9")},
    }
    print("WRK_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
