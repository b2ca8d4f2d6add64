"""Results anyone can check: a frozen paredão's signed certificate, the keys that verify it,
and each counted vote's inclusion proof (all public)."""

import uuid

from fastapi import APIRouter, Request

from controllers.deps import CertificatesDep
from services.app_services import app_services
from services.certificates import SignedCertificate
from views.api.certificates import CertificatePublic, JWKSetPublic, ProofPublic
from views.api.errors import error_responses
from views.api.params import ParedaoId

router = APIRouter(tags=["certificates"])


async def page_certificate(request: Request, paredao_id: int) -> SignedCertificate | None:
    """The certificate a page shows (its root, whether its signature verifies), if any."""
    return await app_services(request.app).certificates.for_page(paredao_id)


@router.get(
    "/paredoes/{paredao_id}/certificate",
    summary="The signed certificate of a frozen result",
    responses=error_responses(404, 409),
)
async def read_certificate(
    paredao_id: ParedaoId, certificates: CertificatesDep
) -> CertificatePublic:
    """The totals, the outcome and the RFC 9162 Merkle root over every counted vote, signed
    with Ed25519 (verify with GET /certificate-keys). 409 until the result is frozen."""
    signed = await certificates.certificate(paredao_id)
    return CertificatePublic.model_validate(signed, from_attributes=True)


@router.get("/certificate-keys", summary="The keys that verify certificates (JWK set)")
async def certificate_keys(certificates: CertificatesDep) -> JWKSetPublic:
    """Ed25519 public keys (RFC 8037), the current one first; a key stays listed while its
    secret is in the server's key ring, so older certificates keep verifying."""
    return JWKSetPublic.model_validate(certificates.jwks())


@router.get(
    "/paredoes/{paredao_id}/votes/{vote_id}/proof",
    summary="Proof that a vote is in the certified count",
    responses=error_responses(404, 409, 422),
)
async def read_proof(
    paredao_id: ParedaoId, vote_id: uuid.UUID, certificates: CertificatesDep
) -> ProofPublic:
    """RFC 9162 inclusion proof of a counted vote in the certificate's tree: check it with
    RFC 9162 §2.1.3.2 against the signed root. 404 for a vote never counted (unknown or
    refused); 409 before the certificate exists."""
    proof = await certificates.proof(paredao_id, vote_id)
    return ProofPublic.model_validate(proof, from_attributes=True)
