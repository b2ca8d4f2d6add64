"""The errors of the web pages' forms and of the production's session: raised only by the
page routes, rendered like every domain error (`controllers.errors`)."""

from model.errors import DomainError, Forbidden, Invalid, Unauthorized


class UnsupportedForm(DomainError):
    status_code = 415
    code = "unsupported_form"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class NomineeMissing(Invalid):
    code = "nominee_missing"


class CPFMissing(Invalid):
    code = "cpf_missing"


class CaptchaNeedsJavaScript(Forbidden):
    code = "captcha_needs_javascript"


class LoginRequired(Unauthorized):
    code = "login_required"


class CSRFFailed(Forbidden):
    code = "csrf_failed"
