"""The application opened on a local home, as the CLI uses it: an engine, the home's
accountability store and the local actor (``os:<login>``).

    with open_local(settings) as local:
        record = search(local.engine, local.store, local.actor, SearchRequest("probe.jpg"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from facesearch.accountability import Actor, local_actor
from facesearch.pipeline import FacePipeline
from facesearch.settings import Settings

if TYPE_CHECKING:  # imported when a home is opened: the CLI's embed needs neither
    from facesearch.accountability import AccountabilityStore
    from facesearch.engine import Engine

__all__ = ["Local", "PipelineFactory", "open_local"]

PipelineFactory = Callable[[Settings], FacePipeline]


@dataclass(frozen=True)
class Local:
    engine: Engine
    store: AccountabilityStore
    actor: Actor

    @property
    def settings(self) -> Settings:
        return self.engine.settings


@contextmanager
def open_local(
    settings: Settings,
    *,
    pipelines: PipelineFactory = FacePipeline,
    gallery: bool = True,
    actor: Actor | None = None,
) -> Iterator[Local]:
    """The engine (with the gallery unless ``gallery`` is False: a 1:1 comparison needs
    none), the store of the home with the settings' account policy, and the local actor."""
    from facesearch.accountability import AccountabilityStore
    from facesearch.engine import Engine

    engine = Engine(settings, open_catalog=gallery, pipeline=pipelines(settings))
    try:
        with AccountabilityStore.from_settings(settings) as store:
            me = actor or local_actor()
            if me.org is not None:  # as the store spells it; NotFoundError for an unknown one
                me = replace(me, org=store.orgs.get(me.org).name)
            yield Local(engine, store, me)
    finally:
        engine.close()
