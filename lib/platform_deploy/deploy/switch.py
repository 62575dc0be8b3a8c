"""Step 6: move user traffic from the live containers to the candidates with no failed request.

nginx resolves each upstream name per request through Docker's DNS (valid=1s)
and retries a refused connection on the next address. So:
  1. ``expose``: the candidate re-joins the network with the live name as an
     alias: the name now resolves to old and new;
  2. ``hand_over``: at once, a hold beside nginx redirects nginx's new
     connections to each old container's address and port to its candidate
     (DNAT in nginx's network namespace): nginx may go on using the addresses
     it has cached, and every new connection lands on the new version, POSTs
     too; the requests in flight on the old ones finish there. No DNS cache
     has to expire first (that wait, 1.15 to 2.15 s, was half of a deploy);
  3. check a request through nginx; if it fails, ``hand_back``: lift the
     redirection, open the old ones again and close the candidates (a hold
     that refuses their addresses, from when nginx's DNS cache knows the old
     ones: see ``close``);
  4. ``finish``: the candidates take the live names, the old ones step aside;
  5. after the deploy has reported, ``retire`` the old containers: drain them
     (new connections from elsewhere refused in their own namespace, then wait
     for none to be left), stop them (an app that ignores SIGTERM is killed a
     second later: nothing is in flight), and lift the hold once nginx's DNS
     cache cannot hold their addresses any more. Only timers are left to run
     out there, and the hold lifts itself if this process is killed.
From the migrations until step 1 is done, a ``guard`` beside nginx: Docker's DNS
answers the live name with a candidate's address a moment before that address
takes packets (measured: 3 of 10 connections made as soon as a just-connected alias
resolved waited 1 s for a SYN retransmit), so nginx's workers are refused new
connections into the project network, the live containers' addresses excepted,
with a reset (and retry on the old containers at once) until a connection from the
guard (root, not refused) gets through to each candidate at its new address; the
redirection of step 2 comes after, so it only ever points at an address that takes
packets. The guard needs no address in advance: re-joining a container at a pinned
one would make Docker ask for that address again after an engine restart, when
another container may hold it (measured: the old version not starting again).
Candidates warm up (start, migrations, health and smoke tests) at an eighth of the
live containers' CPU weight, and ``expose`` gives them the full weight: on a busy
host their start-up then takes CPU time the live ones do not need, not the time
they need (measured: requests slower than 3 x the steady p99 while candidates
started, 179 of 1,921 at equal weight, 0 of 1,670 at an eighth).
Why rules beside nginx rather than a placeholder container on a stopped
address: a placeholder can only start once the old container's address is
free, and a connection sent in between waits for the 1 s SYN retransmit; the
rules are in place before the stop, so there is no gap (measured: p99 while
deploying went from 970 ms to the figure in docs/BENCHMARKS.md). Why redirect
rather than refuse once nginx's DNS cache has turned over: the same zero failed
requests, without the wait (bench/bench_deploy.py: 3.99 s a deploy before, the
figure in docs/BENCHMARKS.md after).
"""

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import naming
from ..config.model import DEFAULT_DRAIN_TIMEOUT
from ..errors import PlatformError

# nginx `resolver ... valid=1s` counts in whole seconds of its clock: an answer cached during
# second S is used until S+1 has ended (ngx_resolver.c: rn->valid >= ngx_time()), so until
# S+2. The margin covers a worker's cached clock (updated each time its event loop wakes, so
# milliseconds behind at most); the engine's DNS has changed when the connect call returns.
DNS_MARGIN_SECONDS = 0.15
DNS_LONGEST_SECONDS = 2 + DNS_MARGIN_SECONDS   # the longest settled_after can be away
DRAIN_SECONDS = DEFAULT_DRAIN_TIMEOUT   # per container: drain_timeout in projects.yml
STOP_AFTER_DRAIN_SECONDS = 1     # drained: SIGTERM, then SIGKILL for an app that ignores it
WARMING_CPU_SHARES = 128         # a candidate's CPU weight until it is exposed
SERVING_CPU_SHARES = 1024        # and from then on: Docker's default, the live containers'
HELPER_ROLE = naming.SWITCH_HELPER_ROLE   # the label role of the drain helpers
HOLD_ROLE = naming.HOLD_ROLE              # and of the holds beside nginx
HOLD_MARGIN_SECONDS = 120        # a hold lifts itself this long after the longest drain (a killed deploy's;
                                 # a live one lifts it after its cleanup and report)
