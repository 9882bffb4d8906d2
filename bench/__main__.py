"""`make bench`: every figure of DESIGN.md section 6 as a ratio against a baseline measured in the same run."""

from __future__ import annotations

import os
import platform

import cryptography

from bench import bench_http, bench_multinode, bench_sessions, bench_verify


def main() -> None:
    print(
        f"sessionward bench | python {platform.python_version()} | cryptography {cryptography.__version__} | "
        f"{platform.machine()} | {os.cpu_count()} cores"
    )
    print("\n## token verify (in process)")
    bench_verify.main()

    print("\n## HTTPS server (one process, TLS 1.3, load generator on the same machine)")
    http = bench_http.run()
    print(
        f"{'GET /v1/me':34} {http['me']:10,.0f} req/s   {http['me'] / http['healthz']:5.2f}x GET /healthz "
        f"({http['healthz']:,.0f} req/s)   target >= 0.8x"
    )
    print(
        f"{'POST /v1/sessions (login)':34} {http['login']:10,.1f} /s      {http['login'] / http['argon2']:5.2f}x raw "
        f"argon2id verify ({http['argon2']:,.1f}/s, same parameters and threads)   target >= 0.9x"
    )

    print("\n## sessions (SQLite, one process)")
    rate, fresh_bytes, per_generation = bench_sessions.refresh_rate()
    print(f"{'refresh (service, one core)':34} {rate:10,.0f} /s      target >= 1,000/s")
    print(
        f"{'stored bytes per fresh session':34} {fresh_bytes:10,.0f} B       target <= 1,024 B "
        f"(+{per_generation:,.0f} B per refresh within refresh_grace: a rotated token is kept until its grace has "
        "passed, then forgotten and known by its family)"
    )
    reach = bench_sessions.revocation_reach()
    print_reach(reach)

    print("\n## three nodes on PostgreSQL + Redis (the benchmark's own servers, on this machine)")
    multi = bench_multinode.run()
    if isinstance(multi, str):
        print(f"skipped: {multi}")
        return
    print(f"{'refresh (service, one core, PG+Redis)':34} {multi['pg_refresh']:10,.0f} /s      target >= 1,000/s")
    print(
        f"{'stored bytes per session (PG)':34} {multi['pg_bytes']:10,.0f} B       target <= 1,024 B "
        "(tables and indexes; Redis holds no per-session state)"
    )
    print(
        f"{'revocation node A -> nodes B, C':34} p50 {multi['nodes_p50']:6.1f} ms   p99 {multi['nodes_p99']:6.1f} ms"
        f"   ({multi['samples']:.0f} revocations)   target p99 <= 100 ms"
    )
    print(f"{'revocation node A -> SDK app':34} p50 {multi['app_p50']:6.1f} ms   p99 {multi['app_p99']:6.1f} ms")


def print_reach(reach: list[float]) -> None:
    print(
        f"{'revocation A -> B (SQLite, 2 procs)':34} p50 {sorted(reach)[len(reach) // 2]:6.1f} ms   "
        f"p99 {bench_sessions.p99(reach):6.1f} ms   max {max(reach):6.1f} ms   target p99 <= 100 ms"
    )


if __name__ == "__main__":
    main()
