"""A small in-memory Hugging Face Hub on 127.0.0.1, for push/pull round trips without a network.

It implements what ``huggingface_hub`` calls to create a model repo, upload a folder and
download files, and nothing more:

=========================================================  ========================================
``POST /api/repos/create``                                 create a model repo (409 if it exists)
``POST /api/validate-yaml``                                check a model card's YAML header
``POST /api/models/{repo}/preupload/{rev}``                every file is a "regular" upload (no LFS,
                                                           no Xet), with the oid of the file at
                                                           ``rev`` so unchanged files are skipped
``POST /api/models/{repo}/commit/{rev}``                   NDJSON: a header line, then ``file``
                                                           (base64), ``deletedFile``, ``deletedFolder``
``GET  /api/models/{repo}[/revision/{rev}]``               model info (``sha``, ``siblings``)
``HEAD|GET /{repo}/resolve/{rev}/{path}``                  file with ``X-Repo-Commit`` and ``ETag``
=========================================================  ========================================

Errors carry the ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) that ``huggingface_hub`` turns into its exception types. Every commit is an
immutable snapshot ``{path: bytes}`` named by a 40-hex sha, and branches point at commits, so a
revision resolves to a commit as on the real Hub. Requests are logged in ``server.requests``;
anything not implemented answers 501 and is logged in ``server.unhandled``; a request the server
cannot parse answers 400 and is logged in ``server.errors``.

Bounded: bodies over ``MAX_BODY`` bytes are refused, each connection times out after
``TIMEOUT`` seconds, handler threads are daemons, and :meth:`HubServer.stop` (or leaving the
``with`` block) shuts the server down and joins its thread.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

MAX_BODY = 16 * 1024 * 1024
TIMEOUT = 10.0

_REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
_ROUTES = [
    ("POST", re.compile(r"/api/repos/create"), "create_repo"),
    ("POST", re.compile(r"/api/validate-yaml"), "validate_yaml"),
    ("POST", re.compile(rf"/api/models/{_REPO}/preupload/(?P<rev>[^/]+)"), "preupload"),
    ("POST", re.compile(rf"/api/models/{_REPO}/commit/(?P<rev>[^/]+)"), "commit"),
    ("GET", re.compile(rf"/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?"), "model_info"),
    ("GET", re.compile(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), "resolve"),
    ("HEAD", re.compile(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), "resolve"),
]


def git_blob_sha(data: bytes) -> str:
    """The git object id of a file's content (what the Hub reports as a regular file's ETag/oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.commit, self.extra = status, code, commit, extra


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> snapshot
    branches: dict[str, str] = field(default_factory=dict)  # name -> sha
    messages: dict[str, str] = field(default_factory=dict)  # sha -> commit summary

    def resolve(self, rev: str) -> str:
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.commits:
            return rev
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def commit(self, branch: str, files: dict[str, bytes], message: str) -> str:
        parent = self.branches.get(branch, "")
        digest = hashlib.sha1(f"{parent}\n{message}\n".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{git_blob_sha(files[path])}\n".encode())
        sha = digest.hexdigest()
        self.commits[sha], self.branches[branch], self.messages[sha] = files, sha, message
        return sha


class HubServer:
    """In-memory Hub: ``with HubServer() as hub: HfApi(endpoint=hub.url, token="x")...``."""

    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.errors: list[str] = []  # requests the server could not parse (answered 400)
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HubServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=TIMEOUT)
        self._httpd.server_close()

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------------
    def repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return self.repos[repo_id]

    def files(self, repo_id: str, rev: str = "main") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``rev`` (for assertions)."""
        repo = self.repo(repo_id)
        return dict(repo.commits[repo.resolve(rev)])

    # -- endpoints: each returns (status, headers, body) -----------------------------------------
    def create_repo(self, body: bytes, **_):
        payload = json.loads(body or b"{}")
        if payload.get("type", "model") != "model":
            raise HubError(400, "This test server only hosts model repos.")
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        if "/" not in repo_id:
            repo_id = f"user/{repo_id}"  # the namespace of the token's owner on the real Hub
        url = f"{self.url}/{repo_id}"
        if repo_id in self.repos:
            raise HubError(409, "You already created this model repo", url=url)  # the Hub names it too
        repo = self.repos[repo_id] = Repo()
        repo.commit("main", {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}, "initial commit")
        return 200, {}, {"url": url, "name": repo_id, "id": repo_id}

    def validate_yaml(self, body: bytes, **_):
        import yaml

        content = json.loads(body)["content"]
        match = re.match(r"^---\n(.*?)\n---", content, re.S)
        try:
            if match:
                yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            return 400, {}, {"errors": [{"message": str(exc)}], "warnings": []}
        return 200, {}, {"errors": [], "warnings": []}

    def preupload(self, body: bytes, repo: str, rev: str, **_):
        snapshot = self.files(repo, rev)
        files = json.loads(body)["files"]
        return 200, {}, {
            "files": [
                {
                    "path": f["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_sha(snapshot[f["path"]]) if f["path"] in snapshot else None,
                }
                for f in files
            ]
        }

    def commit(self, body: bytes, repo: str, rev: str, **_):
        if rev not in self.repo(repo).branches:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first NDJSON line must be the commit header.")
        header = lines[0]["value"]
        files = self.files(repo, rev)
        if header.get("parentCommit") not in (None, self.repo(repo).branches[rev]):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}.")
                files[value["path"]] = base64.b64decode(value["content"], validate=True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: b for p, b in files.items() if not p.startswith(prefix)}
            else:  # "lfsFile" cannot happen: preupload never asks for LFS
                raise HubError(400, f"Unsupported commit operation {key!r}.")
        sha = self.repo(repo).commit(rev, files, header.get("summary", ""))
        return 200, {}, {
            "success": True,
            "commitOid": sha,
            "commitUrl": f"{self.url}/{repo}/commit/{sha}",
            "pullRequestUrl": None,
        }

    def model_info(self, repo: str, rev: str | None = None, **_):
        sha = self.repo(repo).resolve(rev or "main")
        files = self.repo(repo).commits[sha]
        return 200, {}, {
            "id": repo,
            "modelId": repo,
            "sha": sha,
            "private": False,
            "tags": [],
            "siblings": [{"rfilename": p} for p in sorted(files)],
        }

    def resolve(self, repo: str, rev: str, path: str, **_):
        sha = self.repo(repo).resolve(rev)
        files = self.repo(repo).commits[sha]
        if path not in files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", commit=sha)
        data = files[path]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{git_blob_sha(data)}"', "Content-Type": "application/octet-stream"}
        return 200, headers, data


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads
    timeout = TIMEOUT

    def log_message(self, *args) -> None:  # quiet: the request log is ``hub.requests``
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                total += size
                if total > MAX_BODY:
                    raise HubError(413, "Request body too large.")
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HubError(413, "Request body too large.")
        return self.rfile.read(length)

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        with self.hub._lock:
            self.hub.requests.append((self.command, path))
        try:
            for method, pattern, name in _ROUTES:
                match = pattern.fullmatch(path)
                if method == self.command and match:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    body = self._body() if self.command == "POST" else b""
                    with self.hub._lock:
                        status, headers, payload = getattr(self.hub, name)(body=body, **params)
                    break
            else:
                with self.hub._lock:
                    self.hub.unhandled.append((self.command, path))
                raise HubError(501, f"{self.command} {path} is not implemented by the test Hub.")
        except Exception as exc:  # a bad request must answer, not hang the client
            err = exc if isinstance(exc, HubError) else HubError(400, f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, HubError):
                with self.hub._lock:
                    self.hub.errors.append(f"{self.command} {path}: {err}")
            status, payload = err.status, {"error": str(err), **err.extra}
            headers = {"X-Error-Message": str(err)}
            if err.code:
                headers["X-Error-Code"] = err.code
            if err.commit:
                headers["X-Repo-Commit"] = err.commit
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if not isinstance(payload, bytes):
            headers.setdefault("Content-Type", "application/json")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch
