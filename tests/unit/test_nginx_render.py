"""nginx/: rendering is pure and byte-stable; conf.d is updated without touching what is not ours.

Golden files live in tests/unit/golden/; `UPDATE_GOLDEN=1 pytest tests/unit/test_nginx_render.py`
rewrites them (review the diff before committing).
"""

import os
import re
from pathlib import Path

import pytest

from platform_deploy.config.validate import DOCKER_NAME, DOMAIN, LOCATION
from platform_deploy.errors import PlatformError
from platform_deploy.nginx import files
from platform_deploy.nginx.render import MARKER, render_project, render_registry
from platform_deploy.settings import Settings
from seed import DEPLOYMENT_EXAMPLE

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
SNIPPETS = HERE.parents[1] / "platform" / "nginx" / "snippets"


# Rate limit, a wildcard domain, several domains per environment, nginx.api_locations.
SHOP = """\
projects:
  shop:
    domains:
      production: ["*.shop.example.com", shop.example.com]
      staging: {domains: [staging.shop.example.com, preview.shop.example.com]}
    containers:
      backend: {name: shop-api, port: 8000, api_locations: /graphql}
      frontend: {name: shop-web, port: 8080}
    nginx:
      api_locations: ["/api", "/auth/"]
      rate_limit: {zone: api, burst: 5, rate: 30r/m}
"""

# One container serves everything; production only.
SINGLE = """\
projects:
  wiki:
    domains: {production: wiki.example.net}
    containers:
      app: {name: wiki, port: 3000}
"""


def everything(name):
    return True


def nothing(name):
    return False


def rendered(load, text, has_certificate=everything):
    result = render_registry(load(text), has_certificate)
    assert len(result.files) == 1
    return next(iter(result.files.items())), result.warnings


# --- golden files ----------------------------------------------------------------------------------

GOLDEN_CASES = {
    "filter-ical.de.conf": (DEPLOYMENT_EXAMPLE, lambda name: name == "filter-ical.de"),  # no staging certificate
    "shop.example.com.conf": (SHOP, everything),
    "wiki.example.net.conf": (SINGLE, everything),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden(load, name):
    text, has_certificate = GOLDEN_CASES[name]
    (filename, output), _ = rendered(load, text, has_certificate)
    assert filename == name
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(output.encode("utf-8"))
    assert golden.is_file(), f"{golden} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert output.encode("utf-8") == golden.read_bytes(), f"{name} differs from its golden file"


def test_golden_files_have_no_orphans():
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(GOLDEN_CASES)


# --- determinism and header ----------------------------------------------------------------------

def test_same_input_same_bytes(load):
    first = render_registry(load(SHOP), everything).files
    second = render_registry(load(SHOP), everything).files
    assert first == second
    assert render_project(load(SHOP).projects[0], everything) == render_project(load(SHOP).projects[0], everything)


def test_marker_is_line_one_and_file_ends_with_newline(load):
    for text in (DEPLOYMENT_EXAMPLE, SHOP, SINGLE):
        (_, output), _ = rendered(load, text)
        assert output.splitlines()[0] == f"# {MARKER}"
        assert output.endswith("}\n") and not output.endswith("\n\n")


# --- parsing helpers ------------------------------------------------------------------------------

def blocks(text, opener):
    """The bodies of every `<opener> ... {` block (nested blocks included in their parent's body)."""
    found, lines = [], text.splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"^\s*{opener}\b.*\{{$", line):
            depth, body = 0, []
            for inner in lines[index:]:
                depth += inner.count("{") - inner.count("}")
                body.append(inner)
                if depth == 0:
                    break
            found.append((line.strip(), "\n".join(body)))
    return found


# --- structure ------------------------------------------------------------------------------------

def test_braces_balance_and_every_line_is_a_directive_or_comment(load):
    for text in (DEPLOYMENT_EXAMPLE, SHOP, SINGLE):
        for has_certificate in (everything, nothing):
            (_, output), _ = rendered(load, text, has_certificate)
            assert output.count("{") == output.count("}")
            for line in output.splitlines():
                stripped = line.strip()
                assert (not stripped or stripped.startswith("#") or stripped == "}"
                        or stripped.endswith(";") or stripped.endswith("{")), line


def test_api_locations_are_path_boundaries(load):
    (_, output), _ = rendered(load, DEPLOYMENT_EXAMPLE)
    for location in ("/api", "/domains", "/calendars", "/admin"):
        # per server (production TLS, staging HTTP-only): once exact, once as a directory prefix
        assert output.count(f"    location = {location} {{\n") == 2
        assert output.count(f"    location ^~ {location}/ {{\n") == 2
    # never a bare prefix location, which would also catch /apifoo
    bare = [line for line in output.splitlines() if re.match(r"^\s*location\s+/", line)]
    assert set(line.strip() for line in bare) == {"location / {"}


