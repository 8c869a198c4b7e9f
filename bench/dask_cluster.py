#!/usr/bin/python3
"""Host a Dask distributed LocalCluster for the benchmarks: N worker processes, one thread each,
on 127.0.0.1, no dashboard. Prints {"address", "worker_pids"} as one JSON line, then runs until
its standard input closes."""

import json
import logging
import sys
import time

from distributed import Client, LocalCluster


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    with Client(cluster) as c:
        c.wait_for_workers(n, timeout=60)
        pids = sorted(c.run(lambda: __import__("os").getpid()).values())
    print(json.dumps({"address": cluster.scheduler_address, "worker_pids": pids}), flush=True)
    sys.stdin.read()
    cluster.close(timeout=10)


if __name__ == "__main__":
    main()
