import io
import json

import pytest

from harness.core import histograms
from harness.core.timemap import steady_timemap
from harness.loadgen.recorder import WindowRecorder
from harness.loadgen.windows import LiveTotals, LoadgenCollector, WindowMerger

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_recorder_charges_outcomes_to_the_send_window_and_holds_it_until_settled():
    clock = Clock()
    rec = WindowRecorder(run_start=1000.0, window_s=10, hold_s=8, clock=clock)
    rec.sent(1001.0, late=False)
    rec.sent(1002.0, late=True)
    clock.t = 1015.0  # window 1 now; window 0 is not settled (replies may take 8 s)
    rec.reply(1001.0, 14.0, 0.5)
    assert rec.take_closed() == []
    clock.t = 1025.0
    rec.failure(1002.0, "no reply", timeout=True, client_msg_id="c1", msg_id="m1")
    closed = rec.take_closed()
    assert [p["index"] for p in closed] == [0]
    counts = closed[0]["counts"]
    assert counts["sent"] == 2 == counts["replies_ok"] + counts["timeouts"] and counts["late_starts"] == 1
    assert closed[0]["no_reply_sample"] == [{"clientMsgId": "c1", "msgId": "m1"}]
    assert histograms.decode(closed[0]["reply_hist"]).get_total_count() == 1
    assert rec.take_closed() == []
    final = rec.take_all()
    assert [p["index"] for p in final] == [1, 2] and all(p["counts"]["sent"] == 0 for p in final)
    # an outcome for an already shipped window is not lost: it goes to the next open one
    rec.failure(1003.0, "send failed")
    assert rec.take_all()[0]["errors_by_kind"] == {"send failed": 1}


def test_recorded_latencies_are_in_every_histogram_the_recorder_hands_out():
    clock = Clock(1000.0)
    rec = WindowRecorder(run_start=1000.0, window_s=10, hold_s=0, clock=clock)
    latencies = [0.0012, 0.0012, 0.25, 3.5, 0.25]
    for lat in latencies[:3]:
        rec.reply(1001.0, lat, lat / 2)
    live = rec.take_live()
    assert histograms.decode(live["reply_hist"]).get_total_count() == 3
    for lat in latencies[3:]:
        rec.reply(1001.0, lat, lat / 2)
    clock.t = 1010.0
    (closed,) = rec.take_closed()
    expected = histograms.new_histogram()
    for lat in latencies:
        histograms.record_seconds(expected, lat)
    assert closed["reply_hist"] == histograms.encode(expected)
    assert histograms.decode(closed["first_chunk_hist"]).get_total_count() == len(latencies)
    assert histograms.decode(rec.take_live()["reply_hist"]).get_total_count() == len(latencies)


def worker_payloads(clock, start, latencies):
    rec = WindowRecorder(start, 10, clock=clock)
    for lat in latencies:
        rec.sent(start + 1, late=lat > 1)
        rec.reply(start + 1, lat, lat / 2)
    return rec


def test_merger_waits_for_all_workers_then_writes_exact_merged_percentiles():
    clock = Clock(1000.0)
    out = io.StringIO()
    merger = WindowMerger(out, steady_timemap(36000, 100), 1000.0, 10, lambda: 7, clock=clock)
    merger.sample_users()
    a = worker_payloads(clock, 1000.0, [0.1] * 98)
    b = worker_payloads(clock, 1000.0, [2.0, 3.0])
    clock.t = 1011.0
    merger.add("a", a.take_closed())
    assert merger.flush({"a", "b"}) == 0  # b has not reported window 0 yet
    merger.add("b", b.take_closed())
    assert merger.flush({"a", "b"}) == 1
    line = json.loads(out.getvalue())
    assert line["sent"] == 100 and line["replies_ok"] == 100 and line["late_starts"] == 2
    assert line["users"] == 7 and line["workers"] == 2 and line["sim_start"] == 36000
    hist = histograms.decode(line["reply_hist"])
    assert histograms.percentile_seconds(hist, 99) >= 2.0  # not an average of per-worker p99s