def test_trailing_slash_in_registry_is_one_boundary(load):
    (_, output), _ = rendered(load, SHOP)
    assert "location = /auth {" in output and "location ^~ /auth/ {" in output
    assert "/auth//" not in output


def test_security_headers_in_every_location_block(load):
    for text in (DEPLOYMENT_EXAMPLE, SHOP, SINGLE):
        for has_certificate in (everything, nothing):
            (_, output), _ = rendered(load, text, has_certificate)
            locations = blocks(output, "location")
            assert len(locations) >= 3
            for opener, body in locations:
                assert "include snippets/security-headers.conf;" in body, opener


def test_hsts_only_in_tls_servers(load):
    for text in (DEPLOYMENT_EXAMPLE, SHOP, SINGLE):
        for has_certificate in (everything, nothing, lambda name: not name.startswith("staging.")):
            (_, output), _ = rendered(load, text, has_certificate)
            servers = blocks(output, "server")
            assert servers
            for _, body in servers:
                tls = "listen 443 ssl" in body
                for opener, location in blocks(body, "location"):
                    assert ("include snippets/hsts.conf;" in location) == tls, opener
                assert ("ssl_certificate " in body) == tls


def test_missing_certificate_gives_http_only_server_and_a_warning(load):
    (_, output), warnings = rendered(load, DEPLOYMENT_EXAMPLE, lambda name: name == "filter-ical.de")
    assert warnings == ("filter-ical/staging: no certificate for staging.filter-ical.de; "
                        "serving HTTP only until invoke certs.issue has issued one",)
    servers = {re.search(r"server_name ([^;]+);", body).group(1) + (" tls" if "443" in body else ""): body
               for _, body in blocks(output, "server")}
    assert set(servers) == {"filter-ical.de", "filter-ical.de tls", "staging.filter-ical.de"}
    staging = servers["staging.filter-ical.de"]
    assert "listen 80;" in staging and "443" not in staging and "return 301" not in staging
    assert "location ^~ /.well-known/acme-challenge/ {" in staging and "root /var/www/certbot;" in staging
    assert "set $upstream filter-ical-frontend-staging:80;" in staging
    # production has its certificate: port 80 only answers ACME and redirects
    http = servers["filter-ical.de"]
    assert "location ^~ /.well-known/acme-challenge/ {" in http
    assert "return 301 https://$host$request_uri;" in http and "$upstream" not in http
    tls = servers["filter-ical.de tls"]
    assert "ssl_certificate /etc/letsencrypt/live/filter-ical.de/fullchain.pem;" in tls
    assert "ssl_certificate_key /etc/letsencrypt/live/filter-ical.de/privkey.pem;" in tls
    assert "acme-challenge" not in tls


def test_wildcard_certificate_directory(load):
    (_, output), warnings = rendered(load, SHOP, lambda name: name == "shop.example.com")
    assert "/etc/letsencrypt/live/shop.example.com/fullchain.pem;" in output
    assert "server_name *.shop.example.com shop.example.com;" in output
    assert warnings == ("shop/staging: no certificate for staging.shop.example.com; "
                        "serving HTTP only until invoke certs.issue has issued one",)


def test_upstreams_are_the_live_containers_of_each_environment(load):
    (_, output), _ = rendered(load, SHOP)
    production, staging = output.split("# shop / staging")
    assert "set $upstream shop-api-production:8000;" in production
    assert "set $upstream shop-web-production:8080;" in production
    assert "staging:" not in production.replace("# shop / staging", "")
    assert "set $upstream shop-api-staging:8000;" in staging and "-production:" not in staging


def test_staging_is_not_indexed(load):
    (_, output), _ = rendered(load, SHOP)
    production, staging = output.split("# shop / staging")
    assert "X-Robots-Tag" not in production
    for opener, body in blocks(staging, "location"):
        assert 'add_header X-Robots-Tag "noindex, nofollow" always;' in body, opener


def test_routes_and_root(load):
    (_, output), _ = rendered(load, SHOP)
    production = output.split("# shop / staging")[0]
    located = {opener: body for opener, body in blocks(production, "location")}
    for path in ("/api", "/auth", "/graphql"):
        assert "set $upstream shop-api-production:8000;" in located[f"location = {path} {{"]
        assert "set $upstream shop-api-production:8000;" in located[f"location ^~ {path}/ {{"]
    assert "set $upstream shop-web-production:8080;" in located["location / {"]
    assert "error_page 404 = @spa_fallback;" in located["location / {"]
    assert "rewrite ^ /index.html break;" in located["location @spa_fallback {"]


