"""``saliency-studio app``: start the Streamlit app of a source checkout with the study server's routes
(``streamlit run serve.py``, which runs ``app.py``)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from xai_core.cli import CommandError

# serve.py, app.py and pages/ live beside xai_core/ in the repository; a wheel carries the engine only.
CHECKOUT = Path(__file__).resolve().parents[2]


def command(args: argparse.Namespace, server: Path) -> list[str]:
    """The ``streamlit run`` command line for ``args``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(server),
        "--server.address", args.host, "--server.port", str(args.port),
    ]  # fmt: skip


def run(args: argparse.Namespace, prog: str) -> int:
    server = CHECKOUT / "serve.py"
    if not (server.is_file() and (CHECKOUT / "app.py").is_file() and (CHECKOUT / "pages").is_dir()):
        raise CommandError(
            f"the Streamlit app is not part of this installation (no serve.py beside {CHECKOUT / 'xai_core'}); "
            "it runs from a clone of the repository: make run"
        )
    if importlib.util.find_spec("streamlit") is None:
        raise CommandError("the app needs the app extra: pip install 'saliency-studio[app]'")
    if not 0 < args.port < 65536:
        raise CommandError(f"--port must lie in 1..65535; got {args.port}")
    env = dict(os.environ)
    if args.device != "auto":
        env["XAI_DEVICE"] = args.device  # xai_core.default_device() reads it in the server
    argv = command(args, server)
    os.chdir(CHECKOUT)  # Streamlit reads .streamlit/config.toml from the working directory
    if os.name == "posix":
        os.execve(sys.executable, argv, env)  # Streamlit takes over this process: Ctrl-C and signals reach it
    return subprocess.call(argv, env=env)
