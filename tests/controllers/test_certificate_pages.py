"""The certificate on the pages: the receipt on the confirmation without JavaScript, the root
and its signature's check on a closed paredão's page and on the production dashboard, and
the page that verifies a receipt."""

import re
from typing import Any

import httpx

from tests.conftest import ADMIN
from tests.controllers.test_pages import login

HTML = {"Accept": "text/html"}


class TestCertificateOnThePages:
    async def test_the_confirmation_gives_the_receipt_and_the_link(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2)
        nominee = p["nominees"][0]["candidate_id"]
        r = await client.post(
            f"/paredoes/{p['id']}/votar", data={"nominee_id": str(nominee), "mode": "torcida"}
        )
        assert r.status_code == 200, r.text
        match = re.search(r"<code data-receipt-id>([0-9a-f-]{36})</code>", r.text)
        assert match is not None, r.text
        assert f'href="/paredoes/{p["id"]}/verificar?voto={match[1]}"' in r.text
        status = await client.get(f"/paredoes/{p['id']}/votes/{match[1]}")
        assert status.json()["status"] == "counted"

    async def test_a_closed_paredao_shows_its_root_verified(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2)
        before = await client.get(f"/paredoes/{p['id']}", headers=HTML)
        assert "data-certificate" not in before.text
        await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        payload = (await client.get(f"/paredoes/{p['id']}/certificate")).json()["payload"]
        root = re.search(r'"root":"([0-9a-f]{64})"', payload)
        assert root is not None
        page = await client.get(f"/paredoes/{p['id']}", headers=HTML)
        assert f"<code data-certificate-root>{root[1]}</code>" in page.text
        assert 'data-certificate-verifies="yes"' in page.text
        await login(client)
        dashboard = await client.get(f"/producao/paredoes/{p['id']}")
        assert f"<code data-certificate-root>{root[1]}</code>" in dashboard.text
        assert "assinatura verificada" in dashboard.text

    async def test_the_verify_page_takes_the_receipt(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2)
        vote_id = "0190f5a2-7c1e-7abc-8def-0123456789ab"
        r = await client.get(f"/paredoes/{p['id']}/verificar", params={"voto": vote_id})
        assert r.status_code == 200
        assert f'value="{vote_id}"' in r.text
        assert '<script src="/static/js/verificar.js" defer>' in r.text
        r = await client.get(f"/paredoes/{p['id']}/verificar", params={"voto": "not-a-uuid"})
        assert r.status_code == 422
        assert (await client.get("/paredoes/999/verificar")).status_code == 404