HOLD_READY_SECONDS = 15          # how long a hold may take to be in place once due
GUARD_SECONDS = 300              # a guard lifts its rules after this long, whatever happened (a deploy lifts
                                 # it once the candidates take packets, or when it fails; recovery at once)
GUARD_READY_SECONDS = 5          # how long a guard may take to be in place
GUARD_OPEN_SECONDS = 10          # how long the switch waits for the candidates to take packets


def settled_after(changed_at: float) -> float:
    """The wall-clock time from which no nginx worker can hold a DNS answer from before ``changed_at``."""
    return math.floor(changed_at) + 2 + DNS_MARGIN_SECONDS


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def expose(engine, network: str, roles) -> float:
    """Give each candidate the live name as an alias (Docker only sets aliases when connecting) and its
    full CPU weight; return the wall-clock time from which the name resolves to them."""
    def alias(role):
        engine.disconnect(role.new_name, network)
        engine.connect(role.new_name, network, aliases=[role.live_name])

    with ThreadPoolExecutor(max_workers=max(1, 2 * len(roles))) as pool:
        weights = [pool.submit(engine.set_cpu_shares, role.new_name, SERVING_CPU_SHARES) for role in roles]
        list(pool.map(alias, roles))
        exposed_at = time.time()
        for weight in weights:
            weight.result()
    return exposed_at


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
    """What closing runs beside nginx and the containers: a local image with sh, awk, date and iptables
    (platform-nginx's), the nginx container, and the labels that find what it started."""

    image: str
    nginx: str
    labels: dict

    @property
    def hold_labels(self) -> dict:
        return {**self.labels, "platform.role": HOLD_ROLE}

    @property
    def hold_tag(self) -> str:
        """The comment on a hold's rules: one project/environment's, so that its leftovers can be swept."""
        return f"platform-hold-{self.labels['platform.project']}-{self.labels['platform.environment']}"

    @property
    def guard_tag(self) -> str:
        """The comment on a guard's rules: not the holds', whose start sweeps theirs."""
        return self.hold_tag + "-guard"


def helpers_for(engine, settings, labels: dict) -> Helpers | None:
    """Helpers from platform-nginx's image (on every platform host, nothing to pull); None without it."""
    nginx = engine.inspect(settings.nginx_container)
    return Helpers(nginx.image_id, settings.nginx_container, labels) if nginx is not None else None


