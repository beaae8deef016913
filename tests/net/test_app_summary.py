"""The real applications' summaries (net.app_summary) and the [[apps]] scenario table, on
fixed outputs in the tools' own formats (no namespaces needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hmipv6.net.app_summary import plot_apps, summarise
from hmipv6.net.apps import App, AppResult
from hmipv6.sim.scenario import ScenarioError, builtin_path, loads


def _result(tmp_path: Path, name: str, argv: tuple[str, ...], text: str, at: float = 1.0,
            stopped: bool = True) -> AppResult:
    out = tmp_path / f"{name}.out"
    out.write_text(text)
    return AppResult(App(name, "cn", at, argv), out, tmp_path / f"{name}.err", 0, stopped)


def _ping_text(answered: list[int], sent: int, elapsed_ms: int) -> str:
    lines = ["PING 2001:db8:f::100(2001:db8:f::100) 56 data bytes"]
    lines += [f"64 bytes from 2001:db8:f::100: icmp_seq={s} ttl=62 time={40 + s % 3}.5 ms"
              for s in answered]
    lines += ["", "--- 2001:db8:f::100 ping statistics ---",
              f"{sent} packets transmitted, {len(answered)} received, "
              f"{100 * (sent - len(answered)) / sent:g}% packet loss, time {elapsed_ms}ms"]
    return "\n".join(lines) + "\n"


def test_ping_loss_runs_gap_and_probes_in_flight_at_the_end(tmp_path: Path) -> None:
    # 200 probes over 3.98 s (20 ms apart), 101-108 lost (a handover), 198-200 in flight
    # when the run's end interrupted ping.
    answered = [s for s in range(1, 198) if not 101 <= s <= 108]
    r = _result(tmp_path, "ping", ("ping", "-6", "-i", "0.01", "x"),
                _ping_text(answered, 200, 3980))
    (s,) = summarise({"ping": r})
    assert s["tool"] == "ping" and s["interval"] == pytest.approx(0.02)
    assert (s["sent"], s["received"], s["lost"], s["in_flight_at_stop"]) == (200, 189, 8, 3)
    assert s["lost_runs"] == [[pytest.approx(1.0 + 100 * 0.02), 8]]
    assert s["max_gap"] == pytest.approx(9 * 0.02)
    assert s["rtt_ms"] == {"min": 40.5, "median": 41.5, "max": 42.5}


def test_iperf3_client_and_server_json(tmp_path: Path) -> None:
    def interval(start: float, nbytes: int, rt: int | None = None) -> dict[str, object]:
        return {"sum": {"start": start, "end": start + 0.1, "seconds": 0.1, "bytes": nbytes,
                        "bits_per_second": nbytes * 80.0, **({} if rt is None
                                                             else {"retransmits": rt})}}
    client = {"start": {"connecting_to": {"host": "2001:db8:f::100", "port": 5201},
                        "test_start": {"protocol": "TCP"}},
              "intervals": [interval(0.0, 50000, 0), interval(0.1, 0, 3),
                            interval(0.2, 0, 0), interval(0.3, 60000, 0)],
              "end": {"sum_sent": {"bytes": 110000, "retransmits": 3},
                      "sum_received": {"bytes": 110000, "bits_per_second": 2.2e6}}}
    server = {"start": {"accepted_connection": {"host": "2001:db8:c::1", "port": 4000},
                        "test_start": {"protocol": "TCP"}},
              "intervals": [interval(0.0, 50000), interval(0.1, 60000)],
              "end": {"sum_sent": {}, "sum_received": {"bytes": 110000}}}
    res = {"s": _result(tmp_path, "s", ("iperf3", "-s", "-J"), json.dumps(server), at=0.3),
           "c": _result(tmp_path, "c", ("iperf3", "-c", "x", "-J"), json.dumps(client),
                        at=1.5)}
    s, c = summarise(res)
    assert (c["role"], c["protocol"], c["retransmits"], c["mbps"]) == ("client", "TCP", 3, 2.2)
    assert c["longest_stall"] == pytest.approx(0.2)
    assert c["intervals"][1] == [1.6, 0, 0.0, 3]
    # The server's clock starts when its client connected: the client app's start.
    assert s["role"] == "server" and s["intervals"][0][0] == 1.5
    report = {"apps": [s, c], "handovers": [
        {"from": None, "timeline": {"l2_down": None}},
        {"from": "ar1", "timeline": {"l2_down": 1.65}}]}
    assert plot_apps(report, tmp_path / "apps.png") == tmp_path / "apps.png"
    assert (tmp_path / "apps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = _result(tmp_path, "b", ("iperf3", "-c", "x"), "not json")
    assert summarise({"b": bad})[0]["error"] == "no JSON output (run it with -J)"


def _figure1(extra: str) -> str:
    path = builtin_path("figure1")
    assert path is not None
    return path.read_text() + extra


def test_apps_table_placeholders_and_errors() -> None:
    sc = loads(_figure1('[[apps]]\nnode = "cn"\nrun = "ping -6 -i 0.01 {mn}"\nat = "1s"\n'
                        '[[apps]]\nnode = "mn"\nrun = ["{python}", "-m", "hmipv6.net.echo",'
                        ' "server"]\n'))
    a, b = sc.apps
    assert (a.name, a.node, a.at) == ("0-cn-ping", "cn", 1.0)
    assert a.argv(sc, "py") == ("ping", "-6", "-i", "0.01", "2001:db8:f::100")
    assert b.argv(sc, "/usr/bin/python3")[0] == "/usr/bin/python3" and b.name == "1-mn-python"
    for body, message in [
        ('run = 3', "apps[0].run: expected a string or a list of strings, got 3"),
        ('run = "ping {nope}"', "apps[0].run: {nope}: no node with an address called 'nope'"),
        ('run = ""', "apps[0].run: empty command"),
        ('run = "x"\nat = "30s"', "apps[0].at: 30s is not before the end of the scenario"),
        ('run = "x"\nname = "a b"', "apps[0].name: bad name 'a b'"),
        ('run = "x"\nwhen = 1', "apps[0]"),
    ]:
        with pytest.raises(ScenarioError, match=None) as e:
            loads(_figure1(f'[[apps]]\nnode = "cn"\n{body}\n'))
        assert message in str(e.value)


def test_the_readme_example_scenario_loads_with_its_apps() -> None:
    from hmipv6.sim.scenario import load

    sc = load(Path(__file__).parents[2] / "examples" / "real-apps.toml")
    assert [a.name for a in sc.apps] == ["0-mn-iperf3", "1-mn-python", "iperf3", "echo", "ping"]
    assert sc.flows == () and [m.at for m in sc.moves] == [0.0, 6.0]
    assert sc.apps[2].argv(sc, "py") == ("iperf3", "-c", "2001:db8:f::100", "-t", "9", "-i",
                                         "0.1", "-J")
