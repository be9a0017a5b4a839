"""The console's HTML: sign-in and sign-out, one page per view, its static files, and ``/docs``
served from the vendored Swagger UI (nothing is loaded from the internet).

A page is a shell (navigation, language switch, the CSRF token, the words of its language as
JSON); ``static/console.js`` fills it from the ``/v1/admin`` JSON routes, which scripts can
call with an admin key as well.
"""

from __future__ import annotations

import hmac
import html
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from serving.console.i18n import LANG_COOKIE, LANGUAGES, STRINGS, language_of
from serving.console.session import (
    COOKIE,
    SESSION_SECONDS,
    Session,
    is_admin_key,
    session_of,
    signer_of,
)

STATIC = Path(__file__).parent / "static"
VENDOR = "/console/static/vendor"
PAGES = ("overview", "monitoring", "users", "items", "experiments", "deploy")
MAX_FORM_BYTES = 4096
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
LANG_NAMES = {"zh-CN": "中文", "en": "English"}

router = APIRouter(include_in_schema=False)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _page_response(request: Request, body: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(body, status_code=status, headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"})
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="strict",
                            secure=_secure(request), httponly=True, path="/")
    return response


def _switch(lang: str, path: str) -> str:
    links = []
    for code in LANGUAGES:
        current = ' aria-current="true" class="on"' if code == lang else ""
        links.append(f'<a href="{path}?lang={code}" data-lang="{code}"{current}>'
                     f"{LANG_NAMES[code]}</a>")
    return f'<span class="lang">{" | ".join(links)}</span>'


def _document(lang: str, title: str, body: str, *, page: str = "", csrf: str = "",
              scripts: bool = False) -> str:
    words = STRINGS[lang]
    tail = ""
    if scripts:
        # JSON escapes, not HTML entities: a script element's text is not decoded by the parser
        strings = (orjson.dumps(words).decode().replace("<", "\\u003c")
                   .replace(">", "\\u003e").replace("&", "\\u0026"))
        tail = (f'<script type="application/json" id="i18n">{strings}</script>'
                f'<script src="{VENDOR}/chartjs/chart.umd.min.js"></script>'
                '<script src="/console/static/console.js"></script>')
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="csrf-token" content="{html.escape(csrf)}">'
            f"<title>{html.escape(title)} · {html.escape(words['app'])}</title>"
            '<link rel="icon" href="data:,">'
            '<link rel="stylesheet" href="/console/static/console.css"></head>'
            f'<body data-page="{page}">{body}{tail}</body></html>')


def _login_page(request: Request, message: str = "", status: int = 200) -> HTMLResponse:
    lang = language_of(request)
    words = STRINGS[lang]
    note = f'<p class="message" role="alert">{html.escape(message)}</p>' if message else ""
    body = (f'<main class="login"><h1>{html.escape(words["app"])}</h1>'
            f'{_switch(lang, "/console/login")}{note}'
            '<form method="post" action="/console/login">'
            f'<label for="key">{words["admin_key"]}</label>'
            '<input id="key" name="key" type="password" autocomplete="current-password" '
            'required autofocus>'
            f'<p class="hint">{words["sign_in_hint"]}</p>'
            f'<button type="submit" id="sign-in">{words["sign_in"]}</button></form></main>')
    return _page_response(request, _document(lang, words["sign_in"], body), status)


async def _form(request: Request) -> dict[str, str]:
    """A small url-encoded form (anything else, or more than ``MAX_FORM_BYTES``: empty)."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    try:
        parsed = parse_qs(raw.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in parsed.items() if values}


def _cross_site(request: Request) -> bool:
    """A form posted from another site (its ``Origin`` names another host): refused, so that
    no page elsewhere can sign a browser in or out."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.headers.get("host", "")


@router.get("/console")
async def console_home() -> RedirectResponse:
    return RedirectResponse("/console/overview", status_code=303)


@router.get("/console/login")
async def login_page(request: Request) -> Response:
    if await session_of(request) is not None:
        return RedirectResponse("/console/overview", status_code=303)
    message = STRINGS[language_of(request)]["signed_out"] if "out" in request.query_params else ""
    return _login_page(request, message)


@router.post("/console/login")
async def login(request: Request) -> Response:
    if _cross_site(request):
        return _login_page(request, "cross-site sign-in refused", status=403)
    key = (await _form(request)).get("key", "").strip()
    if not key or not is_admin_key(request, key):
        return _login_page(request, STRINGS[language_of(request)]["bad_key"], status=401)
    cookie, _ = (await signer_of(request)).issue(key)
    response = RedirectResponse("/console/overview", status_code=303)
    response.set_cookie(COOKIE, cookie, max_age=SESSION_SECONDS, httponly=True,
                        samesite="strict", secure=_secure(request), path="/")
    return response


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    """Ends the session (the form carries the CSRF token; without a valid one, nothing
    changes)."""
    session = await session_of(request)
    token = (await _form(request)).get("csrf", "")
    if _cross_site(request) or (session is not None and not hmac.compare_digest(
            token.encode(), session.csrf.encode())):
        return RedirectResponse("/console/overview", status_code=303)
    response = RedirectResponse("/console/login?out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=_secure(request))
    return response


def _shell(request: Request, page: str, session: Session) -> HTMLResponse:
    lang = language_of(request)
    words = STRINGS[lang]
    on = ' aria-current="page" class="on"'
    nav = "".join(
        f'<a href="/console/{name}" data-nav="{name}"{on if name == page else ""}>'
        f"{words[name]}</a>" for name in PAGES)
    header = (f'<header><strong class="brand">{html.escape(words["app"])}</strong>'
              f'<nav>{nav}<a href="/docs">{words["docs"]}</a></nav>'
              f'{_switch(lang, f"/console/{page}")}'
              '<form method="post" action="/console/logout" class="out">'
              f'<input type="hidden" name="csrf" value="{html.escape(session.csrf)}">'
              f'<button type="submit" id="sign-out">{words["sign_out"]}</button></form>'
              "</header>")
    body = (f'{header}<main id="main"><h1>{words[page]}</h1>'
            f'<div id="content" aria-busy="true">{words["loading"]}</div></main>')
    return _page_response(request, _document(lang, words[page], body, page=page,
                                             csrf=session.csrf, scripts=True))


def _page_route(page: str) -> None:
    async def show(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return RedirectResponse("/console/login", status_code=303)
        return _shell(request, page, session)

    show.__name__ = f"console_{page}"
    router.add_api_route(f"/console/{page}", show, methods=["GET"])


for _page in PAGES:
    _page_route(_page)


def install(app: FastAPI) -> None:
    """Add the console, its static files and ``/docs`` (local Swagger UI) to ``app`` (built
    with ``docs_url=None``)."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})  # no call to the online validator

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
