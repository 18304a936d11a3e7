"""A bot written only with the official dingtalk-stream SDK, as a user would write it.

Run as a script with DINGTALK_OPENAPI_ENDPOINT pointing at the emulator and the app credentials in
SDK_BOT_CLIENT_ID / SDK_BOT_CLIENT_SECRET. It answers every text with "echo: <text>".
"""

import logging
import os

import dingtalk_stream
from dingtalk_stream import AckMessage


class EchoHandler(dingtalk_stream.ChatbotHandler):
    async def process(self, callback: dingtalk_stream.CallbackMessage):
        incoming = dingtalk_stream.ChatbotMessage.from_dict(callback.data)
        self.reply_text(f"echo: {incoming.text.content.strip()}", incoming)
        return AckMessage.STATUS_OK, "OK"


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    credential = dingtalk_stream.Credential(os.environ["SDK_BOT_CLIENT_ID"], os.environ["SDK_BOT_CLIENT_SECRET"])
    client = dingtalk_stream.DingTalkStreamClient(credential)
    client.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, EchoHandler())
    client.start_forever()


if __name__ == "__main__":
    main()
