import pytest

from harness.core import assets
from harness.core.contract import THRESHOLDS
from harness.core.scenario.config import (
    ScenarioError,
    load_scenario,
    parse_scenario,
    resolved_dict,
    resolved_toml,
    scenario_from_dict,
)
from harness.loadgen.shapes import build_plan

pytestmark = pytest.mark.unit


def test_defaults_fill_in_and_sla_comes_from_the_contract():
    sc = parse_scenario({}, "x")
    assert sc.sla == THRESHOLDS
    assert sc.shape.kind == "week" and sc.target.kind == "reference"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"shape": {"peak_users": -3}}, "shape.peak_users"),
        ({"shape": {"peek_users": 3}}, "shape.peek_users"),
        ({"shape": {"kind": "ramp"}}, "shape.kind"),
        ({"shape": {"weekday_curve": [[0, 0.1], [10, 2.0], [24, 0.1]]}}, "shape.weekday_curve"),
        ({"compression": {"peak_window": ["11:00", "10:00"]}}, "compression.peak_window"),
        ({"compression": {"factor": 0.5}}, "compression.factor"),
        ({"load": {"reply_timeout_s": "soon"}}, "load.reply_timeout_s"),
        ({"target": {"kind": "command"}}, "target.command"),
        ({"target": {"kind": "url"}}, "target.platform_url"),
        ({"sla": {"p99": 0.3}}, "sla.p99"),
        ({"sla": {"availability": 1.5}}, "sla.availability"),
        ({"faults": [{"at": "Tue 10:00"}]}, "faults[0].set"),
        ({"faults": [{"at": "Tue 10:00", "until": "Tue 09:00", "set": {"push_drop_ratio": 0.1}}]}, "faults[0].until"),
        ({"faults": [{"at": "Tue 10:00", "set": {"push_delay_seconds": 3}}]}, "faults[0].set.push_delay_seconds"),
        ({"faults": [{"at": "Tue 10:00", "set": {"qps_mode": 403}}]}, "faults[0].set.qps_mode"),
        ({"profiling": [{"at": "Someday"}]}, "profiling[0].at"),
        ({"abuse": {"windows": [["Wed 10:00"]]}}, "abuse.windows[0]"),
        ({"messages": {"length_chars": [5, 2]}}, "messages.length_chars"),
        ({"mix": {"one_to_one": 0, "group": 0, "membership": 0}}, "mix.one_to_one"),
        ({"name": "has space"}, "name"),
        ({"surprise": 1}, "surprise"),
        ({"shape": {"duration_s": float("nan")}}, "shape.duration_s"),
        ({"compression": {"peak_wall_s": float("inf")}}, "compression.peak_wall_s"),
        ({"load": {"reply_timeout_s": 1e308}}, "load.reply_timeout_s"),
        ({"faults": [{"at": "Tue 10:00", "set": {"push_drop_ratio": float("nan")}}]}, "faults[0].set.push_drop_ratio"),
        ({"faults": [{"at": "Tue 10:00", "set": {}}]}, "faults[0].set"),
        ({"faults": [{"at": True, "set": {"push_drop_ratio": 0.1}}]}, "faults[0].at"),
        ({"target": {"env": {"A": "1"}, "public_env": ["B"]}}, "target.public_env"),
        ({"load": {"workers": True}}, "load.workers"),
    ],
)
def test_errors_name_the_field(data, field):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "x")
    assert str(err.value).startswith(f"{field}:")


def test_qps_mode_is_a_fault_switch_with_an_until():
    sc = parse_scenario({"faults": [{"at": "Tue 10:01", "until": "Tue 10:02", "set": {"qps_mode": "403"}}]}, "x")
    assert sc.faults[0].set == {"qps_mode": "403"} and sc.faults[0].until == "Tue 10:02"
    assert scenario_from_dict(resolved_dict(sc)).faults == sc.faults


def test_sla_override_keeps_other_thresholds():
    sc = parse_scenario({"sla": {"p99_latency_seconds": 0.25}}, "x")
    assert sc.sla.p99_latency_seconds == 0.25 and sc.sla.availability == THRESHOLDS.availability


