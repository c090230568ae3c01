"""A small Hub-like HTTP server on 127.0.0.1 for the push / load tests.

It answers the part of the Hugging Face Hub HTTP API that the real, unpatched `huggingface_hub`,
`transformers` and `datasets` clients call to create a repository, commit files and read them back
(found by reading the clients and by recording every route they hit):

    GET      /api/whoami-v2                                  the user a token belongs to
    POST     /api/repos/create                               new model / dataset repository
    POST     /api/validate-yaml                              README metadata check before a commit
    GET      /api/{models|datasets}/{repo}[/revision/{rev}]  repository info (sha, files) at a revision
    POST     /api/{type}s/{repo}/preupload/{rev}             upload mode of each file: "lfs" or "regular"
    POST     /[datasets/]{repo}.git/info/lfs/objects/batch   LFS batch: where to PUT each LFS file
    PUT      /lfs-upload/{sha256}?signature=...              the LFS upload (a signed URL, no token)
    POST     /api/{type}s/{repo}/commit/{rev}                the commit itself (NDJSON)
    POST     /api/{type}s/{repo}/branch/{branch}             new branch (pushes to a revision)
    GET      /api/{type}s/{repo}/tree/{rev}[/{path}]         file listing (HfFileSystem, datasets)
    POST     /api/{type}s/{repo}/paths-info/{rev}            info on given paths (HfFileSystem)
    HEAD|GET /[datasets/]{repo}/resolve/{rev}/{path}         file metadata / content, byte ranges

Uploads follow the Hub: files matching the `filter=lfs` patterns of the repository's .gitattributes
(*.safetensors, *.parquet) are "lfs", the rest "regular" (sent base64-encoded inside the NDJSON
commit). huggingface_hub 2.x uploads "lfs" files through the Xet storage protocol whenever `hf_xet`
is installed, and nothing a server answers turns that off; Xet needs a content-addressed storage
service this server does not have, so test clients set `HF_HUB_DISABLE_XET=1` (a huggingface_hub
setting), which sends LFS files through the LFS batch API and a basic single-part PUT. `datasets`
needs that path: it deletes each Parquet shard as soon as `preupload_lfs_files` has uploaded it.
Downloads carry no Xet headers, so every file is read over plain HTTP; LFS files answer with the
X-Linked-Etag (sha256) and X-Linked-Size headers the client prefers.

Storage lives under `root`: file contents in `blobs/<sha256>`, one JSON document per repository
(`repos/<type>s/<namespace>/<name>.json`) with its branches and commits, each commit mapping paths
to blobs. Commit ids are 40-hex SHA-1 digests of the commit's parent, message and files, like git.
A new repository starts with an initial commit holding `.gitattributes`, as on the Hub.

Every request is recorded in `requests`; routes the server does not know answer 404 and are also
recorded in `unknown_routes`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import re
import secrets
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

REPO_TYPES = ("model", "dataset")
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"


class HubError(Exception):
    """An HTTP error answer: status, the X-Error-Code the client maps to an exception, a message."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def git_blob_id(content: bytes) -> str:
    """The git object id of a file (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The small text file git stores in place of an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


class HubStorage:
    """Repositories on disk: blobs by sha256 and one JSON document of branches and commits per repo.

    A file of a commit is {"sha256", "size", "lfs", "oid"}; `oid` is the git id of the content, or of
    the LFS pointer for an LFS file, as in the Hub's tree listings.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def _repo_file(self, repo_type: str, repo_id: str) -> Path:
        return self.root / "repos" / f"{repo_type}s" / f"{repo_id}.json"

    def load(self, repo_type: str, repo_id: str) -> dict:
        path = self._repo_file(repo_type, repo_id)
        if not path.is_file():
            raise HubError(404, f"Repository {repo_type}s/{repo_id} not found.", "RepoNotFound")
        return json.loads(path.read_text())

    def save(self, repo: dict) -> None:
        path = self._repo_file(repo["type"], repo["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(repo, indent=1))

    def exists(self, repo_type: str, repo_id: str) -> bool:
        return self._repo_file(repo_type, repo_id).is_file()

    def put_blob(self, content: bytes) -> str:
        sha256 = hashlib.sha256(content).hexdigest()
        (self.root / "blobs" / sha256).write_bytes(content)
        return sha256

    def has_blob(self, sha256: str) -> bool:
        return (self.root / "blobs" / sha256).is_file()

    def read_blob(self, entry: dict) -> bytes:
        return (self.root / "blobs" / entry["sha256"]).read_bytes()

    def regular_file(self, content: bytes) -> dict:
        return {"sha256": self.put_blob(content), "size": len(content), "lfs": False, "oid": git_blob_id(content)}

    def lfs_file(self, sha256: str, size: int) -> dict:
        if not self.has_blob(sha256) or (self.root / "blobs" / sha256).stat().st_size != size:
            raise HubError(422, f"LFS object {sha256} ({size} bytes) was not uploaded.")
        return {"sha256": sha256, "size": size, "lfs": True, "oid": git_blob_id(lfs_pointer(sha256, size))}

    def create(self, repo_type: str, repo_id: str, private: bool) -> dict:
        repo = {"type": repo_type, "id": repo_id, "private": private, "branches": {}, "commits": {}}
        self.commit(repo, "main", "initial commit", "", {".gitattributes": self.regular_file(GITATTRIBUTES)}, [])
        return repo

    def commit(self, repo: dict, branch: str, title: str, description: str, additions: dict, deletions: list[str]) -> str:
        """Add a commit on top of `branch` (created when absent) and save the repo; returns the commit id.

        `additions` maps paths to file entries (`regular_file` / `lfs_file`); `deletions` are paths
        of files or folders.
        """
        parent = repo["branches"].get(branch)
        files = dict(repo["commits"][parent]["files"]) if parent else {}
        for path in deletions:
            removed = [name for name in files if name == path or name.startswith(path.rstrip("/") + "/")]
            if not removed:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            for name in removed:
                del files[name]
        files.update(additions)
        date = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        record = {"parents": [parent] if parent else [], "title": title, "message": description, "date": date, "files": files}
        commit_id = hashlib.sha1(json.dumps([len(repo["commits"]), record], sort_keys=True).encode()).hexdigest()
        repo["commits"][commit_id] = record
        repo["branches"][branch] = commit_id
        self.save(repo)
        return commit_id

    @staticmethod
    def resolve(repo: dict, revision: str) -> str:
        """Commit id of a branch name or a full commit id."""
        if revision in repo["branches"]:
            return repo["branches"][revision]
        if revision in repo["commits"]:
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def is_lfs_path(self, repo: dict, revision: str, path: str) -> bool:
        """Whether `path` matches a `filter=lfs` pattern of the .gitattributes at `revision`."""
        head = repo["branches"].get(revision) or repo["branches"]["main"]
        attributes = repo["commits"][head]["files"].get(".gitattributes")
        lines = self.read_blob(attributes).decode().splitlines() if attributes else []
        patterns = [line.split()[0] for line in lines if "filter=lfs" in line.split()[1:]]
        return any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in patterns)


class HubServer(ThreadingHTTPServer):
    """The server; `start()` serves from a daemon thread, `stop()` shuts it down.

    Args:
        root: where repositories are stored.
        token: the one valid access token; `user`: the name it belongs to.
    """

    daemon_threads = True

    def __init__(self, root: Path, token: str, user: str = "fvmr-tester"):
        super().__init__(("127.0.0.1", 0), HubRequestHandler)
        self.storage = HubStorage(root)
        self.token, self.user = token, user
        self.upload_key = secrets.token_bytes(16)  # signs the LFS upload URLs
        self.requests: list[str] = []  # "METHOD /path" of every request, in order
        self.unknown_routes: list[str] = []
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def upload_signature(self, sha256: str) -> str:
        return hmac.new(self.upload_key, sha256.encode(), hashlib.sha256).hexdigest()

    def commits(self, repo_type: str, repo_id: str, revision: str = "main") -> list[str]:
        """Commit ids of a branch, newest first (for the tests' checks)."""
        repo = self.storage.load(repo_type, repo_id)
        history, commit_id = [], HubStorage.resolve(repo, revision)
        while commit_id:
            history.append(commit_id)
            parents = repo["commits"][commit_id]["parents"]
            commit_id = parents[0] if parents else None
        return history

    def files(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """{path: content} of a repository at a revision (for the tests' checks)."""
        return {path: self.storage.read_blob(entry) for path, entry in self.file_entries(repo_type, repo_id, revision).items()}

    def file_entries(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, dict]:
        repo = self.storage.load(repo_type, repo_id)
        return repo["commits"][HubStorage.resolve(repo, revision)]["files"]


API_REPO = r"/api/(?P<type>model|dataset)s/(?P<repo>[^/]+/[^/]+)"
WEB_REPO = r"/(?:(?P<type>dataset)s/)?(?P<repo>[^/]+/[^/]+?)"
ROUTES = [
    ("GET", r"/api/whoami-v2", "whoami"),
    ("POST", r"/api/repos/create", "create_repo"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("GET", API_REPO + r"(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
    ("POST", API_REPO + r"/preupload/(?P<rev>[^/]+)", "preupload"),
    ("POST", WEB_REPO + r"\.git/info/lfs/objects/batch", "lfs_batch"),
    ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
    ("POST", API_REPO + r"/commit/(?P<rev>[^/]+)", "commit"),
    ("POST", API_REPO + r"/branch/(?P<rev>[^/]+)", "create_branch"),
    ("GET", API_REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
    ("POST", API_REPO + r"/paths-info/(?P<rev>[^/]+)", "paths_info"),
    ("GET", WEB_REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ("HEAD", WEB_REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
]


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' connection pools expect
    server: HubServer

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet; requests are recorded instead
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailer
            pass
        return body

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        self.body = self._read_body()
        self.server.requests.append(f"{method} {url.path}")
        for route_method, pattern, handler in ROUTES:
            match = re.fullmatch(pattern, url.path)
            if route_method == method and match:
                params = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                try:
                    getattr(self, handler)(**params)
                except HubError as error:
                    self._error(error)
                return
        self.server.unknown_routes.append(f"{method} {url.path}")
        self._error(HubError(404, f"Unknown route {method} {url.path}"))

    # ---------------------------------------------------------------- answers

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(self, error: HubError) -> None:
        headers = {"X-Error-Message": error.message, **error.headers}
        if error.code:
            headers["X-Error-Code"] = error.code
        self._json({"error": error.message}, error.status, headers)

    # ---------------------------------------------------------------- auth

    def _user(self) -> str | None:
        """The user of a valid token, None without one; a wrong token is refused."""
        authorization = self.headers.get("Authorization")
        if authorization is None:
            return None
        if authorization != f"Bearer {self.server.token}":
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.server.user

    def _require_user(self) -> str:
        user = self._user()
        if user is None:
            raise HubError(401, "You must be authenticated to do this.")
        return user

    def _readable_repo(self, repo_type: str, repo_id: str) -> dict:
        repo = self.server.storage.load(repo_type, repo_id)
        if repo["private"] and self._user() is None:
            raise HubError(404, f"Repository {repo_id} not found.", "RepoNotFound")
        return repo

    def _writable_repo(self, repo_type: str, repo_id: str) -> dict:
        user = self._require_user()
        if repo_id.split("/")[0] != user:
            raise HubError(403, f"You don't have the rights to write to {repo_id}.")
        return self.server.storage.load(repo_type, repo_id)

    # ---------------------------------------------------------------- repositories

    def whoami(self) -> None:
        user = self._require_user()
        access = {"displayName": "dummy", "role": "write"}
        self._json({"type": "user", "name": user, "fullname": user, "orgs": [], "auth": {"type": "access_token", "accessToken": access}})

    def create_repo(self) -> None:
        user = self._require_user()
        payload = json.loads(self.body)
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or user}/{payload['name']}"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Unsupported repository type {repo_type!r}.")
        url = f"{self.server.endpoint}/{'' if repo_type == 'model' else 'datasets/'}{repo_id}"
        with self.server.storage.lock:
            if self.server.storage.exists(repo_type, repo_id):
                self._json({"error": "You already created this repo", "url": url}, 409)
                return
            if repo_id.split("/")[0] != user:
                raise HubError(403, f"You don't have the rights to create a repo under {repo_id.split('/')[0]}.")
            self.server.storage.create(repo_type, repo_id, payload.get("visibility") == "private" or bool(payload.get("private")))
        self._json({"url": url, "name": repo_id})

    def create_branch(self, type: str, repo: str, rev: str) -> None:  # noqa: A002
        with self.server.storage.lock:
            record = self._writable_repo(type, repo)
            if rev in record["branches"]:
                raise HubError(409, f"Branch {rev} already exists.")
            starting_point = json.loads(self.body or b"{}").get("startingPoint") or "main"
            record["branches"][rev] = HubStorage.resolve(record, starting_point)
            self.server.storage.save(record)
        self._json({})

    def validate_yaml(self) -> None:
        self._json({"errors": [], "warnings": []})

    def repo_info(self, type: str, repo: str, rev: str = "main") -> None:  # noqa: A002
        record = self._readable_repo(type, repo)
        commit_id = HubStorage.resolve(record, rev)
        commit = record["commits"][commit_id]
        siblings = [{"rfilename": path, "size": entry["size"], "blobId": entry["oid"]} for path, entry in sorted(commit["files"].items())]
        self._json(
            {
                "_id": hashlib.sha1(repo.encode()).hexdigest()[:24],
                "id": repo,
                "author": repo.split("/")[0],
                "sha": commit_id,
                "lastModified": commit["date"],
                "private": record["private"],
                "gated": False,
                "disabled": False,
                "tags": [],
                "siblings": siblings,
            }
        )

    # ---------------------------------------------------------------- uploads and commits

    def preupload(self, type: str, repo: str, rev: str) -> None:  # noqa: A002
        record = self._writable_repo(type, repo)
        head = record["commits"].get(record["branches"].get(rev, ""), {"files": {}})
        answers = []
        for item in json.loads(self.body)["files"]:
            lfs = self.server.storage.is_lfs_path(record, rev, item["path"])
            remote = head["files"].get(item["path"])
            # the oid the client compares with its own: sha256 for LFS files, the git blob id otherwise
            remote_oid = None if remote is None else remote["sha256"] if lfs else remote["oid"]
            answers.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": remote_oid})
        self._json({"files": answers, "commitOid": record["branches"].get(rev)})

    def lfs_batch(self, repo: str, type: str = "model") -> None:  # noqa: A002
        self._writable_repo(type, repo)
        objects = []
        for item in json.loads(self.body)["objects"]:
            answer = {"oid": item["oid"], "size": item["size"]}
            if not self.server.storage.has_blob(item["oid"]):
                href = f"{self.server.endpoint}/lfs-upload/{item['oid']}?signature={self.server.upload_signature(item['oid'])}"
                answer["actions"] = {"upload": {"href": href}}
            objects.append(answer)
        self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_upload(self, oid: str) -> None:
        signature = self.query.get("signature", [""])[0]
        if not hmac.compare_digest(signature, self.server.upload_signature(oid)):
            raise HubError(403, "Invalid upload signature.")
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, f"Uploaded content does not match the sha256 {oid}.")
        self.server.storage.put_blob(self.body)
        self._send(200)

    def commit(self, type: str, repo: str, rev: str) -> None:  # noqa: A002
        storage = self.server.storage
        lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        additions, deletions = {}, []
        for line in lines:
            value = line["value"]
            if line["key"] == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"Unsupported encoding for {value['path']}.")
                additions[value["path"]] = storage.regular_file(base64.b64decode(value["content"]))
            elif line["key"] == "lfsFile":
                additions[value["path"]] = storage.lfs_file(value["oid"], value["size"])
            elif line["key"] in ("deletedFile", "deletedFolder"):
                deletions.append(value["path"])
            elif line["key"] != "header":
                raise HubError(400, f"Unsupported commit operation {line['key']!r}.")
        with storage.lock:
            record = self._writable_repo(type, repo)
            parent = header.get("parentCommit")
            if parent and record["branches"].get(rev) != parent:
                raise HubError(412, f"Parent commit {parent} is not the head of {rev}.")
            commit_id = storage.commit(record, rev, header["summary"], header.get("description", ""), additions, deletions)
        prefix = "" if type == "model" else "datasets/"
        self._json({"success": True, "commitOid": commit_id, "commitUrl": f"{self.server.endpoint}/{prefix}{repo}/commit/{commit_id}"})

    # ---------------------------------------------------------------- listings and downloads

    def _entries(self, record: dict, commit_id: str) -> dict[str, dict]:
        """Every file and folder of a commit, by path, as the tree / paths-info endpoints describe them."""
        commit = record["commits"][commit_id]
        last_commit = {"id": commit_id, "title": commit["title"], "date": commit["date"]}
        entries = {}
        for path, blob in commit["files"].items():
            entries[path] = {"type": "file", "path": path, "oid": blob["oid"], "size": blob["size"], "lastCommit": last_commit}
            if blob["lfs"]:
                pointer_size = len(lfs_pointer(blob["sha256"], blob["size"]))
                entries[path]["lfs"] = {"oid": blob["sha256"], "size": blob["size"], "pointerSize": pointer_size}
            parts = path.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                folder_id = hashlib.sha1(f"{commit_id}:{folder}".encode()).hexdigest()
                entries[folder] = {"type": "directory", "path": folder, "oid": folder_id, "size": 0, "lastCommit": last_commit}
        return entries

    def _describe(self, entry: dict, expand: bool) -> dict:
        return entry if expand else {key: value for key, value in entry.items() if key != "lastCommit"}

    def tree(self, type: str, repo: str, rev: str, path: str = "") -> None:  # noqa: A002
        record = self._readable_repo(type, repo)
        entries = self._entries(record, HubStorage.resolve(record, rev))
        folder = path.strip("/")
        if folder and entries.get(folder, {}).get("type") != "directory":
            raise HubError(404, f"{folder} is not a folder of {repo}@{rev}.", "EntryNotFound")
        recursive = self.query.get("recursive", ["false"])[0] == "true"
        expand = self.query.get("expand", ["false"])[0] == "true"
        prefix = f"{folder}/" if folder else ""
        listed = [
            self._describe(entry, expand)
            for name, entry in sorted(entries.items())
            if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :])
        ]
        self._json(listed)

    def paths_info(self, type: str, repo: str, rev: str) -> None:  # noqa: A002
        record = self._readable_repo(type, repo)
        entries = self._entries(record, HubStorage.resolve(record, rev))
        form = parse_qs(self.body.decode())
        expand = form.get("expand", ["false"])[0].lower() == "true"
        self._json([self._describe(entries[path], expand) for path in form.get("paths", []) if path in entries])

    def resolve(self, repo: str, rev: str, path: str, type: str = "model") -> None:  # noqa: A002
        record = self._readable_repo(type, repo)
        commit_id = HubStorage.resolve(record, rev)
        blob = record["commits"][commit_id]["files"].get(path)
        if blob is None:
            raise HubError(404, f"{path} does not exist at {rev}.", "EntryNotFound", {"X-Repo-Commit": commit_id})
        content = self.server.storage.read_blob(blob)
        headers = {"X-Repo-Commit": commit_id, "ETag": f'"{blob["oid"]}"', "Accept-Ranges": "bytes"}
        if blob["lfs"]:
            headers.update({"X-Linked-Etag": f'"{blob["sha256"]}"', "X-Linked-Size": str(blob["size"])})
        byte_range = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if byte_range is None:
            self._send(200, content, headers, "application/octet-stream")
            return
        start = int(byte_range.group(1))
        end = min(int(byte_range.group(2) or len(content) - 1), len(content) - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        self._send(206, content[start : end + 1], headers, "application/octet-stream")
