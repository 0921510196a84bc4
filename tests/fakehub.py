"""A fake Hugging Face Hub on 127.0.0.1 for download tests.

It speaks the routes and headers huggingface_hub 2.4 uses (read from its source):

* ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}`` (``?blobs=true``
  adds sizes and LFS sha256s) — ``HfApi.model_info``;
* ``GET /api/models/{repo}/tree/{rev}[/{path}]`` — ``list_repo_tree`` (``expand=true`` adds
  each file's ``lastCommit`` and ``securityFileStatus`` and pages by 50 entries, otherwise by
  1,000, with a ``Link: <…>; rel="next"`` header as the hub does);
* ``POST /api/models/{repo}/paths-info/{rev}`` — ``get_paths_info`` (form ``paths``, ``expand``);
* ``GET /api/models?search=…&filter=gguf&sort=downloads&limit=…&expand=…`` —
  ``list_models`` (repos whose id contains the search text and whose tags hold every filter,
  most downloaded first; ``expand`` keeps only the properties asked for);
* ``HEAD``/``GET /{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit``, ``ETag`` (the
  sha256 for LFS files, the git oid otherwise), ``X-Linked-Etag``, ``X-Linked-Size``,
  ``Accept-Ranges`` and ``Range`` → 206 — ``hf_hub_download``;
* ``GET /api/agent-harnesses`` — the telemetry registry huggingface_hub fetches when
  telemetry is on;
* optional redirect of file bytes to ``/cdn/{sha}`` on ``localhost`` (another origin),
  like the real hub's CDN.

Fault switches live in :class:`Faults` and can be flipped while it runs. The server
runs in a daemon thread and stops itself after ``lifetime_s``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SPLIT_PARTS = 3
SPLIT_NAMES = tuple(
    f"Q8_0/SmolLM2-135M-Instruct-Q8_0-{i:05d}-of-{SPLIT_PARTS:05d}.gguf"
    for i in range(1, SPLIT_PARTS + 1)
)
DEFAULT_REPO = "fake-org/SmolLM2-135M-Instruct-GGUF"
VALID_TOKEN = "hf_fake_valid_token"
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


@dataclass
class FakeFile:
    """One file of a fake repo: a byte range of a file on disk, or inline bytes."""

    path: str
    size: int
    source: Path | None = None
    offset: int = 0
    data: bytes | None = None
    lfs: bool = True
    sha256: str = ""
    blob_id: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = _sha256_of(self)
        if not self.blob_id:
            if self.lfs:
                pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                self.blob_id = hashlib.sha1(pointer.encode()).hexdigest()
            else:
                body = self.read(0, self.size)
                self.blob_id = hashlib.sha1(b"blob %d\0" % self.size + body).hexdigest()

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id

    def read(self, start: int, count: int) -> bytes:
        if self.data is not None:
            if len(self.data) < self.size:  # listed only: its bytes read as zeros
                return bytes(max(0, min(count, self.size - start)))
            return self.data[start : start + count]
        assert self.source is not None
        with self.source.open("rb") as handle:
            handle.seek(self.offset + start)
            return handle.read(count)


def _sha256_of(item: FakeFile) -> str:
    if item.data is not None:
        return hashlib.sha256(item.data).hexdigest()
    assert item.source is not None
    key = (str(item.source), item.offset, item.size)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with item.source.open("rb") as handle:
            handle.seek(item.offset)
            left = item.size
            while left:
                block = handle.read(min(left, 8 << 20))
                digest.update(block)
                left -= len(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


@dataclass
class FakeRepo:
    """A repository: id, commit and files; ``gated`` requires :data:`VALID_TOKEN`."""

    repo_id: str
    files: list[FakeFile]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False
    downloads: int = 1000
    """Downloads over the last 30 days (``list_models`` sorts by it)."""
    likes: int = 10
    last_modified: str = "2026-11-20T10:00:00.000Z"
    """Date of the last commit (also each file's ``lastCommit`` date)."""
    created_at: str = "2024-11-01T09:00:00.000Z"
    tags: tuple[str, ...] = ("gguf", "text-generation")

    def file(self, path: str) -> FakeFile | None:
        return next((f for f in self.files if f.path == path), None)


def listed_file(path: str, size: int, sha256: str) -> FakeFile:
    """A file that exists in listings with the given size and sha256; its bytes are zeros
    (so it is never a valid GGUF and never matches its sha256)."""
    return FakeFile(path=path, size=size, data=b"", sha256=sha256)


def fake_smollm2_entry(
    quants: str, model_id: str = "fake-smollm2", repo_id: str = DEFAULT_REPO
) -> str:
    """A user-catalog entry for SmolLM2 135M on the fake hub; ``quants`` are its
    ``[[model.quant]]`` tables."""
    return f"""
[[model]]
id = "{model_id}"
name = "SmolLM2 135M on the fake hub"
family = "smollm"
repo = "{repo_id}"
params = 134_515_008
license = "Apache-2.0"

[model.arch]
architecture = "llama"
n_layers = 30
n_embd = 576
n_heads = 9
n_kv_heads = 3
key_length = 64
value_length = 64
n_vocab = 49152
ctx_train = 8192
n_ff = 1536

{quants}"""


def smollm2_repo(model: Path, repo_id: str = DEFAULT_REPO) -> FakeRepo:
    """The real SmolLM2 GGUF, a 3-part split copy of it (byte slices) and a README."""
    size = model.stat().st_size
    step = size // SPLIT_PARTS
    parts = []
    for index, name in enumerate(SPLIT_NAMES):
        start = index * step
        end = size if index == SPLIT_PARTS - 1 else start + step
        parts.append(FakeFile(path=name, size=end - start, source=model, offset=start))
    readme = b"# SmolLM2 135M Instruct GGUF (fake hub copy)\n"
    return FakeRepo(
        repo_id=repo_id,
        files=[
            FakeFile(path=SMOLLM2_FILE, size=size, source=model),
            *parts,
            FakeFile(path="README.md", size=len(readme), data=readme, lfs=False),
        ],
    )


SEARCH_REPO = "other-org/SmolLM2-360M-Instruct-GGUF"
GATED_SEARCH_REPO = "gated-org/SmolLM2-1.7B-Gated-GGUF"


def _fake_sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def search_repos(model: Path) -> list[FakeRepo]:
    """Repos for search tests: the real SmolLM2 one (most downloaded), one with the same quant
    in two folders (listing only), a gated one, a non-GGUF one and an unrelated one."""
    names = (
        ("a/SmolLM2-360M-Instruct-Q4_K_M.gguf", 270_590_944),
        ("b/SmolLM2-360M-Instruct-Q4_K_M.gguf", 271_000_000),
        ("SmolLM2-360M-Instruct-Q8_0.gguf", 386_404_992),
    )
    other = FakeRepo(
        SEARCH_REPO,
        [listed_file(n, size, _fake_sha(n)) for n, size in names],
        commit="1111111111111111111111111111111111111111",
        downloads=300,
        last_modified="2026-10-01T08:30:00.000Z",
    )
    gated = FakeRepo(
        GATED_SEARCH_REPO,
        [FakeFile(path=SMOLLM2_FILE, size=model.stat().st_size, source=model)],
        commit="2222222222222222222222222222222222222222",
        gated=True,
        downloads=30,
    )
    plain = FakeRepo(
        "plain-org/SmolLM2-135M-Instruct",
        [listed_file("model.safetensors", 269_060_552, _fake_sha("model.safetensors"))],
        tags=("safetensors", "text-generation"),
        downloads=90_000,
    )
    unrelated = FakeRepo(
        "x-org/Qwen3-0.6B-GGUF",
        [listed_file("Qwen3-0.6B-Q8_0.gguf", 639_446_688, _fake_sha("qwen"))],
        downloads=50_000,
    )
    real = smollm2_repo(model)
    real.downloads = 5000
    return [gated, plain, other, real, unrelated]


@dataclass
class Faults:
    """Switches; change them at any time (reads are not locked: single attribute writes)."""

    drop_after_bytes: int | None = None
    """Close the connection after this many body bytes of a file GET."""
    drop_times: int = 1 << 30
    """How many file GETs the drop applies to."""
    corrupt: bool = False
    """Serve one wrong byte in the middle of every file."""
    status: int | None = None
    """Answer this HTTP status instead (for ``status_times`` requests on ``status_routes``)."""
    status_times: int = 1 << 30
    status_routes: tuple[str, ...] = ("api", "resolve", "search")
    """``api`` (model info, tree, paths-info), ``resolve`` (file bytes), ``search``
    (``list_models``)."""
    retry_after: str | None = "0"
    """``Retry-After`` sent with an injected status (huggingface_hub's backoff honours it)."""
    delay_s: float = 0.0
    """Wait this long before answering any ``/api/`` request (a slow hub)."""
    trickle_bytes_s: int | None = None
    """Send file bodies at about this rate."""
    ignore_range: bool = False
    """Answer 200 with the whole file to a Range request."""
    hostile_name: str | None = None
    """Add a file with this name to every listing."""
    hostile_etag: str | None = None
    hostile_commit: str | None = None
    cdn_redirect: bool = False
    """Redirect file bytes to ``http://localhost:PORT/cdn/<etag>`` (another origin)."""
    oversized_range_bytes: int | None = None
    """Answer a Range request with 206 and this many bytes (the file's bytes, then zeros),
    whatever was asked for; ``FakeHub.body_bytes_sent`` counts what went out."""


@dataclass
class LoggedRequest:
    method: str
    path: str
    range_start: int | None
    authorization: str | None
    status: int = 0
    bounded: bool = False
    """The ``Range`` asked for an end (``bytes=A-B``): a header read, not a download."""


@dataclass
class FakeHub:
    """The server. Use as a context manager; ``url`` is the endpoint for ``HF_ENDPOINT``."""

    repos: list[FakeRepo]
    lifetime_s: float = 300.0
    page_size: int = 1000
    """Tree entries per page (``expand=true`` pages by at most 50, as the hub does)."""
    faults: Faults = field(default_factory=Faults)
    requests: list[LoggedRequest] = field(default_factory=list)
    body_bytes_sent: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None
        self.stopping = threading.Event()

    # lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._timer is not None:
            self._timer.cancel()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # helpers for tests -----------------------------------------------------------------
    def repo(self, repo_id: str) -> FakeRepo | None:
        return next((r for r in self.repos if r.repo_id == repo_id), None)

    def log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def file_gets(self) -> list[LoggedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == "GET" and ("/resolve/" in r.path or r.path.startswith("/cdn/"))
            ]

    def take(self, kind: str) -> bool:
        """Consume one use of a counted fault; True when it applies."""
        with self._lock:
            if kind == "status":
                if self.faults.status is None or self.faults.status_times <= 0:
                    return False
                self.faults.status_times -= 1
                return True
            if kind == "drop":
                if self.faults.drop_after_bytes is None or self.faults.drop_times <= 0:
                    return False
                self.faults.drop_times -= 1
                return True
        raise ValueError(kind)

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # plumbing ----------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self._entry.status = status
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(
        self, document: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        self._send(status, json.dumps(document).encode(), merged)

    def _error(
        self, status: int, code: str, message: str, extra: dict[str, str] | None = None
    ) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        headers.update(extra or {})
        self._json({"error": message}, status, headers)

    def _start(self) -> tuple[str, dict[str, list[str]]]:
        split = urlsplit(self.path)
        range_start = None
        header = self.headers.get("Range")
        bounded = False
        if header and header.startswith("bytes="):
            try:
                range_start = int(header[6:].split("-", 1)[0])
            except ValueError:
                range_start = None
            bounded = bool(header[6:].split("-", 1)[-1].strip())
        self._entry = LoggedRequest(
            self.command,
            unquote(split.path),
            range_start,
            self.headers.get("Authorization"),
            bounded=bounded,
        )
        self.fake.log(self._entry)
        return unquote(split.path), parse_qs(split.query)

    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    # routing -----------------------------------------------------------------------
    def _route(self) -> None:
        path, query = self._start()
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode()) if length else {}
        else:
            form = {}
        try:
            if path == "/api/agent-harnesses":
                return self._json({"standardEnvVars": [], "harnesses": {}})
            if path.startswith("/cdn/"):
                return self._cdn(path[len("/cdn/") :])
            if path.startswith("/api/") and self.fake.faults.delay_s:
                self.fake.stopping.wait(self.fake.faults.delay_s)
            if path.rstrip("/") == "/api/models":
                return self._search(query)
            if path.startswith("/api/models/"):
                return self._api(path[len("/api/models/") :].split("/"), query, form)
            parts = path.lstrip("/").split("/")
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
            self._error(404, "NotFound", "no such route")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _repo_for(self, repo_id: str, rev: str) -> FakeRepo | None:
        repo = self.fake.repo(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if repo.gated:
            auth = self.headers.get("Authorization")
            if not auth:
                self._error(
                    401,
                    "GatedRepo",
                    "Access to this model is restricted. You must be authenticated.",
                )
                return None
            if auth != f"Bearer {VALID_TOKEN}":
                self._error(
                    403,
                    "GatedRepo",
                    "Access to this model is restricted and you are not in the authorized list.",
                )
                return None
        if rev not in ("main", repo.commit, self._commit(repo)):
            self._error(404, "RevisionNotFound", "Invalid rev id")
            return None
        return repo

    def _commit(self, repo: FakeRepo) -> str:
        return self.fake.faults.hostile_commit or repo.commit

    def _status_fault(self, route: str) -> bool:
        if route in self.fake.faults.status_routes and self.fake.take("status"):
            status = self.fake.faults.status or 500
            extra = {}
            if self.fake.faults.retry_after is not None:
                extra["Retry-After"] = self.fake.faults.retry_after
            self._error(status, "Fault", f"injected HTTP {status}", extra)
            return True
        return False

    def _listing(self, repo: FakeRepo) -> list[tuple[str, FakeFile]]:
        items = [(f.path, f) for f in repo.files]
        if self.fake.faults.hostile_name:
            items.append((self.fake.faults.hostile_name, repo.files[0]))
        return items

    def _tree_entry(
        self, name: str, item: FakeFile, repo: FakeRepo, expand: bool = False
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "file",
            "oid": item.blob_id,
            "size": item.size,
            "path": name,
        }
        if item.lfs:
            entry["lfs"] = {"oid": item.sha256, "size": item.size, "pointerSize": 134}
        if expand:
            entry["lastCommit"] = {
                "id": self._commit(repo),
                "title": f"Upload {name}",
                "date": repo.last_modified,
            }
            entry["securityFileStatus"] = {
                "status": "safe",
                "avScan": {"virusFound": False, "virusNames": None},
                "pickleImportScan": None,
            }
        return entry

    def _folder_entry(self, folder: str, repo: FakeRepo, expand: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "directory", "oid": "f" * 40, "size": 0, "path": folder}
        if expand:
            entry["lastCommit"] = {
                "id": self._commit(repo),
                "title": f"Upload {folder}",
                "date": repo.last_modified,
            }
        return entry

    def _search(self, query: dict[str, list[str]]) -> None:
        """``list_models``: matching repos, most downloaded first (one page)."""
        if self._status_fault("search"):
            return
        text = query.get("search", [""])[0].lower()
        filters = [f.lower() for f in query.get("filter", [])]
        found = [
            r
            for r in self.fake.repos
            if text in r.repo_id.lower() and all(f in r.tags for f in filters)
        ]
        sort = query.get("sort", [""])[0]
        if sort in ("downloads", "likes"):
            found.sort(key=lambda r: -getattr(r, sort))
        elif sort == "lastModified":
            found.sort(key=lambda r: r.last_modified, reverse=True)
        limit = query.get("limit", [""])[0]
        if limit.isdigit():
            found = found[: int(limit)]
        expand = query.get("expand", [])
        documents = []
        for repo in found:
            full: dict[str, Any] = {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "likes": repo.likes,
                "trendingScore": 0,
                "private": False,
                "downloads": repo.downloads,
                "tags": list(repo.tags),
                "pipeline_tag": "text-generation",
                "library_name": "gguf",
                "createdAt": repo.created_at,
                "modelId": repo.repo_id,
            }
            if expand:
                extra = {
                    "lastModified": repo.last_modified,
                    "gated": "manual" if repo.gated else False,
                    "sha": self._commit(repo),
                }
                merged = {**full, **extra}
                full = {"_id": full["_id"], "id": repo.repo_id}
                full.update({k: merged[k] for k in expand if k in merged})
            documents.append(full)
        self._json(documents)

    def _api(
        self, parts: list[str], query: dict[str, list[str]], form: dict[str, list[str]]
    ) -> None:
        if self._status_fault("api"):
            return
        if len(parts) < 2:
            return self._error(404, "RepoNotFound", "Repository not found")
        repo_id = "/".join(parts[:2])
        rest = parts[2:]
        rev = "main"
        if rest[:1] in (["revision"], ["tree"], ["paths-info"]) and len(rest) >= 2:
            rev = rest[1]
        repo = self._repo_for(repo_id, rev)
        if repo is None:
            return
        listing = self._listing(repo)
        if not rest or rest[0] == "revision":
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = []
            for name, item in listing:
                sibling: dict[str, Any] = {"rfilename": name}
                if blobs:
                    sibling.update({"size": item.size, "blobId": item.blob_id})
                    if item.lfs:
                        sibling["lfs"] = {
                            "size": item.size,
                            "sha256": item.sha256,
                            "pointerSize": 134,
                        }
                siblings.append(sibling)
            return self._json(
                {
                    "_id": "0" * 24,
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "sha": self._commit(repo),
                    "lastModified": repo.last_modified,
                    "downloads": repo.downloads,
                    "private": False,
                    "gated": "manual" if repo.gated else False,
                    "disabled": False,
                    "library_name": "gguf",
                    "tags": ["gguf"],
                    "siblings": siblings,
                }
            )
        if rest[0] == "tree":
            prefix = "/".join(rest[2:])
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            expand = query.get("expand", ["false"])[0].lower() == "true"
            entries: list[dict[str, Any]] = []
            folders: set[str] = set()
            for name, item in listing:
                if prefix and not name.startswith(prefix + "/"):
                    continue
                inner = name[len(prefix) + 1 :] if prefix else name
                if "/" in inner:
                    folder = (prefix + "/" if prefix else "") + inner.split("/", 1)[0]
                    if folder not in folders:
                        folders.add(folder)
                        entries.append(self._folder_entry(folder, repo, expand))
                    if not recursive:
                        continue
                entries.append(self._tree_entry(name, item, repo, expand))
            return self._page(entries, query, 50 if expand else 1000)
        if rest[0] == "paths-info" and self.command == "POST":
            wanted = set(form.get("paths", []))
            expand = form.get("expand", ["false"])[0].lower() == "true"
            return self._json(
                [self._tree_entry(n, i, repo, expand) for n, i in listing if n in wanted]
            )
        self._error(404, "NotFound", "no such api route")

    def _page(self, entries: list[dict[str, Any]], query: dict[str, list[str]], most: int) -> None:
        """One page of ``entries`` from ``?cursor=N``; a ``Link`` header names the next one."""
        size = max(1, min(self.fake.page_size, most))
        cursor = query.get("cursor", ["0"])[0]
        start = int(cursor) if cursor.isdigit() else 0
        headers: dict[str, str] = {}
        if start + size < len(entries):
            rest = {k: v for k, v in query.items() if k != "cursor"}
            rest["cursor"] = [str(start + size)]
            split = urlsplit(self.path)
            url = f"{self.fake.url}{split.path}?{urlencode(rest, doseq=True)}"
            headers["Link"] = f'<{url}>; rel="next"'
        self._json(entries[start : start + size], headers=headers)

    def _file_headers(self, repo: FakeRepo, item: FakeFile) -> dict[str, str]:
        etag = self.fake.faults.hostile_etag or item.etag
        headers = {
            "X-Repo-Commit": self._commit(repo),
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if item.lfs:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(item.size)
        return headers

    def _resolve(self, repo_id: str, rev: str, name: str) -> None:
        if self._status_fault("resolve"):
            return
        repo = self._repo_for(repo_id, unquote(rev))
        if repo is None:
            return
        item = dict(self._listing(repo)).get(name)
        if item is None:
            return self._error(
                404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": self._commit(repo)}
            )
        headers = self._file_headers(repo, item)
        if self.fake.faults.cdn_redirect and item.lfs:
            headers["Location"] = f"http://localhost:{self.fake.port}/cdn/{item.sha256}"
            return self._send(302, b"", headers)
        self._body(item, headers)

    def _cdn(self, sha256: str) -> None:
        items = [f for r in self.fake.repos for f in r.files if f.lfs and f.sha256 == sha256]
        if not items:
            return self._send(404)
        self._body(items[0], {"ETag": f'"cdn-{sha256[:16]}"', "Accept-Ranges": "bytes"})

    # bodies ------------------------------------------------------------------------
    def _body(self, item: FakeFile, headers: dict[str, str]) -> None:
        faults = self.fake.faults
        start, end = 0, item.size - 1
        status = 200
        header = self.headers.get("Range")
        if header and not faults.ignore_range:
            spec = header.removeprefix("bytes=")
            first, _, last = spec.partition("-")
            start = int(first) if first else 0
            end = min(int(last), item.size - 1) if last else item.size - 1
            if start >= item.size:
                headers["Content-Range"] = f"bytes */{item.size}"
                return self._send(416, b"", headers)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{item.size}"
        if status == 206 and faults.oversized_range_bytes is not None:
            return self._oversized(item, start, end, headers, faults.oversized_range_bytes)
        count = end - start + 1
        self._entry.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(count))
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.flush()
        limit = count
        dropping = self.fake.take("drop")
        if dropping:
            limit = min(count, faults.drop_after_bytes or 0)
        if faults.corrupt or faults.trickle_bytes_s or item.source is None:
            self._write_slowly(item, start, limit, faults)
        else:
            assert item.source is not None
            with item.source.open("rb") as handle:
                sent = 0
                while sent < limit:
                    done = self.connection.sendfile(
                        handle, item.offset + start + sent, limit - sent
                    )
                    if not done:
                        break
                    sent += done
        if dropping and limit < count:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _oversized(
        self, item: FakeFile, start: int, end: int, headers: dict[str, str], total: int
    ) -> None:
        self._entry.status = 206
        self.send_response(206)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        head = item.read(start, min(total, item.size - start))
        zeros = bytes(1 << 20)
        sent = 0
        try:
            while sent < total and not self.fake.stopping.is_set():
                block = head[sent : sent + len(zeros)] if sent < len(head) else zeros
                block = block[: total - sent]
                self.wfile.write(block)
                sent += len(block)
                with self.fake._lock:
                    self.fake.body_bytes_sent += len(block)
        except OSError:
            self.close_connection = True

    def _write_slowly(self, item: FakeFile, start: int, limit: int, faults: Faults) -> None:
        middle = item.size // 2
        sent = 0
        piece = 16 << 10 if faults.trickle_bytes_s else 1 << 20
        while sent < limit and not self.fake.stopping.is_set():
            block = bytearray(item.read(start + sent, min(piece, limit - sent)))
            if not block:
                break
            position = start + sent
            if faults.corrupt and position <= middle < position + len(block):
                block[middle - position] ^= 0xFF
            self.wfile.write(block)
            sent += len(block)
            if faults.trickle_bytes_s:
                time.sleep(len(block) / faults.trickle_bytes_s)


def hub_env(hub: FakeHub, base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """Environment for a ``localctl`` subprocess talking to ``hub`` (HF dirs from ``base``)."""
    env = dict(os.environ if base is None else base)
    env.update({"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"})
    env.pop("HF_TOKEN", None)
    env.update(extra)
    return env
