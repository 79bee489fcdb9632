"""In-process cost of the read endpoints: ms per request through Flask's test client,
with no server and no socket in the way. The process's CPU time per request moves
less with the machine's other load than wall time (and wrk's figures) do.

    python -m bench.inprocess [--db sqlite|postgres] [--scale 10000] [--requests 3000]
                              [--rounds 3] [--warmup 50] [--only ENDPOINT] [--profile ENDPOINT]

It uses (and seeds, once) the same database as ``bench.run``. ``--profile list`` prints
cProfile's top functions for that endpoint instead.

Instruction counts do not depend on the machine's load at all: run one endpoint under
``valgrind --tool=callgrind`` with two request counts and divide the difference (see
docs/performance.md).
"""
import argparse
import cProfile
import os
import pstats
import time

from bench.run import database_for, seed


def paths(info):
    workspace, campaign = info["workspace"], info["campaign"]
    return {"list": f"/api/v1/tenant/campaigns?workspace={workspace}&limit=20",
            "detail": f"/api/v1/tenant/campaigns/{campaign}"}


def client_for(url):
    os.environ.update({"DATABASE_URL": url, "RATE_LIMIT": "100000000/minute",
                       "LOG_LEVEL": "INFO", "SECRET_KEY": "bench"})
    import logging

    from app import create_app
    app = create_app()
    # The access line is formatted as in production, written nowhere.
    for handler in logging.getLogger().handlers:
        handler.stream = open(os.devnull, "w")  # noqa: SIM115 - for the process's life
    return app.test_client()


def run(client, path, headers, requests, rounds=3, warmup=50):
    for _ in range(warmup):
        assert client.get(path, headers=headers).status_code == 200
    best = None
    for _ in range(rounds):
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            client.get(path, headers=headers)
        took = ((time.perf_counter() - started) * 1000 / requests,
                (time.process_time() - cpu) * 1000 / requests)
        best = took if best is None else min(best, took)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--scale", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--only", help="one endpoint: list, detail or list_cursor")
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    url, sidecar = database_for(args.db, args.scale)
    info = seed(url, args.scale, sidecar)
    client = client_for(url)
    headers = {"Authorization": f"Bearer {info['key']}"}
    targets = paths(info)
    cursor = client.get(targets["list"], headers=headers).get_json()["data"][-1]["id"]
    targets["list_cursor"] = targets["list"] + f"&starting_after={cursor}"
    if args.profile:
        path = targets[args.profile]
        profile = cProfile.Profile()
        profile.runcall(run, client, path, headers, args.requests)
        pstats.Stats(profile).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(45)
        return
    for name, path in targets.items():
        if args.only and name != args.only:
            continue
        wall, cpu = run(client, path, headers, args.requests, args.rounds,
                        args.warmup)
        print(f"{args.db} {args.scale} {name:12} {wall:.3f} ms/request, {cpu:.3f} ms of CPU "
              "(best of 3)", flush=True)


if __name__ == "__main__":
    main()
