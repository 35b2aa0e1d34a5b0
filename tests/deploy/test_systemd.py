"""The single-box files in deploy/systemd: the unit passes systemd-analyze and keeps its promises."""

import os
import shutil
import subprocess
import tomllib

import pytest

from conftest import REPO

SYSTEMD = REPO / "deploy" / "systemd"
UNIT = SYSTEMD / "relay.service"
BINARY = "/usr/local/bin/relay"


def unit_settings():
    """[Service] of the unit as {key: [values]}; keys may repeat (SystemCallFilter)."""
    settings = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith("#") and section == "Service":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    # verify wants ExecStart's program to exist; the binary is not installed here, so a stand-in
    # at another path takes its place and every other line is checked as shipped.
    program = tmp_path / "relay"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    unit = tmp_path / "relay.service"
    text = UNIT.read_text()
    assert text.count(BINARY) == 1
    unit.write_text(text.replace(BINARY, str(program)))
    checked = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stdout + checked.stderr


def test_the_unit_waits_out_the_drain(server_config):
    service = unit_settings()
    assert service["KillSignal"] == ["SIGTERM"]
    drain_seconds = server_config["server"]["drain_timeout_ms"] / 1000
    (timeout,) = service["TimeoutStopSec"]
    assert int(timeout) >= drain_seconds + 5, "systemd would SIGKILL mid-drain"


def test_the_unit_is_confined_to_its_state_directory():
    service = unit_settings()
    (exec_start,) = service["ExecStart"]
    arguments = exec_start.split()
    assert arguments[:2] == [BINARY, "all"]
    data_dir = arguments[arguments.index("--data-dir") + 1]
    (state,) = service["StateDirectory"]
    assert data_dir == os.path.join("/var/lib", state), "the data directory must be the one writable place"
    expected = {
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "NoNewPrivileges": ["yes"],
        "CapabilityBoundingSet": ["CAP_NET_BIND_SERVICE"],
        "AmbientCapabilities": ["CAP_NET_BIND_SERVICE"],
        "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX AF_NETLINK"],
        "User": ["relay"],
    }
    assert {key: service.get(key) for key in expected} == expected
    assert "@system-service" in service["SystemCallFilter"]
    # Enough descriptors for the default connection caps (about 53,000 with every listener).
    assert int(service["LimitNOFILE"][0]) >= 65536
    (account,) = [line.split() for line in (SYSTEMD / "relay.sysusers").read_text().splitlines() if line.startswith("u ")]
    assert account[1] == "relay" and account[-1] == data_dir


def test_the_example_configuration_uses_only_server_settings(server_config):
    config = tomllib.loads((SYSTEMD / "relay.toml").read_text())
    for section, table in config.items():
        for key, value in table.items():
            assert key in server_config[section], f"{section}.{key}"
            assert type(value) is type(server_config[section][key]), f"{section}.{key}"
    # ACME validates on 443 (TLS-ALPN-01); the plain port only redirects; metrics stay on loopback.
    assert config["http"]["tls_listen"].endswith(":443") and config["http"]["redirect_to_https"] is True
    assert config["tls"]["acme_domains"]
    assert "admin" not in config and server_config["admin"]["listen"].startswith("127.0.0.1:")
    assert "data_dir" not in config.get("server", {}), "relay.service sets it with --data-dir"
