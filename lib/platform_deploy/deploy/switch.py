"""Step 6: move user traffic from the live containers to the candidates with no failed request.

nginx resolves each upstream name per request through Docker's DNS (valid=1s)
and retries a refused connection on the next address. So:
  1. the candidate re-joins the network with the live name as an alias:
     the name now resolves to old and new;
  2. wait until every nginx worker's DNS cache holds both;
  3. drain the old container: new connections to it are refused at once and
     retried on the candidate, the requests in flight finish; then stop it
     (an app that ignores SIGTERM is killed a second later: nothing is left in
     flight) and let a placeholder hold its address while nginx may still use it;
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
# A placeholder's own timer: nginx may use a vanished address for up to 2 s. `release` removes it
# after DNS_SETTLE_SECONDS; the timer only matters when the deploy that started it was killed.
PLACEHOLDER_SECONDS = 5


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
class Helpers:
    """What retiring runs beside a container: a local image with sh, awk, sleep and iptables (platform-nginx's),
    and the labels that find what it started."""

    image: str
    labels: dict


def helpers_for(engine, settings, labels: dict) -> Helpers | None:
    """Helpers from platform-nginx's image (on every platform host, nothing to pull); None without it."""
    nginx = engine.inspect(settings.nginx_container)
    return Helpers(nginx.image_id, labels) if nginx is not None else None


# Run beside the retiring container, in its network namespace: from now on a new connection
# to its port is answered with a reset at once (nginx retries it on the next address, POSTs
# too: nothing was sent), while the connections it has go on. Then wait until none is left
# (state 01 = ESTABLISHED in /proc/net/tcp*, local port in hex), at most $2 seconds.
DRAIN_SCRIPT = r"""
port=$(printf ':%04X' "$1"); until=$(( $(date +%s) + $2 ))
iptables -w 5 -I INPUT -p tcp --dport "$1" --syn -j REJECT --reject-with tcp-reset || exit 3
while :; do
    left=$(awk -v port="$port" 'FNR > 1 && $4 == "01" && substr($2, length($2) - 4) == port' \
           /proc/net/tcp /proc/net/tcp6 2>/dev/null | wc -l)
    [ "$left" -eq 0 ] || [ "$(date +%s)" -ge "$until" ] && break
    sleep 0.1
done
echo "$left"
"""
# Undo a drain in a container that still runs (its deploy was killed half-way): take the rule out again.
REOPEN_SCRIPT = r"""
while iptables -w 5 -D INPUT -p tcp --dport "$1" --syn -j REJECT --reject-with tcp-reset 2>/dev/null; do :; done
"""
STOP_AFTER_DRAIN_SECONDS = 1   # drained: SIGTERM, then SIGKILL for an app that ignores it


def drain(engine, name: str, port: int, helpers: Helpers, timeout: int = DRAIN_SECONDS) -> bool:
    """Close ``name`` to new connections and wait for its requests in flight; False when that could not
    be done (no iptables in the helper image, say): the caller then stops it the slow way."""
    return _beside(engine, name, helpers, DRAIN_SCRIPT, "drain", port, timeout)


def reopen(engine, name: str, port: int, helpers: Helpers) -> bool:
    """Let ``name`` take new connections again after a drain (of a deploy killed before it stopped it)."""
    return _beside(engine, name, helpers, REOPEN_SCRIPT, "reopen", port, 0)


def _beside(engine, name: str, helpers: Helpers, script: str, what: str, port: int, timeout: int) -> bool:
    try:
        result = engine.run_beside(name, helpers.image, ["sh", "-c", script, what, str(port), str(timeout)],
                                   helpers.labels, capabilities=("NET_ADMIN",), timeout=timeout + 30)
    except PlatformError:
        return False
    return result.exit_code == 0


def retire(engine, network: str, retiring: dict, helpers: Helpers | None = None,
           timeout=DRAIN_SECONDS) -> list[str]:
    """Stop the containers ``retiring`` ({name: port}) without a failed request, in parallel.

    Each is drained first (see DRAIN_SCRIPT), so it is stopped with nothing in flight and
    without waiting for an app that ignores SIGTERM. nginx may still send new connections
    to its address for up to 2 s after (its DNS cache): a placeholder then holds the address,
    so they are refused and retried at once instead of waiting for proxy_connect_timeout.
    The placeholders remove themselves once nginx cannot use the address any more. Returns
    their ids.
    """
    def retire_one(name, port):
        address = _address_on(engine, name, network) if helpers else None
        drained = helpers is not None and port is not None and drain(engine, name, port, helpers, timeout)
        engine.stop(name, timeout=STOP_AFTER_DRAIN_SECONDS if drained else timeout)
        if address is None:
            return None
        try:
            return engine.hold_address(network, address, helpers.image, helpers.labels, PLACEHOLDER_SECONDS)
        except PlatformError:
            return None   # only slower: nginx waits for its connect timeout, then retries

    if not retiring:
        return []
    with ThreadPoolExecutor(max_workers=len(retiring)) as pool:
        return [held for held in pool.map(retire_one, *zip(*retiring.items())) if held]


def _address_on(engine, name: str, network: str) -> str | None:
    state = engine.inspect(name)
    return (state.networks.get(network) or None) if state is not None else None


@dataclass(frozen=True)
class Held:
    """Placeholders holding retired addresses, and when the last one was started."""

    ids: tuple[str, ...] = ()
    since: float = 0.0


def hand_over(engine, network: str, retiring: dict, helpers: Helpers | None = None) -> Held:
    """Old to new: once nginx's DNS cache knows the new addresses, retire the old containers.

    Nothing to retire (a first deploy): no wait at all. The placeholders are the caller's to
    ``release``: a deploy does it after it has reported, since only a timer is left to run out.
    """
    if not retiring:
        return Held()
    time.sleep(DNS_SETTLE_SECONDS)
    return Held(tuple(retire(engine, network, retiring, helpers)), time.monotonic())


def release(engine, held: Held) -> None:
    """Remove the placeholders once nginx cannot use their addresses any more (they would go by themselves
    after PLACEHOLDER_SECONDS: this only does it sooner, so nothing is left when a command ends)."""
    if not held.ids:
        return
    time.sleep(max(0.0, held.since + DNS_SETTLE_SECONDS - time.monotonic()))
    for placeholder in held.ids:
        try:
            engine.remove(placeholder)
        except PlatformError:
            pass   # gone by itself, or the engine went away: its own timer removes it


def hand_back(engine, network: str, roles, old_names, helpers: Helpers | None = None, timeout=60) -> None:
    """New to old again, after a failed check through nginx (or to undo a deploy killed while switching).

    An old container that still runs may have been drained by a deploy killed before it stopped
    it: it is opened again. A stopped one starts in a new network namespace, without the rule.
    """
    ports = {role.live_name: role.port for role in roles}
    for name in old_names:
        state = engine.inspect(name)
        if state is not None and state.running:
            if helpers is not None and ports.get(name) is not None:
                reopen(engine, name, ports[name], helpers)
        else:
            engine.start(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(_serving(engine, name) for name in old_names):
        time.sleep(0.25)
    missing = [name for name in old_names if not _serving(engine, name)]
    if missing:  # stopping the candidates now would leave nothing serving
        raise PlatformError(f"cannot hand traffic back: {', '.join(missing)} not serving after {timeout}s; "
                            "the new containers keep serving")
    release(engine, hand_over(engine, network, {role.new_name: role.port for role in roles}, helpers))


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
