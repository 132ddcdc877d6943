"""A chain "daemon" for the kill -9 tests: the real engine, chain driver and media pipeline,
on the draft provider or the real KlingProvider (against an emulator).

``python -m tests.chains.driver draft|kling CLIP [--api-base URL] [--submit WORKFLOW]
[--die-after-link N] [--die-when-running N]`` submits a chain (with --submit), runs until
every chain has ended, and prints each chain as JSON. ``--die-after-link N`` kills the
process with SIGKILL the moment link N's job has succeeded (its row durable, the next link
not created yet: the instant between two links); ``--die-when-running N`` the moment link
N's task is held by the provider. State lives under KLING_BRIDGE_HOME, so the next run
recovers what a killed one left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from kling_bridge.config import Paths
from kling_bridge.hosting import SignedLinkHost
from kling_bridge.jobs import model as m
from kling_bridge.jobs.chain_model import PENDING_SOURCE, LinkPlan, pending_source
from kling_bridge.jobs.chains import Chains
from kling_bridge.jobs.engine import Engine
from kling_bridge.specs import GenerateSpec, Look, RestyleSpec, SourceRange
from tests.chains.small import draft_engine
from tests.providers.conftest import CREDENTIALS
from tests.providers.kling_engine import build_engine


def plans(workflow: str, clip: str) -> list[LinkPlan]:
    if workflow == "generate_then_restyle":
        gen = GenerateSpec(prompt="a harbour at dawn", duration=3, resolution="720p")
        restyle = RestyleSpec(source=pending_source(3), look=Look("film-noir"),
                              resolution="720p")
        return [LinkPlan(m.JobKind.GENERATE, gen, "harbour"),
                LinkPlan(m.JobKind.RESTYLE, restyle, "harbour · film-noir", after=0)]
    restyle = RestyleSpec(source=SourceRange(clip, 0, 80, "25"), look=Look("anime-cel"),
                          resolution="720p")
    broll = GenerateSpec(prompt="the street", duration=3, resolution="720p",
                         model="kling-3.0-omni", feature_video=PENDING_SOURCE)
    return [LinkPlan(m.JobKind.RESTYLE, restyle, "A001 · anime-cel"),
            LinkPlan(m.JobKind.GENERATE, broll, "A001 · more like this", after=0,
                     feed="feature")]


def die_at(chains: Chains, link: int, state: m.JobState) -> None:
    """SIGKILL this process when link ``link``'s job reaches ``state`` (hooked before the
    chain driver's own hook, so nothing after the durable transition runs)."""

    def hook(job: m.Job) -> None:
        if job.state is not state:
            return
        rows = chains.store.read("SELECT job_id FROM chain_links WHERE idx = ?", (link,))
        if any(r[0] == job.id for r in rows):
            os.kill(os.getpid(), signal.SIGKILL)

    chains.engine.hooks.insert(0, hook)


async def main(args: argparse.Namespace) -> None:
    paths = Paths.resolve().ensure()
    host = None
    engine: Engine
    if args.provider == "kling":
        host = SignedLinkHost(paths.data_dir / "hosted", paths.config_dir / "media-link.key",
                              listen_port=0)
        engine, _ = build_engine(args.api_base, CREDENTIALS["new"], host, paths.cache_dir / "k")
    else:
        engine = draft_engine(paths)
    chains = Chains(engine)
    if args.die_after_link is not None:
        die_at(chains, args.die_after_link, m.JobState.SUCCEEDED)
    if args.die_when_running is not None:
        die_at(chains, args.die_when_running, m.JobState.RUNNING)
    await engine.start()
    await chains.start()
    if args.submit:
        done = await chains.submit(plans(args.submit, args.clip), kind=args.submit,
                                   provider=args.provider, request={})
        print(json.dumps({"submitted": done.chain_id}), flush=True)
    ids = [r[0] for r in engine.store.read("SELECT id FROM chains ORDER BY id")]
    while any((chains.describe(c) or {}).get("state") == "running" for c in ids):
        await asyncio.sleep(0.05)
    for chain_id in ids:
        print(json.dumps(chains.describe(chain_id)), flush=True)
    await chains.stop()
    await engine.stop()
    for provider in engine.providers.values():
        await provider.aclose()
    engine.store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("provider", choices=["draft", "kling"])
    p.add_argument("clip")
    p.add_argument("--api-base", default="")
    p.add_argument("--submit", choices=["generate_then_restyle", "restyle_then_broll"])
    p.add_argument("--die-after-link", type=int)
    p.add_argument("--die-when-running", type=int)
    a = p.parse_args(sys.argv[1:])
    a.clip = str(Path(a.clip))
    asyncio.run(main(a))
