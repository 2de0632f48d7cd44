"""A message as a Messages table item, and back: every field by its API name, timestamps in the one
ISO 8601 format (fixed width, so they sort), absent optional values and empty lists left out."""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from agentmessage.domain.clock import from_iso, to_iso
from agentmessage.domain.errors import UnreadableRecord
from agentmessage.domain.message import ApiVersion, Channel, Cost, Message, MessageError, Mode, Priority
from agentmessage.domain.status import Status


def string_value(value: str) -> dict[str, Any]:
    return {"S": value}


def cost_value(cost: Cost) -> dict[str, Any]:
    return {"M": {"amount": string_value(f"{cost.amount:.4f}"), "currency": string_value(cost.currency)}}


def error_list(errors: tuple[MessageError, ...] | list[MessageError]) -> dict[str, Any]:
    return {
        "L": [
            {"M": {"code": string_value(error.code), "detail": string_value(error.detail)}}
            for error in errors
        ]
    }


def to_item(message: Message) -> dict[str, Any]:
    """The item of a message; absent optional values are left out, as are empty lists."""
    item: dict[str, Any] = {
        "id": string_value(message.id),
        "org_id": string_value(message.org_id),
        "mode": string_value(message.mode.value),
        "from": string_value(message.from_),
        "to": string_value(message.to),
        "text": string_value(message.text),
        "channel": string_value(message.channel.value),
        "priority": string_value(message.priority.value),
        "status": string_value(message.status.value),
        "encoding": string_value(message.encoding),
        "parts": {"N": str(message.parts)},
        "cost": cost_value(message.cost),
        "created_at": string_value(to_iso(message.created_at)),
        "api_version": string_value(message.api_version.value),
        "attempts": {"N": str(message.attempts)},
    }
    if message.media_urls:
        item["media_urls"] = {"L": [string_value(url) for url in message.media_urls]}
    if message.errors:
        item["errors"] = error_list(message.errors)
    for name in ("tag", "webhook_url", "provider_message_id", "carrier"):
        value = getattr(message, name)
        if value is not None:
            item[name] = string_value(value)
    for name in ("scheduled_at", "valid_until", "sent_at", "completed_at", "canceled_at"):
        moment = getattr(message, name)
        if moment is not None:
            item[name] = string_value(to_iso(moment))
    return item


def text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, Mapping) else None


def time_of(item: Mapping[str, Any], name: str) -> datetime | None:
    value = text(item, name)
    return from_iso(value) if value is not None else None


def from_item(item: Mapping[str, Any]) -> Message:
    """The message an item holds; ``UnreadableRecord`` when it does not hold one."""
    try:
        cost = item.get("cost", {}).get("M", {})
        return Message(
            id=item["id"]["S"],
            org_id=item["org_id"]["S"],
            mode=Mode(text(item, "mode") or Mode.TEST),
            from_=item["from"]["S"],
            to=item["to"]["S"],
            text=item["text"]["S"],
            channel=Channel(text(item, "channel") or Channel.SMS),
            media_urls=tuple(url["S"] for url in item.get("media_urls", {}).get("L", [])),
            priority=Priority(text(item, "priority") or Priority.DEFAULT),
            status=Status(item["status"]["S"]),
            tag=text(item, "tag"),
            scheduled_at=time_of(item, "scheduled_at"),
            valid_until=time_of(item, "valid_until"),
            webhook_url=text(item, "webhook_url"),
            encoding=item["encoding"]["S"],
            parts=int(item["parts"]["N"]),
            cost=Cost(Decimal(cost["amount"]["S"]), cost["currency"]["S"]) if cost else Cost(),
            errors=tuple(
                MessageError(code=entry["M"]["code"]["S"], detail=entry["M"]["detail"]["S"])
                for entry in item.get("errors", {}).get("L", [])
            ),
            created_at=from_iso(item["created_at"]["S"]),
            sent_at=time_of(item, "sent_at"),
            completed_at=time_of(item, "completed_at"),
            canceled_at=time_of(item, "canceled_at"),
            api_version=ApiVersion(text(item, "api_version") or ApiVersion.V1),
            attempts=int(item.get("attempts", {}).get("N", "0")),
            provider_message_id=text(item, "provider_message_id"),
            carrier=text(item, "carrier"),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise UnreadableRecord("a stored message could not be read") from exc
