"""Account-wide cloud backup split across machines through the shared catalog (core/shared_catalog.py).

Users are leased: each sync pass registers the account's users in `zoomwatch_user_leases`, then takes them
one at a time with `SELECT … FOR UPDATE SKIP LOCKED` (two machines never wait for each other, never take the
same user), sets a lease that expires on the database's clock (clock skew between machines does not matter),
and marks the user done when its listing was worked through. Every cloud file is claimed before it is
downloaded (`zoomwatch_cloud_claims`, one row per destination and file); the claim is done when the file's
verified row is published. A heartbeat renews this machine's leases and claims; a machine that dies stops
renewing, its leases and claims expire, and the others take its users again: files it verified are skipped
(their claims are done), the rest are downloaded by whoever takes them.

The machines share one Server-to-Server token per Zoom app (`zoomwatch_s2s_tokens`, sealed with a key derived
from the client secret): Zoom may invalidate a token when the same app asks for a new one, so machines fetching
their own would knock each other out (API-NOTES). A machine refused with a 401 first adopts the token another
machine stored; only when nobody replaced the refused one does it ask Zoom, under the row's lock.

A pass ends when no user is left to take and no other live machine still holds a user or a claim of this
destination: so a machine waits for the others to finish (and takes over from one that died) instead of
ending its pass early. Everything is keyed by destination: nothing is claimed across destinations.
When PostgreSQL cannot be reached, taking a user or a file raises SharedCatalogError: the cloud sync waits
and says so (the engine retries it) rather than risk a duplicate download.

Why a lease table and not procrastinate or pgqueuer: those run jobs pushed by a producer, with their own
worker loops (asyncio in pgqueuer) and their own schema; here every machine is its own producer (it lists the
account itself), the engine already has its cloud thread, and a claim must stay held until the upload is
verified, far past a job's end. Two small tables and a dozen statements do exactly that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from zoomwatch.core.shared_catalog import Machine, SharedCatalogError, connect, migrate, reason, where
from zoomwatch.i18n import N_, NP_, join, state_count

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often a pass with nothing to take looks again (others busy or a lease to expire)
STATUS_TIMEOUT_SECONDS = 3  # `zoomwatch status` does not wait longer for an unreachable shared catalog
TOKEN_MARGIN_SECONDS = 60.0  # a stored token closer than this to its expiry is replaced

NEXT_USER = """
SELECT l.user_email FROM zoomwatch_user_leases l
WHERE l.scope = %(scope)s AND l.user_email = ANY(%(users)s)
  AND (l.machine IS NULL OR l.machine = %(me)s OR l.expires_at < now())
  AND (l.done_at IS NULL OR l.done_at < now() - make_interval(secs => %(window)s)
       OR EXISTS (SELECT 1 FROM zoomwatch_cloud_claims c WHERE c.destination = l.scope
                  AND c.user_email = l.user_email AND c.state = 'claimed' AND c.expires_at < now()))
ORDER BY array_position(%(users)s, l.user_email)
LIMIT 1
FOR UPDATE OF l SKIP LOCKED
"""
OTHERS_BUSY = """
SELECT (SELECT count(*) FROM zoomwatch_user_leases WHERE scope = %(scope)s AND user_email = ANY(%(users)s)
          AND machine IS NOT NULL AND machine != %(me)s AND expires_at >= now())
     + (SELECT count(*) FROM zoomwatch_cloud_claims WHERE destination = %(scope)s AND user_email = ANY(%(users)s)
          AND state = 'claimed' AND machine != %(me)s AND expires_at >= now())
