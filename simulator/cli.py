"""Start-up: validate flags and the model file, bind, seed, print the ready line, serve until SIGTERM/SIGINT.

Every problem before serving is one line on stderr and exit 1 (argparse's own usage errors exit 2).
"""

from __future__ import annotations

import os
import signal
import sys

import gevent

from simulator.app import Simulator
from simulator.config import ConfigError, parse_config
from simulator.httpserver import make_server
from simulator.profiles import ModelFileError, load_model

PARENT_CHECK_INTERVAL_S = 1.0
READY_LINE = "prospectpro-simulator ready url={url} profile={profile} seed={seed} time_scale={time_scale}"


def main(argv: list[str] | None = None) -> int:
    try:
        model = load_model()
        config = parse_config(argv, set(model.profiles))
    except (ModelFileError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    simulator = Simulator(config, model)
    try:
        server = make_server(config.host, config.port, simulator.handle, simulator.on_written)
    except OSError as error:
        print(f"error: --host/--port: cannot listen on {config.host}:{config.port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    url = f"http://{config.host}:{server.server_port}"
    simulator.gotrue.issuer = f"{url}/auth/v1"
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, server.stop)
    if config.exit_with_parent:
        gevent.spawn(_stop_when_orphaned, config.parent_pid or os.getppid(), server.stop)
    server.start()
    print(READY_LINE.format(url=url, profile=config.profile, seed=config.seed, time_scale=config.time_scale),
          flush=True)
    server.serve_forever()
    return 0


def _stop_when_orphaned(parent_pid: int, stop) -> None:
    """When the parent dies the process is re-parented, so getppid() changes: then stop serving. With --parent-pid
    this also holds for a parent that died before this process read its own parent (seen: a simulator started just
    as its test run was killed served on for hours, re-parented from the start)."""
    while os.getppid() == parent_pid:
        gevent.sleep(PARENT_CHECK_INTERVAL_S)
    stop()
