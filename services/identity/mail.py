"""The identity service's emails: activation link, assigned identifier, password reset.

Sent straight to the SMTP server (aiosmtplib): they are part of an interactive step,
not of a journey, so there is no workflow to retry them. A failure is logged; the
candidate can ask again (sign-up and reset requests are repeatable).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from services.common.settings import Settings

log = logging.getLogger(__name__)

Send = Callable[[str, str, str], Awaitable[None]]  # to, subject, body


def smtp_sender(settings: Settings) -> Send:
    async def send(to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="permis.example.fr")
        message.set_content(body)
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            start_tls=settings.smtp_use_tls,
            timeout=30,
        )

    return send


def activation(name: str, link: str, hours: int) -> tuple[str, str]:
    return (
        "Activez votre compte Permis de conduire",
        f"Bonjour {name},\n\n"
        "Vous avez demandé la création d'un compte pour vos démarches de permis de "
        "conduire.\nPour activer votre compte, cliquez sur le lien ci-dessous ; vous "
        "choisirez ensuite votre mot de passe :\n\n"
        f"{link}\n\n"
        f"Ce lien ne peut servir qu'une fois et expire dans {hours} heures.\n"
        "Si vous n'êtes pas à l'origine de cette demande, ignorez ce courriel.\n",
    )


def identifier(name: str, assigned: str, login_url: str) -> tuple[str, str]:
    return (
        "Votre identifiant Permis de conduire",
        f"Bonjour {name},\n\n"
        "Votre compte est activé. Voici l'identifiant qui vous a été attribué :\n\n"
        f"    Identifiant : {assigned}\n\n"
        "Avec cet identifiant et le mot de passe que vous avez choisi, vous pourrez vous "
        f"connecter pour suivre vos démarches : {login_url}\n",
    )


def already_registered(name: str, reset_url: str) -> tuple[str, str]:
    return (
        "Votre compte Permis de conduire existe déjà",
        f"Bonjour {name},\n\n"
        "Une demande de création de compte a été faite avec votre adresse électronique, "
        "mais un compte existe déjà à cette adresse.\nConnectez-vous avec votre "
        "identifiant ; si vous avez oublié votre mot de passe, réinitialisez-le ici :\n\n"
        f"{reset_url}\n",
    )


def password_reset(name: str, link: str, minutes: int) -> tuple[str, str]:
    return (
        "Réinitialisation de votre mot de passe Permis de conduire",
        f"Bonjour {name},\n\n"
        "Pour choisir un nouveau mot de passe, cliquez sur le lien ci-dessous :\n\n"
        f"{link}\n\n"
        f"Ce lien ne peut servir qu'une fois et expire dans {minutes} minutes.\n"
        "Si vous n'êtes pas à l'origine de cette demande, ignorez ce courriel : votre mot "
        "de passe reste inchangé.\n",
    )