"""
TAKE_FILE = """
INSERT INTO zoomwatch_cloud_claims AS c (destination, identity, scope, user_email, machine, expires_at)
VALUES (%(dest)s, %(identity)s, %(dest)s, %(user)s, %(me)s, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (destination, identity) DO UPDATE
    SET machine = EXCLUDED.machine, expires_at = EXCLUDED.expires_at, claimed_at = now(),
        user_email = EXCLUDED.user_email
    WHERE c.state = 'claimed' AND (c.machine = EXCLUDED.machine OR c.expires_at < now())
RETURNING machine
"""


class Fleet:
    """This machine's side of the work split: the gate CloudSync asks before it takes a file, and the
    wrapper that hands it only the users leased to it. Thread-safe (one connection behind a lock)."""

    def __init__(self, url: str, dest: str, machine: Machine, *, lease_seconds: float,
                 interval_seconds: float) -> None:
        self.url = url
        self.dest = dest
        self.machine = machine
        self.lease_seconds = float(lease_seconds)
        self.window = max(1.0, interval_seconds / 2)  # a user done this recently is not listed again
        self.current_user: str | None = None
        self.waiting_for: str = ""  # why the pass waits, for the status board
        self._conn: Any = None
        self._lock = threading.Lock()

    # -- the connection --------------------------------------------------------------------------

    def _run(self, work: Callable[[Any], Any]) -> Any:
        """`work(conn)` in one transaction; a failure closes the connection (reopened next time) and
        raises SharedCatalogError naming the host, never the password."""
        import psycopg

        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    conn = connect(self.url)
                    migrate(conn, self.url)
                    self._conn = conn
                with self._conn.transaction():
                    return work(self._conn)
            except psycopg.Error as exc:
                self._drop()
                raise SharedCatalogError(N_("Lost the shared catalog"),
                                         N_("PostgreSQL at {where}: {reason}; cloud downloads wait for it (no file is "
                                            "fetched without its claim)", where=where(self.url),
                                            reason=reason(exc, self.url))) from None

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - it is gone anyway
                pass
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"scope": self.dest, "dest": self.dest, "me": self.machine.id, "ttl": self.lease_seconds,
                "window": self.window, **extra}

    # -- users -----------------------------------------------------------------------------------

    def lease_targets(self, targets: Callable[[], Iterator[tuple[str, Any]]],
                      stop: threading.Event) -> Callable[[], Iterator[tuple[str, Any]]]:
        """A targets factory (see accounts.sync_targets) that yields only the users leased to this machine,
        until no user is left and no other live machine holds one (see the module docstring)."""

        def leased() -> Iterator[tuple[str, Any]]:
            apis = dict(targets())  # user -> api: the whole account, listed by every machine
            self.share_tokens(set(apis.values()))
            users = list(apis)
            self._register(users)
            give_up = time.monotonic() + 2 * self.window  # a machine stuck on a file: the next pass looks again
            while not stop.is_set():
                user = self._next_user(users)
                if user is None:
                    busy = self._others_busy(users)
                    if not busy or time.monotonic() > give_up:
                        self.waiting_for = ""
                        return
                    self.waiting_for = NP_("{n} user(s) or file(s) held by other machines",
                                           "{n} user(s) or file(s) held by other machines", busy)
                    stop.wait(POLL_SECONDS)
                    continue
                self.waiting_for = ""
                self.current_user = user
                try:
                    yield user, apis[user]
                except GeneratorExit:
                    self._give_back(user)
                    raise
                self._user_done(user)
                self.current_user = None

        return leased

    def _register(self, users: list[str]) -> None:
        self._run(lambda c: c.execute(
            "INSERT INTO zoomwatch_user_leases (scope, user_email) SELECT %(scope)s, unnest(%(users)s::text[])"
            " ON CONFLICT DO NOTHING", self._params(users=users)))

    def _next_user(self, users: list[str]) -> str | None:
        def take(conn: Any) -> str | None:
            row = conn.execute(NEXT_USER, self._params(users=users)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE zoomwatch_user_leases SET machine = %(me)s, expires_at = now() + "
                         "make_interval(secs => %(ttl)s) WHERE scope = %(scope)s AND user_email = %(user)s",
                         self._params(user=row[0]))
            return str(row[0])

        user = self._run(take)
        if user is not None:
            log.info("cloud sync: took %s (leased for %.0f s)", user, self.lease_seconds)
        return user

    def _others_busy(self, users: list[str]) -> int:
        return int(self._run(lambda c: c.execute(OTHERS_BUSY, self._params(users=users)).fetchone()[0]))

    def _user_done(self, user: str) -> None:
        self._run(lambda c: c.execute(
            "UPDATE zoomwatch_user_leases SET machine = NULL, expires_at = NULL, done_at = now()"
            " WHERE scope = %(scope)s AND user_email = %(user)s AND machine = %(me)s", self._params(user=user)))

    def _give_back(self, user: str) -> None:
        """The pass stopped in the middle of `user`: the others may take it at once."""
        try:
            self._run(lambda c: c.execute(
                "UPDATE zoomwatch_user_leases SET machine = NULL, expires_at = NULL"
                " WHERE scope = %(scope)s AND user_email = %(user)s AND machine = %(me)s", self._params(user=user)))
        except SharedCatalogError:
            pass  # it expires on its own

    # -- files -----------------------------------------------------------------------------------

    def take_file(self, identity: str) -> bool:
        """Whether this machine may download the cloud file `identity` now: True once it holds its claim;
        False when another live machine holds it or it is done (verified and published)."""
        user = self.current_user or ""
        row = self._run(lambda c: c.execute(TAKE_FILE, self._params(identity=identity, user=user)).fetchone())
        return row is not None

    # -- one Server-to-Server token for the fleet ---------------------------------------------------

    def shared_token(self, app: str, refused: str | None, fetch: Callable[[], tuple[str, float]],
                     box: TokenBox) -> tuple[str, float]:
        """(token, seconds it still lives) for the Zoom app `app`: the fleet's stored token unless it is the
        one Zoom just `refused` or about to expire; else a new one from `fetch()` (token, epoch expiry),
        stored for the others. The row lock makes one machine fetch while the others wait for its token."""
        def get(conn: Any) -> tuple[str, float]:
            conn.execute("INSERT INTO zoomwatch_s2s_tokens (app) VALUES (%s) ON CONFLICT DO NOTHING", (app,))
            stored, left = conn.execute(
                "SELECT token, extract(epoch FROM expires_at - now()) FROM zoomwatch_s2s_tokens WHERE app = %s"
                " FOR UPDATE", (app,)).fetchone()
            token = box.open(stored) if stored else None
            if token and token != refused and left is not None and float(left) > TOKEN_MARGIN_SECONDS:
                return token, float(left)
            token, expires_at = fetch()
            lifetime = max(0.0, expires_at - time.time())
            conn.execute("UPDATE zoomwatch_s2s_tokens SET token = %s, expires_at = now() + make_interval(secs => %s)"
                         " WHERE app = %s", (box.seal(token), lifetime, app))
            return token, lifetime

        return self._run(get)

    def share_tokens(self, apis: Any) -> None:
        """Give every Server-to-Server API client among `apis` the fleet's token (once each)."""
        from zoomwatch.sources.zoom.oauth import S2SAuth

        for api in apis:
            if isinstance(getattr(api, "auth", None), S2SAuth):
                api.auth = SharedS2SAuth(api.auth, self)

    # -- liveness --------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Renew this machine's leases and claims (on the database's clock)."""
        def renew(conn: Any) -> None:
            params = self._params()
            conn.execute("UPDATE zoomwatch_user_leases SET expires_at = now() + make_interval(secs => %(ttl)s)"
                         " WHERE machine = %(me)s AND expires_at IS NOT NULL", params)
            conn.execute("UPDATE zoomwatch_cloud_claims SET expires_at = now() + make_interval(secs => %(ttl)s)"
                         " WHERE machine = %(me)s AND state = 'claimed'", params)

        self._run(renew)


# -- what `zoomwatch status` shows -----------------------------------------------------------------

@dataclass(frozen=True)
class FleetReport:
    machines: tuple[tuple[str, str, float, dict], ...]  # name, version, seconds since last seen, counts
    users_total: int
    users_done: int
    leases: tuple[tuple[str, str, float], ...]  # user, machine name, seconds left
    claims: tuple[tuple[str, int, int], ...]  # machine name, files claimed (in flight), files done

    def lines(self) -> list[str]:
        """What `status` shows: English Msgs a face translates with tr()."""
        out: list[str] = [NP_("shared catalog: {n} machine(s)", "shared catalog: {n} machine(s)",
                              len(self.machines))]
        for name, version, ago, counts in self.machines:
            state = N_("alive") if ago < 300 else N_("silent")
            shown = join(", ", [state_count(k, n) for k, n in counts.items() if n]) or N_("nothing yet")
            out.append(N_("  {name} (zoomwatch {version}): {state}, last seen {ago} s ago; {shown}", name=name,
                          version=version, state=state, ago=f"{ago:.0f}", shown=shown))
        if self.users_total:
            out.append(NP_("account: {done} of {n} user(s) done this round",
                           "account: {done} of {n} user(s) done this round", self.users_total,
                           done=self.users_done))
        for user, machine, left in self.leases:
            out.append(N_("  {user} -> {machine} (lease {left} s left)", user=user, machine=machine,
                          left=f"{left:.0f}"))
        for machine, claimed, done in self.claims:
            out.append(NP_("  {machine}: {n} cloud file(s) done, {claimed} in flight",
                           "  {machine}: {n} cloud file(s) done, {claimed} in flight", done, machine=machine,
                           claimed=claimed))
        return out


def fleet_report(url: str, dest: str) -> FleetReport:
    """The fleet as the shared catalog sees it; raises SharedCatalogError when it cannot be reached."""
    import psycopg

    conn = connect(url, timeout=STATUS_TIMEOUT_SECONDS)
    try:
        migrate(conn, url)
        machines = conn.execute(
            "SELECT name, coalesce(version, ''), extract(epoch FROM now() - last_seen), counts, id"
            " FROM zoomwatch_machines ORDER BY name").fetchall()
        names = {row[4]: row[0] for row in machines}
        total, done = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE done_at IS NOT NULL AND machine IS NULL)"
            " FROM zoomwatch_user_leases WHERE scope = %s", (dest,)).fetchone()
        leases = conn.execute(
            "SELECT user_email, machine, extract(epoch FROM expires_at - now()) FROM zoomwatch_user_leases"
            " WHERE scope = %s AND machine IS NOT NULL AND expires_at > now() ORDER BY user_email", (dest,)).fetchall()
        claims = conn.execute(
            "SELECT machine, count(*) FILTER (WHERE state = 'claimed'), count(*) FILTER (WHERE state = 'done')"
            " FROM zoomwatch_cloud_claims WHERE destination = %s GROUP BY machine ORDER BY machine",
            (dest,)).fetchall()
    except psycopg.Error as exc:
        raise SharedCatalogError(N_("Lost the shared catalog"), N_("PostgreSQL at {where}: {reason}",
                                                                    where=where(url), reason=reason(exc, url))) \
            from None
    finally:
        conn.close()
    return FleetReport(
        machines=tuple((m[0], m[1], float(m[2]), dict(m[3] or {})) for m in machines),
        users_total=int(total), users_done=int(done),
        leases=tuple((u, names.get(m, m), float(left)) for u, m, left in leases),
        claims=tuple((names.get(m, m), int(c), int(d)) for m, c, d in claims))


