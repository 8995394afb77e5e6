"""`create_app(settings)`: the only module a server imports (`omnicx.asgi:create_app`)."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from omnicx import __version__, web
from omnicx.api import audit, errors, security, stream
from omnicx.api.routes import (
    access,
    admin,
    analytics,
    analytics_service,
    broadcasts,
    channel_webhooks,
    chat,
    commerce_catalog,
    commerce_inventory,
    commerce_orders,
    commerce_returns,
    consent,
    conversation_messages,
    conversations,
    customers,
    decisions,
    desk,
    inapp,
    journeys,
    loyalty,
    preferences,
    privacy,
    push,
    segments,
    tasks,
    templates,
    tracking,
    voice_store,
)
from omnicx.bootstrap import Services, build
from omnicx.channels import email as email_channel
from omnicx.config import Settings, load_settings
from omnicx.workers import Worker, WorkerProcess


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    return app_for(build(settings), run_worker=settings.run_worker, run_smtp=settings.smtp_enabled)


def _linux() -> bool:
    return sys.platform.startswith("linux")


def app_for(services: Services, *, run_worker: bool, run_smtp: bool = False) -> FastAPI:
    """The app; `run_smtp` starts the SMTP listener (inbound email) with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker: Worker | WorkerProcess | None = None
        smtp: email_channel.SmtpListener | None = None
        if run_smtp:
            smtp = email_channel.build_listener(
                services.settings,
                services.cipher,
                services.clock,
                services.receive_inbound,
                bounced=services.record_bounce,
            )
            smtp.start()
            app.state.smtp = smtp
        # The child is woken through a Linux abstract socket; elsewhere the worker is a thread.
        if run_worker and services.settings.worker_mode == "process" and _linux():
            worker = WorkerProcess(services.settings, services.live)
            services.wakeup = worker.wakeup
        elif run_worker:
            worker = Worker(services)
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if smtp is not None:
                smtp.stop()
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="omnicx",
        version=__version__,
        lifespan=lifespan,
        description="One customer, every channel, no lost context.",
    )
    app.state.services = services
    # Inside the input guard: the providers' webhooks skip routing, not its limits.
    app.add_middleware(channel_webhooks.WebhookFastPath, services=services)
    errors.install(app, max_body_bytes=services.settings.max_request_bytes)
    audit.install(app, services)
    app.include_router(tracking.router)
    app.add_middleware(tracking.TrackingFastPath, services=services)
    security.install(app, services)
    # Providers' webhooks carry every inbound message: matched first, they skip the scan
    # of the other routers' paths.
    app.include_router(channel_webhooks.router)
    app.include_router(access.router)
    app.include_router(customers.router)
    app.include_router(conversations.router)
    app.include_router(conversation_messages.router)
    app.include_router(desk.router)
    app.include_router(consent.router)
    app.include_router(preferences.router)
    app.include_router(admin.router)
    app.include_router(privacy.router)
    app.include_router(segments.router)
    app.include_router(decisions.router)
    app.include_router(broadcasts.router)
    app.include_router(templates.router)
    app.include_router(templates.public)
    app.include_router(journeys.router)
    app.include_router(tasks.router)
    app.include_router(chat.router)
    app.include_router(push.router)
    app.include_router(inapp.router)
    app.include_router(voice_store.router)
    app.include_router(commerce_catalog.router)
    app.include_router(commerce_inventory.router)
    app.include_router(commerce_orders.router)
    app.include_router(commerce_returns.router)
    app.include_router(loyalty.router)
    app.include_router(analytics_service.router)
    app.include_router(analytics.router)
    app.include_router(stream.router)
    web.install(app)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, object]:
        with services.uow(write=False) as uow:
            dead = services.events(uow).count_dead_letters()
        return {"status": "ok", "pending_events": services.queue.pending(), "dead_letters": dead}

    return app
