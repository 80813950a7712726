"""The OpenAPI UI, served with gridwatch's own copy of Swagger UI (installed from npm into
map_ui/node_modules at setup): government intranets have no CDN."""

from __future__ import annotations

import os

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.config import PROJECT_ROOT

VENDOR = PROJECT_ROOT / "map_ui" / "node_modules"
SWAGGER = VENDOR / "swagger-ui-dist"
APP_STATIC = PROJECT_ROOT / "map_ui" / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/map")


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/docs")
def docs() -> HTMLResponse:
    if not (SWAGGER / "swagger-ui-bundle.js").exists():
        return HTMLResponse(
            "<p>The API UI needs its assets: run <code>make assets</code> (npm install in "
            "map_ui). The API description is at <a href='/openapi.json'>/openapi.json</a>.</p>",
            status_code=503,
        )
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="gridwatch API",
        swagger_js_url="/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url="/static/vendor/swagger-ui-dist/favicon-32x32.png",
    )


class VendorFiles(StaticFiles):
    """npm packages, but only what pages load (scripts, styles, images, fonts): never their
    demo or coverage HTML pages, which would run on gridwatch's origin."""

    ALLOWED = (".js", ".css", ".map", ".png", ".svg", ".gif", ".woff", ".woff2", ".ttf")

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if not path.lower().endswith(self.ALLOWED) or "/node_modules/" in f"/{path}":
            return "", None
        return super().lookup_path(path)


def install(app: FastAPI) -> None:
    """The docs page and the static assets: npm-installed libraries under /static/vendor,
    gridwatch's own page scripts and styles under /static/app."""
    app.include_router(router)
    if VENDOR.exists():
        app.mount("/static/vendor", VendorFiles(directory=VENDOR), name="vendor")
    app.mount("/static/app", StaticFiles(directory=APP_STATIC), name="app-static")
