"""A local OIDC issuer: discovery documents and key sets over loopback HTTP, and
tokens signed with a generated RSA key, shaped as GitHub Actions' and GitLab's.

One server holds two issuers, ``<url>/github`` and ``<url>/gitlab``, each with
``/.well-known/openid-configuration`` and ``/jwks``. Tests point
``TRUSTED_PUBLISHING_ISSUERS`` at them; nothing here is used outside tests.
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PROVIDERS = ("github", "gitlab")


def new_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class LocalIssuer:
    def __init__(self):
        self.keys: dict[str, object] = {}  # kid -> private key, published in the JWKS
        self.kid = self.add_key(new_rsa_key())
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.requests.append(self.path)
                provider, _, rest = self.path.lstrip("/").partition("/")
                if provider not in PROVIDERS:
                    self.send_error(404)
                    return
                if rest == ".well-known/openid-configuration":
                    body = {
                        "issuer": issuer.url(provider),
                        "jwks_uri": f"{issuer.url(provider)}/jwks",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif rest == "jwks":
                    body = {"keys": issuer.jwks()}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def url(self, provider: str) -> str:
        return f"{self.base}/{provider}"

    def setting(self) -> str:
        return ",".join(f"{p}={self.url(p)}" for p in PROVIDERS)

    def add_key(self, private_key) -> str:
        kid = uuid.uuid4().hex[:16]
        self.keys[kid] = private_key
        return kid

    def jwks(self) -> list[dict]:
        published = []
        for kid, key in self.keys.items():
            algorithm = (
                jwt.algorithms.RSAAlgorithm
                if isinstance(key, rsa.RSAPrivateKey)
                else jwt.algorithms.ECAlgorithm
            )
            jwk = json.loads(algorithm.to_jwk(key.public_key()))
            jwk.update(
                kid=kid,
                use="sig",
                alg="RS256" if algorithm is jwt.algorithms.RSAAlgorithm else "ES256",
            )
            published.append(jwk)
        return published

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # --- Tokens ---------------------------------------------------------------

    def claims(self, provider: str, audience: str, **overrides) -> dict:
        now = int(time.time())
        base = {
            "iss": self.url(provider),
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        base.update(GITHUB_CLAIMS if provider == "github" else GITLAB_CLAIMS)
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def sign(self, claims: dict, *, kid: str | None = None, algorithm="RS256", key=None) -> str:
        kid = kid or self.kid
        return jwt.encode(claims, key or self.keys[kid], algorithm=algorithm, headers={"kid": kid})

    def token(self, provider: str, audience: str, **overrides) -> str:
        return self.sign(self.claims(provider, audience, **overrides))


GITHUB_CLAIMS = {
    "sub": "repo:contoso/widgets:environment:release",
    "repository": "contoso/widgets",
    "repository_owner": "contoso",
    "repository_owner_id": "1001",
    "repository_id": "2002",
    "event_name": "push",
    "ref": "refs/heads/main",
    "ref_type": "branch",
    "sha": "0123456789abcdef0123456789abcdef01234567",
    "workflow_ref": "contoso/widgets/.github/workflows/release.yml@refs/heads/main",
    "job_workflow_ref": "contoso/widgets/.github/workflows/release.yml@refs/heads/main",
    "environment": "release",
    "run_id": "9876543210",
    "run_attempt": "1",
    "actor": "octocat",
}

GITLAB_CLAIMS = {
    "sub": "project_path:contoso/widgets:ref_type:branch:ref:main",
    "namespace_path": "contoso",
    "namespace_id": "3003",
    "project_path": "contoso/widgets",
    "project_id": "4004",
    "ref": "main",
    "ref_type": "branch",
    "environment": "production",
    "pipeline_id": "555",
    "job_id": "666",
    "user_login": "dev",
    "sha": "89abcdef0123456789abcdef0123456789abcdef",
}
