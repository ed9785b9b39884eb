"""Alerts by mail, read back from a real SMTP server (aiosmtpd) started by the test.

Both alert paths are taken as the DAG wires them: the failure notifier of a built DAG's task,
called as Airflow calls a callback, and the DAG's deadline callback run by Airflow's own
CallbackTrigger (what the triggerer runs). The connection is given the way an operator gives it,
an AIRFLOW_CONN_<ID> variable, and once with STARTTLS and a login.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from types import SimpleNamespace

from include.settings import MODELS_DIR
from include.spec import load_spec
from tests.support.mailbox import Mailbox, start_server
from tests.support.processes import free_port

SPEC_PATH = MODELS_DIR / "penguin_species.yaml"
LOGIN, PASSWORD = "ct-alerts", "s3cret-for-the-test"  # pragma: allowlist secret - a fake for a server the test starts


def self_signed_certificate(folder):
    """A certificate for 127.0.0.1, so that the client's default TLS verification can pass."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


def set_connection(monkeypatch, conn_id: str, port: int, **fields):
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port, **fields}))


def test_a_failed_task_mails_the_model_owner_through_the_dags_notifier(monkeypatch):
    from ct_airflow.dag_factory import build_dag

    spec = load_spec(SPEC_PATH)
    mailbox = Mailbox()
    server = start_server(mailbox)
    try:
        set_connection(monkeypatch, spec.alerts.conn_id, server.port,
                       extra={"disable_ssl": True, "disable_tls": True, "from_email": "ct-alerts@example.com", "retry_limit": 0})
        dag = build_dag(SPEC_PATH)
        (notifier,) = dag.get_task("validate").on_failure_callback
        ti = SimpleNamespace(task_id="validate", try_number=3, log_url="http://airflow/log")
        notifier({"dag": dag, "ti": ti, "run_id": "scheduled__2026-12-02", "exception": ValueError("island 'Atlantis' <not allowed>")})
    finally:
        server.stop()
    (mail,) = mailbox.messages
    assert mail.rcpt_tos == [spec.owner.email] and mail.mail_from == "ct-alerts@example.com"
    assert mail.subject == f"[ct] {spec.name} failed"
    assert f"{spec.name}: task validate failed in run scheduled__2026-12-02 (try 3)" in mail.body
    assert "island 'Atlantis' <not allowed>" in mail.body and "http://airflow/log" in mail.body


def test_the_deadline_callback_mails_over_starttls_with_a_login_as_the_triggerer_runs_it(monkeypatch, tmp_path):
    from aiosmtpd.smtp import AuthResult
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse
    from airflow.triggers.callback import CallbackTrigger
    from ct_airflow.dag_factory import build_dag

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (LOGIN.encode(), PASSWORD.encode()), auth_data=auth_data)

    spec = load_spec(SPEC_PATH)
    cert_file, key_file = self_signed_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    # The client verifies the server as it would in production: our certificate is its only trusted CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    mailbox = Mailbox()
    server = start_server(mailbox, tls_context=tls, require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    try:
        set_connection(monkeypatch, spec.alerts.conn_id, server.port, login=LOGIN, password=PASSWORD,
                       extra={"disable_ssl": True, "from_email": "ct-alerts@example.com", "retry_limit": 0})
        deadline = build_dag(SPEC_PATH).deadline
        deadline = deadline[0] if isinstance(deadline, list) else deadline
        # The scheduler adds the run as DAGRunResponse dumped to JSON (airflow/models/deadline.py).
        assert "dag_run_id" in DAGRunResponse.model_fields
        context = {"dag_run": {"dag_run_id": "manual__2026-12-01T04:00:00+00:00", "dag_id": spec.name}, "deadline": {"id": "1"}}
        trigger = CallbackTrigger(callback_path=deadline.callback.path, callback_kwargs={**deadline.callback.kwargs, "context": context})

        async def events():
            return [event.payload async for event in trigger.run()]

        outcome = asyncio.run(events())
    finally:
        server.stop()
    assert outcome[-1] == {"state": "success", "body": "smtp:127.0.0.1"}, outcome
    (mail,) = mailbox.messages
    assert mail.tls and mail.login == LOGIN.encode()
    assert mail.rcpt_tos == [spec.owner.email] and mail.subject == f"[ct] {spec.name} is late"
    assert (f"{spec.name}: run manual__2026-12-01T04:00:00+00:00 is not finished {spec.alerts.deadline_minutes} minutes"
            f" after it was queued") in mail.body


def test_an_unreachable_mail_server_is_logged_and_does_not_fail_the_callback(monkeypatch, caplog):
    from ct_airflow.alerts import send_alert

    set_connection(monkeypatch, "ct_alerts_down", free_port(), extra={"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 5})
    assert send_alert("ct_alerts_down", "[ct] x failed", "details", "ecology@example.com") == "log"
    assert "could not deliver the alert through connection 'ct_alerts_down'" in caplog.text

