"""A flood of requests with bad bearer tokens, from a process of its own (its client work does not compete with
the server for the test process's interpreter): `python -m tests.service.flood URL CA_FILE COUNT CONCURRENCY`.
Prints "started" once the first answer is in, then the answers' status codes as JSON ({"401": 500})."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from collections import Counter

import httpx2


async def flood(base_url: str, ca_file: str, count: int, concurrency: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    numbers = iter(range(count))
    limits = httpx2.Limits(max_connections=concurrency)
    context = ssl.create_default_context(cafile=ca_file)
    async with httpx2.AsyncClient(base_url=base_url, verify=context, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            for n in numbers:
                r = await client.get("/v1/me", headers={"Authorization": f"Bearer bad.token.{n}"})
                if not statuses:
                    print("started", flush=True)
                statuses[r.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def main() -> None:
    base_url, ca_file, count, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps({str(k): v for k, v in asyncio.run(flood(base_url, ca_file, count, concurrency)).items()}))


if __name__ == "__main__":
    main()
