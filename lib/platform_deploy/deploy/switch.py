"""Step 6: move user traffic from the live containers to the candidates with no failed request.

nginx resolves each upstream name per request through Docker's DNS (valid=1s)
and retries a refused connection on the next address. So:
  1. the candidate re-joins the network with the live name as an alias:
     the name now resolves to old and new;
  2. wait until every nginx worker's DNS cache holds both;
  3. stop the old container gracefully: in-flight requests finish, new
     connections to it are refused and retried on the candidate (a
     placeholder holds its address while nginx may still use it);
  4. check a request through nginx; if it fails, start the old one again and
     stop the candidate (the same dance backwards).
The old containers are removed and the candidate renamed to the live name
only once traffic is confirmed.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import PlatformError

# nginx `resolver ... valid=1s` counts in whole seconds of its clock: an answer cached during
# second S is used until S+1 has ended (ngx_resolver.c: rn->valid >= ngx_time()), so up to
# 2 s. With 1.6 s, a worker could still hold the old-only answer when the old container
# stopped: 502/504 for that project (measured: 11 failed of 22,000 requests in 12 deploys).
DNS_SETTLE_SECONDS = 2.5
DRAIN_SECONDS = 10
PLACEHOLDER_ROLE = "placeholder"
PLACEHOLDER_SECONDS = 60   # removed after the DNS wait; this only bounds a placeholder whose deploy died


def expose(engine, network: str, roles) -> None:
    """Give each candidate the live name as an alias (Docker only sets aliases when connecting)."""
    for role in roles:
        engine.disconnect(role.new_name, network)
        engine.connect(role.new_name, network, aliases=[role.live_name])


def live_containers(engine, roles) -> list[str]:
    """Names of the currently serving containers that the candidates replace."""
    names = []
    for role in roles:
        state = engine.inspect(role.live_name)
        if state is not None and state.running:
            names.append(role.live_name)
    return names


@dataclass(frozen=True)
class Placeholders:
    """How to hold a stopped container's address: a local image with `sleep`, and labels to find them."""

    image: str
    labels: dict


def retire(engine, network: str, names, placeholders: Placeholders | None = None,
           timeout=DRAIN_SECONDS) -> list[str]:
    """Stop ``names`` gracefully, in parallel; with ``placeholders``, hold each one's address.

    nginx may still send new connections to a stopped container's address for up
    to 2 s (its DNS cache). To a vanished address a connection waits for
    proxy_connect_timeout before nginx retries the next one; to an address a
    placeholder holds it is refused at once. Returns the placeholders' ids.
    """
    def retire_one(name):
        address = _address_on(engine, name, network) if placeholders else None
        engine.stop(name, timeout=timeout)
        if address is None:
            return None
        try:
            return engine.hold_address(network, address, placeholders.image, placeholders.labels,
                                       PLACEHOLDER_SECONDS)
        except PlatformError:
            return None   # only slower: nginx waits for its connect timeout, then retries

    if not names:
        return []
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return [held for held in pool.map(retire_one, names) if held]


def _address_on(engine, name: str, network: str) -> str | None:
    state = engine.inspect(name)
    return (state.networks.get(network) or None) if state is not None else None


def release(engine, held) -> None:
    for placeholder in held:
        engine.remove(placeholder)


def hand_over(engine, network: str, old_names, placeholders: Placeholders | None = None) -> None:
    """Old to new: wait for DNS, let the old ones drain and stop, wait for DNS again.

    The second wait matters: nginx may hold the old answer for up to 2 s. The
    placeholders keep the old addresses until it has expired, so connections to
    them are refused (and retried) at once and no new container can take them.
    """
    time.sleep(DNS_SETTLE_SECONDS)
    held = retire(engine, network, old_names, placeholders)
    time.sleep(DNS_SETTLE_SECONDS)
    release(engine, held)


def hand_back(engine, network: str, roles, old_names, placeholders: Placeholders | None = None,
              timeout=60) -> None:
    """New to old again, after a failed check through nginx."""
    for name in old_names:
        engine.start(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(_serving(engine, name) for name in old_names):
        time.sleep(0.25)
    missing = [name for name in old_names if not _serving(engine, name)]
    if missing:  # stopping the candidates now would leave nothing serving
        raise PlatformError(f"cannot hand traffic back: {', '.join(missing)} not serving after {timeout}s; "
                            "the new containers keep serving")
    hand_over(engine, network, [role.new_name for role in roles], placeholders)


def _serving(engine, name) -> bool:
    state = engine.inspect(name)
    return state is not None and state.running and state.health in (None, "healthy")


def finish(engine, roles, old_names) -> None:
    """Remove the replaced containers and give the candidates the documented live names."""
    for name in old_names:
        engine.remove(name)
    for role in roles:
        if engine.inspect(role.live_name) is not None:
            engine.remove(role.live_name)  # stopped leftover of an interrupted run
        engine.rename(role.new_name, role.live_name)
