"""The classifier on every real response collected from public reports, and on hostile input."""

from __future__ import annotations

import html
import json
import random
from pathlib import Path

import pytest

from why403_kit import classify
from why403_kit.knowledge import load

from .conftest import CANARY
from .corpus import DEV
from .corpus import load as load_corpus

CASES = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "real-responses.jsonl").read_text().splitlines() if line]
TAXONOMY = {
    "ok", "missing_api_key", "malformed_auth_header", "invalid_api_key", "auth_method_disabled", "account_inactive",
    "org_project_mismatch", "missing_scope", "model_access_denied", "org_verification_required", "unsupported_region",
    "ip_not_allowed", "edge_block", "proxy_block", "tls_interception", "wrong_endpoint", "content_blocked",
    "quota_exceeded", "rate_limited", "request_too_large", "server_error", "network_error", "unknown",
}


def test_knowledge_covers_exactly_the_taxonomy() -> None:
    assert set(load().causes) == TAXONOMY


def test_no_rule_pattern_holds_a_control_character() -> None:
    """In a TOML basic string "\\b" is a backspace, not a word boundary: such a pattern silently never matches."""
    bad = [(c.id, p.pattern) for c in load().causes.values() for r in c.rules
           for p in (*r.messages, *r.titles, *r.exceptions) if any(ord(ch) < 32 for ch in p.pattern)]
    assert not bad


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_real_response(case: dict) -> None:
    d = classify(case["status"], case["headers"], case["body"], case.get("exception"))
    assert d.cause in case["accept"], d.evidence
    assert d.evidence and d.fix
    assert d.responder in {"provider", "edge", "gateway", "proxy", "client", "unknown"}


@pytest.mark.parametrize(
    ("status", "headers", "body", "exception", "expected"),
    [
        # wordings and wrappers that are not in the sample
        (401, {}, '{"error":{"message":"Incorrect API key provided: sk-abc***xyz.","code":"invalid_api_key"}}', None, "invalid_api_key"),
        (502, {"content-type": "application/json"}, '{"error":{"message":"upstream: {\\"error\\":{\\"code\\":\\"insufficient_quota\\"}}"}}', None, "quota_exceeded"),
        (403, {"server": "cloudflare", "cf-ray": "8a1-AMS"}, "<html><head><title>Attention Required! | Cloudflare</title></head></html>", None, "edge_block"),
        (403, {}, "error code: 1020", None, "edge_block"),
        (407, {"Proxy-Authenticate": "Basic realm=corp"}, "", None, "proxy_block"),
        (403, {"X-Zscaler-Transaction": "1"}, "<html>Website blocked</html>", None, "proxy_block"),
        (403, {}, '{"error":{"code":"AuthenticationTypeDisabled","message":"Key based authentication is disabled for this resource."}}', None, "auth_method_disabled"),
        (404, {}, '{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}', None, "wrong_endpoint"),
        (401, {}, '{"error":{"message":"OpenAI-Project header should match project for API key","code":"mismatched_project"}}', None, "org_project_mismatch"),
        (401, {}, '{"error":{"message":"Not allowed","code":"ip_not_authorized"}}', None, "ip_not_allowed"),
        (429, {"retry-after": "3"}, "", None, "rate_limited"),
        (429, {}, '{"error":{"type":"insufficient_quota","code":"project_spend_limit_exceeded"}}', None, "quota_exceeded"),
        (403, {}, '{"error":{"message":"Input was flagged for self-harm","code":403,"metadata":{"reasons":["self-harm"]}}}', None, "content_blocked"),
        (None, {}, "", "httpx.ConnectError: [Errno 111] Connection refused", "network_error"),
        (None, {}, "", "ssl.SSLCertVerificationError: self-signed certificate in certificate chain", "tls_interception"),
        (503, {}, '{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error"}}', None, "server_error"),
        (200, {}, '{"object":"list","data":[{"id":"omni-moderation-latest"}]}', None, "ok"),
        # Azure OpenAI shapes the lab plays on deployment paths
        (401, {}, '{"error":{"code":"401","message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}}', None, "missing_api_key"),
        (401, {}, '{"statusCode":401,"message":"Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}', None, "invalid_api_key"),
        (401, {}, '{"statusCode":401,"message":"Access token is missing"}', None, "missing_api_key"),
        (404, {}, '{"error":{"code":"404","message":"Resource not found"}}', None, "wrong_endpoint"),
        (401, {}, '{"error":{"code":"PermissionDenied","message":"The principal `x` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action`."}}', None, "missing_scope"),
        (403, {"policy-id": "ThrowExceptionDueToTrafficDenied"}, '{"error":{"code":"403","message":"Access denied due to Virtual Network/Firewall rules."}}', None, "ip_not_allowed"),
    ],
)
def test_generalises(status, headers, body, exception, expected) -> None:  # type: ignore[no-untyped-def]
    assert classify(status, headers, body, exception).cause == expected


