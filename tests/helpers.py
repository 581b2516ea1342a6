"""Helpers shared by the tests: model folders, a real-format Hub cache, a fake Hub server."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tiny_models import TINY_CONFIGS

BERT_CONFIG: dict[str, Any] = {
    "model_type": "bert",
    "architectures": ["BertForSequenceClassification"],
    **TINY_CONFIGS["bert"][1],
}


def write_model_dir(
    directory: Path,
    config: dict[str, Any] | str | None = None,
    files: dict[str, bytes | str] | None = None,
    readme: str | None = None,
) -> Path:
    """A model folder: ``config.json`` (a dict, raw text, or none), extra files and a model card."""
    directory.mkdir(parents=True, exist_ok=True)
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        (directory / "config.json").write_text(text)
    for name, content in (files or {}).items():
        path = directory / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if readme is not None:
        (directory / "README.md").write_text(readme)
    return directory


def lay_out_hf_cache(cache_dir: Path, repo_id: str, source: Path, revision: str = "main") -> Path:
    """Copy ``source`` into ``cache_dir`` in the Hub cache's real format; return the snapshot folder.

    ``models--org--name/blobs/<sha256>`` holds the contents, ``snapshots/<commit>/<file>`` are
    relative symlinks to the blobs, and ``refs/<revision>`` holds the commit hash.
    """
    repo_dir = cache_dir / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo_dir / "snapshots" / commit
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / revision).write_text(commit)
    for path in sorted(source.rglob("*")):
        if path.is_dir():
            continue
        data = path.read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


class FakeHub:
    """A local HTTP server answering like the Hub's model-info API (``/api/models/...``)."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.commit = "a" * 40
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str], send_body: bool) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _not_found(self, send_body: bool, code: str = "RepoNotFound") -> None:
                body = json.dumps({"error": "not found"}).encode()
                self._reply(404, body, {"X-Error-Code": code, "Content-Type": "application/json"}, send_body)

            def _serve_file(self, path: str, send_body: bool) -> None:
                # /{org}/{name}/resolve/{revision}/{filename}
                repo_id, _, rest = path.lstrip("/").partition("/resolve/")
                filename = rest.partition("/")[2]
                contents = hub.files.get(repo_id)
                if contents is None:
                    return self._not_found(send_body)
                if filename not in contents:
                    return self._not_found(send_body, "EntryNotFound")
                body = contents[filename]
                etag = hashlib.sha256(body).hexdigest()
                headers = {"X-Repo-Commit": hub.commit, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
                self._reply(200, body, headers, send_body)

            def _handle(self, send_body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                hub.requests.append(path)
                if "/resolve/" in path:
                    return self._serve_file(path, send_body)
                prefix = "/api/models/"
                repo_id = path[len(prefix) :].split("/revision/")[0] if path.startswith(prefix) else None
                info = hub.models.get(repo_id) if repo_id else None
                if info is None:
                    return self._not_found(send_body)
                body = json.dumps({"id": repo_id, "sha": hub.commit, **info}).encode()
                self._reply(200, body, {"Content-Type": "application/json"}, send_body)

            def do_GET(self) -> None:
                self._handle(send_body=True)

            def do_HEAD(self) -> None:
                self._handle(send_body=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_model(
        self,
        repo_id: str,
        *,
        pipeline_tag: str | None = None,
        auto_model: str | None = None,
        files: tuple[str, ...] = ("config.json",),
        config: dict[str, Any] | None = None,
        contents: dict[str, bytes] | None = None,
    ) -> None:
        """Describe a repository; ``contents`` also serves its files under ``/resolve/``."""
        if contents:
            self.files[repo_id] = dict(contents)
            files = tuple(sorted(set(files) | set(contents)))
        info: dict[str, Any] = {"siblings": [{"rfilename": f} for f in files]}
        if pipeline_tag:
            info["pipeline_tag"] = pipeline_tag
        if auto_model:
            info["transformersInfo"] = {"auto_model": auto_model, "pipeline_tag": pipeline_tag}
        if config:
            info["config"] = config
        self.models[repo_id] = info


def assert_onnx_names(directory: Path, config: Any) -> None:
    """Each file of ``config`` in ``directory`` takes and gives the config's inputs and outputs, in order,
    with every dynamic dimension under its name (and none left as a converter's ``unk__N``)."""
    import onnx

    for name, part in config.components().items():
        graph = onnx.load(str(directory / f"{name}.onnx"), load_external_data=False).graph
        assert [i.name for i in graph.input] == list(part.inputs)
        assert [o.name for o in graph.output] == list(part.outputs)
        for value in [*graph.input, *graph.output]:
            dims = value.type.tensor_type.shape.dim
            for axis, dim_name in part.dynamic_axes[value.name].items():
                assert dims[axis].dim_param == dim_name, (name, value.name, axis, dims[axis])
            assert not any(d.dim_param.startswith("unk__") for d in dims), (name, value.name, dims)
        for values in (graph.input, graph.output):
            assert_cache_by_layer([value.name for value in values], name)


def assert_cache_by_layer(names: list[str], where: str = "") -> None:
    """Cache inputs and outputs come layer by layer, self-attention before cross-attention, key before value:
    optimum's order, which its ORTModel classes read the outputs by."""
    from modelexport_pipeline.cache_names import CacheName

    cached = [c for c in (CacheName.parse(name) for name in names) if c is not None]
    order = [(c.layer, 0 if c.attention in (None, "decoder") else 1, c.index) for c in cached]
    assert order == sorted(order), (where, names)