# -- the fleet's Server-to-Server token ------------------------------------------------------------------

class TokenBox:
    """Seals a token for the shared table with a key derived from the app's client secret (which every machine
    of the fleet has, and a reader of the database does not): Fernet (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, client_secret: str) -> None:
        import base64
        import hashlib

        from cryptography.fernet import Fernet

        key = hashlib.sha256(b"zoomwatch fleet token key\0" + client_secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode("ascii")

    def open(self, sealed: str) -> str | None:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            return None  # sealed with another secret (the app's secret was rotated): fetch a new one


class SharedS2SAuth:
    """An S2SAuth whose token is the fleet's (see Fleet.shared_token): a 401 first adopts a token another
    machine fetched; only a token nobody has replaced yet makes this machine ask Zoom for a new one."""

    def __init__(self, auth: Any, fleet: Fleet) -> None:
        import hashlib

        self.auth = auth
        self.fleet = fleet
        self.app = hashlib.sha256(f"{auth.oauth_base}|{auth.account_id}|{auth.client_id}".encode()).hexdigest()[:32]
        self.box = TokenBox(auth.client_secret)
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def token(self, *, force_refresh: bool = False) -> str:
        with self._lock:
            if not force_refresh and self._token is not None and time.monotonic() < self._renew_at:
                return self._token
            refused = self._token if force_refresh else None
            token, left = self.fleet.shared_token(self.app, refused, self._fetch, self.box)
            self._token, self._renew_at = token, time.monotonic() + max(0.0, left - TOKEN_MARGIN_SECONDS)
            return token

    def _fetch(self) -> tuple[str, float]:
        from zoomwatch.sources.zoom.oauth import s2s_token

        tokens = s2s_token(self.auth.oauth_base, self.auth.account_id, self.auth.client_id, self.auth.client_secret)
        return tokens.access_token, tokens.expires_at