# Documented or commonly reported shapes of other providers, runtimes and hops, none of them a corpus case: the
# families the rules name must reach them.
OTHER_SHAPES = [
    # Anthropic
    (401, {}, '{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}', None, "invalid_api_key"),
    (401, {}, '{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"}}', None, "missing_api_key"),
    (529, {}, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', None, "server_error"),
    (413, {}, '{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}', None,
     "request_too_large"),
    (404, {}, '{"type":"error","error":{"type":"not_found_error","message":"model: claude-3-opus-latest"}}', None, "model_access_denied"),
    (None, {}, "", "anthropic.BadRequestError: Error code: 400 - {'type': 'error', 'error': {'type': 'invalid_request_error', "
                   "'message': 'prompt is too long: 215000 tokens > 200000 maximum'}}", "request_too_large"),
    # Google Gemini
    (400, {}, '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",'
              '"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}', None, "invalid_api_key"),
    (404, {}, '{"error":{"code":404,"message":"models/gemini-1.0-pro is not found for API version v1beta, or is not supported for '
              'generateContent.","status":"NOT_FOUND"}}', None, "model_access_denied"),
    (503, {}, '{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}', None, "server_error"),
    (None, {}, "", "google.api_core.exceptions.ResourceExhausted: 429 Quota exceeded for quota metric 'Generate Content API requests "
                   "per minute' and limit 'GenerateContent request limit per minute for a region'", "rate_limited"),
    # Mistral, DeepSeek, Groq, OpenRouter, LiteLLM, one-api / new-api relays, AWS
    (429, {}, '{"message":"Requests rate limit exceeded"}', None, "rate_limited"),
    (402, {}, '{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}', None,
     "quota_exceeded"),
    (None, {}, "", "Error: 413 Request too large for model `llama3-70b-8192` in organization `org_01` on tokens per minute (TPM): "
                   "Limit 6000, Requested 12000, please reduce your message size and try again.", "request_too_large"),
    (None, {}, "", "Error: 402 This request requires more credits, or fewer max_tokens.", "quota_exceeded"),
    (None, {}, "", "litellm.BudgetExceededError: Budget has been exceeded! Current cost: 10.2, Max budget: 10.0", "quota_exceeded"),
    (401, {}, '{"error":{"message":"无效的令牌 (request id: 20240101000000000000000)","type":"one_api_error"}}', None, "invalid_api_key"),
    (403, {}, '{"error":{"message":"该令牌额度已用尽 (request id: 20240101)","type":"new_api_error"}}', None, "quota_exceeded"),
    (400, {"x-amzn-ErrorType": "UnrecognizedClientException:http://internal.amazon.com/coral/"},
     '{"message":"The security token included in the request is invalid."}', None, "invalid_api_key"),
    # hops: a gateway or mesh failing, a relay wrapping the provider, edges and proxies
    (503, {"server": "envoy"}, "upstream connect error or disconnect/reset before headers. reset reason: connection failure", None,
     "server_error"),
    (None, {}, "", "upstream connect error or disconnect/reset before headers. reset reason: connection termination", "server_error"),
    (None, {}, "Error code 520\nWeb server is returning an unknown error\nPlease try again in a few minutes.", None, "server_error"),
    (None, {}, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr>"
               "<center>nginx</center></body></html>", None, "server_error"),
    (502, {}, "Bad gateway. Please try again in 30 seconds.", None, "server_error"),
    (None, {}, "", "openai.APIStatusError: Error code: 502 - {'error': {'message': \"litellm.APIError: OpenAIException - Error code: 403 - "
                   "{'error': {'code': 'unsupported_country_region_territory', 'message': 'Country, region, or territory not supported'}}\"}}",
     "unsupported_region"),
    (403, {"x-vercel-mitigated": "challenge", "server": "Vercel"}, "<!DOCTYPE html><html><head><title>Vercel Security Checkpoint</title>"
                                                                   "</head><body></body></html>", None, "edge_block"),
    (403, {"server": "AkamaiGHost"}, "<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>You don't have permission "
                                     "to access &quot;http&#58;&#47;&#47;api&#46;example&#46;com&#47;&quot; on this server.<P>Reference&#32;"
                                     "&#35;18&#46;6f2c3e17&#46;1700000000&#46;1a2b3c</BODY></HTML>", None, "edge_block"),
    (200, {"content-type": "text/html"}, "<html><head><title>Guest Wi-Fi: sign in</title></head><body><form>...</form></body></html>", None,
     "proxy_block"),
    (200, {}, 'data: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}', None,
     "server_error"),
    (None, {}, "", "HTTPSConnectionPool(host='api.openai.com', port=443): Max retries exceeded with url: /v1/models (Caused by "
                   "ProxyError('Unable to connect to proxy', OSError('Tunnel connection failed: 407 Proxy Authentication Required')))",
     "proxy_block"),
    # no answer, in many runtimes
    (None, {}, "", "Error: getaddrinfo ENOTFOUND api.openai.com", "network_error"),
    (None, {}, "", "Error: self-signed certificate in certificate chain\n  code: 'SELF_SIGNED_CERT_IN_CHAIN'", "tls_interception"),
    (None, {}, "", 'Post "https://api.openai.com/v1/chat/completions": x509: certificate signed by unknown authority', "tls_interception"),
    (None, {}, "", "Get \"https://api.openai.com/v1/models\": dial tcp: lookup api.openai.com: no such host", "network_error"),
    (None, {}, "", "System.Net.Http.HttpRequestException: The SSL connection could not be established, see inner exception.",
     "tls_interception"),
    (None, {}, "", "No connection could be made because the target machine actively refused it. (localhost:11434)", "network_error"),
    (None, {}, "", "error sending request for url (https://api.openai.com/v1/chat/completions): error trying to connect: dns error: "
                   "failed to lookup address information", "network_error"),
    (None, {}, "", "java.net.UnknownHostException: api.openai.com", "network_error"),
    (None, {}, "", "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.openai.com', port=443): Max retries exceeded "
                   "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))", "network_error"),
    # OpenAI and Azure, pasted the way people paste them
    (None, {}, "", "openai.RateLimitError: Error code: 429 - {'error': {'message': 'Request too large for gpt-4o in organization "
                   "org-x on tokens per min (TPM): Limit 30000, Requested 50000.', 'type': 'tokens', 'code': 'rate_limit_exceeded'}}",
     "request_too_large"),
    (None, {}, "", "openai.NotFoundError: Error code: 404 - {'error': {'code': 'DeploymentNotFound', 'message': 'The API deployment for "
                   "this resource does not exist.'}}", "wrong_endpoint"),
    (None, {}, "", "Error: 429 Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded "
                   "call rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds.", "rate_limited"),
    (None, {}, "", "openai.AuthenticationError: Error code: 401 - {'error': {'message': 'Incorrect API key provided: sk-proj-****abcd.'"
                   ", 'type': 'invalid_request_error', 'code': 'invalid_api_key'}}", "invalid_api_key"),
    (None, {}, '"{\\"error\\":{\\"code\\":\\"insufficient_quota\\",\\"message\\":\\"You exceeded your current quota\\"}}"', None,
     "quota_exceeded"),
    (None, {}, "", "openai.InternalServerError: Error code: 529 - {'type': 'error', 'error': {'type': 'overload     ed_error', "
                   "'message': 'Overloaded'}}", "server_error"),
]


@pytest.mark.parametrize(("status", "headers", "body", "exception", "expected"), OTHER_SHAPES)
def test_reaches_other_providers_runtimes_and_hops(status, headers, body, exception, expected) -> None:  # type: ignore[no-untyped-def]
    d = classify(status, headers, body, exception)
    assert d.cause == expected, d.evidence


def test_wrapped_error_names_the_innermost_refusal_and_the_hop() -> None:
    body = ('{"error":{"message":"Provider returned error","code":403,"metadata":{"raw":"{\\"error\\":{\\"code\\":'
            '\\"unsupported_country_region_territory\\",\\"message\\":\\"Country, region, or territory not supported\\"}}",'
            '"provider_name":"OpenAI"}}}')
    d = classify(403, {}, body)
    assert (d.cause, d.responder) == ("unsupported_region", "gateway")


@pytest.mark.parametrize(("status", "headers", "body", "exception", "responder"), [
    (401, {}, '{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}', None, "provider"),
    # OpenAI's own answers pass its Envoy and Cloudflare: those headers alone name no other hop
    (401, {"x-envoy-upstream-service-time": "12", "cf-ray": "8a1-AMS", "server": "cloudflare"},
     '{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}', None, "provider"),
    (None, {}, "", "openai.PermissionDeniedError: Error code: 403 - {'error': {'code': 'unsupported_country_region_territory'}}", "provider"),
    (403, {"server": "cloudflare", "cf-ray": "8a1-AMS"}, "<html><head><title>Just a moment...</title></head></html>", None, "edge"),
    (None, {}, "Error code 521 Web server is down", None, "edge"),  # the edge answered for an origin that failed
    (403, {"x-squid-error": "ERR_ACCESS_DENIED 0"}, "<html><title>ERROR</title></html>", None, "proxy"),
    (200, {}, "<html><head><title>Hotel Wi-Fi</title></head></html>", None, "proxy"),
    (503, {"server": "envoy"}, "upstream connect error or disconnect/reset before headers", None, "gateway"),
    (500, {"x-litellm-call-id": "1"}, '{"error":{"message":"litellm.InternalServerError: boom"}}', None, "gateway"),
    (None, {}, "", "httpx.ConnectError: [Errno 111] Connection refused", "client"),
    (None, {}, "", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "client"),
    (None, {}, "", "httpx.LocalProtocolError: Illegal header value b'Bearer sk-abc\\n'", "client"),
])
def test_responder_names_the_hop_that_answered(status, headers, body, exception, responder) -> None:  # type: ignore[no-untyped-def]
    assert classify(status, headers, body, exception).responder == responder


def test_an_exception_reads_like_the_same_text_as_a_body() -> None:
    """Status unknown and only an exception: it must score as the same text handed over as a body does."""
    pasted = [c for c in load_corpus(DEV) if c.kind == "exception-only"]
    assert len(pasted) > 100
    differ = [(c.id, a, b) for c in pasted
              if (a := classify(None, {}, "", c.exception).cause) != (b := classify(None, {}, c.exception or "").cause)]
    assert not differ


def test_status_named_in_the_text_is_read() -> None:
    for text, status in (("openai.PermissionDeniedError: Error code: 403 - {'error': {}}", 403), ("Error: 429 Rate limit reached", 429),
                         ("Request failed with status code 401", 401), ("HTTP/1.1 502 Bad Gateway", 502),
                         ("Server responded with status 429", 429), ("503 Service Unavailable", 503),
                         ("openai.RateLimitError: You exceeded your current quota", 429), ("ConnectError: [Errno 111] refused", None),
                         ('"HTTP/1.1 200 OK"\n"HTTP/1.1 429 Too Many Requests"', 429),  # the earlier 200 in the log is not it
                         ("Error: AccessDenied: The request is not authorized, HTTP status: Unauthorized", 401)):
        d = classify(None, {}, "", text)
        assert (d.status, d.status_source) == (status, "text" if status else ""), text


def test_a_status_in_the_text_means_an_answer_came_so_no_network_error() -> None:
    assert classify(None, {}, "", "Failed to connect to OpenRouter API: 404 Not Found").cause != "network_error"
    assert classify(None, {}, "", "Failed to connect to api.openai.com port 443: Connection refused").cause == "network_error"


def test_confidence_follows_the_kind_and_number_of_signals() -> None:
    code_and_message = classify(429, {}, '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}')
    message_only = classify(429, {}, "You exceeded your current quota")
    status_only = classify(429, {}, "")
    status_from_text = classify(None, {}, "", "HTTP 429")
    assert code_and_message.cause == message_only.cause == "quota_exceeded"
    assert code_and_message.confidence > message_only.confidence > status_only.confidence > status_from_text.confidence
    nothing = classify(403, {"server": "nginx"}, "<html><head><title>403 Forbidden</title></head><body>nginx</body></html>")
    assert nothing.cause == "unknown" and nothing.confidence <= 0.3
    assert "403 Forbidden" in nothing.evidence and "nginx" in nothing.evidence  # unknown, with what was seen


SECRET = "Zq7Xv2Lm9Pw4Rt6Yk1Hs8Jd3Nf5Bc0Gq7Xv2Lm9Pw4Rt6Yk1Hs8"
KEY_SHAPES = [
    f"sk-proj-{SECRET} Incorrect API key provided",
    f"sk-{SECRET}Incorrect API key provided",
    f"sk-ant-api03-{SECRET} invalid x-api-key",
    f"sk-or-v1-{SECRET} User not found.",
    f"gsk_{SECRET} Invalid API Key",
    f"Authorization: Bearer {SECRET} You didn't provide an API key",
    f"{{'Authorization': 'Bearer {SECRET}'}} Incorrect API key provided",
    f"x-api-key: {SECRET} invalid x-api-key",
    f'{{"api-key": "{SECRET}", "error": {{"message": "Access denied due to invalid subscription key"}}}}',
    f"{{'Ocp-Apim-Subscription-Key': '{SECRET}'}} Access denied due to invalid subscription key",
    f"https://generativelanguage.googleapis.com/v1beta/models?key={SECRET} API key not valid",
    f'{{"error":"{{\\"message\\":\\"Bearer {SECRET} Incorrect API key\\"}}"}}',
    "Bearer " + SECRET * 30 + " Unauthorized. Access token is missing, invalid, audience is incorrect",
    f"{CANARY}Incorrect API key provided",
    f"Incorrect API key provided: {CANARY}. You can find your API key at https://platform.openai.com/account/api-keys.",
    # long texts are redacted around the quoted part only: the part must not split a key or lose the name marking it
    "lorem " * 3000 + f"sk-proj-{SECRET} Incorrect API key provided" + " ipsum" * 100,
    "lorem " * 3000 + "Authorization : Bearer " + SECRET * 100 + " Incorrect API key provided",
    "lorem " * 3000 + f"x-api-key: {SECRET} invalid x-api-key " + "ipsum " * 2000,
    f"Incorrect API key provided: sk-{SECRET} " + "lorem " * 5000,
]


@pytest.mark.parametrize("text", KEY_SHAPES)
@pytest.mark.parametrize("where", ["body", "exception"])
def test_evidence_never_quotes_a_key_even_right_before_the_phrase(text: str, where: str) -> None:
    d = classify(401, {}, text) if where == "body" else classify(None, {}, "", text)
    out = json.dumps(d.to_dict())
    for secret in (SECRET, CANARY.removeprefix("sk-proj-")):
        leaked = [secret[i : i + 6] for i in range(len(secret) - 5) if secret[i : i + 6] in out]
        assert not leaked, (d.evidence, leaked[:3])
    assert d.cause != "unknown"


@pytest.mark.parametrize(
    "body",
    ["", "{", "[[[[" * 5000, "\x00\xff" * 100, "{'a': " * 3000, "<html>" + "x" * 10_000_000, b"\xff\xfe binary", {"error": None}],
)
def test_never_raises(body) -> None:  # type: ignore[no-untyped-def]
    d = classify("not-a-status", {"X": object()}, body)  # type: ignore[arg-type]
    assert d.cause in TAXONOMY


def _mangled(text: str, rng: random.Random) -> str:
    """A pasted text damaged the ways pastes are: cut, escaped again, wrapped, entity-encoded, doubled."""
    cut = rng.randrange(len(text) + 1)
    return rng.choice([
        text[:cut], text[cut:], json.dumps(text), json.dumps(json.dumps(text)), html.escape(text),
        "\n     ".join(text[i : i + 37] for i in range(0, len(text), 37)), text * 3, text[::-1], "{" + text, text + "\\",
    ])


def test_never_raises_on_damaged_real_texts() -> None:
    rng = random.Random(403)
    for case in load_corpus(DEV):
        for _ in range(4):
            body, exc = _mangled(case.body, rng), _mangled(case.exception or "", rng) or None
            d = classify(rng.choice([case.status, None, "x", -1, 10**9]), case.headers, body, exc)  # type: ignore[arg-type]
            assert d.cause in TAXONOMY and isinstance(d.evidence, str) and 0 <= d.confidence <= 1


def test_literal_prefilter_never_hides_a_match() -> None:
    """Rules skip their expression when none of its required literals is in the text: that must never drop a match."""
    import sys

    impl = sys.modules["why403_kit.classify"]
    plans = impl._plans(load())
    rng = random.Random(7)
    texts = [c.body + "\n" + (c.exception or "") for c in load_corpus(DEV)]
    texts += [_mangled(t, rng) for t in texts]
    for text in texts:
        low = impl._normalise(text).lower()
        words = frozenset(impl._WORD.findall(low))
        for plan in plans:
            for joined, need in ((plan.messages, plan.messages_need), (plan.exceptions, plan.exceptions_need)):
                if joined is not None and need is not None and joined.search(low):
                    assert need.may_match(low, words), (plan.cause, joined.pattern[:80], need)
    assert impl._required("rate[ _-]?limit") == ("limit",)
    assert impl._required("(?:engine|model|server|service|system) is (?:currently )?(?:overloaded|busy)") == ("overloaded", "busy")
    assert impl._required("x{0,3}yy|(?:ab)?cd") is None


def test_a_status_handed_over_is_not_said_again_one_read_from_the_text_is() -> None:
    for d in (classify(502, {}, ""), classify(401, {}, ""), classify(404, {"server": "nginx"}, "<h1>Not Found</h1>")):
        assert d.status in (502, 401, 404) and str(d.status) not in d.evidence and d.evidence, d.evidence
    named = classify(None, {}, "", "request failed: HTTP 429")
    assert named.status == 429 and "429 (named in the text)" in named.evidence


def test_an_identifier_inside_a_module_path_is_not_an_error_code() -> None:
    # cohere.core.api_error.ApiError names the SDK's module, not the API's error type 'api_error' (a server error)
    d = classify(None, {}, "", "cohere.core.api_error.ApiError: status_code: 403, body: <html><title>403</title>403 Forbidden</html>")
    assert d.cause != "server_error" and "code 'api_error'" not in d.evidence
    assert classify(None, {}, "", "WARNING gateway - upstream said server_error.").cause == "server_error"  # a sentence's end still counts


@pytest.mark.parametrize(("status", "error", "cause"), [
    (500, {"error": "Unauthorized"}, "invalid_api_key"),  # a gateway relaying a backend's bare 401 reason under its own status
    (404, {"error": {"message": 'model "llama9" not found, try pulling it first', "type": "api_error"}}, "model_access_denied"),
    (400, {"code": "Arrearage", "message": "Access denied, please make sure your account is in good standing."}, "quota_exceeded"),
    (429, {"error": {"type": "engine_overloaded_error", "message": "The engine is currently overloaded, please try again later"}}, "server_error"),
    (403, {"error": {"type": "forbidden", "message": "Request not allowed"}}, "edge_block"),
    (400, {"error": {"code": "1301", "message": "系统检测到输入或生成内容可能包含不安全或敏感内容"}}, "content_blocked"),
    (400, {"message": "Input is too long for requested model."}, "request_too_large"),  # Bedrock
    (400, {"error": {"message": "Request payload size exceeds the limit: 20971520 bytes.", "status": "INVALID_ARGUMENT"}}, "request_too_large"),
    (400, {"code": "InvalidParameter", "message": "Range of input length should be [1, 30720]"}, "request_too_large"),  # DashScope
    (502, {"message": "502 Bad Gateway cloudflare Cloudflare Ray ID: 8abc123def456789"}, "server_error"),  # the edge reporting its origin
    (401, {"error": {"message": "Incorrect API key provided: ''. You can find your API key at …", "code": "invalid_api_key"}},
     "missing_api_key"),  # the key echoed back empty: nothing was sent
    (None, {"detail": "Not Found"}, "wrong_endpoint"),  # FastAPI's own 404 for a route it lacks (a doubled /v1)
    (429, {"message": "Tokens per minute limit exceeded - too many tokens processed."}, "rate_limited"),
    (None, {"id": "msg_01", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hi"}]}, "ok"),
    (400, {"error": {"code": "OperationNotSupported", "message": "The chatCompletion operation does not work with the specified model, "
                                                             "text-embedding-3-large."}}, "wrong_endpoint"),  # Azure: wrong deployment kind
    (503, {"error": {"message": "No available channels for model gpt-4o in group default", "type": "new_api_error"}},
     "model_access_denied"),  # a relay with no upstream for the model
    (401, {"error": {"message": "Your IP address 1.2.3.4 is not authorized to access this organization."}}, "ip_not_allowed"),
    (403, {"code": "KeyBasedAuthenticationNotPermitted", "message": "Key based authentication is not permitted on this account."},
     "auth_method_disabled"),
    (400, {"error": {"message": "max_tokens is too large: 100000. This model supports at most 16384 completion tokens"}}, "request_too_large"),
    (None, {"id": "c-1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]},
     "ok"),  # a pasted answer: no status, but the API's own success object
])
def test_generic_types_give_way_and_provider_families_are_read(status: int | None, error: dict[str, object], cause: str) -> None:
    assert classify(status, {}, json.dumps(error, ensure_ascii=False)).cause == cause


def test_the_sdk_status_prefix_is_not_an_edge_page_and_a_refused_proxy_tunnel_is_the_proxy() -> None:
    # "Error code: 503 - {...}" is how openai-python prints any 5xx: the relay's own message decides, not the prefix
    relay = "openai.InternalServerError: Error code: 503 - {'error': {'message': 'No available channels for model x in group default'}}"
    assert classify(None, {}, "", relay).cause == "model_access_denied"
    assert classify(None, {}, "", "curl: (56) CONNECT tunnel failed, response 407").cause == "proxy_block"


@pytest.mark.parametrize(("used_requested", "cause"), [("Used 0, Requested ~12903", "request_too_large"),
                                                         ("Used 6500, Requested 900", "rate_limited")])
def test_a_rate_limit_whose_numbers_show_the_request_alone_is_over_it_is_too_large(used_requested: str, cause: str) -> None:
    # Groq and OpenAI word both as "Rate limit reached … on tokens per minute (TPM): Limit 7000, …": waiting helps only
    # when the request itself fits under the limit
    message = f"Rate limit reached for model `llama3-70b-8192` on tokens per minute (TPM): Limit 7000, {used_requested}."
    d = classify(429, {}, json.dumps({"error": {"message": message, "type": "tokens", "code": "rate_limit_exceeded"}}))
    assert d.cause == cause and (cause == "rate_limited" or "requested 12903, limit 7000" in d.evidence)


def test_rate_limit_header_names_in_a_pasted_answer_are_not_a_rate_limit() -> None:
    # httpcore's debug line for a 431 lists x-ratelimit-remaining-* among the headers: that is no refusal for speed
    pasted = ("receive_response_headers.complete return_value=(b'HTTP/1.1', 431, b'Request Header Fields Too Large', "
              "[(b'x-ratelimit-remaining-requests', b'29'), (b'x-ratelimit-remaining-tokens', b'29995')])")
    assert classify(None, {}, "", pasted).cause == "malformed_auth_header"
    assert classify(None, {}, "", "Error: Rate limit reached for requests").cause == "rate_limited"


def test_aiohttps_status_form_is_read() -> None:
    # "401, message='…'" is how aiohttp prints a refused answer: an answer came back, so it is no connection error
    d = classify(None, {}, "", "ERROR Connection error: 401, message='Attempt to decode JSON with unexpected mimetype'")
    assert d.status == 401 and d.cause != "network_error"


@pytest.mark.parametrize("text", [
    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self signed certificate in certificate chain (Sophos SSL CA_C1234)",
    "x509: certificate signed by unknown authority (while trying to verify candidate authority certificate \"Zscaler Root CA\")",
])
def test_a_failed_verification_naming_the_inspecting_product_is_tls_interception(text: str) -> None:
    # the product's name also marks its block pages (proxy_block), but a certificate that did not verify says more
    assert classify(None, {}, "", text).cause == "tls_interception"


@pytest.mark.parametrize(("body", "cause"), [
    ("<html><body><h1>This page has been blocked</h1><p>Blocked by the URL filter of your organization. squid/5.7</p></body></html>",
     "proxy_block"),
    ('{"error": {"message": "openai/gpt-9 is not a valid model ID", "code": 400}}', "model_access_denied"),
    ('{"detail": "Input too long: please reduce the length of the messages."}', "request_too_large"),
])
def test_more_wording_of_block_pages_models_and_sizes(body: str, cause: str) -> None:
    assert classify(403 if cause == "proxy_block" else 400, {}, body).cause == cause


def test_a_wrappers_own_retry_is_not_the_apis_hint_and_a_bodiless_status_is_read() -> None:
    langchain = ("Retrying langchain.llms.openai.completion_with_retry.<locals>._completion_with_retry in 4.0 seconds as it raised "
                 "APIError: could not load model - all backends returned error")
    assert classify(None, {}, "", langchain).cause == "server_error"
    assert classify(None, {}, "", "RateLimitError: Please try again in 20s.").cause == "rate_limited"
    bodiless = classify(None, {}, "", "404 (no body)")  # openai-node's message for an answer without a body
    assert bodiless.status == 404 and bodiless.cause == "wrong_endpoint"
