"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from real
messages and files: wire messages as Python's client and engines send them, the metadata and
db_request filters Python's client builds, configuration and cluster files as users write them.
Run with Debian's /usr/bin/python3 (it uses jupyter_client and ipyparallel); campaigns add their
own findings beside these."""

from __future__ import annotations

import json
import pathlib
import sys

from jupyter_client.session import Session
from ipyparallel.serialize import pack_apply_message

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
DATA = HERE.parent / "data" / "config"


def put(target: str, name: str, data: bytes | str) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def wire(session: Session, msg_type, content=None, metadata=None, buffers=(), idents=()) -> bytes:
    msg = session.msg(msg_type, content=content or {}, metadata=metadata or {})
    frames = session.serialize(msg, ident=list(idents))
    return b"\xff".join(list(frames) + list(buffers))


def decode_seeds() -> None:
    keyed = Session(key=b"fuzz-key", signature_scheme="hmac-sha256")
    bufs = pack_apply_message(lambda x: x * 2, (21,), {})
    put("decode", "apply_request", wire(keyed, "apply_request",
                                        metadata={"after": [], "follow": [], "timeout": None,
                                                  "targets": [], "retries": 0},
                                        buffers=bufs, idents=[b"\x00k\x8bEg"]))
    put("decode", "execute_request", wire(keyed, "execute_request",
                                          {"code": "a = 1", "silent": False}))
    put("decode", "registration_request", wire(keyed, "registration_request",
                                               {"uuid": "1de402a7-5f9d855dd5b8fe49fac533b6"}))
    put("decode", "db_request", wire(keyed, "db_request",
                                     {"query": {"msg_id": {"$in": ["a", "b"]}},
                                      "keys": ["msg_id", "completed"]}))
    put("decode", "result_request", wire(keyed, "result_request",
                                         {"msg_ids": ["a"], "status_only": False}))
    put("decode", "unsigned_queue_request",
        wire(Session(key=b"", signature_scheme="hmac-sha256"), "queue_request",
             {"targets": None, "verbose": True}))


def hub_query_seeds() -> None:
    # (type index, content) as tests/fuzz/targets.hpp hub_query reads them
    seeds = [
        (0, {"uuid": "1de402a7-5f9d855dd5b8fe49fac533b6", "id": 3}),
        (1, {"id": 0}),
        (2, {}),
        (3, {"targets": None, "verbose": True}),
        (4, {"msg_ids": ["m0", "m1", "nope"], "status_only": False}),
        (5, {}),
        (6, {"query": {"completed": {"$ne": None}}, "keys": ["msg_id", "buffers"]}),
        (7, {"msg_ids": ["m2"], "engine_ids": []}),
        (8, {"msg_ids": ["m1"]}),
        (9, {"x": 1}),
    ]
    for i, (kind, content) in enumerate(seeds):
        put("hub_query", f"q{i}", bytes([kind]) + json.dumps(content).encode())


def task_request_seeds() -> None:
    md = [
        {"after": [], "follow": [], "timeout": None, "targets": [], "retries": 0},
        {"after": ["m0", "m1"], "follow": [], "timeout": 2.5, "targets": ["e1"], "retries": 2},
        {"after": {"dependencies": ["p"], "all": False, "success": True, "failure": True},
         "follow": {"dependencies": ["p"], "all": True, "success": True, "failure": False}},
        {"targets": "e2", "retries": 1, "timeout": 0},
    ]
    for i, m in enumerate(md):
        put("task_request", f"md{i}", bytes([i]) + json.dumps(m).encode())


def db_query_seeds() -> None:
    queries = [
        {"msg_id": {"$in": ["m1", "m2"]}, "keys": ["msg_id", "buffers"]},
        {"completed": {"$ne": None}},
        {"submitted": {"$gt": "2026-12-02T00:00:00", "$lte": "2026-12-04"}},
        {"engine_uuid": None, "queue": "mux"},
        {"result_content.status": "ok"},
        {"stdout": {"$exists": True}, "msg_id": {"$nin": ["m0"]}},
        {"$or": [{"queue": "task"}]},
    ]
    for i, q in enumerate(queries):
        put("db_query", f"q{i}", json.dumps(q))


def config_seeds() -> None:
    literals = [
        "{'host1': 2, 'user@host2:2222': {'n': 3, 'engine_args': ['--log-level=10']}}",
        "[1, 2.5, None, True, 'a' 'b', u'u', b'b', r'\\d+', (1,), -3e-2]",
        "{'n': 4, 'queue': \"gpu\", 'nested': {'x': [1, (2, 3)]}}",
        "'it\\'s' \\\n 'continued'",
    ]
    for i, text in enumerate(literals):
        put("py_literal", f"lit{i}", text)
        put("engines_spec", f"spec{i}", text)
    put("engines_spec", "user_host_port", "alice@node7:2222")
    for f in sorted(DATA.rglob("*.py")):
        put("config_py", f.name, f.read_bytes())
    for f in sorted(DATA.rglob("*.json")):
        put("config_json", f.name, f.read_bytes())
    put("config_json", "controller", json.dumps({"IPController": {"ip": "*", "ports": [1, 2]},
                                                  "HubFactory": {"db_class": "SQLiteDB"}}))
    argvs = [
        ["start", "-n", "4", "--profile=myprofile", "--daemonize"],
        ["engines", "--cluster-id=x", "--SSHEngineSetLauncher.engines={'h': 2}",
         "--Cluster.engine_launcher_class=ssh"],
        ["stop", "--profile-dir=/tmp/p d"],
        ["--ip=*", "--IPController.ports=[1, 2]", "--log-level=DEBUG", "--reuse"],
    ]
    for i, argv in enumerate(argvs):
        put("cli_value", f"argv{i}", "\0".join(argv))
    put("cli_value", "value", "{'a': [1, 2], 'b': None}")


def file_seeds() -> None:
    client = {"key": "a3f0", "signature_scheme": "hmac-sha256", "location": "10.0.0.5",
              "interface": "tcp://*", "ssh": "", "registration": 40001, "control": 40002,
              "mux": 40003, "task": 40004, "iopub": 40005, "notification": 40006,
              "task_scheme": "leastload", "broadcast": 40007}
    engine = dict(client, hb_ping=40008, hb_pong=40009, broadcast=[40010, 40011])
    for k in ("notification", "task_scheme"):
        engine.pop(k)
    put("connection_file", "client", json.dumps(client))
    put("connection_file", "engine", json.dumps(engine))
    cluster = {
        "cluster": {"class": "ipyparallel.cluster.cluster.Cluster", "cluster_id": "",
                    "profile_dir": "/home/u/.ipython/profile_default", "controller_args": [],
                    "controller_ip": "", "controller_location": "", "delay": 1.0, "n": 2},
        "controller": {"class": "ipyparallel.cluster.launcher.LocalControllerLauncher",
                       "state": {"state": "running", "pid": 1234, "cluster_id": "",
                                 "profile_dir": "/home/u/.ipython/profile_default"}},
        "engines": {"class": "ipyparallel.cluster.launcher.SlurmEngineSetLauncher",
                    "sets": {"1796351639": {"state": "running", "job_id": "9", "n": 2,
                                            "engines": {"0": {"state": "running"}}}}},
    }
    put("cluster_file", "cluster", json.dumps(cluster))


def template_seeds() -> None:
    templates = [
        "#!/bin/sh\n#SBATCH --ntasks={n}\n#SBATCH --partition={queue}\n"
        "srun {program_and_args}\n",
        "#PBS -l nodes={n//4}:ppn=4\n#PBS -q {queue}\necho {'x' + queue!r:>10}\n{{literal}}\n",
        "{n*2+1:05d} {delay:.2f} {profile_dir!s} {cluster_id}\n",
    ]
    for i, t in enumerate(templates):
        put("batch_template", f"t{i}", t)


if __name__ == "__main__":
    decode_seeds()
    task_request_seeds()
    hub_query_seeds()
    db_query_seeds()
    config_seeds()
    file_seeds()
    template_seeds()
    print(f"seeds written under {CORPUS}", file=sys.stderr)
