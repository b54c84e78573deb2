"""``waitline staff create`` (a password piped in, or one generated and printed), the slugs the app keeps for
itself, and ``waitline demo`` printing the pages and a staff login that works."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests import postgres
from waitline.cli import main
from waitline.config import Settings
from waitline.domain import LoginFailed
from waitline.services import Services
from waitline.store.engine import open_database


def waitline(database_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, env={"WAITLINE_DATABASE_URL": database_url})
    return result.exit_code, result.output


def can_sign_in(database_url: str, email: str, password: str) -> bool:
    async def attempt() -> bool:
        settings = Settings(database_url=database_url)
        database = open_database(settings)
        try:
            await Services(database=database).accounts.log_in(
                slug="luigis",
                email=email,
                password=password,
                client="127.0.0.1",
                session_lifetime=timedelta(hours=1),
            )
        except LoginFailed:
            return False
        finally:
            await database.dispose()
        return True

    return asyncio.run(attempt())


@pytest.fixture
def luigis(database_url: str) -> str:
    code, output = waitline(database_url, "restaurant", "create", "--slug", "luigis", "--name", "Luigi's")
    assert code == 0, output
    return database_url


def test_staff_create_takes_the_password_piped_in(luigis: str) -> None:
    code, output = waitline(
        luigis,
        "staff",
        "create",
        "--restaurant",
        "luigis",
        "--email",
        "Ada@Luigis.Example",
        stdin="a long secret\n",
    )

    assert code == 0, output
    assert json.loads(output) == {"restaurant": "luigis", "email": "ada@luigis.example"}
    assert can_sign_in(luigis, "ada@luigis.example", "a long secret")
    assert not can_sign_in(luigis, "ada@luigis.example", "another secret")


def test_staff_create_generates_and_prints_a_password_when_none_is_piped(luigis: str) -> None:
    code, output = waitline(
        luigis, "staff", "create", "--restaurant", "luigis", "--email", "bo@luigis.example", stdin=""
    )

    printed = json.loads(output)
    assert code == 0, output
    assert len(printed["password"]) >= 16
    assert can_sign_in(luigis, "bo@luigis.example", printed["password"])


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--email", "ada@luigis.example"], "short\n", "10 to 1024 characters"),
        (["--email", "not-an-email"], "a long secret\n", "give an email address"),
        (["--email", "ada@luigis.example", "--restaurant", "nowhere"], "a long secret\n", "No restaurant"),
    ],
)
def test_staff_create_refuses_what_would_not_work(
    luigis: str, args: list[str], stdin: str, message: str
) -> None:
    code, output = waitline(luigis, "staff", "create", "--restaurant", "luigis", *args, stdin=stdin)

    assert code != 0
    assert message in output


def test_an_email_has_one_login_per_restaurant(luigis: str) -> None:
    first = waitline(
        luigis, "staff", "create", "--restaurant", "luigis", "--email", "ada@luigis.example", stdin=""
    )
    again = waitline(
        luigis, "staff", "create", "--restaurant", "luigis", "--email", "ADA@luigis.example", stdin=""
    )

    assert first[0] == 0
    assert again[0] != 0
    assert "already exists" in again[1]


@pytest.mark.parametrize("slug", ["staff", "api", "static", "healthz"])
def test_slugs_that_are_paths_of_the_app_are_refused(database_url: str, slug: str) -> None:
    code, output = waitline(database_url, "restaurant", "create", "--slug", slug, "--name", "X")

    assert code != 0
    assert "path of the web app" in output


def test_the_demo_prints_the_pages_and_a_staff_login_that_works(tmp_path: Path) -> None:
    port = postgres.free_port()
    environment = {**os.environ, "WAITLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "waitline", "demo", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            wait_until_up(client, process, log)
            banner = log.read_text()
            password = re.search(r"password:\s+(\S+)", banner)
            assert f"{base}/demo" in banner
            assert f"{base}/staff/demo" in banner
            assert "staff@demo.test" in banner
            assert password

            login = client.get("/staff/demo/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token
            signed_in = client.post(
                "/staff/demo/login",
                data={
                    "csrf_token": token.group(1),
                    "email": "staff@demo.test",
                    "password": password.group(1),
                },
            )
            assert signed_in.status_code == 303
            assert client.get("/staff/demo").status_code == 200
            assert client.get("/demo").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_up(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the demo did not come up:\n{log.read_text()}")
