"""Email delivery against a real aiosmtpd server on 127.0.0.1, faults injected by its handler."""

from __future__ import annotations

import dataclasses
import email
import ipaddress
import json
import logging
import os
import socket
import ssl
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reportgen import config as config_mod
from reportgen.build import PresetOutput
from reportgen.delivery.deliver import (
    Mailer,
    SendResult,
    clean_header,
    decide,
    deliver,
    recipients_for,
)
from reportgen.delivery.ledger import Ledger
from reportgen.errors import DeliveryError
from reportgen.model import Window
from reportgen.report import summary as summary_mod
from reportgen.scheduling.schedule import build_presets
from tests.conftest import IMPORTTIME, TINY, imported, run_cli
from tests.factories import SCRIPT, make_report
from tests.test_schedule import run_window

PASSWORD = "s3cret-Pa55!word"


# -- a real SMTP server with fault injection ------------------------------------------------------


class Recorder:
    """aiosmtpd handler that records messages and injects faults on request."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.data_replies: list[str] = []  # replies for the next DATA commands, then 250
        self.refuse: dict[str, str] = {}  # recipient -> RCPT reply
        self.close_after_data = 0  # close the connection instead of answering DATA
        self.drop_after_354 = 0  # close the connection while the client sends the body
        self.connections = 0
        self.auth_attempts = 0
        self.accept_auth = True
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.close_after_data:
            self.close_after_data -= 1
            server.transport.close()
            return "250 OK (never seen: the connection is gone)"
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.auth_attempts += 1
        ok = self.accept_auth and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    def parsed(self, i: int = 0) -> email.message.EmailMessage:
        return email.message_from_bytes(self.messages[i][2], policy=default_policy)

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=default_policy)
            for _, rcpts, raw in self.messages
            if address in rcpts
        ]


class FaultySMTP(SMTPServer):
    """An SMTP session that can hang up halfway through DATA."""

    async def smtp_DATA(self, arg):
        rec: Recorder = self.event_handler
        if rec.drop_after_354 and self.envelope.rcpt_tos:
            rec.drop_after_354 -= 1
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class CountingController(Controller):
    def factory(self):
        self.handler.connections += 1
        return FaultySMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(*, auth: bool = False, **kwargs: Any) -> Iterator[Recorder]:
    """Run an SMTP server on a free loopback port; ``auth`` makes it check PASSWORD."""
    rec = Recorder()
    if auth:
        kwargs["authenticator"] = rec.authenticate
    controller = CountingController(rec, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    rec.connections = 0  # the controller's own readiness probe is not a client
    rec.port = controller.port
    try:
        yield rec
    finally:
        controller.stop()


@pytest.fixture
def smtp():
    with server() as rec:
        yield rec


# -- config and fake build outputs ----------------------------------------------------------------


def make_config(tmp_path: Path, port: int, extra: str = "", **email: Any) -> config_mod.Config:
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "reports@example.com",
        "reply_to": "analytics@example.com",
        "retries": 3,
        "backoff_seconds": 0.01,
        "timeout": 5,
        **email,
    }
    body = textwrap.dedent(
        f"""\
        output: {{dir: {tmp_path / "output"}}}
        schedule: {{state_dir: {tmp_path / "state"}}}
        email: {json.dumps(settings)}
        presets:
          weekly:
            title: Weekly performance
            window: last_7_days
            timezone: Asia/Kolkata
            brands: [MuscleBlaze]
            to: [ana@example.com, bob@example.com]
            cc: [cara@example.com]
            bcc: [dan@example.com]
            owners: [owner@example.com]
        """
    )
    path = tmp_path / "config.yaml"
    path.write_text(body + extra)
    return config_mod.load(path)


def make_output(
    config: config_mod.Config,
    name: str = "weekly",
    *,
    preset: Any = None,
    report: Any = None,
    pdf_bytes: int = 2000,
    with_report: bool = True,
) -> PresetOutput:
    """Write a plausible build (summary.json, report.pdf, report.html) and describe it."""
    preset = preset or config.presets[name]
    report = report or make_report(preset=preset)
    window = report.window
    directory = config.output_dir / preset.name / window.end.isoformat()
    directory.mkdir(parents=True, exist_ok=True)
    data = summary_mod.build_summary(report, {"file": None, "sha256": None})
    files = {
        "summary": directory / "summary.json",
        "pdf": directory / "report.pdf",
        "html": directory / "report.html",
    }
    files["summary"].write_text(json.dumps(data))
    files["pdf"].write_bytes(b"%PDF-1.4\n" + b"0" * pdf_bytes)
    files["html"].write_text("<!doctype html><title>report</title><p>full report</p>")
    group = preset.name.split(".", 1)[1] if "." in preset.name else None
    return PresetOutput(
        preset,
        group,
        window,
        window.end,
        directory,
        files,
        data,
        report if with_report else None,
    )


def send_weekly(
    cfg: config_mod.Config, *, mailer: Mailer | None = None, **output: Any
) -> SendResult:
    """Deliver a fake build of the ``weekly`` preset, recording in the config's ledger."""
    return deliver(
        cfg,
        cfg.presets["weekly"],
        make_output(cfg, **output),
        ledger=Ledger(cfg.schedule.state_dir),
        mailer=mailer,
    )


