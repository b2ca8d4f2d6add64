"""What the web pages show: templates, Portuguese wording, formatting and the geometry of the
hourly chart. Pure helpers: no I/O, no routes."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from model.candidate import UFS
from model.paredao import ParedaoKind, ParedaoStatus
from views.votes import StatsPublic

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# Brasília time. Brazil has had no daylight saving time since 2019, so a fixed offset is
# exact, and needs no time zone database on the server.
BRASILIA = timezone(timedelta(hours=-3), "BRT")

# Pages load scripts, styles and workers only from this server; photos may come from anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; "
    "script-src 'self'; worker-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)

# One colour per nominee position, in the chart, the legends and the result bars.
NOMINEE_COLORS = ("#d6246e", "#2f6fed", "#e08a00", "#138a6b")

KIND_LABELS: dict[ParedaoKind, tuple[str, str]] = {
    ParedaoKind.eliminate: ("Paredão de eliminação", "Vote em quem você quer que saia da casa."),
    ParedaoKind.save: ("Voto para ficar", "Vote em quem você quer que fique na casa."),
    ParedaoKind.final: ("Grande final", "Vote em quem você quer que vença o programa."),
}

STATUS_LABELS: dict[ParedaoStatus, str] = {
    ParedaoStatus.scheduled: "Votação ainda não aberta",
    ParedaoStatus.open: "Votação aberta",
    ParedaoStatus.closing: "Votação encerrada, apurando os últimos votos",
    ParedaoStatus.closed: "Votação encerrada",
}

# What a voter reads for each error the API can answer, by error code. `{s}` is the wait in
# seconds from Retry-After. The vote page's script gets this same table.
VOTE_ERROR_MESSAGES: dict[str, str] = {
    "voting_not_open": "A votação deste paredão não está aberta agora.",
    "voting_not_open:closed": "A votação deste paredão já foi encerrada. Seu voto não foi contado.",
    "voting_not_open:scheduled": "A votação deste paredão ainda não começou.",
    "cpf_already_voted": "Este CPF já votou neste paredão: o voto único é um por pessoa.",
    "device_already_voted": "Este aparelho já deu os votos únicos que pode dar neste paredão.",
    "invalid_cpf": "CPF inválido: confira os números digitados.",
    "cpf_missing": "Para o voto único, informe seu CPF.",
    "nominee_missing": "Escolha em quem você quer votar.",
    "rate_limited": (
        "Você votou muitas vezes em pouco tempo (até 10 votos por minuto). "
        "Tente de novo em {s} segundos."
    ),
    "captcha_failed": "A verificação anti-robô falhou ou expirou. Tente votar de novo.",
    "captcha_needs_javascript": (
        "Este paredão exige a verificação anti-robô, que roda no navegador com JavaScript. "
        "Ative o JavaScript (ou use outro navegador) e tente de novo."
    ),
    "captcha_unsupported": (
        "Seu navegador não consegue fazer a verificação anti-robô nesta conexão. "
        "Use um navegador atualizado, em uma página https."
    ),
    "vote_id_reused": "Este voto já foi enviado com outra escolha. Recarregue a página.",
    "validation_error": "Não foi possível registrar o voto: confira sua escolha e tente de novo.",
    "unavailable": (
        "Muita gente votando ao mesmo tempo! Seu voto não foi registrado: "
        "tente de novo em {s} segundos."
    ),
    "not_found": "Não encontramos este paredão.",
    # What the vote page says while it follows a vote taken into the queue (the Kafka path).
    "queued": "Seu voto está na fila de apuração…",
    "counted": "Seu voto foi contado.",
    "refused": "Seu voto não foi contado: {reason}",
    "still_queued": (
        "Seu voto está na fila e será apurado em instantes. Você pode fechar esta página."
    ),
    "network": "Sem conexão com o servidor. Verifique sua internet e tente de novo.",
    "unknown": "Não foi possível registrar o voto agora (erro {status}). Tente de novo.",
}

# Headlines of the HTML error page, by HTTP status.
ERROR_TITLES: dict[int, str] = {
    400: "Pedido inválido",
    401: "Entrada necessária",
    403: "Acesso negado",
    404: "Página não encontrada",
    405: "Ação não permitida",
    409: "Não foi possível concluir",
    415: "Formulário em formato inesperado",
    422: "Dados inválidos",
    429: "Muitas tentativas",
    503: "Serviço sobrecarregado",
}

# Error codes whose wording on the HTML error page differs from the vote page's.
PAGE_ERROR_MESSAGES: dict[str, str] = {
    "not_found": "Não encontramos o que você procurou: confira o endereço.",
    "wrong_transition": "Esta mudança de status não é possível para o paredão agora.",
    "method_not_allowed": "Este endereço não aceita esta ação.",
    "unauthorized": "É preciso entrar com o token da produção.",
    "validation_error": "Algum dado deste pedido é inválido: confira o endereço ou o formulário.",
}


def vote_error_message(code: str, detail: object = None, retry_after: str | None = None) -> str:
    """The Portuguese sentence a voter reads for an API error code (and its Retry-After)."""
    key = code
    if code == "voting_not_open" and isinstance(detail, str):
        for window in ("closed", "scheduled"):
            if f" {window}" in detail:
                key = f"{code}:{window}"
    message = VOTE_ERROR_MESSAGES.get(key)
    if message is None:
        return VOTE_ERROR_MESSAGES["unknown"].format(status=code)
    return message.format(s=retry_after or "alguns")


def page_error_message(code: str, detail: object, retry_after: str | None) -> str:
    """The Portuguese sentence of the HTML error page; a page's own errors already are one."""
    if code in PAGE_ERROR_MESSAGES:
        return PAGE_ERROR_MESSAGES[code]
    if code in VOTE_ERROR_MESSAGES:
        return vote_error_message(code, detail, retry_after)
    return detail if isinstance(detail, str) else "Algo deu errado com este pedido."


