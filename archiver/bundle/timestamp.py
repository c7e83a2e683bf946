"""RFC 3161 time-stamp tokens: a time-stamping authority's signed word that the bundle's
signature existed at a moment, as the WACZ signing spec's ``timeSignature`` (the authority's
whole answer, DER, base64) and ``timestampCert`` (the certificates it sent, PEM).

As authsign does, the token is over the text of the signature; asked for when the
``timestamp_url`` setting names an authority and the bundle is signed. Checking a token
needs no network: the hashed message must be the signature's SHA-256, the token's own
signature must verify with the certificate inside it, and its message digest must be that of
the time-stamp info. Whether that certificate is one to trust is for the reader to judge:
the checker names it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Any

import requests
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..errors import ArchiverError

MAX_ANSWER_BYTES = 1_000_000
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def request_token(url: str, text: str, *, timeout: float) -> dict[str, str]:
    """Ask the authority at ``url`` for a token over ``text``: the two signedData fields."""
    nonce = secrets.randbits(63)
    query = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(text.encode("utf-8")).digest(),
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    try:
        with requests.post(
            url,
            data=query.dump(),
            headers={"Content-Type": "application/timestamp-query"},
            timeout=timeout,
            stream=True,
            allow_redirects=False,
        ) as answer:
            body = answer.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
            status = answer.status_code
    except requests.RequestException as exc:
        raise ArchiverError(f"time-stamping authority {url}: {exc}") from None
    if status != 200:
        raise ArchiverError(f"time-stamping authority {url}: HTTP {status}")
    if len(body) > MAX_ANSWER_BYTES:
        raise ArchiverError(
            f"time-stamping authority {url}: answer over {MAX_ANSWER_BYTES:,} bytes"
        )
    fields = {"timeSignature": base64.b64encode(body).decode("ascii")}
    _, error = check_token(text, fields, nonce=nonce)
    if error:
        raise ArchiverError(f"time-stamping authority {url}: {error}")
    fields["timestampCert"] = _certificates_pem(tsp.TimeStampResp.load(body))
    return fields


def check_token(text: str, signed: dict[str, Any], *, nonce: int | None = None) -> tuple[str, str]:
    """Check the token in ``signed["timeSignature"]`` over ``text``: (the time it gives and
    who signed it, ""), or ("", what is wrong)."""
    try:
        answer = tsp.TimeStampResp.load(
            base64.b64decode(str(signed["timeSignature"]), validate=True)
        )
        status = answer["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            return "", f"the authority did not grant it ({status})"
        content = answer["time_stamp_token"]["content"]
        info = content["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in _HASHES:
            return "", f"a token over a {algorithm} hash, which archiver cannot check"
        if (
            hashlib.new(algorithm, text.encode("utf-8")).digest()
            != imprint["hashed_message"].native
        ):
            return "", "it is a time-stamp of something else than this signature"
        if nonce is not None and info["nonce"].native != nonce:
            return "", "its nonce is not the one asked for"
        signer = content["signer_infos"][0]
        certificate = _signer_certificate(content, signer)
        if certificate is None:
            return "", "the certificate that signed it is not in it"
        error = _check_signer(
            signer, content["encap_content_info"]["content"].contents, certificate
        )
        if error:
            return "", error
        when = info["gen_time"].native.isoformat()
        return f"{when} by {certificate.subject.rfc4514_string()}", ""
    except (
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        binascii.Error,
        UnsupportedAlgorithm,
    ) as exc:
        return "", f"it does not parse ({str(exc)[:100]})"


def _signer_certificate(content: cms.SignedData, signer: cms.SignerInfo) -> x509.Certificate | None:
    sid = signer["sid"]
    for choice in content["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                cert.issuer == wanted["issuer"]
                and cert.serial_number == wanted["serial_number"].native
            ):
                return x509.load_der_x509_certificate(cert.dump())
        elif cert.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(cert.dump())
    return None


def _check_signer(signer: cms.SignerInfo, info_der: bytes, certificate: x509.Certificate) -> str:
    """The token's signature over its signed attributes, and their digest of the info."""
    algorithm = signer["digest_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        return f"signed with a {algorithm} digest, which archiver cannot check"
    attributes = signer["signed_attrs"]
    digests = [a["values"][0].native for a in attributes if a["type"].native == "message_digest"]
    if digests != [hashlib.new(algorithm, info_der).digest()]:
        return "its message digest is not that of its time-stamp info: it was altered"
    # The signature covers the attributes as a SET, not with the [0] tag they travel under.
    signed_bytes = b"\x31" + attributes.dump()[1:]
    key = certificate.public_key()
    chosen = _HASHES[algorithm]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signer["signature"].native, signed_bytes, padding.PKCS1v15(), chosen)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signer["signature"].native, signed_bytes, ec.ECDSA(chosen))
        else:
            return "signed with a kind of key archiver cannot check"
    except InvalidSignature:
        return "the authority's signature does not match: it was altered"
    return ""


def _certificates_pem(answer: tsp.TimeStampResp) -> str:
    content = answer["time_stamp_token"]["content"]
    pems = []
    for choice in content["certificates"] or []:
        if choice.name == "certificate":
            der = base64.encodebytes(choice.chosen.dump()).decode("ascii")
            pems.append(f"-----BEGIN CERTIFICATE-----\n{der}-----END CERTIFICATE-----\n")
    return "".join(pems)