def parse_tags(html: str) -> tuple[set[str], set[str]]:
    """Return the tag names and attribute names used in ``html``."""
    from html.parser import HTMLParser

    tags: set[str] = set()
    attrs: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attributes):
            tags.add(tag)
            attrs.update(name for name, _ in attributes)

    Collect().feed(html)
    return tags, attrs


def html_part(msg: email.message.EmailMessage) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


def text_part(msg: email.message.EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


# -- structure and content ------------------------------------------------------------------------


def test_mime_structure_headers_and_body(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    ledger = Ledger(cfg.schedule.state_dir)
    out = make_output(cfg)
    result = deliver(cfg, cfg.presets["weekly"], out, ledger=ledger)
    assert result.state == "sent"
    assert len(smtp.messages) == 1
    mail_from, rcpts, _ = smtp.messages[0]
    assert mail_from == "reports@example.com"
    assert sorted(rcpts) == sorted(
        ["ana@example.com", "bob@example.com", "cara@example.com", "dan@example.com"]
    )
    msg = smtp.parsed()
    assert msg["Subject"] == "Weekly performance — 2025-07-01 to 2025-07-30"
    assert msg["From"] == "reports@example.com"
    assert msg["To"] == "ana@example.com, bob@example.com"
    assert msg["Cc"] == "cara@example.com"
    assert msg["Reply-To"] == "analytics@example.com"
    assert msg["Bcc"] is None, "Bcc must stay in the envelope"
    assert msg["Message-ID"] and msg["Date"]
    assert msg["Auto-Submitted"] == "auto-generated"

    assert msg.get_content_type() == "multipart/mixed"
    parts = msg.get_payload()
    assert parts[0].get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parts[0].get_payload()] == ["text/plain", "text/html"]
    attachments = list(msg.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attachments] == [
        ("weekly_2025-07-01_2025-07-30.pdf", "application/pdf")
    ]
    assert attachments[0].get_content().startswith(b"%PDF")

    html, text = html_part(msg), text_part(msg)
    tags, attrs = parse_tags(html)
    assert not tags & {"script", "img", "link", "style", "iframe", "object", "embed", "form"}
    assert not {a for a in attrs if a.startswith("on") or a in ("src", "srcset", "background")}
    assert "javascript:" not in html.lower()
    # The influencer named like a script tag is shown, escaped.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for needle in (
        "Revenue",
        "ROAS",
        "Asia/Kolkata",
        "brands: MuscleBlaze",
        "2025-07-01 to 2025-07-30",
    ):
        assert needle in html and needle in text
    assert "₹" in html  # money in the preset's currency and locale
    # The ROAS caveat travels with the number into the email.
    assert "covers 97.1% of revenue" in html and "covers 97.1% of revenue" in text
    assert "▲" in html or "▼" in html  # change against the previous window
    assert SCRIPT in text  # plain text shows names as they are
    assert ledger.deliveries("weekly", out.window)["dan@example.com"].state == "sent"


