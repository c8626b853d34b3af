"""tests/neo4j/server: a server on ports other than Neo4j's defaults advertises its own bolt
address, and the Browser URL it prints connects to it at once (no authentication)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import NEO4J_SERVER

ROOT = Path(__file__).parent.parent.parent


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return response.read()


@pytest.fixture
def server(tmp_path, worker_id):
    """A second real Neo4j server, on ports of its own (not the sync tests' spare ones)."""
    index = int(worker_id[2:]) if worker_id.startswith("gw") else 0
    bolt, http = 7728 + 2 * index, 7515 + 2 * index
    lib = Path(os.environ.get("PROV_TEST_NEO4J_HOME", ROOT / ".neo4j")) / "lib"
    env = {**os.environ, "PROV_TEST_NEO4J_HOME": str(tmp_path / "neo4j"),
           "PROV_TEST_NEO4J_LIB": str(lib),
           "PROV_TEST_NEO4J_BOLT_PORT": str(bolt), "PROV_TEST_NEO4J_HTTP_PORT": str(http)}
    started = subprocess.run([NEO4J_SERVER, "start"], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    try:
        yield bolt, http, env, started
    finally:
        subprocess.run([NEO4J_SERVER, "stop"], env=env, capture_output=True, check=True)


def _browser_url(stderr: str) -> str:
    [url] = re.findall(r"Browser at (\S+)", stderr)
    return url


def test_the_server_advertises_its_bolt_port_and_prints_a_browser_url_that_connects(server):
    import neo4j

    bolt, http, env, started = server
    uri = f"bolt://127.0.0.1:{bolt}"
    assert started.stdout.splitlines()[-1] == uri
    # what the Browser's connect form is filled from: the server's discovery document
    discovery = json.loads(_get(f"http://127.0.0.1:{http}/"))
    assert discovery["bolt_direct"] == uri
    assert discovery["bolt_routing"] == f"neo4j://127.0.0.1:{bolt}"

    url = _browser_url(started.stderr)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", f"127.0.0.1:{http}", "/browser/")
    query = {key: value for key, [value] in parse_qs(parts.query).items()}
    assert query == {"dbms": uri, "db": "neo4j", "preselectAuthMethod": "NO_AUTH"}
    with neo4j.GraphDatabase.driver(query["dbms"], auth=None) as driver:  # no credentials
        records, _, _ = driver.execute_query("RETURN 1 AS one", database_=query["db"])
        assert records[0]["one"] == 1
    # the Browser this server serves reads those parameters on start
    page = _get(url).decode()
    assert "<title>Neo4j Browser</title>" in page
    [app] = re.findall(r'src="(app-[^"]+\.js)"', page)
    code = _get(f"http://127.0.0.1:{http}/browser/{app}").decode()
    assert 'get("dbms")' in code and 'get("db")' in code and "preselectAuthMethod" in code
    assert '"NO_AUTH"' in code

    # asked again, start and status say the same
    again = subprocess.run([NEO4J_SERVER, "start"], env=env, capture_output=True, text=True)
    assert again.stdout.strip() == uri and _browser_url(again.stderr) == url
    status = subprocess.run([NEO4J_SERVER, "status"], env=env, capture_output=True, text=True)
    assert status.stdout.strip() == f"running {uri}" and _browser_url(status.stderr) == url
