"""The load generator: Locust users, the chat socket, per-window recording and merge, the load shapes
and the locustfile. Runs inside gevent-patched Locust processes, so it imports harness.core only and
never the emulator's asyncio / aiohttp code.
"""
