"""The reference bot: a well-instrumented enterprise AI chat bot on DingTalk Stream mode.

It is the system under test that ships with the harness (docs/bot.md): stream client, protocol
adapter, simulated or HTTP LLM engine, replier, admin API and the chatbot_* metric contract.
"""

from harness.core.version import __version__

__all__ = ["PROTOCOL", "__version__"]
PROTOCOL = "dingtalk-stream/1.0"