# Both scripts start by sleeping until $2 (wall-clock seconds): they are started during the DNS
# wait, so that their start-up is not on the critical path.
SLEEP_UNTIL = r"""
sleep "$(awk -v at="$2" -v now="$(date +%s.%N)" 'BEGIN { d = at - now; print (d > 0 ? d : 0) }')" & wait $!
"""
# Take out the rules of earlier holds with this comment ($tag), refusals and redirections: a hold killed
# without its trap leaves them.
SWEEP = r"""
for table in filter nat; do
    iptables -w 5 -t $table -S OUTPUT | grep -F -- "--comment $tag " | sed 's/^-A /-D /' | while read -r rule; do
        iptables -w 5 -t $table $rule; done
done
"""
SWEEP_SCRIPT = 'for tag in "$@"; do\n' + SWEEP + "done\n"
# Beside platform-nginx, for each target ($4...): an address, whose new connections from nginx are refused
# with a reset (nginx retries them on the next address at once), or address:port>address, whose new
# connections to that port are redirected to the other address (DNAT: nginx keeps using the addresses it
# has, and reaches the candidate); until told to stop (SIGTERM, or SIGQUIT, the image's STOPSIGNAL) or $3
# seconds have passed. The rules carry a comment ($1) and are taken out again by the script itself.
HOLD_SCRIPT = r"""
tag=$1 most=$3
trap 'exit 0' TERM INT QUIT
""" + SLEEP_UNTIL + SWEEP + r"""
shift 3; targets="$*"
rule() { case $2 in
    *'>'*) from=${2%'>'*} to=${2#*'>'}
           iptables -w 5 -t nat "$1" OUTPUT -p tcp -d "${from%:*}" --dport "${from#*:}" -m comment \
               --comment "$tag" -j DNAT --to-destination "$to:${from#*:}" ;;
    *) iptables -w 5 "$1" OUTPUT -p tcp -d "$2" --syn -m comment --comment "$tag" -j REJECT --reject-with tcp-reset ;;
    esac; }
rules() { status=0; for target in $targets; do rule "$1" "$target" || status=1; done; return $status; }
lift() { rules -D 2>/dev/null; exit 0; }
trap lift TERM INT QUIT
rules -I || { rules -D 2>/dev/null; exit 3; }
echo held
sleep "$most" & wait $!
lift
"""
# A guard's rules, beside platform-nginx: nginx's workers (not root) are refused new connections into the
# project network ($subnet) with a reset, but for the live containers' addresses ($open: accepted first, so
# that they are never refused). Both guard scripts take $1 the rules' comment, $2 seconds, $3 the subnet,
# $4 the live addresses (comma-separated), $5... the live names as name=port.
GUARD_RULES = r"""
tag=$1 seconds=$2 subnet=$3 open=$(echo "$4" | tr , ' '); shift 4
refuse() { iptables -w 5 "$@" -p tcp -d "$subnet" --syn -m owner ! --uid-owner 0 -m comment --comment "$tag" \
               -j REJECT --reject-with tcp-reset; }
accept() { iptables -w 5 "$@" -p tcp -d "$address" --syn -m comment --comment "$tag" -j ACCEPT; }
unguard() { refuse -D OUTPUT 2>/dev/null; for address in $open; do accept -D OUTPUT 2>/dev/null; done; }
"""
# The guard itself: the rules (an earlier guard's, killed without its trap, swept first), until told to stop or
# $2 seconds have passed.
GUARD_SCRIPT = GUARD_RULES + SWEEP + r"""
trap 'unguard; exit 0' TERM INT QUIT
position=1
for address in $open; do accept -I OUTPUT $position || { unguard; exit 3; }; position=$((position + 1)); done
refuse -I OUTPUT $position || { unguard; exit 3; }
echo guarded
sleep "$seconds" & wait $!
unguard
"""
# Run in the guard once the candidates have the live names: wait until each name resolves to an address
# beyond the live ones and a connection from here (root, not refused) gets through, at most $2 seconds;
# then take the rules out. Nothing polls before: the guard costs no CPU while the checks run.
OPEN_SCRIPT = GUARD_RULES + r"""
until=$(( $(date +%s) + seconds ))
for target in "$@"; do (
    name=${target%=*} port=${target##*=}
    while [ "$(date +%s)" -lt "$until" ]; do
        for address in $(getent ahostsv4 "$name" | awk '{ print $1 }' | sort -u); do
            case " $open " in *" $address "*) continue ;; esac
            timeout 0.3 bash -c ": >/dev/tcp/$address/$port" 2>/dev/null && exit 0
        done
        sleep 0.02
    done
) & done
wait
unguard
"""
# Beside a closing container, in its network namespace: from $2 on, a new connection to its port ($1)
# is answered with a reset, while the connections it has go on; then wait until none is left (state
# 01 = ESTABLISHED in /proc/net/tcp*, local port in hex), at most $3 seconds.
DRAIN_SCRIPT = SLEEP_UNTIL + r"""
port=$(printf ':%04X' "$1"); until=$(( $(date +%s) + $3 ))
iptables -w 5 -I INPUT -p tcp --dport "$1" --syn -j REJECT --reject-with tcp-reset || exit 3
while :; do
    left=$(awk -v port="$port" 'FNR > 1 && $4 == "01" && substr($2, length($2) - 4) == port' \
           /proc/net/tcp /proc/net/tcp6 2>/dev/null | wc -l)
    [ "$left" -eq 0 ] || [ "$(date +%s)" -ge "$until" ] && break
    sleep 0.1
done
echo "$left"
"""
# Undo a drain in a container that still runs (its deploy was killed or its check failed).
REOPEN_SCRIPT = r"""
while iptables -w 5 -D INPUT -p tcp --dport "$1" --syn -j REJECT --reject-with tcp-reset 2>/dev/null; do :; done
"""