def test_non_finite_and_huge_numbers_say_what_is_wrong():
    for value, problem in ((float("nan"), "must be a finite number, got NaN"), (1e308, "must be > 0 and <= ")):
        with pytest.raises(ScenarioError, match=f"^shape.duration_s: {problem}"):
            parse_scenario({"shape": {"duration_s": value}}, "x")
    with pytest.raises(
        ScenarioError, match=r"^faults\[0\]\.set\.errors\.card_streaming\.ratio: must be between 0 and 1"
    ):
        parse_scenario(
            {"faults": [{"at": 0, "set": {"errors": {"card_streaming": {"status": 429, "ratio": 1e308}}}}]}, "x"
        )


def test_fault_times_are_simulated_times_or_seconds_since_monday():
    sc = parse_scenario({"faults": [{"at": "Mon 00:01", "until": 120, "set": {"push_drop_ratio": 0.5}}]}, "x")
    assert (sc.faults[0].at_s, sc.faults[0].until_s) == (60.0, 120.0)


def test_env_values_are_masked_in_the_run_folder_unless_public():
    env = {
        "DB_PASS": "p1",
        "SERVICE_CREDENTIALS": "p2",
        "AUTH_HEADER": "p3",
        "MY_PWD": "p4",
        "REGION": "eu-1",
        "LOG": "x9",
    }
    sc = parse_scenario(
        {
            "target": {
                "kind": "command",
                "command": ["mybot", "--api-token", "p5", "--db-password=p6", "--region", "eu-1"],
                "env": env,
                "public_env": ["REGION", "DB_PASS"],  # a secret-looking name stays masked even when listed
            }
        },
        "x",
    )
    text = resolved_toml(sc)
    assert not any(secret in text for secret in ("p1", "p2", "p3", "p4", "p5", "p6", "x9"))
    resolved = resolved_dict(sc)["target"]
    assert resolved["env"] == {k: "eu-1" if k == "REGION" else "***" for k in env}
    assert resolved["command"] == ["mybot", "--api-token", "***", "--db-password=***", "--region", "eu-1"]
    assert sc.target.env == env  # the bot itself still gets the real values


def test_resolved_round_trip_and_secret_masking():
    sc = parse_scenario(
        {"target": {"kind": "command", "command": ["mybot"], "env": {"MY_API_KEY": "s3cret", "REGION": "eu"}}}, "x"
    )
    text = resolved_toml(sc)
    assert "s3cret" not in text and "REGION" in text
    again = scenario_from_dict(resolved_dict(sc))
    assert again.shape == sc.shape and again.load == sc.load and again.sla == sc.sla


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[shape\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


@pytest.mark.parametrize("path", sorted(assets.scenarios_dir().glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_scenarios_load(path):
    sc = load_scenario(path)
    plan = build_plan(sc)
    assert plan.duration_s > 0


def test_shipped_week_plays_in_five_to_seven_minutes_with_true_peaks():
    sc = load_scenario("week")
    plan = build_plan(sc)
    assert 300 <= plan.duration_s <= 7 * 60
    peaks = [s for s in plan.timemap.segments if s.kind == "peak"]
    assert len(peaks) == 7 and min(p.wall_end - p.wall_start for p in peaks) >= 20
    assert sum(p.wall_end - p.wall_start for p in peaks[:5]) == 5 * 60  # weekday peaks: a minute each
    # at the weekday peak, the full peak of users chats at the real per-user rate
    tue_peak = plan.timemap.wall_at(24 * 3600 + 10 * 3600)
    assert plan.users_at(tue_peak) == sc.shape.peak_users


def test_plan_users_follow_shape_then_drain_then_stop():
    sc = parse_scenario(
        {
            "shape": {
                "kind": "spike",
                "users": 5,
                "spike_users": 50,
                "spike_at_s": 10,
                "spike_duration_s": 5,
                "duration_s": 30,
            }
        },
        "x",
    )
    plan = build_plan(sc)
    assert [plan.users_at(t) for t in (0, 10, 14.9, 15, 29.9)] == [5, 50, 50, 5, 5]
    assert plan.users_at(30) == 0 and plan.users_at(plan.duration_s) is None


def test_the_soak_holds_the_weeks_peak_load():
    """docs/scenarios.md: the soak is the compressed week's load in real time, held at its peak."""
    week, soak = load_scenario("week"), load_scenario("soak")
    assert soak.shape.kind == "soak" and soak.shape.users == week.shape.peak_users
    assert soak.load.messages_per_user_per_minute == week.load.messages_per_user_per_minute
    assert soak.profiling == []  # no tracing: the soak measures the bot as it runs
