"""SMTP delivery through aiosmtplib, with its errors mapped onto :mod:`inboxsync.errors`."""

from inboxsync.providers.smtp.client import Delivery, SmtpSender, deliver
from inboxsync.providers.smtp.failures import DataInterrupted, map_error

__all__ = ["DataInterrupted", "Delivery", "SmtpSender", "deliver", "map_error"]
