"""The Airflow web UI in a real browser: Debian's Chromium driven by Playwright (no bundled browser).

`check_ui` logs in as a person would, finds a DAG in the DAG list, opens its latest run and reads the
run's state from the page; it saves a screenshot of that run page.
Run: python -m tools.localplatform.ui OUT.png [DAG_ID]
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


class UiError(RuntimeError):
    pass


@dataclass
class UiResult:
    listed: dict[str, bool]
    run_id: str
    run_state_text: str
    screenshot: Path


def check_ui(base_url: str, username: str, password: str, dag_id: str, run_id: str, screenshot: Path,
             listed_dag_ids: tuple[str, ...] = (), timeout_ms: int = 60_000) -> UiResult:
    """Screenshots: `screenshot` (the run page) and `<stem>-dags.png` beside it (the DAG list)."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.set_default_timeout(timeout_ms)
            page.goto(f"{base_url}/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            try:
                page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"), timeout=min(timeout_ms, 20_000))
            except PlaywrightTimeout as err:
                raise UiError(f"login as '{username}' at {base_url} failed: still on the login page") from err

            page.goto(f"{base_url}/dags")
            listed = {}
            for wanted in dict.fromkeys((dag_id, *listed_dag_ids)):
                link = page.get_by_role("link", name=wanted, exact=True).first
                try:
                    expect(link).to_be_visible(timeout=timeout_ms)
                    listed[wanted] = True
                except AssertionError:
                    listed[wanted] = False
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(screenshot.with_name(f"{screenshot.stem}-dags.png")))

            page.goto(f"{base_url}/dags/{dag_id}/runs/{quote(run_id, safe='')}")
            state = page.get_by_text(re.compile(r"^(success|failed|running|queued)$", re.I)).first
            expect(state).to_be_visible(timeout=timeout_ms)
            page.wait_for_load_state("networkidle")
            state_text = state.inner_text().strip().lower()
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return UiResult(listed=listed, run_id=run_id, run_state_text=state_text, screenshot=screenshot)


def main(argv: list[str]) -> int:
    from . import platform
    from .layout import default_layout

    out = Path(argv[0])
    layout = default_layout()
    client = platform.client(layout)
    dag_id = argv[1] if len(argv) > 1 else None
    dags = client.get("/dags", limit=100, order_by="dag_id")["dags"]
    if dag_id is None:
        if not dags:
            print("no DAGs parsed yet; push one or wait for the dag-processor", file=sys.stderr)
            return 1
        dag_id = dags[0]["dag_id"]
    runs = client.get(f"/dags/{dag_id}/dagRuns", limit=1, order_by="-run_after")["dag_runs"]
    if not runs:
        print(f"DAG {dag_id} has no runs yet; trigger it first", file=sys.stderr)
        return 1
    result = check_ui(layout.api_url, *platform.admin_login(layout), dag_id, runs[0]["dag_run_id"], out,
                      listed_dag_ids=tuple(d["dag_id"] for d in dags))
    print(f"DAG list shows: {result.listed}")
    print(f"{dag_id} run {result.run_id}: UI shows '{result.run_state_text}'; screenshot {result.screenshot}")
    return 0 if all(result.listed.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
