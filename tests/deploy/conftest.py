import sys
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHART = REPO / "charts" / "relay"
TERRAFORM = REPO / "terraform"
# Every setting of the server with its default, as the server ships it (`relay config defaults`).
CONFIG_EXAMPLE = REPO / "relay.toml.example"

sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def server_config():
    """relay.toml.example parsed: {section: {key: default}}."""
    config = tomllib.loads(CONFIG_EXAMPLE.read_text())
    assert config and all(isinstance(table, dict) for table in config.values()), "relay.toml.example is not sectioned"
    return config


@pytest.fixture(scope="session")
def server_config_sections(server_config):
    """Sections of the server's configuration file: the only tables relay.toml may have."""
    return set(server_config)


@pytest.fixture(scope="session")
def server_config_keys(server_config):
    """(section, key) pairs of the server's settings: the only ones relay.toml and RELAY_* may use."""
    keys = {(section, key) for section, table in server_config.items() for key in table}
    assert {("database", "url"), ("server", "drain_timeout_ms"), ("cluster", "advertise_address")} <= keys
    return keys