def test_merger_writes_overdue_windows_and_folds_late_reports():
    clock = Clock(1000.0)
    out = io.StringIO()
    merger = WindowMerger(out, steady_timemap(0, 100), 1000.0, 10, lambda: 1, grace_s=5, clock=clock)
    early = worker_payloads(clock, 1000.0, [0.1])
    clock.t = 1016.0
    merger.add("a", early.take_closed())
    assert merger.flush({"a", "b"}) == 1  # overdue: b never reported window 0
    merger.add("b", [worker_payloads(Clock(1000.0), 1000.0, [0.3]).take_all()[0]])
    assert merger.flush({"a", "b"}, final=True) == 1
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert lines[1]["late_reports"] == 1 and lines[1]["sent"] == 1
    assert sum(x["sent"] for x in lines) == 2


def test_live_exporter_counts_by_completion_and_buckets_match_contract_boundaries():
    clock = Clock(1000.0)
    rec = worker_payloads(clock, 1000.0, [0.1, 0.4])
    live = LiveTotals()
    live.add("w1", rec.take_live())
    assert live.counts["sent"] == 2 and live.reply.get_total_count() == 2
    clock.t = 1030.0
    assert [p["counts"]["sent"] for p in rec.take_closed()] == [2, 0, 0]  # shipped windows stay in the live view
    for lat in (0.6, 3.0):
        rec.sent(1025.0, late=False)
        rec.reply(1025.0, lat, lat / 2)
    rec.failure(1026.0, "no reply", timeout=True)
    live.add("w1", rec.take_live())  # a worker's newer snapshot replaces its older one
    live.add("w2", worker_payloads(clock, 1000.0, []).take_live())
    families = {f.name: f for f in LoadgenCollector(live, lambda: 3, lambda: 42.0).collect()}
    buckets = {
        s.labels["le"]: s.value for s in families["loadgen_reply_latency_seconds"].samples if s.name.endswith("_bucket")
    }
    assert buckets["0.5"] == 2 and buckets["1.0"] == 3 and buckets["+Inf"] == 4
    replies = {
        s.labels["outcome"]: s.value for s in families["loadgen_replies"].samples if s.name == "loadgen_replies_total"
    }
    assert replies == {"ok": 4, "timeout": 1, "error": 0}
    assert families["loadgen_users"].samples[0].value == 3
    assert families["loadgen_sim_time_seconds"].samples[0].value == 42.0


def test_the_drain_is_settled_once_every_worker_reports_nothing_in_flight_and_no_late_reply_is_due():
    clock = Clock(2000.0)
    rec = WindowRecorder(run_start=1990.0, window_s=2, hold_s=4, clock=clock)
    live = LiveTotals(clock=clock)
    rec.sent(1995.0, late=False)
    live.add("w1", rec.take_live())
    live.add("w2", WindowRecorder(run_start=1990.0, window_s=2, hold_s=4, clock=clock).take_live())
    workers = {"w1", "w2"}
    assert not live.settled(workers, since=2000.0, quiet_s=8)  # one message still waits for its reply
    rec.reply(1995.0, 0.3, 0.1)
    clock.t = 2001.0
    live.add("w1", rec.take_live())
    assert not live.settled(workers, since=2000.5, quiet_s=8)  # w2 has not reported since
    assert not live.settled(workers | {"w3"}, since=2000.0, quiet_s=8)  # w3 never reported
    assert live.settled(workers, since=2000.0, quiet_s=8)
    rec.sent(1996.0, late=False)
    rec.failure(1996.0, "no reply", timeout=True)
    live.add("w1", rec.take_live())
    assert not live.settled(workers, since=2000.0, quiet_s=8)  # its late reply may still come
    clock.t = 2009.0
    assert live.settled(workers, since=2000.0, quiet_s=8)
