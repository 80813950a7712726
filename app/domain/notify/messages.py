"""One stored message, rendered for each kind of target, and signed as that target expects.

- `json`: gridwatch's own body (`id`, `event`, `dedupe_key`, `occurred_at`, `title`, `text`,
  `link`, `data`), with `X-Gridwatch-Timestamp: <unix seconds>` and
  `X-Gridwatch-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`, keyed by the
  target's secret or, without one, by `json_secret(target)` (derived from the signing
  secret; `gridwatch notify --secrets` prints it). Signing the timestamp with the body lets
  a receiver refuse replays of old messages.
- `wecom`: a WeCom group robot's markdown message, `{"msgtype":"markdown","markdown":
  {"content"}}`; the robot's URL carries its key.
- `dingtalk`: a DingTalk group robot's markdown message, `{"msgtype":"markdown","markdown":
  {"title","text"}}`; with the robot's 加签 secret, `&timestamp=<ms>&sign=<url-encoded
  base64 HMAC-SHA256 of "<timestamp>\\n<secret>">` is added to its URL.

Robots answer HTTP 200 with `errcode` ≠ 0 when they refuse a message (a wrong signature,
too many messages a minute): that is a failed delivery, tried again later."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from app.config import WebhookTarget, get_settings
from app.secret import signing_key

MAX_BYTES = 4000  # of UTF-8: WeCom takes 4096 bytes of markdown (a Chinese character is 3)


def json_secret(target: WebhookTarget) -> str:
    """The key a `json` target's messages are signed with."""
    if target.secret is not None:
        return target.secret.get_secret_value()
    return hmac.new(
        signing_key(), b"gridwatch notify " + target.key.encode(), hashlib.sha256
    ).hexdigest()


def link(path: str | None) -> str | None:
    """The message's link: absolute with GRIDWATCH_PUBLIC_URL, else the path as it is."""
    if not path:
        return None
    base = get_settings().public_url.rstrip("/")
    return base + path if base else path


def markdown(payload: dict[str, Any]) -> str:
    """The message as the robots' markdown: a heading, one bold label per line, the link."""
    out = [f"### {payload['title']}"]
    out += [f"- **{label}**：{_plain(value)}" for label, value in payload.get("lines", [])]
    url = link(payload.get("link"))
    if url and url.startswith(("http://", "https://")):
        out.append(f"- **查看**：[{url}]({url})")
    elif url:
        out.append(f"- **查看**：gridwatch {url}")
    mentions = payload.get("data", {}).get("mention_mobiles") or []
    if mentions:  # DingTalk highlights (and notifies) a person whose number is in the text
        out.append(" ".join(f"@{m}" for m in mentions))
    return fit("\n".join(out))


def fit(text: str) -> str:
    """The text cut, if need be, to what every robot takes (counted in bytes, not characters:
    a message over WeCom's limit would be refused at every retry and hold its queue)."""
    data = text.encode()
    if len(data) <= MAX_BYTES:
        return text
    return data[: MAX_BYTES - 3].decode(errors="ignore") + "…"


# Text from people (a complaint's description) must not become markup in the office's group:
# no links, tags or code of its own, no new lines (a line could start a heading).
_NOT_MARKUP = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "<": "＜",
        ">": "＞",
        "`": "｀",
        "\n": " ",
        "\r": " ",
    }
)


def _plain(value: str) -> str:
    return str(value).translate(_NOT_MARKUP)


def body(target: WebhookTarget, notification_id: int, dedupe_key: str, payload: dict) -> bytes:
    text = markdown(payload)
    content: dict[str, Any]
    if target.format == "wecom":
        content = {"msgtype": "markdown", "markdown": {"content": text}}
    elif target.format == "dingtalk":
        content = {"msgtype": "markdown", "markdown": {"title": payload["title"], "text": text}}
        if mentions := payload.get("data", {}).get("mention_mobiles"):
            content["at"] = {"atMobiles": list(mentions), "isAtAll": False}
    else:
        content = {
            "id": notification_id,
            "event": payload["kind"],
            "dedupe_key": dedupe_key,
            "occurred_at": payload["occurred_at"],
            "title": payload["title"],
            "text": text,
            "link": link(payload.get("link")),
            "data": payload.get("data", {}),
        }
    return json.dumps(content, ensure_ascii=False).encode()


def signed_request(
    target: WebhookTarget,
    *,
    notification_id: int,
    dedupe_key: str,
    payload: dict,
    now: datetime,
) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and body of the POST that delivers this message to this target."""
    content = body(target, notification_id, dedupe_key, payload)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    url = target.url
    if target.format == "json":
        timestamp = str(int(now.timestamp()))
        signature = hmac.new(
            json_secret(target).encode(), timestamp.encode() + b"." + content, hashlib.sha256
        ).hexdigest()
        headers |= {
            "X-Gridwatch-Event": payload["kind"],
            "X-Gridwatch-Delivery": str(notification_id),
            "X-Gridwatch-Timestamp": timestamp,
            "X-Gridwatch-Signature": f"sha256={signature}",
        }
    elif target.format == "dingtalk" and target.secret is not None:
        millis = str(int(now.timestamp() * 1000))
        secret = target.secret.get_secret_value()
        digest = hmac.new(secret.encode(), f"{millis}\n{secret}".encode(), hashlib.sha256).digest()
        sign = quote_plus(base64.b64encode(digest).decode())
        url += ("&" if "?" in url else "?") + f"timestamp={millis}&sign={sign}"
    return url, headers, content


def refusal(target: WebhookTarget, status: int, text: str) -> str | None:
    """Why the target did not take the message (None: it did)."""
    if not 200 <= status < 300:
        return f"HTTP {status}: {text[:200]}"
    if target.format in ("wecom", "dingtalk"):
        try:
            answer = json.loads(text)
        except ValueError:
            return None
        if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
            return f"errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:200]}"
    return None
