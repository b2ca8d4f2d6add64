"""The pages in a real browser, against a real server: applying, voting (with the real
proof-of-work captcha solved by the page), the confirmation, and the production dashboard.
Each page is saved at desktop and phone width into artifacts/screenshots/."""

import re
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import CAPTCHA_MAX_NUMBER, LiveServer, playwright_api, snap
from tests.conftest import ADMIN, ADMIN_TOKEN, cpf

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

expect = playwright_api().expect  # skips this module (fails it in CI) without Playwright


def percent_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}".replace(".", ",") + "%"


def recounted(live: LiveServer, paredao_id: int) -> int:
    """The votes stored for the paredão, counted again (exact and uncached: through NGINX the
    results may be the micro-cached read from before the last vote)."""
    r = live.api.post(f"/paredoes/{paredao_id}/recount", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["matches"], r.text
    total: int = r.json()["recount_total"]
    return total


# The page reads the results again until they are newer than its vote (NGINX's micro-cache may
# answer an older read first): give it that long.
PARTIAL_TIMEOUT_MS = 15_000


def results(live: LiveServer, paredao_id: int) -> dict[str, Any]:
    r = live.api.get(f"/paredoes/{paredao_id}/results")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def choose(page: "Page", name: str) -> None:
    page.locator(".nominee-card", has_text=name).click()


def vote_without_captcha(page: "Page", paredao_id: int, name: str) -> None:
    """A torcida vote for `name` from the paredão's page, up to its confirmation."""
    page.goto(f"/paredoes/{paredao_id}")
    choose(page, name)
    page.get_by_role("button", name="Votar").click()
    expect(page.locator("[data-confirmation-title]")).to_have_text(
        f"Seu voto para {name} foi registrado"
    )


class TestHome:
    def test_lists_open_paredoes_with_photos_and_time_left(
        self, page: "Page", live: LiveServer
    ) -> None:
        p = live.open_paredao("1º Paredão", ["Juliette Freire", "Gil do Vigor", "Sarah Andrade"])
        page.goto("/")
        card = page.locator(".paredao-card", has_text="1º Paredão")
        expect(card).to_be_visible()
        expect(card.locator(".faces__item")).to_have_count(3)
        expect(card.locator(".faces__item img")).to_have_count(2)  # the 2nd has no photo
        expect(card.locator(".avatar__initials")).to_have_text("GV")
        # 2 days and 3 hours left, written by the server and kept live by the script.
        expect(card.locator("[data-countdown-value]")).to_have_text(re.compile(r"^2 dias e 3 h$"))
        expect(card.get_by_role("link", name="Votar no 1º Paredão")).to_have_attribute(
            "href", f"/paredoes/{p['id']}"
        )
        snap(page, "inicio")


def apply_as_camilla(page: "Page", email: str) -> None:
    """Fill in and send the application form, as a candidate does, with `email`."""
    page.goto("/inscricao")
    page.get_by_label("Nome completo").fill("Camilla de Lucas")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Data de nascimento").fill("1995-03-28")
    page.get_by_label("Estado").select_option("RJ")
    page.get_by_label("Cidade").fill("Nova Iguaçu")
    page.get_by_role("button", name="Enviar inscrição").click()


class TestApplication:
    def test_a_validation_message_beside_the_field_then_success(
        self, page: "Page", live: LiveServer
    ) -> None:
        # The browser accepts this address; the API's validation does not (no dot after @).
        apply_as_camilla(page, "camilla@exemplo")
        email_error = page.locator("#erro-email")
        expect(email_error).to_contain_text("Informe um e-mail válido")
        expect(page.get_by_label("E-mail")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Cidade")).to_have_value("Nova Iguaçu")  # kept
        snap(page, "inscricao-erros")

        page.get_by_label("E-mail").fill("camilla@exemplo.com.br")
        page.get_by_role("button", name="Enviar inscrição").click()
        expect(page.get_by_role("heading", name="Inscrição recebida!")).to_be_visible()
        r = live.api.get("/candidates", params={"q": "Camilla"}, headers=ADMIN)
        assert [c["email"] for c in r.json()["items"]] == ["camilla@exemplo.com.br"]

        apply_as_camilla(page, "Camilla@Exemplo.com.br")  # the same email again
        expect(email_error).to_have_text("Já existe uma inscrição com este e-mail.")


class TestVote:
    def test_torcida_with_the_real_captcha_then_again(self, page: "Page", live: LiveServer) -> None:
        names = ["Juliette Freire", "Gil do Vigor", "Fiuk"]
        p = live.open_paredao("2º Paredão", names, require_captcha=True)
        page.goto(f"/paredoes/{p['id']}")
        captcha = page.locator("#captcha-status")
        expect(captcha).to_have_text("Verificação anti-robô concluída ✓", timeout=60_000)
        choose(page, "Gil do Vigor")
        expect(page.get_by_role("radio", name="Gil do Vigor")).to_be_checked()
        expect(page.get_by_role("textbox", name="CPF")).to_be_hidden()  # torcida takes no CPF
        snap(page, "votacao")

        page.get_by_role("button", name="Votar").click()
        title = page.locator("[data-confirmation-title]")
        expect(title).to_have_text("Seu voto para Gil do Vigor foi registrado")
        as_of = page.locator("[data-results-as-of]")
        expect(as_of).to_have_text(
            re.compile(r"^Parcial das [0-9:]+, com 1 voto\.$"), timeout=PARTIAL_TIMEOUT_MS
        )
        expect(page.locator("[data-results] .bars__item")).to_have_count(3)
        expect(page.locator("[data-results] .bars__value")).to_have_text(
            ["0,00%", "100,00%", "0,00%"]
        )
        assert recounted(live, p["id"]) == 1
        countdown = page.locator("#confirmacao [data-countdown-value]")
        expect(countdown).to_have_text(re.compile(r"^2 dias e (2|3) h$"))
        snap(page, "confirmacao")

        page.get_by_role("button", name="Votar de novo").click()
        expect(captcha).to_have_text(re.compile("calculando|concluída"))
        expect(captcha).to_have_text("Verificação anti-robô concluída ✓", timeout=60_000)
        choose(page, "Fiuk")
        page.get_by_role("button", name="Votar").click()
        expect(title).to_have_text("Seu voto para Fiuk foi registrado")
        expect(as_of).to_have_text(
            re.compile(r"^Parcial das [0-9:]+, com 2 votos\.$"), timeout=PARTIAL_TIMEOUT_MS
        )
        expect(page.locator("[data-results] .bars__value")).to_have_text(
            ["0,00%", "50,00%", "50,00%"]
        )
        assert recounted(live, p["id"]) == 2  # two captchas solved, two votes

    def test_unico_checks_the_cpf_in_the_page_then_once_per_cpf(
        self, page: "Page", live: LiveServer
    ) -> None:
        p = live.open_paredao("3º Paredão", ["Arthur Aguiar", "Jade Picon"], require_captcha=True)
        page.goto(f"/paredoes/{p['id']}")
        choose(page, "Jade Picon")
        page.get_by_text("Voto único", exact=True).click()
        field = page.get_by_role("textbox", name="CPF")
        expect(field).to_be_visible()
        field.press_sequentially("12345678900")  # wrong check digits
        expect(field).to_have_value("123.456.789-00")  # the mask
        page.get_by_role("button", name="Votar").click()
        expect(page.locator("#vote-error")).to_have_text(
            "CPF inválido: confira os números digitados."
        )
        assert recounted(live, p["id"]) == 0  # refused in the page

        valid = cpf(52998224)
        field.fill("")
        field.press_sequentially(valid.replace(".", "").replace("-", ""))
        expect(field).to_have_value(valid)
        page.get_by_role("button", name="Votar").click()
        expect(page.locator("[data-confirmation-title]")).to_have_text(
            "Seu voto para Jade Picon foi registrado"
        )
        expect(page.locator("[data-confirmation-mode]")).to_have_text("Voto único registrado.")
        expect(page.locator("[data-results-as-of]")).to_have_text(
            re.compile(r"^Parcial das [0-9:]+, com 1 voto\.$"), timeout=PARTIAL_TIMEOUT_MS
        )
        # Único alone (no torcida votes): its weight takes the whole final percentage.
        expect(page.locator("[data-results] .bars__value")).to_have_text(["0,00%", "100,00%"])

        page.get_by_role("button", name="Votar de novo").click()
        expect(page.locator("#captcha-status")).to_have_text(
            "Verificação anti-robô concluída ✓", timeout=60_000
        )
        page.get_by_role("textbox", name="CPF").press_sequentially(valid)
        page.get_by_role("button", name="Votar").click()
        expect(page.locator("#vote-error")).to_have_text(
            "Este CPF já votou neste paredão: o voto único é um por pessoa."
        )
        snap(page, "votacao-erro")
        assert recounted(live, p["id"]) == 1

    def test_hidden_partial_results_are_promised_for_the_closing(
        self, page: "Page", live: LiveServer
    ) -> None:
        p = live.open_paredao(
            "Paredão secreto",
            ["Rodolffo", "Caio Afiune"],
            require_captcha=False,
            show_partial_results=False,
        )
        vote_without_captcha(page, p["id"], "Rodolffo")
        expect(page.locator("[data-results-hidden]")).to_have_text(
            "Os percentuais serão mostrados no encerramento da votação."
        )
        expect(page.locator("[data-partial-results]")).to_be_hidden()
        answer = results(live, p["id"])
        assert [n["percent"]["final"] for n in answer["nominees"]] == [None, None]
        snap(page, "confirmacao-sem-parcial")

    def test_a_partial_from_before_the_vote_is_never_shown_as_including_it(
        self, page: "Page", live: LiveServer
    ) -> None:
        p = live.open_paredao("Paredão do cache", ["Gizelly", "Mari"], require_captcha=False)
        reads: list[str] = []

        def before_the_vote(route: "Route") -> None:
            """Every read answers what a cache kept from before the vote: 0 votes, an old as_of."""
            body = route.fetch().json()
            reads.append(body["as_of"])
            body["as_of"] = "2026-01-01T12:00:00+00:00"
            body["total_votes"] = 0
            for nominee in body["nominees"]:
                nominee["percent"] = {"unico": None, "torcida": None, "final": None}
            route.fulfill(json=body)

        page.route(f"**/paredoes/{p['id']}/results", before_the_vote)
        vote_without_captcha(page, p["id"], "Mari")
        expect(page.locator("[data-results-as-of]")).to_have_text(
            "Parcial das 09:00:00, com 0 votos, anterior ao seu voto: "
            "ele entra na próxima parcial.",
            timeout=PARTIAL_TIMEOUT_MS,
        )
        assert len(reads) > 1  # read again after the cache window before saying so
        assert recounted(live, p["id"]) == 1

    def test_the_eleventh_torcida_vote_in_a_minute_says_how_long_to_wait(
        self, page: "Page", live: LiveServer
    ) -> None:
        p = live.open_paredao("Paredão da pressa", ["Babu", "Prior"], require_captcha=False)
        page.goto(f"/paredoes/{p['id']}")
        voter = page.locator("#voter_id").input_value()  # this browser's id, from localStorage
        assert voter == page.evaluate("localStorage.getItem('paredao.voter_id')")
        body = {
            "nominee_id": p["nominees"][0]["candidate_id"],
            "mode": "torcida",
            "voter_id": voter,
        }
        for _ in range(10):
            assert live.api.post(f"/paredoes/{p['id']}/votes", json=body).status_code == 202
        choose(page, "Babu")
        page.get_by_role("button", name="Votar").click()
        expect(page.locator("#vote-error")).to_have_text(
            re.compile(r"até 10 votos por minuto\)\. Tente de novo em [1-6]?[0-9] segundos\.$")
        )
        assert recounted(live, p["id"]) == 10

    def test_a_closed_paredao_refuses_the_vote_with_a_message(
        self, page: "Page", live: LiveServer
    ) -> None:
        p = live.open_paredao("Paredão relâmpago", ["Lumena", "Karol Conká"])
        page.goto(f"/paredoes/{p['id']}")
        expect(page.locator("#captcha-status")).to_have_text(
            "Verificação anti-robô concluída ✓", timeout=60_000
        )
        choose(page, "Karol Conká")
        r = live.api.post(f"/paredoes/{p['id']}/close", headers=ADMIN)  # closed meanwhile
        assert r.status_code == 200, r.text
        page.get_by_role("button", name="Votar").click()
        expect(page.locator("#vote-error")).to_have_text(
            "A votação deste paredão já foi encerrada. Seu voto não foi contado."
        )
        assert recounted(live, p["id"]) == 0

        page.reload()  # the page of a closed paredão shows the result, not the form
        expect(page.locator(".status")).to_have_text("Votação encerrada")
        expect(page.get_by_role("button", name="Votar")).to_have_count(0)
        snap(page, "paredao-encerrado")


class TestWithoutJavaScript:
    def test_the_form_posts_and_the_server_confirms(
        self, browser: "Browser", live: LiveServer
    ) -> None:
        p = live.open_paredao("Paredão sem script", ["Pocah", "Projota"], require_captcha=False)
        context = browser.new_context(java_script_enabled=False, base_url=live.url)
        try:
            page = context.new_page()
            page.goto(f"/paredoes/{p['id']}")
            # Keyboard only: focus the first nominee, move to the next with an arrow key.
            page.get_by_role("radio", name="Pocah").focus()
            page.keyboard.press("ArrowRight")
            expect(page.get_by_role("radio", name="Projota")).to_be_checked()
            expect(page.get_by_role("textbox", name="CPF")).to_be_visible()  # no script to hide it
            page.get_by_role("button", name="Votar").press("Enter")
            expect(page.get_by_role("heading", level=1)).to_have_text(
                "Seu voto para Projota foi registrado"
            )
            answer = results(live, p["id"])
            expected = [percent_text(n["percent"]["final"]) for n in answer["nominees"]]
            expect(page.locator(".bars__value")).to_have_text(expected)
            expect(page.locator("[data-countdown-value]")).to_have_text(
                re.compile(r"^2 dias e (2|3) h$")
            )
            snap(page, "confirmacao-sem-javascript")
        finally:
            context.close()


class TestProductionDashboard:
    def test_login_then_the_same_totals_as_the_stats(self, page: "Page", live: LiveServer) -> None:
        p = live.open_paredao(
            "Paredão da produção", ["Viih Tube", "Thaís Braz", "João Luiz"], require_captcha=False
        )
        ids = [n["candidate_id"] for n in p["nominees"]]
        votes = [(ids[0], "torcida")] * 3 + [(ids[1], "torcida")] * 2 + [(ids[2], "unico")]
        for i, (nominee, mode) in enumerate(votes):
            body: dict[str, Any] = {"nominee_id": nominee, "mode": mode, "voter_id": f"v{i}"}
            if mode == "unico":
                body["cpf"] = cpf(1000 + i)
            assert live.api.post(f"/paredoes/{p['id']}/votes", json=body).status_code == 202

        page.goto(f"/producao/paredoes/{p['id']}")
        expect(page).to_have_url(re.compile(r"/producao/login\?next="))
        page.get_by_label("Token da produção").fill("not-the-token")
        page.get_by_role("button", name="Entrar").click()
        expect(page.get_by_role("alert")).to_have_text("Token incorreto. Confira e tente de novo.")
        snap(page, "producao-login")
        page.get_by_label("Token da produção").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Entrar").click()
        expect(page).to_have_url(re.compile(rf"/producao/paredoes/{p['id']}$"))
        cookie = next(c for c in page.context.cookies() if c["name"] == "paredao_producao")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert ADMIN_TOKEN not in cookie["value"]

        stats = live.api.get(f"/paredoes/{p['id']}/stats", headers=ADMIN).json()
        assert stats["total_votes"] == recounted(live, p["id"]) == 6
        # Torcida 60 / 40 / 0 and único 0 / 0 / 100, weighted 50/50.
        final = dict(zip(ids, ["30,00%", "20,00%", "50,00%"], strict=True))
        expect(page.locator("[data-total-votes]")).to_have_text(str(stats["total_votes"]))
        for n in stats["nominees"]:
            row = page.locator(f'tr[data-candidate-id="{n["candidate_id"]}"]')
            for mode in ("unico", "torcida", "total"):
                expect(row.locator(f'[data-cell="{mode}"]')).to_have_text(str(n["votes"][mode]))
            expect(row.locator('[data-cell="percent_final"]')).to_have_text(
                final[n["candidate_id"]]
            )
        expect(page.locator(".chart rect")).to_have_count(3)  # one hour, three nominees

        page.get_by_role("button", name="Recontar agora").click()
        expect(page.locator("[data-recount]")).to_contain_text("A contagem confere: 6 votos")

        # The auto-refresh picks up a new vote without reloading the page.
        body = {"nominee_id": ids[1], "mode": "torcida", "voter_id": "late"}
        assert live.api.post(f"/paredoes/{p['id']}/votes", json=body).status_code == 202
        expect(page.locator("[data-total-votes]")).to_have_text("7", timeout=15_000)
        expect(page.locator("#atualizacao")).to_contain_text("atualizados a cada 5 s")
        snap(page, "producao-painel")

        # The refresh fails (the server is unreachable): the last numbers stay, with their age.
        page.route("**/dados", lambda route: route.abort())
        expect(page.locator("#atualizacao")).to_contain_text(
            "Falha ao atualizar: sem conexão com o servidor", timeout=15_000
        )
        expect(page.locator("[data-total-votes]")).to_have_text("7")
        page.unroute("**/dados")

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Encerrar votação").click()
        expect(page.get_by_role("status").filter(has_text="Votação encerrada:")).to_be_visible()
        assert live.api.get(f"/paredoes/{p['id']}").json()["status"] == "closed"
        expect(page.get_by_role("button", name="Encerrar votação")).to_have_count(0)


class TestErrorPage:
    def test_unknown_paredao_is_an_html_404(self, page: "Page", live: LiveServer) -> None:
        response = page.goto("/paredoes/987654")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Página não encontrada")
        snap(page, "erro-404")


def test_the_captcha_difficulty_is_the_one_the_server_was_given(live: LiveServer) -> None:
    challenge = live.api.get("/captcha/challenge", params={"paredao_id": 1}).json()
    assert challenge["maxnumber"] == CAPTCHA_MAX_NUMBER
