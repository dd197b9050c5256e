"""Start the explorer inside this process without blocking (tests, screenshots, notebooks)."""
from __future__ import annotations

import socket

import gradio as gr

from .app import MAX_UPLOAD, build_app
from .models import ModelSet


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_background(models: ModelSet, port: int | None = None, host: str = "127.0.0.1"
                     ) -> tuple[gr.Blocks, str]:
    """Build and launch the app on a background thread; returns (app, url). Stop with app.close()."""
    demo = build_app(models)
    port = port or free_port(host)
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                show_error=True,
                max_file_size=MAX_UPLOAD)
    return demo, f"http://{host}:{port}/"
