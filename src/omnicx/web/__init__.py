"""The web console: server-rendered pages for agents, store associates and marketers.

`install(app)` adds its pages and its static files (`/console/static/`). Pages get their data
from the same services as the JSON API and check the same permissions; the console's scripts
call `/api` with the session cookie and the CSRF token.
"""

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from omnicx.web.pages import (
    account,
    analytics,
    analytics_qr,
    conversation,
    conversation_actions,
    customers,
    inbox,
    store,
    store_sales,
)
from omnicx.web.pages.marketing import router as marketing_router

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(account.router)
    app.include_router(inbox.router)
    app.include_router(conversation.router)
    app.include_router(conversation_actions.router)
    app.include_router(customers.router)
    app.include_router(store.router)
    app.include_router(store_sales.router)
    app.include_router(marketing_router)
    app.include_router(analytics_qr.router)
    app.include_router(analytics.router)