def drain(engine, name: str, port: int, helpers: Helpers, timeout: int, not_before: float) -> bool:
    """Close ``name`` to new connections (from ``not_before``) and wait for its requests in flight; False when
    that could not be done (no iptables in the helper image, say): the caller then stops it the slow way."""
    return _beside(engine, name, helpers, DRAIN_SCRIPT, "drain", [str(port), f"{not_before:.3f}", str(timeout)],
                   timeout + max(0.0, not_before - time.time()) + 30)


def reopen(engine, name: str, port: int, helpers: Helpers) -> bool:
    """Let ``name`` take new connections again after a drain."""
    return _beside(engine, name, helpers, REOPEN_SCRIPT, "reopen", [str(port)], 30)


def _beside(engine, name: str, helpers: Helpers, script: str, what: str, args: list[str], timeout: float) -> bool:
    try:
        result = engine.run_beside(name, helpers.image, ["sh", "-c", script, what, *args],
                                   helpers.labels, capabilities=("NET_ADMIN",), timeout=timeout)
    except PlatformError:
        return False
    return result.exit_code == 0


@dataclass(frozen=True)
class Closed:
    """Containers out of nginx's way, still running with their addresses, and the hold beside nginx that
    refuses or redirects those addresses until ``retire`` has stopped them. Closed ones are drained already;
    redirected ones (``to_drain``) are drained by ``retire``, once the deploy has reported."""

    ids: tuple[str, ...] = ()
    undrained: tuple[str, ...] = ()   # could not be drained: stopped with the graceful timeout
    hold: str | None = None
    timeout: int = DRAIN_SECONDS
    to_drain: tuple[tuple[str, int | None, int], ...] = ()   # (id, port, drain seconds)
    helpers: Helpers | None = None


def close(engine, network: str, closing: dict, helpers: Helpers | None, not_before: float,
          timeouts: dict | None = None) -> Closed:
    """Close the running containers of ``closing`` ({name: port}) from ``not_before`` on (see the module's
    docstring), all at once; returns when they are drained. ``timeouts``: {name: drain seconds}."""
    timeouts = timeouts or {}
    longest = max(timeouts.values(), default=DRAIN_SECONDS)
    states = [state for state in map(engine.inspect, closing) if state is not None and state.running]
    if not states:
        return Closed()
    addresses = [state.networks[network] for state in states if state.networks.get(network)]
    hold = _hold(engine, helpers, addresses, not_before, longest) if helpers is not None and addresses else None
    undrained = _drain_all(engine, helpers, [(state.name, closing[state.name], timeouts.get(state.name, DRAIN_SECONDS))
                                             for state in states], not_before)
    wait_until(not_before)   # without helpers nothing waited for nginx's DNS cache yet
    if hold is not None and not _held(engine, hold, not_before + HOLD_READY_SECONDS):
        lift(engine, hold)
        hold = None          # only slower: nginx waits for its connect timeout after the stop, then retries
    return Closed(ids=tuple(state.id for state in states), hold=hold, timeout=longest,
                  undrained=tuple(state.id for state in states if state.name in undrained))


def redirect(engine, network: str, roles, old_names, helpers: Helpers | None, timeouts: dict) -> Closed | None:
    """Send nginx's new connections to the old containers of ``roles`` to the candidates, at once (see the
    module's docstring); None when that cannot be done (no helpers, an address unknown, the hold not in
    place), and the caller closes them the slower way."""
    olds = {role.live_name: engine.inspect(role.live_name) for role in roles if role.live_name in old_names}
    olds = {name: state for name, state in olds.items() if state is not None and state.running}
    if helpers is None or not olds:
        return None
    targets = []
    for role in roles:
        old, new = olds.get(role.live_name), engine.inspect(role.new_name)
        if old is None or role.port is None:
            continue   # nothing of it to move, or nginx never connects to it
        if new is None or not old.networks.get(network) or not new.networks.get(network):
            return None
        targets.append(f"{old.networks[network]}:{role.port}>{new.networks[network]}")
    longest = max(timeouts.values(), default=DRAIN_SECONDS)
    hold = _hold(engine, helpers, targets, time.time(), longest)
    if hold is None or not _held(engine, hold, time.time() + HOLD_READY_SECONDS):
        lift(engine, hold)
        return None
    ports = {role.live_name: role.port for role in roles}
    return Closed(ids=tuple(state.id for state in olds.values()), hold=hold, timeout=longest, helpers=helpers,
                  to_drain=tuple((state.id, ports.get(name), timeouts.get(name, DRAIN_SECONDS))
                                 for name, state in olds.items()))


