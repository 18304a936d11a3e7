"""A chat bot written only with the official Python SDK (PyPI `dingtalk-stream`), as its README and
examples use it, walking every path the SDK offers a chat bot. Run it as a harness target:

    [target]
    kind = "command"
    command = ["python", "tests/sdk_bots/python_bot.py"]

The harness gives it DINGTALK_OPENAPI_ENDPOINT (the SDK's own variable: its gateway and token calls go
to the emulator), DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET. It answers each text message with
"echo: <text>" by one reply path, in turn (SDK_BOT_MODE names one to use only that path):

    text              session webhook, text (ChatbotHandler.reply_text)
    markdown          session webhook, markdown (reply_markdown)
    ai_card           AICardReplier: create + deliver, stream (append, then isFull), finalize the
                      stream (isFinalize), then finish the card (PUT flowStatus 3): finish after finalize
    markdown_card     AIMarkdownCardInstance: ai_start, ai_streaming, ai_finish
    create_deliver    CardReplier.create_and_deliver_card, stream, finalize
    interactive_card  ChatbotHandler.reply_card, then update_card
    robot_send        robot send (one-to-one batchSend or group send) with the SDK's access token

Tokens come from the SDK (the OAuth2 route); at start the bot also takes one from the old API's
/gettoken, as bots that call old-API routes do. It ACKs every event, answers card clicks on the card
callback topic with a card update, and leaves SYSTEM pings and disconnects to the SDK.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys

import dingtalk_stream
import requests
from dingtalk_stream import AckMessage, AICardReplier
from dingtalk_stream.interactive_card import generate_multi_text_line_card_data

ENDPOINT = os.environ.get("DINGTALK_OPENAPI_ENDPOINT", "https://api.dingtalk.com")
MODES = ("text", "markdown", "ai_card", "markdown_card", "create_deliver", "interactive_card", "robot_send")
AI_CARD_TEMPLATE = "382e4302-551d-4880-bf29-a30acfab2e71.schema"  # the SDK's AI markdown card
log = logging.getLogger("python_bot")


class EchoHandler(dingtalk_stream.ChatbotHandler):
    def __init__(self, mode: str | None) -> None:
        super().__init__()
        self.modes = itertools.cycle([mode] if mode else MODES)

    async def process(self, callback: dingtalk_stream.CallbackMessage):
        incoming = dingtalk_stream.ChatbotMessage.from_dict(callback.data)
        text = incoming.text.content.strip()
        mode = next(self.modes)
        getattr(self, f"_{mode}")(incoming, f"echo: {text}")
        log.info("answered %s by %s", incoming.message_id, mode)
        return AckMessage.STATUS_OK, "OK"

    def _text(self, incoming, answer: str) -> None:
        self.reply_text(answer, incoming)

    def _markdown(self, incoming, answer: str) -> None:
        self.reply_markdown("echo", answer, incoming)

    def _ai_card(self, incoming, answer: str) -> None:
        card = AICardReplier(self.dingtalk_client, incoming)
        card_id = card.start(AI_CARD_TEMPLATE, {})
        head, tail = answer[:6], answer[6:]
        card.streaming(card_id, "msgContent", head, append=True, finished=False, failed=False)
        card.streaming(card_id, "msgContent", head + tail, append=False, finished=False, failed=False)
        card.streaming(card_id, "msgContent", answer, append=False, finished=True, failed=False)
        card.finish(card_id, {"msgContent": answer})

    def _markdown_card(self, incoming, answer: str) -> None:
        card = self.ai_markdown_card_start(incoming, title="echo")
        card.ai_streaming(markdown=answer[:6], append=True)
        card.ai_streaming(markdown=answer[6:], append=True)
        card.ai_finish()

    def _create_deliver(self, incoming, answer: str) -> None:
        card = AICardReplier(self.dingtalk_client, incoming)  # a CardReplier that can stream
        card_id = card.create_and_deliver_card(AI_CARD_TEMPLATE, {"flowStatus": "1"})
        card.streaming(card_id, "msgContent", answer, append=False, finished=True, failed=False)

    def _interactive_card(self, incoming, answer: str) -> None:
        data = generate_multi_text_line_card_data(title="echo", logo="", texts=[answer])
        biz_id = self.reply_card(data, incoming)
        self.update_card(biz_id, generate_multi_text_line_card_data(title="echo", logo="", texts=[answer, "(done)"]))

    def _robot_send(self, incoming, answer: str) -> None:
        token = self.dingtalk_client.get_access_token()
        body = {
            "robotCode": self.dingtalk_client.credential.client_id,
            "msgKey": "sampleText",
            "msgParam": json.dumps({"content": answer}),
        }
        if incoming.conversation_type == "2":
            url, body["openConversationId"] = f"{ENDPOINT}/v1.0/robot/groupMessages/send", incoming.conversation_id
        else:
            url, body["userIds"] = f"{ENDPOINT}/v1.0/robot/oToMessages/batchSend", [incoming.sender_staff_id]
        response = requests.post(url, json=body, headers={"x-acs-dingtalk-access-token": token}, timeout=10)
        response.raise_for_status()


class MembershipHandler(dingtalk_stream.EventHandler):
    async def process(self, event: dingtalk_stream.EventMessage):
        return AckMessage.STATUS_OK, "OK"


class CardClickHandler(dingtalk_stream.CallbackHandler):
    async def process(self, callback: dingtalk_stream.CallbackMessage):
        click = dingtalk_stream.CardCallbackMessage.from_dict(callback.data)
        params = click.content.get("cardPrivateData", {}).get("params", {})
        return AckMessage.STATUS_OK, {"cardData": {"cardParamMap": {"clicked": json.dumps(params)}}}


def old_api_token(client_id: str, secret: str) -> str:
    """The old API's token (oapi.dingtalk.com/gettoken): refused with HTTP 200 and an errcode."""
    answer = requests.get(f"{ENDPOINT}/gettoken", params={"appkey": client_id, "appsecret": secret}, timeout=10).json()
    if answer.get("errcode") != 0:
        raise RuntimeError(f"gettoken refused: errcode {answer.get('errcode')} {answer.get('errmsg')}")
    return str(answer["access_token"])


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    client_id, secret = os.environ["DINGTALK_CLIENT_ID"], os.environ["DINGTALK_CLIENT_SECRET"]
    mode = os.environ.get("SDK_BOT_MODE") or None
    if mode is not None and mode not in MODES:
        sys.exit(f"SDK_BOT_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    old_api_token(client_id, secret)
    log.info("old-API token taken")
    client = dingtalk_stream.DingTalkStreamClient(dingtalk_stream.Credential(client_id, secret))
    client.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, EchoHandler(mode))
    client.register_callback_handler(dingtalk_stream.Card_Callback_Router_Topic, CardClickHandler())
    client.register_all_event_handler(MembershipHandler())
    client.start_forever()


if __name__ == "__main__":
    main()
