"""Replicas, routing mode and process faults in a scenario: defaults, errors naming the field, and the
fault schedule's steps (a kill with `until` is undone by a restart of the same replica)."""

import pytest

from harness.core.faults import FaultTimeline
from harness.core.scenario.config import ScenarioError, parse_scenario, resolved_dict, scenario_from_dict

pytestmark = pytest.mark.unit

TWO = {"replicas": 2, "mode": "active-standby"}


def test_one_replica_active_active_by_default():
    sc = parse_scenario({}, "x")
    assert (sc.target.replicas, sc.target.mode) == (1, "active-active")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"target": {"replicas": 0}}, "target.replicas: must be between 1 and 16, got 0"),
        ({"target": {"replicas": 17}}, "target.replicas: must be between 1 and 16, got 17"),
        ({"target": {"mode": "hot"}}, 'target.mode: must be one of "active-active", "active-standby", got "hot"'),
        (
            {"target": {"kind": "url", "platform_url": "http://x", "replicas": 2}},
            "target.replicas: only applies to a bot the harness starts",
        ),
        ({"faults": [{"at": 1, "process": "zap"}]}, 'faults[0].process: must be one of "kill", "stop", "cont"'),
        ({"target": TWO, "faults": [{"at": 1, "process": "kill", "replica": 3}]}, "faults[0].replica: is 3 but"),
        ({"faults": [{"at": 1, "process": "kill", "replica": "any"}]}, "faults[0].replica"),
        ({"faults": [{"at": 1, "process": "cont", "until": 2}]}, "faults[0].until: only a kill (restarted) or a stop"),
        (
            {"faults": [{"at": 1, "process": "kill", "set": {"push_drop_ratio": 1}}]},
            "faults[0].process: an entry either",
        ),
        ({"faults": [{"at": 1, "replica": 1, "set": {"push_drop_ratio": 1}}]}, "faults[0].replica: only applies with"),
        ({"faults": [{"at": 1}]}, "faults[0].set: must name at least one fault switch"),
        ({"faults": [{"at": 2, "until": 1, "process": "kill"}]}, "faults[0].until: must be after `at`"),
        (
            {"target": {"kind": "url", "platform_url": "http://x"}, "faults": [{"at": 1, "process": "kill"}]},
            "faults[0].process: needs a bot the harness starts",
        ),
    ],
)
def test_errors_name_the_field(data, message):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "x")
    assert str(err.value).startswith(message), str(err.value)


def test_process_faults_round_trip_through_the_run_folder_copy():
    sc = parse_scenario(
        {
            "target": TWO,
            "faults": [
                {"at": "Mon 10:00:10", "until": "Mon 10:00:20", "process": "kill"},
                {"at": 5, "set": {"push_drop_ratio": 0.5}},
            ],
        },
        "x",
    )
    data = resolved_dict(sc)
    assert data["faults"] == [
        {"at": "Mon 10:00:10", "until": "Mon 10:00:20", "process": "kill", "replica": "serving"},
        {"at": 5.0, "set": {"push_drop_ratio": 0.5}},
    ]
    assert scenario_from_dict(data).faults == sc.faults


def test_the_schedule_undoes_a_kill_with_a_restart_and_a_stop_with_a_cont_of_the_same_entry():
    sc = parse_scenario(
        {
            "target": {"replicas": 3},
            "faults": [
                {"at": 30, "until": 40, "process": "kill"},
                {"at": 10, "until": 20, "process": "stop", "replica": 2},
                {"at": 15, "process": "restart", "replica": 3},
                {"at": 12, "until": 50, "set": {"push_drop_ratio": 0.5}},
            ],
        },
        "x",
    )
    timeline = FaultTimeline(sc.faults)
    steps = [(s.at_s, s.entry, s.process, s.replica, s.changes, s.revert_keys) for s in timeline.steps]
    assert steps == [
        (10, 1, "stop", 2, {}, ()),
        (12, 3, "", "", {"push_drop_ratio": 0.5}, ()),
        (15, 2, "restart", 3, {}, ()),
        (20, 1, "cont", "", {}, ()),
        (30, 0, "kill", "serving", {}, ()),
        (40, 0, "restart", "", {}, ()),
        (50, 3, "", "", {}, ("push_drop_ratio",)),
    ]
    assert [s.process for s in timeline.due(lambda at: at <= 15)] == ["stop", "", "restart"]
    assert timeline.next_at() == 20
