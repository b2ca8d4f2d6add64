"""What the pages say, in Brazilian Portuguese: the paredão's kinds and statuses, and a
sentence for each error code the API can answer (the vote page's script gets the same)."""

from model.paredao import ParedaoKind, ParedaoStatus
from model.ratelimit import TORCIDA_LIMIT

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
        f"Você votou muitas vezes em pouco tempo (até {TORCIDA_LIMIT} votos por minuto). "
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
