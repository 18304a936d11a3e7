"""Locust users: simulated employees and clients, each on its own open-loop Poisson schedule.

Every user keeps its next *intended* arrival time; Locust's wait_time sleeps until then and the task
sends without waiting for earlier replies. A send that starts later than `load.late_start_ms` after
its intended time is counted as a late start (the generator fell behind), never silently re-timed.
"""

from __future__ import annotations

import itertools
import random
import time
from urllib.parse import quote, urlsplit

from locust import HttpUser, User, task

from harness.core.contract import INJECTED_HEADER
from harness.core.simclock import parse_sim
from harness.loadgen.chatsocket import ChatSocket, Pending
from harness.loadgen.questions import question
from harness.loadgen.runtime import RUNTIME

_ids = itertools.count(1)
IDLE_WAIT_S = 3600.0


def user_ws_url(platform_url: str, user_id: str, accepted_frames: bool) -> str:
    """The emulator's user socket; without `accepted_frames` it sends no `accepted` frame (one frame less per
    message to read: the reply is matched by clientMsgId anyway)."""
    parts = urlsplit(platform_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    accepted = "" if accepted_frames else "&accepted=0"
    return f"{scheme}://{parts.netloc}/user?userId={quote(user_id)}&nick={quote(user_id)}{accepted}"


class OpenLoopUser(User):
    """Base: a Poisson clock and the bookkeeping of intended vs. actual send times."""

    abstract = True

    def rate_per_s(self) -> float:
        raise NotImplementedError

    def act(self, intended: float, late: bool) -> None:
        raise NotImplementedError

    def on_start(self) -> None:
        RUNTIME.wait_ready()
        assert RUNTIME.scenario is not None
        self.rng = random.Random()
        self.user_id = f"emp-{RUNTIME.node}-{next(_ids)}"
        self.late_start_s = RUNTIME.scenario.load.late_start_ms / 1000
        self.next_at = time.time() + self._gap()

    def _gap(self) -> float:
        rate = self.rate_per_s()
        return self.rng.expovariate(rate) if rate > 0 else IDLE_WAIT_S

    def wait_time(self) -> float:
        return max(0.0, self.next_at - time.time())

    @task
    def arrive(self) -> None:
        now = time.time()
        intended = self.next_at
        if now < intended:
            return  # Locust runs a user's first task before any wait: nothing is due yet
        self.next_at = intended + self._gap()
        self.act(intended, now - intended > self.late_start_s)


class ChatUser(OpenLoopUser):
    """Base for users on the chat WebSocket."""

    abstract = True

    def on_start(self) -> None:
        super().on_start()
        scenario = RUNTIME.scenario
        assert scenario is not None and RUNTIME.recorder is not None and RUNTIME.locust_stats is not None
        started = time.monotonic()
        try:
            self.sock = ChatSocket(
                user_ws_url(RUNTIME.targets.platform_url, self.user_id, scenario.load.accepted_frames),
                RUNTIME.recorder,
                RUNTIME.locust_stats,
                scenario.load.reply_timeout_s,
            )
        except Exception as exc:  # visible in Locust's failures, then Locust drops this user
            self.environment.events.request.fire(
                request_type="WS",
                name="connect",
                response_length=0,
                response_time=(time.monotonic() - started) * 1000,
                exception=f"connect failed: {type(exc).__name__}",
                context={},
            )
            raise
        RUNTIME.sockets.add(self.sock)
        self.seq = itertools.count(1)
        self.asked = itertools.count(1)
        self.groups = [f"grp-{i}" for i in range(scenario.mix.group_conversations)]

    def on_stop(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.retiring = True  # the sweeper closes it once every pending reply came or timed out

    def rate_per_s(self) -> float:
        assert RUNTIME.plan is not None
        return RUNTIME.plan.per_user_rate

    def text(self) -> str:
        assert RUNTIME.scenario is not None
        return question(RUNTIME.scenario.messages, self.rng, f"{self.user_id}-{next(self.asked)}")

    def send_message(
        self, intended: float, late: bool, conversation: str, ctype: str, text: str, name: str, expect: str = ""
    ) -> None:
        cid = f"{self.user_id}-{next(self.seq)}"
        frame = {
            "type": "message",
            "clientMsgId": cid,
            "conversationId": conversation,
            "conversationType": ctype,
            "text": text,
            "atBot": True,
        }
        assert RUNTIME.recorder is not None
        if self.sock.send(cid, frame, Pending(intended, "message", name, expect)):
            RUNTIME.recorder.sent(intended, late)
        else:
            RUNTIME.recorder.count("offered", intended)

    def send_membership(self, intended: float, action: str, conversation: str) -> None:
        cid = f"{self.user_id}-{next(self.seq)}"
        frame = {"type": action, "clientMsgId": cid, "conversationId": conversation}
        self.sock.send(cid, frame, Pending(intended, action, action))


class OneToOneEmployee(ChatUser):
    """An employee chatting with the bot one-to-one."""

    def act(self, intended: float, late: bool) -> None:
        self.send_message(intended, late, f"dm-{self.user_id}", "1", self.text(), "1:1 reply")


class GroupEmployee(ChatUser):
    """An employee @-mentioning the bot in one of the shared group chats."""

    def act(self, intended: float, late: bool) -> None:
        self.send_message(intended, late, self.rng.choice(self.groups), "2", self.text(), "group reply")


class GroupMember(ChatUser):
    """Joins and leaves groups (EVENT frames for the bot) and chats in the groups it is in."""

    MEMBERSHIP_SHARE = 0.3

    def on_start(self) -> None:
        super().on_start()
        self.joined: list[str] = []

    def act(self, intended: float, late: bool) -> None:
        if not self.joined or self.rng.random() < self.MEMBERSHIP_SHARE:
            if self.joined and self.rng.random() < 0.5:
                self.send_membership(intended, "leave", self.joined.pop(self.rng.randrange(len(self.joined))))
            else:
                group = self.rng.choice(self.groups)
                self.joined.append(group)
                self.send_membership(intended, "join", group)
            return
        self.send_message(intended, late, self.rng.choice(self.joined), "2", self.text(), "group reply")


class SmokeUser(ChatUser):
    """Sends the smoke command (`/test`) at a fixed interval and checks the version comes back."""

    def rate_per_s(self) -> float:
        assert RUNTIME.scenario is not None
        interval = RUNTIME.scenario.mix.smoke_interval_s
        return 1 / interval if interval else 0.0

    def _gap(self) -> float:
        rate = self.rate_per_s()
        return 1 / rate if rate else IDLE_WAIT_S

    def act(self, intended: float, late: bool) -> None:
        messages = RUNTIME.scenario.messages  # type: ignore[union-attr]
        self.send_message(
            intended, late, f"dm-{self.user_id}", "1", messages.smoke_text, "smoke /test", expect=messages.smoke_expect
        )


class AbusiveClient(HttpUser):
    """Tries bad credentials at a fixed rate inside the scenario's abuse windows (the login alert)."""

    host = "http://127.0.0.1"

    def on_start(self) -> None:
        RUNTIME.wait_ready()
        self.rng = random.Random()
        assert RUNTIME.scenario is not None
        self.abuse = RUNTIME.scenario.abuse
        self.windows = [(parse_sim(a), parse_sim(b)) for a, b in self.abuse.windows]
        self.url = (
            RUNTIME.targets.bot_admin_url.rstrip("/") + self.abuse.login_path
            if self.abuse.target == "bot"
            else RUNTIME.targets.platform_url.rstrip("/") + "/v1.0/oauth2/accessToken"
        )

    def wait_time(self) -> float:
        return self.rng.expovariate(self.abuse.logins_per_minute / 60) if self.abuse.logins_per_minute else 60.0

    def _active(self) -> bool:
        sim = RUNTIME.sim_now()
        return not self.windows or any(a <= sim < b for a, b in self.windows)

    @task
    def bad_login(self) -> None:
        if not self._active() or not self.abuse.logins_per_minute:
            return
        body = (
            {"username": "admin", "password": f"guess-{self.rng.randrange(10**6)}"}
            if self.abuse.target == "bot"
            else {"appKey": RUNTIME.targets.app_key, "appSecret": "wrong-secret"}
        )
        # the header files what this provokes on the platform as injected, not held against the bot
        headers = {INJECTED_HEADER: "abusive-client"}
        with self.client.post(self.url, json=body, headers=headers, name="bad login", catch_response=True) as response:
            if response.status_code in (400, 401, 403, 429):
                response.success()  # refused, as it should be
            else:
                response.failure(f"bad login got HTTP {response.status_code}")


CHAT_USER_CLASSES = {"one_to_one": OneToOneEmployee, "group": GroupEmployee, "membership": GroupMember}
