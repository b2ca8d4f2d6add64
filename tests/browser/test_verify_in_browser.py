"""A voter checks their vote in a real browser: the confirmation gives the vote_id as the
receipt with a "verificar meu voto" link, and after the close that page verifies the
certificate's Ed25519 signature and the vote's RFC 9162 inclusion proof with WebCrypto."""

import re
import uuid
from typing import TYPE_CHECKING

from tests.browser.conftest import LiveServer, playwright_api, snap
from tests.conftest import ADMIN

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = playwright_api().expect  # skips this module (fails it in CI) without Playwright
RECEIPT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class TestVerifyMyVote:
    def test_the_receipt_verifies_after_the_close(self, page: "Page", live: LiveServer) -> None:
        p = live.open_paredao("Paredão verificável", ["Tadeu", "Boninho"], require_captcha=False)
        page.goto(f"/paredoes/{p['id']}")
        page.locator(".nominee-card", has_text="Boninho").click()
        page.get_by_role("button", name="Votar").click()
        receipt = page.locator("[data-receipt-id]")
        expect(receipt).to_have_text(RECEIPT)
        vote_id = receipt.inner_text()

        page.get_by_role("link", name="verificar meu voto").click()
        steps = page.locator("#verificacao-passos li")
        expect(steps.first).to_contain_text("quando a votação for encerrada")

        closed = live.api.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert closed.status_code == 200, closed.text
        page.reload()
        expect(steps.last).to_contain_text("foi contado", timeout=15_000)
        checks = steps.evaluate_all("items => items.map(i => i.dataset.check)")
        assert checks == ["ok", "info", "ok"], steps.all_inner_texts()
        expect(steps.first).to_contain_text("Assinatura do certificado conferida")
        snap(page, "verificar-voto")

        page.fill("#voto", str(uuid.uuid4()))
        page.get_by_role("button", name="Verificar").click()
        expect(steps.last).to_contain_text("não está entre os votos contados")

        page.goto(f"/paredoes/{p['id']}")
        certificate = page.locator("[data-certificate]")
        expect(certificate).to_contain_text("assinatura verificada")
        root = live.api.get(f"/paredoes/{p['id']}/votes/{vote_id}/proof").json()["root"]
        expect(page.locator("[data-certificate-root]")).to_have_text(root)