def _drain_all(engine, helpers: Helpers | None, draining, not_before: float) -> tuple[str, ...]:
    """Drain each (name or id, port, seconds) of ``draining`` side by side; those that could not be drained."""
    def drain_one(item) -> bool:
        name, port, seconds = item
        return helpers is not None and port is not None and drain(engine, name, port, helpers, seconds, not_before)

    if not draining:
        return ()
    with ThreadPoolExecutor(max_workers=len(draining)) as pool:
        drained = list(pool.map(drain_one, draining))
    return tuple(item[0] for item, done in zip(draining, drained) if not done)


def _hold(engine, helpers: Helpers, targets: list[str], not_before: float, drain_timeout: int) -> str | None:
    most = int(max(0.0, not_before - time.time()) + drain_timeout + HOLD_MARGIN_SECONDS)
    try:
        return engine.start_beside(helpers.nginx, helpers.image,
                                   ["sh", "-c", HOLD_SCRIPT, "hold", helpers.hold_tag, f"{not_before:.3f}",
                                    str(most), *targets],
                                   helpers.hold_labels, capabilities=("NET_ADMIN",))
    except PlatformError:
        return None


def _held(engine, hold: str, deadline: float, word: str = "held") -> bool:
    """Whether ``hold`` printed ``word`` (it is in place) before ``deadline``."""
    while True:
        if word in engine.logs_tail(hold, lines=1):
            return True
        if time.time() > deadline or engine.inspect(hold) is None:
            return False
        time.sleep(0.05)


@dataclass(frozen=True)
class Guard:
    """A guard in place (see the module's docstring): its container and the arguments of its scripts."""

    id: str
    arguments: tuple[str, ...]   # the rules' comment, the subnet, the live addresses, the live name=port


def guard(engine, network: str, roles, helpers: Helpers | None) -> Guard | None:
    """Put the guard in place for the candidates of ``roles`` and return it once it is; it lifts itself
    after GUARD_SECONDS. None when there is nothing to guard (a first deploy: no traffic yet) or it could
    not be put in place: the switch is then only slower for a second, now and then."""
    live = [state for state in map(engine.inspect, (role.live_name for role in roles))
            if state is not None and state.running and state.networks.get(network)]
    targets = [f"{role.live_name}={role.port}" for role in roles if role.port]
    subnets = engine.network_subnets(network)
    if helpers is None or not live or not targets or len(subnets) != 1:
        return None
    tag, *rest = (helpers.guard_tag, subnets[0], ",".join(state.networks[network] for state in live), *targets)
    try:
        started = engine.start_beside(helpers.nginx, helpers.image,
                                      ["sh", "-c", GUARD_SCRIPT, "guard", tag, str(GUARD_SECONDS), *rest],
                                      helpers.hold_labels, capabilities=("NET_ADMIN",))
    except PlatformError:
        return None
    if _held(engine, started, time.time() + GUARD_READY_SECONDS, word="guarded"):
        return Guard(started, (tag, *rest))
    lift(engine, started)
    return None


def open_guard(engine, guard_: Guard | None) -> None:
    """Once the candidates have the live names: wait until each takes packets at its new address, then take
    the guard's rules out (after GUARD_OPEN_SECONDS at most: a candidate that never answers fails the check
    through nginx). Its container is left for ``lift``, once the deploy has reported."""
    if guard_ is None:
        return
    tag, *rest = guard_.arguments
    try:
        engine.exec_run(guard_.id, ["sh", "-c", OPEN_SCRIPT, "open", tag, str(GUARD_OPEN_SECONDS), *rest])
    except PlatformError:   # gone already (it lifted itself), or the engine: its own time lifts it
        lift(engine, guard_.id)


def lift(engine, hold: str | None) -> None:
    """End a hold: nginx may connect to those addresses again. A stop (SIGQUIT, the image's STOPSIGNAL),
    so that it takes its rules out; then its removal is waited for, so nothing of it is left."""
    if hold is None:
        return
    try:
        engine.stop(hold, timeout=10)
        engine.remove(hold)
    except PlatformError:
        pass   # the engine went away: the hold lifts itself when its time is up


