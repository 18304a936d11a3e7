"""A local HTTP endpoint that answers the Grafana API calls `harness dashboards push` makes, checking
each request as Grafana's HTTP API documents it (auth header, JSON body, required fields)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class GrafanaStub:
    token: str
    folders: list[dict[str, Any]] = field(default_factory=list)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> saved request body
    requests: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def _check(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        if request.method == "POST" and request.content_type != "application/json":
            self.problems.append(f"{request.path}: Content-Type {request.content_type}")
            return web.json_response({"message": "bad content type"}, status=400)
        return None

    async def list_folders(self, request: web.Request) -> web.Response:
        return self._check(request) or web.json_response(self.folders)

    async def create_folder(self, request: web.Request) -> web.Response:
        if denied := self._check(request):
            return denied
        body = await request.json()
        if not isinstance(body.get("title"), str) or not body["title"]:
            return web.json_response({"message": "title required"}, status=400)
        if any(f["title"] == body["title"] for f in self.folders):
            return web.json_response({"message": "a folder with the same name already exists"}, status=409)
        folder = {
            "id": len(self.folders) + 1,
            "uid": body.get("uid") or f"f{len(self.folders) + 1}",
            "title": body["title"],
        }
        self.folders.append(folder)
        return web.json_response(folder)

    async def save_dashboard(self, request: web.Request) -> web.Response:
        if denied := self._check(request):
            return denied
        body = await request.json()
        board = body.get("dashboard")
        if not isinstance(board, dict) or not board.get("title"):
            return web.json_response({"message": "Dashboard title cannot be empty"}, status=400)
        if board.get("id") is not None:
            self.problems.append(f"{board.get('uid')}: id must be null for create-or-update by uid")
        if body.get("folderUid") not in {f["uid"] for f in self.folders}:
            return web.json_response({"message": "folder not found"}, status=400)
        uid = board.get("uid")
        if uid in self.dashboards and not body.get("overwrite"):
            return web.json_response(
                {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}, status=412
            )
        version = self.dashboards.get(uid, {}).get("version", 0) + 1
        self.dashboards[uid] = {**body, "version": version}
        return web.json_response(
            {
                "id": len(self.dashboards),
                "uid": uid,
                "url": f"/d/{uid}/x",
                "status": "success",
                "version": version,
                "slug": "x",
            }
        )


class RunningStub:
    """Serves a GrafanaStub on 127.0.0.1 from a background thread with its own event loop."""

    def __init__(self, stub: GrafanaStub) -> None:
        self.stub = stub
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> RunningStub:
        app = web.Application()
        app.router.add_get("/api/folders", self.stub.list_folders)
        app.router.add_post("/api/folders", self.stub.create_folder)
        app.router.add_post("/api/dashboards/db", self.stub.save_dashboard)
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(app), self._loop).result(timeout=10)
        return self

    async def _start(self, app: web.Application) -> str:
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
