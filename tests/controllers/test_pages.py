"""The web pages over HTTP (no browser): the public pages, the vote form's plain POST, the
application form, error pages, the production login, session cookie and CSRF checks, and
the results kept private while a paredão hides its partial results."""

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    SECRET_KEY,
    Clock,
    IsolatedSettings,
    application,
    cpf,
)
from tests.support.api import assert_error
from tests.support.app import serving
from views.api.votes import HourlyVotes, ModeVotes, NomineeStats, StatsPublic
from views.web.chart import hourly_chart
from views.web.formatting import time_left

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def nominees(paredao: dict[str, Any]) -> list[int]:
    return [n["candidate_id"] for n in paredao["nominees"]]


def names(paredao: dict[str, Any]) -> list[str]:
    return [n["name"] for n in paredao["nominees"]]


async def vote_by_form(client: httpx.AsyncClient, paredao_id: int, **fields: str) -> httpx.Response:
    return await client.post(f"/paredoes/{paredao_id}/votar", data=fields, headers=HTML)


async def results(client: httpx.AsyncClient, paredao_id: int) -> dict[str, Any]:
    r = await client.get(f"/paredoes/{paredao_id}/results")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def total_votes(client: httpx.AsyncClient, paredao_id: int) -> int:
    r = await client.get(f"/paredoes/{paredao_id}/stats", headers=ADMIN)
    total: int = r.json()["total_votes"]
    return total


def percent_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}".replace(".", ",") + "%"


async def login(client: httpx.AsyncClient) -> str:
    """Log in as the production; the CSRF token of the session."""
    r = await client.post("/producao/login", data={"token": ADMIN_TOKEN, "next": "/producao"})
    assert r.status_code == 303, r.text
    r = await client.get("/producao")
    assert r.status_code == 200, r.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert match is not None
    return match[1]