def test_single_container_serves_root(load):
    (_, output), _ = rendered(load, SINGLE)
    assert "set $upstream wiki-production:3000;" in output
    assert "staging" not in output
    assert [opener for opener, _ in blocks(output, "location")].count("location / {") == 2  # redirect + proxy


def test_rate_limit(load):
    (_, output), _ = rendered(load, SHOP)
    assert output.count("limit_req_zone $binary_remote_addr zone=shop__api:10m rate=30r/m;") == 1
    for opener, body in blocks(output, "location"):
        limited = "limit_req zone=shop__api burst=5 nodelay;" in body
        assert limited == bool(re.match(r"location (=|\^~) /(api|auth|graphql)", opener)), opener


def test_rate_zones_of_two_projects_never_collide(load):
    text = SHOP + SHOP.replace("projects:\n", "").replace("shop", "shop-2")
    zones = re.findall(r"limit_req_zone \S+ zone=(\w+):", "".join(render_registry(load(text), everything).files.values()))
    assert sorted(zones) == ["shop_2__api", "shop__api"]


def test_proxy_headers_come_from_the_snippet(load):
    snippet = (SNIPPETS / "proxy.conf").read_text()
    for directive in ("proxy_set_header Host $host;", "proxy_set_header X-Real-IP $remote_addr;",
                      "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                      "proxy_set_header X-Forwarded-Proto $scheme;", "proxy_pass http://$upstream;"):
        assert directive in snippet.splitlines()
    (_, output), _ = rendered(load, DEPLOYMENT_EXAMPLE)
    for opener, body in blocks(output, "location"):
        if "$upstream" in body:
            assert body.count("include snippets/proxy.conf;") == 1, opener
            assert body.index("set $upstream") < body.index("include snippets/proxy.conf;"), opener
    assert "proxy_set_header" not in output and "proxy_pass" not in output


def test_resolver_for_request_time_dns(load):
    (_, output), _ = rendered(load, DEPLOYMENT_EXAMPLE)
    proxying = [body for _, body in blocks(output, "server") if "$upstream" in body]
    assert len(proxying) == 2
    assert all("resolver 127.0.0.11 valid=1s ipv6=off;" in body for body in proxying)


def test_snippets_exist_and_hsts_is_only_in_its_snippet():
    assert "Strict-Transport-Security" in (SNIPPETS / "hsts.conf").read_text()
    headers = (SNIPPETS / "security-headers.conf").read_text()
    assert "X-Content-Type-Options" in headers and "Strict-Transport-Security" not in headers


def test_user_values_match_the_allowlists(load):
    for text in (DEPLOYMENT_EXAMPLE, SHOP, SINGLE):
        (_, output), _ = rendered(load, text)
        for names in re.findall(r"server_name (.*);", output):
            assert all(DOMAIN.fullmatch(name) for name in names.split(" "))
        for path in re.findall(r"location (?:=|\^~) (\S+) \{", output):
            assert LOCATION.fullmatch(path)
        for name in re.findall(r"set \$upstream (\S+)-(?:production|staging):\d+;", output):
            assert DOCKER_NAME.fullmatch(name)


def test_only_one_project(load):
    text = DEPLOYMENT_EXAMPLE + SINGLE.replace("projects:\n", "")
    assert sorted(render_registry(load(text), everything).files) == ["filter-ical.de.conf", "wiki.example.net.conf"]
    assert list(render_registry(load(text), everything, only="wiki").files) == ["wiki.example.net.conf"]
    with pytest.raises(PlatformError, match="no project 'nope'; valid: filter-ical, wiki"):
        render_registry(load(text), everything, only="nope")


# --- nginx/files.py against temporary directories ---------------------------------------------------

@pytest.fixture
def settings(tmp_path):
    settings = Settings(root=tmp_path, certs_dir=tmp_path / "letsencrypt")
    settings.conf_dir.mkdir(parents=True)
    return settings


def certificate(settings, name, files_=("fullchain.pem", "privkey.pem")):
    live = settings.certs_dir / "live" / name
    live.mkdir(parents=True, exist_ok=True)
    for file in files_:
        (live / file).write_text("x")


def test_has_certificate_needs_both_files(settings):
    certificate(settings, "a.example.com")
    certificate(settings, "b.example.com", files_=("fullchain.pem",))
    has = files.has_certificate_in(settings.certs_dir)
    assert has("a.example.com") and not has("b.example.com") and not has("c.example.com")


def test_plan_and_apply(load, settings):
    registry = load(DEPLOYMENT_EXAMPLE + SINGLE.replace("projects:\n", ""))
    certificate(settings, "filter-ical.de")
    conf = settings.conf_dir
    (conf / "gone.example.org.conf").write_text(f"# {MARKER}\nserver {{}}\n")      # generated, project removed
    (conf / "default.conf").write_text("# hand-written\nserver {}\n")              # not ours
    (conf / "notes.txt").write_text(f"# {MARKER}\n")                               # not a .conf

    planned = files.plan(settings, registry)
    assert planned.write == ("filter-ical.de.conf", "wiki.example.net.conf")
    assert planned.unchanged == ()
    assert planned.remove == ("gone.example.org.conf",)
    assert planned.differs == ("filter-ical.de.conf", "gone.example.org.conf", "wiki.example.net.conf")
    assert planned.warnings == (
        "filter-ical/staging: no certificate for staging.filter-ical.de; serving HTTP only until invoke certs.issue "
        "has issued one",
        "wiki/production: no certificate for wiki.example.net; serving HTTP only until invoke certs.issue has "
        "issued one",
    )
    assert not (conf / "filter-ical.de.conf").exists()  # planning writes nothing

    files.apply(settings, planned)
    assert sorted(p.name for p in conf.iterdir()) == ["default.conf", "filter-ical.de.conf", "notes.txt",
                                                     "wiki.example.net.conf"]
    assert (conf / "filter-ical.de.conf").read_text() == planned.files["filter-ical.de.conf"]
    assert (conf / "default.conf").read_text() == "# hand-written\nserver {}\n"
    assert oct((conf / "wiki.example.net.conf").stat().st_mode & 0o777) == "0o644"

    again = files.plan(settings, registry)
    assert again.write == () and again.remove == () and again.differs == ()
    assert again.unchanged == ("filter-ical.de.conf", "wiki.example.net.conf")


def test_unchanged_files_are_not_rewritten(load, settings):
    registry = load(DEPLOYMENT_EXAMPLE)
    files.apply(settings, files.plan(settings, registry))
    path = settings.conf_dir / "filter-ical.de.conf"
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    inode = path.stat().st_ino
    files.apply(settings, files.plan(settings, registry))
    assert path.stat().st_mtime_ns == 1_000_000_000_000_000_000
    assert path.stat().st_ino == inode


def test_changed_file_is_rewritten(load, settings):
    files.apply(settings, files.plan(settings, load(DEPLOYMENT_EXAMPLE)))
    path = settings.conf_dir / "filter-ical.de.conf"
    path.write_text(path.read_text().replace("3000", "3001"))                    # a manual edit
    planned = files.plan(settings, load(DEPLOYMENT_EXAMPLE))
    assert planned.write == ("filter-ical.de.conf",)
    files.apply(settings, planned)
    assert "filter-ical-backend-production:3000;" in path.read_text()


def test_only_one_project_keeps_stale_files(load, settings):
    stale = settings.conf_dir / "gone.example.org.conf"
    stale.write_text(f"# {MARKER}\n")
    registry = load(DEPLOYMENT_EXAMPLE + SINGLE.replace("projects:\n", ""))
    planned = files.plan(settings, registry, only="wiki")
    assert planned.write == ("wiki.example.net.conf",) and planned.remove == ()
    files.apply(settings, planned)
    assert stale.exists()
    assert not (settings.conf_dir / "filter-ical.de.conf").exists()
    assert files.plan(settings, registry).remove == ("gone.example.org.conf",)


def test_marker_must_be_on_the_first_line(settings):
    later = settings.conf_dir / "later.conf"
    later.write_text(f"# hand-written\n# {MARKER}\n")
    assert not files.is_generated(later)
    assert files.is_generated(_write(settings.conf_dir / "first.conf", f"# {MARKER}\n"))
    assert not files.is_generated(settings.conf_dir / "absent.conf")


def _write(path, text):
    path.write_text(text)
    return path


def test_plan_without_conf_dir(load, tmp_path):
    settings = Settings(root=tmp_path, certs_dir=tmp_path / "letsencrypt")
    planned = files.plan(settings, load(SINGLE))
    assert planned.write == ("wiki.example.net.conf",) and planned.remove == ()
    files.apply(settings, planned)
    assert (settings.conf_dir / "wiki.example.net.conf").is_file()


def test_snapshot_and_restore(load, settings):
    files.apply(settings, files.plan(settings, load(DEPLOYMENT_EXAMPLE)))
    saved = files.snapshot(settings, ["filter-ical.de.conf", "new.conf"])
    before = (settings.conf_dir / "filter-ical.de.conf").read_bytes()
    (settings.conf_dir / "filter-ical.de.conf").write_text("broken")
    (settings.conf_dir / "new.conf").write_text("new")
    files.restore(settings, saved)
    assert (settings.conf_dir / "filter-ical.de.conf").read_bytes() == before
    assert not (settings.conf_dir / "new.conf").exists()