def lift_all(engine, helpers: Helpers | None) -> int:
    """End the holds and guards a killed run left; returns how many there were."""
    if helpers is None:
        return 0
    holds = engine.find(helpers.hold_labels)   # an exited one may still be on its way out: waited for too
    for state in holds:
        lift(engine, state.id)
    try:   # and the rules of a hold that was killed without its trap
        engine.run_beside(helpers.nginx, helpers.image,
                          ["sh", "-c", SWEEP_SCRIPT, "sweep", helpers.hold_tag, helpers.guard_tag],
                          helpers.labels, capabilities=("NET_ADMIN",), timeout=30)
    except PlatformError:
        pass   # the next hold of this project/environment sweeps them first
    return len(holds)


def retire(engine, closed: Closed, remove: bool = False) -> None:
    """Drain redirected containers, stop them all (and ``remove`` them); lift the hold once nginx cannot use
    their addresses."""
    if not closed.ids:
        return
    try:
        undrained = closed.undrained + _drain_all(engine, closed.helpers, closed.to_drain, time.time())
        with ThreadPoolExecutor(max_workers=len(closed.ids)) as pool:
            list(pool.map(lambda id_: engine.stop(id_, timeout=closed.timeout if id_ in undrained
                                                  else STOP_AFTER_DRAIN_SECONDS), closed.ids))
        if remove:
            for id_ in closed.ids:
                engine.remove(id_)
    finally:   # whatever was stopped: nginx must not be refused its addresses for longer than needed
        if closed.hold is not None:
            wait_until(settled_after(time.time()))
            lift(engine, closed.hold)


def hand_over(engine, network: str, roles, old_names, helpers: Helpers | None, exposed_at: float,
              timeouts: dict) -> Closed:
    """Old to new: redirect nginx from the old containers to the candidates at once, or (without helpers)
    close the old containers once nginx's DNS cache knows the new addresses. ``timeouts``: {live name: drain
    seconds}. Nothing to retire (a first deploy): no wait at all."""
    retiring = {role.live_name: role.port for role in roles if role.live_name in old_names}
    if not retiring:
        return Closed()
    redirected = redirect(engine, network, roles, old_names, helpers, timeouts)
    if redirected is not None:
        return redirected
    return close(engine, network, retiring, helpers, settled_after(exposed_at), timeouts)


def hand_back(engine, network: str, roles, old_names, helpers: Helpers | None, timeout=60) -> None:
    """New to old again, after a failed check through nginx (or to undo a deploy killed while switching).

    An old container that still runs was closed, or may have been: it is opened again. A stopped
    one (a deploy of an earlier version stopped it) starts in a new network namespace, without
    the rule, and the candidates are closed once nginx's DNS cache knows its new address.
    """
    ports = {role.live_name: role.port for role in roles}
    started = False
    for name in old_names:
        state = engine.inspect(name)
        if state is not None and state.running:
            if helpers is not None and ports.get(name) is not None and not reopen(engine, name, ports[name], helpers):
                raise PlatformError(f"cannot hand traffic back: {name} could not be opened to new connections "
                                    "again; the new containers keep serving")
        else:
            engine.start(name)
            started = True
    lift_all(engine, helpers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(_serving(engine, name) for name in old_names):
        time.sleep(0.25)
    missing = [name for name in old_names if not _serving(engine, name)]
    if missing:  # stopping the candidates now would leave nothing serving
        raise PlatformError(f"cannot hand traffic back: {', '.join(missing)} not serving after {timeout}s; "
                            "the new containers keep serving")
    not_before = settled_after(time.time()) if started else time.time()
    retire(engine, close(engine, network, {role.new_name: role.port for role in roles}, helpers, not_before,
                         {role.new_name: role.drain_timeout for role in roles if role.drain_timeout}))


def _serving(engine, name) -> bool:
    state = engine.inspect(name)
    return state is not None and state.running and state.health in (None, "healthy")


def finish(engine, roles, old_names, retired_name) -> None:
    """Give the candidates the documented live names; the old containers step aside under
    ``retired_name(live_name)`` until ``retire`` removes them."""
    for name in old_names:
        engine.rename(name, retired_name(name))
    for role in roles:
        if engine.inspect(role.live_name) is not None:
            engine.remove(role.live_name)  # stopped leftover of an interrupted run
        engine.rename(role.new_name, role.live_name)