class TestPublicPages:
    async def test_home_lists_the_open_paredoes_only(
        self, client: httpx.AsyncClient, open_paredao: Any, make_housemates: Any
    ) -> None:
        p = await open_paredao(2, title="Paredão aberto")
        ids = await make_housemates(2)
        body = {"title": "Paredão futuro", "kind": "save", "nominee_ids": ids}
        assert (await client.post("/paredoes", json=body, headers=ADMIN)).status_code == 201
        r = await client.get("/", headers=HTML)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "Paredão aberto" in r.text and f'href="/paredoes/{p["id"]}"' in r.text
        assert "Paredão futuro" not in r.text
        for name in names(p):
            assert name in r.text

    async def test_home_without_open_paredoes_says_so(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/")
        assert r.status_code == 200
        assert "Nenhuma votação aberta agora" in r.text

    async def test_nominee_photo_or_initials_and_time_left(
        self, client: httpx.AsyncClient, make_housemates: Any, clock: Clock
    ) -> None:
        ids = await make_housemates(2)
        await client.patch(
            f"/candidates/{ids[1]}", json={"photo_url": None, "name": "Gil do Vigor"}, headers=ADMIN
        )
        body = {
            "title": "P",
            "kind": "eliminate",
            "nominee_ids": ids,
            "closes_at": "2026-11-24T01:30:00Z",  # 2 days, 3 hours and 30 minutes from now
        }
        r = await client.post("/paredoes", json=body, headers=ADMIN)
        await client.post(f"/paredoes/{r.json()['id']}/open", headers=ADMIN)
        page = (await client.get("/")).text
        assert '<img src="https://example.com/juliette.jpg"' in page
        assert '<span class="avatar__initials" aria-hidden="true">GV</span>' in page
        assert ">2 dias e 3 h<" in page
        assert 'data-countdown="2026-11-24T01:30:00Z"' in page
        assert "(23/11/2026 às 22:30)" in page  # Brasília time
        assert 'data-server-now="2026-11-21T22:00:00Z"' in page  # the countdown's clock

    async def test_vote_page_for_browsers_json_for_everyone_else(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(3)
        page = await client.get(f"/paredoes/{p['id']}", headers=HTML)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert f'action="/paredoes/{p["id"]}/votar"' in page.text
        assert page.text.count('name="nominee_id"') == 3
        assert "Content-Security-Policy" in page.headers
        api = await client.get(f"/paredoes/{p['id']}")
        assert api.headers["content-type"] == "application/json"
        assert api.json() == p

    async def test_static_files(self, client: httpx.AsyncClient) -> None:
        for path in (
            "/static/js/votar.js",
            "/static/js/votar-confirmacao.js",
            "/static/js/captcha.js",
            "/static/js/captcha-worker.js",
            "/static/js/bytes.js",
            "/static/css/paredao.css",
        ):
            r = await client.get(path)
            assert r.status_code == 200, path


class TestErrorPages:
    async def test_unknown_paredao_is_an_html_404_for_browsers_json_for_the_api(
        self, client: httpx.AsyncClient
    ) -> None:
        page = await client.get("/paredoes/999", headers=HTML)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "Página não encontrada" in page.text
        assert "paredão 999 does not exist" in page.text  # the same message as the API's
        api = await client.get("/paredoes/999")
        assert api.json() == {"error": "not_found", "detail": "paredão 999 does not exist"}

    async def test_unknown_address(self, client: httpx.AsyncClient) -> None:
        page = await client.get("/nada-aqui", headers=HTML)
        assert page.status_code == 404 and "Página não encontrada" in page.text
        api = await client.get("/nada-aqui")
        assert api.json() == {"error": "not_found", "detail": "Not Found"}

    async def test_an_invalid_address_on_a_page_is_an_html_422(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.post("/paredoes/abc/votar", data={"mode": "torcida"}, headers=HTML)
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("text/html")
        assert "Dados inválidos" in r.text

    async def test_a_form_in_another_format_is_415(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        r = await client.post(f"/paredoes/{paredao['id']}/votar", json={"nominee_id": 1})
        assert r.status_code == 415
        assert r.headers["content-type"].startswith("text/html")


class TestVoteWithoutJavaScript:
    async def test_torcida_vote_shows_the_confirmation_with_the_api_results(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(3, closes_at="2026-11-22T01:00:00Z")
        a, b, _ = nominees(p)
        await client.post(
            f"/paredoes/{p['id']}/votes",
            json={"nominee_id": a, "mode": "torcida", "voter_id": "other"},
        )
        r = await vote_by_form(client, p["id"], nominee_id=str(b), mode="torcida")
        assert r.status_code == 200, r.text
        assert f"Seu voto para {names(p)[1]} foi registrado" in r.text
        answer = await results(client, p["id"])
        for n in answer["nominees"]:
            assert percent_text(n["percent"]["final"]) in r.text
        assert ">50,00%<" in r.text
        assert "3 h 00 min" in r.text  # the countdown to closes_at
        assert "paredao_voter=" in r.headers["set-cookie"]
        assert await total_votes(client, p["id"]) == 2

    async def test_the_same_form_sent_twice_counts_once(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        page = (await client.get(f"/paredoes/{paredao['id']}", headers=HTML)).text
        match = re.search(r'name="vote_id" id="vote_id" value="([0-9a-f-]{36})"', page)
        assert match is not None
        fields = {"nominee_id": str(nominees(paredao)[0]), "mode": "torcida", "vote_id": match[1]}
        for _ in range(2):
            assert (await vote_by_form(client, paredao["id"], **fields)).status_code == 200
        assert await total_votes(client, paredao["id"]) == 1

    @pytest.mark.parametrize(
        ("second_cpf", "message"),
        [
            (5, "Este CPF já votou neste paredão"),
            # Another CPF from the same device: the device's único is spent (one by default).
            (6, "Este aparelho já deu os votos únicos que pode dar neste paredão."),
        ],
        ids=["per-cpf", "per-device"],
    )
    async def test_unico_once(
        self, client: httpx.AsyncClient, paredao: dict[str, Any], second_cpf: int, message: str
    ) -> None:
        a, b = nominees(paredao)
        r = await vote_by_form(client, paredao["id"], nominee_id=str(a), mode="unico", cpf=cpf(5))
        assert r.status_code == 200, r.text
        r = await vote_by_form(
            client, paredao["id"], nominee_id=str(b), mode="unico", cpf=cpf(second_cpf)
        )
        assert r.status_code == 409
        assert message in r.text
        assert 'id="vote-form"' in r.text  # the vote page again, with the message
        assert await total_votes(client, paredao["id"]) == 1

    @pytest.mark.parametrize(
        ("fields", "status", "message"),
        [
            ({"mode": "torcida"}, 422, "Escolha em quem você quer votar."),
            ({"mode": "unico", "cpf": ""}, 422, "Para o voto único, informe seu CPF."),
            ({"mode": "unico", "cpf": "123.456.789-00"}, 422, "CPF inválido"),
            ({"mode": "bolão"}, 422, "Não foi possível registrar o voto"),
        ],
    )
    async def test_invalid_forms(
        self,
        client: httpx.AsyncClient,
        paredao: dict[str, Any],
        fields: dict[str, str],
        status: int,
        message: str,
    ) -> None:
        if fields.get("mode") != "torcida":
            fields = {"nominee_id": str(nominees(paredao)[0]), **fields}
        r = await vote_by_form(client, paredao["id"], **fields)
        assert r.status_code == status
        assert message in r.text
        assert await total_votes(client, paredao["id"]) == 0

    async def test_torcida_ignores_a_cpf_left_in_the_form(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        fields = {"nominee_id": str(nominees(paredao)[0]), "mode": "torcida", "cpf": cpf(9)}
        assert (await vote_by_form(client, paredao["id"], **fields)).status_code == 200

    async def test_a_paredao_with_captcha_needs_javascript(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2, require_captcha=True)
        r = await vote_by_form(client, p["id"], nominee_id=str(nominees(p)[0]), mode="torcida")
        assert r.status_code == 403
        assert "exige a verificação anti-robô" in r.text
        assert await total_votes(client, p["id"]) == 0

    async def test_a_closed_paredao_refuses_with_a_message(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        await client.post(f"/paredoes/{paredao['id']}/close", headers=ADMIN)
        r = await vote_by_form(
            client, paredao["id"], nominee_id=str(nominees(paredao)[0]), mode="torcida"
        )
        assert r.status_code == 409
        assert "A votação deste paredão já foi encerrada." in r.text
        assert "Votação encerrada" in r.text  # the page of a closed paredão, with its result
        assert "Resultado" in r.text and "0 votos no total." in r.text

    async def test_rate_limit_says_how_long_to_wait(
        self, client: httpx.AsyncClient, paredao: dict[str, Any], clock: Clock
    ) -> None:
        fields = {"nominee_id": str(nominees(paredao)[0]), "mode": "torcida", "voter_id": "eager"}
        for _ in range(10):
            assert (await vote_by_form(client, paredao["id"], **fields)).status_code == 200
        clock.advance(seconds=15)
        r = await vote_by_form(client, paredao["id"], **fields)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "45"
        assert "Tente de novo em 45 segundos." in r.text


class TestResultsPrivacy:
    async def test_hidden_while_open_then_shown_at_closing(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2, show_partial_results=False)
        a, _ = nominees(p)
        r = await vote_by_form(client, p["id"], nominee_id=str(a), mode="torcida")
        assert "Os percentuais serão mostrados no encerramento da votação." in r.text
        assert "100,00%" not in r.text
        hidden = await results(client, p["id"])
        assert hidden["total_votes"] == 1
        assert [n["percent"] for n in hidden["nominees"]] == [
            {"unico": None, "torcida": None, "final": None}
        ] * 2
        await client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        shown = await results(client, p["id"])
        assert [n["percent"]["final"] for n in shown["nominees"]] == [100.0, 0.0]

    async def test_shown_by_default(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        await vote_by_form(
            client, paredao["id"], nominee_id=str(nominees(paredao)[0]), mode="torcida"
        )
        answer = await results(client, paredao["id"])
        assert [n["percent"]["final"] for n in answer["nominees"]] == [100.0, 0.0]

    async def test_the_production_still_sees_them(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2, show_partial_results=False)
        await vote_by_form(client, p["id"], nominee_id=str(nominees(p)[0]), mode="torcida")
        await login(client)
        data = (await client.get(f"/producao/paredoes/{p['id']}/dados")).json()
        assert [n["percent"]["final"] for n in data["nominees"]] == [100.0, 0.0]
        page = (await client.get(f"/producao/paredoes/{p['id']}")).text
        assert "100,00%" in page


class TestApplicationForm:
    def form(self, **overrides: str) -> dict[str, str]:
        return {k: str(v) for k, v in application(**overrides).items()}

    async def test_applying_redirects_to_a_thank_you_page(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/inscricao", data=self.form(email="ana@example.com", bio=""))
        assert r.status_code == 303
        assert r.headers["location"] == "/inscricao/enviada"
        assert "Inscrição recebida!" in (await client.get("/inscricao/enviada")).text
        found = await client.get("/candidates", params={"q": "Juliette"}, headers=ADMIN)
        assert [c["email"] for c in found.json()["items"]] == ["ana@example.com"]

    async def test_validation_messages_beside_their_fields(self, client: httpx.AsyncClient) -> None:
        form = self.form(birth_date="2015-01-01", email="ana@", photo_url="ftp://x")
        r = await client.post("/inscricao", data=form)
        assert r.status_code == 422
        assert 'id="erro-birth_date">É preciso ter 18 anos ou mais' in r.text
        assert 'id="erro-email">Informe um e-mail válido' in r.text
        assert 'id="erro-photo_url">Informe o endereço' in r.text
        assert "applicants must be 18 or older" in r.text  # the API's own message too
        assert r.text.count('aria-invalid="true"') == 3
        assert 'value="Campina Grande"' in r.text  # what was typed stays

    async def test_a_duplicate_email_is_409_beside_the_email(
        self, client: httpx.AsyncClient
    ) -> None:
        assert (await client.post("/inscricao", data=self.form())).status_code == 303
        r = await client.post("/inscricao", data=self.form(email="JULIETTE@example.com"))
        assert r.status_code == 409
        assert 'id="erro-email">Já existe uma inscrição com este e-mail.' in r.text
        r = await client.post("/inscricao", data=self.form(email="other@example.com"))
        assert r.status_code == 303  # the failed insert left nothing behind


class TestProductionLogin:
    async def test_the_dashboard_asks_for_the_token(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        r = await client.get(f"/producao/paredoes/{paredao['id']}")
        assert r.status_code == 303
        assert r.headers["location"] == f"/producao/login?next=/producao/paredoes/{paredao['id']}"

    async def test_a_wrong_token_is_refused(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/producao/login", data={"token": "guess"})
        assert r.status_code == 401
        assert "Token incorreto" in r.text
        assert "set-cookie" not in r.headers

    async def test_the_session_cookie(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        target = f"/producao/paredoes/{paredao['id']}"
        r = await client.post("/producao/login", data={"token": ADMIN_TOKEN, "next": target})
        assert r.status_code == 303 and r.headers["location"] == target
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("paredao_producao=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/producao" in cookie
        assert ADMIN_TOKEN not in cookie
        page = await client.get(target)
        assert page.status_code == 200
        assert "Votos e percentuais" in page.text

    async def test_only_production_pages_after_login(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/producao/login", data={"token": ADMIN_TOKEN, "next": "https://evil.example/x"}
        )
        assert r.headers["location"] == "/producao"

    async def test_a_forged_or_expired_session_is_refused(
        self, client: httpx.AsyncClient, paredao: dict[str, Any], clock: Clock
    ) -> None:
        await login(client)
        value = client.cookies["paredao_producao"]
        payload, signature = value.split(".")
        client.cookies.set("paredao_producao", f"{payload}.{signature[::-1]}", path="/producao")
        r = await client.get(f"/producao/paredoes/{paredao['id']}")
        assert r.status_code == 303
        client.cookies.set("paredao_producao", value, path="/producao")
        assert (await client.get(f"/producao/paredoes/{paredao['id']}")).status_code == 200
        clock.advance(hours=8)
        assert (await client.get(f"/producao/paredoes/{paredao['id']}")).status_code == 303

    async def test_the_refresh_endpoint_needs_the_session(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(3)
        a, b, _ = nominees(p)
        for nominee, voter in ((a, "x"), (a, "y"), (b, "z")):
            body = {"nominee_id": nominee, "mode": "torcida", "voter_id": voter}
            await client.post(f"/paredoes/{p['id']}/votes", json=body)
        r = await client.get(f"/producao/paredoes/{p['id']}/dados")
        assert_error(r, 401, "login_required")
        await login(client)
        data = (await client.get(f"/producao/paredoes/{p['id']}/dados")).json()
        stats = (await client.get(f"/paredoes/{p['id']}/stats", headers=ADMIN)).json()
        assert data["total_votes"] == stats["total_votes"] == 3
        assert [n["votes"] for n in data["nominees"]] == [n["votes"] for n in stats["nominees"]]
        assert data["chart_svg"].startswith("<svg")

    async def test_without_an_admin_token_nobody_logs_in(self, database_url: str) -> None:
        settings = IsolatedSettings(
            DATABASE_URL=database_url, PAREDAO_SECRET_KEY=SecretStr(SECRET_KEY)
        )
        async with serving(settings) as c:
            r = await c.post("/producao/login", data={"token": ""})
            assert r.status_code == 503
            assert "PAREDAO_ADMIN_TOKEN" in r.text


class TestProductionForms:
    async def test_closing_needs_the_csrf_token(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        csrf = await login(client)
        close = f"/producao/paredoes/{paredao['id']}/encerrar"
        for data in ({}, {"csrf_token": "forged"}):
            r = await client.post(close, data=data)
            assert r.status_code == 403
            assert "Este formulário expirou" in r.text
        assert (await results(client, paredao["id"]))["status"] == "open"
        r = await client.post(close, data={"csrf_token": csrf})
        assert r.status_code == 303
        assert r.headers["location"] == f"/producao/paredoes/{paredao['id']}?aviso=encerrada"
        assert (await results(client, paredao["id"]))["status"] == "closed"
        page = await client.get(r.headers["location"])
        assert "Votação encerrada: o resultado está congelado." in page.text

    async def test_opening_a_scheduled_paredao(
        self, client: httpx.AsyncClient, make_housemates: Any
    ) -> None:
        ids = await make_housemates(2)
        body = {"title": "P", "kind": "final", "nominee_ids": ids}
        pid = (await client.post("/paredoes", json=body, headers=ADMIN)).json()["id"]
        csrf = await login(client)
        r = await client.post(f"/producao/paredoes/{pid}/abrir", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert (await client.get(f"/paredoes/{pid}")).json()["status"] == "open"
        r = await client.post(f"/producao/paredoes/{pid}/abrir", data={"csrf_token": csrf})
        assert r.status_code == 409  # already open: a page that says so
        assert "Esta mudança de status não é possível" in r.text

    async def test_forms_without_a_session_ask_to_log_in(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        r = await client.post(
            f"/producao/paredoes/{paredao['id']}/encerrar", data={"csrf_token": "x"}
        )
        assert r.status_code == 401
        assert 'href="/producao/login"' in r.text
        assert "www-authenticate" not in r.headers

    async def test_recount(self, client: httpx.AsyncClient, paredao: dict[str, Any]) -> None:
        await vote_by_form(
            client, paredao["id"], nominee_id=str(nominees(paredao)[0]), mode="torcida"
        )
        csrf = await login(client)
        r = await client.post(
            f"/producao/paredoes/{paredao['id']}/recontar", data={"csrf_token": csrf}
        )
        assert r.status_code == 200
        assert "A contagem confere: 1 voto no placar e 1 voto recontados" in r.text

    async def test_logout(self, client: httpx.AsyncClient) -> None:
        csrf = await login(client)
        cookie = client.cookies["paredao_producao"]
        r = await client.post("/producao/sair", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert 'paredao_producao=""' in r.headers["set-cookie"]
        assert (await client.get("/producao")).status_code == 303
        # A copy of the cookie kept from before the logout no longer opens anything.
        client.cookies.set("paredao_producao", cookie, path="/producao")
        assert (await client.get("/producao")).status_code == 303
        r = await client.post("/producao/sair", data={"csrf_token": csrf})
        assert r.status_code == 401  # the form asks to log in again
        # A new login is a new session, unaffected by the old one's logout.
        client.cookies.clear()
        await login(client)
        assert (await client.get("/producao")).status_code == 200


class TestPageHelpers:
    def test_time_left(self) -> None:
        now = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
        at = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
        assert time_left(at, now) == "2 dias e 3 h"
        assert time_left(datetime(2026, 11, 22, 0, 5, tzinfo=UTC), now) == "2 h 05 min"
        assert time_left(datetime(2026, 11, 21, 22, 1, 1, 500, tzinfo=UTC), now) == "1 min 02 s"
        assert time_left(now, now) == "encerrado"
        assert time_left(None, now) == "sem horário definido"

    def test_the_hourly_chart_keeps_empty_hours_and_days_apart(self) -> None:
        def hour(day: int, h: int) -> datetime:
            return datetime(2026, 11, day, h, tzinfo=UTC)

        stats = StatsPublic(
            paredao_id=1,
            total_votes=9,
            as_of=hour(22, 2),
            nominees=[
                NomineeStats(
                    candidate_id=1, name="A", votes=ModeVotes(unico=0, torcida=5, total=5)
                ),
                NomineeStats(
                    candidate_id=2, name="B", votes=ModeVotes(unico=0, torcida=4, total=4)
                ),
            ],
            hourly=[
                HourlyVotes(hour=hour(21, 23), candidate_id=1, votes=5),
                HourlyVotes(hour=hour(22, 1), candidate_id=2, votes=4),
            ],
        )
        chart = hourly_chart(stats)
        assert len(chart.bars) == 3 * 2  # 23h, 0h (no votes), 1h — two nominees each
        assert [b.height > 0 for b in chart.bars] == [True, False, False, False, False, True]
        assert chart.bars[0].label == "A, 21/11 20h: 5 votos"  # Brasília time
        assert [t.label for t in chart.x_ticks] == ["21/11 20h", "21h", "22h"]
        assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6"]
