import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHART = REPO / "charts" / "relay"
TERRAFORM = REPO / "terraform"
CONFIG_RS = REPO / "services" / "server" / "src" / "config.rs"

sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def server_config_keys():
    """Field names of the server's Config struct: the only keys relay.toml and RELAY_* may use."""
    source = CONFIG_RS.read_text()
    body = re.search(r"pub struct Config \{(.*?)\n\}", source, re.S)
    assert body, "Config struct not found in config.rs"
    keys = set(re.findall(r"^\s*pub (\w+):", body.group(1), re.M))
    assert {"database_url", "drain_timeout_ms", "advertise_address"} <= keys
    return keys
