"""The app inside the test process, as a server runs it (its lifespan started: engine, vote
sink, caches) and a client of it over ASGI (no socket)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from config import Settings
from main import create_app
from model.clock import Clock, system_clock


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    """A client of `app` in this process; the app's lifespan is the caller's."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """`app` with its lifespan running, and a client of it."""
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield client


@asynccontextmanager
async def serving(
    settings: Settings, clock: Clock = system_clock
) -> AsyncIterator[httpx.AsyncClient]:
    """The app built from `settings` (a server process started with them), running, and a
    client of it."""
    async with running(create_app(settings, clock=clock)) as client:
        yield client
