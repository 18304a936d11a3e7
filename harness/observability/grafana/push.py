"""Push the dashboards to a Grafana with grafana-client: into a folder, always overwriting.

A dashboard pushed without a folder lands in (or moves back to) General, so the folder is never
optional here; overwrite makes a push idempotent and lets it replace hand edits made in the UI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from grafana_client import GrafanaApi

DEFAULT_FOLDER = "Chatbot harness"


@dataclass(frozen=True)
class Pushed:
    title: str
    uid: str
    url: str
    version: int


def folder_uid(title: str) -> str:
    """A stable folder uid from its title, used when the folder has to be created."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if not slug:
        raise ValueError(f"folder title {title!r} has no letters or digits")
    return slug[:40]


def ensure_folder(api: GrafanaApi, title: str) -> str:
    """The uid of the folder called `title`, created when there is none."""
    for folder in api.folder.get_all_folders():
        if folder.get("title") == title:
            return str(folder["uid"])
    created = api.folder.create_folder(title, uid=folder_uid(title))
    return str(created["uid"])


def push(
    url: str, token: str, dashboards: list[dict[str, Any]], folder: str = DEFAULT_FOLDER, timeout: float = 10.0
) -> list[Pushed]:
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    uid = ensure_folder(api, folder)
    pushed = []
    for board in dashboards:
        answer = api.dashboard.update_dashboard(
            {
                "dashboard": {**board, "id": None},  # id None: match by uid, create if new
                "folderUid": uid,
                "overwrite": True,
                "message": "pushed by harness dashboards push",
            }
        )
        pushed.append(
            Pushed(
                board["title"],
                str(answer.get("uid", board["uid"])),
                str(answer.get("url", "")),
                int(answer.get("version", 0)),
            )
        )
    return pushed