def test_attach_pdf_and_html(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    preset = dataclasses.replace(cfg.presets["weekly"], attach=("pdf", "html"))
    deliver(cfg, preset, make_output(cfg, preset=preset), ledger=Ledger(cfg.schedule.state_dir))
    names = [a.get_filename() for a in smtp.parsed().iter_attachments()]
    assert names == ["weekly_2025-07-01_2025-07-30.pdf", "weekly_2025-07-01_2025-07-30.html"]


def test_oversized_attachment_fails_without_base_url(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port, max_attachment_mb=0.1)
    out = make_output(cfg, pdf_bytes=200_000)
    with pytest.raises(
        DeliveryError,
        match=r"weekly_2025-07-01_2025-07-30\.pdf is 0\.2 MB, over email\.max_attachment_mb",
    ):
        deliver(cfg, cfg.presets["weekly"], out, ledger=Ledger(cfg.schedule.state_dir))
    assert smtp.messages == []


def test_oversized_attachment_becomes_a_link_with_base_url(tmp_path, smtp):
    cfg = make_config(
        tmp_path, smtp.port, max_attachment_mb=0.1, base_url="https://reports.example.com/r/"
    )
    out = make_output(cfg, pdf_bytes=200_000)
    deliver(cfg, cfg.presets["weekly"], out, ledger=Ledger(cfg.schedule.state_dir))
    msg = smtp.parsed()
    assert list(msg.iter_attachments()) == []
    url = "https://reports.example.com/r/weekly/2025-07-30/report.pdf"
    assert url in text_part(msg) and url in html_part(msg)
    assert "https://reports.example.com/r/weekly/2025-07-30/report.html" in html_part(msg)


def test_header_injection_is_neutralised(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    preset = dataclasses.replace(
        cfg.presets["weekly"], title="Weekly\r\nBcc: evil@example.com\r\nX-Evil: 1"
    )
    deliver(cfg, preset, make_output(cfg, preset=preset), ledger=Ledger(cfg.schedule.state_dir))
    _, rcpts, raw = smtp.messages[0]
    assert "evil@example.com" not in rcpts
    msg = smtp.parsed()
    assert msg["X-Evil"] is None and msg["Bcc"] is None
    assert msg["Subject"].startswith("Weekly Bcc: evil@example.com X-Evil: 1 — ")
    assert b"\r\nBcc:" not in raw and b"\r\nX-Evil:" not in raw
    assert clean_header("a\nb\rc\x00d\u2028e") == "a b c d e"


def test_header_setter_rejects_raw_newlines():
    # The policy is the second line of defence behind clean_header().
    msg = EmailMessage(policy=SMTP_POLICY)
    with pytest.raises(ValueError):
        msg["Subject"] = "x\r\nBcc: evil@example.com"


# -- transient and permanent SMTP failures --------------------------------------------------------


def test_421_then_success_is_delivered_once(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    smtp.data_replies = ["421 4.3.2 Try again later"]
    ledger = Ledger(cfg.schedule.state_dir)
    mailer = Mailer(cfg.email)
    result = deliver(cfg, cfg.presets["weekly"], make_output(cfg), ledger=ledger, mailer=mailer)
    assert result.state == "sent"
    assert len(smtp.messages) == 1
    assert mailer.connections == 2


def test_550_for_one_recipient_does_not_stop_the_others(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    smtp.refuse = {"bob@example.com": "550 5.1.1 No such user"}
    ledger = Ledger(cfg.schedule.state_dir)
    out = make_output(cfg)
    result = deliver(cfg, cfg.presets["weekly"], out, ledger=ledger)
    assert result.state == "partial"
    for addr in ("ana@example.com", "cara@example.com", "dan@example.com"):
        assert len(smtp.to(addr)) == 1
    assert smtp.to("bob@example.com") == []
    rows = ledger.deliveries("weekly", out.window)
    assert rows["bob@example.com"].state == "refused"
    assert "550" in rows["bob@example.com"].error
    assert ledger.sends("weekly", out.window)["weekly"][0] == "partial"
    # A re-run sends nothing: the others have it and bob's refusal is final.
    again = deliver(cfg, cfg.presets["weekly"], out, ledger=ledger)
    assert again.state == "already-sent"
    assert len(smtp.messages) == 1


@pytest.mark.parametrize(
    ("fault", "pdf_bytes"),
    [("close_after_data", 2000), ("drop_after_354", 300_000)],
    ids=["after-data", "in-the-middle-of-data"],
)
def test_a_disconnect_is_retried_and_delivered_once(tmp_path, smtp, fault, pdf_bytes):
    cfg = make_config(tmp_path, smtp.port)
    setattr(smtp, fault, 1)
    mailer = Mailer(cfg.email)
    send_weekly(cfg, mailer=mailer, pdf_bytes=pdf_bytes)
    assert len(smtp.messages) == 1
    assert mailer.connections == 2


def test_transient_failures_exhausted_then_a_rerun_sends_once(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port, retries=2)
    smtp.data_replies = ["421 busy"] * 3
    ledger = Ledger(cfg.schedule.state_dir)
    out = make_output(cfg)
    delays: list[float] = []
    mailer = Mailer(cfg.email, sleep=delays.append)
    with pytest.raises(DeliveryError, match=r"could not deliver to 4 of 4: .*421 busy"):
        deliver(cfg, cfg.presets["weekly"], out, ledger=ledger, mailer=mailer)
    assert delays == [0.01, 0.02], "exponential backoff"
    assert mailer.connections == 3
    assert ledger.deliveries("weekly", out.window)["ana@example.com"].state == "failed"
    assert smtp.messages == []
    deliver(cfg, cfg.presets["weekly"], out, ledger=ledger)
    deliver(cfg, cfg.presets["weekly"], out, ledger=ledger)
    assert len(smtp.messages) == 1


def test_connection_refused_is_retried_then_reported(tmp_path):
    cfg = make_config(tmp_path, free_port(), retries=2)
    mailer = Mailer(cfg.email, sleep=lambda s: None)
    with pytest.raises(DeliveryError, match="could not deliver"):
        send_weekly(cfg, mailer=mailer)
    assert mailer.connections == 3


def auth_config(
    tmp_path: Path, port: int, tls_context: ssl.SSLContext | None = None, **email: Any
) -> tuple[config_mod.Config, Mailer]:
    """Return a config that logs in as 'reporter', and a mailer that has the password."""
    cfg = make_config(tmp_path, port, username="reporter", password_env="RG_TEST_PW", **email)
    return cfg, Mailer(cfg.email, env={"RG_TEST_PW": PASSWORD}, tls_context=tls_context)


def test_authentication_failure_fails_at_once_without_the_password(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with server(auth=True, auth_require_tls=False) as rec:
        rec.accept_auth = False
        cfg, mailer = auth_config(tmp_path, rec.port)
        with pytest.raises(DeliveryError) as err:
            send_weekly(cfg, mailer=mailer)
    message = str(err.value)
    assert "authentication as 'reporter'" in message and "535" in message
    assert "RG_TEST_PW" in message
    assert mailer.connections == 1, "no retry storm on bad credentials"
    assert rec.connections == 1
    assert rec.auth_attempts <= 2  # smtplib tries each offered mechanism once (PLAIN, LOGIN)
    assert rec.messages == []
    out = capsys.readouterr()
    import base64

    secrets = [PASSWORD, base64.b64encode(PASSWORD.encode()).decode()]
    for secret in secrets:
        assert secret not in message
        assert secret not in caplog.text
        assert secret not in out.out + out.err


def test_authentication_success_uses_the_env_password(tmp_path):
    with server(auth=True, auth_require_tls=False) as rec:
        cfg, mailer = auth_config(tmp_path, rec.port)
        send_weekly(cfg, mailer=mailer)
    assert len(rec.messages) == 1


def test_missing_password_env_is_a_clear_error(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port, username="reporter", password_env="RG_MISSING_PW")
    with pytest.raises(DeliveryError, match="RG_MISSING_PW"):
        send_weekly(cfg, mailer=Mailer(cfg.email, env={}))
    assert smtp.connections == 1 and smtp.messages == []


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    """Return (cert, key) of a self-signed certificate for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def _trusting(cert: Path) -> ssl.SSLContext:
    """Return a client context that trusts only ``cert``."""
    return ssl.create_default_context(cafile=str(cert))


def test_starttls_with_a_self_signed_certificate(tmp_path, self_signed):
    cert, key = self_signed
    with server(auth=True, tls_context=_server_context(cert, key), require_starttls=True) as rec:
        cfg, mailer = auth_config(tmp_path, rec.port, _trusting(cert), security="starttls")
        send_weekly(cfg, mailer=mailer)
    assert len(rec.messages) == 1
    assert rec.auth_attempts == 1  # AUTH only after STARTTLS (auth_require_tls defaults to True)


def test_implicit_tls(tmp_path, self_signed):
    cert, key = self_signed
    with server(ssl_context=_server_context(cert, key)) as rec:
        cfg = make_config(tmp_path, rec.port, security="ssl")
        send_weekly(cfg, mailer=Mailer(cfg.email, tls_context=_trusting(cert)))
    assert len(rec.messages) == 1


def test_untrusted_certificate_fails_at_once(tmp_path, self_signed):
    cert, key = self_signed
    with server(tls_context=_server_context(cert, key), require_starttls=True) as rec:
        cfg = make_config(tmp_path, rec.port, security="starttls")
        mailer = Mailer(cfg.email)  # the default trust store does not know our certificate
        with pytest.raises(DeliveryError, match=r"TLS with 127\.0\.0\.1:.* failed.*certificate"):
            send_weekly(cfg, mailer=mailer)
    assert mailer.connections == 1 and rec.messages == []


def test_starttls_required_but_not_offered(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port, security="starttls")
    with pytest.raises(DeliveryError, match="does not support"):
        send_weekly(cfg)
    assert smtp.connections == 1


# -- exactly once, conditions, dry run ------------------------------------------------------------


def test_rerun_never_sends_twice(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    ledger = Ledger(cfg.schedule.state_dir)
    out = make_output(cfg)
    first = deliver(cfg, cfg.presets["weekly"], out, ledger=ledger)
    second = deliver(cfg, cfg.presets["weekly"], out, ledger=ledger)
    assert (first.state, second.state) == ("sent", "already-sent")
    assert len(smtp.messages) == 1
    # A recipient added later gets it; the others do not get it again.
    preset = dataclasses.replace(cfg.presets["weekly"], to=("ana@example.com", "eve@example.com"))
    deliver(cfg, preset, out, ledger=ledger)
    assert len(smtp.messages) == 2
    assert smtp.messages[1][1] == ["eve@example.com"]


def _with_kpis(out: PresetOutput, revenue: float, previous: float, **extra: Any) -> PresetOutput:
    summary = json.loads(json.dumps(out.summary))
    summary["kpis"]["revenue"], summary["kpis_previous"]["revenue"] = revenue, previous
    summary.update(extra)
    return dataclasses.replace(out, summary=summary, report=None)


def test_skip_if_empty_is_recorded_with_its_reason(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    ledger = Ledger(cfg.schedule.state_dir)
    out = make_output(cfg)
    empty = dataclasses.replace(out, report=dataclasses.replace(out.report))
    empty.report.kpis = {**out.report.kpis}
    empty.report.kpis["orders"] = dataclasses.replace(out.report.kpis["orders"], value=0)
    empty.report.influencers = out.report.influencers.assign(posts=0)
    result = deliver(cfg, cfg.presets["weekly"], empty, ledger=ledger)
    assert result.state == "skipped" and "no data" in result.reason
    assert ledger.sends("weekly", out.window)["weekly"] == ("skipped", result.reason)
    assert smtp.messages == []


def test_only_if_any_revenue_drop(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    ledger = Ledger(cfg.schedule.state_dir)
    preset = dataclasses.replace(
        cfg.presets["weekly"],
        send={"skip_if_empty": True, "only_if_any": ["revenue_drop"], "revenue_drop_pct": 20.0},
    )
    out = make_output(cfg)
    ok, reason = decide(preset, _with_kpis(out, 90_000, 100_000))
    assert not ok and "-10.0%" in reason
    ok, reason = decide(preset, _with_kpis(out, 70_000, 100_000))
    assert ok and reason == "revenue down 30.0% (more than 20%)"
    result = deliver(cfg, preset, _with_kpis(out, 90_000, 100_000), ledger=ledger)
    assert result.state == "skipped"
    assert ledger.sends("weekly", out.window)["weekly"][0] == "skipped"
    deliver(cfg, preset, _with_kpis(out, 70_000, 100_000), ledger=ledger)
    assert "revenue down 30.0%" in text_part(smtp.parsed())


def test_only_if_any_top_below_break_even(tmp_path):
    cfg = make_config(tmp_path, 25)
    preset = dataclasses.replace(
        cfg.presets["weekly"],
        top_n=3,
        send={"skip_if_empty": True, "only_if_any": ["top_below_break_even"]},
    )
    out = make_output(cfg)
    top = [
        {"influencer_id": "A", "name": "Asha", "revenue": 900.0, "roas": 2.0},
        {"influencer_id": "B", "name": "Bala", "revenue": 800.0, "roas": 1.5},
        {"influencer_id": "C", "name": "Chitra", "revenue": 700.0, "roas": None},
        {"influencer_id": "D", "name": "Dev", "revenue": 600.0, "roas": 0.4},
    ]
    fine = dataclasses.replace(out, summary={**out.summary, "top_influencers_by_revenue": top})
    assert decide(preset, fine) == (
        False,
        "no send.only_if_any rule held: every top-3 influencer has ROAS >= 1",
    )
    top[1]["roas"] = 0.8
    assert decide(preset, fine) == (True, "top-3 influencers below break-even: Bala")


def test_dry_run_writes_eml_and_sends_nothing(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port)
    ledger = Ledger(cfg.schedule.state_dir)
    out = make_output(cfg)
    result = deliver(cfg, cfg.presets["weekly"], out, ledger=ledger, dry_run=True)
    assert result.path == out.directory / "email.eml"
    msg = email.message_from_bytes(result.path.read_bytes(), policy=default_policy)
    assert msg["Subject"].startswith("Weekly performance — ")
    assert msg["Bcc"] == "dan@example.com"  # shown in the preview only
    elsewhere = deliver(
        cfg, cfg.presets["weekly"], out, ledger=ledger, dry_run=True, out_dir=tmp_path / "eml"
    )
    assert elsewhere.path == tmp_path / "eml" / "weekly_2025-07-30.eml"
    assert smtp.connections == 0 and smtp.messages == []
    assert ledger.deliveries("weekly", out.window) == {}


# -- fan-out groups: each group sees only its own figures -----------------------------------------

GROUPS = """\
  fanout:
    title: Brand review
    window: last_7_days
    owners: [owner@example.com]
    groups:
      - {name: mb, brands: [MuscleBlaze], to: [mb-team@example.com]}
      - {name: gz, brands: [Gritzo], to: [gz-team@example.com], bcc: [gz-boss@example.com]}
"""


def fake_group_build(
    config: config_mod.Config, *, presets: list[str], as_of: date, **_: Any
) -> list[PresetOutput]:
    """Build each group with its own influencer names and figures."""
    from reportgen.build import expand

    outputs = []
    for i, preset in enumerate(expand(config.select(presets))):
        group = preset.name.split(".", 1)[1]
        report = make_report(preset=preset, n_influencers=6)
        report.influencers = report.influencers.assign(
            name=[f"{group.upper()}-creator-{k}" for k in range(len(report.influencers))],
            revenue=report.influencers["revenue"] * (i + 2) + 11_111 * (i + 1),
        )
        report.top_by_revenue = report.influencers.head(10)
        outputs.append(make_output(config, preset=preset, report=report))
    return outputs


def test_group_emails_carry_only_their_own_rows(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port, extra=GROUPS)
    outcome = run_window(cfg, "fanout", date(2025, 7, 30), fake_group_build)
    assert [s.state for s in outcome.sends] == ["sent", "sent"]
    assert sorted(r for _, rcpts, _ in smtp.messages for r in rcpts) == [
        "gz-boss@example.com",
        "gz-team@example.com",
        "mb-team@example.com",
    ]
    outputs = {
        o.group: o for o in fake_group_build(cfg, presets=["fanout"], as_of=date(2025, 7, 30))
    }
    mails = {"mb": smtp.to("mb-team@example.com"), "gz": smtp.to("gz-team@example.com")}
    assert len(mails["mb"]) == 1 and len(mails["gz"]) == 1
    for group, other in (("mb", "gz"), ("gz", "mb")):
        msg = mails[group][0]
        body = html_part(msg) + text_part(msg) + str(msg["Subject"])
        mine = outputs[group].summary
        theirs = outputs[other].summary
        assert f"{group.upper()}-creator-0" in body
        assert f"{other.upper()}-creator" not in body
        assert f"Brand review — {group}" in msg["Subject"]
        for row in theirs["top_influencers_by_revenue"]:
            assert row["name"] not in body
        assert mine["filters"]["brands"][0] in body
        assert theirs["filters"]["brands"][0] not in body
    assert "gz-boss@example.com" not in smtp.to("mb-team@example.com")[0].as_string()


def test_a_group_build_by_reportgen_build_is_sent_without_building_again(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port, extra=GROUPS)
    day = date(2025, 7, 30)
    ledger = Ledger(cfg.schedule.state_dir)
    build_presets(cfg, ["fanout"], as_of=day, ledger=ledger, build_fn=fake_group_build)
    assert smtp.messages == []

    def no_build(*_: Any, **__: Any) -> list[Any]:
        raise AssertionError("the window was built already")

    outcome = run_window(cfg, "fanout", day, no_build, "scheduled")
    assert not outcome.built and [s.state for s in outcome.sends] == ["sent", "sent"]
    assert sorted(r for _, rcpts, _ in smtp.messages for r in rcpts) == [
        "gz-boss@example.com",
        "gz-team@example.com",
        "mb-team@example.com",
    ]


def test_recipients_of_a_group_exclude_the_preset_list(tmp_path):
    cfg = make_config(tmp_path, 25, extra=GROUPS)
    preset = dataclasses.replace(cfg.presets["fanout"], to=("all@example.com",))
    out = make_output(cfg, preset=dataclasses.replace(preset, name="fanout.mb"))
    assert recipients_for(preset, out).envelope() == ["mb-team@example.com"]


# -- end to end with the real build ---------------------------------------------------------------


def _real_build_or_skip():
    try:
        from reportgen.build import build
    except ImportError:
        pytest.skip("reportgen.build is not there yet")
    return build


E2E = """\
source: {{kind: files, path: {data}}}
output: {{dir: {out}}}
schedule: {{state_dir: {state}}}
email: {{host: 127.0.0.1, port: {port}, security: none, sender: reports@example.com,
        retries: 2, backoff_seconds: 0.01, timeout: 10}}
presets:
  weekly:
    title: Weekly performance
    window: last_7_days
    timezone: Asia/Kolkata
    to: [all@example.com]
    attach: [pdf, html]
  brands:
    title: Brand review
    window: last_7_days
    groups:
      - {{name: mb, brands: [MuscleBlaze], to: [mb-team@example.com]}}
      - {{name: gz, brands: [Gritzo], to: [gz-team@example.com]}}
"""


@pytest.fixture
def e2e_config(tmp_path, smtp):
    _real_build_or_skip()
    path = tmp_path / "config.yaml"
    path.write_text(
        E2E.format(data=TINY, out=tmp_path / "out", state=tmp_path / "state", port=smtp.port)
    )
    return config_mod.load(path)


@pytest.mark.slow
def test_e2e_real_build_is_sent(e2e_config, smtp):
    build = _real_build_or_skip()
    t0 = time.monotonic()
    outcome = run_window(e2e_config, "weekly", date(2025, 7, 7), build)
    elapsed = time.monotonic() - t0
    assert outcome.state == "succeeded" and outcome.built
    assert len(smtp.messages) == 1
    msg = smtp.parsed()
    assert msg["Subject"] == "Weekly performance — 2025-07-01 to 2025-07-07"
    names = [a.get_filename() for a in msg.iter_attachments()]
    assert names == ["weekly_2025-07-01_2025-07-07.pdf", "weekly_2025-07-01_2025-07-07.html"]
    pdf = next(msg.iter_attachments()).get_content()
    assert pdf.startswith(b"%PDF")
    summary_path = e2e_config.output_dir / "weekly" / "2025-07-07" / "summary.json"
    summary = json.loads(summary_path.read_text())
    html = html_part(msg)
    for row in summary["top_influencers_by_revenue"]:
        assert row["name"] in html
    # Sending again reuses the build and sends nothing.
    again = run_window(e2e_config, "weekly", date(2025, 7, 7), build)
    assert again.state == "done" and len(smtp.messages) == 1
    print(f"build + send of one real report: {elapsed:.2f}s")


@pytest.mark.slow
def test_e2e_real_groups_are_scoped(e2e_config, smtp):
    build = _real_build_or_skip()
    ledger = Ledger(e2e_config.schedule.state_dir)
    outcome = run_window(e2e_config, "brands", date(2025, 7, 7), build)
    assert outcome.state == "succeeded"
    run = ledger.get_run("brands", Window(date(2025, 7, 1), date(2025, 7, 7)))
    summaries = {
        o["group"]: json.loads(Path(o["files"]["summary"]).read_text())
        for o in run.files["outputs"]
    }
    names = {g: {r["name"] for r in s["top_influencers_by_revenue"]} for g, s in summaries.items()}
    for group, other, addr in (
        ("mb", "gz", "mb-team@example.com"),
        ("gz", "mb", "gz-team@example.com"),
    ):
        mails = smtp.to(addr)
        assert len(mails) == 1
        body = html_part(mails[0]) + text_part(mails[0])
        for name in names[group]:
            assert name in body
        for name in names[other] - names[group]:
            assert name not in body, f"{other}'s influencer {name} leaked into {group}'s email"
        theirs = summaries[other]["kpis"]["revenue"]
        mine = summaries[group]["kpis"]["revenue"]
        if theirs and theirs != mine:
            from reportgen.report import fmt

            assert fmt.money(theirs, "INR", "en_IN") not in body


@pytest.mark.slow
def test_e2e_send_and_runs_commands(e2e_config, smtp, tmp_path):
    cfg = str(e2e_config.path)
    dry = run_cli(
        "--config",
        cfg,
        "send",
        "--preset",
        "weekly",
        "--as-of",
        "2025-07-07",
        "--dry-run",
        "--out",
        str(tmp_path / "eml"),
        cwd=tmp_path,
    )
    assert dry.returncode == 0, dry.stderr
    assert (tmp_path / "eml" / "weekly_2025-07-07.eml").exists()
    assert smtp.messages == []
    real = run_cli(
        "--config",
        cfg,
        "send",
        "--preset",
        "weekly",
        "brands",
        "--as-of",
        "2025-07-07",
        cwd=tmp_path,
    )
    assert real.returncode == 0, real.stderr
    assert "weekly 2025-07-01 to 2025-07-07: sent (1 sent)" in real.stdout
    assert len(smtp.messages) == 3
    again = run_cli(
        "--config",
        cfg,
        "send",
        "--preset",
        "weekly",
        "--as-of",
        "2025-07-07",
        cwd=tmp_path,
        env=IMPORTTIME,
    )
    assert again.returncode == 0 and "already sent" in again.stdout
    assert len(smtp.messages) == 3
    # A run from the command line (delivery.runs) needs no scheduler: APScheduler stays out.
    modules = imported(again.stderr)
    assert "reportgen.delivery.runs" in modules
    assert not any(m.split(".")[0] == "apscheduler" for m in modules)
    runs = run_cli("--config", cfg, "runs", cwd=tmp_path)
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.splitlines()
    assert lines[0].startswith("ID") and len(lines) == 3
    assert any(
        "weekly" in line and "succeeded  manual" in line and "1 sent" in line for line in lines
    )
    bad = run_cli("--config", cfg, "send", "--preset", "weekly", "--out", "x", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("reportgen: error: --out only applies")


def test_a_reused_group_build_sends_the_same_email_as_a_fresh_one(tmp_path, smtp):
    cfg = make_config(tmp_path, smtp.port, extra=GROUPS)
    ledger = Ledger(cfg.schedule.state_dir)
    calls: list[str] = []

    def counting_build(config, **kwargs):
        calls.append("build")
        return fake_group_build(config, **kwargs)

    smtp.data_replies = ["554 5.7.1 Rejected by policy"]  # the first group's email, once
    with pytest.raises(DeliveryError, match="554 5.7.1 Rejected by policy"):
        run_window(cfg, "fanout", date(2025, 7, 30), counting_build, "scheduled")
    run = ledger.recent_runs("fanout")[0]
    assert run.state == "failed" and run.error.startswith("delivery: ")
    outcome = run_window(cfg, "fanout", date(2025, 7, 30), counting_build)
    assert calls == ["build"] and not outcome.built
    assert [s.state for s in outcome.sends] == ["sent", "already-sent"]
    subjects = sorted(
        str(m["Subject"]) for m in (smtp.parsed(i) for i in range(len(smtp.messages)))
    )
    assert subjects == [
        "Brand review — gz — 2025-07-01 to 2025-07-30",
        "Brand review — mb — 2025-07-01 to 2025-07-30",
    ]


@pytest.mark.skipif(not os.access("/usr/bin/chromium", os.X_OK), reason="no /usr/bin/chromium")
def test_email_body_fits_a_phone_screen(tmp_path, smtp):
    sync_api = pytest.importorskip("playwright.sync_api")
    cfg = make_config(tmp_path, smtp.port)
    deliver(cfg, cfg.presets["weekly"], make_output(cfg), ledger=Ledger(cfg.schedule.state_dir))
    page = tmp_path / "email.html"
    page.write_text(html_part(smtp.parsed()), encoding="utf-8")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            tab = browser.new_page(
                java_script_enabled=False, viewport={"width": 390, "height": 800}
            )
            tab.goto(page.as_uri())
            width = tab.evaluate("document.documentElement.scrollWidth")
        finally:
            browser.close()
    assert width <= 390  # five KPI cards wrap instead of widening the message


# -- recipients added later, dotted preset names (issue #7) ---------------------------------------

AS_OF = date(2025, 7, 7)
#: A project on the tiny data mailing through the test server; presets follow.
PROJECT = """\
source: {{kind: files, path: {data}}}
output: {{dir: {out}}}
schedule: {{state_dir: {state}}}
email: {{host: 127.0.0.1, port: {port}, security: none, sender: reports@example.com,
        retries: 1, backoff_seconds: 0.01, timeout: 10}}
presets:
"""
LATER = (
    PROJECT
    + """\
  team.weekly:
    window: last_7_days
    formats: [html, csv]
    attach: [html]
    to: {to}
  brands:
    window: last_7_days
    formats: [html, csv]
    attach: [html]
    groups:
      - {{name: mb, brands: [MuscleBlaze], to: {mb}}}
"""
)


def _later_config(tmp_path: Path, port: int, to: list[str], mb: list[str]) -> config_mod.Config:
    path = tmp_path / "config.yaml"
    path.write_text(
        LATER.format(
            data=TINY, out=tmp_path / "out", state=tmp_path / "state", port=port, to=to, mb=mb
        )
    )
    return config_mod.load(path)


@pytest.mark.slow
def test_a_dotted_preset_name_is_built_and_sent_as_itself(tmp_path, smtp):
    build = _real_build_or_skip()
    cfg = _later_config(tmp_path, smtp.port, ["ana@example.com"], ["mb@example.com"])
    outcome = run_window(cfg, "team.weekly", date(2025, 7, 7), build)
    assert outcome.state == "succeeded" and [s.state for s in outcome.sends] == ["sent"]
    assert [rcpts for _, rcpts, _ in smtp.messages] == [["ana@example.com"]]
    assert (cfg.output_dir / "team.weekly" / "2025-07-07" / "report.html").exists()
    run = Ledger(cfg.schedule.state_dir).get_run("team.weekly", Window(date(2025, 7, 1), AS_OF))
    assert [(o["name"], o["group"]) for o in run.files["outputs"]] == [("team.weekly", None)]


@pytest.mark.slow
def test_a_recipient_added_after_the_send_gets_the_stored_build(tmp_path, smtp):
    build = _real_build_or_skip()
    cfg = _later_config(tmp_path, smtp.port, ["ana@example.com"], ["mb@example.com"])
    for name in ("team.weekly", "brands"):
        assert run_window(cfg, name, AS_OF, build).state == "succeeded"
    assert len(smtp.messages) == 2
    # Unchanged config: nothing to do, nothing sent.
    assert run_window(cfg, "team.weekly", AS_OF, build).state == "done"
    cfg = _later_config(
        tmp_path, smtp.port, ["ana@example.com", "bo@example.com"], ["mb@example.com", "cy@x.in"]
    )
    for name in ("team.weekly", "brands"):
        outcome = run_window(cfg, name, AS_OF, build)
        assert outcome.state == "succeeded" and not outcome.built  # the stored build, not rebuilt
    assert [rcpts for _, rcpts, _ in smtp.messages[2:]] == [["bo@example.com"], ["cy@x.in"]]
    assert len(smtp.to("ana@example.com")) == 1 and len(smtp.to("mb@example.com")) == 1
    assert run_window(cfg, "brands", AS_OF, build).state == "done"


@pytest.mark.slow
def test_a_window_skipped_for_want_of_recipients_is_sent_once_someone_is_added(tmp_path, smtp):
    build = _real_build_or_skip()
    cfg = _later_config(tmp_path, smtp.port, [], ["mb@example.com"])
    first = run_window(cfg, "team.weekly", AS_OF, build)
    assert [(s.state, s.reason) for s in first.sends] == [
        ("skipped", "no recipients configured for team.weekly")
    ]
    assert run_window(cfg, "team.weekly", AS_OF, build).state == "done"  # nobody to send to
    cfg = _later_config(tmp_path, smtp.port, ["ana@example.com"], ["mb@example.com"])
    again = run_window(cfg, "team.weekly", AS_OF, build)
    assert [s.state for s in again.sends] == ["sent"] and not again.built
    assert [rcpts for _, rcpts, _ in smtp.messages] == [["ana@example.com"]]


# -- the comparison the email names is the stored build's -----------------------------------------

YEARLY = (
    PROJECT
    + """\
  weekly:
    window: last_7_days
    compare: {compare}
    formats: [html, csv]
    to: {to}
"""
)


def _yearly_config(tmp_path: Path, port: int, compare: str, to: list[str]) -> config_mod.Config:
    path = tmp_path / "config.yaml"
    text = YEARLY.format(
        data=TINY, out=tmp_path / "out", state=tmp_path / "state", port=port, compare=compare, to=to
    )
    path.write_text(text)
    return config_mod.load(path)


@pytest.mark.slow
def test_the_email_names_the_comparison_dates_the_report_used(tmp_path, smtp):
    build = _real_build_or_skip()
    cfg = _yearly_config(tmp_path, smtp.port, "previous_year", ["ana@example.com"])
    assert run_window(cfg, "weekly", AS_OF, build).state == "succeeded"
    # 2025-07-01..07 against the same days a year before, as the report says.
    said = "compared with 1–7 Jul 2024 (2024-07-01 to 2024-07-07)"
    summary = json.loads((cfg.output_dir / "weekly" / "2025-07-07" / "summary.json").read_text())
    assert summary["previous_window"] == {"start": "2024-07-01", "end": "2024-07-07"}
    report = (cfg.output_dir / "weekly" / "2025-07-07" / "report.html").read_text()
    assert "<dt>Compared with</dt><dd>1–7 Jul 2024</dd>" in report
    assert said in text_part(smtp.parsed(0)) and said in html_part(smtp.parsed(0))
    # The config now compares with the previous period, but the stored build (sent to a new
    # recipient, not rebuilt) compared with last year: its email must say so, not 06-24..30.
    cfg = _yearly_config(
        tmp_path, smtp.port, "previous_period", ["ana@example.com", "bo@example.com"]
    )
    outcome = run_window(cfg, "weekly", AS_OF, build)
    assert outcome.state == "succeeded" and not outcome.built
    assert [rcpts for _, rcpts, _ in smtp.messages] == [["ana@example.com"], ["bo@example.com"]]
    assert said in text_part(smtp.parsed(1)) and said in html_part(smtp.parsed(1))
    assert "2025-06-24" not in text_part(smtp.parsed(1))
