"""A bot written only with the official dingtalk-stream SDK, as a user would write it.

Run as a script with DINGTALK_OPENAPI_ENDPOINT pointing at the emulator and the app credentials in
SDK_BOT_CLIENT_ID / SDK_BOT_CLIENT_SECRET. It answers every text with "echo: <text>", as a plain
text reply, or with SDK_BOT_MODE=card as a streamed AI card; it accepts every event.
"""

import logging
import os

import dingtalk_stream
from dingtalk_stream import AckMessage


class EchoHandler(dingtalk_stream.ChatbotHandler):
    async def process(self, callback: dingtalk_stream.CallbackMessage):
        incoming = dingtalk_stream.ChatbotMessage.from_dict(callback.data)
        text = incoming.text.content.strip()
        if os.environ.get("SDK_BOT_MODE") == "card":
            card = self.ai_markdown_card_start(incoming)
            card.ai_streaming(markdown="echo: ", append=True)
            card.ai_streaming(markdown=text, append=True)
            card.ai_finish()
        else:
            self.reply_text(f"echo: {text}", incoming)
        return AckMessage.STATUS_OK, "OK"


class MembershipHandler(dingtalk_stream.EventHandler):
    async def process(self, event: dingtalk_stream.EventMessage):
        return AckMessage.STATUS_OK, "OK"


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    credential = dingtalk_stream.Credential(os.environ["SDK_BOT_CLIENT_ID"], os.environ["SDK_BOT_CLIENT_SECRET"])
    client = dingtalk_stream.DingTalkStreamClient(credential)
    client.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, EchoHandler())
    client.register_all_event_handler(MembershipHandler())
    client.start_forever()


if __name__ == "__main__":
    main()