# --- formatting ------------------------------------------------------------------------------


def format_percent(value: float | None) -> str:
    """`48.81` → `48,81%` (Brazilian decimal comma); `None` → an en dash."""
    if value is None:
        return "–"
    return f"{value:.2f}".replace(".", ",") + "%"


def format_int(value: int) -> str:
    """`1532944337` → `1.532.944.337` (Brazilian thousands separator)."""
    return f"{value:,}".replace(",", ".")


def format_votes(count: int) -> str:
    """`1` → `1 voto`, `1234` → `1.234 votos`."""
    return f"{format_int(count)} {'voto' if count == 1 else 'votos'}"


def format_brasilia(when: datetime | None) -> str:
    """`21/11/2026 às 22:00` in Brasília time; an empty string for `None`."""
    if when is None:
        return ""
    return when.astimezone(BRASILIA).strftime("%d/%m/%Y às %H:%M")


def time_left(until: datetime | None, now: datetime) -> str:
    """How long until `until`, in words a viewer reads at a glance (`2 dias e 3 h`)."""
    if until is None:
        return "sem horário definido"
    seconds = math.ceil((until - now).total_seconds())
    if seconds <= 0:
        return "encerrado"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} {'dia' if days == 1 else 'dias'} e {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s"


def iso_utc(when: datetime | None) -> str:
    """ISO 8601 in UTC with a `Z`, as the API writes times and the page scripts read them."""
    if when is None:
        return ""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def initials(name: str) -> str:
    """The initials shown in place of a missing photo (`Gil do Vigor` → `GV`)."""
    words = [w for w in name.split() if w[:1].isalpha()]
    if not words:
        return "?"
    first, last = words[0], words[-1]
    return (first[0] + (last[0] if len(words) > 1 else "")).upper()


def make_templates() -> Jinja2Templates:
    """The Jinja2 environment of the pages, with the Portuguese formatting filters."""
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    env = templates.env
    env.filters.update(
        percent=format_percent,
        integer=format_int,
        votes=format_votes,
        brasilia=format_brasilia,
        iso=iso_utc,
        initials=initials,
    )
    env.globals.update(
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        colors=NOMINEE_COLORS,
        time_left=time_left,
        brasilia_zone=BRASILIA,
    )
    return templates


def render_page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page from `template`, with the server's clock in it (the pages' countdowns count
    from it, not from the viewer's clock) and the pages' Content-Security-Policy."""
    templates: Jinja2Templates = request.app.state.templates
    now: datetime = request.app.state.clock()
    response = templates.TemplateResponse(
        request,
        template,
        {"server_now": now, **(context or {})},
        status_code=status_code,
        headers={
            **(headers or {}),
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-store",
            "Vary": "Accept, Cookie",
        },
    )
    return response


# --- the application form --------------------------------------------------------------------

CANDIDATE_FIELDS = ("name", "email", "birth_date", "state", "city", "bio", "photo_url")

# fmt: off
STATE_NAMES: dict[str, str] = {
    "AC": "Acre", "AL": "Alagoas", "AP": "Amapá", "AM": "Amazonas", "BA": "Bahia",
    "CE": "Ceará", "DF": "Distrito Federal", "ES": "Espírito Santo", "GO": "Goiás",
    "MA": "Maranhão", "MT": "Mato Grosso", "MS": "Mato Grosso do Sul", "MG": "Minas Gerais",
    "PA": "Pará", "PB": "Paraíba", "PR": "Paraná", "PE": "Pernambuco", "PI": "Piauí",
    "RJ": "Rio de Janeiro", "RN": "Rio Grande do Norte", "RS": "Rio Grande do Sul",
    "RO": "Rondônia", "RR": "Roraima", "SC": "Santa Catarina", "SP": "São Paulo",
    "SE": "Sergipe", "TO": "Tocantins",
}
# fmt: on
assert STATE_NAMES.keys() == UFS
# The application form's choices: (UF, name), in the order of the names.
STATE_CHOICES = sorted(STATE_NAMES.items(), key=lambda item: item[1])

_FIELD_MESSAGES: dict[str, str] = {
    "name": "Informe seu nome completo (até 120 caracteres).",
    "email": "Informe um e-mail válido, como nome@exemplo.com.br.",
    "birth_date": "Informe sua data de nascimento (dia, mês e ano).",
    "state": "Escolha seu estado.",
    "city": "Informe sua cidade (até 120 caracteres).",
    "bio": "A apresentação pode ter até 2.000 caracteres.",
    "photo_url": "Informe o endereço (http ou https) de uma foto, ou deixe em branco.",
}


@dataclass(frozen=True)
class FieldError:
    """What is wrong with one field: in Portuguese, and in the API's own words."""

    message: str
    detail: str | None = None


def candidate_field_errors(errors: Sequence[Mapping[str, Any]]) -> dict[str, FieldError]:
    """The first validation error of each field of the application, in Portuguese.

    `errors` is the API's 422 detail (`[{loc, msg, type}]`); the API's own sentence is kept
    beside the Portuguese one, so that nothing it says is lost.
    """
    messages: dict[str, FieldError] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        field = next((part for part in loc if part in CANDIDATE_FIELDS), "form")
        if field in messages:
            continue
        msg = str(error.get("msg", "")).removeprefix("Value error, ") or None
        if field == "birth_date" and msg and "18 or older" in msg:
            message = "É preciso ter 18 anos ou mais para se inscrever."
        elif field == "state" and error.get("type") == "value_error":
            message = "Escolha um dos 27 estados (UF), como SP ou RJ."
        else:
            message = _FIELD_MESSAGES.get(field, "Confira este campo.")
        messages[field] = FieldError(message, msg)
    return messages


# --- the hourly chart ------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 720, 300
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 40, 708, 16, 262
LABEL_CHAR_WIDTH = 9  # of the axis labels (15 px), in the chart's units
MAX_CHART_HOURS = 96
MAX_GROUP_WIDTH = 200


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str


@dataclass(frozen=True)
class ChartTick:
    at: float
    label: str


@dataclass(frozen=True)
class HourlyChart:
    """An SVG bar chart of votes per UTC hour per nominee, laid out in the server."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[ChartBar]
    y_ticks: list[ChartTick]
    x_ticks: list[ChartTick]
    summary: str


def _nice_step(top: int, ticks: int = 4) -> int:
    """A step of 1, 2 or 5 × 10ⁿ that splits `0..top` into about `ticks` parts."""
    raw = max(1.0, top / ticks)
    power = 10 ** math.floor(math.log10(raw))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= raw)


def hourly_chart(stats: StatsPublic) -> HourlyChart:
    """Grouped bars: one group per hour (Brasília labels), one bar per nominee.

    Hours without votes between the first and the last are drawn empty, so the time axis is
    even; past `MAX_CHART_HOURS`, only the latest hours are drawn.
    """
    position = {n.candidate_id: i for i, n in enumerate(stats.nominees)}
    names = {n.candidate_id: n.name for n in stats.nominees}
    votes = {(h.hour, h.candidate_id): h.votes for h in stats.hourly}
    bars: list[ChartBar] = []
    y_ticks: list[ChartTick] = []
    x_ticks: list[ChartTick] = []
    if not stats.hourly:
        return HourlyChart(
            CHART_WIDTH, CHART_HEIGHT, PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM,
            bars, y_ticks, x_ticks, "Ainda não há votos.",
        )  # fmt: skip
    first, last = min(h.hour for h in stats.hourly), max(h.hour for h in stats.hourly)
    count = int((last - first).total_seconds() // 3600) + 1
    hours = [first + timedelta(hours=i) for i in range(max(0, count - MAX_CHART_HOURS), count)]
    peak = max(votes.get((h, n), 0) for h in hours for n in position)
    step = _nice_step(peak)
    top = step * math.ceil(max(peak, 1) / step)
    height = PLOT_BOTTOM - PLOT_TOP
    for value in range(0, top + 1, step):
        y_ticks.append(ChartTick(PLOT_BOTTOM - height * value / top, format_int(value)))
    # The plot starts where the longest vote count on the y axis ends.
    plot_left = max(PLOT_LEFT, 16 + LABEL_CHAR_WIDTH * max(len(t.label) for t in y_ticks))
    # Few hours make wide groups: keep bars slim and the groups centred.
    group = min((PLOT_RIGHT - plot_left) / len(hours), MAX_GROUP_WIDTH)
    left = plot_left + ((PLOT_RIGHT - plot_left) - group * len(hours)) / 2
    bar = group * 0.8 / max(1, len(position))
    label_every = math.ceil(len(hours) / 8)
    for i, hour in enumerate(hours):
        local = hour.astimezone(BRASILIA)
        x0 = left + i * group + group * 0.1
        if i % label_every == 0:
            text = local.strftime("%Hh") if i and local.hour else local.strftime("%d/%m %Hh")
            x_ticks.append(ChartTick(round(left + (i + 0.5) * group, 2), text))
        for candidate_id, j in position.items():
            n = votes.get((hour, candidate_id), 0)
            h = height * n / top
            bars.append(
                ChartBar(
                    x=round(x0 + j * bar, 2),
                    y=round(PLOT_BOTTOM - h, 2),
                    width=round(max(bar - 1, 0.5), 2),
                    height=round(h, 2),
                    color=NOMINEE_COLORS[j % len(NOMINEE_COLORS)],
                    label=f"{names[candidate_id]}, {local.strftime('%d/%m %Hh')}: "
                    f"{format_int(n)} votos",
                )
            )
    shown = f"as últimas {len(hours)} horas" if count > len(hours) else f"{len(hours)} hora(s)"
    summary = f"Votos por hora (horário de Brasília), {shown}; pico de {format_int(peak)} votos."
    return HourlyChart(
        CHART_WIDTH, CHART_HEIGHT, plot_left, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM,
        bars, y_ticks, x_ticks, summary,
    )  # fmt: skip
