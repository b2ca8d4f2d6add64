"""The audit log of admin actions: who acted (a fingerprint, never the secret) for the
routers that record an action, and the log itself (admin)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controllers.deps import AdminDep, SessionDep, SettingsDep
from services import audit
from views.api.certificates import AuditItemPublic, AuditPublic
from views.api.errors import error_responses
from views.api.params import Limit, Offset

admin = APIRouter(tags=["audit"], dependencies=[AdminDep])

_bearer = HTTPBearer(auto_error=False)


async def admin_actor(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The actor of an admin call (its router checks the token): `admin:` + a fingerprint."""
    token = "" if credentials is None else credentials.credentials
    return audit.admin_actor(settings.keys.audit, token)


ActorDep = Annotated[str, Depends(admin_actor)]


@admin.get("/audit", summary="The audit log of admin actions", responses=error_responses(401, 422))
def read_audit(session: SessionDep, limit: Limit = 20, offset: Offset = 0) -> AuditPublic:
    """Oldest first. Each entry's `hash` chains it to the one before (see the field); `python
    main.py audit-verify` recomputes the whole chain."""
    entries, total = audit.read_page(session, limit=limit, offset=offset)
    return AuditPublic(
        items=[AuditItemPublic.build(e) for e in entries], total=total, limit=limit, offset=offset
    )
