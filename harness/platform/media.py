"""Media upload on the old API (oapi.dingtalk.com/media/upload?access_token=..; the Python SDK's
`upload_to_dingtalk`): a multipart form with `type` and the file in `media`, answered the old API's
way (`{errcode, errmsg, type, media_id, created_at}`; refusals as HTTP 200 with an errcode). The
emulator keeps no file: it checks the upload and hands out a media id.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import BodyPartReader, web

from harness.platform.openapi import OpenApi
from harness.platform.responses import ApiError

MEDIA_TYPES = ("image", "voice", "video", "file")
# DingTalk's old-API error codes for an upload
INVALID_TOKEN = 40014  # 不合法的access_token
INVALID_MEDIA_TYPE = 40004  # 不合法的媒体文件类型
INVALID_FILE_SIZE = 40006  # 不合法的文件大小 (also: no file at all)


class Media:
    def __init__(self, api: OpenApi) -> None:
        self.api = api

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/media/upload", self.api.endpoint("media_upload", self._upload))]

    async def _upload(self, request: web.Request) -> dict[str, Any]:
        try:
            app_id = self.api.tokens.app_of(request.query.get("access_token"))
        except ApiError as exc:
            raise ApiError.legacy_errcode(INVALID_TOKEN, f"invalid access_token: {exc.message}") from None
        self.api.check_old_api(app_id, "media_upload")
        kind, size = request.query.get("type", ""), -1
        if not request.content_type.startswith("multipart/"):
            raise ApiError.legacy_errcode(INVALID_FILE_SIZE, "send a multipart/form-data body with the file in `media`")
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "type":
                kind = (await part.text()).strip()
            elif part.name == "media":
                size = len(await part.read())
        if kind not in MEDIA_TYPES:
            raise ApiError.legacy_errcode(
                INVALID_MEDIA_TYPE, f"type must be one of {', '.join(MEDIA_TYPES)}, got {kind!r}"[:200]
            )
        if size <= 0:
            raise ApiError.legacy_errcode(INVALID_FILE_SIZE, "no file in the form field `media`, or an empty one")
        return {
            "errcode": 0,
            "errmsg": "ok",
            "type": kind,
            "media_id": "@lA" + secrets.token_urlsafe(18),
            "created_at": int(self.api.ledger.clock.wall() * 1000),
        }
