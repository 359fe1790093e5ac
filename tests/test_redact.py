"""The masking pass: module layout, the live registry, every derived form, escapes, cuts, URLs, structures, valid JSON."""

from __future__ import annotations

import ast
import base64
import gc
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from why403_kit import Secret
from why403_kit._keys import FRAGMENT, key_control_characters
from why403_kit.redact import MASK, excerpt, redact, redact_headers, redact_obj, split_userinfo

from ._hostile import HostileServer
from ._leaks import assert_no_leak, canary_forms, leaks
from .conftest import CANARY

PACKAGE = Path(__file__).resolve().parent.parent / "why403_kit"
_HELD = Secret(CANARY)  # the canary is live for the whole module, as it is while the kit holds a key
FORMS = canary_forms()


def _package_imports(module: str) -> set[str]:
    """The package modules ``module`` imports, at the top or inside a function."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("why403_kit.")}
    return found


def test_masking_modules_form_a_chain_without_circles() -> None:
    # One module owns key shapes and forms (_keys); the holder and registry (_secret) stand on it; the masking pass
    # (redact) stands on both; the log filter (_logs) on the masking pass. Nothing points back.
    chain = ["_keys", "_secret", "redact", "_logs"]
    for i, module in enumerate(chain):
        imports = _package_imports(module)
        later = imports & set(chain[i:])
        assert not later, f"{module} imports {later}: the masking modules must not import back up the chain"
    assert _package_imports("_keys") == set(), "_keys is the leaf: it imports nothing from the package"


def test_a_value_stays_masked_when_a_twin_holder_is_collected() -> None:
    value = secrets.token_hex(16)  # Azure-style: 32 hex digits that no key pattern recognises
    first, second = Secret(value), Secret(value)  # the key pasted twice into the panel
    del first
    gc.collect()
    assert redact(f"echoed: {value}") == f"echoed: {MASK}"
    del second
    gc.collect()  # the value may sit in reports and logs long after its last holder: it stays masked
    assert redact(f"echoed: {value}") == f"echoed: {MASK}"


@pytest.mark.parametrize("name", list(FORMS))
def test_every_derived_form_of_a_live_key_is_masked(name: str) -> None:
    form = FORMS[name]
    assert leaks(form), "the leak detector must see the planted form (else this test proves nothing)"
    for text in (f"answer: {form} (end)", f"x{form}y", json.dumps({"echo": form}), repr(form.encode())):
        assert_no_leak(redact(text))
    assert_no_leak(*redact_headers({form: "1", "x-echo": form}).keys(), *redact_headers({"x-echo": form}).values())


def test_a_key_echoed_as_a_header_name_is_masked_when_httpx_lower_cases_it() -> None:
    with HostileServer() as srv:
        resp = httpx.get(srv.url("echo") + "/models", headers={"Authorization": f"Bearer {CANARY}"})
    assert CANARY.lower() in dict(resp.headers)  # httpx hands header names over lower-cased
    assert_no_leak(json.dumps(redact_headers(dict(resp.headers))), redact(resp.text))


def test_forms_of_a_key_with_no_known_shape_are_masked() -> None:
    azure = secrets.token_hex(16)
    held = Secret(azure)
    for name, form in canary_forms(azure).items():
        assert leaks(form, azure), name
        assert not leaks(redact(f"[{form}]"), azure), name
    assert held


def test_the_http_library_error_for_a_key_with_a_trailing_cr_is_masked() -> None:
    # A Windows .env leaves a CR at the end of the key; httpx refuses the header and quotes it, escaped, in its error.
    key = Secret(CANARY + "\r")
    with HostileServer() as srv, pytest.raises(httpx.LocalProtocolError) as info:
        httpx.get(srv.url("echo"), headers={"Authorization": f"Bearer {key.reveal()}"})
    text = f"{type(info.value).__name__}: {info.value}"
    assert leaks(text)
    assert_no_leak(redact(text), redact(repr(text)), redact(json.dumps(text)))


@pytest.mark.parametrize("text", [
    f"Illegal header value b'Bearer {CANARY}\\r'",
    f"{CANARY[:20]}\\r\\n{CANARY[20:]}",  # split by an escaped CRLF
    f"{CANARY[:30]}\\\\r\\\\n{CANARY[30:]}",  # escaped twice
    f"{CANARY[:15]}\\t{CANARY[15:]}",
    json.dumps(f"{CANARY[:25]}\r\n{CANARY[25:]}"),
])
def test_escaped_and_split_forms_are_masked(text: str) -> None:
    assert leaks(text)
    assert_no_leak(redact(text))


# ---- cuts ----------------------------------------------------------------------------------------------------
def test_excerpt_masks_the_whole_text_before_it_cuts() -> None:
    # A snippet cut 40 characters before the phrase keeps the end of the key and drops the 'x-api-key:' that made it
    # recognisable: masking the cut piece afterwards is too late. This key is not live: only its header shows what it is.
    hexkey = secrets.token_hex(16)
    text = f"ERROR status=401 x-api-key: {hexkey} Incorrect API key provided"
    start = text.index("Incorrect")
    naive = redact(text[start - 40 : start + 30])
    assert hexkey[-20:] in naive  # what cutting first does
    quoted = excerpt(text, start, start + len("Incorrect API key provided"), 40)
    assert hexkey[-8:] not in quoted and MASK in quoted and quoted.startswith("…") and "Incorrect API key provided" in quoted


def test_excerpt_of_a_live_key_cut_short_keeps_nothing_of_it() -> None:
    text = f"Authorization: Bearer {CANARY} -- Incorrect API key provided"
    start = text.index("Incorrect")
    context = start - (text.index(CANARY) + len(CANARY) - 12)  # the cut keeps the key's last 12 characters
    assert leaks(redact(text[start - context : start + 10]))  # cut first: 12 characters of the key survive
    assert_no_leak(excerpt(text, start, start + 10, context))


def test_excerpt_marks_only_the_sides_it_cut_and_never_splits_a_mask() -> None:
    text = f"key {CANARY} here"
    assert excerpt(text, 0, len(text), 0) == f"key {MASK} here"
    inside = text.index(CANARY) + 10
    assert excerpt(text, inside, inside + 1, 2) == f"…{MASK}…"
    assert excerpt("short", 1, 2, 100) == "short"


def test_an_encoded_form_cut_at_one_end_is_masked() -> None:
    # a title or a header value cut to a length before it was masked: base64 or hex of the key, missing its head or tail
    for encoded in (base64.b64encode(f"svc-user:{CANARY}".encode()).decode(), base64.b64encode(f"Bearer {CANARY}".encode()).decode(),
                    CANARY.encode().hex()):
        for cut in (encoded[:-7], encoded[9:], encoded[: len(encoded) // 2 + 12]):
            assert leaks(cut) and not leaks(redact(f"title '{cut}'")), cut


def test_a_long_fragment_of_a_live_key_is_masked_wherever_it_was_cut() -> None:
    for start in range(0, len(CANARY) - FRAGMENT + 1, 5):
        piece = CANARY[start : start + FRAGMENT]
        assert piece not in redact(f"…{piece}…"), start


# ---- key validation ------------------------------------------------------------------------------------------
def test_key_control_characters_names_them_without_showing_the_key() -> None:
    assert key_control_characters(CANARY) == []
    assert key_control_characters(CANARY + "\r") == ["CR (carriage return) (U+000D) at the end"]
    found = key_control_characters("\ufeff" + CANARY[:20] + "\t" + CANARY[20:] + "\r\n")
    assert [f.split(" (U+")[0] for f in found] == ["byte-order mark", "TAB", "CR (carriage return)", "LF (line feed)"]
    assert "at the start" in found[0] and "position 22 of" in found[1]
    assert_no_leak(*found)
    assert key_control_characters("abc\u200bdef\x00") == ["zero-width space (U+200B) at position 4 of 8", "NUL (U+0000) at the end"]


# ---- other credentials: URLs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "secret"), [
    ("HTTPS_PROXY=http://corp-user:S3cretPassw0rd@proxy.corp:3128", "S3cretPassw0rd"),
    ("base URL http://svc:p%40ss%3Aword@127.0.0.1:8080/v1 refused", "p%40ss%3Aword"),
    (json.dumps({"proxy": "https://u:hunter2hunter2@10.0.0.1:8080"}), "hunter2hunter2"),
    ('{"url": "http:\\/\\/u:escaped-pass@host\\/v1"}', "escaped-pass"),
    ("socks5://alice:pa:ss:word@proxy:1080", "pa:ss:word"),
])
def test_a_password_in_a_url_is_masked_and_the_rest_kept(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and MASK in out and "@" in out
    assert redact(out) == out


@pytest.mark.parametrize("text", ["http://127.0.0.1:8080/v1", "https://[::1]:443/v1", "see https://api.openai.com/v1/models", "mailto:user@host"])
def test_urls_without_a_password_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_split_userinfo() -> None:
    assert split_userinfo("http://svc:p%40ss@127.0.0.1:8080/v1?x=1") == ("http://127.0.0.1:8080/v1?x=1", "svc", "p@ss")
    assert split_userinfo("https://token@host/v1") == ("https://host/v1", "token", "")
    assert split_userinfo("https://api.openai.com/v1") == ("https://api.openai.com/v1", "", "")
    assert split_userinfo("http://u:p@proxy:3128")[0] == "http://proxy:3128"
    for bad in ("http://[::1/v1", "", "not a url", "http://a@b@c/d", "://x:y@"):
        split_userinfo(bad)  # never raises: it runs before the URL is validated


# ---- valid output ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ['api-key: abc"def', 'cookie: a="b"; c=d', 'Authorization: Bearer tok"en-0123456789', "authorization: x\\", "x-api-key: \\u0041bc"])
def test_redact_over_json_text_keeps_it_valid(value: str) -> None:
    text = json.dumps({"h": value, "list": [value, {"k": value}]})
    out = redact(text)
    json.loads(out)  # a header-value pattern that ate the backslash of \" made this invalid
    assert redact(out) == out


def test_a_json_key_whose_value_is_not_a_string_is_left_to_the_structure() -> None:
    text = '{"cookie": 5, "authorization": null, "api-key": {"a": 1}}'
    assert json.loads(redact(text)) == json.loads(text)


def test_header_pairs_in_reprs_are_masked() -> None:
    value = secrets.token_hex(12)
    for text in (f"[(b'x-api-key', b'{value}')]", f"{{'api-key': '{value}'}}", f'{{"cookie": "session={value}"}}'):
        assert value not in redact(text), text


def test_redact_obj_masks_values_keys_and_header_records() -> None:
    hexkey = secrets.token_hex(16)
    data: dict[Any, Any] = {
        CANARY: "a key as a dict key",
        "Authorization": "Bearer anything",
        "headers": [{"name": "api-key", "value": hexkey}, {"name": "x-request-id", "value": "req_1"}],
        "pairs": [("cookie", "session=abc"), ("server", "nginx")],
        "raw": CANARY.encode(),
        "tuple": (1, 2.5, None, True),
        "set": {f"Bearer {CANARY}"},
        "object": Path(f"/tmp/{CANARY}"),
        7: "int key",
    }
    out = redact_obj(data)
    text = json.dumps(out)
    json.loads(text)
    assert_no_leak(text)
    assert hexkey not in text and "session=abc" not in text
    assert out["Authorization"] == MASK and out["headers"][1]["value"] == "req_1" and out["pairs"][1] == ["server", "nginx"]
    assert out["tuple"] == [1, 2.5, None, True] and out[7] == "int key"


def test_redact_obj_and_headers_keep_colliding_keys_apart() -> None:
    out = redact_obj({CANARY: 1, CANARY.lower(): 2, MASK: 3})
    assert sorted(out.values()) == [1, 2, 3] and len(out) == 3
    assert len(redact_headers([(CANARY, "a"), (CANARY.upper(), "b"), ("x-ok", "c")])) == 3


def test_redact_obj_survives_hostile_nesting() -> None:
    deep: Any = CANARY
    for _ in range(5000):
        deep = [deep]
    json.dumps(redact_obj(deep))  # no RecursionError, nothing deeper than the cap
    assert_no_leak(str(redact_obj(deep)))


# ---- properties ------------------------------------------------------------------------------------------------
_FORM_VALUES = sorted(FORMS.values())
_TOKENS = ["authorization: ", "Authorization: Bearer ", "api-key=", "'x-api-key': '", '"cookie": "', "Bearer ", "sk-proj-", "http://u:",
           "@h/", "\\", '"', "'", "\\u00", "%2", "\r\n", "\t", ":", "=", " ", "[REDACTED]", "&quot;", "\\/", "b'", "0123456789abcdef",
           "\\\\", "\\r", "\\n", "%41", "\\u0041", "\\x41"]
_planted = st.builds(lambda pre, form, post: pre + form + post, st.text(max_size=12), st.sampled_from(_FORM_VALUES), st.text(max_size=12))
_tricky = st.lists(st.sampled_from(_TOKENS) | st.sampled_from(_FORM_VALUES) | st.text(max_size=4), max_size=14).map("".join)
_strings = _planted | _tricky | st.text(max_size=30)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_strings, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400)
@given(_json)
def test_property_redact_obj_then_serialize_is_valid_json_without_the_canary(data: Any) -> None:
    text = json.dumps(redact_obj(data))
    json.loads(text)
    assert_no_leak(text)


@settings(max_examples=400)
@given(_json)
@example({"h": f'api-key: x"{CANARY}'})
def test_property_redact_never_breaks_json_text(data: Any) -> None:
    text = json.dumps(data)
    out = redact(text)
    json.loads(out)
    assert_no_leak(out)


@settings(max_examples=400)
@given(_strings)
@example(FORMS["json \\u-escaped twice"])
@example("\\" + FORMS["json \\u-escaped"])
@example("authorization: \\0123456789abcdefauthorization: ")  # a fragment masked first hid what stopped the header rule
def test_property_redact_is_idempotent_and_canary_free(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    assert_no_leak(once)


def test_base64_alignment_covers_every_embedding() -> None:
    # the key at each byte offset inside longer encoded data, padded or not, both alphabets
    for offset in range(6):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"u" * offset + CANARY.encode() + b"!?").decode()
            assert_no_leak(redact(encoded), redact(encoded.rstrip("=")))


def test_a_url_pasted_as_the_key_is_not_registered_but_its_password_is_masked() -> None:
    pasted = Secret("https://user:Pa55wordPa55@api.example-gateway.test/v1")
    assert redact("calling https://api.example-gateway.test/v1/models") == "calling https://api.example-gateway.test/v1/models"
    assert "Pa55wordPa55" not in redact(f"key was {pasted.reveal()}")


@pytest.mark.parametrize("text", [
    '{"client_secret": "Zq8vK2mN4pX7rT1w"}', "client-secret=Zq8vK2mN4pX7rT1w", "password: Zq8vK2mN4pX7rT1w (from the vault)",
    "{'access_token': 'Zq8vK2mN4pX7rT1w'}", "refresh-token=Zq8vK2mN4pX7rT1w", '"apikey":"Zq8vK2mN4pX7rT1w"', "secret = Zq8vK2mN4pX7rT1w",
    "ACCESS_TOKEN: Bearer Zq8vK2mN4pX7rT1w",
])
def test_credential_names_beyond_headers_mask_their_value(text: str) -> None:
    # once only the classifier's evidence masked these (a second pass in classify.py); now the one masking pass does
    masked = redact(text)
    assert "Zq8vK2mN4pX7rT1w" not in masked and MASK in masked
    assert redact(masked) == masked


def test_words_that_only_start_like_a_credential_name_stay() -> None:
    for text in ("secretary: Bob", "passwords are checked", "tokens: 1200", "my password is long"):
        assert redact(text) == text
