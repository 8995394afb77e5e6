"""The marketer pages: segments and journeys (`segments.*` and `journeys.*` permissions)."""

from fastapi import APIRouter

from omnicx.web.pages.marketing import journeys, release, segments

router = APIRouter()
router.include_router(segments.router)
router.include_router(release.router)
router.include_router(journeys.router)
